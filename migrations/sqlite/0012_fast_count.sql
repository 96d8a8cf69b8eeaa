-- XEP-0484 §3.3: the highest `count` processed for a token, so that an authentication sent
-- in TLS 0-RTT early data cannot be replayed.
ALTER TABLE fast_token ADD COLUMN last_count BIGINT NOT NULL DEFAULT 0;
