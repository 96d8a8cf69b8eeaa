//! The service's requests and notifications: who asks (an administrator owns every node),
//! what a node's owners' roster and subscriptions say of them, the engine over the service's
//! nodes, and delivery to subscribers as their options ask.

use crate::{Creators, PubsubConfig};
use rhein_module::pubsub::{Owners, StoredNodes, event_element, item_element, items_event, notification, refusal};
use rhein_module::{Ctx, Current, IqResult, Stanza, payload, storage_failure};
use rhein_proto::pubsub::{self as ps, owner};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{
    AccessModel, Action, Actor, Affiliation, Event, Limits, NodeConfig, Notice, Relation, SendLast, Service, SubState,
    Subscription,
};
use rhein_storage::ItemPage;
use std::sync::Arc;

pub(crate) struct Pubsub {
    pub(crate) config: Current<PubsubConfig>,
}

/// A stored configuration; an unreadable one closes the node (whitelist) rather than open it.
fn stored(node: &str, json: &str) -> NodeConfig {
    NodeConfig::from_json(json).unwrap_or_else(|e| {
        tracing::warn!(node, error = %e, "unreadable node configuration, closing the node");
        NodeConfig { access_model: AccessModel::Whitelist, ..NodeConfig::default() }
    })
}

/// Who asks.
pub(crate) struct Requester {
    pub jid: Jid,
    pub bare: BareJid,
    /// `[bare]` for an administrator of the host, who owns every node; else empty.
    pub admins: Vec<String>,
}

impl Requester {
    pub(crate) async fn of(ctx: &Ctx, jid: &Jid) -> Self {
        let bare = jid.to_bare();
        let admins = if ctx.is_admin(&bare).await { vec![bare.to_string()] } else { Vec::new() };
        Self { jid: jid.clone(), bare, admins }
    }
}

/// What a node's owners and subscriptions say of a requester without an affiliation that
/// decides: whether it sees an owner's presence and in which of the owner's roster groups it
/// is (the `presence` and `roster` access models), and whether its subscription is approved
/// (`authorize`, and the `subscribers` publish model).
#[derive(Default)]
pub(crate) struct Standing {
    sees_presence: bool,
    groups: Vec<String>,
    subscribed: bool,
}

impl Standing {
    pub(crate) async fn load(ctx: &Ctx, service: &str, node: &str, who: &BareJid) -> Result<Self, StanzaError> {
        let pubsub = ctx.db.pubsub();
        let Some(json) = pubsub.node(service, node).await.map_err(storage_failure)? else {
            return Ok(Self::default());
        };
        let mine = pubsub.subscriptions_of(service, who.as_str()).await.map_err(storage_failure)?;
        let subscribed = mine.iter().any(|(n, s)| n == node && s.state == SubState::Subscribed);
        let mut standing = Self { subscribed, ..Self::default() };
        if matches!(stored(node, &json).access_model, AccessModel::Presence | AccessModel::Roster) {
            for (owner, _) in pubsub
                .affiliations(service, node)
                .await
                .map_err(storage_failure)?
                .iter()
                .filter(|(_, a)| *a == Affiliation::Owner)
            {
                let Ok(owner) = BareJid::new(owner) else { continue };
                if !ctx.router.is_local_host(owner.domain().as_str()) {
                    continue;
                }
                let roster = ctx.db.roster().items(owner.as_str()).await.map_err(storage_failure)?;
                if let Some(item) = roster.iter().find(|r| r.contact == who.as_str()) {
                    standing.sees_presence |= item.subscription.from();
                    standing.groups.extend(item.groups.iter().cloned());
                }
            }
        }
        Ok(standing)
    }

    pub(crate) fn relation(&self) -> Relation<'_> {
        Relation { sees_presence: self.sees_presence, groups: &self.groups, subscribed: self.subscribed }
    }
}

impl Pubsub {
    pub(crate) fn new(config: PubsubConfig) -> Self {
        Self { config: Current::new(config) }
    }

    /// The service's address under the host a request came to.
    pub(crate) fn address(&self, ctx: &Ctx) -> String {
        format!("{}.{}", self.config.get().subdomain, ctx.host)
    }

