//! XEP-0227 (Portable Import/Export Format): one account as `<user/>`, with what Rhein adds
//! in its own namespace ([`ns::RHEIN_PIE`]): the argon2 hash and account flags, the
//! blocklist, archiving preferences, last activity, other per-account documents, and whole
//! rooms and other stored entities (MIX channels, the pubsub service, a host's own data).
//!
//! What is passed through untouched is typed as `Element`: vCard content, private XML,
//! pubsub item payloads and stanzas (offline and archived messages, subscription requests).
//! The document around the users (`<server-data/>`, `<host/>`) is read as a stream by the
//! importer, one user at a time, so it has no type here.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use crate::roster::Roster;
use jid::BareJid;
use minidom::Element;
use std::borrow::Cow;
use xso::error::Error;
use xso::text::Base64;
use xso::{AsXml, AsXmlText, FromXml, FromXmlText};

/// An XEP-0082 DateTime as milliseconds since the Unix epoch, read strictly
/// ([`crate::time::parse_datetime`]) and written with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(pub i64);

impl FromXmlText for Stamp {
    fn from_xml_text(s: String) -> Result<Self, Error> {
        crate::time::parse_datetime(&s).map(Stamp).map_err(|_| Error::Other("Not an XEP-0082 DateTime."))
    }
}

impl AsXmlText for Stamp {
    fn as_xml_text(&self) -> Result<Cow<'_, str>, Error> {
        Ok(Cow::Owned(crate::time::datetime(self.0)))
    }
}

/// `<user/>`: one account and everything stored for it.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PIE, name = "user")]
pub struct User {
    /// The local part of the account's JID.
    #[xml(attribute)]
    pub name: String,
    /// The password in plain text, which XEP-0227 allows and discourages (Rhein never
    /// writes it; an import derives the credentials from it).
    #[xml(attribute(default))]
    pub password: Option<String>,
    #[xml(child(n = ..))]
    pub scram: Vec<ScramCredentials>,
    /// Rhein: the argon2 hash, administrator and disabled flags, creation time.
    #[xml(child(default))]
    pub account: Option<Account>,
    #[xml(child(default))]
    pub roster: Option<Roster>,
    /// Subscription requests waiting for the user's answer.
    #[xml(child(n = ..))]
    pub requests: Vec<SubscriptionRequest>,
    #[xml(child(default))]
    pub vcard: Option<VCard>,
    #[xml(child(default))]
    pub private: Option<crate::payload::PrivateQuery>,
    #[xml(child(default))]
    pub offline: Option<OfflineMessages>,
    /// PEP nodes' configuration, affiliations and subscriptions.
    #[xml(child(default))]
    pub pep_nodes: Option<PepNodes>,
    /// PEP nodes' items.
    #[xml(child(default))]
    pub pep_items: Option<PepItems>,
    #[xml(child(default))]
    pub archive: Option<Archive>,
    /// Rhein: XEP-0191 blocked JIDs, as a blocklist result lists them.
    #[xml(child(default))]
    pub blocklist: Option<xmpp_parsers::blocking::BlocklistResult>,
    /// Rhein: XEP-0313 archiving preferences, as a preferences result shows them.
    #[xml(child(default))]
    pub archive_prefs: Option<xmpp_parsers::mam_prefs::Prefs>,
    /// XEP-0016 privacy lists, as servers without XEP-0191 storage (ejabberd) export
    /// blocking; Rhein reads the outright blocks from them, and never writes them.
    #[xml(child(default))]
    pub privacy: Option<PrivacyLists>,
    /// Rhein: XEP-0012 last logout and its status.
    #[xml(child(default))]
    pub last: Option<LastActivity>,
    /// Rhein: other stored documents (MIX memberships, say).
    #[xml(child(n = ..))]
    pub data: Vec<Data>,
    /// Anything else: reported by the importer, not imported.
    #[xml(element(n = ..))]
    pub unknown: Vec<Element>,
}

impl User {
    /// A user with nothing stored.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            password: None,
            scram: Vec::new(),
            account: None,
            roster: None,
            requests: Vec::new(),
            vcard: None,
            private: None,
            offline: None,
            pep_nodes: None,
            pep_items: None,
            archive: None,
            blocklist: None,
            archive_prefs: None,
            privacy: None,
            last: None,
            data: Vec::new(),
            unknown: Vec::new(),
        }
    }
}

