//! Node configuration (XEP-0060 §8.2) as PEP shows and takes it: the defaults of the nodes
//! clients rely on, the `pubsub#node_config` form, and publish-options preconditions (§7.1.5).
//! The configuration itself is the engine's ([`rhein_pubsub::NodeConfig`]).

use rhein_proto::form::{boolean, field, options, values};
use rhein_proto::{Element, StanzaError, ns, xml};
pub use rhein_pubsub::{AccessModel as Access, NodeConfig, SendLast};

const NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";

/// Nodes that are private lists by nature start out private and unbounded, whatever the
/// client forgets to ask for.
pub fn default_for(node: &str) -> NodeConfig {
    let base = NodeConfig::default();
    match node {
        ns::BOOKMARKS | ns::OPEN_CONVERSATIONS | ns::MDS_DISPLAYED => NodeConfig {
            access_model: Access::Whitelist,
            max_items: None,
            send_last_published_item: SendLast::Never,
            ..base
        },
        ns::MOVED => NodeConfig { access_model: Access::Open, max_items: Some(1), ..base },
        _ => base,
    }
}

fn bad(text: &str) -> StanzaError {
    StanzaError::not_acceptable().with_text(text.to_owned())
}

/// An option value from its name in a form.
fn from_wire<T: serde::de::DeserializeOwned>(name: &str, error: &str) -> Result<T, StanzaError> {
    NodeConfig::from_wire(name).ok_or_else(|| bad(error))
}

/// A stored configuration; a corrupt one falls back to the defaults of its node (which are
/// private for the nodes that hold private lists).
pub fn stored(node: &str, json: &str) -> NodeConfig {
    NodeConfig::from_json(json).unwrap_or_else(|e| {
        tracing::warn!(node, error = %e, "unreadable node configuration, using defaults");
        default_for(node)
    })
}

/// The configuration as the `pubsub#node_config` and publish-options forms carry it.
pub trait NodeForm {
    /// Sets the fields a submitted form names; unknown fields are ignored.
    fn apply(&mut self, form: &Element) -> Result<(), StanzaError>;
    /// XEP-0060 §7.1.5: publish-options are preconditions on an existing node. Any named
    /// option that differs from the node's configuration fails the publication.
    fn check_preconditions(&self, options: &Element) -> Result<(), StanzaError>;
    /// The configuration as a data form (`form` to fill in, `result` to report).
    fn to_form(&self, form_type: &str) -> Element;
}

