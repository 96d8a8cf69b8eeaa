-- SCRAM-SHA-512, and key sets an account may lack (XEP-0480 upgrade tasks add them at a
-- login): SHA-512 keys are NULL for accounts created before, and SHA-256 keys may be NULL
-- for a row made from another server's SCRAM-SHA-1 keys. A key set is both keys or neither.
-- SQLite cannot drop NOT NULL from a column: the table is built anew with every column it
-- had (through 0017) and the new ones, and takes the old one's place. No foreign key, index
-- or trigger refers to it. A migration numbered below 0020 that lands later and adds a column
-- to `account` must add it here too, or this rebuild drops it.
CREATE TABLE account_new (
    host TEXT NOT NULL,
    username TEXT NOT NULL,
    salt BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    sha1_stored_key BLOB NOT NULL,
    sha1_server_key BLOB NOT NULL,
    sha256_stored_key BLOB,
    sha256_server_key BLOB,
    argon2 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    sha512_stored_key BLOB,
    sha512_server_key BLOB,
    PRIMARY KEY (host, username),
    CHECK ((sha256_stored_key IS NULL) = (sha256_server_key IS NULL)),
    CHECK ((sha512_stored_key IS NULL) = (sha512_server_key IS NULL))
);
INSERT INTO account_new (host, username, salt, iterations, sha1_stored_key, sha1_server_key,
    sha256_stored_key, sha256_server_key, argon2, created_at, admin, disabled)
SELECT host, username, salt, iterations, sha1_stored_key, sha1_server_key,
    sha256_stored_key, sha256_server_key, argon2, created_at, admin, disabled FROM account;
DROP TABLE account;
ALTER TABLE account_new RENAME TO account;
