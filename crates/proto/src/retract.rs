//! XEP-0424 (0.4.2) Message Retraction and XEP-0425 (0.3.0) Moderated Message Retraction:
//! a sender's `<retract/>`, a moderator's `<moderate/>`, the notice a room sends for it, and
//! the `<retracted/>` tombstone an archive keeps in the message's place. xmpp-parsers 0.23
//! has neither XEP.

use crate::ns;
use crate::parsers::occupant_id::OccupantId;
use jid::Jid;
use xso::{AsXml, FromXml};

/// `<retract id/>`: the sender withdraws the message `id` (in a chat its `id` attribute, in
/// a room the room's XEP-0359 stanza id). A room's notice of a moderation carries who did it
/// and why (XEP-0425 §3.1).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MESSAGE_RETRACT, name = "retract")]
pub struct Retract {
    #[xml(attribute)]
    pub id: String,
    #[xml(child(default))]
    pub moderated: Option<Moderated>,
    #[xml(extract(default, name = "reason", fields(text(type_ = String))))]
    pub reason: Option<String>,
}

/// `<moderated/>`: the retraction was a moderator's, `by` them (their room JID).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MESSAGE_MODERATE, name = "moderated")]
pub struct Moderated {
    #[xml(attribute(default))]
    pub by: Option<Jid>,
    #[xml(child(default))]
    pub occupant_id: Option<OccupantId>,
}

/// `<moderate id/>` (XEP-0425 §3): a moderator asks the room to retract the message with
/// the room's stanza id `id`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::MESSAGE_MODERATE, name = "moderate")]
pub struct Moderate {
    #[xml(attribute)]
    pub id: String,
    /// The action asked for; retraction is the only one defined.
    #[xml(child)]
    pub retract: RetractAction,
    #[xml(extract(default, name = "reason", fields(text(type_ = String))))]
    pub reason: Option<String>,
}

/// The empty `<retract/>` inside `<moderate/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MESSAGE_RETRACT, name = "retract")]
pub struct RetractAction;

/// The tombstone (XEP-0424 §6, XEP-0425 §4): what an archive keeps of a retracted message.
/// `id` is the retraction's message id, `stamp` when it happened.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::MESSAGE_RETRACT, name = "retracted")]
pub struct Retracted {
    #[xml(attribute(default))]
    pub id: Option<String>,
    /// Who retracted it, for clients that read it here rather than from `<moderated/>`
    /// (the schema allows both).
    #[xml(attribute(default))]
    pub by: Option<Jid>,
    #[xml(attribute(default))]
    pub stamp: Option<String>,
    #[xml(child(default))]
    pub moderated: Option<Moderated>,
    #[xml(extract(default, name = "reason", fields(text(type_ = String))))]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn a_senders_retraction_reads_and_round_trips() {
        let r = Retract::try_from(el("<retract xmlns='urn:xmpp:message-retract:1' id='wrong-recipient-1'/>")).unwrap();
        assert_eq!(r, Retract { id: "wrong-recipient-1".into(), moderated: None, reason: None });
        assert_eq!(
            crate::xml::to_string(&Element::from(r)),
            "<retract xmlns='urn:xmpp:message-retract:1' id='wrong-recipient-1'/>"
        );
    }

    #[test]
    fn a_moderation_request_and_its_notice_read_as_in_the_xep() {
        let m = Moderate::try_from(el("<moderate id='stanza-id-1' xmlns='urn:xmpp:message-moderate:1'>\
             <retract xmlns='urn:xmpp:message-retract:1'/><reason>Spam</reason></moderate>"))
        .unwrap();
        assert_eq!((m.id.as_str(), m.reason.as_deref()), ("stanza-id-1", Some("Spam")));
        assert_eq!(Moderate::try_from(Element::from(m.clone())).unwrap(), m);
        let notice = Retract::try_from(el("<retract id='stanza-id-1' xmlns='urn:xmpp:message-retract:1'>\
             <moderated by='room@muc.example.com/macbeth' xmlns='urn:xmpp:message-moderate:1'>\
             <occupant-id xmlns='urn:xmpp:occupant-id:0' id='dd72'/></moderated>\
             <reason>This message contains inappropriate content</reason></retract>"))
        .unwrap();
        let moderated = notice.moderated.clone().unwrap();
        assert_eq!(moderated.by.unwrap().as_str(), "room@muc.example.com/macbeth");
        assert_eq!(moderated.occupant_id.unwrap().id, "dd72");
        assert_eq!(Retract::try_from(Element::from(notice.clone())).unwrap(), notice);
    }

    #[test]
    fn tombstones_serialise_with_their_marker() {
        let plain = Retracted {
            id: Some("retract-message-1".into()),
            stamp: Some("2019-09-20T23:09:32Z".into()),
            ..Default::default()
        };
        let xml = crate::xml::to_string(&Element::from(plain.clone()));
        assert_eq!(
            xml,
            "<retracted xmlns='urn:xmpp:message-retract:1' id='retract-message-1' stamp='2019-09-20T23:09:32Z'/>"
        );
        assert_eq!(Retracted::try_from(el(&xml)).unwrap(), plain);
        let moderated = Retracted {
            moderated: Some(Moderated { by: Some(Jid::new("witch@shakespeare.example").unwrap()), occupant_id: None }),
            reason: Some("Spam".into()),
            ..Default::default()
        };
        let back = Retracted::try_from(Element::from(moderated.clone())).unwrap();
        assert_eq!(back, moderated);
    }

    #[test]
    fn invalid_ones_are_refused_with_the_reason() {
        assert_eq!(
            invalid::<Retract>("<retract xmlns='urn:xmpp:message-retract:1'/>"),
            "Required attribute field 'id' on Retract element missing."
        );
        assert_eq!(
            invalid::<Moderate>("<moderate xmlns='urn:xmpp:message-moderate:1' id='x'/>"),
            "Missing child field 'retract' in Moderate element."
        );
        assert_eq!(
            invalid::<Moderated>("<moderated xmlns='urn:xmpp:message-moderate:1' by='@x'/>"),
            "text parse error: nodepart empty despite the presence of a @"
        );
    }
}
