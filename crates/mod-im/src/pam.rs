//! MIX participant's server (XEP-0405): clients join and leave channels through their own
//! server, which keeps the channel in the roster (marked for clients that ask, §5.9), hands
//! channel traffic addressed to the user's bare JID to every online client, and archives the
//! channel's messages in the user's archive (`#archive`: always, online or not).
//!
//! Which channels an account is in, with its participant id there, is kept as account data
//! of kind [`KIND`].

use crate::internal;
use crate::roster::{self, RosterLimit};
use rhein_module::{Ctx, Flow, Interest, Iq, IqResult, Stanza};
use rhein_proto::mix::{ClientJoin, ClientLeave, Join, Leave, RosterChannel, nodes};
use rhein_proto::parsers::pubsub::event::{Event, Payload};
use rhein_proto::reference::mentions_account;
use rhein_proto::roster::Item;
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, sid, xml};
use rhein_storage::{ArchiveRow, Marks, RosterRow, Subscription, now_ms};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) const KIND: &str = rhein_storage::MIX_CHANNELS;
pub(crate) const NS_ARCHIVE: &str = "urn:xmpp:mix:pam:2#archive";
/// How long a channel (maybe on another server) gets to answer a join or leave.
const CHANNEL_TIMEOUT: Duration = Duration::from_secs(20);

/// The channels `owner` is in, with its participant id in each.
pub(crate) async fn channels(ctx: &Ctx, owner: &BareJid) -> Result<HashMap<String, String>, StanzaError> {
    Ok(ctx.db.account_data().list(owner.as_str(), KIND).await.map_err(internal)?.into_iter().collect())
}

async fn participant_id(ctx: &Ctx, owner: &BareJid, channel: &BareJid) -> Result<Option<String>, StanzaError> {
    ctx.db.account_data().get(owner.as_str(), KIND, channel.as_str()).await.map_err(internal)
}

/// `<channel participant-id/>` for a roster item, if the item is a channel.
pub(crate) fn annotation(channels: &HashMap<String, String>, contact: &str) -> Option<RosterChannel> {
    channels.get(contact).map(|id| RosterChannel { participant_id: id.clone() })
}

/// The channel a client-join or client-leave names.
fn channel_of(channel: Option<BareJid>) -> Result<BareJid, StanzaError> {
    channel.ok_or_else(|| StanzaError::bad_request().with_text("name the channel"))
}

/// Sends a MIX request to the channel from the user's bare JID and returns the answer.
async fn ask_channel(ctx: &Ctx, owner: &BareJid, channel: &BareJid, payload: Element) -> Result<Element, StanzaError> {
    let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "set");
    xml::set_attr(&mut iq, "from", owner.as_str());
    xml::set_attr(&mut iq, "to", channel.as_str());
    iq.append_child(payload);
    let answer = ctx.router.send_iq(iq, CHANNEL_TIMEOUT).await.ok_or_else(StanzaError::remote_server_timeout)?;
    match answer.attr("type") {
        Some("result") => Ok(answer),
        _ => Err(StanzaError::from_reply(&answer)),
    }
}

/// XEP-0405 §5.5: joins for the client, then records the channel in the roster.
pub(crate) async fn handle_client_join(ctx: Ctx, iq: Iq<ClientJoin>, limit: RosterLimit) -> IqResult {
    let owner = iq.own()?.to_bare();
    let request = iq.payload;
    let channel = channel_of(request.channel)?;
    // Checked before joining (which cannot wait under the roster lock).
    roster::item_or_new(&ctx, &owner, &channel, limit).await?;
    let answer = ask_channel(&ctx, &owner, &channel, request.join.into()).await?;
    let joined = answer
        .get_child("join", ns::MIX_CORE)
        .and_then(|j| Join::try_from(j.clone()).ok())
        .ok_or_else(|| StanzaError::undefined_condition().with_text("the channel answered without <join/>"))?;
    let id = joined
        .id
        .clone()
        .or_else(|| joined.jid.as_deref().and_then(|j| j.split_once('#')).map(|(id, _)| id.to_owned()))
        .ok_or_else(|| StanzaError::undefined_condition().with_text("the channel gave no participant id"))?;
    let shares_presence = joined.subscribe.iter().any(|s| s.node == nodes::PRESENCE);
    ctx.db
        .account_data()
        .put_all(owner.as_str(), KIND, &[(channel.to_string(), id.clone())])
        .await
        .map_err(internal)?;
    // Presence goes to the channel one way (subscription `from`) when shared (§5.7).
    let mut row = RosterRow::new(channel.as_str());
    row.subscription = Subscription::of(false, shares_presence);
    let version = {
        let _roster = roster::lock(&owner).await;
        ctx.db.roster().upsert(owner.as_str(), &row).await.map_err(internal)?
    };
    let marked = HashMap::from([(channel.to_string(), id)]);
    roster::push_annotated(&ctx, &owner, roster::item(&row)?, version, &marked).await;
    if shares_presence {
        for r in ctx.router.resources(&owner) {
            if let Some(mut p) = r.presence {
                xml::set_attr(&mut p, "from", r.jid.as_str());
                xml::set_attr(&mut p, "to", channel.as_str());
                ctx.router.route(p).await;
            }
        }
    }
    tracing::debug!(account = %owner, %channel, "joined channel");
    Ok(Some(ClientJoin { channel: None, join: joined }.into()))
}

/// XEP-0405 §5.6: leaves for the client, then drops the channel from the roster. A channel
/// that no longer exists counts as left.
pub(crate) async fn handle_client_leave(ctx: Ctx, iq: Iq<ClientLeave>) -> IqResult {
    let owner = iq.own()?.to_bare();
    let channel = channel_of(iq.payload.channel)?;
    match ask_channel(&ctx, &owner, &channel, Leave.into()).await {
        Ok(_) => {}
        Err(e) if e.condition == "item-not-found" => {}
        Err(e) => return Err(e),
    }
    forget_channel(&ctx, &owner, &channel).await?;
    Ok(Some(ClientLeave { channel: None, leave: Leave }.into()))
}