/// `<scram-credentials/>`: the SCRAM secrets of one mechanism (never a `-PLUS` name).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PIE_SCRAM, name = "scram-credentials")]
pub struct ScramCredentials {
    /// `SCRAM-SHA-1`, `SCRAM-SHA-256`, ...
    #[xml(attribute)]
    pub mechanism: String,
    #[xml(extract(name = "iter-count", fields(text(type_ = u32))))]
    pub iterations: u32,
    #[xml(extract(fields(text(codec = Base64))))]
    pub salt: Vec<u8>,
    #[xml(extract(name = "server-key", fields(text(codec = Base64))))]
    pub server_key: Vec<u8>,
    #[xml(extract(name = "stored-key", fields(text(codec = Base64))))]
    pub stored_key: Vec<u8>,
}

/// Rhein: what an account has besides its SCRAM keys.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::RHEIN_PIE, name = "account")]
pub struct Account {
    #[xml(attribute(default))]
    pub created: Option<Stamp>,
    #[xml(attribute(default))]
    pub admin: Option<bool>,
    #[xml(attribute(default))]
    pub disabled: Option<bool>,
    /// The PHC string of the argon2id hash PLAIN logins are checked against.
    #[xml(extract(default, fields(text(type_ = String))))]
    pub argon2: Option<String>,
}

/// A subscription request as it arrived (`<presence type='subscribe'/>`).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::CLIENT, name = "presence", on_unknown_attribute = Discard)]
pub struct SubscriptionRequest {
    #[xml(attribute)]
    pub from: BareJid,
    #[xml(attribute(default))]
    pub to: Option<String>,
    #[xml(attribute(default))]
    pub id: Option<String>,
    /// Always `subscribe`.
    #[xml(attribute(name = "type"))]
    pub kind: String,
    #[xml(element(n = ..))]
    pub payloads: Vec<Element>,
}

/// `<vCard xmlns='vcard-temp'/>`, its content passed through.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::VCARD, name = "vCard", on_unknown_attribute = Discard, discard(text))]
pub struct VCard {
    #[xml(element(n = ..))]
    pub content: Vec<Element>,
}

/// `<offline-messages/>`: messages waiting for the user, oldest first, each with the
/// `<delay/>` that says when it arrived.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PIE, name = "offline-messages", discard(text))]
pub struct OfflineMessages {
    #[xml(element(n = ..))]
    pub messages: Vec<Element>,
}

/// `<pubsub xmlns='…#owner'/>`: each node's configuration, and optionally its affiliations
/// and subscriptions.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PUBSUB_OWNER, name = "pubsub")]
pub struct PepNodes {
    #[xml(child(n = ..))]
    pub configure: Vec<Configure>,
    #[xml(child(n = ..))]
    pub affiliations: Vec<Affiliations>,
    #[xml(child(n = ..))]
    pub subscriptions: Vec<Subscriptions>,
}

/// One node's configuration as a `pubsub#node_config` form.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB_OWNER, name = "configure")]
pub struct Configure {
    #[xml(attribute)]
    pub node: String,
    #[xml(child)]
    pub form: xmpp_parsers::data_forms::DataForm,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB_OWNER, name = "affiliations")]
pub struct Affiliations {
    #[xml(attribute)]
    pub node: String,
    #[xml(child(n = ..))]
    pub affiliations: Vec<Affiliation>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB_OWNER, name = "affiliation")]
pub struct Affiliation {
    #[xml(attribute)]
    pub jid: String,
    #[xml(attribute)]
    pub affiliation: String,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB_OWNER, name = "subscriptions")]
pub struct Subscriptions {
    #[xml(attribute)]
    pub node: String,
    #[xml(child(n = ..))]
    pub subscriptions: Vec<Subscription>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB_OWNER, name = "subscription")]
pub struct Subscription {
    #[xml(attribute)]
    pub jid: String,
    /// `subscribed` or `pending`.
    #[xml(attribute)]
    pub subscription: String,
    #[xml(attribute(default))]
    pub subid: Option<String>,
}

/// `<pubsub xmlns='…pubsub'/>`: each node's items.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PUBSUB, name = "pubsub")]
pub struct PepItems {
    #[xml(child(n = ..))]
    pub nodes: Vec<Items>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "items")]
