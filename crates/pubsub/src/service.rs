//! The operations of one publish-subscribe service (a PEP account, later `pubsub.HOST`):
//! create, publish, retract, purge, delete, configure, subscribe, each checked with [`may`]
//! and returning the event subscribers are owed, if the node's configuration says they are.
//! Storage is injected as a [`Store`]; who receives an event is the adapter's business (PEP
//! asks the roster and the clients' capabilities).

use crate::access::{Action, Affiliation, Denied, Relation, may};
use crate::config::{AccessModel, NodeConfig};
use crate::subscription::{SubOptions, SubState, Subscription};
use std::future::Future;

/// An item as the engine keeps it. The payload is opaque here (serialised XML for XMPP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub publisher: String,
    pub payload: String,
}

/// Bounds of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_nodes: usize,
    /// Items a node keeps at most, whatever its `max_items` says.
    pub max_items: u32,
}

/// Storage failed; the store has logged why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure;

/// What the engine reads and writes, for one service. Implemented by each adapter over its
/// storage; the engine's tests implement it over a map.
pub trait Store: Send + Sync {
    /// A node's configuration; `None` when there is no such node.
    fn config(&self, node: &str) -> impl Future<Output = Result<Option<NodeConfig>, Failure>> + Send;
    fn node_count(&self) -> impl Future<Output = Result<usize, Failure>> + Send;
    /// `false` when the node exists already.
    fn create(&self, node: &str, config: &NodeConfig) -> impl Future<Output = Result<bool, Failure>> + Send;
    /// Stores a new configuration, keeping at most `keep` items.
    fn configure(&self, node: &str, config: &NodeConfig, keep: i64)
    -> impl Future<Output = Result<(), Failure>> + Send;
    /// Stores an item (replacing one with its id), creating the node with `config` if it is
    /// new, keeping at most `keep` items; the ids of the items that made room.
    fn publish(
        &self,
        node: &str,
        config: &NodeConfig,
        item: &Item,
        keep: i64,
    ) -> impl Future<Output = Result<Vec<String>, Failure>> + Send;
    /// `false` when there was no such item.
    fn retract(&self, node: &str, id: &str) -> impl Future<Output = Result<bool, Failure>> + Send;
    fn purge(&self, node: &str) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Removes the node with its items, affiliations and subscriptions.
    fn delete(&self, node: &str) -> impl Future<Output = Result<(), Failure>> + Send;
    /// `who`'s affiliation with the node (the service's owner owns every node).
    fn affiliation(&self, node: &str, who: &str) -> impl Future<Output = Result<Affiliation, Failure>> + Send;
    fn subscription(&self, node: &str, jid: &str)
    -> impl Future<Output = Result<Option<Subscription>, Failure>> + Send;
    /// Stores a subscription, replacing the JID's previous one.
    fn put_subscription(
        &self,
        node: &str,
        subscription: &Subscription,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
    /// `false` when the JID was not subscribed.
    fn unsubscribe(&self, node: &str, jid: &str) -> impl Future<Output = Result<bool, Failure>> + Send;
}

/// Why an operation did not happen.
#[derive(Debug)]
pub enum Error {
    NoSuchNode,
    NoSuchItem,
    NodeExists,
    TooManyNodes,
    /// Unsubscribing (or configuring, or approving) a subscription that does not exist.
    NotSubscribed,
    /// A subscription id that is not the subscription's.
    InvalidSubid,
    Denied(Denied),
    Storage(Failure),
    /// The adapter's own refusal (a form that does not apply, a precondition not met),
    /// passed back as it was given.
    Adapter(Box<dyn std::error::Error + Send + Sync>),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        Self::Storage(f)
    }
}

impl From<Denied> for Error {
    fn from(d: Denied) -> Self {
        Self::Denied(d)
    }
}

/// Who asks: its address as the store knows it, and what the adapter knows of it.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub jid: &'a str,
    pub relation: Relation<'a>,
}

/// What subscribers are owed after an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An item, and the ids of the oldest items it pushed out (the node's `max_items`).
    Published {
        item: Item,
        trimmed: Vec<String>,
    },
    Retracted(Vec<String>),
    Purged,
    Deleted {
        redirect: Option<String>,
    },
    Configured,
}

