-- How many messages each archive holds, in all (`with_jid` = '') and per conversation: the
-- RSM count of the queries clients make most (the newest page of a conversation or of the
-- whole archive) without counting millions of index entries. Kept by every append and
-- delete in the same transaction.
CREATE TABLE archive_count (
    owner TEXT NOT NULL,
    with_jid TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (owner, with_jid)
);
INSERT INTO archive_count (owner, with_jid, n)
    SELECT owner, with_jid, COUNT(*) FROM archive WHERE with_jid <> '' GROUP BY owner, with_jid;
INSERT INTO archive_count (owner, with_jid, n) SELECT owner, '', COUNT(*) FROM archive GROUP BY owner;
