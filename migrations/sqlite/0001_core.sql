-- Accounts with their SCRAM keys and argon2 hash (never a clear password).
CREATE TABLE account (
    host TEXT NOT NULL,
    username TEXT NOT NULL,
    salt BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    sha1_stored_key BLOB NOT NULL,
    sha1_server_key BLOB NOT NULL,
    sha256_stored_key BLOB NOT NULL,
    sha256_server_key BLOB NOT NULL,
    argon2 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (host, username)
);

-- RFC 6121 roster items; owner and contact are bare JIDs.
CREATE TABLE roster_item (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    name TEXT,
    subscription TEXT NOT NULL,
    ask BOOLEAN NOT NULL,
    approved BOOLEAN NOT NULL,
    groups_json TEXT NOT NULL,
    PRIMARY KEY (owner, contact)
);

-- XEP-0237: one counter per roster, bumped in the same transaction as every change.
CREATE TABLE roster_version (
    owner TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

-- Inbound subscription requests waiting for the user's answer (RFC 6121 §3.1.3).
CREATE TABLE subscription_request (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    stanza TEXT NOT NULL,
    PRIMARY KEY (owner, contact)
);

-- XEP-0160 offline messages, delivered in order.
CREATE TABLE offline_message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    stamp BIGINT NOT NULL,
    stanza TEXT NOT NULL
);
CREATE INDEX offline_message_owner ON offline_message (owner, id);

-- XEP-0012: when the account last went offline, and with which status.
CREATE TABLE last_activity (
    owner TEXT PRIMARY KEY,
    stamp BIGINT NOT NULL,
    status TEXT NOT NULL
);
