-- XEP-0313 archives, one row per message, in arrival order (id). `owner` is the archive's
-- owner (an account's bare JID; rooms and channels later), `with_jid` the other party's bare JID.
CREATE TABLE archive (
    id BIGSERIAL PRIMARY KEY,
    owner TEXT NOT NULL,
    stanza_id TEXT NOT NULL,
    with_jid TEXT NOT NULL,
    ts BIGINT NOT NULL,
    stanza TEXT NOT NULL
);
CREATE UNIQUE INDEX archive_owner_stanza_id ON archive (owner, stanza_id);
CREATE INDEX archive_owner_id ON archive (owner, id);
CREATE INDEX archive_owner_with_id ON archive (owner, with_jid, id);
CREATE INDEX archive_owner_ts ON archive (owner, ts);

-- XEP-0313 preferences: default mode and the always/never lists (JSON arrays of JIDs).
CREATE TABLE archive_prefs (
    owner TEXT PRIMARY KEY,
    default_mode TEXT NOT NULL,
    always_json TEXT NOT NULL,
    never_json TEXT NOT NULL
);
