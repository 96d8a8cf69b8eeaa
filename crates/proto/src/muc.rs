//! XEP-0045 requests to a room that xmpp-parsers does not type: the `muc#admin` query (§8–§9:
//! roles by nickname, affiliations by JID, and the lists of each), the `muc#owner` query
//! (§10: the configuration form, or `<destroy/>`), and the `<destroy/>` occupants are told
//! of in `muc#user`.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use jid::{BareJid, Jid};
use std::borrow::Cow;
use xmpp_parsers::data_forms::DataForm;
use xso::error::Error;
use xso::{AsXml, AsXmlText, FromXml, FromXmlText};

/// xmpp-parsers' role fits as it is: an answer never writes `none`.
pub use xmpp_parsers::muc::user::Role;

/// `<query xmlns='http://jabber.org/protocol/muc#admin'/>`: a list request (one item naming a
/// role or an affiliation), a change (items naming whom), or a list (the answer).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC_ADMIN, name = "query")]
pub struct AdminQuery {
    #[xml(child(n = ..))]
    pub items: Vec<AdminItem>,
}

/// One `<item/>`: a role for a nick, an affiliation for a JID, or a list entry with both.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC_ADMIN, name = "item")]
pub struct AdminItem {
    #[xml(attribute(default))]
    pub affiliation: Option<Affiliation>,
    /// A full JID names its bare JID (affiliations belong to users, not clients).
    #[xml(attribute(default))]
    pub jid: Option<Jid>,
    #[xml(attribute(default))]
    pub nick: Option<String>,
    #[xml(attribute(default))]
    pub role: Option<Role>,
    #[xml(child(default))]
    pub actor: Option<Actor>,
    #[xml(extract(name = "reason", default, fields(text(type_ = String))))]
    pub reason: Option<String>,
}

/// `<actor jid nick/>` in a `muc#admin` item (xmpp-parsers' `Actor` is the `muc#user` one).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC_ADMIN, name = "actor")]
pub struct Actor {
    #[xml(attribute(default))]
    pub jid: Option<Jid>,
    #[xml(attribute(default))]
    pub nick: Option<String>,
}

/// An affiliation with a room. Unlike xmpp-parsers' `Affiliation`, `none` is written: a list
/// of occupants by role shows those who have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affiliation {
    Owner,
    Admin,
    Member,
    None,
    Outcast,
}

impl Affiliation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::None => "none",
            Self::Outcast => "outcast",
        }
    }
}

impl FromXmlText for Affiliation {
    fn from_xml_text(s: String) -> Result<Self, Error> {
        Ok(match s.as_str() {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            "member" => Self::Member,
            "none" => Self::None,
            "outcast" => Self::Outcast,
            _ => return Err(Error::Other("Unknown value for 'affiliation' attribute.")),
        })
    }
}

impl AsXmlText for Affiliation {
    fn as_xml_text(&self) -> Result<Cow<'_, str>, Error> {
        Ok(Cow::Borrowed(self.as_str()))
    }
}

/// `<query xmlns='http://jabber.org/protocol/muc#owner'/>`: empty, a request for the
/// configuration form; with a form, the form (answer) or what the owner submits or cancels;
/// with `<destroy/>`, the end of the room.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC_OWNER, name = "query", deserialize_callback = form_or_destroy)]
pub struct OwnerQuery {
    #[xml(child(default))]
    pub form: Option<DataForm>,
    #[xml(child(default))]
    pub destroy: Option<Destroy>,
}

/// §10.1–§10.9: a query carries one of the two, never both.
fn form_or_destroy(query: &mut OwnerQuery) -> Result<(), Error> {
    match (&query.form, &query.destroy) {
        (Some(_), Some(_)) => Err(Error::Other("A muc#owner query holds a form or a destroy, not both.")),
        _ => Ok(()),
    }
}

/// `<destroy jid/>` from an owner: the room ends, its occupants pointed to `jid`, if given.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC_OWNER, name = "destroy")]
pub struct Destroy {
    /// The room that replaces this one.
    #[xml(attribute(default))]
    pub jid: Option<BareJid>,
    #[xml(extract(name = "password", default, fields(text(type_ = String))))]
    pub password: Option<String>,
    #[xml(extract(name = "reason", default, fields(text(type_ = String))))]
    pub reason: Option<String>,
}

