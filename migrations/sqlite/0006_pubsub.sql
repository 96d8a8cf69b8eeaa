-- Publish-subscribe nodes (XEP-0060), first for PEP (XEP-0163): `owner` is the bare JID of
-- the account (or, later, the service entity) the node belongs to; `config` is the node
-- configuration as JSON. Items are stored one per row so that a list changes item by item.
CREATE TABLE pubsub_node (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, node)
);

-- `seq` orders items by publication (a re-published item moves to the end).
CREATE TABLE pubsub_item (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    item_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    publisher TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (owner, node, item_id),
    FOREIGN KEY (owner, node) REFERENCES pubsub_node (owner, node) ON DELETE CASCADE
);
CREATE INDEX pubsub_item_order ON pubsub_item (owner, node, seq);

-- Affiliations other than the owner's (`member` lets a JID through a whitelist node,
-- `outcast` keeps it out of any node), and explicit subscriptions.
CREATE TABLE pubsub_affiliation (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    jid TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (owner, node, jid),
    FOREIGN KEY (owner, node) REFERENCES pubsub_node (owner, node) ON DELETE CASCADE
);

CREATE TABLE pubsub_subscription (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    jid TEXT NOT NULL,
    PRIMARY KEY (owner, node, jid),
    FOREIGN KEY (owner, node) REFERENCES pubsub_node (owner, node) ON DELETE CASCADE
);
