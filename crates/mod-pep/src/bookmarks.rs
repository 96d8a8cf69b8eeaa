//! XEP-0411: clients that still keep bookmarks in private XML storage (XEP-0049,
//! `storage:bookmarks`) see and change the same bookmarks as XEP-0402 clients, which keep one
//! PEP item per room. The PEP node is the truth; private storage keeps only what has no place
//! there (URL bookmarks).

use crate::service::Pep;
use rhein_module::{Ctx, Event, Flow, Stanza, storage_failure};
use rhein_proto::jid::ResourcePart;
use rhein_proto::parsers::bookmarks::{Conference, Storage, Url};
use rhein_proto::parsers::bookmarks2;
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::{ItemPage, ItemRow};
use std::collections::HashMap;
use std::sync::Arc;

/// A private-XML get or set of `storage:bookmarks`.
pub(crate) fn is_legacy_request(el: &Element) -> bool {
    matches!(el.attr("type"), Some("get" | "set"))
        && el.get_child("query", ns::PRIVATE).is_some_and(|q| q.get_child("storage", ns::BOOKMARKS_LEGACY).is_some())
}

/// `pre-iq`: claims private-XML requests for `storage:bookmarks` before private storage does.
pub(crate) async fn intercept(pep: Arc<Pep>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    let Ok(from) = stanza.from.try_as_full() else { return Ok(Flow::Continue(stanza)) };
    let owner = from.to_bare();
    if stanza.to.as_str() != owner.as_str() {
        return Ok(Flow::Continue(stanza)); // Private storage refuses requests about others.
    }
    let el = &stanza.el;
    let outcome =
        if el.attr("type") == Some("get") { get(&pep, &ctx, &owner).await } else { set(&pep, &ctx, &owner, el).await };
    let reply = match outcome {
        Ok(payload) => xml::iq_result(el, payload),
        Err(e) => e.reply_to(el),
    };
    ctx.router.send_to(from, reply);
    Ok(Flow::Handled)
}

fn private_doc(storage: Storage) -> Element {
    let mut query = Element::bare("query", ns::PRIVATE);
    query.append_child(storage.into());
    query
}

async fn conferences(pep: &Pep, ctx: &Ctx, owner: &BareJid) -> Result<Vec<ItemRow>, StanzaError> {
    let page = ItemPage::First(i64::from(pep.config.get().max_items));
    let found = ctx.db.pubsub().items(owner.as_str(), ns::BOOKMARKS, &page).await.map_err(storage_failure)?;
    Ok(found.map(|(rows, _)| rows).unwrap_or_default())
}

/// XEP-0402 item → legacy `<conference/>` (an item that does not read is left out).
fn to_legacy(row: &ItemRow) -> Option<Conference> {
    let c = bookmarks2::Conference::try_from(row.payload.parse::<Element>().ok()?).ok()?;
    let jid = BareJid::new(&row.id).ok()?;
    Some(Conference { autojoin: c.autojoin, jid, name: c.name, nick: c.nick, password: c.password })
}

/// Legacy `<conference/>` → the XEP-0402 item (id: the room's JID).
fn from_legacy(c: Conference, publisher: &str) -> ItemRow {
    let (room, conference) = c.into_bookmarks2();
    ItemRow { id: room.to_string(), publisher: publisher.to_owned(), payload: xml::to_string(&conference.into()) }
}

/// `Event::Invited`: the rooms of the invite that created an account become its bookmarks,
/// joined automatically (XEP-0402 §3), so that its first client enters them.
pub(crate) async fn invited(pep: Arc<Pep>, ctx: Ctx, event: Event) {
    let Event::Invited { account, rooms, .. } = event else { return };
    let nick = account.node().and_then(|n| ResourcePart::new(n.as_str()).ok()).map(Into::into);
    for room in rooms {
        // Only rooms that exist (a client joining a missing one would create it).
        match ctx.db.muc().room(room.as_str()).await {
            Ok(Some(_)) => {}
            _ => continue,
        }
        let conference =
            bookmarks2::Conference { autojoin: true, name: None, nick: nick.clone(), password: None, extensions: None };
        let row = ItemRow {
            id: room.to_string(),
            publisher: account.to_string(),
            payload: xml::to_string(&conference.into()),
        };
        if let Err(e) = pep.publish(&ctx, &account, ns::BOOKMARKS, row, None).await {
            tracing::warn!(%account, %room, error = ?e, "could not bookmark an invite's room");
        }
    }
}

/// The URL bookmarks private storage keeps (conferences live in PEP).
async fn kept_urls(ctx: &Ctx, owner: &BareJid) -> Result<Vec<Url>, StanzaError> {
    let kept =
        ctx.db.account_data().get(owner.as_str(), "private", ns::BOOKMARKS_LEGACY).await.map_err(storage_failure)?;
    let kept = kept.and_then(|k| k.parse::<Element>().ok()).and_then(|k| Storage::try_from(k).ok());
    Ok(kept.map(|k| k.urls).unwrap_or_default())
}

async fn get(pep: &Pep, ctx: &Ctx, owner: &BareJid) -> Result<Option<Element>, StanzaError> {
    let conferences = conferences(pep, ctx, owner).await?.iter().filter_map(to_legacy).collect();
    Ok(Some(private_doc(Storage { conferences, urls: kept_urls(ctx, owner).await? })))
}

async fn set(pep: &Pep, ctx: &Ctx, owner: &BareJid, iq: &Element) -> Result<Option<Element>, StanzaError> {
    let storage = iq
        .get_child("query", ns::PRIVATE)
        .and_then(|q| q.get_child("storage", ns::BOOKMARKS_LEGACY))
        .ok_or_else(StanzaError::bad_request)?;
    let Storage { conferences: wanted, urls } = rhein_module::payload(storage.clone())?;
    let wanted: Vec<ItemRow> = wanted.into_iter().map(|c| from_legacy(c, owner.as_str())).collect();
    let current: HashMap<String, String> =
        conferences(pep, ctx, owner).await?.into_iter().map(|r| (r.id, r.payload)).collect();
    // Only what changed is published or retracted, so other devices see item-level changes.
    let gone: Vec<String> = current.keys().filter(|id| !wanted.iter().any(|w| w.id == **id)).cloned().collect();
    for row in wanted {
        if current.get(&row.id) != Some(&row.payload) {
            pep.publish(ctx, owner, ns::BOOKMARKS, row, None).await?;
        }
    }
    if !gone.is_empty() {
        pep.retract(ctx, owner, ns::BOOKMARKS, &gone, Some(true)).await?;
    }
    let rest: Element = Storage { conferences: Vec::new(), urls }.into();
    let doc = vec![(ns::BOOKMARKS_LEGACY.to_owned(), xml::to_string(&rest))];
    ctx.db.account_data().put_all(owner.as_str(), "private", &doc).await.map_err(storage_failure)?;
    Ok(None)
}
