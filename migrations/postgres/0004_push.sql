-- XEP-0357 push registrations: one per (account, app server, node); `options` holds the
-- publish-options form the client asked to be sent with every push.
CREATE TABLE push_registration (
    owner TEXT NOT NULL,
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    options TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, service, node)
);