/// The user is out of `channel`: its participant id goes, and the channel leaves the roster
/// (pushed to the clients).
async fn forget_channel(ctx: &Ctx, owner: &BareJid, channel: &BareJid) -> Result<(), StanzaError> {
    ctx.db.account_data().remove(owner.as_str(), KIND, channel.as_str()).await.map_err(internal)?;
    let removed = {
        let _roster = roster::lock(owner).await;
        ctx.db.roster().remove(owner.as_str(), channel.as_str()).await.map_err(internal)?
    };
    if let Some(version) = removed {
        roster::push(ctx, owner, Item::removed(channel.clone()), version).await;
    }
    tracing::debug!(account = %owner, %channel, "out of the channel");
    Ok(())
}

/// Whether a channel's event retracts `participant` from its participants node: the user was
/// removed, or the channel destroyed.
fn removes(el: &Element, participant: &str) -> bool {
    let event = el.get_child("event", ns::PUBSUB_EVENT).and_then(|e| Event::try_from(e.clone()).ok());
    matches!(
        event.map(|e| e.payload),
        Some(Payload::Items { node, retracted, .. })
            if node.0 == nodes::PARTICIPANTS && retracted.iter().any(|id| id.0 == participant)
    )
}

/// Whether a message to a bare JID looks like channel traffic: a reflected message or a
/// notification from a MIX node. Only those cost a lookup.
pub(crate) fn looks_like_channel_traffic(el: &Element) -> bool {
    el.get_child("mix", ns::MIX_CORE).is_some()
        || el
            .get_child("event", ns::PUBSUB_EVENT)
            .is_some_and(|e| e.children().any(|i| i.attr("node").is_some_and(|n| n.starts_with("urn:xmpp:mix:nodes:"))))
}

/// Gives a stanza to every available resource of `owner` that speaks MIX (XEP-0405 §4.2),
/// each addressed to it. A client whose capabilities are not known yet gets it too.
fn to_every_client(ctx: &Ctx, owner: &BareJid, el: &Element) {
    let mix_clients = ctx.router.resources(owner).into_iter().filter(|r| r.is_available());
    for r in mix_clients.filter(|r| !ctx.caps.lacks(r, ns::MIX_CORE)) {
        let mut copy = el.clone();
        xml::set_attr(&mut copy, "to", r.jid.as_str());
        ctx.router.send_to(&r.jid, copy);
    }
}

/// XEP-0405 §5.2 and §5.10: traffic from a channel the user is in goes to all its online
/// clients, and the channel's messages into its archive with our stanza id.
pub(crate) async fn handle_inbound_message(ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    let (owner, channel) = (stanza.to.to_bare(), stanza.from.to_bare());
    let Some(participant) = participant_id(&ctx, &owner, &channel).await? else {
        return Ok(Flow::Continue(stanza));
    };
    let mut el = stanza.el;
    if removes(&el, &participant) {
        forget_channel(&ctx, &owner, &channel).await?;
    }
    if el.attr("type") == Some("groupchat") && el.get_child("body", ns::CLIENT).is_some() {
        // Ids claiming to be ours are not (XEP-0359 §5); ours is added and archived.
        sid::drop_claims(&mut el, owner.as_str());
        let id = xml::random_id();
        el.append_child(sid::stanza_id(&id, owner.as_str()));
        let row =
            ArchiveRow { stanza_id: id, with_jid: channel.to_string(), ts: now_ms(), stanza: xml::to_string(&el) };
        // The unread overview: the user's own message (its participant id) reads the channel
        // up to it; an XEP-0372 mention of the account counts.
        let own = stanza.from.resource().is_some_and(|r| r.as_str() == participant);
        let marks = Marks {
            author: own.then(|| owner.to_string()),
            mentioned: (!own && mentions_account(&el, &owner)).then(|| owner.to_string()).into_iter().collect(),
        };
        ctx.db.archive().append_marked(owner.as_str(), &row, Some(marks)).await.map_err(internal)?;
    }
    to_every_client(&ctx, &owner, &el);
    Ok(Flow::Handled)
}

/// XEP-0405 §5.7.2: presence from a participant's encoded JID (`<id>#<channel>/…`) of a
/// channel the user is in goes to all its online clients.
/// A channel's participant JIDs are `id#channel@service` (XEP-0403 §3): a cheap look before
/// the handler parses them.
pub(crate) fn may_be_from_channel(from: &Jid) -> bool {
    from.node().is_some_and(|node| node.as_str().contains('#'))
}

pub(crate) async fn handle_inbound_presence(ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    let from = &stanza.from;
    let Some((_, channel_node)) = from.node().and_then(|n| n.as_str().split_once('#')) else {
        return Ok(Flow::Continue(stanza));
    };
    let Ok(channel) = BareJid::new(&format!("{channel_node}@{}", from.domain())) else {
        return Ok(Flow::Continue(stanza));
    };
    let owner = stanza.to.to_bare();
    if participant_id(&ctx, &owner, &channel).await?.is_none() {
        return Ok(Flow::Continue(stanza));
    }
    to_every_client(&ctx, &owner, &stanza.el);
    Ok(Flow::Handled)
}

/// Whether a roster get asks for MIX annotations (XEP-0405 §5.9); remembered per session.
pub(crate) fn wants_annotations(ctx: &Ctx, client: &rhein_proto::FullJid, wants: bool) -> bool {
    ctx.router.set_interest(client, Interest::MixAnnotations, wants);
    wants
}
