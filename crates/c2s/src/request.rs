//! What a client asks for while negotiating, read once from each top-level element, and the
//! rules of which phase allows what (RFC 6120 §4.3, §6.4, §7; XEP-0198): negotiation reads a
//! request, checks it here, then runs the one handler of what was allowed.

use crate::auth::Profile;
use rhein_proto::{Element, StreamErrorCondition as Cond, ns, sasl};

/// Where negotiation stands.
pub(crate) enum Phase {
    /// Before SASL (plaintext or secured).
    Unauthenticated { failures: u32 },
    /// SASL succeeded for this local part; binding is next.
    Authenticated { localpart: String },
}

/// The stream's TLS, as far as authentication cares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tls {
    /// STARTTLS is offered and not done yet.
    pub pending: bool,
    /// SASL waits for STARTTLS (RFC 7590).
    pub required: bool,
}

/// One negotiation element, read.
#[derive(Debug, PartialEq)]
pub(crate) enum Request {
    /// `<starttls/>` (RFC 6120 §5.4.2): it has no content to read.
    StartTls,
    /// `<auth/>` (RFC 6120 §6.4.2) or XEP-0388 `<authenticate/>`.
    Login(Login),
    /// A login element that does not read (two `<user-agent/>`s, say): why.
    UnreadableLogin(Profile, String),
    /// XEP-0198 `<resume/>`.
    Resume(Resume),
    /// XEP-0198 `<enable/>`: its attributes matter only to a bound stream.
    Enable,
    /// An IQ without an id (RFC 6120 §8.1.3).
    IqWithoutId(Element),
    /// RFC 3921 session establishment, a no-op (the IQ, to answer).
    Session(Element),
    /// RFC 6120 §7 resource binding: the IQ to answer, and the resource asked for (none when
    /// absent or blank).
    Bind { iq: Element, resource: Option<String> },
    /// Any other IQ: before authentication, for the modules that answer some there
    /// (XEP-0077 registration); after it, too early.
    Iq(Element),
    /// Anything else: a stanza, a nonza of another protocol.
    Other,
}

/// A login, in either SASL profile (`rhein_proto::sasl` says why these are Rhein's types).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Login {
    Legacy(sasl::Auth),
    /// With what rides along: Bind2, resumption, FAST.
    Sasl2(Box<sasl::Authenticate>),
}

impl Login {
    pub(crate) fn profile(&self) -> Profile {
        match self {
            Self::Legacy(_) => Profile::Legacy,
            Self::Sasl2(_) => Profile::Sasl2,
        }
    }

    pub(crate) fn mechanism(&self) -> &str {
        match self {
            Self::Legacy(auth) => &auth.mechanism,
            Self::Sasl2(auth) => &auth.mechanism,
        }
    }

    /// The initial response as written (base64, `=` for an empty one); empty for none.
    pub(crate) fn initial_response(&self) -> &str {
        match self {
            Self::Legacy(auth) => &auth.initial_response,
            Self::Sasl2(auth) => auth.initial_response.as_deref().unwrap_or_default(),
        }
    }
}

/// XEP-0198 `<resume/>`: xmpp-parsers' `Resume` needs both attributes, where a missing or
/// bad `h` is `bad-request` and a missing `previd` an unknown session (`item-not-found`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resume {
    pub previd: Option<String>,
    pub h: Option<u32>,
}

impl From<sasl::Resume> for Resume {
    fn from(r: sasl::Resume) -> Self {
        Self { previd: r.previd, h: r.h.and_then(|h| h.parse().ok()) }
    }
}

impl Request {
    pub(crate) fn parse(el: Element) -> Self {
        if el.is("starttls", ns::TLS) {
            Self::StartTls
        } else if el.is("auth", ns::SASL) {
            match sasl::Auth::try_from(el) {
                Ok(auth) => Self::Login(Login::Legacy(auth)),
                Err(e) => Self::UnreadableLogin(Profile::Legacy, e.to_string()),
            }
        } else if el.is("authenticate", ns::SASL2) {
            match sasl::Authenticate::try_from(el) {
                Ok(auth) => Self::Login(Login::Sasl2(Box::new(auth))),
                Err(e) => Self::UnreadableLogin(Profile::Sasl2, e.to_string()),
            }
        } else if el.is("resume", ns::SM) {
            Self::Resume(sasl::Resume::try_from(el).map(Resume::from).unwrap_or(Resume { previd: None, h: None }))
        } else if el.is("enable", ns::SM) {
            Self::Enable
        } else if el.is("iq", ns::CLIENT) {
            Self::iq(el)
        } else {
            Self::Other
        }
    }

