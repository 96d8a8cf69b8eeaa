//! XEP-0065 SOCKS5 Bytestreams as a proxy reads and answers them (xmpp-parsers 0.23 has no
//! XEP-0065): the `<query/>` asking for the proxy's address or activating a transfer, and the
//! `<streamhost/>` the proxy answers with.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use jid::Jid;
use xso::{AsXml, FromXml};

/// `<query sid mode><streamhost/>…<activate>JID</activate></query>`: empty to ask a proxy for
/// its address (§4), with `sid` and `<activate/>` to start a relay (§6.3.5).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::BYTESTREAMS, name = "query")]
pub struct Query {
    #[xml(attribute(default))]
    pub sid: Option<String>,
    /// `tcp` (the default) or `udp`.
    #[xml(attribute(default))]
    pub mode: Option<String>,
    #[xml(child(n = ..))]
    pub streamhosts: Vec<StreamHost>,
    /// The target whose connection the requester's is joined to.
    #[xml(extract(name = "activate", default, fields(text(type_ = String))))]
    pub activate: Option<String>,
}

/// `<streamhost jid host port/>`: where to connect for SOCKS5.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::BYTESTREAMS, name = "streamhost")]
pub struct StreamHost {
    #[xml(attribute)]
    pub jid: Jid,
    #[xml(attribute)]
    pub host: String,
    #[xml(attribute(default))]
    pub port: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn activation_reads_the_xep_example() {
        let q = Query::try_from(el("<query xmlns='http://jabber.org/protocol/bytestreams' sid='vxf9n471bn46'>\
             <activate>target@example.org/bar</activate></query>"))
        .unwrap();
        assert_eq!(q.sid.as_deref(), Some("vxf9n471bn46"));
        assert_eq!(q.activate.as_deref(), Some("target@example.org/bar"));
        let ask = Query::try_from(el("<query xmlns='http://jabber.org/protocol/bytestreams'/>")).unwrap();
        assert_eq!(ask, Query::default());
    }

    #[test]
    fn streamhost_answer_round_trips() {
        let q = Query {
            streamhosts: vec![StreamHost {
                jid: Jid::new("streamer.example.com").unwrap(),
                host: "24.24.24.1".into(),
                port: Some(7625),
            }],
            ..Query::default()
        };
        assert_eq!(
            crate::xml::to_string(&Element::from(q.clone())),
            "<query xmlns='http://jabber.org/protocol/bytestreams'><streamhost host='24.24.24.1' jid='streamer.example.com' port='7625'/></query>"
        );
        assert_eq!(Query::try_from(Element::from(q.clone())).unwrap(), q);
    }

    #[test]
    fn invalid_queries_say_why() {
        let bad_port = invalid::<Query>(
            "<query xmlns='http://jabber.org/protocol/bytestreams'><streamhost jid='a.example' host='h' port='x'/></query>",
        );
        assert!(bad_port.contains("invalid digit"), "{bad_port}");
        let no_jid = invalid::<Query>(
            "<query xmlns='http://jabber.org/protocol/bytestreams'><streamhost host='h' port='1'/></query>",
        );
        assert!(no_jid.contains("jid"), "{no_jid}");
    }
}
