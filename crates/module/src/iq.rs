//! A typed IQ request: what a handler registered with `Registry::get::<P>` or `set::<P>`
//! receives, its addresses and payload parsed before the handler runs.

use crate::Stanza;
use rhein_proto::payload::IqPayload;
use rhein_proto::xso::error::{Error, FromElementError};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError};

/// An IQ get or set with payload `P`.
#[derive(Debug, Clone)]
pub struct Iq<P> {
    /// The sender, as the router stamped it.
    pub from: Jid,
    /// The addressee: the sender's bare JID for a request to its own account without `to`.
    pub to: Jid,
    pub payload: P,
}

impl<P: IqPayload> Iq<P> {
    /// Reads the request's payload: one that does not parse is a `bad-request` saying what
    /// was wrong.
    pub fn parse(iq: Stanza) -> Result<Self, StanzaError> {
        let Stanza { from, to, mut el, .. } = iq;
        let element = el.remove_child(P::NAME, P::NS).ok_or_else(StanzaError::bad_request)?;
        Ok(Self { from, to, payload: payload(element)? })
    }
}

/// Reads an element of a request as a `P`: one that does not parse is a `bad-request` saying
/// why, or `jid-malformed` for a JID that is none (RFC 6120 §8.3.3.8). For handlers that
/// receive a whole IQ (services), and for parts of a payload, as for [`Iq::parse`].
pub fn payload<P: TryFrom<Element, Error = FromElementError>>(element: Element) -> Result<P, StanzaError> {
    P::try_from(element).map_err(|e| match e {
        FromElementError::Invalid(Error::TextParseError(e)) if e.is::<rhein_proto::jid::Error>() => {
            StanzaError::jid_malformed().with_text(e.to_string())
        }
        FromElementError::Invalid(e) => StanzaError::bad_request().with_text(e.to_string()),
        FromElementError::Mismatch(_) => StanzaError::bad_request(),
    })
}

impl<P> Iq<P> {
    /// The sender of a request an account may only make about itself (`to` absent or the
    /// sender's own bare JID): its full JID; `forbidden` for another address.
    pub fn own(&self) -> Result<FullJid, StanzaError> {
        own(&self.from, &self.to)
    }

    /// The account a request is about.
    pub fn account(&self) -> BareJid {
        self.to.to_bare()
    }
}

/// `from`'s full JID if the request is about its own account, else `forbidden`.
pub(crate) fn own(from: &Jid, to: &Jid) -> Result<FullJid, StanzaError> {
    let from = from.try_as_full().map_err(|_| StanzaError::bad_request())?;
    if to.to_bare() != from.to_bare() {
        return Err(StanzaError::forbidden());
    }
    Ok(from.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhein_proto::parsers::blocking::Block;
    use rhein_proto::parsers::ping::Ping;
    use rhein_proto::payload::LastActivityQuery;

    fn iq<P: IqPayload>(xml: &str) -> Result<Iq<P>, StanzaError> {
        let stanza = Stanza::read(xml.parse().unwrap(), |_| None).unwrap();
        Iq::parse(stanza)
    }

    #[test]
    fn addresses_and_payload_are_read() {
        let r = iq::<Ping>(
            "<iq xmlns='jabber:client' type='get' id='1' from='a@x/r' to='b@x'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .unwrap();
        assert_eq!(r.from.as_str(), "a@x/r");
        assert_eq!(r.account().as_str(), "b@x");
        assert_eq!(r.own().unwrap_err(), StanzaError::forbidden());
        let mine =
            iq::<Ping>("<iq xmlns='jabber:client' type='get' id='1' from='a@x/r'><ping xmlns='urn:xmpp:ping'/></iq>")
                .unwrap();
        assert_eq!(mine.own().unwrap().as_str(), "a@x/r");
        assert_eq!(mine.account().as_str(), "a@x");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let no_jid = iq::<Block>(
            "<iq xmlns='jabber:client' type='set' id='1' from='a@x/r'><block xmlns='urn:xmpp:blocking'><item/></block></iq>",
        );
        let err = no_jid.unwrap_err();
        assert_eq!(err.condition, "bad-request");
        assert!(err.text.as_deref().is_some_and(|t| t.contains("attribute") && t.contains("Block")), "{err}");
        let bad_jid = iq::<Block>(
            "<iq xmlns='jabber:client' type='set' id='1' from='a@x/r'><block xmlns='urn:xmpp:blocking'><item jid='@x'/></block></iq>",
        );
        assert_eq!(bad_jid.unwrap_err().condition, "jid-malformed");
        let other = iq::<LastActivityQuery>(
            "<iq xmlns='jabber:client' type='get' id='1' from='a@x/r'><ping xmlns='urn:xmpp:ping'/></iq>",
        );
        assert_eq!(other.unwrap_err(), StanzaError::bad_request());
    }
}