pub struct Items {
    #[xml(attribute)]
    pub node: String,
    /// Oldest first.
    #[xml(child(n = ..))]
    pub items: Vec<Item>,
}

/// A published item, its payload passed through.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "item")]
pub struct Item {
    #[xml(attribute)]
    pub id: String,
    #[xml(attribute(default))]
    pub publisher: Option<String>,
    #[xml(element(default))]
    pub payload: Option<Element>,
}

/// `<archive xmlns='urn:xmpp:pie:0#mam'/>`: archived messages, oldest first.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PIE_MAM, name = "archive")]
pub struct Archive {
    #[xml(child(n = ..))]
    pub results: Vec<ArchivedMessage>,
}

/// An XEP-0313 `<result/>`: the archive id, when, and the stanza.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MAM, name = "result")]
pub struct ArchivedMessage {
    #[xml(attribute)]
    pub id: String,
    /// Rhein: the conversation it is filed under (without it, the other party).
    #[xml(extract(default, namespace = ns::RHEIN_PIE, name = "with", fields(text(type_ = String))))]
    pub with: Option<String>,
    #[xml(child)]
    pub forwarded: Forwarded,
}

/// XEP-0297 `<forwarded/>` with its delay and the stanza.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::FORWARD, name = "forwarded")]
pub struct Forwarded {
    #[xml(child)]
    pub delay: Delay,
    #[xml(element)]
    pub stanza: Element,
}

/// XEP-0203 `<delay/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::DELAY, name = "delay")]
pub struct Delay {
    #[xml(attribute)]
    pub stamp: Stamp,
    #[xml(attribute(default))]
    pub from: Option<String>,
    #[xml(text)]
    pub reason: String,
}

/// XEP-0016 `<query xmlns='jabber:iq:privacy'/>` with an account's lists.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PRIVACY, name = "query")]
pub struct PrivacyLists {
    #[xml(child(default))]
    pub default: Option<PrivacyDefault>,
    #[xml(child(n = ..))]
    pub lists: Vec<PrivacyList>,
}

/// The list in force when a session names none.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PRIVACY, name = "default")]
pub struct PrivacyDefault {
    #[xml(attribute(default))]
    pub name: Option<String>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PRIVACY, name = "list")]
pub struct PrivacyList {
    #[xml(attribute)]
    pub name: String,
    #[xml(child(n = ..))]
    pub items: Vec<PrivacyItem>,
}

/// One rule: what it matches (`type` and `value`; neither: everything), `allow` or `deny`,
/// and the kinds of stanza it applies to (its children; none: all of them).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PRIVACY, name = "item")]
pub struct PrivacyItem {
    #[xml(attribute(default, name = "type"))]
    pub kind: Option<String>,
    #[xml(attribute(default))]
    pub value: Option<String>,
    #[xml(attribute)]
    pub action: String,
    #[xml(attribute)]
    pub order: u32,
    #[xml(element(n = ..))]
    pub stanzas: Vec<Element>,
}

/// Rhein: when the user was last seen, with the status of that logout.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "last")]
pub struct LastActivity {
    #[xml(attribute)]
    pub stamp: Stamp,
    #[xml(text)]
    pub status: String,
}

/// Rhein: one stored document of a kind other export elements do not carry, as text.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "data")]
pub struct Data {
    #[xml(attribute)]
    pub kind: String,
    #[xml(attribute(default))]
    pub name: String,
    #[xml(text)]
    pub payload: String,
}

/// Rhein: a multi-user chat room that persists.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "room")]
pub struct Room {
    #[xml(attribute)]
    pub jid: BareJid,
    /// The configuration as Rhein stores it (JSON).
    #[xml(extract(fields(text(type_ = String))))]
    pub config: String,
    #[xml(child(default))]
    pub subject: Option<Subject>,
    #[xml(child(n = ..))]
    pub affiliations: Vec<RoomAffiliation>,
    #[xml(child(n = ..))]
    pub nodes: Vec<Node>,
    #[xml(child(default))]
    pub archive: Option<Archive>,
    #[xml(child(n = ..))]
    pub data: Vec<Data>,
}

/// The subject of a room and who set it.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::RHEIN_PIE, name = "subject")]
pub struct Subject {
    #[xml(attribute(default))]
    pub by: String,
    #[xml(text)]
    pub text: String,
}

