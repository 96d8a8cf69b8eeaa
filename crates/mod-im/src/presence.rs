//! RFC 6121 §4: presence broadcast to subscribers and own resources, probes on initial
//! presence, answers to probes, unavailable presence when a session goes away.

use crate::directed::Directed;
use crate::roster::RosterLimit;
use crate::{internal, offline, subscription};
use rhein_module::{Ctx, Event, Flow, Stanza};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};
use rhein_storage::now_ms;
use std::sync::Arc;

/// `<priority/>` of a presence: -128..=127, 0 when absent or invalid.
fn priority(el: &Element) -> i8 {
    el.get_child("priority", ns::CLIENT).and_then(|p| p.text().trim().parse().ok()).unwrap_or(0)
}

fn addressed(mut el: Element, to: &str) -> Element {
    xml::set_attr(&mut el, "to", to);
    el
}

/// Contacts whose subscription lets them see the owner's presence (`from`, `both`) and those
/// whose presence the owner sees (`to`, `both`).
async fn contacts(ctx: &Ctx, owner: &BareJid) -> Result<(Vec<String>, Vec<String>), StanzaError> {
    let rows = ctx.db.roster().items(owner.as_str()).await.map_err(internal)?;
    let from = rows.iter().filter(|r| r.subscription.from()).map(|r| r.contact.clone()).collect();
    let to = rows.iter().filter(|r| r.subscription.to()).map(|r| r.contact.clone()).collect();
    Ok((from, to))
}

/// `pre-presence`: what a local session sends.
pub(crate) async fn handle_outbound_presence(
    ctx: Ctx,
    stanza: Stanza,
    directed: Arc<Directed>,
    limit: RosterLimit,
) -> Result<Flow, StanzaError> {
    let Ok(from) = stanza.from.try_as_full().cloned() else { return Err(StanzaError::bad_request()) };
    let owner = from.to_bare();
    let kind = stanza.stanza_type().unwrap_or("available").to_owned();
    let to = (!stanza.is_broadcast()).then(|| stanza.to.clone());
    let el = stanza.el;
    match (kind.as_str(), to) {
        ("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed", Some(to)) => {
            if let Err(error) = subscription::outbound(&ctx, &owner, &to.to_bare(), &kind, el.clone(), limit).await {
                refuse(&ctx, &from, &el, error);
            }
            Ok(Flow::Handled)
        }
        // A client may probe a contact itself (RFC 6121 §4.3): routed from its full JID, so
        // the answers reach the client that asked.
        ("probe", Some(_)) => Ok(Flow::Continue(Stanza { el, ..stanza })),
        // Directed presence: the router delivers it; remembered for the final unavailable.
        ("available", Some(to)) => {
            directed.record(&from, to.as_str());
            Ok(Flow::Continue(Stanza { el, ..stanza }))
        }
        ("unavailable", Some(to)) => {
            directed.forget(&from, to.as_str());
            Ok(Flow::Continue(Stanza { el, ..stanza }))
        }
        (_, Some(_)) => Ok(Flow::Continue(Stanza { el, ..stanza })),
        ("available", None) => {
            broadcast_available(&ctx, &from, el).await?;
            Ok(Flow::Handled)
        }
        ("unavailable", None) => {
            ctx.router.set_presence(&from, None, 0);
            broadcast(&ctx, &from, el.clone()).await?;
            send_to_directed(&ctx, &directed, &from, &el).await;
            Ok(Flow::Handled)
        }
        _ => Ok(Flow::Handled),
    }
}

/// Answers a client's presence with an error. The router bounces no presence (a stage's
/// error included), but a client whose presence the server refused must learn why nothing
/// happens. Never in answer to an error.
fn refuse(ctx: &Ctx, from: &FullJid, el: &Element, error: StanzaError) {
    if el.attr("type") != Some("error") {
        ctx.router.send_to(from, error.reply_to(el));
    }
}

async fn broadcast_available(ctx: &Ctx, from: &FullJid, el: Element) -> Result<(), StanzaError> {
    let owner = from.to_bare();
    let initial = !ctx.router.resources(&owner).iter().any(|r| r.jid == *from && r.is_available());
    let prio = priority(&el);
    ctx.router.set_presence(from, Some(el.clone()), prio);
    broadcast(ctx, from, el).await?;
    if !initial {
        return Ok(());
    }
    // Initial presence (RFC 6121 §4.2.2): probe contacts, show the other resources, hand over
    // pending subscription requests and offline messages.
    let (_, see) = contacts(ctx, &owner).await?;
    for contact in see {
        let mut probe = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", "probe");
        xml::set_attr(&mut probe, "from", owner.as_str());
        xml::set_attr(&mut probe, "to", contact.as_str());
        ctx.router.route(probe).await;
    }
    for r in ctx.router.resources(&owner) {
        if r.jid != *from
            && let Some(p) = r.presence
        {
            ctx.router.send_to(from, addressed(p, from.as_str()));
        }
    }
    for (_, stanza) in ctx.db.subscription_requests().list(owner.as_str()).await.map_err(internal)? {
        if let Ok(req) = stanza.parse::<Element>() {
            ctx.router.send_to(from, req);
        }
    }
    if prio >= 0 {
        offline::deliver_stored(ctx, from).await?;
    }
    Ok(())
}

