//! What a client sends to log in, as a server reads it: RFC 6120 `<auth/>`, and XEP-0388
//! `<authenticate/>` with what may ride along (XEP-0386 Bind2, XEP-0198 resumption, XEP-0484
//! FAST). xmpp-parsers' `Auth` knows only the mechanisms it lists and decodes the response
//! itself (here an unknown mechanism is answered `invalid-mechanism`, and `=` is an empty
//! response); its `Authenticate` requires a `<user-agent/>` with a UUID id, which clients
//! leave out or spell otherwise; its Bind2 request refuses a second `<tag/>`. Responses stay
//! base64 text: the SASL layer decodes them and says what is wrong.
//!
//! XEP-0480 upgrade tasks ride on SASL2's tasks: `<continue/>` (xmpp-parsers' requires
//! `<additional-data/>`, which only the first one after a mechanism has), `<next/>` and
//! `<task-data/>` (here with their task attribute and payloads as written, so a client that
//! gets them wrong is told so in a SASL failure), and the SCRAM task's `<salt/>` and `<hash/>`.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use minidom::Element;
use xso::{AsXml, FromXml};

/// RFC 6120 §6.4.2 `<auth mechanism>initial response</auth>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL, name = "auth")]
pub struct Auth {
    /// Empty when absent: answered as an unknown mechanism.
    #[xml(attribute(default))]
    pub mechanism: String,
    /// Base64; empty for none, `=` for an empty one.
    #[xml(text)]
    pub initial_response: String,
}

/// XEP-0388 `<authenticate/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL2, name = "authenticate")]
pub struct Authenticate {
    /// Empty when absent: answered as an unknown mechanism.
    #[xml(attribute(default))]
    pub mechanism: String,
    /// Base64, as in `<auth/>`.
    #[xml(extract(default, name = "initial-response", fields(text(type_ = String))))]
    pub initial_response: Option<String>,
    #[xml(child(default))]
    pub user_agent: Option<UserAgent>,
    /// XEP-0386: bind a resource in the same round trip.
    #[xml(child(default))]
    pub bind: Option<Bind>,
    /// XEP-0198 resumption instead of binding.
    #[xml(child(default))]
    pub resume: Option<Resume>,
    /// XEP-0484 §3.3: a token for the next login, please.
    #[xml(child(default))]
    pub request_token: Option<RequestToken>,
    /// XEP-0484 §3.4: this login uses a token.
    #[xml(child(default))]
    pub fast: Option<Fast>,
    /// XEP-0480: the upgrade tasks the client asks for, by name.
    #[xml(extract(n = .., namespace = ns::SASL_UPGRADE, name = "upgrade", fields(text(type_ = String))))]
    pub upgrades: Vec<String>,
}

/// XEP-0480 `<upgrade/>` in the SASL2 `<authentication/>` feature: a task the server offers.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL_UPGRADE, name = "upgrade")]
pub struct UpgradeTask {
    #[xml(text)]
    pub name: String,
}

/// XEP-0388 §2.6.3 `<continue/>`: authenticated, but tasks remain.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL2, name = "continue")]
pub struct Continue {
    /// Base64 of the mechanism's final data (the first `<continue/>` after it only).
    #[xml(extract(default, name = "additional-data", fields(text(type_ = String))))]
    pub additional_data: Option<String>,
    #[xml(extract(name = "tasks", fields(extract(n = .., name = "task", fields(text(type_ = String))))))]
    pub tasks: Vec<String>,
    #[xml(extract(default, name = "text", fields(text(type_ = String))))]
    pub text: Option<String>,
}

/// XEP-0388 `<next task/>`: the task the client takes up.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL2, name = "next")]
pub struct Next {
    /// Empty when absent: answered as a task that was not offered.
    #[xml(attribute(default))]
    pub task: String,
    #[xml(element(n = ..))]
    pub payloads: Vec<Element>,
}

/// XEP-0388 `<task-data/>`: one message of a task, its payloads in the task's namespace.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL2, name = "task-data")]
pub struct TaskData {
    #[xml(element(n = ..))]
    pub payloads: Vec<Element>,
}