    /// The engine over the service's nodes, as `who` sees them.
    pub(crate) fn engine<'a>(&self, ctx: &'a Ctx, service: &'a str, who: &'a Requester) -> Service<StoredNodes<'a>> {
        let config = self.config.get();
        let limits = Limits { max_nodes: config.max_nodes, max_items: config.max_items };
        let owners = Owners::Listed(&who.admins);
        Service::new(StoredNodes { db: &ctx.db, service, owners, read: stored }, limits)
    }

    /// `who` acting on `node`, with its standing there.
    pub(crate) async fn standing(
        &self,
        ctx: &Ctx,
        service: &str,
        node: &str,
        who: &Requester,
    ) -> Result<Standing, StanzaError> {
        Standing::load(ctx, service, node, &who.bare).await
    }

    /// The configuration a node gets unless its creator says otherwise: open to all, as on
    /// Prosody's and ejabberd's services, bounded by the service.
    pub(crate) fn default_config(&self) -> NodeConfig {
        NodeConfig {
            access_model: AccessModel::Open,
            send_last_published_item: SendLast::Never,
            max_items: Some(self.config.get().max_items.min(rhein_pubsub::DEFAULT_MAX_ITEMS)),
            ..NodeConfig::default()
        }
    }

    /// Whether `who` may create nodes.
    pub(crate) fn may_create(&self, ctx: &Ctx, who: &Requester) -> bool {
        match self.config.get().creators {
            Creators::Anyone => true,
            Creators::Local => {
                !who.admins.is_empty()
                    || ctx.router.is_local_host(who.bare.domain().as_str()) && who.bare.node().is_some()
            }
            Creators::Admins => !who.admins.is_empty(),
        }
    }

    /// Everything addressed to the service.
    pub(crate) async fn handle(self: Arc<Self>, ctx: Ctx, stanza: Stanza) {
        match stanza.kind {
            StanzaKind::Iq if !stanza.is_answer() => {
                let reply = match self.answer(&ctx, &stanza).await {
                    Ok(payload) => xml::iq_result(&stanza.el, payload),
                    Err(e) => e.reply_to(&stanza.el),
                };
                ctx.router.route(reply).await;
            }
            StanzaKind::Message if stanza.stanza_type() != Some("error") => {
                if let Err(e) = crate::approval::answered(&self, &ctx, &stanza).await {
                    ctx.router.route(e.reply_to(&stanza.el)).await;
                }
            }
            _ => {}
        }
    }

    async fn answer(&self, ctx: &Ctx, iq: &Stanza) -> IqResult {
        let request = iq.el.children().next().cloned().ok_or_else(StanzaError::bad_request)?;
        let get = match iq.stanza_type() {
            Some("get") => true,
            Some("set") => false,
            _ => return Err(StanzaError::bad_request()),
        };
        let who = Requester::of(ctx, &iq.from).await;
        match (get, request.ns().as_str(), request.name()) {
            (true, ns::DISCO_INFO, "query") => crate::disco::info(self, ctx, &who, payload(request)?).await,
            (true, ns::DISCO_ITEMS, "query") => crate::disco::items(self, ctx, &who, payload(request)?).await,
            (true, ns::PUBSUB, "pubsub") => self.user_get(ctx, &who, payload::<ps::Request>(request)?).await,
            (false, ns::PUBSUB, "pubsub") => self.user_set(ctx, &who, payload::<ps::Request>(request)?).await,
            (true, ns::PUBSUB_OWNER, "pubsub") => self.owner_get(ctx, &who, payload::<owner::Request>(request)?).await,
            (false, ns::PUBSUB_OWNER, "pubsub") => self.owner_set(ctx, &who, payload::<owner::Request>(request)?).await,
            _ => Err(StanzaError::service_unavailable()),
        }
    }

    /// The approved subscriptions of a node: who notifications go to.
    pub(crate) async fn subscribers(
        &self,
        ctx: &Ctx,
        service: &str,
        node: &str,
    ) -> Result<Vec<Subscription>, StanzaError> {
        let all = ctx.db.pubsub().subscriptions(service, node).await.map_err(storage_failure)?;
        Ok(all.into_iter().filter(|s| s.state == SubState::Subscribed).collect())
    }

    /// Sends the subscribers what an operation owes them; items a publication pushed out are
    /// retracted as far as they know, where the node tells retractions.
    pub(crate) async fn notify(&self, ctx: &Ctx, service: &str, notice: Option<Notice>) -> Result<(), StanzaError> {
        let Some(notice) = notice else { return Ok(()) };
        let subscribers = self.subscribers(ctx, service, &notice.node).await?;
        deliver_to(ctx, service, &notice, &subscribers).await;
        if let Event::Published { trimmed, .. } = &notice.event
            && !trimmed.is_empty()
            && notice.config.notify_retract
        {
            let gone = Notice { event: Event::Retracted(trimmed.clone()), ..notice.clone() };
            deliver_to(ctx, service, &gone, &subscribers).await;
        }
        Ok(())
    }

    /// The newest item of a node, to a new subscriber (`send_last_published_item`).
    pub(crate) async fn send_last(
        &self,
        ctx: &Ctx,
        service: &str,
        node: &str,
        config: &NodeConfig,
        to: &str,
    ) -> Result<(), StanzaError> {
        let page = ctx.db.pubsub().items(service, node, &ItemPage::Last(1)).await.map_err(storage_failure)?;
        if let Some(last) = page.and_then(|(rows, _)| rows.into_iter().next()) {
            let event = items_event(node, [item_element(ns::PUBSUB_EVENT, &last, config.deliver_payloads)]);
            ctx.router.route(notification(service, to, &event, config.notification_type, None)).await;
        }
        Ok(())
    }

    /// `who` as the engine's actor on a node.
    pub(crate) fn actor<'a>(who: &'a Requester, standing: &'a Standing) -> Actor<'a> {
        Actor { jid: who.bare.as_str(), relation: standing.relation() }
    }

    /// Checks `who` may do `action` on an existing node; its configuration.
    pub(crate) async fn allowed(
        &self,
        ctx: &Ctx,
        service: &str,
        node: &str,
        who: &Requester,
        action: Action,
    ) -> Result<NodeConfig, StanzaError> {
        let standing = self.standing(ctx, service, node, who).await?;
        self.engine(ctx, service, who).node_for(&Self::actor(who, &standing), node, action).await.map_err(refusal)
    }
}

