//! Rhein's unread overview (`https://rhein.chat/protocol/unread:0`, see the README): per
//! open conversation, how many messages came after the newest one the account displayed,
//! read or wrote, how many of those mention it, and the newest message. Answered from the
//! counters storage keeps as messages are archived (`rhein_storage::Unread`), by IQ and
//! inline in Bind2 (XEP-0386).
//!
//! Read positions move when the account writes in a conversation, when an XEP-0490
//! displayed state is published (mod-pep), and when the user's client sends an XEP-0333
//! `<displayed/>` marker (here). XEP-0184 receipts say a message arrived, not that anyone
//! saw it: they move nothing.

use rhein_module::{Ctx, Flow, Iq, IqResult, Stanza, storage_failure};
use rhein_proto::parsers::displayed_markers::Displayed;
use rhein_proto::reference::mentions_account;
use rhein_proto::unread::{Conversation, Kind, Last, Overview, Query};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, time};
use rhein_storage::{ItemPage, MIX_CHANNELS, Marks, UnreadRow};
use std::collections::HashSet;

/// Conversations one answer lists at most (a client may ask for fewer).
pub(crate) const MAX_CONVERSATIONS: usize = 200;
/// Characters of a body a preview keeps.
const PREVIEW_CHARS: usize = 200;
/// Bookmarks, open chats and channels read per overview at most.
const MAX_LISTED: usize = 1000;

/// A message archived for `owner` coming in: a mention of it counts.
pub(crate) fn inbound_marks(owner: &BareJid, el: &Element) -> Option<Marks> {
    mentions_account(el, owner).then(|| Marks { author: None, mentioned: vec![owner.to_string()] })
}

/// A message `owner` sent: its conversation is read up to it.
pub(crate) fn outbound_marks(owner: &BareJid) -> Option<Marks> {
    Some(Marks { author: Some(owner.to_string()), mentioned: Vec::new() })
}

/// Whether a message from a local session carries an XEP-0333 displayed marker.
pub(crate) fn carries_marker(_: &Ctx, stanza: &Stanza) -> bool {
    stanza.el.name() == "message" && stanza.el.has_child("displayed", ns::CHAT_MARKERS)
}

/// XEP-0333 §4: the user's client displayed a message up to which the conversation is read
/// (`rhein_module::unread` finds it). The marker goes on unchanged.
pub(crate) async fn handle_marker(ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    let Some(marker) = stanza.el.get_child("displayed", ns::CHAT_MARKERS) else {
        return Ok(Flow::Continue(stanza));
    };
    let Ok(Displayed { id }) = Displayed::try_from(marker.clone()) else {
        return Ok(Flow::Continue(stanza));
    };
    let groupchat = stanza.el.attr("type") == Some("groupchat");
    let (account, to) = (stanza.from.to_bare(), stanza.to.to_bare());
    // A failure is logged; the marker still reaches the contact, only the counter missed it.
    let _ = rhein_module::unread::marker(&ctx, &account, &to, groupchat, &id.0).await;
    Ok(Flow::Continue(stanza))
}

/// The IQ: the account's own overview only.
pub(crate) async fn handle_query(ctx: Ctx, iq: Iq<Query>) -> IqResult {
    let jid = iq.own()?;
    Ok(Some(overview(&ctx, &jid.to_bare(), &iq.payload).await?.into()))
}

/// Bind2's inline request (XEP-0386 §2.3): the answer rides in `<bound/>`.
pub(crate) async fn on_bind2(ctx: Ctx, jid: FullJid, request: Element) -> Option<Element> {
    let query = Query::try_from(request).ok()?;
    match overview(&ctx, &jid.to_bare(), &query).await {
        Ok(overview) => Some(overview.into()),
        Err(e) => {
            tracing::warn!(error = ?e, "unread overview for Bind2 failed");
            None
        }
    }
}

/// Item ids of one of the account's PEP nodes, as bare JIDs.
async fn listed(ctx: &Ctx, account: &BareJid, node: &str) -> Result<Vec<BareJid>, StanzaError> {
    let items = ctx.db.pubsub().items(account.as_str(), node, &ItemPage::First(MAX_LISTED as i64)).await;
    let items = items.map_err(storage_failure)?.map(|(items, _)| items).unwrap_or_default();
    Ok(items.into_iter().filter_map(|item| Jid::new(&item.id).ok()).map(|jid| jid.to_bare()).collect())
}

pub(crate) async fn overview(ctx: &Ctx, account: &BareJid, query: &Query) -> Result<Overview, StanzaError> {
    let max = query.max.unwrap_or(MAX_CONVERSATIONS).min(MAX_CONVERSATIONS);
    let rooms = listed(ctx, account, ns::BOOKMARKS).await?;
    let mut open = listed(ctx, account, ns::OPEN_CONVERSATIONS).await?;
    let channels = ctx.db.account_data().list(account.as_str(), MIX_CHANNELS).await.map_err(storage_failure)?;
    let channels: HashSet<BareJid> = channels.into_iter().filter_map(|(jid, _)| BareJid::new(&jid).ok()).collect();
    open.extend(channels.iter().take(MAX_LISTED).cloned());
    let open: Vec<String> = open.iter().map(ToString::to_string).collect();
    let room_names: Vec<String> = rooms.iter().map(ToString::to_string).collect();
    // One more than asked for: whether the list is complete.
    let rows = ctx.db.unread().overview(account.as_str(), &open, &room_names, max + 1).await;
    let mut rows = rows.map_err(storage_failure)?;
    let complete = rows.len() <= max;
    rows.truncate(max);
    let rooms: HashSet<BareJid> = rooms.into_iter().collect();
    let conversations = rows
        .into_iter()
        .filter_map(|row| {
            let jid = BareJid::new(&row.jid).ok()?;
            let kind = match () {
                _ if row.room => Kind::Groupchat,
                _ if channels.contains(&jid) => Kind::Channel,
                _ if rooms.contains(&jid) => Kind::MucPm,
                _ => Kind::Chat,
            };
            Some(conversation(account, jid, kind, row, query.preview))
        })
        .collect();
    Ok(Overview { complete, conversations })
}

fn conversation(account: &BareJid, jid: BareJid, kind: Kind, row: UnreadRow, preview: bool) -> Conversation {
    let by = if row.room { jid.clone() } else { account.clone() };
    let last = row.last.map(|last| {
        let message = last.stanza.parse::<Element>().ok();
        let from = message.as_ref().and_then(|m| m.attr("from")).and_then(|f| Jid::new(f).ok());
        let body = preview
            .then(|| message.as_ref()?.get_child("body", ns::CLIENT).map(Element::text))
            .flatten()
            .map(|body| body.chars().take(PREVIEW_CHARS).collect());
        Last { id: last.stanza_id, by, stamp: time::datetime(last.ts), from, body }
    });
    Conversation { jid, kind, unread: row.unread.max(0) as u64, mentions: row.mentions.max(0) as u64, last }
}
