//! XEP-0359 stanza ids: the id an archiving entity (an account's server, a room, a channel)
//! gives a message, and the rule that only that entity may say so.

use crate::{Element, ns, xml};

/// `<stanza-id id by/>`.
pub fn stanza_id(id: &str, by: &str) -> Element {
    let mut sid = xml::with_attr(Element::bare("stanza-id", ns::STANZA_ID), "id", id);
    xml::set_attr(&mut sid, "by", by);
    sid
}

/// Drops the `<stanza-id/>`s of `el` that claim to be by `by`: a sender must not forge ids
/// in the archiving entity's name (XEP-0359 §5).
pub fn drop_claims(el: &mut Element, by: &str) {
    for node in el.take_nodes() {
        let forged = node.as_element().is_some_and(|c| c.is("stanza-id", ns::STANZA_ID) && c.attr("by") == Some(by));
        if !forged {
            el.append_node(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_claims_by_the_entity_are_dropped() {
        let mut m: Element = "<message xmlns='jabber:client'><body>hi</body>\
            <stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='a@x'/>\
            <stanza-id xmlns='urn:xmpp:sid:0' id='theirs' by='b@x'/></message>"
            .parse()
            .unwrap();
        drop_claims(&mut m, "a@x");
        let ids: Vec<&str> = m.children().filter_map(|c| c.attr("id")).collect();
        assert_eq!(ids, ["theirs"]);
        assert!(m.get_child("body", "jabber:client").is_some());
        assert_eq!(stanza_id("1", "a@x").attr("by"), Some("a@x"));
    }
}
