-- XEP-0484 FAST tokens, per account and client (the SASL2 user-agent id), bound to the
-- mechanism they were issued for. The HT mechanisms need the token itself to check a proof.
CREATE TABLE fast_token (
    owner TEXT NOT NULL,
    client_id TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    token TEXT NOT NULL,
    expiry BIGINT NOT NULL,
    PRIMARY KEY (owner, client_id, token)
);
