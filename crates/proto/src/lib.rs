//! XMPP vocabulary shared by every Rhein crate: namespace constants, small helpers over
//! `minidom::Element`, and the stanza and stream error conditions of RFC 6120.
//!
//! Payloads are typed: xmpp-parsers' types (re-exported as [`parsers`]) and, where it lacks
//! one, Rhein's own with xso derives ([`payload`], [`mix`], [`muc`], [`retract`]). Never
//! depends on I/O, storage or routing.

pub mod bytestreams;
pub mod commands;
pub mod error;
pub mod extdisco;
pub mod form;
pub mod hats;
pub mod mix;
pub mod moved;
pub mod muc;
pub mod ns;
pub mod payload;
pub mod pie;
pub mod pubsub;
pub mod push;
pub mod reference;
pub mod register;
pub mod retract;
pub mod roster;
pub mod sasl;
pub mod sid;
#[cfg(test)]
mod testing;
pub mod time;
pub mod unread;
pub mod vcard;
mod wire;
pub mod xml;

pub use error::{ErrorType, StanzaError, StreamErrorCondition};
pub use jid::{self, BareJid, FullJid, Jid};
pub use minidom::{self, Element};
pub use wire::Broadcast;
pub use xmpp_parsers as parsers;
pub use xso;

/// `username` prepared as the local part of an account of `host` (RFC 7622: case-folded and
/// normalised as a JID's local part would be), or `None` for a name that cannot be one.
pub fn prepare_localpart(username: &str, host: &str) -> Option<String> {
    let jid = BareJid::new(&format!("{username}@{host}")).ok()?;
    jid.node().map(|n| n.as_str().to_owned())
}
