//! XEP-0191: Blocking Command — an account blocks JIDs (full, bare, domain/resource or
//! domain, matched as in XEP-0016); nothing from them reaches it, nothing it sends reaches them.

use crate::internal;
use rhein_module::{
    AccountCache, Ctx, Flow, Interest, Iq, IqResult, Module, ModuleError, Registry, Stage, Stanza, Targets,
};
use rhein_proto::ns::{self, BLOCKING as NS, BLOCKING_ERRORS as NS_ERRORS};
use rhein_proto::parsers::blocking::{Block, BlocklistRequest, BlocklistResult, Unblock};
use rhein_proto::xml::{self, StanzaKind};
use rhein_proto::{BareJid, Element, ErrorType, Jid, StanzaError};
use std::collections::HashSet;
use std::sync::Arc;

/// The module, with a cache of blocklists (checked on every stanza to or from an account).
pub(crate) struct Blocking {
    cache: Arc<AccountCache<Arc<HashSet<String>>>>,
}

impl Default for Blocking {
    fn default() -> Self {
        Self { cache: Arc::new(AccountCache::new(crate::CACHED_ACCOUNTS)) }
    }
}

impl Module for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.feature(NS);
        reg.account_feature(NS);
        reg.forgets(self.cache.clone());
        reg.get(Targets::Account, handle_blocklist_get)?;
        let this = self.clone();
        reg.set(Targets::Account, move |ctx, iq: Iq<Block>| {
            let jids = iq.payload.items.clone();
            this.clone().handle_change(ctx, iq, jids, true)
        })?;
        let this = self.clone();
        reg.set(Targets::Account, move |ctx, iq: Iq<Unblock>| {
            let jids = iq.payload.items.clone();
            this.clone().handle_change(ctx, iq, jids, false)
        })?;
        let this = self.clone();
        reg.stage(Stage::Outbound, 100, move |ctx, el| this.clone().handle_outbound(ctx, el));
        let this = self.clone();
        reg.stage_when(
            Stage::Inbound,
            100,
            move |_, stanza| this.may_block(stanza),
            move |ctx, el| self.clone().handle_inbound(ctx, el),
        );
        Ok(())
    }
}

/// Whether `jid` is matched by a blocklist (full, bare, domain/resource, domain).
fn matches(list: &HashSet<String>, jid: &Jid) -> bool {
    let domain = jid.domain().as_str();
    let bare = jid.to_bare();
    list.contains(jid.as_str())
        || list.contains(bare.as_str())
        || jid.resource().is_some_and(|r| list.contains(&format!("{domain}/{}", r.as_str())))
        || list.contains(domain)
}

/// A `<block/>` or `<unblock/>` push of `jids`.
fn item_list(jids: Vec<Jid>, block: bool) -> Element {
    if block { Block { items: jids }.into() } else { Unblock { items: jids }.into() }
}

async fn handle_blocklist_get(ctx: Ctx, iq: Iq<BlocklistRequest>) -> IqResult {
    let from = iq.own()?;
    ctx.router.set_interest(&from, Interest::Blocklist, true);
    let list = ctx.db.blocklist().list(from.to_bare().as_str()).await.map_err(internal)?;
    // Stored JIDs were valid when blocked.
    let items = list.iter().filter_map(|j| Jid::new(j).ok()).collect();
    Ok(Some(BlocklistResult { items }.into()))
}

impl Blocking {
    async fn list(&self, ctx: &Ctx, owner: &BareJid) -> Result<Arc<HashSet<String>>, StanzaError> {
        if let Some(l) = self.cache.get(owner) {
            return Ok(l);
        }
        let list: Arc<HashSet<String>> =
            Arc::new(ctx.db.blocklist().list(owner.as_str()).await.map_err(internal)?.into_iter().collect());
        self.cache.insert(owner.clone(), list.clone());
        Ok(list)
    }