/// Sends `el` (from the local resource `from`, no `to`) to every subscriber and every own
/// available resource. MIX channels get only the presence of clients that speak MIX
/// (XEP-0405 §5.6); the channel list is read only for a client known not to.
async fn broadcast(ctx: &Ctx, from: &FullJid, el: Element) -> Result<(), StanzaError> {
    let owner = &from.to_bare();
    let (subscribers, _) = contacts(ctx, owner).await?;
    let channels = match ctx.caps.lacks_jid(from, ns::MIX_CORE) {
        true => crate::pam::channels(ctx, owner).await?,
        false => Default::default(),
    };
    for contact in subscribers.into_iter().filter(|c| !channels.contains_key(c)) {
        ctx.router.route(addressed(el.clone(), &contact)).await;
    }
    for r in
        ctx.router.resources(owner).into_iter().filter(|r| r.is_available() || el.attr("type") == Some("unavailable"))
    {
        ctx.router.send_to(&r.jid, addressed(el.clone(), r.jid.as_str()));
    }
    Ok(())
}

/// The current presence of each available resource of `owner`, sent to `contact` (after an
/// approval or in answer to a probe).
pub(crate) async fn send_current(ctx: &Ctx, owner: &BareJid, contact: &BareJid) {
    for r in ctx.router.resources(owner) {
        if let Some(p) = r.presence {
            ctx.router.route(addressed(p, contact.as_str())).await;
        }
    }
}

/// Unavailable presence from each available resource of `owner` to `contact` (after a
/// subscription was revoked).
pub(crate) async fn send_unavailable(ctx: &Ctx, owner: &BareJid, contact: &BareJid) {
    for r in ctx.router.resources(owner).into_iter().filter(|r| r.is_available()) {
        let mut p = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", "unavailable");
        xml::set_attr(&mut p, "from", r.jid.as_str());
        xml::set_attr(&mut p, "to", contact.as_str());
        ctx.router.route(p).await;
    }
}

/// Unavailable presence to everyone `from` sent directed presence to.
async fn send_to_directed(ctx: &Ctx, directed: &Directed, from: &FullJid, unavailable: &Element) {
    for to in directed.take(from) {
        ctx.router.route(addressed(unavailable.clone(), &to)).await;
    }
}

/// `presence/bare`, `presence/full`: presence for a local account.
/// Subscription handling and probes; everything else passes through this stage untouched.
pub(crate) fn inbound_concerns(el: &Element) -> bool {
    matches!(el.attr("type"), Some("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" | "probe"))
}

pub(crate) async fn handle_inbound_presence(ctx: Ctx, stanza: Stanza, limit: RosterLimit) -> Result<Flow, StanzaError> {
    let kind = stanza.stanza_type().unwrap_or("available").to_owned();
    match kind.as_str() {
        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" => {
            let (owner, contact) = (stanza.to.to_bare(), stanza.from.to_bare());
            subscription::inbound(&ctx, &owner, &contact, &kind, stanza, limit).await
        }
        "probe" => {
            answer_probe(&ctx, &stanza.to, &stanza.from).await?;
            Ok(Flow::Handled)
        }
        _ => Ok(Flow::Continue(stanza)),
    }
}

/// RFC 6121 §4.3.2: a subscriber probing `probed` (the bare JID or one full JID of a local
/// account) gets the current presence of each available resource, or for a full JID only
/// that this resource is available; unavailable when there is none. Anyone else gets
/// nothing.
async fn answer_probe(ctx: &Ctx, probed: &Jid, from: &Jid) -> Result<(), StanzaError> {
    let owner = probed.to_bare();
    let contact = ctx.db.roster().item(owner.as_str(), from.to_bare().as_str()).await.map_err(internal)?;
    if !contact.is_some_and(|r| r.subscription.from()) {
        return Ok(());
    }
    let probed_resource = probed.try_as_full().ok();
    let answers: Vec<Element> = ctx
        .router
        .resources(&owner)
        .into_iter()
        .filter(|r| probed_resource.is_none_or(|p| r.jid == *p))
        .filter_map(|r| match (r.presence, probed_resource) {
            (Some(_), Some(_)) => Some(xml::with_attr(Element::bare("presence", ns::CLIENT), "from", r.jid.as_str())),
            (presence, _) => presence,
        })
        .collect();
    if answers.is_empty() {
        let mut gone = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", "unavailable");
        xml::set_attr(&mut gone, "from", probed.as_str());
        ctx.router.route(addressed(gone, from.as_str())).await;
    }
    for p in answers {
        ctx.router.route(addressed(p, from.as_str())).await;
    }
    Ok(())
}

/// Session ends: an available resource goes unavailable to everyone who saw it, and the
/// account's last activity is recorded when its last resource leaves.
pub(crate) async fn handle_session_event(ctx: Ctx, event: Event, directed: Arc<Directed>) {
    let Event::SessionClosed { jid, presence } = event else { return };
    let owner = jid.to_bare();
    let mut p = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", "unavailable");
    xml::set_attr(&mut p, "from", jid.as_str());
    if presence.is_some()
        && let Err(e) = broadcast(&ctx, &jid, p.clone()).await
    {
        tracing::warn!(error = %e, "unavailable broadcast failed");
    }
    send_to_directed(&ctx, &directed, &jid, &p).await;
    if ctx.router.resources(&owner).is_empty()
        && still_exists(&ctx, &owner).await
        && let Err(e) = ctx.db.last_activity().set(owner.as_str(), now_ms(), "").await
    {
        tracing::error!(error = %e, "recording last activity failed");
    }
}

/// Whether `account` was not deleted (a deleted account's sessions close after its data went:
/// nothing may be written for it then). Answered from memory for known accounts.
async fn still_exists(ctx: &Ctx, account: &BareJid) -> bool {
    let Some(node) = account.node() else { return false };
    ctx.db.accounts().credentials(account.domain().as_str(), node.as_str()).await.is_ok_and(|c| c.is_some())
}
