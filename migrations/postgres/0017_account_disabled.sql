-- Accounts an administrator disabled (XEP-0133 §4.3): logins are refused with
-- account-disabled until they are enabled again.
ALTER TABLE account ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
