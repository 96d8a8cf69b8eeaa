//! Subscriptions (XEP-0060 §6.1–§6.3): a state, an id the subscriber may quote, and the
//! options that shape what it receives.

use serde::{Deserialize, Serialize};

/// Where a subscription stands (§4.2; `unconfigured` is never used: options have defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubState {
    /// Waiting for an owner's approval (the `authorize` access model).
    Pending,
    Subscribed,
}

impl SubState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Subscribed => "subscribed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "subscribed" => Some(Self::Subscribed),
            _ => None,
        }
    }
}

/// `pubsub#subscribe_options` (§6.3.7) as stored. Digests are not offered (`pubsub#digest`
/// is always off), so what remains is whether and how notifications are delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubOptions {
    /// `pubsub#deliver`: notifications are held back while `false`.
    pub deliver: bool,
    /// `pubsub#include_body`: notifications carry a `<body/>` for clients that only read that.
    pub include_body: bool,
    /// `pubsub#show-values`: the presence `show` values a subscriber receives notifications
    /// in (`online` meaning no `show`); empty means any.
    pub show_values: Vec<String>,
}

impl Default for SubOptions {
    fn default() -> Self {
        Self { deliver: true, include_body: false, show_values: Vec::new() }
    }
}

impl SubOptions {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Stored options; unreadable ones are the defaults (deliver everything).
    pub fn from_json(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// Whether a subscriber whose resource shows `show` (`None`: available, no show) gets
    /// notifications now.
    pub fn delivers_while(&self, show: Option<&str>) -> bool {
        self.deliver && (self.show_values.is_empty() || self.show_values.iter().any(|v| v == show.unwrap_or("online")))
    }
}

/// One JID's subscription to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub jid: String,
    pub subid: String,
    pub state: SubState,
    pub options: SubOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_and_unreadable_ones_deliver() {
        let o = SubOptions { deliver: false, include_body: true, show_values: vec!["away".into()] };
        assert_eq!(SubOptions::from_json(&o.to_json()), o);
        assert_eq!(SubOptions::from_json("garbage"), SubOptions::default());
        assert_eq!(SubState::parse(SubState::Pending.as_str()), Some(SubState::Pending));
    }

    #[test]
    fn show_values_filter_delivery() {
        let away_only = SubOptions { show_values: vec!["away".into()], ..Default::default() };
        assert!(away_only.delivers_while(Some("away")));
        assert!(!away_only.delivers_while(None));
        let online = SubOptions { show_values: vec!["online".into()], ..Default::default() };
        assert!(online.delivers_while(None));
        assert!(SubOptions::default().delivers_while(Some("dnd")));
        assert!(!SubOptions { deliver: false, ..Default::default() }.delivers_while(None));
    }
}
