-- Unread counters (the unread overview, a Rhein extension; see the README). Each archive
-- conversation keeps how many messages were ever appended to it (`appended`, never lowered
-- by deletes) and its newest message (`last_id`); an account's read position in a
-- conversation is the `appended` value at the newest message it has read, so its unread
-- count is one subtraction, whatever the archive's size.
ALTER TABLE archive_count ADD COLUMN appended BIGINT NOT NULL DEFAULT 0;
ALTER TABLE archive_count ADD COLUMN last_id BIGINT NOT NULL DEFAULT 0;
UPDATE archive_count SET appended = n;
UPDATE archive_count SET last_id = COALESCE((SELECT MAX(a.id) FROM archive a
    WHERE a.owner = archive_count.owner AND a.with_jid = archive_count.with_jid), 0) WHERE with_jid <> '';
UPDATE archive_count SET last_id = COALESCE((SELECT MAX(a.id) FROM archive a
    WHERE a.owner = archive_count.owner), 0) WHERE with_jid = '';

-- Where an account has read up to in a conversation: `archive` is whose archive holds it
-- (the account's own for a chat, a room's), `with_jid` the conversation in that archive
-- ('' for a room's whole archive), `seen` that conversation's `appended` at the newest
-- message read, `mentions` how many messages after it mention the account.
CREATE TABLE unread_mark (
    owner TEXT NOT NULL,
    archive TEXT NOT NULL,
    with_jid TEXT NOT NULL,
    seen BIGINT NOT NULL,
    mentions BIGINT NOT NULL,
    PRIMARY KEY (owner, archive, with_jid)
);
-- A room's archive is deleted with the room: so are the read positions in it.
CREATE INDEX unread_mark_archive ON unread_mark (archive);
-- Messages that mention an account and are not read yet, by their `appended` number, so a
-- read position that moves to the middle of a conversation recounts its mentions.
CREATE TABLE unread_mention (
    owner TEXT NOT NULL,
    archive TEXT NOT NULL,
    with_jid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (owner, archive, with_jid, seq)
);
-- Deleted with a room's archive too.
CREATE INDEX unread_mention_archive ON unread_mention (archive);
-- Chats archived before these counters existed count as read.
INSERT INTO unread_mark (owner, archive, with_jid, seen, mentions)
    SELECT owner, owner, with_jid, appended, 0 FROM archive_count WHERE with_jid <> '';
