//! XEP-0060 requests as a service reads them (`pubsub` and `pubsub#owner`). xmpp-parsers'
//! `PubSub` has no XEP-0059 `<set/>` beside the operation, reads an absent `notify` as
//! `false` (a node that notifies retractions must then stay silent) and requires `node` where
//! XEP-0060 answers its absence with `<nodeid-required/>`: here `node` is optional and the
//! service says what is missing. The lists a service answers with are the same types,
//! filled in.

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use jid::Jid;
use minidom::Element;
use xmpp_parsers::pubsub::{AffiliationAttribute, Subscription};
use xmpp_parsers::rsm::SetQuery;
use xso::{AsXml, FromXml};

/// `<pubsub xmlns='http://jabber.org/protocol/pubsub'>`: one operation (the first field set,
/// in XEP-0060's order), with the companions it may carry.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PUBSUB, name = "pubsub")]
pub struct Request {
    #[xml(child(default))]
    pub create: Option<Create>,
    /// With `create`: the new node's configuration.
    #[xml(child(default))]
    pub configure: Option<Configure>,
    #[xml(child(default))]
    pub publish: Option<Publish>,
    /// With `publish`: the node's configuration if it is new, preconditions if not.
    #[xml(child(default))]
    pub publish_options: Option<PublishOptions>,
    #[xml(child(default))]
    pub retract: Option<Retract>,
    #[xml(child(default))]
    pub subscribe: Option<Subscribe>,
    #[xml(child(default))]
    pub unsubscribe: Option<Unsubscribe>,
    #[xml(child(default))]
    pub options: Option<Options>,
    #[xml(child(default))]
    pub items: Option<Items>,
    #[xml(child(default))]
    pub affiliations: Option<Affiliations>,
    #[xml(child(default))]
    pub subscriptions: Option<Subscriptions>,
    #[xml(child(default))]
    pub default: Option<Default>,
    /// With `items`: a page (XEP-0059).
    #[xml(child(default))]
    pub rsm: Option<SetQuery>,
}

/// `<item id>payload</item>`: in a publication one payload, in a retraction or a request
/// for items just the id.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "item")]
pub struct Item {
    #[xml(attribute(default))]
    pub id: Option<String>,
    #[xml(element(n = ..))]
    pub payloads: Vec<Element>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "create")]
pub struct Create {
    #[xml(attribute(default))]
    pub node: Option<String>,
}

/// A `pubsub#node_config` form, kept as an element for the service's form reader.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "configure")]
pub struct Configure {
    #[xml(element(default))]
    pub form: Option<Element>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "publish")]
pub struct Publish {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(child(n = ..))]
    pub items: Vec<Item>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "publish-options")]
pub struct PublishOptions {
    #[xml(element(default))]
    pub form: Option<Element>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "retract")]
pub struct Retract {
    #[xml(attribute(default))]
    pub node: Option<String>,
    /// Absent: as the node's `notify_retract` says.
    #[xml(attribute(default))]
    pub notify: Option<bool>,
    #[xml(child(n = ..))]
    pub items: Vec<Item>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "subscribe")]
pub struct Subscribe {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(attribute)]
    pub jid: Jid,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "unsubscribe")]
pub struct Unsubscribe {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(attribute)]
    pub jid: Jid,
    #[xml(attribute(default))]
    pub subid: Option<String>,
}

/// Subscription options (XEP-0060 §6.3): asked for (no form), submitted (a form), or beside
/// a `<subscribe/>` (subscribe and configure, §6.3.7).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "options")]
pub struct Options {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(attribute(default))]
    pub jid: Option<Jid>,
    #[xml(attribute(default))]
    pub subid: Option<String>,
    #[xml(element(default))]
    pub form: Option<Element>,
}

#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "items")]
pub struct Items {
    #[xml(attribute(default))]
    pub node: Option<String>,
    /// As written: the service says what is wrong with a value that is not a number.
    #[xml(attribute(default))]
    pub max_items: Option<String>,
    #[xml(child(n = ..))]
    pub items: Vec<Item>,
}

