-- Retention deletes by age across every archive; without this index it scans the table.
CREATE INDEX archive_ts ON archive (ts);