/// An event of a node, with the node's configuration (which says how it is delivered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub node: String,
    pub config: NodeConfig,
    pub event: Event,
}

/// One service's operations over its store.
pub struct Service<S> {
    pub store: S,
    pub limits: Limits,
}

impl<S: Store> Service<S> {
    pub fn new(store: S, limits: Limits) -> Self {
        Self { store, limits }
    }

    /// The node's configuration, if `actor` may do `action` on it.
    pub async fn node_for(&self, actor: &Actor<'_>, node: &str, action: Action) -> Result<NodeConfig, Error> {
        let config = self.store.config(node).await?.ok_or(Error::NoSuchNode)?;
        self.check(actor, node, &config, action).await?;
        Ok(config)
    }

    async fn check(&self, actor: &Actor<'_>, node: &str, config: &NodeConfig, action: Action) -> Result<(), Error> {
        let affiliation = self.store.affiliation(node, actor.jid).await?;
        Ok(may(config, affiliation, &actor.relation, action)?)
    }

    async fn ensure_room_for_node(&self) -> Result<(), Error> {
        if self.store.node_count().await? >= self.limits.max_nodes {
            return Err(Error::TooManyNodes);
        }
        Ok(())
    }

    fn keep(&self, config: &NodeConfig) -> i64 {
        config.item_limit(self.limits.max_items)
    }

    /// Creates a node (who may create is the adapter's call: in PEP, the account only).
    pub async fn create(&self, node: &str, config: &NodeConfig) -> Result<(), Error> {
        self.ensure_room_for_node().await?;
        if !self.store.create(node, config).await? {
            return Err(Error::NodeExists);
        }
        Ok(())
    }

    /// Publishes `item`. `options` sees the node's configuration (`None`: the node is new,
    /// XEP-0163 auto-create) and returns the one to publish under, or refuses (a
    /// publish-options precondition, XEP-0060 §7.1.5).
    pub async fn publish(
        &self,
        actor: &Actor<'_>,
        node: &str,
        item: Item,
        options: impl FnOnce(Option<NodeConfig>) -> Result<NodeConfig, Error>,
    ) -> Result<Option<Notice>, Error> {
        let config = match self.store.config(node).await? {
            Some(existing) => {
                self.check(actor, node, &existing, Action::Publish).await?;
                options(Some(existing))?
            }
            None => {
                let config = options(None)?;
                self.ensure_room_for_node().await?;
                config
            }
        };
        let trimmed = self.store.publish(node, &config, &item, self.keep(&config)).await?;
        Ok(config.deliver_notifications.then(|| notice(node, config, Event::Published { item, trimmed })))
    }

    /// Retracts the items that exist among `ids`; tells subscribers when `notify` says so,
    /// or else when the node does.
    pub async fn retract(
        &self,
        actor: &Actor<'_>,
        node: &str,
        ids: &[String],
        notify: Option<bool>,
    ) -> Result<Option<Notice>, Error> {
        let config = self.node_for(actor, node, Action::Retract).await?;
        let mut gone = Vec::new();
        for id in ids {
            if self.store.retract(node, id).await? {
                gone.push(id.clone());
            }
        }
        if gone.is_empty() {
            return Err(Error::NoSuchItem);
        }
        let notify = notify.unwrap_or(config.notify_retract);
        Ok(notify.then(|| notice(node, config, Event::Retracted(gone))))
    }

    pub async fn purge(&self, actor: &Actor<'_>, node: &str) -> Result<Option<Notice>, Error> {
        let config = self.node_for(actor, node, Action::Purge).await?;
        self.store.purge(node).await?;
        Ok(config.notify_retract.then(|| notice(node, config, Event::Purged)))
    }

    /// Deletes a node. Whoever is owed the notice is to be worked out before: the node's
    /// affiliations go with it.
    pub async fn delete(
        &self,
        actor: &Actor<'_>,
        node: &str,
        redirect: Option<String>,
    ) -> Result<Option<Notice>, Error> {
        let config = self.node_for(actor, node, Action::Delete).await?;
        self.store.delete(node).await?;
        Ok(config.notify_delete.then(|| notice(node, config, Event::Deleted { redirect })))
    }

