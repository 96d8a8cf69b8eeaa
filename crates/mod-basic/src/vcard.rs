//! XEP-0054: vcard-temp — each account publishes one vCard; anyone may read it, only the
//! account may change it. XEP-0153: the account's available presence carries the SHA-1 of
//! its vCard photo, so contacts know when to fetch a new avatar.

use crate::internal;
use rhein_module::account_request;
use rhein_module::{Ctx, Flow, IqKind, IqResult, Module, ModuleError, Registry, Stage, Targets, own_request};
use rhein_proto::vcard::photo_hash;
use rhein_proto::{BareJid, Element, FullJid, StanzaError, xml};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const NS: &str = "vcard-temp";
const NS_UPDATE: &str = "vcard-temp:x:update";

/// The module, with each account's current photo hash (`None`: no photo).
#[derive(Default)]
pub(crate) struct Vcard {
    photo_hashes: Mutex<HashMap<BareJid, Option<String>>>,
}

impl Module for Vcard {
    fn name(&self) -> &'static str {
        "vcard"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.feature(NS);
        reg.account_feature(NS);
        reg.iq(IqKind::Get, Targets::Account, NS, "vCard", handle_vcard_get)?;
        let this = self.clone();
        reg.iq(IqKind::Set, Targets::Account, NS, "vCard", move |ctx, iq| this.clone().handle_vcard_set(ctx, iq))?;
        // Before the presence broadcast (priority 0) so every copy carries the hash.
        reg.stage(Stage::OutboundPresence, 10, move |ctx, el| self.clone().handle_presence(ctx, el));
        Ok(())
    }
}

async fn handle_vcard_get(ctx: Ctx, iq: Element) -> IqResult {
    let (_, owner) = account_request(&iq)?;
    let stored = ctx.db.account_data().get(owner.as_str(), "vcard", "").await.map_err(internal)?;
    // No vCard yet: an empty one (XEP-0054 §3.1).
    Ok(Some(stored.and_then(|s| s.parse().ok()).unwrap_or_else(|| Element::bare("vCard", NS))))
}

impl Vcard {
    async fn handle_vcard_set(self: Arc<Self>, ctx: Ctx, iq: Element) -> IqResult {
        let owner = own_request(&iq)?.to_bare();
        let vcard = iq.get_child("vCard", NS).ok_or_else(StanzaError::bad_request)?;
        ctx.db
            .account_data()
            .put_all(owner.as_str(), "vcard", &[(String::new(), xml::to_string(vcard))])
            .await
            .map_err(internal)?;
        self.photo_hashes.lock().unwrap_or_else(|e| e.into_inner()).insert(owner, photo_hash(vcard));
        Ok(None)
    }

    async fn hash_of(&self, ctx: &Ctx, owner: &BareJid) -> Result<Option<String>, StanzaError> {
        if let Some(h) = self.photo_hashes.lock().unwrap_or_else(|e| e.into_inner()).get(owner) {
            return Ok(h.clone());
        }
        let stored = ctx.db.account_data().get(owner.as_str(), "vcard", "").await.map_err(internal)?;
        let hash = stored.and_then(|s| s.parse::<Element>().ok()).and_then(|v| photo_hash(&v));
        self.photo_hashes.lock().unwrap_or_else(|e| e.into_inner()).insert(owner.clone(), hash.clone());
        Ok(hash)
    }

    /// Adds `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>` to broadcast presence that
    /// does not carry one already (clients that manage it themselves keep theirs).
    async fn handle_presence(self: Arc<Self>, ctx: Ctx, mut el: Element) -> Result<Flow, StanzaError> {
        if el.attr("type").is_some() || el.attr("to").is_some() || el.get_child("x", NS_UPDATE).is_some() {
            return Ok(Flow::Continue(el));
        }
        let Some(from) = el.attr("from").and_then(|f| FullJid::new(f).ok()) else { return Ok(Flow::Continue(el)) };
        let hash = self.hash_of(&ctx, &from.to_bare()).await?;
        let mut x = Element::bare("x", NS_UPDATE);
        x.append_child(match hash {
            Some(h) => xml::text_el("photo", NS_UPDATE, h),
            None => Element::bare("photo", NS_UPDATE),
        });
        el.append_child(x);
        Ok(Flow::Continue(el))
    }
}
