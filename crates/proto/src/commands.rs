//! XEP-0050 Ad-Hoc Commands: the `<command/>` a client sends to run one and the server
//! answers with (xmpp-parsers 0.23 has no XEP-0050).

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use std::borrow::Cow;
use xmpp_parsers::data_forms::DataForm;
use xso::error::Error;
use xso::{AsXml, AsXmlText, FromXml, FromXmlText};

/// `<command node sessionid action status/>`, with the actions a client may take next, notes
/// and the command's form.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::COMMANDS, name = "command")]
pub struct Command {
    #[xml(attribute)]
    pub node: String,
    #[xml(attribute(default))]
    pub sessionid: Option<String>,
    /// What the requester does (§4.4: absent means `execute`).
    #[xml(attribute(default))]
    pub action: Option<Action>,
    /// Where the command stands, in an answer.
    #[xml(attribute(default))]
    pub status: Option<Status>,
    #[xml(child(default))]
    pub actions: Option<Actions>,
    #[xml(child(n = ..))]
    pub notes: Vec<Note>,
    #[xml(child(default))]
    pub form: Option<DataForm>,
    /// Payloads of other namespaces beside the form (XEP-0133 §4.9 answers with a roster).
    #[xml(element(n = ..))]
    pub payloads: Vec<minidom::Element>,
}

impl Command {
    /// A finished command's answer, with the form of its result, if it has one.
    pub fn completed(node: &str, sessionid: Option<String>, form: Option<DataForm>) -> Self {
        Self {
            node: node.to_owned(),
            sessionid,
            action: None,
            status: Some(Status::Completed),
            actions: None,
            notes: Vec::new(),
            form,
            payloads: Vec::new(),
        }
    }

    /// The answer of a command waiting for `form`, which the requester may only complete.
    pub fn executing(node: &str, sessionid: String, form: DataForm) -> Self {
        let actions = Actions { execute: Some(Action::Complete), prev: false, next: false, complete: true };
        Self {
            node: node.to_owned(),
            sessionid: Some(sessionid),
            action: None,
            status: Some(Status::Executing),
            actions: Some(actions),
            notes: Vec::new(),
            form: Some(form),
            payloads: Vec::new(),
        }
    }

    /// The requested action: `execute` when none is given.
    pub fn action(&self) -> Action {
        self.action.unwrap_or(Action::Execute)
    }
}

/// §4.4: what a requester asks of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Execute,
    Cancel,
    Prev,
    Next,
    Complete,
}

/// §4.4: where a command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Executing,
    Completed,
    Canceled,
}

/// `<actions execute/>` with the actions allowed at this stage.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::COMMANDS, name = "actions")]
pub struct Actions {
    /// What `execute` means at this stage.
    #[xml(attribute(default))]
    pub execute: Option<Action>,
    #[xml(flag)]
    pub prev: bool,
    #[xml(flag)]
    pub next: bool,
    #[xml(flag)]
    pub complete: bool,
}

/// `<note type/>`: a message for the person running the command.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::COMMANDS, name = "note")]
pub struct Note {
    #[xml(attribute(name = "type", default))]
    pub kind: Option<NoteKind>,
    #[xml(text)]
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    Info,
    Warn,
    Error,
}

/// A text enum written as its lowercase names.
macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }

        impl FromXmlText for $ty {
            fn from_xml_text(s: String) -> Result<Self, Error> {
                match s.as_str() {
                    $($name => Ok(Self::$variant),)*
                    _ => Err(Error::Other(concat!("Unknown value for '", $what, "' attribute."))),
                }
            }
        }

        impl AsXmlText for $ty {
            fn as_xml_text(&self) -> Result<Cow<'_, str>, Error> {
                Ok(Cow::Borrowed(self.as_str()))
            }
        }
    };
}

text_enum!(Action, "action", {
    Execute => "execute",
    Cancel => "cancel",
    Prev => "prev",
    Next => "next",
    Complete => "complete",
});