impl NodeForm for NodeConfig {
    fn apply(&mut self, form: &Element) -> Result<(), StanzaError> {
        for field in form.children().filter(|c| c.is("field", ns::DATA)) {
            let vals = values(field);
            let one = vals.first().map(String::as_str).unwrap_or_default();
            match field.attr("var").unwrap_or_default() {
                "pubsub#title" => self.title = one.to_owned(),
                "pubsub#type" => self.payload_type = one.to_owned(),
                "pubsub#access_model" => self.access_model = from_wire(one, "unknown access model")?,
                "pubsub#roster_groups_allowed" => self.roster_groups_allowed = vals,
                "pubsub#max_items" => {
                    self.max_items = match one.trim() {
                        "max" => None,
                        n => Some(n.parse().map_err(|_| bad("max_items must be a number or max"))?),
                    }
                }
                "pubsub#persist_items" => self.persist_items = boolean(one)?,
                "pubsub#send_last_published_item" => {
                    self.send_last_published_item = from_wire(one, "unknown send_last_published_item")?
                }
                "pubsub#notify_retract" => self.notify_retract = boolean(one)?,
                "pubsub#notify_delete" => self.notify_delete = boolean(one)?,
                "pubsub#notify_config" => self.notify_config = boolean(one)?,
                "pubsub#deliver_payloads" => self.deliver_payloads = boolean(one)?,
                "pubsub#deliver_notifications" => self.deliver_notifications = boolean(one)?,
                "pubsub#publish_model" if one != "publishers" => {
                    return Err(bad("only the owner publishes to a personal node"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_preconditions(&self, options: &Element) -> Result<(), StanzaError> {
        let mut wanted = self.clone();
        wanted.apply(options).map_err(|_| precondition_not_met())?;
        if wanted == *self { Ok(()) } else { Err(precondition_not_met()) }
    }

    fn to_form(&self, form_type: &str) -> Element {
        let mut x = xml::with_attr(Element::bare("x", ns::DATA), "type", form_type);
        x.append_child(field("FORM_TYPE", "hidden", &[NODE_CONFIG]));
        let b = |v: bool| if v { "1" } else { "0" };
        let access = NodeConfig::wire_name(&self.access_model);
        let send_last = NodeConfig::wire_name(&self.send_last_published_item);
        let max = self.max_items.map_or("max".to_owned(), |n| n.to_string());
        x.append_child(field("pubsub#title", "text-single", &[&self.title]));
        x.append_child(field("pubsub#type", "text-single", &[&self.payload_type]));
        x.append_child(options(
            field("pubsub#access_model", "list-single", &[&access]),
            &["open", "presence", "roster", "whitelist"],
        ));
        let groups: Vec<&str> = self.roster_groups_allowed.iter().map(String::as_str).collect();
        x.append_child(field("pubsub#roster_groups_allowed", "list-multi", &groups));
        x.append_child(field("pubsub#max_items", "text-single", &[&max]));
        x.append_child(field("pubsub#persist_items", "boolean", &[b(self.persist_items)]));
        x.append_child(options(
            field("pubsub#send_last_published_item", "list-single", &[&send_last]),
            &["never", "on_sub", "on_sub_and_presence"],
        ));
        x.append_child(field("pubsub#notify_retract", "boolean", &[b(self.notify_retract)]));
        x.append_child(field("pubsub#notify_delete", "boolean", &[b(self.notify_delete)]));
        x.append_child(field("pubsub#notify_config", "boolean", &[b(self.notify_config)]));
        x.append_child(field("pubsub#deliver_payloads", "boolean", &[b(self.deliver_payloads)]));
        x.append_child(field("pubsub#deliver_notifications", "boolean", &[b(self.deliver_notifications)]));
        x.append_child(options(field("pubsub#publish_model", "list-single", &["publishers"]), &["publishers"]));
        x
    }
}

/// Whether a form is of the type it claims to be (the FORM_TYPE check of XEP-0004 §3.4).
pub fn is_options_form(form: &Element) -> bool {
    form.children().filter(|f| f.attr("var") == Some("FORM_TYPE")).flat_map(values).all(|v| v == PUBLISH_OPTIONS)
}

fn precondition_not_met() -> StanzaError {
    StanzaError::conflict()
        .with_text("the node's configuration differs from the publish-options")
        .with_app(Element::bare("precondition-not-met", ns::PUBSUB_ERRORS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> Element {
        let mut x = xml::with_attr(Element::bare("x", ns::DATA), "type", "submit");
        x.append_child(field("FORM_TYPE", "hidden", &[PUBLISH_OPTIONS]));
        for (var, v) in fields {
            x.append_child(field(var, "text-single", &[v]));
        }
        x
    }

    #[test]
    fn a_form_round_trips_through_the_configuration() {
        let mut c = NodeConfig::default();
        c.apply(&form(&[
            ("pubsub#access_model", "whitelist"),
            ("pubsub#max_items", "max"),
            ("pubsub#notify_retract", "0"),
        ]))
        .unwrap();
        assert_eq!((c.access_model, c.max_items, c.notify_retract), (Access::Whitelist, None, false));
        let mut again = NodeConfig::default();
        again.apply(&c.to_form("submit")).unwrap();
        assert_eq!(again, c);
        assert_eq!(stored("n", &c.to_json()), c);
    }

    #[test]
    fn preconditions_compare_only_what_is_named() {
        let c = default_for(ns::BOOKMARKS);
        c.check_preconditions(&form(&[("pubsub#access_model", "whitelist"), ("pubsub#persist_items", "true")]))
            .unwrap();
        let err = c.check_preconditions(&form(&[("pubsub#access_model", "open")])).unwrap_err();
        assert_eq!(err.condition, "conflict");
        assert!(NodeConfig::default().clone().apply(&form(&[("pubsub#access_model", "friends")])).is_err());
    }
}
