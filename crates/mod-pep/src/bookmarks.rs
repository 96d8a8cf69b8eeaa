//! XEP-0411: clients that still keep bookmarks in private XML storage (XEP-0049,
//! `storage:bookmarks`) see and change the same bookmarks as XEP-0402 clients, which keep one
//! PEP item per room. The PEP node is the truth; private storage keeps only what has no place
//! there (URL bookmarks).

use crate::service::Pep;
use rhein_module::{Ctx, Flow, Stanza, storage_failure};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
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

fn private_doc(storage: Element) -> Element {
    let mut query = Element::bare("query", ns::PRIVATE);
    query.append_child(storage);
    query
}

async fn conferences(pep: &Pep, ctx: &Ctx, owner: &BareJid) -> Result<Vec<ItemRow>, StanzaError> {
    let page = ItemPage::First(i64::from(pep.config.max_items));
    let found = ctx.db.pubsub().items(owner.as_str(), ns::BOOKMARKS, &page).await.map_err(storage_failure)?;
    Ok(found.map(|(rows, _)| rows).unwrap_or_default())
}

/// XEP-0402 item → legacy `<conference/>`.
fn to_legacy(row: &ItemRow) -> Option<Element> {
    let payload: Element = row.payload.parse().ok()?;
    let mut c = xml::with_attr(Element::bare("conference", ns::BOOKMARKS_LEGACY), "jid", row.id.as_str());
    for attr in ["name", "autojoin"] {
        if let Some(v) = payload.attr(attr) {
            xml::set_attr(&mut c, attr, v);
        }
    }
    for child in ["nick", "password"] {
        if let Some(v) = payload.get_child(child, ns::BOOKMARKS) {
            c.append_child(xml::text_el(child, ns::BOOKMARKS_LEGACY, v.text()));
        }
    }
    Some(c)
}

/// Legacy `<conference/>` → the XEP-0402 item (id: the room's JID).
fn from_legacy(c: &Element, publisher: &str) -> Option<ItemRow> {
    let room = Jid::new(c.attr("jid")?).ok()?.to_bare();
    let mut payload = Element::bare("conference", ns::BOOKMARKS);
    if let Some(name) = c.attr("name") {
        xml::set_attr(&mut payload, "name", name);
    }
    let autojoin = matches!(c.attr("autojoin"), Some("1" | "true"));
    xml::set_attr(&mut payload, "autojoin", if autojoin { "true" } else { "false" });
    for child in ["nick", "password"] {
        if let Some(v) = c.get_child(child, ns::BOOKMARKS_LEGACY) {
            payload.append_child(xml::text_el(child, ns::BOOKMARKS, v.text()));
        }
    }
    Some(ItemRow { id: room.to_string(), publisher: publisher.to_owned(), payload: xml::to_string(&payload) })
}

async fn get(pep: &Pep, ctx: &Ctx, owner: &BareJid) -> Result<Option<Element>, StanzaError> {
    let mut storage = Element::bare("storage", ns::BOOKMARKS_LEGACY);
    for row in conferences(pep, ctx, owner).await? {
        if let Some(c) = to_legacy(&row) {
            storage.append_child(c);
        }
    }
    let kept =
        ctx.db.account_data().get(owner.as_str(), "private", ns::BOOKMARKS_LEGACY).await.map_err(storage_failure)?;
    if let Some(kept) = kept.and_then(|k| k.parse::<Element>().ok()) {
        for other in kept.children().filter(|c| c.name() != "conference") {
            storage.append_child(other.clone());
        }
    }
    Ok(Some(private_doc(storage)))
}

async fn set(pep: &Pep, ctx: &Ctx, owner: &BareJid, iq: &Element) -> Result<Option<Element>, StanzaError> {
    let storage = iq
        .get_child("query", ns::PRIVATE)
        .and_then(|q| q.get_child("storage", ns::BOOKMARKS_LEGACY))
        .ok_or_else(StanzaError::bad_request)?;
    let wanted: Vec<ItemRow> = storage
        .children()
        .filter(|c| c.name() == "conference")
        .filter_map(|c| from_legacy(c, owner.as_str()))
        .collect();
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
    let mut rest = Element::bare("storage", ns::BOOKMARKS_LEGACY);
    for other in storage.children().filter(|c| c.name() != "conference") {
        rest.append_child(other.clone());
    }
    let doc = vec![(ns::BOOKMARKS_LEGACY.to_owned(), xml::to_string(&rest))];
    ctx.db.account_data().put_all(owner.as_str(), "private", &doc).await.map_err(storage_failure)?;
    Ok(None)
}
