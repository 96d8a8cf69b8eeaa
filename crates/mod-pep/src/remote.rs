//! Contacts on other servers. Their resources are not in our session table, so PEP follows
//! the presence they send our users: which of their full JIDs are online, with which
//! capabilities, and which of our users' nodes each has already been brought up to date on.

use crate::service::Pep;
use rhein_module::{Ctx, Flow, Stanza, storage_failure};
use rhein_proto::{BareJid, Element, FullJid, StanzaError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Online resources kept per remote contact; more are ignored.
const MAX_RESOURCES: usize = 32;

#[derive(Default)]
pub(crate) struct RemoteContacts {
    /// Remote contact (bare) to its available full JIDs, as our users have seen them.
    online: Mutex<HashMap<BareJid, HashSet<FullJid>>>,
    /// (our user, remote full JID) to the capabilities `ver` last acted on.
    acted_on: Mutex<HashMap<(BareJid, FullJid), String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RemoteContacts {
    /// The available full JIDs of a remote contact.
    pub(crate) fn online(&self, contact: &BareJid) -> Vec<FullJid> {
        lock(&self.online).get(contact).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    fn arrived(&self, jid: &FullJid) -> bool {
        let mut online = lock(&self.online);
        let set = online.entry(jid.to_bare()).or_default();
        if set.contains(jid) {
            return true;
        }
        if set.len() >= MAX_RESOURCES {
            return false;
        }
        set.insert(jid.clone())
    }

    fn left(&self, jid: &FullJid) {
        let bare = jid.to_bare();
        let mut online = lock(&self.online);
        if let Some(set) = online.get_mut(&bare) {
            set.remove(jid);
            if set.is_empty() {
                online.remove(&bare);
            }
        }
        lock(&self.acted_on).retain(|(_, full), _| full != jid);
    }
}

/// Presence from a client on another server, whose capabilities PEP follows.
pub(crate) fn from_remote_client(ctx: &Ctx, stanza: &Stanza) -> bool {
    stanza.from.resource().is_some() && !ctx.router.is_local_host(stanza.from.domain().as_str())
}

impl Pep {
    /// `InboundPresence` for our users: presence from a contact on another server (the
    /// filter saw to that).
    pub(crate) async fn watch_remote_presence(self: Arc<Self>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
        let Ok(from) = stanza.from.try_as_full().cloned() else { return Ok(Flow::Continue(stanza)) };
        let to = stanza.to.to_bare();
        match stanza.stanza_type() {
            None if self.remote.arrived(&from) => {
                let presence = stanza.el.clone();
                // Learning capabilities waits on the remote client; presence does not.
                tokio::spawn(async move {
                    if let Err(e) = self.catch_up_remote(&ctx, &to, &from, &presence).await {
                        tracing::debug!(jid = %from, error = %e, "last items not sent");
                    }
                });
            }
            Some("unavailable") => {
                self.remote.left(&from);
                ctx.caps.forget(&from);
            }
            _ => {}
        }
        Ok(Flow::Continue(stanza))
    }

    /// Sends `owner`'s last items to a remote contact's resource whose capabilities newly
    /// ask for them, if the contact is in `owner`'s roster and may see the node.
    async fn catch_up_remote(
        &self,
        ctx: &Ctx,
        owner: &BareJid,
        jid: &FullJid,
        presence: &Element,
    ) -> Result<(), StanzaError> {
        let contact = jid.to_bare();
        let item = ctx.db.roster().item(owner.as_str(), contact.as_str()).await.map_err(storage_failure)?;
        if !item.is_some_and(|i| i.subscription.from()) {
            return Ok(());
        }
        let _ = ctx.caps.update(ctx, jid, presence).await;
        let Some(features) = ctx.caps.of_jid(jid) else { return Ok(()) };
        let ver = presence.get_child("c", rhein_proto::ns::CAPS).and_then(|c| c.attr("ver")).unwrap_or_default();
        let key = (owner.clone(), jid.clone());
        if lock(&self.remote.acted_on).insert(key, ver.to_owned()).as_deref() == Some(ver) {
            return Ok(());
        }
        let wanted: HashSet<&str> = features.iter().filter_map(|f| f.strip_suffix("+notify")).collect();
        self.send_last_items_of(ctx, owner, &wanted, &contact, jid).await
    }
}
