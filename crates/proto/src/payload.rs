//! Typed IQ payloads: the types handlers are registered by (`Registry::get::<P>`), with the
//! element each one is. Most are xmpp-parsers'; the few it lacks or types too narrowly for a
//! server are defined here with xso derives.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use minidom::Element;
use xmpp_parsers as xp;
use xso::error::FromElementError;
use xso::{AsXml, FromXml};

/// The payload of an IQ get or set: the one child element `<NAME xmlns='NS'/>`, parsed.
///
/// The router looks a handler up by `NS` and `NAME`; the payload is parsed before the handler
/// runs, and one that does not parse is answered with `bad-request` naming what was wrong.
pub trait IqPayload: TryFrom<Element, Error = FromElementError> + Send + 'static {
    const NS: &'static str;
    const NAME: &'static str;
}

/// Names the element of each payload type (xso derives do not expose it as a constant).
macro_rules! iq_payloads {
    ($($ty:ty => $ns:expr, $name:literal;)*) => {
        $(impl IqPayload for $ty {
            const NS: &'static str = $ns;
            const NAME: &'static str = $name;
        })*

        /// Every type above with an element of its own name, to check the names against
        /// the types' parsers.
        #[cfg(test)]
        fn named_payloads() -> Vec<(&'static str, &'static str, fn(Element) -> Result<(), FromElementError>)> {
            vec![$(($ns, $name, |el| <$ty>::try_from(el).map(drop))),*]
        }
    };
}

iq_payloads! {
    xp::ping::Ping => ns::PING, "ping";
    xp::version::VersionQuery => ns::VERSION, "query";
    xp::disco::DiscoInfoQuery => ns::DISCO_INFO, "query";
    xp::disco::DiscoItemsQuery => ns::DISCO_ITEMS, "query";
    xp::carbons::Enable => ns::CARBONS, "enable";
    xp::carbons::Disable => ns::CARBONS, "disable";
    xp::blocking::BlocklistRequest => ns::BLOCKING, "blocklist";
    xp::blocking::Block => ns::BLOCKING, "block";
    xp::blocking::Unblock => ns::BLOCKING, "unblock";
    xp::vcard::VCardQuery => ns::VCARD, "vCard";
    LastActivityQuery => ns::LAST, "query";
    PrivateQuery => ns::PRIVATE, "query";
    crate::roster::Roster => ns::ROSTER, "query";
    crate::mix::ClientJoin => ns::MIX_PAM, "client-join";
    crate::mix::ClientLeave => ns::MIX_PAM, "client-leave";
    crate::push::Enable => ns::PUSH, "enable";
    crate::bytestreams::Query => ns::BYTESTREAMS, "query";
    crate::push::Disable => ns::PUSH, "disable";
    crate::extdisco::Services => ns::EXTDISCO, "services";
    crate::extdisco::Credentials => ns::EXTDISCO, "credentials";
    xp::mam::Query => ns::MAM, "query";
    MamPrefsQuery => ns::MAM, "prefs";
    xp::mam_prefs::Prefs => ns::MAM, "prefs";
    crate::pubsub::Request => ns::PUBSUB, "pubsub";
    crate::pubsub::owner::Request => ns::PUBSUB_OWNER, "pubsub";
    crate::commands::Command => ns::COMMANDS, "command";
    crate::register::Query => ns::REGISTER, "query";
    crate::register::Preauth => ns::PARS, "preauth";
    crate::muc::TokenRequest => ns::MUC_TOKEN_INVITE, "request";
    crate::muc::Tokens => ns::MUC_TOKEN_INVITE, "tokens";
    crate::muc::Revoke => ns::MUC_TOKEN_INVITE, "revoke";
    crate::retract::Moderate => ns::MESSAGE_MODERATE, "moderate";
    crate::unread::Query => ns::UNREAD, "unread";
}

/// XEP-0313 §6 preferences request, `<prefs xmlns='urn:xmpp:mam:2'/>` (xmpp-parsers' `Prefs`
/// needs the `default` only a set or an answer carries).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MAM, name = "prefs")]
pub struct MamPrefsQuery;