/// A lasting standing in a room, with the reserved nickname and the reason given.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "affiliation")]
pub struct RoomAffiliation {
    #[xml(attribute)]
    pub jid: String,
    /// `owner`, `admin`, `member` or `outcast`.
    #[xml(attribute)]
    pub affiliation: String,
    #[xml(attribute(default))]
    pub nick: String,
    #[xml(attribute(default))]
    pub reason: String,
}

/// Rhein: any other address that stores data (a MIX channel, the pubsub service, a host).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "entity")]
pub struct Entity {
    #[xml(attribute)]
    pub jid: String,
    #[xml(child(n = ..))]
    pub nodes: Vec<Node>,
    #[xml(child(default))]
    pub archive: Option<Archive>,
    #[xml(child(n = ..))]
    pub data: Vec<Data>,
}

/// Rhein: a pubsub node of a room or entity, its configuration as stored (JSON).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "node")]
pub struct Node {
    #[xml(attribute)]
    pub name: String,
    #[xml(extract(fields(text(type_ = String))))]
    pub config: String,
    /// Oldest first.
    #[xml(child(n = ..))]
    pub items: Vec<Item>,
    #[xml(child(n = ..))]
    pub affiliations: Vec<NodeAffiliation>,
    #[xml(child(n = ..))]
    pub subscriptions: Vec<NodeSubscription>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "affiliation")]
pub struct NodeAffiliation {
    #[xml(attribute)]
    pub jid: String,
    #[xml(attribute)]
    pub affiliation: String,
}

/// A subscription with its state and options (JSON) as stored.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::RHEIN_PIE, name = "subscription")]
pub struct NodeSubscription {
    #[xml(attribute)]
    pub jid: String,
    #[xml(attribute)]
    pub subid: String,
    #[xml(attribute)]
    pub state: String,
    #[xml(text)]
    pub options: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::el;

    #[test]
    fn test_size() {
        assert!(std::mem::size_of::<User>() < 1024);
    }