/// One notification per subscriber who wants it now.
pub(crate) async fn deliver_to(ctx: &Ctx, service: &str, notice: &Notice, subscribers: &[Subscription]) {
    let event = event_element(notice);
    let body = match &notice.event {
        Event::Published { item, .. } => Some(body_of(&notice.node, &item.payload)),
        _ => None,
    };
    for s in subscribers {
        if !delivers_now(ctx, s) {
            continue;
        }
        let body = body.as_deref().filter(|_| s.options.include_body);
        ctx.router.route(notification(service, &s.jid, &event, notice.config.notification_type, body)).await;
    }
}

/// `pubsub#include_body`: the payload's text, or a line naming the node when it has none.
fn body_of(node: &str, payload: &str) -> String {
    let text = payload.parse::<Element>().map(|p| p.text()).unwrap_or_default();
    let text = text.trim();
    if text.is_empty() { format!("New item published to {node}") } else { text.chars().take(1000).collect() }
}

/// Whether a subscriber wants notifications now: `pubsub#deliver`, and `pubsub#show-values`
/// as far as the presence of local subscribers shows (other servers' users are not seen).
fn delivers_now(ctx: &Ctx, s: &Subscription) -> bool {
    if s.options.show_values.is_empty() || !s.options.deliver {
        return s.options.deliver;
    }
    let Ok(jid) = Jid::new(&s.jid) else { return false };
    if !ctx.router.is_local_host(jid.domain().as_str()) {
        return true;
    }
    let resources = ctx.router.resources(&jid.to_bare());
    resources.iter().filter(|r| jid.resource().is_none() || r.jid == jid).any(|r| {
        r.presence.as_ref().is_some_and(|p| {
            let show = p.get_child("show", ns::CLIENT).map(Element::text);
            s.options.delivers_while(show.as_deref())
        })
    })
}
