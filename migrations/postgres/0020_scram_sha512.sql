-- SCRAM-SHA-512, and key sets an account may lack (XEP-0480 upgrade tasks add them at a
-- login): SHA-512 keys are NULL for accounts created before, and SHA-256 keys may be NULL
-- for a row made from another server's SCRAM-SHA-1 keys. A key set is both keys or neither.
ALTER TABLE account
    ALTER COLUMN sha256_stored_key DROP NOT NULL,
    ALTER COLUMN sha256_server_key DROP NOT NULL,
    ADD COLUMN sha512_stored_key BYTEA,
    ADD COLUMN sha512_server_key BYTEA,
    ADD CONSTRAINT account_sha256_keys CHECK ((sha256_stored_key IS NULL) = (sha256_server_key IS NULL)),
    ADD CONSTRAINT account_sha512_keys CHECK ((sha512_stored_key IS NULL) = (sha512_server_key IS NULL));