/// XEP-0480 §3 `<salt iterations/>`: what the client needs for the SaltedPassword.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SCRAM_UPGRADE, name = "salt")]
pub struct ScramSalt {
    #[xml(attribute)]
    pub iterations: u32,
    /// Base64.
    #[xml(text)]
    pub salt: String,
}

/// XEP-0480 §3 `<hash/>`: the client's SaltedPassword, base64 as written (the SASL layer
/// decodes it and says what is wrong).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SCRAM_UPGRADE, name = "hash")]
pub struct SaltedPassword {
    #[xml(text)]
    pub hash: String,
}

/// XEP-0388 §2.3: who is logging in; FAST tokens are bound to its `id`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SASL2, name = "user-agent")]
pub struct UserAgent {
    #[xml(attribute(default))]
    pub id: Option<String>,
    #[xml(extract(default, name = "software", fields(text(type_ = String))))]
    pub software: Option<String>,
    #[xml(extract(default, name = "device", fields(text(type_ = String))))]
    pub device: Option<String>,
}

/// XEP-0386 `<bind/>`: the client's tag for its resource and the features to enable inline,
/// each in the namespace of the feature (read by whoever enables it).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::BIND2, name = "bind")]
pub struct Bind {
    /// The first one counts.
    #[xml(extract(n = .., name = "tag", fields(text(type_ = String))))]
    pub tags: Vec<String>,
    #[xml(element(n = ..))]
    pub inline: Vec<Element>,
}

/// XEP-0198 `<resume/>`, its attributes as written: a missing or bad `h` is `bad-request`
/// and a missing `previd` an unknown session, which the stream says.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::SM, name = "resume")]
pub struct Resume {
    #[xml(attribute(default))]
    pub previd: Option<String>,
    #[xml(attribute(default))]
    pub h: Option<String>,
}

/// XEP-0484 `<request-token mechanism/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::FAST, name = "request-token")]
pub struct RequestToken {
    #[xml(attribute(default))]
    pub mechanism: Option<String>,
}