/// `<destroy jid/>` in `muc#user`, in the presence that tells each occupant the room is gone
/// (§10.9): the owner's destroy without its password.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC_USER, name = "destroy")]
pub struct DestroyNotice {
    #[xml(attribute(default))]
    pub jid: Option<BareJid>,
    #[xml(extract(name = "reason", default, fields(text(type_ = String))))]
    pub reason: Option<String>,
}

impl From<Destroy> for DestroyNotice {
    fn from(destroy: Destroy) -> Self {
        Self { jid: destroy.jid, reason: destroy.reason }
    }
}

/// XEP-0045 §7.2 `<x xmlns='http://jabber.org/protocol/muc'/>` of a join. xmpp-parsers'
/// `Muc` refuses a whole join whose history limits do not read, where §7.2.15 makes them
/// requests a join succeeds without: limits stay as written, for the room to read.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC, name = "x")]
pub struct Join {
    #[xml(extract(default, name = "password", fields(text(type_ = String))))]
    pub password: Option<String>,
    #[xml(child(default))]
    pub history: Option<HistoryLimits>,
}

/// XEP-0045 §7.2.15 `<history/>`, as written.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MUC, name = "history")]
pub struct HistoryLimits {
    #[xml(attribute(default))]
    pub maxchars: Option<String>,
    #[xml(attribute(default))]
    pub maxstanzas: Option<String>,
    #[xml(attribute(default))]
    pub seconds: Option<String>,
    #[xml(attribute(default))]
    pub since: Option<String>,
}

/// XEP-0488 §2.2: a request for an invitation token to a room, with its limits (seconds,
/// uses).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq, Default)]
#[xml(namespace = ns::MUC_TOKEN_INVITE, name = "request")]
pub struct TokenRequest {
    #[xml(attribute(default))]
    pub delay: Option<u32>,
    #[xml(attribute(default))]
    pub counter: Option<u32>,
}

/// XEP-0488: a token, with the limits that apply to it now (in a list: what is left).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq, Default)]
#[xml(namespace = ns::MUC_TOKEN_INVITE, name = "token")]
pub struct Token {
    #[xml(attribute(default))]
    pub delay: Option<u32>,
    #[xml(attribute(default))]
    pub counter: Option<u32>,
    #[xml(attribute(default))]
    pub creator: Option<String>,
    #[xml(text)]
    pub value: String,
}

/// XEP-0488 §2.5: the tokens one may revoke (a get: none inside).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq, Default)]
#[xml(namespace = ns::MUC_TOKEN_INVITE, name = "tokens")]
pub struct Tokens {
    #[xml(child(n = ..))]
    pub tokens: Vec<Token>,
}

/// XEP-0488 §2.6: revokes a token.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq, Default)]
#[xml(namespace = ns::MUC_TOKEN_INVITE, name = "revoke")]
pub struct Revoke {
    #[xml(text)]
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;
    use xmpp_parsers::data_forms::DataFormType;
    use xso::error::FromElementError;

    fn bare(jid: &str) -> BareJid {
        BareJid::new(jid).unwrap()
    }

    #[test]
    fn admin_items_parse_as_xep_0045_writes_them() {
        // §8.2 kick, §9.1 ban, §9.5 member list request.
        let q = AdminQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#admin'>\
             <item nick='pistol' role='none'><reason>Avaunt, you cullion!</reason></item>\
             <item affiliation='outcast' jid='earlofcambridge@shakespeare.lit/desk'>\
             <actor nick='thirdwitch' jid='crone1@shakespeare.lit'/><reason>Treason</reason></item>\
             <item affiliation='member'/></query>"))
        .unwrap();
        let [kick, ban, list] = &q.items[..] else { panic!("three items: {q:?}") };
        assert_eq!(
            (kick.nick.as_deref(), &kick.role, kick.reason.as_deref()),
            (Some("pistol"), &Some(Role::None), Some("Avaunt, you cullion!"))
        );
        assert_eq!(ban.affiliation, Some(Affiliation::Outcast));
        assert_eq!(ban.jid.as_ref().map(Jid::to_bare), Some(bare("earlofcambridge@shakespeare.lit")));
        let actor = ban.actor.as_ref().unwrap();
        assert_eq!(
            (actor.nick.as_deref(), actor.jid.as_ref().map(Jid::as_str)),
            (Some("thirdwitch"), Some("crone1@shakespeare.lit"))
        );
        assert_eq!(list, &AdminItem { affiliation: Some(Affiliation::Member), ..AdminItem::default() });
        let empty = AdminQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#admin'/>")).unwrap();
        assert_eq!(empty, AdminQuery::default());
        // What XEP-0045 does not define is ignored, as servers are lenient in what they read.
        let extended = AdminQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#admin'>\
             <item affiliation='member' color='red'/><x xmlns='urn:example'/></query>"))
        .unwrap();
        assert_eq!(extended.items, [AdminItem { affiliation: Some(Affiliation::Member), ..AdminItem::default() }]);
    }

