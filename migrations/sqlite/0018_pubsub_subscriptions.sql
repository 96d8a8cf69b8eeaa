-- Subscriptions as XEP-0060 has them: an id the subscriber may quote, a state (`pending`
-- while an owner of an `authorize` node decides), and the subscriber's options as JSON.
ALTER TABLE pubsub_subscription ADD COLUMN subid TEXT NOT NULL DEFAULT '';
ALTER TABLE pubsub_subscription ADD COLUMN state TEXT NOT NULL DEFAULT 'subscribed';
ALTER TABLE pubsub_subscription ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
UPDATE pubsub_subscription SET subid = lower(hex(randomblob(8)));

-- A subscriber's subscriptions and an entity's affiliations across a service's nodes
-- (XEP-0060 §5.6, §5.7).
CREATE INDEX pubsub_subscription_jid ON pubsub_subscription (owner, jid);
CREATE INDEX pubsub_affiliation_jid ON pubsub_affiliation (owner, jid);
