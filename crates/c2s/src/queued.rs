//! A stanza on its way to the client, kept (for acks, for an inactive client) in the form the
//! router handed it over: the session's own element, or its copy of a broadcast.

use rhein_proto::{Broadcast, Element, FullJid, xml};
use rhein_router::{Closing, Outbound};
use std::sync::Arc;

pub(crate) enum Queued {
    Own(Element),
    /// Addressed to the session itself.
    Shared(Arc<Broadcast>),
}

impl Queued {
    /// The stanza, but for a broadcast's `to` (name, type, sender and children are all there).
    pub(crate) fn element(&self) -> &Element {
        match self {
            Queued::Own(el) => el,
            Queued::Shared(b) => b.element(),
        }
    }

    /// Appends the stanza as the session at `to` sends it.
    pub(crate) fn append(&self, to: &FullJid, out: &mut Vec<u8>) {
        match self {
            Queued::Own(el) => xml::append_bytes(el, out),
            Queued::Shared(b) => b.append_to(to.as_str(), out),
        }
    }

    /// Its size as the session at `to` writes it (for stanzas kept without being written).
    pub(crate) fn encoded_len(&self, to: &FullJid) -> usize {
        let mut out = Vec::new();
        self.append(to, &mut out);
        out.len()
    }

    pub(crate) fn into_element(self, to: &FullJid) -> Element {
        match self {
            Queued::Own(el) => el,
            Queued::Shared(b) => b.to_element(to.as_str()),
        }
    }
}

/// A delivery as a stanza, or the stream error the router closes the session with.
impl TryFrom<Outbound> for Queued {
    type Error = Box<Closing>;

    fn try_from(out: Outbound) -> Result<Self, Self::Error> {
        match out {
            Outbound::Stanza(el) => Ok(Queued::Own(*el)),
            Outbound::Shared(b) => Ok(Queued::Shared(b)),
            Outbound::Close(closing) => Err(closing),
        }
    }
}
