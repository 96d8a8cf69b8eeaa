//! RFC 6121 §2 roster queries as a server reads and writes them: xmpp-parsers' `Roster` with
//! what it leaves out, the MIX annotations of XEP-0405 §5.9 (`<annotate/>` in a get,
//! `<channel/>` on an item), and `subscription` written even when it is `none`, as clients
//! expect of a server.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::mix::RosterChannel;
use crate::ns;
use jid::BareJid;
use std::borrow::Cow;
use xmpp_parsers::roster::{Ask, Group};
use xso::error::Error;
use xso::{AsXml, AsXmlText, FromXml, FromXmlText};

/// `<query xmlns='jabber:iq:roster'/>`: a roster get (with the version the client holds), a
/// roster set (one item), a result or a push.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::ROSTER, name = "query")]
pub struct Roster {
    /// XEP-0237: the version a client holds (get) or the roster is at (result, push).
    #[xml(attribute(default))]
    pub ver: Option<String>,
    #[xml(child(n = ..))]
    pub items: Vec<Item>,
    /// XEP-0405 §5.9: the client wants channel items marked.
    #[xml(child(default))]
    pub annotate: Option<Annotate>,
}

/// `<annotate xmlns='urn:xmpp:mix:roster:0'/>` in a roster get.
#[derive(FromXml, AsXml, Debug, Clone, Copy, PartialEq, Default)]
#[xml(namespace = ns::MIX_ROSTER, name = "annotate")]
pub struct Annotate;

/// One contact in a roster.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::ROSTER, name = "item")]
pub struct Item {
    #[xml(attribute)]
    pub jid: BareJid,
    #[xml(attribute(default))]
    pub name: Option<String>,
    #[xml(attribute(default))]
    pub subscription: Subscription,
    #[xml(attribute(default))]
    pub ask: Ask,
    /// RFC 6121 §3.4 pre-approval.
    #[xml(attribute(default))]
    pub approved: Option<bool>,
    #[xml(child(n = ..))]
    pub groups: Vec<Group>,
    /// XEP-0405 §5.9: the contact is a MIX channel the user is in.
    #[xml(child(default))]
    pub channel: Option<RosterChannel>,
}

impl Item {
    /// An item for `jid` with no name, subscription or group.
    pub fn new(jid: BareJid) -> Self {
        Self {
            jid,
            name: None,
            subscription: Subscription::None,
            ask: Ask::None,
            approved: None,
            groups: Vec::new(),
            channel: None,
        }
    }

    /// The item of a roster push that tells clients `jid` is gone.
    pub fn removed(jid: BareJid) -> Self {
        Self { subscription: Subscription::Remove, ..Self::new(jid) }
    }
}

/// An item's `subscription`: the four states of RFC 6121 §2.1.2.5, and `remove` in a set or
/// push. Always written, `none` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subscription {
    #[default]
    None,
    To,
    From,
    Both,
    Remove,
}

impl Subscription {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::To => "to",
            Self::From => "from",
            Self::Both => "both",
            Self::Remove => "remove",
        }
    }
}

impl FromXmlText for Subscription {
    fn from_xml_text(s: String) -> Result<Self, Error> {
        Ok(match s.as_str() {
            "none" => Self::None,
            "to" => Self::To,
            "from" => Self::From,
            "both" => Self::Both,
            "remove" => Self::Remove,
            _ => return Err(Error::Other("Unknown value for 'subscription' attribute.")),
        })
    }
}

impl AsXmlText for Subscription {
    fn as_xml_text(&self) -> Result<Cow<'_, str>, Error> {
        Ok(Cow::Borrowed(self.as_str()))
    }
}

/// One stored contact as a roster result shows it, borrowed from storage.
#[derive(Debug, Clone, Copy)]
pub struct ResultItem<'a> {
    /// A bare JID, valid when it was stored.
    pub jid: &'a str,
    pub name: Option<&'a str>,
    pub subscription: Subscription,
    pub ask: bool,
    pub approved: bool,
    pub groups: &'a [String],
    pub channel: Option<&'a RosterChannel>,
}

