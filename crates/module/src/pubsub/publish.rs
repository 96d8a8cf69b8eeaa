//! A publish request as every service on the engine takes it (XEP-0060 §7.1): one item with
//! one payload, and publish-options that must be the publish-options form.

use super::{is_options_form, node_of, pubsub_error, wrap};
use rhein_proto::pubsub as ps;
use rhein_proto::{Element, StanzaError, ns, xml};

/// A data form among a request's children, if it carries one.
pub fn data_form(form: Option<Element>) -> Option<Element> {
    form.filter(|f| f.is("x", ns::DATA))
}

/// What a publish request asks for, checked.
pub struct Publication {
    pub node: String,
    /// The item's id, or one the service made up (§7.1.4).
    pub id: String,
    pub payload: Element,
    /// The publish-options form, to be checked as preconditions.
    pub options: Option<Element>,
}

impl Publication {
    pub fn read(publish: ps::Publish, options: Option<ps::PublishOptions>) -> Result<Self, StanzaError> {
        let node = node_of(publish.node)?;
        let options = data_form(options.and_then(|o| o.form));
        if options.as_ref().is_some_and(|o| !is_options_form(o)) {
            return Err(StanzaError::bad_request().with_text("publish-options must be a publish-options form"));
        }
        let mut items = publish.items.into_iter();
        let (Some(item), None) = (items.next(), items.next()) else {
            return Err(StanzaError::bad_request()
                .with_app(pubsub_error("invalid-payload"))
                .with_text("publish one item at a time"));
        };
        let mut payloads = item.payloads.into_iter();
        let (Some(payload), None) = (payloads.next(), payloads.next()) else {
            return Err(StanzaError::bad_request()
                .with_app(pubsub_error("payload-required"))
                .with_text("an item carries exactly one payload"));
        };
        let id = item.id.filter(|id| !id.is_empty()).unwrap_or_else(xml::random_id);
        Ok(Self { node, id, payload, options })
    }

    /// The result: which item went to which node.
    pub fn answer(node: &str, id: &str) -> Element {
        let mut publish = xml::with_attr(Element::bare("publish", ns::PUBSUB), "node", node);
        publish.append_child(xml::with_attr(Element::bare("item", ns::PUBSUB), "id", id));
        wrap(ns::PUBSUB, publish)
    }
}