    /// XEP-0227's own examples read.
    #[test]
    fn the_specifications_examples_parse() {
        let user: User = el("<user xmlns='urn:xmpp:pie:0' name='juliet'>\
            <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>\
              <iter-count>100000</iter-count>\
              <salt>TmFDbE5hQ2xOYUNsTmFDbE5hQ2xOYUNsTmFDbE5hQ2xOYUNsTmFDbE5hQ2wK</salt>\
              <server-key>0pXWGK0GZJ6TR73AIUN3ITYtA1g=</server-key>\
              <stored-key>Q6qT/SbybblGCZz8e8eSfCJOQic=</stored-key>\
            </scram-credentials>\
            <query xmlns='jabber:iq:roster'><item jid='romeo@montague.net' name='Romeo' subscription='both'>\
              <group>Friends</group></item></query>\
            <vCard xmlns='vcard-temp'>\n  <FN>Juliet Capulet</FN>\n</vCard>\
            <offline-messages><message xmlns='jabber:client' from='romeo@montague.net/orchard' \
              to='juliet@capulet.com/balcony' type='chat'><body>Neither</body>\
              <delay xmlns='urn:xmpp:delay' from='capulet.com' stamp='1469-07-21T00:32:29Z'>Offline Storage</delay>\
            </message></offline-messages>\
            <presence xmlns='jabber:client' type='subscribe' id='xk3h1v69' from='romeo@montague.net'>\
              <nick xmlns='http://jabber.org/protocol/nick'>Romeo</nick></presence>\
            <pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\
              <configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='form'>\
                <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
                <field var='pubsub#access_model'><value>whitelist</value></field></x></configure>\
              <affiliations node='urn:xmpp:bookmarks:1'><affiliation jid='mercutio@example.net' affiliation='member'/></affiliations>\
              <subscriptions node='urn:xmpp:bookmarks:1'><subscription jid='mercutio@example.net' subscription='subscribed' subid='123-abc'/></subscriptions>\
            </pubsub>\
            <pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'>\
              <item id='theplay@conference.shakespeare.lit'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/></item>\
            </items></pubsub>\
            <archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='28482-98726-73623'>\
              <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>\
              <message xmlns='jabber:client' to='juliet@capulet.lit/balcony' from='romeo@montague.lit/orchard' type='chat'>\
              <body>Call me but love</body></message></forwarded></result></archive>\
            <query xmlns='jabber:iq:privacy'><list name='public'/></query>\
            </user>")
        .try_into()
        .unwrap();
        assert_eq!(user.name, "juliet");
        assert_eq!(user.scram[0].iterations, 100_000);
        assert_eq!(user.scram[0].stored_key.len(), 20);
        assert_eq!(user.roster.as_ref().unwrap().items[0].groups.len(), 1);
        assert_eq!(user.vcard.as_ref().unwrap().content.len(), 1);
        assert_eq!(user.offline.as_ref().unwrap().messages.len(), 1);
        assert_eq!(user.requests[0].from.as_str(), "romeo@montague.net");
        let nodes = user.pep_nodes.as_ref().unwrap();
        assert_eq!((nodes.configure.len(), nodes.affiliations.len(), nodes.subscriptions.len()), (1, 1, 1));
        assert_eq!(user.pep_items.as_ref().unwrap().nodes[0].items.len(), 1);
        let archived = &user.archive.as_ref().unwrap().results[0];
        assert_eq!(archived.forwarded.delay.stamp, Stamp(1_278_803_305_000));
        assert_eq!(archived.forwarded.stanza.name(), "message");
        assert_eq!(user.privacy.as_ref().unwrap().lists[0].name, "public");
        assert!(user.unknown.is_empty());
    }

    /// What Rhein writes, it reads back as it was.
    #[test]
    fn rheins_additions_round_trip() {
        let mut user = User::new("romeo");
        user.account = Some(Account {
            created: Some(Stamp(1_000)),
            admin: Some(true),
            disabled: None,
            argon2: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        });
        user.last = Some(LastActivity { stamp: Stamp(2_000), status: "gone".into() });
        user.data.push(Data { kind: "mix".into(), name: "c@mix.x".into(), payload: "<x/> & 1".into() });
        user.archive = Some(Archive {
            results: vec![ArchivedMessage {
                id: "a1".into(),
                with: Some("juliet@x".into()),
                forwarded: Forwarded {
                    delay: Delay { stamp: Stamp(3_001), from: None, reason: String::new() },
                    stanza: el("<message xmlns='jabber:client' to='juliet@x'><body>hi</body></message>"),
                },
            }],
        });
        let written = Element::from(user.clone());
        let read: User = written.clone().try_into().unwrap();
        assert_eq!(read, user);
        assert!(crate::xml::to_string(&written).contains("created='1970-01-01T00:00:01.000Z'"));

        let room = Room {
            jid: BareJid::new("r@conference.x").unwrap(),
            config: "{\"a\":1}".into(),
            subject: Some(Subject { by: "n".into(), text: "Hello".into() }),
            affiliations: vec![RoomAffiliation {
                jid: "o@x".into(),
                affiliation: "owner".into(),
                nick: String::new(),
                reason: String::new(),
            }],
            nodes: vec![Node {
                name: "n".into(),
                config: "{}".into(),
                items: vec![Item {
                    id: "i".into(),
                    publisher: Some("o@x".into()),
                    payload: Some(el("<p xmlns='t'/>")),
                }],
                affiliations: vec![NodeAffiliation { jid: "o@x".into(), affiliation: "publisher".into() }],
                subscriptions: vec![NodeSubscription {
                    jid: "s@x".into(),
                    subid: "1".into(),
                    state: "subscribed".into(),
                    options: "{}".into(),
                }],
            }],
            archive: None,
            data: vec![],
        };
        assert_eq!(Room::try_from(Element::from(room.clone())).unwrap(), room);
    }

    #[test]
    fn invalid_content_is_refused_with_the_reason() {
        let no_salt = "<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>\
            <iter-count>1</iter-count><server-key>AA==</server-key><stored-key>AA==</stored-key></scram-credentials>";
        let e = ScramCredentials::try_from(el(no_salt)).unwrap_err();
        assert!(e.to_string().contains("salt"), "{e}");
        let bad_stamp = "<last xmlns='https://rhein.chat/protocol/pie:0' stamp='yesterday'/>";
        let e = LastActivity::try_from(el(bad_stamp)).unwrap_err();
        assert!(e.to_string().contains("XEP-0082"), "{e}");
        let bad_jid = "<presence xmlns='jabber:client' type='subscribe' from='@'/>";
        assert!(SubscriptionRequest::try_from(el(bad_jid)).is_err());
    }
}
