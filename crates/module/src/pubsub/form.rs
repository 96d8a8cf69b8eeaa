//! The forms of publish-subscribe: `pubsub#node_config` (XEP-0060 §8.2, §16.4.4) for a
//! node's configuration and its publish-options preconditions (§7.1.5), and
//! `pubsub#subscribe_options` (§6.3, §16.4.3) for a subscription's.

use rhein_proto::form::{bit, boolean, field, options, values};
use rhein_proto::{Element, StanzaError, ns, xml};
use rhein_pubsub::{NodeConfig, SubOptions};

const NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
const SUBSCRIBE_OPTIONS: &str = "http://jabber.org/protocol/pubsub#subscribe_options";

fn bad(text: &str) -> StanzaError {
    StanzaError::not_acceptable().with_text(text.to_owned())
}

/// An option value from its name in a form.
fn from_wire<T: serde::de::DeserializeOwned>(name: &str, error: &str) -> Result<T, StanzaError> {
    NodeConfig::from_wire(name).ok_or_else(|| bad(error))
}

/// The fields of a form, each as (var, values).
fn fields(form: &Element) -> impl Iterator<Item = (&str, Vec<String>)> {
    form.children().filter(|c| c.is("field", ns::DATA)).map(|f| (f.attr("var").unwrap_or_default(), values(f)))
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
        for (var, vals) in fields(form) {
            let one = vals.first().map(String::as_str).unwrap_or_default();
            match var {
                "pubsub#title" => self.title = one.to_owned(),
                "pubsub#type" => self.payload_type = one.to_owned(),
                "pubsub#access_model" => self.access_model = from_wire(one, "unknown access model")?,
                "pubsub#publish_model" => self.publish_model = from_wire(one, "unknown publish model")?,
                "pubsub#roster_groups_allowed" => self.roster_groups_allowed = vals,
                "pubsub#max_items" => {
                    self.max_items = match one.trim() {
                        "max" => None,
                        n => Some(n.parse().map_err(|_| bad("max_items must be a number or max"))?),
                    }
                }
                "pubsub#item_expire" => {
                    self.item_expire = match one.trim() {
                        "" | "0" => None,
                        n => Some(n.parse().map_err(|_| bad("item_expire must be a number of seconds"))?),
                    }
                }
                "pubsub#persist_items" => self.persist_items = boolean(one)?,
                "pubsub#send_last_published_item" => {
                    self.send_last_published_item = from_wire(one, "unknown send_last_published_item")?
                }
                "pubsub#notification_type" => {
                    self.notification_type = from_wire(one, "notification_type is headline or normal")?
                }
                "pubsub#notify_retract" => self.notify_retract = boolean(one)?,
                "pubsub#notify_delete" => self.notify_delete = boolean(one)?,
                "pubsub#notify_config" => self.notify_config = boolean(one)?,
                "pubsub#deliver_payloads" => self.deliver_payloads = boolean(one)?,
                "pubsub#deliver_notifications" => self.deliver_notifications = boolean(one)?,
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
        let access = NodeConfig::wire_name(&self.access_model);
        let publish = NodeConfig::wire_name(&self.publish_model);
        let send_last = NodeConfig::wire_name(&self.send_last_published_item);
        let notification = NodeConfig::wire_name(&self.notification_type);
        let max = self.max_items.map_or("max".to_owned(), |n| n.to_string());
        let expire = self.item_expire.map_or(String::new(), |n| n.to_string());
        x.append_child(field("pubsub#title", "text-single", &[&self.title]));
        x.append_child(field("pubsub#type", "text-single", &[&self.payload_type]));
        x.append_child(options(
            field("pubsub#access_model", "list-single", &[&access]),
            &["open", "presence", "roster", "authorize", "whitelist"],
        ));
        x.append_child(options(
            field("pubsub#publish_model", "list-single", &[&publish]),
            &["publishers", "subscribers", "open"],
        ));
        let groups: Vec<&str> = self.roster_groups_allowed.iter().map(String::as_str).collect();
        x.append_child(field("pubsub#roster_groups_allowed", "list-multi", &groups));
        x.append_child(field("pubsub#max_items", "text-single", &[&max]));
        x.append_child(field("pubsub#item_expire", "text-single", &[&expire]));
        x.append_child(field("pubsub#persist_items", "boolean", &[bit(self.persist_items)]));
        x.append_child(options(
            field("pubsub#send_last_published_item", "list-single", &[&send_last]),
            &["never", "on_sub", "on_sub_and_presence"],
        ));
        x.append_child(options(
            field("pubsub#notification_type", "list-single", &[&notification]),
            &["headline", "normal"],
        ));
        x.append_child(field("pubsub#notify_retract", "boolean", &[bit(self.notify_retract)]));
        x.append_child(field("pubsub#notify_delete", "boolean", &[bit(self.notify_delete)]));
        x.append_child(field("pubsub#notify_config", "boolean", &[bit(self.notify_config)]));
        x.append_child(field("pubsub#deliver_payloads", "boolean", &[bit(self.deliver_payloads)]));
        x.append_child(field("pubsub#deliver_notifications", "boolean", &[bit(self.deliver_notifications)]));
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

/// A subscription's options as the `pubsub#subscribe_options` form carries them.
pub trait SubOptionsForm: Sized {
    /// Sets what a submitted form names. Digests are refused: none are sent.
    fn apply(&mut self, form: &Element) -> Result<(), StanzaError>;
    fn to_form(&self, form_type: &str) -> Element;
}

impl SubOptionsForm for SubOptions {
    fn apply(&mut self, form: &Element) -> Result<(), StanzaError> {
        let invalid = || StanzaError::bad_request().with_app(Element::bare("invalid-options", ns::PUBSUB_ERRORS));
        for (var, vals) in fields(form) {
            let one = vals.first().map(String::as_str).unwrap_or_default();
            match var {
                "pubsub#deliver" => self.deliver = boolean(one).map_err(|_| invalid())?,
                "pubsub#include_body" => self.include_body = boolean(one).map_err(|_| invalid())?,
                "pubsub#show-values" => self.show_values = vals,
                "pubsub#digest" if boolean(one).map_err(|_| invalid())? => {
                    return Err(invalid().with_text("digests are not offered"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn to_form(&self, form_type: &str) -> Element {
        let mut x = xml::with_attr(Element::bare("x", ns::DATA), "type", form_type);
        x.append_child(field("FORM_TYPE", "hidden", &[SUBSCRIBE_OPTIONS]));
        x.append_child(field("pubsub#deliver", "boolean", &[bit(self.deliver)]));
        x.append_child(field("pubsub#digest", "boolean", &["0"]));
        x.append_child(field("pubsub#include_body", "boolean", &[bit(self.include_body)]));
        let shows: Vec<&str> = self.show_values.iter().map(String::as_str).collect();
        x.append_child(options(
            field("pubsub#show-values", "list-multi", &shows),
            &["away", "chat", "dnd", "online", "xa"],
        ));
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhein_pubsub::{AccessModel, NotificationType, PublishModel};

    fn form(form_type: &str, fields: &[(&str, &str)]) -> Element {
        let mut x = xml::with_attr(Element::bare("x", ns::DATA), "type", "submit");
        x.append_child(field("FORM_TYPE", "hidden", &[form_type]));
        for (var, v) in fields {
            x.append_child(field(var, "text-single", &[v]));
        }
        x
    }

    #[test]
    fn a_node_form_round_trips_through_the_configuration() {
        let mut c = NodeConfig::default();
        c.apply(&form(
            PUBLISH_OPTIONS,
            &[
                ("pubsub#access_model", "authorize"),
                ("pubsub#publish_model", "open"),
                ("pubsub#max_items", "max"),
                ("pubsub#item_expire", "60"),
                ("pubsub#notification_type", "normal"),
                ("pubsub#notify_retract", "0"),
            ],
        ))
        .unwrap();
        assert_eq!(
            (c.access_model, c.publish_model, c.max_items, c.item_expire, c.notification_type, c.notify_retract),
            (AccessModel::Authorize, PublishModel::Open, None, Some(60), NotificationType::Normal, false)
        );
        let mut again = NodeConfig::default();
        again.apply(&c.to_form("submit")).unwrap();
        assert_eq!(again, c);
        assert!(NodeConfig::default().apply(&form(NODE_CONFIG, &[("pubsub#access_model", "friends")])).is_err());
    }

    #[test]
    fn preconditions_compare_only_what_is_named() {
        let c = NodeConfig { access_model: AccessModel::Whitelist, ..Default::default() };
        let same = form(PUBLISH_OPTIONS, &[("pubsub#access_model", "whitelist"), ("pubsub#persist_items", "true")]);
        c.check_preconditions(&same).unwrap();
        let err = c.check_preconditions(&form(PUBLISH_OPTIONS, &[("pubsub#access_model", "open")])).unwrap_err();
        assert_eq!(err.condition, "conflict");
    }

    #[test]
    fn subscription_options_round_trip_and_refuse_digests() {
        let mut o = SubOptions::default();
        o.apply(&form(SUBSCRIBE_OPTIONS, &[("pubsub#deliver", "false"), ("pubsub#include_body", "1")])).unwrap();
        assert_eq!((o.deliver, o.include_body), (false, true));
        let mut again = SubOptions::default();
        again.apply(&o.to_form("submit")).unwrap();
        assert_eq!(again, o);
        let digest = SubOptions::default().apply(&form(SUBSCRIBE_OPTIONS, &[("pubsub#digest", "1")]));
        assert_eq!(digest.unwrap_err().condition, "bad-request");
    }
}
