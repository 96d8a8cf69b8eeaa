//! XEP-0283 (0.2) `<moved/>`: in a subscription request, the account the sender moved from;
//! in the old account's `urn:xmpp:moved:1` PEP item, the account it moved to. xmpp-parsers
//! has no XEP-0283.

use crate::ns;
use jid::BareJid;
use xso::{AsXml, FromXml};

#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MOVED, name = "moved")]
pub struct Moved {
    /// In a subscription request: the account the contact moved from.
    #[xml(extract(default, name = "old-jid", fields(text(type_ = BareJid))))]
    pub old_jid: Option<BareJid>,
    /// In the old account's statement: where it went.
    #[xml(extract(default, name = "new-jid", fields(text(type_ = BareJid))))]
    pub new_jid: Option<BareJid>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;
    use xso::error::FromElementError;

    #[test]
    fn the_statement_and_the_claim_read_and_round_trip() {
        let statement: Element =
            "<moved xmlns='urn:xmpp:moved:1'><new-jid>new@b.example</new-jid></moved>".parse().unwrap();
        let m = Moved::try_from(statement).unwrap();
        assert_eq!((&m.old_jid, m.new_jid.as_ref().map(|j| j.as_str())), (&None, Some("new@b.example")));
        assert_eq!(Moved::try_from(Element::from(m.clone())).unwrap(), m);
        let claim: Element =
            "<moved xmlns='urn:xmpp:moved:1'><old-jid>old@a.example</old-jid></moved>".parse().unwrap();
        assert_eq!(Moved::try_from(claim).unwrap().old_jid.unwrap().as_str(), "old@a.example");
        assert_eq!(crate::xml::to_string(&Element::from(Moved::default())), "<moved xmlns='urn:xmpp:moved:1'/>");
    }

    #[test]
    fn an_address_that_is_no_jid_is_refused() {
        let bad: Element = "<moved xmlns='urn:xmpp:moved:1'><old-jid>@a.example</old-jid></moved>".parse().unwrap();
        assert!(matches!(
            Moved::try_from(bad),
            Err(FromElementError::Invalid(xso::error::Error::TextParseError(e))) if e.is::<jid::Error>()
        ));
    }
}
