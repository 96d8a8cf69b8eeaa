-- XEP-0363 upload slots: handed out over XMPP, filled by one HTTP PUT of exactly `size`
-- bytes, then served by GET until they expire. `stored` is 1 once the file is complete.
CREATE TABLE upload_slot (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    filename TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    stored BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX upload_slot_owner ON upload_slot (owner);
CREATE INDEX upload_slot_created ON upload_slot (created_at);
