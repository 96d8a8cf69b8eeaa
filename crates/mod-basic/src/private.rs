//! XEP-0049: Private XML Storage — an account keeps XML documents on its server, one per
//! namespace, readable only by itself (older clients keep bookmarks here).

use crate::internal;
use rhein_module::{Ctx, IqKind, IqResult, ModuleError, Registry, Targets, own_request};
use rhein_proto::{Element, StanzaError, xml};

const NS: &str = "jabber:iq:private";

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.account_feature(NS);
    reg.iq(IqKind::Get, Targets::Account, NS, "query", handle_private_get)?;
    reg.iq(IqKind::Set, Targets::Account, NS, "query", handle_private_set)
}

/// The single child of the query; its namespace names the document.
fn document(iq: &Element) -> Result<Vec<&Element>, StanzaError> {
    let query = iq.get_child("query", NS).ok_or_else(StanzaError::bad_request)?;
    let docs: Vec<&Element> = query.children().collect();
    if docs.is_empty() {
        return Err(StanzaError::not_acceptable().with_text("name a namespace"));
    }
    // Namespaces reserved by the protocol itself may not be stored (XEP-0049 §3).
    if docs.iter().any(|d| d.ns().is_empty() || d.ns().starts_with("jabber:") || d.ns() == rhein_proto::ns::CLIENT) {
        return Err(StanzaError::not_acceptable().with_text("reserved namespace"));
    }
    Ok(docs)
}

async fn handle_private_get(ctx: Ctx, iq: Element) -> IqResult {
    let owner = own_request(&iq)?.to_bare();
    let docs = document(&iq)?;
    let [wanted] = docs.as_slice() else {
        return Err(StanzaError::bad_request().with_text("get one namespace at a time"));
    };
    let stored = ctx.db.account_data().get(owner.as_str(), "private", &wanted.ns()).await.map_err(internal)?;
    let doc =
        stored.and_then(|s| s.parse::<Element>().ok()).unwrap_or_else(|| Element::bare(wanted.name(), wanted.ns()));
    let mut query = Element::bare("query", NS);
    query.append_child(doc);
    Ok(Some(query))
}

async fn handle_private_set(ctx: Ctx, iq: Element) -> IqResult {
    let owner = own_request(&iq)?.to_bare();
    let docs: Vec<(String, String)> = document(&iq)?.into_iter().map(|d| (d.ns(), xml::to_string(d))).collect();
    ctx.db.account_data().put_all(owner.as_str(), "private", &docs).await.map_err(internal)?;
    Ok(None)
}
