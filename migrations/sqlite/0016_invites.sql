-- Invitations (XEP-0401, XEP-0379, XEP-0445, XEP-0488). The token itself is never stored,
-- only its SHA-256: a leaked database lets no one in. `id` names an invite for listing and
-- revoking. A revoked invite keeps its row, so that using it can be refused as revoked.
CREATE TABLE invite (
    id TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    host TEXT NOT NULL,
    creator TEXT,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    uses_left INTEGER NOT NULL,
    username TEXT,
    subscribe BOOLEAN NOT NULL,
    groups_json TEXT NOT NULL,
    rooms_json TEXT NOT NULL,
    admin BOOLEAN NOT NULL,
    revoked BOOLEAN NOT NULL,
    -- What the operator noted about it (the first-admin link is marked so).
    note TEXT
);
CREATE INDEX invite_username ON invite (host, username);

-- Server administrators (an invite can make one; the configuration can name more).
ALTER TABLE account ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
