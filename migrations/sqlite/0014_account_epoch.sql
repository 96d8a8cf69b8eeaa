-- Bumped in the transaction of every account write. A running server keeps credentials in
-- memory and polls this to learn that another process (the command line) changed accounts.
CREATE TABLE account_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO account_epoch (id, n) VALUES (1, 0);