text_enum!(Status, "status", {
    Executing => "executing",
    Completed => "completed",
    Canceled => "canceled",
});

text_enum!(NoteKind, "type", {
    Info => "info",
    Warn => "warn",
    Error => "error",
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn an_execute_request_parses() {
        let c = Command::try_from(el(
            "<command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#invite' action='execute'/>",
        ))
        .unwrap();
        assert_eq!(c.node, "urn:xmpp:invite#invite");
        assert_eq!(c.action(), Action::Execute);
        assert_eq!((c.sessionid, c.status, c.form), (None, None, None));
        let bare = Command::try_from(el("<command xmlns='http://jabber.org/protocol/commands' node='n'/>")).unwrap();
        assert_eq!(bare.action(), Action::Execute, "§4.4: absent is execute");
    }

    #[test]
    fn a_submitted_form_parses() {
        let c = Command::try_from(el("<command xmlns='http://jabber.org/protocol/commands' node='n' sessionid='s1' \
                action='complete'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>juliet</value>\
                </field></x></command>"))
        .unwrap();
        assert_eq!(c.action(), Action::Complete);
        assert_eq!(c.sessionid.as_deref(), Some("s1"));
        assert_eq!(c.form.unwrap().fields[0].values, vec!["juliet".to_owned()]);
    }

    #[test]
    fn answers_serialise_and_round_trip() {
        let form = DataForm::new(xmpp_parsers::data_forms::DataFormType::Form, "urn:example", vec![]);
        let executing = Command::executing("n", "s1".into(), form);
        let written = Element::from(executing.clone());
        assert_eq!(written.attr("status"), Some("executing"));
        let actions = written.get_child("actions", ns::COMMANDS).unwrap();
        assert_eq!(actions.attr("execute"), Some("complete"));
        assert!(actions.has_child("complete", ns::COMMANDS));
        assert_eq!(Command::try_from(written).unwrap(), executing);

        let mut done = Command::completed("n", None, None);
        done.notes.push(Note { kind: Some(NoteKind::Info), text: "Done".into() });
        let written = Element::from(done.clone());
        assert_eq!(written.attr("status"), Some("completed"));
        assert_eq!(written.get_child("note", ns::COMMANDS).unwrap().attr("type"), Some("info"));
        assert_eq!(Command::try_from(written).unwrap(), done);
    }

    #[test]
    fn other_payloads_ride_beside_the_form() {
        let c = Command::try_from(el("<command xmlns='http://jabber.org/protocol/commands' node='n' status='completed'>\
            <x xmlns='jabber:x:data' type='result'/><query xmlns='jabber:iq:roster'><item jid='a@x'/></query></command>"))
        .unwrap();
        assert!(c.form.is_some(), "the form is the form");
        assert_eq!(c.payloads.len(), 1);
        assert!(c.payloads[0].is("query", "jabber:iq:roster"));
        let written = Element::from(c.clone());
        assert!(written.has_child("query", "jabber:iq:roster") && written.has_child("x", "jabber:x:data"));
        assert_eq!(Command::try_from(written).unwrap(), c);
    }

    #[test]
    fn invalid_commands_say_why() {
        assert_eq!(
            invalid::<Command>("<command xmlns='http://jabber.org/protocol/commands'/>"),
            "Required attribute field 'node' on Command element missing."
        );
        assert_eq!(
            invalid::<Command>("<command xmlns='http://jabber.org/protocol/commands' node='n' action='run'/>"),
            "Unknown value for 'action' attribute."
        );
        assert_eq!(
            invalid::<Command>("<command xmlns='http://jabber.org/protocol/commands' node='n' status='done'/>"),
            "Unknown value for 'status' attribute."
        );
        assert_eq!(
            invalid::<Command>(
                "<command xmlns='http://jabber.org/protocol/commands' node='n'><note type='loud'>x</note></command>"
            ),
            "Unknown value for 'type' attribute."
        );
    }
}