/// The roster result every login asks for, written straight into an element: the derive's
/// way (events, then an element) and reading every stored contact's JID again cost about a
/// tenth of a login's CPU with a 20-contact roster. The same element as the [`Roster`] it
/// stands for (tested below).
pub fn result_element<'a>(ver: &str, items: impl IntoIterator<Item = ResultItem<'a>>) -> minidom::Element {
    use crate::xml::{set_attr, text_el};
    let mut query = minidom::Element::bare("query", ns::ROSTER);
    set_attr(&mut query, "ver", ver);
    for i in items {
        let mut item = minidom::Element::bare("item", ns::ROSTER);
        set_attr(&mut item, "jid", i.jid);
        if let Some(name) = i.name {
            set_attr(&mut item, "name", name);
        }
        set_attr(&mut item, "subscription", i.subscription.as_str());
        if i.ask {
            set_attr(&mut item, "ask", "subscribe");
        }
        if i.approved {
            set_attr(&mut item, "approved", "true");
        }
        for group in i.groups {
            item.append_child(text_el("group", ns::ROSTER, group.as_str()));
        }
        if let Some(channel) = i.channel {
            item.append_child(channel.clone().into());
        }
        query.append_child(item);
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn a_get_with_version_and_annotate_parses() {
        let q = Roster::try_from(el(
            "<query xmlns='jabber:iq:roster' ver='ver7'><annotate xmlns='urn:xmpp:mix:roster:0'/></query>",
        ))
        .unwrap();
        assert_eq!((q.ver.as_deref(), q.items.len(), q.annotate), (Some("ver7"), 0, Some(Annotate)));
        let plain = Roster::try_from(el("<query xmlns='jabber:iq:roster'/>")).unwrap();
        assert_eq!(plain, Roster::default());
    }

    #[test]
    fn an_item_parses_with_everything_rfc_6121_and_xep_0405_put_on_it() {
        let q = Roster::try_from(el("<query xmlns='jabber:iq:roster'>\
             <item jid='nurse@example.com' name='Nurse' subscription='both' ask='subscribe' approved='true'>\
             <group>Servants</group><group>Verona</group>\
             <channel xmlns='urn:xmpp:mix:roster:0' participant-id='123'/></item></query>"))
        .unwrap();
        let item = &q.items[0];
        assert_eq!(item.jid.as_str(), "nurse@example.com");
        assert_eq!(item.name.as_deref(), Some("Nurse"));
        assert_eq!(
            (item.subscription, item.ask.clone(), item.approved),
            (Subscription::Both, Ask::Subscribe, Some(true))
        );
        assert_eq!(item.groups, [Group("Servants".into()), Group("Verona".into())]);
        assert_eq!(item.channel.as_ref().map(|c| c.participant_id.as_str()), Some("123"));
        let bare = Roster::try_from(el("<query xmlns='jabber:iq:roster'><item jid='a@x'/></query>")).unwrap();
        assert_eq!(bare.items, [Item::new(BareJid::new("a@x").unwrap())]);
    }

    #[test]
    fn subscription_none_is_written() {
        let q = Roster { ver: Some("3".into()), items: vec![Item::new(BareJid::new("a@x").unwrap())], annotate: None };
        assert_eq!(
            crate::xml::to_string(&Element::from(q)),
            "<query xmlns='jabber:iq:roster' ver='3'><item jid='a@x' subscription='none'/></query>"
        );
        let gone = Element::from(Item::removed(BareJid::new("b@x").unwrap()));
        assert_eq!(crate::xml::to_string(&gone), "<item xmlns='jabber:iq:roster' jid='b@x' subscription='remove'/>");
    }

    #[test]
    fn a_full_item_round_trips() {
        let item = Item {
            name: Some("Ch".into()),
            subscription: Subscription::From,
            approved: Some(true),
            groups: vec![Group("G".into())],
            channel: Some(RosterChannel { participant_id: "p1".into() }),
            ..Item::new(BareJid::new("coven@mix.x").unwrap())
        };
        assert_eq!(Item::try_from(Element::from(item.clone())).unwrap(), item);
    }

    #[test]
    fn invalid_queries_say_why() {
        assert_eq!(
            invalid::<Roster>("<query xmlns='jabber:iq:roster'><item/></query>"),
            "Required attribute field 'jid' on Item element missing."
        );
        assert!(
            invalid::<Roster>("<query xmlns='jabber:iq:roster'><item jid='a@x' subscription='all'/></query>")
                .contains("Unknown value for 'subscription' attribute.")
        );
        assert!(
            invalid::<Roster>("<query xmlns='jabber:iq:roster'><item jid='@x'/></query>").contains("nodepart empty")
        );
        assert!(
            invalid::<Roster>("<query xmlns='jabber:iq:roster'><item jid='a@x' approved='maybe'/></query>")
                .contains("`true` or `false`")
        );
    }

    #[test]
    fn the_fast_result_is_the_roster_it_stands_for() {
        let groups = vec!["Servants".to_owned(), "Verona".to_owned()];
        let channel = RosterChannel { participant_id: "p1".into() };
        let plain = ResultItem {
            jid: "nurse@example.com",
            name: None,
            subscription: Subscription::None,
            ask: false,
            approved: false,
            groups: &[],
            channel: None,
        };
        let full = ResultItem {
            jid: "coven@mix.example",
            name: Some("Coven & co"),
            subscription: Subscription::Both,
            ask: true,
            approved: true,
            groups: &groups,
            channel: Some(&channel),
        };
        let fast = result_element("7", [plain, full]);
        let typed = Roster {
            ver: Some("7".into()),
            items: vec![
                Item::new(BareJid::new("nurse@example.com").unwrap()),
                Item {
                    name: Some("Coven & co".into()),
                    subscription: Subscription::Both,
                    ask: Ask::Subscribe,
                    approved: Some(true),
                    groups: groups.iter().cloned().map(Group).collect(),
                    channel: Some(channel.clone()),
                    ..Item::new(BareJid::new("coven@mix.example").unwrap())
                },
            ],
            annotate: None,
        };
        assert_eq!(fast, Element::from(typed.clone()));
        assert_eq!(Roster::try_from(fast).unwrap(), typed);
        assert_eq!(crate::xml::to_string(&result_element("0", [])), "<query xmlns='jabber:iq:roster' ver='0'/>");
    }
}
