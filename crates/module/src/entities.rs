//! What a service keeps in memory of its rooms or channels.

use rhein_proto::BareJid;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One entity, behind its own lock: its stanzas are handled in order, and entities never
/// wait on each other.
pub type Shared<T> = Arc<tokio::sync::Mutex<T>>;

/// A service's entities in memory, by JID.
pub struct Entities<T> {
    map: Mutex<HashMap<BareJid, Shared<T>>>,
}

impl<T> Default for Entities<T> {
    fn default() -> Self {
        Self { map: Mutex::default() }
    }
}

impl<T> Entities<T> {
    fn map(&self) -> MutexGuard<'_, HashMap<BareJid, Shared<T>>> {
        // Every mutation is one insert or remove: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many are in memory.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    pub fn get(&self, jid: &BareJid) -> Option<Shared<T>> {
        self.map().get(jid).cloned()
    }

    /// The entity at `jid`, made by `make` unless another task put one there first; and
    /// whether it was made here.
    pub fn get_or_insert(&self, jid: &BareJid, make: impl FnOnce() -> T) -> (Shared<T>, bool) {
        let mut map = self.map();
        if let Some(existing) = map.get(jid) {
            return (existing.clone(), false);
        }
        let made = Arc::new(tokio::sync::Mutex::new(make()));
        map.insert(jid.clone(), made.clone());
        (made, true)
    }

    pub fn remove(&self, jid: &BareJid) {
        self.map().remove(jid);
    }

    pub fn all(&self) -> Vec<Shared<T>> {
        self.map().values().cloned().collect()
    }
}