    #[test]
    fn a_list_entry_writes_affiliation_none() {
        let entry = AdminItem {
            affiliation: Some(Affiliation::None),
            jid: Some(Jid::new("hag66@shakespeare.lit").unwrap()),
            nick: Some("thirdwitch".into()),
            role: Some(Role::Participant),
            ..AdminItem::default()
        };
        assert_eq!(
            crate::xml::to_string(&Element::from(AdminQuery { items: vec![entry] })),
            "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='none' \
             jid='hag66@shakespeare.lit' nick='thirdwitch' role='participant'/></query>"
        );
    }

    #[test]
    fn an_admin_query_round_trips() {
        let q = AdminQuery {
            items: vec![
                AdminItem {
                    affiliation: Some(Affiliation::Admin),
                    jid: Some(Jid::new("wiccarocks@shakespeare.lit/laptop").unwrap()),
                    actor: Some(Actor { jid: None, nick: Some("crone".into()) }),
                    reason: Some("trusted".into()),
                    ..AdminItem::default()
                },
                AdminItem { nick: Some("pistol".into()), role: Some(Role::Visitor), ..AdminItem::default() },
            ],
        };
        assert_eq!(AdminQuery::try_from(Element::from(q.clone())).unwrap(), q);
    }

    #[test]
    fn invalid_admin_queries_say_why() {
        const Q: &str = "<query xmlns='http://jabber.org/protocol/muc#admin'>";
        let query = |item: &str| format!("{Q}{item}</query>");
        assert_eq!(
            invalid::<AdminQuery>(&query("<item affiliation='king'/>")),
            "Unknown value for 'affiliation' attribute."
        );
        assert_eq!(
            invalid::<AdminQuery>(&query("<item nick='a' role='king'/>")),
            "text parse error: Unknown value for 'role' attribute."
        );
        assert_eq!(
            invalid::<AdminQuery>(&query("<item affiliation='member' jid='@x'/>")),
            "text parse error: nodepart empty despite the presence of a @"
        );
        assert_eq!(
            invalid::<AdminQuery>(&query("<item affiliation='member'><reason>a</reason><reason>b</reason></item>")),
            "AdminItem element must not have more than one child in field 'reason'."
        );
        assert!(matches!(
            AdminQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#owner'/>")),
            Err(FromElementError::Mismatch(_))
        ));
    }

    #[test]
    fn owner_queries_parse_as_xep_0045_writes_them() {
        // §10.1.3 config request, §10.2 a submitted form, §10.9 destroy.
        let request = OwnerQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#owner'/>")).unwrap();
        assert_eq!(request, OwnerQuery::default());
        let submit = OwnerQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>\
             <field var='muc#roomconfig_roomname'><value>A Dark Cave</value></field></x></query>"))
        .unwrap();
        let form = submit.form.unwrap();
        assert_eq!(
            (&form.type_, form.form_type()),
            (&DataFormType::Submit, Some("http://jabber.org/protocol/muc#roomconfig"))
        );
        assert_eq!(form.fields[1].values, ["A Dark Cave"]);
        let destroy = OwnerQuery::try_from(el("<query xmlns='http://jabber.org/protocol/muc#owner'>\
             <destroy jid='coven@chat.shakespeare.lit'><password>cauldronburn</password>\
             <reason>Macbeth doth come.</reason></destroy></query>"))
        .unwrap();
        assert_eq!(
            destroy.destroy,
            Some(Destroy {
                jid: Some(bare("coven@chat.shakespeare.lit")),
                password: Some("cauldronburn".into()),
                reason: Some("Macbeth doth come.".into()),
            })
        );
    }

    #[test]
    fn a_destroy_notice_keeps_the_venue_and_reason_but_not_the_password() {
        let destroy = Destroy {
            jid: Some(bare("coven@chat.shakespeare.lit")),
            password: Some("cauldronburn".into()),
            reason: Some("Macbeth doth come.".into()),
        };
        assert_eq!(
            crate::xml::to_string(&Element::from(DestroyNotice::from(destroy))),
            "<destroy xmlns='http://jabber.org/protocol/muc#user' jid='coven@chat.shakespeare.lit'>\
             <reason>Macbeth doth come.</reason></destroy>"
        );
        assert_eq!(
            crate::xml::to_string(&Element::from(DestroyNotice::default())),
            "<destroy xmlns='http://jabber.org/protocol/muc#user'/>"
        );
    }