    /// An IQ before binding: only session establishment and binding are asked for then.
    fn iq(iq: Element) -> Self {
        if iq.attr("id").is_none() {
            return Self::IqWithoutId(iq);
        }
        if iq.get_child("session", ns::SESSION).is_some() {
            return Self::Session(iq);
        }
        let Some(bind) = iq.get_child("bind", ns::BIND).filter(|_| iq.attr("type") == Some("set")) else {
            return Self::Iq(iq);
        };
        // Read here, not with xmpp-parsers' `BindQuery`, which refuses a second `<resource/>`
        // where the first one is taken.
        let resource = bind.get_child("resource", ns::BIND).map(Element::text).filter(|r| !r.trim().is_empty());
        Self::Bind { iq, resource }
    }

    /// What this request may do in `phase`, or how it is refused.
    pub(crate) fn check(self, phase: &Phase, tls: Tls) -> Result<Action, Refusal> {
        use Request as R;
        match (phase, self) {
            (Phase::Unauthenticated { .. }, R::StartTls) if tls.pending => Ok(Action::StartTls),
            (Phase::Unauthenticated { .. }, R::Login(_) | R::UnreadableLogin(..)) if tls.pending && tls.required => {
                Err(Refusal::Stream(Cond::PolicyViolation, Some(TLS_FIRST)))
            }
            (Phase::Unauthenticated { .. }, R::Login(login)) => Ok(Action::Authenticate(login)),
            (Phase::Unauthenticated { .. }, R::UnreadableLogin(profile, why)) => Ok(Action::RefuseLogin(profile, why)),
            // A registration carries a password: never before STARTTLS where TLS is required.
            (Phase::Unauthenticated { .. }, R::Iq(_)) if tls.pending && tls.required => {
                Err(Refusal::Stream(Cond::PolicyViolation, Some(TLS_FIRST)))
            }
            (Phase::Unauthenticated { .. }, R::Iq(iq)) => Ok(Action::PreAuthIq(iq)),
            // RFC 6120 §6.4: nothing else is allowed before authentication.
            (Phase::Unauthenticated { .. }, _) => Err(Refusal::Stream(Cond::NotAuthorized, None)),
            (Phase::Authenticated { localpart }, R::Resume(resume)) => {
                Ok(Action::Resume { localpart: localpart.clone(), resume })
            }
            // XEP-0198 §3: stream management is enabled once bound.
            (Phase::Authenticated { .. }, R::Enable) => Err(Refusal::SmFailed("unexpected-request")),
            (Phase::Authenticated { .. }, R::IqWithoutId(iq)) => Err(Refusal::IqWithoutId(iq)),
            (Phase::Authenticated { .. }, R::Session(iq)) => Ok(Action::Session(iq)),
            (Phase::Authenticated { localpart }, R::Bind { iq, resource }) => {
                Ok(Action::Bind { localpart: localpart.clone(), iq, resource })
            }
            (Phase::Authenticated { .. }, R::StartTls | R::Login(_) | R::UnreadableLogin(..) | R::Iq(_) | R::Other) => {
                Err(Refusal::Stream(Cond::NotAuthorized, Some(BIND_FIRST)))
            }
        }
    }
}

/// An allowed request, with what its handler needs of the phase.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    StartTls,
    /// A SASL exchange in either profile, beginning with this login.
    Authenticate(Login),
    /// A login that does not read: a failed attempt, saying why.
    RefuseLogin(Profile, String),
    Resume {
        localpart: String,
        resume: Resume,
    },
    Session(Element),
    Bind {
        localpart: String,
        iq: Element,
        resource: Option<String>,
    },
    /// An IQ before authentication, for a module to answer if one does.
    PreAuthIq(Element),
}

