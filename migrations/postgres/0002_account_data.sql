-- Small per-account documents: XEP-0049 private XML (kind 'private', name = namespace) and
-- XEP-0054 vCards (kind 'vcard', name '').
CREATE TABLE account_data (
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (owner, kind, name)
);

-- XEP-0191 blocklists.
CREATE TABLE blocklist (
    owner TEXT NOT NULL,
    blocked TEXT NOT NULL,
    PRIMARY KEY (owner, blocked)
);