/// Asked for (no items: the requester's affiliations, §5.7) or answered.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PUBSUB, name = "affiliations")]
pub struct Affiliations {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(child(n = ..))]
    pub items: Vec<AffiliationOf>,
}

/// The requester's affiliation with one node.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "affiliation")]
pub struct AffiliationOf {
    #[xml(attribute)]
    pub node: String,
    #[xml(attribute)]
    pub affiliation: AffiliationAttribute,
}

/// Asked for (no items: the requester's subscriptions, §5.6) or answered.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::PUBSUB, name = "subscriptions")]
pub struct Subscriptions {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(child(n = ..))]
    pub items: Vec<SubscriptionOf>,
}

/// A subscription as a service reports it (§6.1.2, §5.6): after subscribing, in lists.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "subscription")]
pub struct SubscriptionOf {
    #[xml(attribute(default))]
    pub node: Option<String>,
    #[xml(attribute)]
    pub jid: Jid,
    #[xml(attribute(default))]
    pub subid: Option<String>,
    #[xml(attribute)]
    pub subscription: Subscription,
}

/// The default subscription options (recognised, refused as unsupported).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::PUBSUB, name = "default")]
pub struct Default {
    #[xml(attribute(default))]
    pub node: Option<String>,
}

/// `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>`: one owner operation.
pub mod owner {
    use super::*;

    #[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "pubsub")]
    pub struct Request {
        #[xml(child(default))]
        pub configure: Option<Configure>,
        #[xml(child(default))]
        pub default: Option<Default>,
        #[xml(child(default))]
        pub delete: Option<Delete>,
        #[xml(child(default))]
        pub purge: Option<Purge>,
        #[xml(child(default))]
        pub affiliations: Option<Affiliations>,
        #[xml(child(default))]
        pub subscriptions: Option<Subscriptions>,
    }

