//! XEP-0030: Service Discovery for the server and for accounts, from what modules registered.

use crate::may_see;
use rhein_module::{CAPS_NODE, Ctx, Iq, IqResult, ModuleError, Registry, Targets};
use rhein_proto::parsers::data_forms::DataForm;
use rhein_proto::parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsQuery, DiscoItemsResult, Identity, Item};
use rhein_proto::{Jid, StanzaError, ns};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.identity("server", "im", "Rhein");
    reg.feature(ns::DISCO_INFO);
    reg.feature(ns::DISCO_ITEMS);
    reg.account_feature(ns::DISCO_INFO);
    reg.account_feature(ns::DISCO_ITEMS);
    reg.get(Targets::Host, handle_host_info)?;
    reg.get(Targets::Host, handle_items)?;
    reg.get(Targets::Account, handle_account_info)?;
    reg.get(Targets::Account, handle_account_items)?;
    crate::commands::register(reg)
}

fn info(identities: &[(&str, &str, &str)], features: &[&str]) -> DiscoInfoResult {
    DiscoInfoResult {
        node: None,
        identities: identities
            .iter()
            .map(|(category, kind, name)| Identity {
                category: category.to_string(),
                type_: kind.to_string(),
                lang: None,
                name: (!name.is_empty()).then(|| name.to_string()),
            })
            .collect(),
        features: features.iter().map(|f| f.to_string()).collect(),
        extensions: Vec::new(),
    }
}

async fn handle_host_info(ctx: Ctx, iq: Iq<DiscoInfoQuery>) -> IqResult {
    let node = iq.payload.node;
    if let Some(command) = node.as_deref().filter(|n| ctx.disco.commands.find(n).is_some()) {
        let info = crate::commands::info(&ctx, &iq.from.to_bare(), command).await;
        return info.map(|i| Some(i.into())).ok_or_else(StanzaError::item_not_found);
    }
    // The XEP-0115 node answers like the server itself.
    if node.as_ref().is_some_and(|n| *n != format!("{CAPS_NODE}#{}", ctx.disco.caps_ver())) {
        return Err(StanzaError::item_not_found());
    }
    let mut result = info(&ctx.disco.identities, &ctx.disco.features);
    result.node = node;
    // Registered forms were built by the modules; one that is no form is a bug, left out.
    result.extensions = ctx.disco.forms.iter().filter_map(|f| DataForm::try_from(f.clone()).ok()).collect();
    Ok(Some(result.into()))
}

/// The host's items are its services (components, group chat), as clients look for them there.
async fn handle_items(ctx: Ctx, iq: Iq<DiscoItemsQuery>) -> IqResult {
    if iq.payload.node.as_deref() == Some(ns::COMMANDS) {
        return Ok(Some(crate::commands::list(&ctx, &iq.from.to_bare()).await.into()));
    }
    if iq.payload.node.is_some() {
        return Err(StanzaError::item_not_found());
    }
    let items = ctx
        .router
        .services(&ctx.host)
        .into_iter()
        .filter_map(|service| Jid::new(&service).ok())
        .map(|jid| Item { jid, node: None, name: None })
        .collect();
    Ok(Some(DiscoItemsResult { node: None, items, rsm: None }.into()))
}

async fn handle_account_info(ctx: Ctx, iq: Iq<DiscoInfoQuery>) -> IqResult {
    let owner = iq.account();
    if !may_see(&ctx.db, &owner, &iq.from.to_bare()).await {
        return Err(StanzaError::service_unavailable());
    }
    if let Some(node) = iq.payload.node {
        // A node kept at the account (PEP): its metadata, for whoever may see it.
        let Some(nodes) = &ctx.disco.account_nodes.0 else { return Err(StanzaError::item_not_found()) };
        let info = nodes.info(ctx.clone(), owner, iq.from.to_bare(), node).await?;
        return info.map(|i| Some(i.into())).ok_or_else(StanzaError::item_not_found);
    }
    let mut identities = vec![("account", "registered", "")];
    identities.extend(ctx.disco.account_identities.iter().copied());
    Ok(Some(info(&identities, &ctx.disco.account_features).into()))
}

/// An account's items are the nodes kept at it (PEP) that the requester may see.
async fn handle_account_items(ctx: Ctx, iq: Iq<DiscoItemsQuery>) -> IqResult {
    let owner = iq.account();
    if !may_see(&ctx.db, &owner, &iq.from.to_bare()).await {
        return Err(StanzaError::service_unavailable());
    }
    if iq.payload.node.is_some() {
        return Err(StanzaError::item_not_found());
    }
    let items = match &ctx.disco.account_nodes.0 {
        Some(nodes) => nodes.items(ctx.clone(), owner, iq.from.to_bare()).await?,
        None => Vec::new(),
    };
    Ok(Some(DiscoItemsResult { node: None, items, rsm: None }.into()))
}