    #[test]
    fn owner_queries_round_trip() {
        let destroy = OwnerQuery {
            form: None,
            destroy: Some(Destroy { jid: None, password: None, reason: Some("done".into()) }),
        };
        assert_eq!(OwnerQuery::try_from(Element::from(destroy.clone())).unwrap(), destroy);
        let cancel = OwnerQuery {
            form: Some(DataForm { type_: DataFormType::Cancel, title: None, instructions: None, fields: vec![] }),
            destroy: None,
        };
        assert_eq!(OwnerQuery::try_from(Element::from(cancel.clone())).unwrap(), cancel);
        let notice = DestroyNotice { jid: Some(bare("new@chat.x")), reason: None };
        assert_eq!(DestroyNotice::try_from(Element::from(notice.clone())).unwrap(), notice);
    }

    #[test]
    fn invalid_owner_queries_say_why() {
        const Q: &str = "<query xmlns='http://jabber.org/protocol/muc#owner'>";
        let query = |inner: &str| format!("{Q}{inner}</query>");
        assert_eq!(
            invalid::<OwnerQuery>(&query("<x xmlns='jabber:x:data' type='cancel'/><destroy/>")),
            "A muc#owner query holds a form or a destroy, not both."
        );
        assert_eq!(
            invalid::<OwnerQuery>(&query("<x xmlns='jabber:x:data'/>")),
            "Required attribute field 'type_' on DataForm element missing."
        );
        assert_eq!(
            invalid::<OwnerQuery>(&query("<destroy jid='coven@chat.x/nick'/>")),
            "text parse error: resource found while parsing a bare JID"
        );
        assert_eq!(
            invalid::<OwnerQuery>(&query("<destroy/><destroy/>")),
            "OwnerQuery element must not have more than one child in field 'destroy'."
        );
    }

    #[test]
    fn a_join_keeps_its_limits_as_written() {
        let join: minidom::Element = "<x xmlns='http://jabber.org/protocol/muc'><password>cauldron</password>\
             <history maxstanzas='20' since='yesterday'/></x>"
            .parse()
            .unwrap();
        let j = Join::try_from(join).unwrap();
        assert_eq!(j.password.as_deref(), Some("cauldron"));
        let h = j.history.clone().unwrap();
        assert_eq!((h.maxstanzas.as_deref(), h.since.as_deref(), h.seconds), (Some("20"), Some("yesterday"), None));
        assert_eq!(Join::try_from(minidom::Element::from(j.clone())).unwrap(), j);
        let bare: minidom::Element = "<x xmlns='http://jabber.org/protocol/muc'/>".parse().unwrap();
        assert_eq!(Join::try_from(bare).unwrap(), Join::default());
    }

    #[test]
    fn token_invites_parse_serialise_and_say_why_not() {
        let ns = "urn:xmpp:muc-token-invite:0";
        let r = TokenRequest::try_from(el(&format!("<request xmlns='{ns}' delay='2678400' counter='5'/>"))).unwrap();
        assert_eq!(r, TokenRequest { delay: Some(2_678_400), counter: Some(5) });
        assert_eq!(TokenRequest::try_from(el(&format!("<request xmlns='{ns}'/>"))).unwrap(), TokenRequest::default());
        let token = Token { delay: Some(604_800), counter: Some(5), creator: None, value: "lyQZ1Rz".into() };
        let written = Element::from(token.clone());
        assert_eq!(
            (written.attr("delay"), written.attr("counter"), written.text()),
            (Some("604800"), Some("5"), "lyQZ1Rz".into())
        );
        assert_eq!(Token::try_from(written).unwrap(), token);
        let list = Tokens::try_from(el(&format!(
            "<tokens xmlns='{ns}'><token counter='3'>a</token><token delay='183'>b</token></tokens>"
        )))
        .unwrap();
        assert_eq!(list.tokens.iter().map(|t| t.value.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(Revoke::try_from(el(&format!("<revoke xmlns='{ns}'>a</revoke>"))).unwrap().token, "a");
        assert_eq!(
            invalid::<TokenRequest>(&format!("<request xmlns='{ns}' counter='-1'/>")),
            "text parse error: invalid digit found in string"
        );
    }
}