/// How a request the phase does not allow is answered.
#[derive(Debug, PartialEq)]
pub(crate) enum Refusal {
    /// The stream ends with this error (RFC 6120 §4.9).
    Stream(Cond, Option<&'static str>),
    /// XEP-0198 `<failed/>` with this condition; negotiation goes on.
    SmFailed(&'static str),
    /// `bad-request` to this IQ; negotiation goes on.
    IqWithoutId(Element),
}

const TLS_FIRST: &str = "STARTTLS is required before authentication";
const BIND_FIRST: &str = "bind a resource first";

#[cfg(test)]
mod tests {
    use super::*;

    fn req(xml: &str) -> Request {
        Request::parse(xml.parse().unwrap())
    }

    const BEFORE: Phase = Phase::Unauthenticated { failures: 0 };
    const SECURE: Tls = Tls { pending: false, required: true };
    const PLAIN: Tls = Tls { pending: true, required: true };

    fn after() -> Phase {
        Phase::Authenticated { localpart: "alice".into() }
    }

    #[test]
    fn elements_read_into_requests() {
        assert_eq!(req("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), Request::StartTls);
        assert!(matches!(
            req("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>"),
            Request::Login(Login::Legacy(_))
        ));
        assert!(matches!(
            req("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'/>"),
            Request::Login(Login::Sasl2(_))
        ));
        let twice = "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent/><user-agent/></authenticate>";
        assert!(matches!(req(twice), Request::UnreadableLogin(Profile::Sasl2, _)));
        assert_eq!(
            req("<resume xmlns='urn:xmpp:sm:3' previd='x' h='3'/>"),
            Request::Resume(Resume { previd: Some("x".into()), h: Some(3) })
        );
        assert_eq!(req("<resume xmlns='urn:xmpp:sm:3' h='-1'/>"), Request::Resume(Resume { previd: None, h: None }));
        assert_eq!(req("<enable xmlns='urn:xmpp:sm:3' resume='maybe'/>"), Request::Enable);
        assert_eq!(req("<message xmlns='jabber:client'/>"), Request::Other);
        assert_eq!(req("<iq xmlns='jabber:server' type='set' id='1'/>"), Request::Other);
    }

    #[test]
    fn iqs_read_into_session_and_bind() {
        assert!(matches!(req("<iq xmlns='jabber:client' type='set'/>"), Request::IqWithoutId(_)));
        let session = "<iq xmlns='jabber:client' type='get' id='s'>\
            <session xmlns='urn:ietf:params:xml:ns:xmpp-session'/><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
        assert!(matches!(req(session), Request::Session(_)), "any type, and before binding");
        let bind = |inner: &str| {
            let xml = format!(
                "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{inner}</bind></iq>"
            );
            match req(&xml) {
                Request::Bind { resource, .. } => resource,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(bind("<resource>phone</resource>"), Some("phone".into()));
        assert_eq!(bind("<resource> </resource>"), None, "blank");
        assert_eq!(bind("<resource/>"), None);
        assert_eq!(bind(""), None);
        assert_eq!(bind("<resource>a<x/>b</resource><other xmlns='x'/>"), Some("ab".into()));
        assert_eq!(bind("<resource>first</resource><resource>second</resource>"), Some("first".into()));
        let get = "<iq xmlns='jabber:client' type='get' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
        assert!(matches!(req(get), Request::Iq(_)), "any other IQ, for modules to answer before authentication");
    }

    #[test]
    fn before_authentication_only_tls_and_sasl() {
        let check = |xml: &str, tls| req(xml).check(&BEFORE, tls);
        let starttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        let auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>";
        let sasl2 = "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'/>";
        assert_eq!(check(starttls, PLAIN), Ok(Action::StartTls));
        assert_eq!(check(starttls, SECURE), Err(Refusal::Stream(Cond::NotAuthorized, None)), "TLS is on already");
        for sasl in [auth, sasl2] {
            assert_eq!(check(sasl, PLAIN), Err(Refusal::Stream(Cond::PolicyViolation, Some(TLS_FIRST))));
            assert!(matches!(check(sasl, SECURE), Ok(Action::Authenticate(..))));
            assert!(matches!(check(sasl, Tls { pending: true, required: false }), Ok(Action::Authenticate(..))));
        }
        for other in [
            "<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>",
            "<enable xmlns='urn:xmpp:sm:3'/>",
            "<iq xmlns='jabber:client' type='set'/>",
            "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
            "<message xmlns='jabber:client'/>",
        ] {
            assert_eq!(check(other, SECURE), Err(Refusal::Stream(Cond::NotAuthorized, None)), "{other}");
        }
        // Registration (XEP-0077) is for modules to answer, but never before required TLS.
        let register = "<iq xmlns='jabber:client' type='get' id='r'><query xmlns='jabber:iq:register'/></iq>";
        assert!(matches!(check(register, SECURE), Ok(Action::PreAuthIq(_))));
        assert_eq!(check(register, PLAIN), Err(Refusal::Stream(Cond::PolicyViolation, Some(TLS_FIRST))));
    }

    #[test]
    fn after_authentication_only_binding_and_resumption() {
        let check = |xml: &str| req(xml).check(&after(), SECURE);
        assert!(matches!(check("<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>"), Ok(Action::Resume { .. })));
        assert_eq!(check("<enable xmlns='urn:xmpp:sm:3'/>"), Err(Refusal::SmFailed("unexpected-request")));
        assert!(matches!(check("<iq xmlns='jabber:client' type='set'/>"), Err(Refusal::IqWithoutId(_))));
        let session =
            "<iq xmlns='jabber:client' type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>";
        assert!(matches!(check(session), Ok(Action::Session(_))));
        let bind = "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
        assert!(matches!(check(bind), Ok(Action::Bind { localpart, .. }) if localpart == "alice"));
        for other in [
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>",
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'/>",
            "<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
            "<presence xmlns='jabber:client'/>",
        ] {
            assert_eq!(check(other), Err(Refusal::Stream(Cond::NotAuthorized, Some(BIND_FIRST))), "{other}");
        }
    }
}