    /// Changes a node's configuration with `change` (a submitted form, say).
    pub async fn configure(
        &self,
        actor: &Actor<'_>,
        node: &str,
        change: impl FnOnce(&mut NodeConfig) -> Result<(), Error>,
    ) -> Result<Option<Notice>, Error> {
        let mut config = self.node_for(actor, node, Action::Configure).await?;
        change(&mut config)?;
        self.store.configure(node, &config, self.keep(&config)).await?;
        Ok(config.notify_config.then(|| notice(node, config, Event::Configured)))
    }

    /// Subscribes `jid` (the actor's own address, or one of its resources) with `subid` and
    /// `options`: on an `authorize` node the subscription of someone not affiliated waits for
    /// an owner. An existing subscription is kept as it is. The node's configuration, the
    /// subscription, and whether it is new.
    pub async fn subscribe(
        &self,
        actor: &Actor<'_>,
        node: &str,
        jid: &str,
        subid: String,
        options: SubOptions,
    ) -> Result<(NodeConfig, Subscription, bool), Error> {
        let config = self.store.config(node).await?.ok_or(Error::NoSuchNode)?;
        let affiliation = self.store.affiliation(node, actor.jid).await?;
        may(&config, affiliation, &actor.relation, Action::Subscribe)?;
        if let Some(existing) = self.store.subscription(node, jid).await? {
            return Ok((config, existing, false));
        }
        let approved = config.access_model != AccessModel::Authorize || affiliation != Affiliation::None;
        let state = if approved { SubState::Subscribed } else { SubState::Pending };
        let subscription = Subscription { jid: jid.to_owned(), subid, state, options };
        self.store.put_subscription(node, &subscription).await?;
        Ok((config, subscription, true))
    }

    /// `jid`'s subscription, checked against the `subid` the request quoted (if it quoted one).
    pub async fn subscription_of(&self, node: &str, jid: &str, subid: Option<&str>) -> Result<Subscription, Error> {
        self.store.config(node).await?.ok_or(Error::NoSuchNode)?;
        let existing = self.store.subscription(node, jid).await?.ok_or(Error::NotSubscribed)?;
        match subid {
            Some(subid) if !subid.is_empty() && subid != existing.subid => Err(Error::InvalidSubid),
            _ => Ok(existing),
        }
    }

    /// Ends `jid`'s subscription (who may is the adapter's call: the subscriber or an owner).
    pub async fn unsubscribe(&self, node: &str, jid: &str, subid: Option<&str>) -> Result<(), Error> {
        self.subscription_of(node, jid, subid).await?;
        self.store.unsubscribe(node, jid).await?;
        Ok(())
    }

    /// Replaces the options of `jid`'s subscription.
    pub async fn set_options(
        &self,
        node: &str,
        jid: &str,
        subid: Option<&str>,
        options: SubOptions,
    ) -> Result<Subscription, Error> {
        let subscription = Subscription { options, ..self.subscription_of(node, jid, subid).await? };
        self.store.put_subscription(node, &subscription).await?;
        Ok(subscription)
    }

    /// An owner approves (`allow`) or denies a pending subscription (§8.6); the subscription
    /// approved, `None` when denied.
    pub async fn decide(
        &self,
        actor: &Actor<'_>,
        node: &str,
        jid: &str,
        allow: bool,
    ) -> Result<Option<Subscription>, Error> {
        self.node_for(actor, node, Action::Manage).await?;
        let pending = self.store.subscription(node, jid).await?.filter(|s| s.state == SubState::Pending);
        let pending = pending.ok_or(Error::NotSubscribed)?;
        if !allow {
            self.store.unsubscribe(node, jid).await?;
            return Ok(None);
        }
        let approved = Subscription { state: SubState::Subscribed, ..pending };
        self.store.put_subscription(node, &approved).await?;
        Ok(Some(approved))
    }
}