    async fn handle_change<P>(self: Arc<Self>, ctx: Ctx, iq: Iq<P>, items: Vec<Jid>, block: bool) -> IqResult {
        let owner = iq.own()?.to_bare();
        let jids: Vec<String> = items.iter().map(|j| j.as_str().to_owned()).collect();
        if block && jids.is_empty() {
            return Err(StanzaError::bad_request().with_text("block at least one JID"));
        }
        let before = self.list(&ctx, &owner).await?;
        if block {
            // Contacts that could see us stop doing so now (XEP-0191 §3.3): those subscribed
            // to our presence; nobody else learns anything of the block.
            let mut watching = Vec::new();
            for j in jids.iter().filter(|j| !before.contains(*j)) {
                let item = ctx.db.roster().item(owner.as_str(), j).await.map_err(internal)?;
                if item.is_some_and(|i| i.subscription.from()) {
                    watching.push(j);
                }
            }
            for r in ctx.router.resources(&owner).into_iter().filter(|r| r.is_available()) {
                for j in &watching {
                    let mut p = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", "unavailable");
                    xml::set_attr(&mut p, "from", r.jid.as_str());
                    xml::set_attr(&mut p, "to", j.as_str());
                    ctx.router.route(p).await;
                }
            }
            ctx.db.blocklist().add(owner.as_str(), &jids).await.map_err(internal)?;
        } else {
            ctx.db.blocklist().remove(owner.as_str(), &jids).await.map_err(internal)?;
        }
        self.cache.remove(&owner);
        if !block {
            // Unblocked contacts that may see our presence get it again.
            let unblocked: Vec<String> = if jids.is_empty() { before.iter().cloned().collect() } else { jids.clone() };
            for j in unblocked {
                let Ok(Some(item)) = ctx.db.roster().item(owner.as_str(), &j).await else { continue };
                if item.subscription.from() {
                    for r in ctx.router.resources(&owner) {
                        if let Some(mut p) = r.presence {
                            xml::set_attr(&mut p, "to", j.as_str());
                            ctx.router.route(p).await;
                        }
                    }
                }
            }
        }
        // Pushes to every resource that fetched the blocklist.
        let push_payload = item_list(items, block);
        for r in ctx.router.resources(&owner).into_iter().filter(|r| r.wants(Interest::Blocklist)) {
            let mut push = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "set");
            xml::set_attr(&mut push, "id", format!("block-{}", r.jid.resource().as_str()));
            xml::set_attr(&mut push, "to", r.jid.as_str());
            push.append_child(push_payload.clone());
            ctx.router.send_to(&r.jid, push);
        }
        Ok(None)
    }

    /// Stanzas from the account to someone it blocked: refused with `<blocked/>`.
    async fn handle_outbound(self: Arc<Self>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
        if stanza.is_broadcast() {
            return Ok(Flow::Continue(stanza));
        }
        let list = self.list(&ctx, &stanza.from.to_bare()).await?;
        if list.is_empty() || !matches(&list, &stanza.to) {
            return Ok(Flow::Continue(stanza));
        }
        if stanza.kind == StanzaKind::Presence {
            return Ok(Flow::Handled);
        }
        // XEP-0191 §3.5's example: cancel (retrying will not help while the block stands).
        let refusal = StanzaError { kind: ErrorType::Cancel, ..StanzaError::not_acceptable() };
        Err(refusal.with_app(Element::bare("blocked", NS_ERRORS)))
    }

    /// Whether `stanza` may come from someone its addressee blocked: yes unless the cached
    /// blocklist says no (an uncached list is loaded by the handler).
    fn may_block(&self, stanza: &Stanza) -> bool {
        let blocked = |list: &Arc<HashSet<String>>| !list.is_empty() && matches(list, &stanza.from);
        self.cache.read(&stanza.to.to_bare(), blocked).unwrap_or(true)
    }

    /// Stanzas for the account from someone it blocked: never delivered.
    async fn handle_inbound(self: Arc<Self>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
        let list = self.list(&ctx, &stanza.to.to_bare()).await?;
        if list.is_empty() || !matches(&list, &stanza.from) {
            return Ok(Flow::Continue(stanza));
        }
        if stanza.kind == StanzaKind::Presence {
            return Ok(Flow::Handled);
        }
        Err(StanzaError::service_unavailable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_follows_xep_0016() {
        let list: HashSet<String> = ["bad@x", "evil.example", "y/phone", "c@x/r"].map(String::from).into();
        let j = |s: &str| Jid::new(s).unwrap();
        assert!(matches(&list, &j("bad@x/any")));
        assert!(matches(&list, &j("anyone@evil.example/r")));
        assert!(matches(&list, &j("y/phone")));
        assert!(matches(&list, &j("c@x/r")));
        assert!(!matches(&list, &j("c@x/other")));
        assert!(!matches(&list, &j("good@x")));
    }
}
