//! The operations on personal nodes, shared by the IQ handlers and bookmarks compatibility:
//! each changes storage first and then tells whoever may and wants to know.

use crate::PepConfig;
use crate::access::{self, Audience};
use crate::config::{self, NodeConfig, NodeForm, SendLast, default_for};
use crate::store::AccountNodes;
use rhein_module::{Ctx, Flow, Stanza, storage_failure};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Actor, Error, Event, Limits, Notice, Relation, Service, Store};
use rhein_storage::{ItemPage, ItemRow};
use std::collections::HashSet;
use std::sync::Arc;

pub(crate) struct Pep {
    pub(crate) config: PepConfig,
    pub(crate) remote: crate::remote::RemoteContacts,
}

/// An `<item/>` in namespace `ns` (`pubsub` for results, `pubsub#event` for notifications).
pub(crate) fn item_element(ns_: &str, row: &ItemRow, with_payload: bool) -> Element {
    let mut item = xml::with_attr(Element::bare("item", ns_), "id", row.id.as_str());
    if with_payload
        && !row.payload.is_empty()
        && let Ok(payload) = row.payload.parse::<Element>()
    {
        item.append_child(payload);
    }
    item
}

/// `<event><items node='…'/></event>` around `children`.
fn items_event(node: &str, children: impl IntoIterator<Item = Element>) -> Element {
    let mut items = xml::with_attr(Element::bare("items", ns::PUBSUB_EVENT), "node", node);
    for c in children {
        items.append_child(c);
    }
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(items);
    event
}

/// `<event><{name} node='…'>{child}</{name}></event>`.
fn event_of(name: &str, node: &str, child: Option<Element>) -> Element {
    let mut inner = xml::with_attr(Element::bare(name, ns::PUBSUB_EVENT), "node", node);
    if let Some(child) = child {
        inner.append_child(child);
    }
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(inner);
    event
}

/// The XEP-0060 §7 and §8 notification of an engine event.
fn event_element(notice: &Notice) -> Element {
    let (node, config) = (notice.node.as_str(), &notice.config);
    match &notice.event {
        Event::Published { item, .. } => {
            items_event(node, [item_element(ns::PUBSUB_EVENT, item, config.deliver_payloads)])
        }
        Event::Retracted(ids) => {
            items_event(node, ids.iter().map(|id| xml::with_attr(Element::bare("retract", ns::PUBSUB_EVENT), "id", id)))
        }
        Event::Purged => event_of("purge", node, None),
        Event::Deleted { redirect } => {
            let redirect =
                redirect.as_ref().map(|uri| xml::with_attr(Element::bare("redirect", ns::PUBSUB_EVENT), "uri", uri));
            event_of("delete", node, redirect)
        }
        Event::Configured => event_of("configuration", node, config.deliver_payloads.then(|| config.to_form("result"))),
    }
}

/// The account acting on its own nodes.
fn as_owner(owner: &BareJid) -> Actor<'_> {
    Actor { jid: owner.as_str(), relation: Relation::default() }
}

/// The stanza error XEP-0060 gives for an engine's refusal.
pub(crate) fn refusal(e: Error) -> StanzaError {
    let app = |condition: &str| Element::bare(condition, ns::PUBSUB_ERRORS);
    match e {
        Error::NoSuchNode => StanzaError::item_not_found().with_text("no such node"),
        Error::NoSuchItem => StanzaError::item_not_found().with_text("no such item"),
        Error::NodeExists => StanzaError::conflict().with_text("the node exists"),
        Error::TooManyNodes => StanzaError::policy_violation().with_text("too many nodes"),
        Error::NotSubscribed => StanzaError::unexpected_request().with_app(app("not-subscribed")),
        Error::Denied(denied) => access::refusal(denied),
        Error::Storage(_) => StanzaError::internal_server_error(),
        Error::Adapter(e) => match e.downcast::<StanzaError>() {
            Ok(e) => *e,
            Err(_) => StanzaError::internal_server_error(),
        },
    }
}

pub(crate) fn node_required() -> StanzaError {
    StanzaError::bad_request().with_app(Element::bare("nodeid-required", ns::PUBSUB_ERRORS))
}

impl Pep {
    pub(crate) fn new(config: PepConfig) -> Self {
        Self { config, remote: Default::default() }
    }

    /// The engine over `owner`'s nodes.
    pub(crate) fn nodes<'a>(&self, ctx: &'a Ctx, owner: &'a BareJid) -> Service<AccountNodes<'a>> {
        let limits = Limits { max_nodes: self.config.max_nodes, max_items: self.config.max_items };
        Service::new(AccountNodes { db: &ctx.db, owner }, limits)
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
                    options.map_or(Ok(()), |options| config.apply(options)).map(|()| config)
                }
            };
            config.map_err(|e| Error::Adapter(Box::new(e)))
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
            send_event(ctx, owner, &recipients, &event_element(&notice)).await;
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
        let apply = |config: &mut NodeConfig| config.apply(form).map_err(|e| Error::Adapter(Box::new(e)));
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
        send_event(ctx, owner, &recipients, &event).await;
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
            send_event(ctx, owner, &[to.to_owned()], &event).await;
        }
        Ok(())
    }
}

/// One headline message per recipient, from the owner's bare JID (XEP-0163 §4.3.3).
async fn send_event(ctx: &Ctx, owner: &BareJid, recipients: &[String], event: &Element) {
    for to in recipients {
        let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "headline");
        xml::set_attr(&mut msg, "from", owner.as_str());
        xml::set_attr(&mut msg, "to", to.as_str());
        xml::set_attr(&mut msg, "id", xml::random_id());
        msg.append_child(event.clone());
        ctx.router.route(msg).await;
    }
}
