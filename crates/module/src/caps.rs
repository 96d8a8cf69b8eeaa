//! What each online client can do (XEP-0115 capabilities), one cache for the whole server:
//! PEP learns them from presence and filters notifications by `NODE+notify` (XEP-0163 §4.3),
//! the MIX participant's server gives channel traffic only to clients that speak MIX
//! (XEP-0405). Features are learnt once per verification string by asking one client with
//! that string, and trusted for all of them only when the hash checks out.

use crate::{Ctx, ResourceInfo, caps_ver_of};
use rhein_proto::{Element, FullJid, ns, xml};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type Features = Arc<HashSet<String>>;

/// Verification strings remembered for everyone; beyond this, new ones are kept per client
/// (and forgotten with it), so announcing endless capabilities cannot grow memory.
const MAX_SHARED: usize = 4096;

/// How long a client gets to answer the disco#info query about its own capabilities.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Capabilities {
    /// Features by key: the `ver` for verified strings, the full JID for unverified ones.
    known: Mutex<HashMap<String, Features>>,
    /// The key each online resource was last seen with.
    seen: Mutex<HashMap<FullJid, String>>,
}

/// The `(node, ver, hash)` of the `<c/>` in a presence.
fn announced(presence: &Element) -> Option<(&str, &str, &str)> {
    let c = presence.get_child("c", ns::CAPS)?;
    Some((c.attr("node")?, c.attr("ver")?, c.attr("hash").unwrap_or_default()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Capabilities {
    /// The features of an online resource, if its capabilities are known.
    pub fn of(&self, resource: &ResourceInfo) -> Option<Features> {
        self.of_jid(&resource.jid)
    }

    /// The features last learnt for a JID (local or remote).
    pub fn of_jid(&self, jid: &FullJid) -> Option<Features> {
        let key = lock(&self.seen).get(jid).cloned()?;
        lock(&self.known).get(&key).cloned()
    }

    /// Whether a remote resource (known only from its presence) asked for notifications of `node`.
    pub fn wants_jid(&self, jid: &FullJid, node: &str) -> bool {
        self.of_jid(jid).is_some_and(|f| f.contains(&format!("{node}+notify")))
    }

    /// Whether an online resource asked for notifications of `node`.
    pub fn wants(&self, resource: &ResourceInfo, node: &str) -> bool {
        resource.is_available() && self.of(resource).is_some_and(|f| f.contains(&format!("{node}+notify")))
    }

    /// Learns the features behind a presence (asking the client if nobody with the same
    /// capabilities did before) and records them for `jid`. Returns the features it had
    /// before and has now, or `None` when nothing changed or they cannot be learnt.
    pub async fn update(&self, ctx: &Ctx, jid: &FullJid, presence: &Element) -> Option<(Option<Features>, Features)> {
        let (node, ver, hash) = announced(presence)?;
        let verified_key = ver.to_owned();
        let before = lock(&self.seen).get(jid).cloned();
        if before.as_deref() == Some(ver) {
            return None;
        }
        let cached = lock(&self.known).get(&verified_key).cloned();
        let (key, features) = match cached {
            Some(f) => (verified_key, f),
            None => {
                let Some(info) = query(ctx, jid, &format!("{node}#{ver}")).await else {
                    tracing::debug!(%jid, ver, "capabilities query failed");
                    return None;
                };
                let features: Features = Arc::new(
                    info.children()
                        .filter(|c| c.name() == "feature")
                        .filter_map(|f| f.attr("var"))
                        .map(str::to_owned)
                        .collect(),
                );
                // A client may announce anything; only a matching hash is shared with others.
                let mut known = lock(&self.known);
                let shareable = hash == "sha-1" && caps_ver_of(&info) == ver && known.len() < MAX_SHARED;
                let key = if shareable { verified_key } else { jid.to_string() };
                known.insert(key.clone(), features.clone());
                tracing::debug!(%jid, ver, shared = shareable, "capabilities learnt");
                (key, features)
            }
        };
        let previous = lock(&self.seen).insert(jid.clone(), key);
        let old = previous.and_then(|k| lock(&self.known).get(&k).cloned());
        Some((old, features))
    }

    /// Whether an online resource is known to lack `feature` (its capabilities were learnt
    /// and do not list it); a client whose capabilities are not known is not judged.
    pub fn lacks(&self, resource: &ResourceInfo, feature: &str) -> bool {
        self.lacks_jid(&resource.jid, feature)
    }

    /// [`Capabilities::lacks`] by JID.
    pub fn lacks_jid(&self, jid: &FullJid, feature: &str) -> bool {
        self.of_jid(jid).is_some_and(|f| !f.contains(feature))
    }

    /// A resource went offline.
    pub fn forget(&self, jid: &FullJid) {
        if let Some(key) = lock(&self.seen).remove(jid)
            && key == jid.to_string()
        {
            lock(&self.known).remove(&key);
        }
    }
}

async fn query(ctx: &Ctx, jid: &FullJid, node: &str) -> Option<Element> {
    let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "get");
    xml::set_attr(&mut iq, "from", &*ctx.host);
    xml::set_attr(&mut iq, "to", jid.as_str());
    iq.append_child(xml::with_attr(Element::bare("query", ns::DISCO_INFO), "node", node));
    let answer = ctx.router.send_iq(iq, QUERY_TIMEOUT).await?;
    if answer.attr("type") != Some("result") {
        return None;
    }
    answer.get_child("query", ns::DISCO_INFO).cloned()
}