    /// A node's configuration: asked for (no form) or submitted (a form, possibly `cancel`).
    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "configure")]
    pub struct Configure {
        #[xml(attribute(default))]
        pub node: Option<String>,
        #[xml(element(default))]
        pub form: Option<Element>,
    }

    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "default")]
    pub struct Default;

    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "delete")]
    pub struct Delete {
        #[xml(attribute(default))]
        pub node: Option<String>,
        #[xml(child(default))]
        pub redirect: Option<Redirect>,
    }

    /// Where the node's subscribers should go instead (XEP-0060 §8.4.3).
    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "redirect")]
    pub struct Redirect {
        #[xml(attribute)]
        pub uri: String,
    }

    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "purge")]
    pub struct Purge {
        #[xml(attribute(default))]
        pub node: Option<String>,
    }

    /// Asked for (no items) or changed (items).
    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "affiliations")]
    pub struct Affiliations {
        #[xml(attribute(default))]
        pub node: Option<String>,
        #[xml(child(n = ..))]
        pub items: Vec<Affiliation>,
    }

    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "affiliation")]
    pub struct Affiliation {
        #[xml(attribute)]
        pub jid: Jid,
        #[xml(attribute)]
        pub affiliation: AffiliationAttribute,
    }

    /// Asked for (no items) or changed (items).
    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "subscriptions")]
    pub struct Subscriptions {
        #[xml(attribute(default))]
        pub node: Option<String>,
        #[xml(child(n = ..))]
        pub items: Vec<SubscriptionItem>,
    }

    #[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
    #[xml(namespace = ns::PUBSUB_OWNER, name = "subscription")]
    pub struct SubscriptionItem {
        #[xml(attribute)]
        pub jid: Jid,
        #[xml(attribute(default))]
        pub subid: Option<String>,
        #[xml(attribute)]
        pub subscription: Subscription,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use xso::error::FromElementError;

    const PS: &str = "xmlns='http://jabber.org/protocol/pubsub'";

    #[test]
    fn a_publication_reads_with_its_options() {
        let r = Request::try_from(el(&format!(
            "<pubsub {PS}><publish node='urn:xmpp:bookmarks:1'><item id='room@x'>\
             <conference xmlns='urn:xmpp:bookmarks:1'/></item></publish>\
             <publish-options><x xmlns='jabber:x:data' type='submit'/></publish-options></pubsub>"
        )))
        .unwrap();
        let publish = r.publish.unwrap();
        assert_eq!(
            (publish.node.as_deref(), publish.items[0].id.as_deref()),
            (Some("urn:xmpp:bookmarks:1"), Some("room@x"))
        );
        assert_eq!(publish.items[0].payloads.len(), 1);
        assert!(publish.items[0].payloads[0].is("conference", "urn:xmpp:bookmarks:1"));
        assert!(r.publish_options.unwrap().form.unwrap().is("x", ns::DATA));
    }

    #[test]
    fn a_retraction_keeps_an_absent_notify_apart_from_false() {
        let r = Retract::try_from(el(&format!("<retract {PS} node='n'><item id='1'/></retract>"))).unwrap();
        assert_eq!(r.notify, None);
        let r = Retract::try_from(el(&format!("<retract {PS} node='n' notify='1'><item id='1'/></retract>"))).unwrap();
        assert_eq!(r.notify, Some(true));
        let r = Retract::try_from(el(&format!("<retract {PS} node='n' notify='false'/>"))).unwrap();
        assert_eq!(r.notify, Some(false));
        let bad = invalid::<Retract>(&format!("<retract {PS} node='n' notify='maybe'/>"));
        assert_eq!(bad, "text parse error: provided string was not `true` or `false`");
    }

    #[test]
    fn items_with_a_page_and_a_missing_node_read_for_the_service_to_refuse() {
        let r = Request::try_from(el(&format!(
            "<pubsub {PS}><items max_items='2'/><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></pubsub>"
        )))
        .unwrap();
        let items = r.items.unwrap();
        assert_eq!((items.node, items.max_items.as_deref()), (None, Some("2")));
        assert_eq!(r.rsm.unwrap().max, Some(2));
    }

    #[test]
    fn a_subscription_needs_a_jid() {
        let s = Subscribe::try_from(el(&format!("<subscribe {PS} node='n' jid='a@x/r'/>"))).unwrap();
        assert_eq!(s.jid.as_str(), "a@x/r");
        assert_eq!(
            invalid::<Subscribe>(&format!("<subscribe {PS} node='n'/>")),
            "Required attribute field 'jid' on Subscribe element missing."
        );
        assert!(matches!(
            Subscribe::try_from(el(&format!("<subscribe {PS} node='n' jid='@x'/>"))),
            Err(FromElementError::Invalid(xso::error::Error::TextParseError(_)))
        ));
    }

    #[test]
    fn owner_requests_read_and_round_trip() {
        let r = owner::Request::try_from(el("<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\
             <delete node='n'><redirect uri='xmpp:x?;node=m'/></delete></pubsub>"))
        .unwrap();
        let delete = r.delete.clone().unwrap();
        assert_eq!((delete.node.as_deref(), delete.redirect.unwrap().uri.as_str()), (Some("n"), "xmpp:x?;node=m"));
        assert_eq!(owner::Request::try_from(Element::from(r.clone())).unwrap(), r);
        let a = owner::Request::try_from(el("<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\
             <affiliations node='n'><affiliation jid='b@x' affiliation='outcast'/></affiliations></pubsub>"))
        .unwrap();
        assert_eq!(a.affiliations.unwrap().items[0].affiliation, AffiliationAttribute::Outcast);
        let bad = invalid::<owner::Affiliations>(
            "<affiliations xmlns='http://jabber.org/protocol/pubsub#owner' node='n'><affiliation jid='b@x' affiliation='king'/></affiliations>",
        );
        assert_eq!(bad, "text parse error: Unknown value for 'affiliation' attribute.");
    }

    #[test]
    fn a_request_round_trips() {
        let r = Request {
            retract: Some(Retract {
                node: Some("n".into()),
                notify: Some(true),
                items: vec![Item { id: Some("1".into()), payloads: vec![] }],
            }),
            ..Request::default()
        };
        assert_eq!(Request::try_from(Element::from(r.clone())).unwrap(), r);
    }
}
