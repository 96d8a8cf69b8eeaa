//! XEP-0215 External Service Discovery payloads. xmpp-parsers' `Service` keeps its fields
//! private, so a server cannot build one; these are the same elements with public fields.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use xso::{AsXml, FromXml};

/// `<services [type]/>`: a request for the services (of one type), and the answer.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::EXTDISCO, name = "services")]
pub struct Services {
    #[xml(attribute(default, name = "type"))]
    pub kind: Option<String>,
    #[xml(child(n = ..))]
    pub services: Vec<Service>,
}

/// `<credentials><service type host/></credentials>`: a request for fresh credentials for
/// the services named, and the answer.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::EXTDISCO, name = "credentials")]
pub struct Credentials {
    #[xml(child(n = ..))]
    pub services: Vec<Service>,
}

/// One external service, with credentials when it is restricted.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::EXTDISCO, name = "service")]
pub struct Service {
    #[xml(attribute(name = "type"))]
    pub kind: String,
    #[xml(attribute)]
    pub host: String,
    #[xml(attribute(default))]
    pub port: Option<u16>,
    #[xml(attribute(default))]
    pub transport: Option<String>,
    #[xml(attribute(default))]
    pub name: Option<String>,
    /// Written as `1` when credentials are needed.
    #[xml(attribute(default))]
    pub restricted: Option<Restricted>,
    #[xml(attribute(default))]
    pub username: Option<String>,
    #[xml(attribute(default))]
    pub password: Option<String>,
    /// XEP-0082 DateTime the credentials stop working.
    #[xml(attribute(default))]
    pub expires: Option<String>,
}

/// `restricted='1'` (XEP-0215 §2: `true` and `1` both mean restricted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Restricted;

impl xso::FromXmlText for Restricted {
    fn from_xml_text(s: String) -> Result<Self, xso::error::Error> {
        match s.as_str() {
            "1" | "true" => Ok(Restricted),
            _ => Err(xso::error::Error::Other("restricted is 1 or true when present")),
        }
    }
}

impl xso::AsXmlText for Restricted {
    fn as_xml_text(&self) -> Result<std::borrow::Cow<'_, str>, xso::error::Error> {
        Ok("1".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn requests_parse() {
        let all = Services::try_from("<services xmlns='urn:xmpp:extdisco:2'/>".parse::<Element>().unwrap()).unwrap();
        assert_eq!(all, Services::default());
        let turn =
            Services::try_from("<services xmlns='urn:xmpp:extdisco:2' type='turn'/>".parse::<Element>().unwrap())
                .unwrap();
        assert_eq!(turn.kind.as_deref(), Some("turn"));
        let creds = Credentials::try_from(
            "<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='turn.example.com'/></credentials>"
                .parse::<Element>()
                .unwrap(),
        )
        .unwrap();
        assert_eq!((creds.services[0].kind.as_str(), creds.services[0].host.as_str()), ("turn", "turn.example.com"));
    }

    #[test]
    fn a_restricted_service_serialises_and_round_trips() {
        let s = Service {
            kind: "turn".into(),
            host: "turn.x".into(),
            port: Some(3478),
            transport: Some("udp".into()),
            restricted: Some(Restricted),
            username: Some("1700000000:a@x".into()),
            password: Some("pw".into()),
            expires: Some("2026-12-07T00:00:00Z".into()),
            ..Default::default()
        };
        let el = Element::from(s.clone());
        assert_eq!((el.attr("restricted"), el.attr("port")), (Some("1"), Some("3478")));
        assert_eq!(Service::try_from(el).unwrap(), s);
    }

    #[test]
    fn invalid_services_say_why() {
        let err = Service::try_from("<service xmlns='urn:xmpp:extdisco:2' host='h'/>".parse::<Element>().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'kind'"), "{err}");
        let err = Service::try_from(
            "<service xmlns='urn:xmpp:extdisco:2' type='stun' host='h' restricted='maybe'/>"
                .parse::<Element>()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("restricted is 1 or true"), "{err}");
    }
}
