-- Accounts deleted, by the account epoch their deletion moved to. A running server that sees
-- another process move the epoch reads which accounts went, ends their sessions and forgets
-- what it kept of them. Rows older than a day are pruned by the next deletion.
CREATE TABLE account_removed (
    epoch BIGINT NOT NULL,
    jid TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX account_removed_epoch ON account_removed (epoch);
