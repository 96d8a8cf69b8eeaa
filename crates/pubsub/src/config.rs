//! A node's configuration (XEP-0060 §16.4.4, `pubsub#node_config`), as stored: plain data
//! with serde names that are also the option names in forms.

use serde::{Deserialize, Serialize};

/// Who may see a node's items and receive its notifications (XEP-0060 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessModel {
    /// Anyone not banned.
    Open,
    /// Contacts subscribed to the owner's presence.
    Presence,
    /// Contacts in the roster groups the node allows.
    Roster,
    /// Only those affiliated (member and above).
    Whitelist,
    /// Subscribers an owner approved (§4.5: subscriptions are pending until then).
    Authorize,
}

/// What kind of message carries notifications (`pubsub#notification_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NotificationType {
    #[default]
    Headline,
    Normal,
}

/// Who may publish (XEP-0060 §16.4.4 `pubsub#publish_model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PublishModel {
    /// The owner and publishers.
    #[default]
    Publishers,
    /// Subscribers too.
    Subscribers,
    /// Anyone not banned.
    Open,
}

/// When subscribers get the last published item on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendLast {
    Never,
    OnSub,
    OnSubAndPresence,
}

/// The stored configuration of one node. Its defaults are XEP-0163 §4.1's, except that
/// retraction and deletion are notified: a client that keeps a list in sync item by item
/// must hear of removals too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    pub title: String,
    pub access_model: AccessModel,
    pub publish_model: PublishModel,
    pub roster_groups_allowed: Vec<String>,
    /// `None`: as many as the service keeps (`max`).
    pub max_items: Option<u32>,
    pub persist_items: bool,
    pub send_last_published_item: SendLast,
    pub notify_retract: bool,
    pub notify_delete: bool,
    pub notify_config: bool,
    pub deliver_payloads: bool,
    pub deliver_notifications: bool,
    pub payload_type: String,
    pub notification_type: NotificationType,
    /// `pubsub#item_expire`: seconds after which an item is gone; `None`: never.
    pub item_expire: Option<u64>,
}

/// `max_items` of a node created without one.
pub const DEFAULT_MAX_ITEMS: u32 = 1000;

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            title: String::new(),
            access_model: AccessModel::Presence,
            publish_model: PublishModel::Publishers,
            roster_groups_allowed: Vec::new(),
            max_items: Some(DEFAULT_MAX_ITEMS),
            persist_items: true,
            send_last_published_item: SendLast::OnSubAndPresence,
            notify_retract: true,
            notify_delete: true,
            notify_config: false,
            deliver_payloads: true,
            deliver_notifications: true,
            payload_type: String::new(),
            notification_type: NotificationType::Headline,
            item_expire: None,
        }
    }
}

impl NodeConfig {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// How many items storage keeps, `max` meaning the service's `limit`; a node that does
    /// not persist items keeps the last one (for late subscribers and presence).
    pub fn item_limit(&self, limit: u32) -> i64 {
        if !self.persist_items {
            return 1;
        }
        i64::from(self.max_items.unwrap_or(limit).min(limit))
    }

    /// The name of an option value in forms and storage (its serde name).
    pub fn wire_name<T: Serialize>(value: &T) -> String {
        serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// An option value from its name in a form.
    pub fn from_wire<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
        serde_json::from_value(name.into()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_round_trips_through_storage() {
        let c = NodeConfig {
            access_model: AccessModel::Whitelist,
            max_items: None,
            roster_groups_allowed: vec!["Friends".into()],
            ..Default::default()
        };
        assert_eq!(NodeConfig::from_json(&c.to_json()).unwrap(), c);
        assert!(NodeConfig::from_json("{\"access_model\": \"friends\"}").is_err());
    }

    #[test]
    fn configurations_stored_before_publish_models_read_with_the_default() {
        let old = "{\"access_model\":\"open\",\"max_items\":1}";
        let c = NodeConfig::from_json(old).unwrap();
        assert_eq!(
            (c.access_model, c.publish_model, c.max_items),
            (AccessModel::Open, PublishModel::Publishers, Some(1))
        );
    }

    #[test]
    fn option_names_are_the_serde_names() {
        assert_eq!(NodeConfig::wire_name(&SendLast::OnSubAndPresence), "on_sub_and_presence");
        assert_eq!(NodeConfig::from_wire::<AccessModel>("roster"), Some(AccessModel::Roster));
        assert_eq!(NodeConfig::from_wire::<AccessModel>("friends"), None);
    }

    #[test]
    fn item_limits_follow_persistence_and_the_service_limit() {
        let c = NodeConfig::default();
        assert_eq!(c.item_limit(10_000), 1000);
        assert_eq!(NodeConfig { max_items: None, ..c.clone() }.item_limit(10_000), 10_000);
        assert_eq!(NodeConfig { max_items: Some(50_000), ..c.clone() }.item_limit(10_000), 10_000);
        assert_eq!(NodeConfig { persist_items: false, ..c }.item_limit(10_000), 1);
    }
}
