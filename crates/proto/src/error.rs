//! RFC 6120 §8.3 stanza errors and §4.9 stream errors, as values.

use crate::{ns, xml};
use minidom::Element;

/// The `type` attribute of a stanza `<error/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Cancel => "cancel",
            Self::Continue => "continue",
            Self::Modify => "modify",
            Self::Wait => "wait",
        }
    }
}

/// A stanza error: a defined condition (RFC 6120 §8.3.3), its type and an optional text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub kind: ErrorType,
    pub condition: &'static str,
    pub text: Option<String>,
    /// An application-specific condition (RFC 6120 §8.3.3 last paragraph), e.g. XEP-0191's `<blocked/>`.
    pub app: Option<Box<Element>>,
}

macro_rules! conditions {
    ($($fn_name:ident => ($kind:ident, $cond:literal)),* $(,)?) => {
        impl StanzaError {
            $(
                #[doc = concat!("`<", $cond, "/>` with its usual type.")]
                pub fn $fn_name() -> Self {
                    Self { kind: ErrorType::$kind, condition: $cond, text: None, app: None }
                }
            )*

            /// The condition called `name`, with its usual type.
            fn by_name(name: &str) -> Option<Self> {
                match name {
                    $($cond => Some(Self::$fn_name()),)*
                    _ => None,
                }
            }
        }
    };
}

conditions! {
    bad_request => (Modify, "bad-request"),
    conflict => (Cancel, "conflict"),
    feature_not_implemented => (Cancel, "feature-not-implemented"),
    forbidden => (Auth, "forbidden"),
    internal_server_error => (Cancel, "internal-server-error"),
    item_not_found => (Cancel, "item-not-found"),
    jid_malformed => (Modify, "jid-malformed"),
    not_acceptable => (Modify, "not-acceptable"),
    not_allowed => (Cancel, "not-allowed"),
    not_authorized => (Auth, "not-authorized"),
    policy_violation => (Modify, "policy-violation"),
    recipient_unavailable => (Wait, "recipient-unavailable"),
    registration_required => (Auth, "registration-required"),
    remote_server_not_found => (Cancel, "remote-server-not-found"),
    remote_server_timeout => (Wait, "remote-server-timeout"),
    resource_constraint => (Wait, "resource-constraint"),
    service_unavailable => (Cancel, "service-unavailable"),
    undefined_condition => (Cancel, "undefined-condition"),
    unexpected_request => (Wait, "unexpected-request"),
}

impl StanzaError {
    /// The error an error stanza carries (to pass on an answer received for someone else);
    /// `undefined-condition` when it names none we know.
    pub fn from_reply(reply: &Element) -> Self {
        let error =
            reply.get_child("error", crate::ns::CLIENT).or_else(|| reply.children().find(|c| c.name() == "error"));
        let Some(error) = error else { return Self::undefined_condition() };
        let mut err = error
            .children()
            .filter(|c| c.ns() == crate::ns::STANZAS)
            .find_map(|c| Self::by_name(c.name()))
            .unwrap_or_else(Self::undefined_condition);
        err.text = error.children().find(|c| c.is("text", crate::ns::STANZAS)).map(Element::text);
        err
    }

    /// What an IQ without an `id` gets: `bad-request`, since no answer to it could say what
    /// it answers (RFC 6120 §8.1.3, §8.2.3).
    pub fn iq_without_id() -> Self {
        Self::bad_request().with_text("an IQ needs an id")
    }

    /// Adds a human-readable explanation.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds an application-specific condition element.
    pub fn with_app(mut self, app: Element) -> Self {
        self.app = Some(Box::new(app));
        self
    }

    /// The `<error/>` child element.
    pub fn to_element(&self) -> Element {
        let mut err = xml::with_attr(Element::bare("error", ns::CLIENT), "type", self.kind.as_str());
        err.append_child(Element::bare(self.condition, ns::STANZAS));
        if let Some(text) = &self.text {
            err.append_child(xml::text_el("text", ns::STANZAS, text.clone()));
        }
        if let Some(app) = &self.app {
            err.append_child((**app).clone());
        }
        err
    }

    /// The error reply to `req` (RFC 6120 §8.3.1): addresses swapped, `type='error'`, and for
    /// IQs the original payload so the requester can tell which request failed.
    pub fn reply_to(&self, req: &Element) -> Element {
        let mut reply = xml::reply_shell(req, "error");
        if req.name() == "iq" {
            if let Some(payload) = req.children().next() {
                reply.append_child(payload.clone());
            }
        } else {
            for child in req.children() {
                reply.append_child(child.clone());
            }
        }
        reply.append_child(self.to_element());
        reply
    }
}

impl std::fmt::Display for StanzaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.condition, self.kind.as_str())?;
        if let Some(t) = &self.text {
            write!(f, ": {t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StanzaError {}

/// Stream error conditions (RFC 6120 §4.9.3) that Rhein sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamErrorCondition {
    BadFormat,
    Conflict,
    ConnectionTimeout,
    HostGone,
    HostUnknown,
    ImproperAddressing,
    InternalServerError,
    InvalidFrom,
    InvalidNamespace,
    InvalidXml,
    NotAuthorized,
    NotWellFormed,
    PolicyViolation,
    RemoteConnectionFailed,
    ResourceConstraint,
    RestrictedXml,
    SystemShutdown,
    UndefinedCondition,
    UnsupportedEncoding,
    UnsupportedStanzaType,
    UnsupportedVersion,
}

impl StreamErrorCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFormat => "bad-format",
            Self::Conflict => "conflict",
            Self::ConnectionTimeout => "connection-timeout",
            Self::HostGone => "host-gone",
            Self::HostUnknown => "host-unknown",
            Self::ImproperAddressing => "improper-addressing",
            Self::InternalServerError => "internal-server-error",
            Self::InvalidFrom => "invalid-from",
            Self::InvalidNamespace => "invalid-namespace",
            Self::InvalidXml => "invalid-xml",
            Self::NotAuthorized => "not-authorized",
            Self::NotWellFormed => "not-well-formed",
            Self::PolicyViolation => "policy-violation",
            Self::RemoteConnectionFailed => "remote-connection-failed",
            Self::ResourceConstraint => "resource-constraint",
            Self::RestrictedXml => "restricted-xml",
            Self::SystemShutdown => "system-shutdown",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::UnsupportedStanzaType => "unsupported-stanza-type",
            Self::UnsupportedVersion => "unsupported-version",
        }
    }

    /// `<stream:error>` serialised with the `stream` prefix the stream header declared.
    pub fn to_wire(self, text: Option<&str>) -> String {
        let text = text.map(|t| format!("<text xmlns='{}'>{}</text>", ns::STREAMS, xml::escape(t))).unwrap_or_default();
        format!("<stream:error><{} xmlns='{}'/>{text}</stream:error>", self.as_str(), ns::STREAMS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iq_error_reply_carries_condition_and_payload() {
        let req: Element =
            "<iq xmlns='jabber:client' id='q' from='a@x/r' type='get'><query xmlns='urn:x'/></iq>".parse().unwrap();
        let reply = StanzaError::service_unavailable().reply_to(&req);
        assert_eq!(reply.attr("type"), Some("error"));
        assert!(reply.get_child("query", "urn:x").is_some());
        let err = reply.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(err.attr("type"), Some("cancel"));
        assert!(err.get_child("service-unavailable", ns::STANZAS).is_some());
    }
}
