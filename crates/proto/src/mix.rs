//! MIX payloads (XEP-0369 core, XEP-0405 PAM, XEP-0403 presence, XEP-0404 JID map), which
//! xmpp-parsers does not have yet: typed with xso derives, converted to and from `Element`.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use jid::BareJid;
use xso::{AsXml, FromXml};

/// The standard nodes of a channel, besides XEP-0084's avatar nodes, which are named after
/// their namespaces ([`crate::ns::AVATAR_DATA`], [`crate::ns::AVATAR_METADATA`]).
pub mod nodes {
    pub const MESSAGES: &str = "urn:xmpp:mix:nodes:messages";
    pub const PARTICIPANTS: &str = "urn:xmpp:mix:nodes:participants";
    pub const INFO: &str = "urn:xmpp:mix:nodes:info";
    pub const PRESENCE: &str = "urn:xmpp:mix:nodes:presence";
    pub const CONFIG: &str = "urn:xmpp:mix:nodes:config";
    pub const ALLOWED: &str = "urn:xmpp:mix:nodes:allowed";
    pub const BANNED: &str = "urn:xmpp:mix:nodes:banned";
    pub const JIDMAP: &str = "urn:xmpp:mix:nodes:jidmap";
}

/// `<subscribe node='…'/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_CORE, name = "subscribe")]
pub struct Subscribe {
    #[xml(attribute)]
    pub node: String,
}

/// `<unsubscribe node='…'/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_CORE, name = "unsubscribe")]
pub struct Unsubscribe {
    #[xml(attribute)]
    pub node: String,
}

/// `<join/>`: the request (nodes and nick) and, with the participant id, the channel's answer.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_CORE, name = "join")]
pub struct Join {
    /// The Stable Participant ID (XEP-0369 §7.1.1).
    #[xml(attribute(default))]
    pub id: Option<String>,
    /// `<id>#<channel>`, as XEP-0405's examples answer.
    #[xml(attribute(default))]
    pub jid: Option<String>,
    #[xml(child(n = ..))]
    pub subscribe: Vec<Subscribe>,
    #[xml(extract(default, fields(text(type_ = String))))]
    pub nick: Option<String>,
    /// An invitation (XEP-0407 §5) that lets the user in.
    #[xml(child(default))]
    pub invitation: Option<Invitation>,
    /// The user's preferences (XEP-0404 §5), asked with the join and answered with it.
    #[xml(child(default))]
    pub preferences: Option<xmpp_parsers::data_forms::DataForm>,
}

/// `<user-preference xmlns='urn:xmpp:mix:anon:0'>`: a participant's preferences (XEP-0404
/// §5), the template asked for, the values set or reported.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_ANON, name = "user-preference")]
pub struct UserPreference {
    #[xml(child(default))]
    pub form: Option<xmpp_parsers::data_forms::DataForm>,
}

/// `<leave/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_CORE, name = "leave")]
pub struct Leave;

/// `<update-subscription/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_CORE, name = "update-subscription")]
pub struct UpdateSubscription {
    #[xml(attribute(default))]
    pub jid: Option<String>,
    #[xml(child(n = ..))]
    pub subscribe: Vec<Subscribe>,
    #[xml(child(n = ..))]
    pub unsubscribe: Vec<Unsubscribe>,
}

/// `<setnick/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_CORE, name = "setnick")]
pub struct SetNick {
    #[xml(extract(fields(text)))]
    pub nick: String,
}

/// `<create/>`: a named channel, or (without a name) an ad hoc one the service names.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_CORE, name = "create")]
pub struct Create {
    #[xml(attribute(default))]
    pub channel: Option<String>,
}

/// `<destroy/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_CORE, name = "destroy")]
pub struct Destroy {
    #[xml(attribute)]
    pub channel: String,
}

/// An item of the participants node.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_CORE, name = "participant")]
pub struct Participant {
    #[xml(extract(default, fields(text(type_ = String))))]
    pub nick: Option<String>,
    #[xml(extract(default, fields(text(type_ = String))))]
    pub jid: Option<String>,
}

/// `<mix/>` in a reflected message: who sent it.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_CORE, name = "mix")]
pub struct MessageSender {
    #[xml(extract(default, fields(text(type_ = String))))]
    pub nick: Option<String>,
    #[xml(extract(default, fields(text(type_ = String))))]
    pub jid: Option<String>,
}

/// `<mix/>` in a distributed presence (XEP-0403): whose client it is.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_PRESENCE, name = "mix")]
pub struct PresenceSender {
    #[xml(extract(default, fields(text(type_ = String))))]
    pub jid: Option<String>,
    #[xml(extract(default, fields(text(type_ = String))))]
    pub nick: Option<String>,
}

