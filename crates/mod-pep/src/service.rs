//! The operations on personal nodes, shared by the IQ handlers and bookmarks compatibility:
//! each changes storage first and then tells whoever may and wants to know.

use crate::PepConfig;
use crate::access::Audience;
use crate::config::{self, NodeConfig, NodeForm, SendLast, default_for, personal};
use rhein_module::pubsub::{
    Owners, StoredNodes, adapter, event_element, item_element, items_event, refusal, send_event,
};
use rhein_module::{Ctx, Current, Flow, Stanza, storage_failure};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns};
use rhein_pubsub::{Actor, Error, Event, Limits, Notice, Relation, Service, Store};
use rhein_storage::{ItemPage, ItemRow};
use std::collections::HashSet;
use std::sync::Arc;

pub(crate) struct Pep {
    pub(crate) config: Current<PepConfig>,
    pub(crate) remote: crate::remote::RemoteContacts,
}

/// The account acting on its own nodes.
fn as_owner(owner: &BareJid) -> Actor<'_> {
    Actor { jid: owner.as_str(), relation: Relation::default() }
}

impl Pep {
    pub(crate) fn new(config: PepConfig) -> Self {
        Self { config: Current::new(config), remote: Default::default() }
    }

    /// The engine over `owner`'s nodes.
    pub(crate) fn nodes<'a>(&self, ctx: &'a Ctx, owner: &'a BareJid) -> Service<StoredNodes<'a>> {
        let config = self.config.get();
        let limits = Limits { max_nodes: config.max_nodes, max_items: config.max_items };
        let store = StoredNodes { db: &ctx.db, service: owner.as_str(), owners: Owners::Itself, read: config::stored };
        Service::new(store, limits)
    }

    pub(crate) async fn node_config(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
    ) -> Result<Option<NodeConfig>, StanzaError> {
        self.nodes(ctx, owner).store.config(node).await.map_err(|_| StanzaError::internal_server_error())
    }

    /// Like [`Self::node_config`], with `item-not-found` for a missing node.
    pub(crate) async fn existing(&self, ctx: &Ctx, owner: &BareJid, node: &str) -> Result<NodeConfig, StanzaError> {
        self.node_config(ctx, owner, node).await?.ok_or_else(|| refusal(Error::NoSuchNode))
    }

    /// Creates a node (`<create/>`), configured by the defaults of its name and `form`.
    pub(crate) async fn create(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        form: Option<&Element>,
    ) -> Result<(), StanzaError> {
        let mut config = default_for(node);
        if let Some(form) = form {
            config.apply(form)?;
            personal(&config)?;
        }
        self.nodes(ctx, owner).create(node, &config).await.map_err(refusal)
    }

    /// Publishes one item as the account, creating the node on first use (XEP-0163
    /// auto-create) with the publish-options as its configuration, or checking them as
    /// preconditions.
    pub(crate) async fn publish(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        item: ItemRow,
        options: Option<&Element>,
    ) -> Result<(), StanzaError> {
        let configured = |existing: Option<NodeConfig>| {
            let config = match (existing, options) {
                (Some(existing), Some(options)) => existing.check_preconditions(options).map(|()| existing),
                (Some(existing), None) => Ok(existing),
                (None, options) => {
                    let mut config = default_for(node);
                    options
                        .map_or(Ok(()), |options| config.apply(options))
                        .and_then(|()| personal(&config))
                        .map(|()| config)
                }
            };
            config.map_err(adapter)
        };
        // The unread overview follows displayed states and counts in bookmarked rooms.
        let read_position = [ns::MDS_DISPLAYED, ns::BOOKMARKS].contains(&node).then(|| item.clone());
        let notice = self.nodes(ctx, owner).publish(&as_owner(owner), node, item, configured).await;
        self.notify(ctx, owner, notice.map_err(refusal)?).await?;
        if let Some(item) = read_position {
            crate::displayed::move_read_position(ctx, owner, node, &item).await;
        }
        Ok(())
    }

