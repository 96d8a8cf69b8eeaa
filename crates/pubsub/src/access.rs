//! Who may do what on a node: a table of capabilities per affiliation (XEP-0060 §4.1, table 4),
//! and the node's access and publish models for those without an affiliation that decides.

use crate::config::{AccessModel, NodeConfig, PublishModel};
use serde::{Deserialize, Serialize};

/// An entity's standing with a node (XEP-0060 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Affiliation {
    Owner,
    Publisher,
    PublishOnly,
    Member,
    #[default]
    None,
    Outcast,
}

impl Affiliation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Publisher => "publisher",
            Self::PublishOnly => "publish-only",
            Self::Member => "member",
            Self::None => "none",
            Self::Outcast => "outcast",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Self::Owner,
            "publisher" => Self::Publisher,
            "publish-only" => Self::PublishOnly,
            "member" => Self::Member,
            "none" => Self::None,
            "outcast" => Self::Outcast,
            _ => return None,
        })
    }
}

/// Something an entity asks to do with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Retrieve items, and receive notifications.
    Retrieve,
    Subscribe,
    Publish,
    /// Retract items (anyone's, for those who may).
    Retract,
    Purge,
    Configure,
    Delete,
    /// See and change affiliations and subscriptions.
    Manage,
}

/// What the service knows of an actor beside its affiliation, for the access models that
/// look at the owner's roster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relation<'a> {
    /// The actor receives the owner's presence (subscription `from` or `both`).
    pub sees_presence: bool,
    /// The owner's roster groups the actor is in.
    pub groups: &'a [String],
    /// The actor's subscription to the node is approved (for the `subscribers` publish model
    /// and the `authorize` access model).
    pub subscribed: bool,
}

/// Why an action is refused; the adapter turns it into its protocol's error (XEP-0060 §6.1.3,
/// §6.5.9, §7.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Banned, or the affiliation never allows this.
    Forbidden,
    /// The `presence` access model, and the actor does not see the owner's presence.
    PresenceSubscriptionRequired,
    /// The `roster` access model, and the actor is in none of the allowed groups.
    NotInRosterGroup,
    /// The `whitelist` access model, and the actor is not on it.
    ClosedNode,
    /// The `authorize` access model, and the actor's subscription is not approved (yet).
    NotSubscribed,
}

/// What an affiliation allows on its own, whatever the node's models: `Some(true)` allowed,
/// `Some(false)` refused, `None` left to the access or publish model.
fn capability(affiliation: Affiliation, action: Action) -> Option<bool> {
    use Action::*;
    use Affiliation as A;
    match (affiliation, action) {
        (A::Outcast, _) => Some(false),
        (A::Owner, _) => Some(true),
        (A::Publisher, Retrieve | Subscribe | Publish | Retract) => Some(true),
        (A::PublishOnly, Publish) => Some(true),
        (A::PublishOnly, Retrieve | Subscribe) => Some(false),
        (A::Member, Retrieve | Subscribe) => Some(true),
        (A::None | A::Member, Publish) => None,
        (A::None, Retrieve | Subscribe) => None,
        (_, Retract | Purge | Configure | Delete | Manage) => Some(false),
    }
}

