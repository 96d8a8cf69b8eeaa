-- Retention deletes by age across every archive; without this index it scans the table.
CREATE INDEX archive_ts ON archive (ts);
-- A time range within one conversation (XEP-0313 with + start/end) counts its matches from the
-- index alone instead of visiting every message of the account in that range.
CREATE INDEX archive_owner_with_ts ON archive (owner, with_jid, ts);