fn notice(node: &str, config: NodeConfig, event: Event) -> Notice {
    Notice { node: node.to_owned(), config, event }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AccessModel;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;

    type Node = (NodeConfig, BTreeMap<String, Item>);

    /// One service in memory: `owner` owns every node.
    #[derive(Default)]
    struct Memory {
        owner: String,
        nodes: Mutex<HashMap<String, Node>>,
        affiliations: Mutex<HashMap<(String, String), Affiliation>>,
        subscriptions: Mutex<HashMap<(String, String), Subscription>>,
    }

    impl Store for Memory {
        async fn config(&self, node: &str) -> Result<Option<NodeConfig>, Failure> {
            Ok(self.nodes.lock().unwrap().get(node).map(|(c, _)| c.clone()))
        }
        async fn node_count(&self) -> Result<usize, Failure> {
            Ok(self.nodes.lock().unwrap().len())
        }
        async fn create(&self, node: &str, config: &NodeConfig) -> Result<bool, Failure> {
            let mut nodes = self.nodes.lock().unwrap();
            if nodes.contains_key(node) {
                return Ok(false);
            }
            nodes.insert(node.into(), (config.clone(), BTreeMap::new()));
            Ok(true)
        }
        async fn configure(&self, node: &str, config: &NodeConfig, _keep: i64) -> Result<(), Failure> {
            self.nodes.lock().unwrap().get_mut(node).ok_or(Failure)?.0 = config.clone();
            Ok(())
        }
        async fn publish(
            &self,
            node: &str,
            config: &NodeConfig,
            item: &Item,
            keep: i64,
        ) -> Result<Vec<String>, Failure> {
            let mut nodes = self.nodes.lock().unwrap();
            let (_, items) = nodes.entry(node.into()).or_insert_with(|| (config.clone(), BTreeMap::new()));
            items.insert(item.id.clone(), item.clone());
            let mut trimmed = Vec::new();
            while items.len() as i64 > keep {
                let first = items.keys().next().cloned().ok_or(Failure)?;
                items.remove(&first);
                trimmed.push(first);
            }
            Ok(trimmed)
        }
        async fn retract(&self, node: &str, id: &str) -> Result<bool, Failure> {
            Ok(self.nodes.lock().unwrap().get_mut(node).is_some_and(|(_, items)| items.remove(id).is_some()))
        }
        async fn purge(&self, node: &str) -> Result<(), Failure> {
            if let Some((_, items)) = self.nodes.lock().unwrap().get_mut(node) {
                items.clear();
            }
            Ok(())
        }
        async fn delete(&self, node: &str) -> Result<(), Failure> {
            self.nodes.lock().unwrap().remove(node);
            Ok(())
        }
        async fn affiliation(&self, node: &str, who: &str) -> Result<Affiliation, Failure> {
            if who == self.owner {
                return Ok(Affiliation::Owner);
            }
            Ok(self.affiliations.lock().unwrap().get(&(node.into(), who.into())).copied().unwrap_or_default())
        }
        async fn subscription(&self, node: &str, jid: &str) -> Result<Option<Subscription>, Failure> {
            Ok(self.subscriptions.lock().unwrap().get(&(node.to_owned(), jid.to_owned())).cloned())
        }
        async fn put_subscription(&self, node: &str, subscription: &Subscription) -> Result<(), Failure> {
            let key = (node.to_owned(), subscription.jid.clone());
            self.subscriptions.lock().unwrap().insert(key, subscription.clone());
            Ok(())
        }
        async fn unsubscribe(&self, node: &str, jid: &str) -> Result<bool, Failure> {
            Ok(self.subscriptions.lock().unwrap().remove(&(node.to_owned(), jid.to_owned())).is_some())
        }
    }

    const LIMITS: Limits = Limits { max_nodes: 2, max_items: 10 };

    fn service() -> Service<Memory> {
        Service::new(Memory { owner: "owner@x".into(), ..Default::default() }, LIMITS)
    }

    fn owner() -> Actor<'static> {
        Actor { jid: "owner@x", relation: Relation::default() }
    }

    fn stranger() -> Actor<'static> {
        Actor { jid: "stranger@y", relation: Relation::default() }
    }

    fn item(id: &str) -> Item {
        Item { id: id.into(), publisher: "owner@x/r".into(), payload: format!("<p>{id}</p>") }
    }

    fn as_is(config: Option<NodeConfig>) -> Result<NodeConfig, Error> {
        Ok(config.unwrap_or_default())
    }

    #[tokio::test]
    async fn publishing_creates_the_node_and_owes_subscribers_the_item() {
        let s = service();
        let notice = s.publish(&owner(), "n", item("1"), as_is).await.unwrap().unwrap();
        assert_eq!((notice.node.as_str(), notice.event), ("n", Event::Published { item: item("1"), trimmed: vec![] }));
        assert!(s.store.config("n").await.unwrap().is_some());
        // A node that does not deliver notifications owes nobody anything.
        let quiet = |_| Ok(NodeConfig { deliver_notifications: false, ..Default::default() });
        assert_eq!(s.publish(&owner(), "quiet", item("1"), quiet).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_stranger_may_not_publish_nor_retract_and_an_outcast_may_not_even_look() {
        let s = service();
        s.publish(&owner(), "n", item("1"), as_is).await.unwrap();
        assert!(matches!(s.publish(&stranger(), "n", item("2"), as_is).await, Err(Error::Denied(Denied::Forbidden))));
        assert!(matches!(s.retract(&stranger(), "n", &["1".into()], None).await, Err(Error::Denied(_))));
        s.store.affiliations.lock().unwrap().insert(("n".into(), "stranger@y".into()), Affiliation::Outcast);
        assert!(matches!(s.node_for(&stranger(), "n", Action::Retrieve).await, Err(Error::Denied(Denied::Forbidden))));
    }

    fn subscribe<'a>(
        s: &'a Service<Memory>,
        actor: &'a Actor<'a>,
        jid: &'a str,
    ) -> impl Future<Output = Result<(NodeConfig, Subscription, bool), Error>> + 'a {
        s.subscribe(actor, "n", jid, format!("sub-{jid}"), SubOptions::default())
    }

    #[tokio::test]
    async fn the_access_model_decides_who_may_subscribe() {
        let s = service();
        s.publish(&owner(), "n", item("1"), as_is).await.unwrap();
        let refused = subscribe(&s, &stranger(), "stranger@y").await;
        assert!(matches!(refused, Err(Error::Denied(Denied::PresenceSubscriptionRequired))));
        let contact = Actor { jid: "friend@y", relation: Relation { sees_presence: true, ..Default::default() } };
        let (_, sub, new) = subscribe(&s, &contact, "friend@y/phone").await.unwrap();
        assert!(new);
        assert_eq!((sub.state, sub.subid.as_str()), (SubState::Subscribed, "sub-friend@y/phone"));
        let (_, again, new) =
            s.subscribe(&contact, "n", "friend@y/phone", "other".into(), SubOptions::default()).await.unwrap();
        assert_eq!((again.subid.as_str(), new), ("sub-friend@y/phone", false));
        assert!(matches!(s.unsubscribe("n", "friend@y/phone", Some("other")).await, Err(Error::InvalidSubid)));
        s.unsubscribe("n", "friend@y/phone", None).await.unwrap();
        assert!(matches!(s.unsubscribe("n", "friend@y/phone", None).await, Err(Error::NotSubscribed)));
    }

    #[tokio::test]
    async fn authorize_nodes_hold_subscriptions_until_an_owner_decides() {
        let s = service();
        let authorize = |_| Ok(NodeConfig { access_model: AccessModel::Authorize, ..Default::default() });
        s.publish(&owner(), "n", item("1"), authorize).await.unwrap();
        let (_, sub, _) = subscribe(&s, &stranger(), "stranger@y").await.unwrap();
        assert_eq!(sub.state, SubState::Pending);
        // A pending subscriber does not see items; only an owner decides.
        assert!(matches!(
            s.node_for(&stranger(), "n", Action::Retrieve).await,
            Err(Error::Denied(Denied::NotSubscribed))
        ));
        assert!(matches!(s.decide(&stranger(), "n", "stranger@y", true).await, Err(Error::Denied(_))));
        let approved = s.decide(&owner(), "n", "stranger@y", true).await.unwrap().unwrap();
        assert_eq!(approved.state, SubState::Subscribed);
        assert!(matches!(s.decide(&owner(), "n", "stranger@y", true).await, Err(Error::NotSubscribed)));
        // Denied, the request is gone.
        let other = Actor { jid: "other@y", relation: Relation::default() };
        subscribe(&s, &other, "other@y").await.unwrap();
        assert_eq!(s.decide(&owner(), "n", "other@y", false).await.unwrap(), None);
        assert!(s.store.subscription("n", "other@y").await.unwrap().is_none());
        // Options change what is delivered, not the subscription.
        let quiet = SubOptions { deliver: false, ..Default::default() };
        let changed = s.set_options("n", "stranger@y", None, quiet.clone()).await.unwrap();
        assert_eq!((changed.options, changed.state), (quiet, SubState::Subscribed));
    }

    #[tokio::test]
    async fn retraction_names_only_what_was_there_and_notify_overrides_the_node() {
        let s = service();
        s.publish(&owner(), "n", item("1"), as_is).await.unwrap();
        let notice = s.retract(&owner(), "n", &["1".into(), "ghost".into()], None).await.unwrap().unwrap();
        assert_eq!(notice.event, Event::Retracted(vec!["1".into()]));
        assert!(matches!(s.retract(&owner(), "n", &["1".into()], None).await, Err(Error::NoSuchItem)));
        s.publish(&owner(), "n", item("2"), as_is).await.unwrap();
        assert_eq!(s.retract(&owner(), "n", &["2".into()], Some(false)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn nodes_are_bounded_and_created_once() {
        let s = service();
        s.create("a", &NodeConfig::default()).await.unwrap();
        assert!(matches!(s.create("a", &NodeConfig::default()).await, Err(Error::TooManyNodes | Error::NodeExists)));
        s.create("b", &NodeConfig::default()).await.unwrap();
        assert!(matches!(s.create("c", &NodeConfig::default()).await, Err(Error::TooManyNodes)));
        assert!(matches!(s.publish(&owner(), "c", item("1"), as_is).await, Err(Error::TooManyNodes)));
        // Publishing to an existing node is not creating one.
        s.publish(&owner(), "a", item("1"), as_is).await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_precondition_publishes_nothing() {
        let s = service();
        s.publish(&owner(), "n", item("1"), as_is).await.unwrap();
        let open = |existing: Option<NodeConfig>| match existing {
            Some(c) if c.access_model != AccessModel::Open => Err(Error::Adapter("precondition-not-met".into())),
            other => as_is(other),
        };
        assert!(matches!(s.publish(&owner(), "n", item("2"), open).await, Err(Error::Adapter(_))));
        assert_eq!(s.store.nodes.lock().unwrap()["n"].1.len(), 1);
    }

    #[tokio::test]
    async fn only_the_owner_purges_configures_and_deletes_each_as_its_node_says() {
        let s = service();
        s.publish(&owner(), "n", item("1"), as_is).await.unwrap();
        assert!(matches!(s.purge(&stranger(), "n").await, Err(Error::Denied(_))));
        assert!(matches!(s.configure(&stranger(), "n", |_| Ok(())).await, Err(Error::Denied(_))));
        assert!(matches!(s.delete(&stranger(), "n", None).await, Err(Error::Denied(_))));
        assert_eq!(s.purge(&owner(), "n").await.unwrap().map(|n| n.event), Some(Event::Purged));
        // notify_config is off by default; turned on, the change itself is announced.
        let titled = |c: &mut NodeConfig| {
            c.title = "T".into();
            Ok(())
        };
        assert_eq!(s.configure(&owner(), "n", titled).await.unwrap(), None);
        let announced = |c: &mut NodeConfig| {
            c.notify_config = true;
            Ok(())
        };
        let on = s.configure(&owner(), "n", announced).await.unwrap().unwrap();
        assert_eq!((on.event, on.config.title.as_str()), (Event::Configured, "T"));
        let deleted = s.delete(&owner(), "n", Some("xmpp:else".into())).await.unwrap().unwrap();
        assert_eq!(deleted.event, Event::Deleted { redirect: Some("xmpp:else".into()) });
        assert!(matches!(s.delete(&owner(), "n", None).await, Err(Error::NoSuchNode)));
    }
}
