//! XEP-0372 (0.5.0) References, the part servers read: a `mention` of an entity by URI
//! (`xmpp:user@host`, or a room JID with a nickname), which makes a message count as a
//! mention in the unread overview and in room notifications. xmpp-parsers 0.23 has no
//! XEP-0372.

use crate::ns;
use xso::{AsXml, FromXml};

/// `<reference type uri begin? end? anchor?/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::REFERENCE, name = "reference")]
pub struct Reference {
    /// `mention` or `data`.
    #[xml(attribute(name = "type"))]
    pub kind: String,
    #[xml(attribute)]
    pub uri: String,
    #[xml(attribute(default))]
    pub begin: Option<usize>,
    #[xml(attribute(default))]
    pub end: Option<usize>,
    #[xml(attribute(default))]
    pub anchor: Option<String>,
}

impl Reference {
    /// The JID a `mention` names (its `xmpp:` URI without query), if it is one.
    pub fn mentioned(&self) -> Option<jid::Jid> {
        if self.kind != "mention" {
            return None;
        }
        let jid = self.uri.strip_prefix("xmpp:")?;
        jid::Jid::new(jid.split('?').next().unwrap_or_default()).ok()
    }
}

/// The JIDs `message`'s XEP-0372 references mention (references that do not read are
/// skipped).
pub fn mentioned(message: &minidom::Element) -> impl Iterator<Item = jid::Jid> + '_ {
    message
        .children()
        .filter(|c| c.is("reference", ns::REFERENCE))
        .filter_map(|c| Reference::try_from(c.clone()).ok())
        .filter_map(|r| r.mentioned())
}

/// Whether `message` carries an XEP-0372 mention of the account `account` (its bare JID).
pub fn mentions_account(message: &minidom::Element, account: &jid::BareJid) -> bool {
    mentioned(message).any(|jid| jid.node().is_some() && jid.resource().is_none() && jid.to_bare() == *account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn a_mention_reads_and_names_its_jid() {
        let r = Reference::try_from(el(
            "<reference xmlns='urn:xmpp:reference:0' begin='72' end='78' type='mention' uri='xmpp:juliet@capulet.lit'/>",
        ))
        .unwrap();
        assert_eq!((r.begin, r.end), (Some(72), Some(78)));
        assert_eq!(r.mentioned().unwrap().as_str(), "juliet@capulet.lit");
        assert_eq!(Reference::try_from(Element::from(r.clone())).unwrap(), r);
        let data = Reference { kind: "data".into(), ..r };
        assert_eq!(data.mentioned(), None);
        let query = Reference { uri: "xmpp:room@muc.lit/nick?join".into(), kind: "mention".into(), ..data };
        assert_eq!(query.mentioned().unwrap().as_str(), "room@muc.lit/nick");
    }

    #[test]
    fn a_message_mentions_an_account_by_its_bare_jid_only() {
        let msg = el("<message xmlns='jabber:client'><body>hi</body>\
             <reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:juliet@capulet.lit'/>\
             <reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:room@muc.lit/romeo'/></message>");
        assert!(mentions_account(&msg, &jid::BareJid::new("juliet@capulet.lit").unwrap()));
        assert!(!mentions_account(&msg, &jid::BareJid::new("romeo@montague.lit").unwrap()));
        assert!(!mentions_account(&msg, &jid::BareJid::new("room@muc.lit").unwrap()));
    }

    #[test]
    fn one_without_uri_is_refused() {
        assert_eq!(
            invalid::<Reference>("<reference xmlns='urn:xmpp:reference:0' type='mention'/>"),
            "Required attribute field 'uri' on Reference element missing."
        );
    }
}
