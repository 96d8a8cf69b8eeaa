//! XEP-0313 §6 archiving preferences: a default (always, never, roster) and JIDs always or
//! never archived.

use crate::NS;
use rhein_module::{Ctx, IqResult, own_request, storage_failure};
use rhein_proto::{BareJid, Element, Jid, StanzaError, xml};
use rhein_storage::ArchivePrefs;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Accounts' preferences, read once and kept: every archived message consults them, and
/// they change only through [`handle_prefs_set`].
#[derive(Default)]
pub(crate) struct PrefsCache(Mutex<HashMap<BareJid, Arc<ArchivePrefs>>>);

/// Accounts whose preferences are kept at most (then the cache starts over).
const MAX_CACHED: usize = 100_000;

impl PrefsCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<BareJid, Arc<ArchivePrefs>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn get(&self, ctx: &Ctx, owner: &BareJid) -> Result<Arc<ArchivePrefs>, StanzaError> {
        if let Some(p) = self.map().get(owner) {
            return Ok(p.clone());
        }
        let prefs = Arc::new(ctx.db.archive().prefs(owner.as_str()).await.map_err(storage_failure)?);
        self.put(owner, prefs.clone());
        Ok(prefs)
    }

    fn put(&self, owner: &BareJid, prefs: Arc<ArchivePrefs>) {
        let mut map = self.map();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(owner.clone(), prefs);
    }
}

/// Whether a message with `with` goes into `owner`'s archive.
pub(crate) async fn should_archive(
    ctx: &Ctx,
    cache: &PrefsCache,
    owner: &BareJid,
    with: &BareJid,
) -> Result<bool, StanzaError> {
    let prefs = cache.get(ctx, owner).await?;
    let w = with.to_string();
    if prefs.never.contains(&w) {
        return Ok(false);
    }
    if prefs.always.contains(&w) {
        return Ok(true);
    }
    Ok(match prefs.default_mode.as_str() {
        "never" => false,
        "roster" => ctx.db.roster().item(owner.as_str(), with.as_str()).await.map_err(storage_failure)?.is_some(),
        _ => true,
    })
}

fn prefs_element(p: &ArchivePrefs) -> Element {
    let mut el = xml::with_attr(Element::bare("prefs", NS), "default", p.default_mode.as_str());
    for (name, list) in [("always", &p.always), ("never", &p.never)] {
        let mut l = Element::bare(name, NS);
        for j in list {
            l.append_child(xml::text_el("jid", NS, j.as_str()));
        }
        el.append_child(l);
    }
    el
}

pub(crate) async fn handle_prefs_get(ctx: Ctx, iq: Element) -> IqResult {
    let owner = own_request(&iq)?.to_bare();
    Ok(Some(prefs_element(&ctx.db.archive().prefs(owner.as_str()).await.map_err(storage_failure)?)))
}

pub(crate) async fn handle_prefs_set(ctx: Ctx, iq: Element, cache: Arc<PrefsCache>) -> IqResult {
    let owner = own_request(&iq)?.to_bare();
    let el = iq.get_child("prefs", NS).ok_or_else(StanzaError::bad_request)?;
    let default_mode = match el.attr("default") {
        Some(m @ ("always" | "never" | "roster")) => m.to_owned(),
        _ => return Err(StanzaError::bad_request().with_text("default must be always, never or roster")),
    };
    let list = |name: &str| -> Result<Vec<String>, StanzaError> {
        el.get_child(name, NS)
            .map(|l| {
                l.children()
                    .map(|j| {
                        Jid::new(j.text().trim())
                            .map(|j| j.to_bare().to_string())
                            .map_err(|_| StanzaError::jid_malformed())
                    })
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
    };
    let prefs = ArchivePrefs { default_mode, always: list("always")?, never: list("never")? };
    ctx.db.archive().set_prefs(owner.as_str(), &prefs).await.map_err(storage_failure)?;
    let answer = prefs_element(&prefs);
    cache.put(&owner, Arc::new(prefs));
    Ok(Some(answer))
}