/// An item of the JID map node (XEP-0404): the real JID behind a participant id.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_ANON, name = "participant")]
pub struct JidMapEntry {
    #[xml(extract(fields(text)))]
    pub jid: String,
}

/// `<client-join/>` (XEP-0405): a client asks its own server to join a channel.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_PAM, name = "client-join")]
pub struct ClientJoin {
    #[xml(attribute(default))]
    pub channel: Option<BareJid>,
    #[xml(child)]
    pub join: Join,
}

/// `<client-leave/>` (XEP-0405).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_PAM, name = "client-leave")]
pub struct ClientLeave {
    #[xml(attribute(default))]
    pub channel: Option<BareJid>,
    #[xml(child)]
    pub leave: Leave,
}

/// `<channel participant-id='…'/>` on a roster item of a channel (XEP-0405 §5.9).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_ROSTER, name = "channel")]
pub struct RosterChannel {
    #[xml(attribute(name = "participant-id"))]
    pub participant_id: String,
}

/// `<register/>` (XEP-0407 §3): a nick for the user across the service.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_MISC, name = "register")]
pub struct Register {
    #[xml(extract(default, fields(text(type_ = String))))]
    pub nick: Option<String>,
}

/// An invitation to a channel (XEP-0407 §5): whoever holds it may join.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_MISC, name = "invitation")]
pub struct Invitation {
    #[xml(extract(fields(text)))]
    pub inviter: String,
    #[xml(extract(fields(text)))]
    pub invitee: String,
    #[xml(extract(fields(text)))]
    pub channel: String,
    #[xml(extract(fields(text)))]
    pub token: String,
}

/// `<invite/>`: a participant asks the channel for an invitation, and gets it inside.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MIX_MISC, name = "invite")]
pub struct Invite {
    #[xml(extract(default, fields(text(type_ = String))))]
    pub invitee: Option<String>,
    #[xml(child(default))]
    pub invitation: Option<Invitation>,
}

/// `<retract id/>` (XEP-0407 §4): withdraws a message sent to the channel.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_MISC, name = "retract")]
pub struct Retract {
    #[xml(attribute)]
    pub id: String,
}

/// The tombstone a retracted message leaves in the channel's archive.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MIX_MISC, name = "retracted")]
pub struct Retracted {
    #[xml(attribute)]
    pub by: String,
    #[xml(attribute)]
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    fn parse<T: TryFrom<Element>>(xml: &str) -> T
    where
        T::Error: std::fmt::Debug,
    {
        T::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    #[test]
    fn join_reads_the_xep_example_in_any_child_order() {
        let j: Join = parse(
            "<join xmlns='urn:xmpp:mix:core:1'><nick>third witch</nick>\
             <subscribe node='urn:xmpp:mix:nodes:messages'/><subscribe node='urn:xmpp:mix:nodes:presence'/></join>",
        );
        assert_eq!(j.nick.as_deref(), Some("third witch"));
        assert_eq!(j.subscribe.len(), 2);
        assert_eq!(j.subscribe[1].node, nodes::PRESENCE);
        assert!(j.invitation.is_none());
        let back = Element::from(Join { id: Some("123456".into()), ..j });
        assert_eq!(back.attr("id"), Some("123456"));
        assert_eq!(back.children().filter(|c| c.name() == "subscribe").count(), 2);
    }

    #[test]
    fn join_carries_an_invitation() {
        let j: Join = parse(
            "<join xmlns='urn:xmpp:mix:core:1'><subscribe node='urn:xmpp:mix:nodes:messages'/>\
             <invitation xmlns='urn:xmpp:mix:misc:0'><inviter>a@x</inviter><invitee>c@x</invitee>\
             <channel>coven@mix.x</channel><token>T</token></invitation></join>",
        );
        assert_eq!(j.invitation.unwrap().token, "T");
    }

    #[test]
    fn client_join_wraps_a_join() {
        let cj: ClientJoin = parse(
            "<client-join xmlns='urn:xmpp:mix:pam:2' channel='coven@mix.example'>\
             <join xmlns='urn:xmpp:mix:core:1'><subscribe node='urn:xmpp:mix:nodes:messages'/></join></client-join>",
        );
        assert_eq!(cj.channel.as_ref().map(|c| c.as_str()), Some("coven@mix.example"));
        assert_eq!(cj.join.subscribe[0].node, nodes::MESSAGES);
        assert!(ClientJoin::try_from("<client-join xmlns='urn:xmpp:mix:pam:2'/>".parse::<Element>().unwrap()).is_err());
    }

    #[test]
    fn participant_without_jid_serializes_only_the_nick() {
        let el = Element::from(Participant { nick: Some("hag".into()), jid: None });
        assert_eq!(el.children().count(), 1);
        let p: Participant = parse(&String::from(&el));
        assert_eq!(p.nick.as_deref(), Some("hag"));
    }
}
