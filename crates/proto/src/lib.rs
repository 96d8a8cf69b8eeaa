//! XMPP vocabulary shared by every Rhein crate: namespace constants, small helpers over
//! `minidom::Element`, and the stanza and stream error conditions of RFC 6120.
//!
//! Depends on minidom/jid only (typed xmpp-parsers payloads join when a module needs them); never on I/O, storage or routing.

pub mod error;
pub mod form;
pub mod mix;
pub mod ns;
pub mod rsm;
pub mod sid;
pub mod time;
pub mod vcard;
mod wire;
pub mod xml;

pub use error::{ErrorType, StanzaError, StreamErrorCondition};
pub use jid::{self, BareJid, FullJid, Jid};
pub use minidom::{self, Element};
pub use wire::Broadcast;
