//! The envelope a stanza travels in through the server: its kind and addresses read once,
//! where the router first sees it, so no handler parses `from` or `to` again.

use rhein_proto::xml::StanzaKind;
use rhein_proto::{Element, Jid, StanzaError};

/// A stanza with its addresses read.
///
/// `from` and `to` agree with the element's attributes, except that a stanza without `to` is
/// handled on behalf of the sender's account (RFC 6120 §10.3), so `to` is the sender's bare
/// JID then (a presence broadcast is one of those: [`Stanza::is_broadcast`]). A handler that
/// changes an address changes both.
#[derive(Debug, Clone)]
pub struct Stanza {
    pub kind: StanzaKind,
    pub from: Jid,
    pub to: Jid,
    pub el: Element,
}

/// Why an element cannot travel as a stanza.
#[derive(Debug)]
pub enum Unroutable {
    /// Not a message, presence or IQ in `jabber:client`.
    NotAStanza,
    /// No `from`, and nobody it could be from.
    NoSender,
    /// An address is not a JID: the sender (when readable) gets `jid-malformed`.
    Malformed { from: Option<Jid> },
}

impl Stanza {
    /// Reads `el`'s kind and addresses. `sender` is whom a stanza without `from` comes from
    /// (the account a server-made stanza speaks for, given its addressee), if anyone. What
    /// cannot be read comes back with the reason (boxed: it is the rare way).
    pub fn read(el: Element, sender: impl FnOnce(&Jid) -> Option<Jid>) -> Result<Self, Box<(Element, Unroutable)>> {
        let Some(kind) = StanzaKind::of(&el) else { return Err(Box::new((el, Unroutable::NotAStanza))) };
        let from = match el.attr("from").map(Jid::new) {
            Some(Ok(from)) => Some(from),
            Some(Err(_)) => return Err(Box::new((el, Unroutable::Malformed { from: None }))),
            None => None,
        };
        let to = match el.attr("to").map(Jid::new) {
            Some(Ok(to)) => Some(to),
            Some(Err(_)) => return Err(Box::new((el, Unroutable::Malformed { from }))),
            None => None,
        };
        match (from, to) {
            (Some(from), Some(to)) => Ok(Self { kind, from, to, el }),
            (Some(from), None) => Ok(Self { kind, to: Jid::from(from.to_bare()), from, el }),
            (None, Some(to)) => match sender(&to) {
                Some(from) => Ok(Self { kind, from, to, el }),
                None => Err(Box::new((el, Unroutable::NoSender))),
            },
            (None, None) => Err(Box::new((el, Unroutable::NoSender))),
        }
    }

    /// A presence without `to`: the sender's broadcast (RFC 6121 §4.2), which the server
    /// sends on to the contacts, as opposed to a directed one.
    pub fn is_broadcast(&self) -> bool {
        self.kind == StanzaKind::Presence && self.el.attr("to").is_none()
    }

    /// The `type` attribute.
    pub fn stanza_type(&self) -> Option<&str> {
        self.el.attr("type")
    }

    /// An error or an IQ result: never answered, so that two entities cannot loop.
    pub fn is_answer(&self) -> bool {
        matches!(self.stanza_type(), Some("error" | "result"))
    }

    /// What an error reply needs of the stanza (addresses, id, type), without its payload.
    pub fn header(&self) -> Self {
        Self { kind: self.kind, from: self.from.clone(), to: self.to.clone(), el: rhein_proto::xml::header(&self.el) }
    }

    /// The error reply (RFC 6120 §8.3.1), addressed back to the sender; `None` for an error
    /// or an IQ result, which are never answered.
    pub fn error_reply(&self, err: &StanzaError) -> Option<Self> {
        if self.is_answer() {
            return None;
        }
        let el = err.reply_to(&self.el);
        Some(Self { kind: self.kind, from: self.to.clone(), to: self.from.clone(), el })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> Result<Stanza, Unroutable> {
        Stanza::read(xml.parse().unwrap(), |to| Some(Jid::from(to.to_bare()))).map_err(|e| e.1)
    }

    #[test]
    fn addresses_are_read_once_with_the_implicit_addressee() {
        let s = read("<message xmlns='jabber:client' from='a@x/r' to='b@y/s'/>").unwrap();
        assert_eq!((s.kind, s.from.as_str(), s.to.as_str()), (StanzaKind::Message, "a@x/r", "b@y/s"));
        // RFC 6120 §10.3: no `to` is the sender's account; a presence so is a broadcast.
        let s = read("<presence xmlns='jabber:client' from='a@x/r'/>").unwrap();
        assert_eq!(s.to.as_str(), "a@x");
        assert!(s.is_broadcast());
        let s = read("<presence xmlns='jabber:client' from='a@x/r' to='a@x'/>").unwrap();
        assert!(!s.is_broadcast());
        // No `from`: whom the caller says it speaks for.
        let s = read("<iq xmlns='jabber:client' type='get' id='1' to='b@y/s'/>").unwrap();
        assert_eq!(s.from.as_str(), "b@y");
    }

    #[test]
    fn what_cannot_travel_says_why() {
        assert!(matches!(read("<message xmlns='urn:other' to='a@x'/>"), Err(Unroutable::NotAStanza)));
        let bad_to = read("<message xmlns='jabber:client' from='a@x/r' to='@x'/>");
        assert!(matches!(bad_to, Err(Unroutable::Malformed { from: Some(f) }) if f.as_str() == "a@x/r"));
        let bad_from = read("<message xmlns='jabber:client' from='a@@x' to='b@x'/>");
        assert!(matches!(bad_from, Err(Unroutable::Malformed { from: None })));
        let nobody = Stanza::read("<message xmlns='jabber:client' to='b@x'/>".parse().unwrap(), |_| None);
        assert!(matches!(nobody.map_err(|e| e.1), Err(Unroutable::NoSender)));
    }

    #[test]
    fn an_error_reply_goes_back_and_answers_are_never_answered() {
        let s = read("<iq xmlns='jabber:client' type='get' id='7' from='a@x/r' to='b@y'><q xmlns='u'/></iq>").unwrap();
        let reply = s.error_reply(&StanzaError::forbidden()).unwrap();
        assert_eq!((reply.from.as_str(), reply.to.as_str()), ("b@y", "a@x/r"));
        assert_eq!((reply.el.attr("type"), reply.el.attr("id")), (Some("error"), Some("7")));
        let result = read("<iq xmlns='jabber:client' type='result' id='7' from='a@x/r' to='b@y'/>").unwrap();
        assert!(result.error_reply(&StanzaError::forbidden()).is_none());
    }
}