/// XEP-0484 `<fast count invalidate/>`, as written (the login says what is wrong with them).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::FAST, name = "fast")]
pub struct Fast {
    #[xml(attribute(default))]
    pub count: Option<String>,
    #[xml(attribute(default))]
    pub invalidate: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};

    #[test]
    fn a_full_sasl2_login_reads_with_everything_riding_along() {
        let a = Authenticate::try_from(el("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-EXPR'>\
             <initial-response>dXNlcgA=</initial-response>\
             <user-agent id='d4565fa7'><software>Test</software><device>Phone</device></user-agent>\
             <bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><tag>Second</tag><enable xmlns='urn:xmpp:carbons:2'/></bind>\
             <request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/>\
             <fast xmlns='urn:xmpp:fast:0' count='3' invalidate='true'/></authenticate>"))
        .unwrap();
        assert_eq!((a.mechanism.as_str(), a.initial_response.as_deref()), ("HT-SHA-256-EXPR", Some("dXNlcgA=")));
        let ua = a.user_agent.as_ref().unwrap();
        assert_eq!(
            (ua.id.as_deref(), ua.software.as_deref(), ua.device.as_deref()),
            (Some("d4565fa7"), Some("Test"), Some("Phone"))
        );
        let bind = a.bind.as_ref().unwrap();
        assert_eq!(bind.tags, ["Phone", "Second"]);
        assert_eq!(bind.inline.len(), 1);
        assert!(bind.inline[0].is("enable", "urn:xmpp:carbons:2"));
        assert_eq!(a.request_token.as_ref().unwrap().mechanism.as_deref(), Some("HT-SHA-256-EXPR"));
        let fast = a.fast.as_ref().unwrap();
        assert_eq!((fast.count.as_deref(), fast.invalidate.as_deref()), (Some("3"), Some("true")));
        assert_eq!(Authenticate::try_from(Element::from(a.clone())).unwrap(), a);
    }

    #[test]
    fn upgrade_tasks_read_as_the_xep_writes_them() {
        // XEP-0480 §3's example.
        let a = Authenticate::try_from(el("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1-PLUS'>\
             <upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade>\
             <upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-512</upgrade>\
             <initial-response>cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPTEyQzRDRDVDLUUzOEUtNEE5OC04RjZELTE1QzM4RjUxQ0NDNg==</initial-response>\
             </authenticate>"))
        .unwrap();
        assert_eq!(a.upgrades, ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"]);
        let c = Continue {
            additional_data: Some("dj1tc1ZIcy9CeklPSERxWGVWSDdFbW1EdTlpZDg9".into()),
            tasks: vec!["UPGR-SCRAM-SHA-256".into()],
            text: None,
        };
        let written = String::from(&Element::from(c.clone()));
        assert_eq!(
            written,
            "<continue xmlns='urn:xmpp:sasl:2'><additional-data>dj1tc1ZIcy9CeklPSERxWGVWSDdFbW1EdTlpZDg9</additional-data>\
             <tasks><task>UPGR-SCRAM-SHA-256</task></tasks></continue>"
        );
        assert_eq!(Continue::try_from(el(&written)).unwrap(), c);
        let next = Next::try_from(el("<next xmlns='urn:xmpp:sasl:2' task='UPGR-SCRAM-SHA-256'/>")).unwrap();
        assert_eq!((next.task.as_str(), next.payloads.len()), ("UPGR-SCRAM-SHA-256", 0));
        let salt = ScramSalt { iterations: 4096, salt: "QV9TWENSWFE2c2VrOGJmX1o=".into() };
        let data = TaskData { payloads: vec![salt.clone().into()] };
        assert_eq!(
            String::from(&Element::from(data)),
            "<task-data xmlns='urn:xmpp:sasl:2'><salt xmlns='urn:xmpp:scram-upgrade:0' iterations='4096'>QV9TWENSWFE2c2VrOGJmX1o=</salt></task-data>"
        );
        let answer =
            TaskData::try_from(el("<task-data xmlns='urn:xmpp:sasl:2'><hash xmlns='urn:xmpp:scram-upgrade:0'>\n\
             BzOnw3Pc5H4bOLlPZ/8JAy6wnTpH05aH21KW2+Xfpaw=\n</hash></task-data>"))
            .unwrap();
        let hash = SaltedPassword::try_from(answer.payloads[0].clone()).unwrap();
        assert_eq!(hash.hash.trim(), "BzOnw3Pc5H4bOLlPZ/8JAy6wnTpH05aH21KW2+Xfpaw=");
    }

    #[test]
    fn upgrade_payloads_that_do_not_read_are_refused_with_the_reason() {
        let errs = [
            invalid::<Continue>("<continue xmlns='urn:xmpp:sasl:2'/>"),
            invalid::<ScramSalt>("<salt xmlns='urn:xmpp:scram-upgrade:0'>QUFB</salt>"),
            invalid::<ScramSalt>("<salt xmlns='urn:xmpp:scram-upgrade:0' iterations='many'>QUFB</salt>"),
        ];
        assert_eq!(
            errs,
            [
                "Missing child field 'tasks' in Continue element.",
                "Required attribute field 'iterations' on ScramSalt element missing.",
                "text parse error: invalid digit found in string",
            ]
        );
    }

    #[test]
    fn a_bare_login_reads_with_nothing_else() {
        let a = Authenticate::try_from(el("<authenticate xmlns='urn:xmpp:sasl:2'/>")).unwrap();
        assert_eq!(a, Authenticate::default());
        let r = Resume::try_from(el("<resume xmlns='urn:xmpp:sm:3' previd='x'/>")).unwrap();
        assert_eq!((r.previd.as_deref(), r.h), (Some("x"), None));
    }

    #[test]
    fn a_legacy_auth_keeps_its_response_as_written() {
        let a = Auth::try_from(el("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-UNKNOWN'>=</auth>"))
            .unwrap();
        assert_eq!((a.mechanism.as_str(), a.initial_response.as_str()), ("X-UNKNOWN", "="));
        let none = Auth::try_from(el("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>")).unwrap();
        assert_eq!(none.initial_response, "");
        assert_eq!(Auth::try_from(Element::from(a.clone())).unwrap(), a);
    }

    #[test]
    fn two_of_what_comes_once_are_refused_with_the_reason() {
        let err = invalid::<Authenticate>(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent/><user-agent/></authenticate>",
        );
        assert_eq!(err, "Authenticate element must not have more than one child in field 'user_agent'.");
    }
}
