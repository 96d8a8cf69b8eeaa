//! XEP-0352 Client State Indication: while a client says it is inactive (a phone in a pocket),
//! presence updates and chat states wait; anything that matters flushes them, in order.

use crate::queued::Queued;
use rhein_proto::{Element, ns};

/// Stanzas held back for an inactive client, at most one presence per sender.
#[derive(Default)]
pub(crate) struct Held {
    items: Vec<Queued>,
}

impl Held {
    /// Whether a stanza should wake the client.
    pub(crate) fn is_urgent(el: &Element) -> bool {
        match el.name() {
            "presence" => {
                matches!(el.attr("type"), Some("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" | "error"))
            }
            "message" => el.children().any(|c| c.ns() != ns::CHAT_STATES && c.ns() != ns::HINTS),
            _ => true,
        }
    }

    /// Holds a stanza; a newer presence from the same sender replaces the older one.
    pub(crate) fn hold(&mut self, stanza: Queued) {
        let el = stanza.element();
        if el.name() == "presence" {
            self.items.retain(|h| {
                let h = h.element();
                !(h.name() == "presence" && h.attr("from") == el.attr("from"))
            });
        }
        self.items.push(stanza);
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn take(&mut self) -> Vec<Queued> {
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(s: &str) -> Element {
        s.parse().unwrap()
    }

    fn own(s: &str) -> Queued {
        Queued::Own(el(s))
    }

    #[test]
    fn presence_is_deduplicated_and_chat_states_wait() {
        let mut h = Held::default();
        h.hold(own("<presence xmlns='jabber:client' from='a@x/1'><show>away</show></presence>"));
        h.hold(own("<presence xmlns='jabber:client' from='b@x/1'/>"));
        h.hold(own("<presence xmlns='jabber:client' from='a@x/1'/>"));
        let held: Vec<Element> = h.take().into_iter().map(|q| q.element().clone()).collect();
        assert_eq!(held.len(), 2);
        assert_eq!(held[1].attr("from"), Some("a@x/1"));
        assert!(held[1].children().next().is_none(), "the newest presence of a@x/1 is kept");

        let composing =
            el("<message xmlns='jabber:client'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
        assert!(!Held::is_urgent(&composing));
        assert!(Held::is_urgent(&el("<message xmlns='jabber:client'><body>hi</body></message>")));
        assert!(Held::is_urgent(&el("<presence xmlns='jabber:client' type='subscribe'/>")));
        assert!(Held::is_urgent(&el("<iq xmlns='jabber:client' type='get'/>")));
    }
}
