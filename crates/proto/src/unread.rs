//! Rhein's unread overview (`https://rhein.chat/protocol/unread:0`, described in the
//! README): at login a client asks, by IQ or inline in Bind2 (XEP-0386), for every open
//! conversation with its unread and mention counts and its newest message, instead of paging
//! each archive. Rhein's own extension: XEP-0430 (Inbox) answers with one forwarded message
//! per conversation, MAM-style, which cannot ride in Bind2's `<bound/>`.

use crate::ns;
use jid::{BareJid, Jid};
use std::borrow::Cow;
use xso::error::Error;
use xso::{AsXml, AsXmlText, FromXml, FromXmlText};

/// `<unread/>` in an IQ get or in Bind2's `<bind/>`: the overview, with the newest message's
/// body (`preview`) if asked, at most `max` conversations (the server caps it too).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::UNREAD, name = "unread")]
pub struct Query {
    #[xml(attribute(default))]
    pub preview: bool,
    #[xml(attribute(default))]
    pub max: Option<usize>,
}

/// `<unread/>` in the IQ result or in Bind2's `<bound/>`: the conversations, newest first;
/// `complete` is false when more were left out than `max` allowed.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::UNREAD, name = "unread")]
pub struct Overview {
    #[xml(attribute)]
    pub complete: bool,
    #[xml(child(n = ..))]
    pub conversations: Vec<Conversation>,
}

/// One conversation: a chat, a room (by its bookmark), a MIX channel, or the private
/// messages from a room's occupants (one conversation per room, as archived).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::UNREAD, name = "conversation")]
pub struct Conversation {
    #[xml(attribute)]
    pub jid: BareJid,
    #[xml(attribute(name = "type"))]
    pub kind: Kind,
    /// Messages after the newest one the account displayed, read or sent.
    #[xml(attribute)]
    pub unread: u64,
    /// Of those, the ones that mention the account.
    #[xml(attribute)]
    pub mentions: u64,
    #[xml(child(default))]
    pub last: Option<Last>,
}

/// The newest message: its XEP-0359 stanza id given `by` the archive holding it (what an
/// XEP-0490 displayed state and an XEP-0313 query name it by), its time, its sender, and
/// the beginning of its body when the query asked for a preview.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::UNREAD, name = "last")]
pub struct Last {
    #[xml(attribute)]
    pub id: String,
    #[xml(attribute)]
    pub by: BareJid,
    /// XEP-0082 date and time.
    #[xml(attribute)]
    pub stamp: String,
    #[xml(attribute(default))]
    pub from: Option<Jid>,
    #[xml(extract(default, name = "body", fields(text(type_ = String))))]
    pub body: Option<String>,
}

/// What kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A one-to-one chat.
    Chat,
    /// A room (XEP-0045), counted in the room's archive.
    Groupchat,
    /// A MIX channel (XEP-0369), counted in the account's archive (XEP-0405).
    Channel,
    /// Private messages from occupants of the room `jid`.
    MucPm,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Groupchat => "groupchat",
            Self::Channel => "channel",
            Self::MucPm => "muc-pm",
        }
    }
}

impl FromXmlText for Kind {
    fn from_xml_text(s: String) -> Result<Self, Error> {
        Ok(match s.as_str() {
            "chat" => Self::Chat,
            "groupchat" => Self::Groupchat,
            "channel" => Self::Channel,
            "muc-pm" => Self::MucPm,
            _ => return Err(Error::Other("Unknown value for 'type' attribute.")),
        })
    }
}

impl AsXmlText for Kind {
    fn as_xml_text(&self) -> Result<Cow<'_, str>, Error> {
        Ok(Cow::Borrowed(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn sizes_stay_small() {
        assert_eq!(std::mem::size_of::<Query>(), 24);
        assert_eq!(std::mem::size_of::<Kind>(), 1);
    }

    #[test]
    fn a_query_reads_with_and_without_options() {
        let q = Query::try_from(el("<unread xmlns='https://rhein.chat/protocol/unread:0'/>")).unwrap();
        assert_eq!(q, Query::default());
        let q = Query::try_from(el("<unread xmlns='https://rhein.chat/protocol/unread:0' preview='true' max='20'/>"))
            .unwrap();
        assert_eq!(q, Query { preview: true, max: Some(20) });
        assert_eq!(Query::try_from(Element::from(q.clone())).unwrap(), q);
    }

    #[test]
    fn an_overview_serialises_as_in_the_readme() {
        let overview = Overview {
            complete: true,
            conversations: vec![Conversation {
                jid: BareJid::new("juliet@capulet.example").unwrap(),
                kind: Kind::Chat,
                unread: 2,
                mentions: 1,
                last: Some(Last {
                    id: "Xk8a".into(),
                    by: BareJid::new("romeo@montague.example").unwrap(),
                    stamp: "2025-06-01T10:00:00.000Z".into(),
                    from: Some(Jid::new("juliet@capulet.example/balcony").unwrap()),
                    body: Some("Romeo?".into()),
                }),
            }],
        };
        let xml = "<unread xmlns='https://rhein.chat/protocol/unread:0' complete='true'>\
             <conversation jid='juliet@capulet.example' type='chat' unread='2' mentions='1'>\
             <last id='Xk8a' by='romeo@montague.example' stamp='2025-06-01T10:00:00.000Z' \
             from='juliet@capulet.example/balcony'><body>Romeo?</body></last></conversation></unread>";
        assert_eq!(Element::from(overview.clone()), el(xml));
        assert_eq!(Overview::try_from(el(xml)).unwrap(), overview);
    }

    #[test]
    fn invalid_ones_are_refused_with_the_reason() {
        assert_eq!(
            invalid::<Query>("<unread xmlns='https://rhein.chat/protocol/unread:0' max='many'/>"),
            "text parse error: invalid digit found in string"
        );
        assert_eq!(
            invalid::<Conversation>(
                "<conversation xmlns='https://rhein.chat/protocol/unread:0' jid='a@b' type='forum' unread='0' mentions='0'/>"
            ),
            "Unknown value for 'type' attribute."
        );
    }
}