/// Whether an actor with `affiliation` and `relation` may do `action` on a node configured
/// by `config`.
pub fn may(
    config: &NodeConfig,
    affiliation: Affiliation,
    relation: &Relation<'_>,
    action: Action,
) -> Result<(), Denied> {
    match capability(affiliation, action) {
        Some(true) => Ok(()),
        Some(false) => Err(Denied::Forbidden),
        None if action == Action::Publish => match config.publish_model {
            PublishModel::Open => Ok(()),
            PublishModel::Subscribers if relation.subscribed => Ok(()),
            PublishModel::Subscribers | PublishModel::Publishers => Err(Denied::Forbidden),
        },
        None => match config.access_model {
            AccessModel::Open => Ok(()),
            AccessModel::Presence if relation.sees_presence => Ok(()),
            AccessModel::Presence => Err(Denied::PresenceSubscriptionRequired),
            AccessModel::Roster if relation.groups.iter().any(|g| config.roster_groups_allowed.contains(g)) => Ok(()),
            AccessModel::Roster => Err(Denied::NotInRosterGroup),
            AccessModel::Whitelist => Err(Denied::ClosedNode),
            // Asking is allowed; the subscription stays pending until an owner approves it.
            AccessModel::Authorize if action == Action::Subscribe || relation.subscribed => Ok(()),
            AccessModel::Authorize => Err(Denied::NotSubscribed),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    const ALL: [Action; 8] = [Retrieve, Subscribe, Publish, Retract, Purge, Configure, Delete, Manage];

    fn node(access_model: AccessModel) -> NodeConfig {
        NodeConfig { access_model, roster_groups_allowed: vec!["Friends".into()], ..Default::default() }
    }

    fn stranger() -> Relation<'static> {
        Relation::default()
    }

    /// XEP-0060 §4.1, table 4: the owner may do everything, an outcast nothing.
    #[test]
    fn the_owner_may_do_everything_and_an_outcast_nothing() {
        let friends = ["Friends".to_owned()];
        for access in [
            AccessModel::Open,
            AccessModel::Presence,
            AccessModel::Roster,
            AccessModel::Whitelist,
            AccessModel::Authorize,
        ] {
            let friend = Relation { sees_presence: true, groups: &friends, subscribed: true };
            for action in ALL {
                assert_eq!(may(&node(access), Affiliation::Owner, &stranger(), action), Ok(()));
                assert_eq!(may(&node(access), Affiliation::Outcast, &friend, action), Err(Denied::Forbidden));
            }
        }
    }

    /// Table 4: publishers publish and retract; members and publishers read whatever the
    /// access model; only the owner purges, configures, deletes and manages.
    #[test]
    fn affiliations_grant_what_table_4_says() {
        let closed = node(AccessModel::Whitelist);
        for (affiliation, allowed) in [
            (Affiliation::Publisher, &[Retrieve, Subscribe, Publish, Retract][..]),
            (Affiliation::PublishOnly, &[Publish][..]),
            (Affiliation::Member, &[Retrieve, Subscribe][..]),
        ] {
            for action in ALL {
                let expected = if allowed.contains(&action) { Ok(()) } else { Err(Denied::Forbidden) };
                assert_eq!(may(&closed, affiliation, &stranger(), action), expected, "{affiliation:?} {action:?}");
            }
        }
    }

    /// XEP-0060 §4.5: access models admit those with no affiliation, each by its own rule,
    /// and refuse with the condition §6.5.9 names.
    #[test]
    fn access_models_admit_the_unaffiliated_by_their_rule() {
        let none = Affiliation::None;
        let contact = Relation { sees_presence: true, ..Default::default() };
        let friends = ["Friends".to_owned()];
        let friend = Relation { groups: &friends, ..Default::default() };
        assert_eq!(may(&node(AccessModel::Open), none, &stranger(), Retrieve), Ok(()));
        assert_eq!(may(&node(AccessModel::Presence), none, &contact, Retrieve), Ok(()));
        assert_eq!(
            may(&node(AccessModel::Presence), none, &friend, Subscribe),
            Err(Denied::PresenceSubscriptionRequired)
        );
        assert_eq!(may(&node(AccessModel::Roster), none, &friend, Retrieve), Ok(()));
        assert_eq!(may(&node(AccessModel::Roster), none, &contact, Retrieve), Err(Denied::NotInRosterGroup));
        assert_eq!(may(&node(AccessModel::Whitelist), none, &contact, Retrieve), Err(Denied::ClosedNode));
        let approved = Relation { subscribed: true, ..Default::default() };
        assert_eq!(may(&node(AccessModel::Authorize), none, &stranger(), Subscribe), Ok(()));
        assert_eq!(may(&node(AccessModel::Authorize), none, &stranger(), Retrieve), Err(Denied::NotSubscribed));
        assert_eq!(may(&node(AccessModel::Authorize), none, &approved, Retrieve), Ok(()));
    }

    /// XEP-0060 §16.4.4: the publish model decides for those whose affiliation does not.
    #[test]
    fn publish_models_decide_for_the_unaffiliated() {
        let subscriber = Relation { subscribed: true, ..Default::default() };
        let open = NodeConfig { publish_model: PublishModel::Open, ..node(AccessModel::Open) };
        let subscribers = NodeConfig { publish_model: PublishModel::Subscribers, ..node(AccessModel::Open) };
        assert_eq!(may(&node(AccessModel::Open), Affiliation::None, &subscriber, Publish), Err(Denied::Forbidden));
        assert_eq!(may(&subscribers, Affiliation::Member, &subscriber, Publish), Ok(()));
        assert_eq!(may(&subscribers, Affiliation::None, &stranger(), Publish), Err(Denied::Forbidden));
        assert_eq!(may(&open, Affiliation::None, &stranger(), Publish), Ok(()));
        assert_eq!(may(&open, Affiliation::Outcast, &stranger(), Publish), Err(Denied::Forbidden));
    }

    #[test]
    fn affiliations_read_back_their_names() {
        for a in [
            Affiliation::Owner,
            Affiliation::Publisher,
            Affiliation::PublishOnly,
            Affiliation::Member,
            Affiliation::None,
            Affiliation::Outcast,
        ] {
            assert_eq!(Affiliation::parse(a.as_str()), Some(a));
        }
        assert_eq!(Affiliation::parse("admin"), None);
    }
}
