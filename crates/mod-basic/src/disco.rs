//! XEP-0030: Service Discovery for the server and for accounts, from what modules registered.

use crate::may_see;
use rhein_module::account_request;
use rhein_module::{CAPS_NODE, Ctx, IqKind, IqResult, ModuleError, Registry, Targets};
use rhein_proto::{Element, StanzaError, ns, xml};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.identity("server", "im", "Rhein");
    reg.feature(ns::DISCO_INFO);
    reg.feature(ns::DISCO_ITEMS);
    reg.account_feature(ns::DISCO_INFO);
    reg.account_feature(ns::DISCO_ITEMS);
    reg.iq(IqKind::Get, Targets::Host, ns::DISCO_INFO, "query", handle_host_info)?;
    reg.iq(IqKind::Get, Targets::Host, ns::DISCO_ITEMS, "query", handle_items)?;
    reg.iq(IqKind::Get, Targets::Account, ns::DISCO_INFO, "query", handle_account_info)?;
    reg.iq(IqKind::Get, Targets::Account, ns::DISCO_ITEMS, "query", handle_account_items)
}

fn node_of(iq: &Element, ns_: &str) -> Option<String> {
    iq.get_child("query", ns_).and_then(|q| q.attr("node")).map(str::to_owned)
}

fn info(identities: &[(&str, &str, &str)], features: &[&str]) -> Element {
    let mut q = Element::bare("query", ns::DISCO_INFO);
    for (category, kind, name) in identities {
        let mut id = xml::with_attr(Element::bare("identity", ns::DISCO_INFO), "category", *category);
        xml::set_attr(&mut id, "type", *kind);
        if !name.is_empty() {
            xml::set_attr(&mut id, "name", *name);
        }
        q.append_child(id);
    }
    let mut sorted: Vec<&str> = features.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for f in sorted {
        q.append_child(xml::with_attr(Element::bare("feature", ns::DISCO_INFO), "var", f));
    }
    q
}

async fn handle_host_info(ctx: Ctx, iq: Element) -> IqResult {
    let node = node_of(&iq, ns::DISCO_INFO);
    // The XEP-0115 node answers like the server itself.
    let caps_node = format!("{CAPS_NODE}#{}", ctx.disco.caps_ver());
    if node.as_ref().is_some_and(|n| *n != caps_node) {
        return Err(StanzaError::item_not_found());
    }
    let mut q = info(&ctx.disco.identities, &ctx.disco.features);
    if let Some(n) = node {
        xml::set_attr(&mut q, "node", n);
    }
    for form in &ctx.disco.forms {
        q.append_child(form.clone());
    }
    Ok(Some(q))
}

/// The host's items are its services (components, group chat), as clients look for them there.
async fn handle_items(ctx: Ctx, iq: Element) -> IqResult {
    if node_of(&iq, ns::DISCO_ITEMS).is_some() {
        return Err(StanzaError::item_not_found());
    }
    let mut q = Element::bare("query", ns::DISCO_ITEMS);
    for service in ctx.router.services(&ctx.host) {
        q.append_child(xml::with_attr(Element::bare("item", ns::DISCO_ITEMS), "jid", service));
    }
    Ok(Some(q))
}

async fn handle_account_info(ctx: Ctx, iq: Element) -> IqResult {
    let (from, owner) = account_request(&iq)?;
    let from = from.to_bare();
    if !may_see(&ctx.db, &owner, &from).await {
        return Err(StanzaError::service_unavailable());
    }
    if node_of(&iq, ns::DISCO_INFO).is_some() {
        return Err(StanzaError::item_not_found());
    }
    let mut identities = vec![("account", "registered", "")];
    identities.extend(ctx.disco.account_identities.iter().copied());
    Ok(Some(info(&identities, &ctx.disco.account_features)))
}

async fn handle_account_items(ctx: Ctx, iq: Element) -> IqResult {
    let (from, owner) = account_request(&iq)?;
    let from = from.to_bare();
    if !may_see(&ctx.db, &owner, &from).await {
        return Err(StanzaError::service_unavailable());
    }
    Ok(Some(Element::bare("query", ns::DISCO_ITEMS)))
}
