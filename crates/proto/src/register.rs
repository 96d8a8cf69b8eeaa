//! XEP-0077 In-Band Registration of an account, and the `<preauth/>` token of XEP-0379 and
//! XEP-0445. xmpp-parsers splits the query into four types (fields, legacy, form, remove) that
//! a server would have to try in turn; a server reads one query and looks at what it holds.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use xmpp_parsers::data_forms::DataForm;
use xso::{AsXml, FromXml};

/// `<query xmlns='jabber:iq:register'/>`: empty, a request for the fields (get); with
/// `username` and `password`, a registration or a password change (set); with `<remove/>`,
/// the end of the account. An answer to a get lists the fields as empty elements.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::REGISTER, name = "query")]
pub struct Query {
    #[xml(extract(default, fields(text(type_ = String))))]
    pub instructions: Option<String>,
    #[xml(flag)]
    pub registered: bool,
    #[xml(extract(default, fields(text(type_ = String))))]
    pub username: Option<String>,
    #[xml(extract(default, fields(text(type_ = String))))]
    pub password: Option<String>,
    #[xml(flag)]
    pub remove: bool,
    /// §6: a form instead of the fields.
    #[xml(child(default))]
    pub form: Option<DataForm>,
}

impl Query {
    /// The username and password given, by field or in a submitted form.
    pub fn credentials(&self) -> (Option<&str>, Option<&str>) {
        let field = |var: &str| {
            let form = self.form.as_ref()?;
            form.fields.iter().find(|f| f.var.as_deref() == Some(var))?.values.first().map(String::as_str)
        };
        (self.username.as_deref().or_else(|| field("username")), self.password.as_deref().or_else(|| field("password")))
    }
}

/// `<preauth token/>`: in an IQ before registration (XEP-0445 §4), or in a subscription
/// request (XEP-0379 §3.4).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::PARS, name = "preauth")]
pub struct Preauth {
    #[xml(attribute)]
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn requests_parse() {
        let get = Query::try_from(el("<query xmlns='jabber:iq:register'/>")).unwrap();
        assert_eq!(get, Query::default());
        let set = Query::try_from(el(
            "<query xmlns='jabber:iq:register'><username>carol</username><password>secret</password></query>",
        ))
        .unwrap();
        assert_eq!(set.credentials(), (Some("carol"), Some("secret")));
        let remove = Query::try_from(el("<query xmlns='jabber:iq:register'><remove/></query>")).unwrap();
        assert!(remove.remove);
        let form = Query::try_from(el("<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>jabber:iq:register</value></field>\
            <field var='username'><value>dave</value></field><field var='password'><value>pw</value></field>\
            </x></query>"))
        .unwrap();
        assert_eq!(form.credentials(), (Some("dave"), Some("pw")));
    }

    #[test]
    fn the_fields_answer_serialises_and_round_trips() {
        let answer = Query {
            instructions: Some("Choose a username and password.".into()),
            username: Some(String::new()),
            password: Some(String::new()),
            ..Query::default()
        };
        let written = Element::from(answer.clone());
        assert_eq!(written.get_child("username", ns::REGISTER).map(Element::text), Some(String::new()));
        assert!(written.has_child("password", ns::REGISTER));
        assert!(!written.has_child("registered", ns::REGISTER));
        assert_eq!(Query::try_from(written).unwrap(), answer);
    }

    #[test]
    fn preauth_parses_serialises_and_says_why_not() {
        let p = Preauth::try_from(el("<preauth xmlns='urn:xmpp:pars:0' token='T0K'/>")).unwrap();
        assert_eq!(p.token, "T0K");
        assert_eq!(Preauth::try_from(Element::from(p.clone())).unwrap(), p);
        assert_eq!(
            invalid::<Preauth>("<preauth xmlns='urn:xmpp:pars:0'/>"),
            "Required attribute field 'token' on Preauth element missing."
        );
        assert_eq!(
            invalid::<Query>("<query xmlns='jabber:iq:register'><remove>x</remove></query>"),
            "Unexpected text in flag child field 'remove' in Query element."
        );
    }
}