/// XEP-0012 request: `<query xmlns='jabber:iq:last'/>` (xmpp-parsers has no XEP-0012).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::LAST, name = "query")]
pub struct LastActivityQuery;

/// XEP-0012 answer: seconds since the entity was last active (for a server, its uptime), and
/// the status it left with.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::LAST, name = "query")]
pub struct LastActivity {
    #[xml(attribute)]
    pub seconds: u64,
    #[xml(text)]
    pub status: String,
}

/// XEP-0049 `<query xmlns='jabber:iq:private'/>` with the documents it stores or asks for,
/// each in a namespace of its own. (xmpp-parsers' `private::Query` knows only bookmarks; a
/// server stores whatever a client keeps there.)
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PRIVATE, name = "query")]
pub struct PrivateQuery {
    #[xml(element(n = ..))]
    pub documents: Vec<Element>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};

    #[test]
    fn every_registered_name_is_its_types_element() {
        for (ns, name, parse) in named_payloads() {
            let xml = format!("<{name} xmlns='{ns}'/>");
            if let Err(e) = parse(el(&xml)) {
                // Elements that need content still answer to their name, never `Mismatch`.
                assert!(!matches!(e, FromElementError::Mismatch(_)), "{xml} is not its type's element: {e}");
            }
        }
    }

    #[test]
    fn last_activity_parses() {
        let q = LastActivity::try_from(el("<query xmlns='jabber:iq:last' seconds='903'>Heading Home</query>")).unwrap();
        assert_eq!(q, LastActivity { seconds: 903, status: "Heading Home".into() });
        let q = LastActivity::try_from(el("<query xmlns='jabber:iq:last' seconds='0'/>")).unwrap();
        assert_eq!(q.status, "");
        LastActivityQuery::try_from(el("<query xmlns='jabber:iq:last'/>")).unwrap();
    }

    #[test]
    fn last_activity_serialises() {
        let q: Element = LastActivity { seconds: 42, status: String::new() }.into();
        assert_eq!(crate::xml::to_string(&q), "<query xmlns='jabber:iq:last' seconds='42'></query>");
        let q: Element = LastActivity { seconds: 1, status: "gone <fishing>".into() }.into();
        assert_eq!(crate::xml::to_string(&q), "<query xmlns='jabber:iq:last' seconds='1'>gone &lt;fishing&gt;</query>");
    }

    #[test]
    fn last_activity_round_trips() {
        let q = LastActivity { seconds: 3600, status: "away".into() };
        assert_eq!(LastActivity::try_from(Element::from(q.clone())).unwrap(), q);
    }

    #[test]
    fn last_activity_invalid() {
        assert_eq!(
            invalid::<LastActivity>("<query xmlns='jabber:iq:last'/>"),
            "Required attribute field 'seconds' on LastActivity element missing."
        );
        assert!(invalid::<LastActivity>("<query xmlns='jabber:iq:last' seconds='-1'/>").contains("invalid digit"));
        assert!(matches!(
            LastActivity::try_from(el("<query xmlns='jabber:iq:version'/>")),
            Err(FromElementError::Mismatch(_))
        ));
    }

    #[test]
    fn private_query_parses_and_serialises() {
        let q = PrivateQuery::try_from(el(
            "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query>",
        ))
        .unwrap();
        assert_eq!(q.documents.len(), 1);
        assert!(q.documents[0].is("exodus", "exodus:prefs"));
        assert_eq!(PrivateQuery::try_from(Element::from(q.clone())).unwrap(), q);
        let empty: Element = PrivateQuery::default().into();
        assert_eq!(empty, el("<query xmlns='jabber:iq:private'/>"));
    }

    #[test]
    fn private_query_invalid() {
        // Text is not a document.
        assert_eq!(invalid::<PrivateQuery>("<query xmlns='jabber:iq:private'>text</query>"), "Unexpected text content");
    }
}