    /// Retracts items as the account; notifies when `notify` says so, or else when the node does.
    pub(crate) async fn retract(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        ids: &[String],
        notify: Option<bool>,
    ) -> Result<(), StanzaError> {
        let notice = self.nodes(ctx, owner).retract(&as_owner(owner), node, ids, notify).await;
        self.notify(ctx, owner, notice.map_err(refusal)?).await
    }

    pub(crate) async fn purge(&self, ctx: &Ctx, owner: &BareJid, node: &str) -> Result<(), StanzaError> {
        let notice = self.nodes(ctx, owner).purge(&as_owner(owner), node).await;
        self.notify(ctx, owner, notice.map_err(refusal)?).await
    }

    pub(crate) async fn delete(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        redirect: Option<&str>,
    ) -> Result<(), StanzaError> {
        // The audience is judged before the node (and its affiliations) disappear.
        let config = self.existing(ctx, owner, node).await?;
        let recipients = self.recipients(ctx, owner, node, &config).await?;
        let redirect = redirect.map(str::to_owned);
        let notice = self.nodes(ctx, owner).delete(&as_owner(owner), node, redirect).await.map_err(refusal)?;
        if let Some(notice) = notice {
            send_event(ctx, owner.as_str(), &recipients, &event_element(&notice)).await;
        }
        Ok(())
    }

    /// Applies a submitted `pubsub#node_config` form.
    pub(crate) async fn configure(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        form: &Element,
    ) -> Result<(), StanzaError> {
        let apply = |config: &mut NodeConfig| config.apply(form).and_then(|()| personal(config)).map_err(adapter);
        let notice = self.nodes(ctx, owner).configure(&as_owner(owner), node, apply).await;
        self.notify(ctx, owner, notice.map_err(refusal)?).await
    }

    /// Sends subscribers what an operation owes them.
    async fn notify(&self, ctx: &Ctx, owner: &BareJid, notice: Option<Notice>) -> Result<(), StanzaError> {
        let Some(notice) = notice else { return Ok(()) };
        self.broadcast(ctx, owner, &notice.node, &notice.config, event_element(&notice)).await?;
        // Items a publication pushed out of the node are retracted as far as subscribers
        // know, where the node tells retractions (a list kept in sync item by item).
        if let Event::Published { trimmed, .. } = &notice.event
            && !trimmed.is_empty()
            && notice.config.notify_retract
        {
            let gone = Notice { event: Event::Retracted(trimmed.clone()), ..notice.clone() };
            self.broadcast(ctx, owner, &gone.node, &gone.config, event_element(&gone)).await?;
        }
        Ok(())
    }

    /// Everyone a notification of `node` goes to: the owner's resources and the resources of
    /// contacts the access model lets in, each only if it asked for `node+notify`; then
    /// explicit subscribers not already reached that way.
    async fn recipients(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        config: &NodeConfig,
    ) -> Result<Vec<String>, StanzaError> {
        let audience = Audience::load(ctx, owner, node).await?;
        let mut out = Vec::new();
        let mut reached = HashSet::new();
        let contacts = audience.presence_subscribers().filter_map(|c| BareJid::new(c).ok());
        let allowed: Vec<BareJid> = contacts.filter(|c| audience.check(config, c).is_ok()).collect();
        for bare in std::iter::once(owner.clone()).chain(allowed) {
            let wanting = self.notified_resources(ctx, &bare, node);
            if !wanting.is_empty() {
                reached.insert(bare);
                out.extend(wanting);
            }
        }
        for subscriber in ctx.db.pubsub().subscribers(owner.as_str(), node).await.map_err(storage_failure)? {
            let Ok(jid) = Jid::new(&subscriber) else { continue };
            if !reached.contains(&jid.to_bare()) && audience.check(config, &jid.to_bare()).is_ok() {
                out.push(subscriber);
            }
        }
        Ok(out)
    }

