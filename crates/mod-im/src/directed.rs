//! RFC 6121 §4.6: who received directed presence from each local resource, so that they also
//! learn when it goes unavailable (explicitly or by disconnecting).

use rhein_proto::FullJid;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Directed {
    sent: Mutex<HashMap<FullJid, HashSet<String>>>,
}

impl Directed {
    fn sent(&self) -> std::sync::MutexGuard<'_, HashMap<FullJid, HashSet<String>>> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `from` sent available presence to `to`.
    pub(crate) fn record(&self, from: &FullJid, to: &str) {
        self.sent().entry(from.clone()).or_default().insert(to.to_owned());
    }

    /// `from` sent unavailable presence to `to` itself.
    pub(crate) fn forget(&self, from: &FullJid, to: &str) {
        if let Some(set) = self.sent().get_mut(from) {
            set.remove(to);
        }
    }

    /// Everyone `from` sent directed presence to, forgetting them.
    pub(crate) fn take(&self, from: &FullJid) -> Vec<String> {
        self.sent().remove(from).map(|s| s.into_iter().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_forgets_and_takes() {
        let d = Directed::default();
        let me = FullJid::new("a@x/r").unwrap();
        d.record(&me, "room@muc.x/nick");
        d.record(&me, "b@x");
        d.forget(&me, "b@x");
        assert_eq!(d.take(&me), vec!["room@muc.x/nick".to_owned()]);
        assert!(d.take(&me).is_empty());
    }
}
