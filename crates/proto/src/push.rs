//! XEP-0357 registrations as a server reads them. xmpp-parsers' `Enable` takes only a bare
//! app-server JID and drops `<include-body/>`, Rhein's opt-in to message bodies in pushes.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use jid::Jid;
use xmpp_parsers::data_forms::DataForm;
use xso::{AsXml, FromXml};

/// `<enable jid node/>`: push to this app server's node, with optional publish options.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUSH, name = "enable")]
pub struct Enable {
    #[xml(attribute)]
    pub jid: Jid,
    #[xml(attribute)]
    pub node: String,
    /// Publish options, passed on with every push.
    #[xml(child(default))]
    pub options: Option<DataForm>,
    /// This client wants message bodies in its pushes.
    #[xml(child(default))]
    pub include_body: Option<IncludeBody>,
}

/// `<include-body xmlns='https://rhein.chat/protocol/push:0'/>`.
#[derive(FromXml, AsXml, Debug, Clone, Copy, PartialEq, Default)]
#[xml(namespace = ns::PUSH_BODY, name = "include-body")]
pub struct IncludeBody;

/// `<disable jid [node]/>`: stop pushing to that node, or to every node of the app server.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUSH, name = "disable")]
pub struct Disable {
    #[xml(attribute)]
    pub jid: Jid,
    #[xml(attribute(default))]
    pub node: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn enable_reads_the_xep_example_and_the_body_opt_in() {
        let e = Enable::try_from(el("<enable xmlns='urn:xmpp:push:0' jid='push-5.client.example/app' node='yxs32uqsflafdk3iuqo'>\
             <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='secret'><value>eruio234vzxc2kla-91</value></field></x>\
             <include-body xmlns='https://rhein.chat/protocol/push:0'/></enable>"))
        .unwrap();
        assert_eq!((e.jid.as_str(), e.node.as_str()), ("push-5.client.example/app", "yxs32uqsflafdk3iuqo"));
        let options = e.options.as_ref().unwrap();
        assert_eq!(options.form_type(), Some("http://jabber.org/protocol/pubsub#publish-options"));
        assert_eq!(options.fields[1].values, ["eruio234vzxc2kla-91"]);
        assert_eq!(e.include_body, Some(IncludeBody));
    }

    #[test]
    fn enable_round_trips() {
        let e = Enable {
            jid: Jid::new("push.x").unwrap(),
            node: "n".into(),
            options: None,
            include_body: Some(IncludeBody),
        };
        assert_eq!(Enable::try_from(Element::from(e.clone())).unwrap(), e);
        let d = Disable { jid: Jid::new("push.x").unwrap(), node: None };
        assert_eq!(crate::xml::to_string(&Element::from(d.clone())), "<disable xmlns='urn:xmpp:push:0' jid='push.x'/>");
        assert_eq!(Disable::try_from(Element::from(d.clone())).unwrap(), d);
    }

    #[test]
    fn invalid_registrations_say_why() {
        let invalid = invalid::<Enable>;
        assert_eq!(
            invalid("<enable xmlns='urn:xmpp:push:0' jid='push.x'/>"),
            "Required attribute field 'node' on Enable element missing."
        );
        assert_eq!(
            invalid("<enable xmlns='urn:xmpp:push:0' node='n'/>"),
            "Required attribute field 'jid' on Enable element missing."
        );
    }
}