    /// The resources of `bare` that asked for `node+notify`: from the session table for our
    /// users, from the presence they sent us for contacts on other servers.
    fn notified_resources(&self, ctx: &Ctx, bare: &BareJid, node: &str) -> Vec<String> {
        if ctx.router.is_local_host(bare.domain().as_str()) {
            let resources = ctx.router.resources(bare).into_iter();
            return resources.filter(|r| ctx.caps.wants(r, node)).map(|r| r.jid.to_string()).collect();
        }
        let online = self.remote.online(bare).into_iter();
        online.filter(|jid| ctx.caps.wants_jid(jid, node)).map(|jid| jid.to_string()).collect()
    }

    async fn broadcast(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        config: &NodeConfig,
        event: Element,
    ) -> Result<(), StanzaError> {
        let recipients = self.recipients(ctx, owner, node, config).await?;
        tracing::debug!(%owner, node, ?recipients, "pubsub notification");
        send_event(ctx, owner.as_str(), &recipients, &event).await;
        Ok(())
    }

    /// `pre-presence`: a client's capabilities may ask for new notifications; it then gets the
    /// last item of each such node it may see (XEP-0163 §4.3.2, `on_sub_and_presence`).
    pub(crate) async fn watch_presence(self: Arc<Self>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
        if stanza.is_broadcast()
            && stanza.stanza_type().is_none()
            && stanza.el.get_child("c", ns::CAPS).is_some()
            && let Ok(from) = stanza.from.try_as_full().cloned()
        {
            let presence = stanza.el.clone();
            // Learning capabilities may wait on the client; presence does not.
            tokio::spawn(async move {
                if let Err(e) = self.send_last_items(&ctx, &from, &presence).await {
                    tracing::debug!(jid = %from, error = %e, "last items not sent");
                }
            });
        }
        Ok(Flow::Continue(stanza))
    }

    async fn send_last_items(&self, ctx: &Ctx, jid: &FullJid, presence: &Element) -> Result<(), StanzaError> {
        let Some((before, now)) = ctx.caps.update(ctx, jid, presence).await else { return Ok(()) };
        let fresh: HashSet<&str> = now
            .iter()
            .filter(|f| !before.as_ref().is_some_and(|b| b.contains(*f)))
            .filter_map(|f| f.strip_suffix("+notify"))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let me = jid.to_bare();
        let mut owners = vec![me.clone()];
        for item in ctx.db.roster().items(me.as_str()).await.map_err(storage_failure)?.iter() {
            if item.subscription.to()
                && let Ok(contact) = BareJid::new(&item.contact)
                && ctx.router.is_local_host(contact.domain().as_str())
            {
                owners.push(contact);
            }
        }
        for owner in owners {
            self.send_last_items_of(ctx, &owner, &fresh, &me, jid).await?;
        }
        Ok(())
    }

    /// The newest item of each of `owner`'s nodes named in `nodes` that sends its last item
    /// on presence and that `viewer` may see, to the client `to`.
    pub(crate) async fn send_last_items_of(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        nodes: &HashSet<&str>,
        viewer: &BareJid,
        to: &FullJid,
    ) -> Result<(), StanzaError> {
        for (node, json) in ctx.db.pubsub().nodes(owner.as_str()).await.map_err(storage_failure)? {
            if !nodes.contains(node.as_str()) {
                continue;
            }
            let config = config::stored(&node, &json);
            if config.send_last_published_item != SendLast::OnSubAndPresence || !config.deliver_notifications {
                continue;
            }
            if owner != viewer && Audience::load(ctx, owner, &node).await?.check(&config, viewer).is_err() {
                continue;
            }
            self.send_last(ctx, owner, &node, &config, to.as_str()).await?;
        }
        Ok(())
    }

    /// The newest item of a node, as a notification to `to`.
    pub(crate) async fn send_last(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        node: &str,
        config: &NodeConfig,
        to: &str,
    ) -> Result<(), StanzaError> {
        let page = ctx.db.pubsub().items(owner.as_str(), node, &ItemPage::Last(1)).await.map_err(storage_failure)?;
        if let Some(last) = page.and_then(|(rows, _)| rows.into_iter().next()) {
            let event = items_event(node, [item_element(ns::PUBSUB_EVENT, &last, config.deliver_payloads)]);
            send_event(ctx, owner.as_str(), &[to.to_owned()], &event).await;
        }
        Ok(())
    }
}
