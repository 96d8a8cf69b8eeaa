//! A channel as the service keeps it in memory: configuration (XEP-0406), information,
//! participants, node subscriptions, the allowed and banned lists, and the presence of
//! participants' clients (XEP-0403). Everything but presence is also in storage.

use rhein_proto::{BareJid, Element, FullJid, ns};
use rhein_pubsub::{AccessModel, Action, Affiliation, NodeConfig, PublishModel, Relation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The rights groups of XEP-0406 §4.1, weakest first: someone of a group has the rights of
/// every group before it. `Nobody` is above everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Anyone,
    Allowed,
    Participants,
    Admins,
    Owners,
    Nobody,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Anyone => "anyone",
            Level::Allowed => "allowed",
            Level::Participants => "participants",
            Level::Admins => "admins",
            Level::Owners => "owners",
            Level::Nobody => "nobody",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Level::Anyone, Level::Allowed, Level::Participants, Level::Admins, Level::Owners, Level::Nobody]
            .into_iter()
            .find(|l| l.as_str() == s.trim())
    }
}

/// Who sees participants' real JIDs (XEP-0404 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Visibility {
    /// Every participant sees every JID.
    #[default]
    Visible,
    /// Only administrators and owners see JIDs (the JID map node).
    Hidden,
    /// Hidden, but for participants who asked for theirs to be shown (XEP-0404 §5, `always`).
    MaybeVisible,
}

impl Visibility {
    pub(crate) const OPTIONS: [&str; 3] = ["jid-mandatory-visible", "jid-hidden", "jid-optionally-visible"];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Visibility::Visible => Self::OPTIONS[0],
            Visibility::Hidden => Self::OPTIONS[1],
            Visibility::MaybeVisible => Self::OPTIONS[2],
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "jid-mandatory-visible" | "jid-visible" => Some(Visibility::Visible),
            "jid-hidden" | "jid-mandatory-hidden" => Some(Visibility::Hidden),
            "jid-optionally-visible" | "jid-maybe-visible" => Some(Visibility::MaybeVisible),
            _ => None,
        }
    }
}

/// The configuration node's content (XEP-0406 §4.3), stored as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChannelConfig {
    pub owners: BTreeSet<String>,
    pub admins: BTreeSet<String>,
    pub last_change_by: String,
    pub end_of_life: String,
    pub messages_subscription: Level,
    pub presence_subscription: Level,
    pub participants_subscription: Level,
    pub info_subscription: Level,
    pub allowed_subscription: Level,
    pub banned_subscription: Level,
    pub config_access: Level,
    pub info_update: Level,
    pub avatar_update: Level,
    pub open_presence: bool,
    pub must_provide_presence: bool,
    pub user_retraction: bool,
    pub admin_retraction: Level,
    pub invitations: bool,
    pub private_messages: bool,
    pub mandatory_nicks: bool,
    pub jid_visibility: Visibility,
    /// Created without a name (XEP-0369 §8.2): not listed in the service's items.
    pub adhoc: bool,
    /// The id of the configuration item: when it last changed.
    pub modified: String,
    /// Keys invitation tokens (XEP-0407 §5); never shown.
    pub invite_secret: String,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            owners: BTreeSet::new(),
            admins: BTreeSet::new(),
            last_change_by: String::new(),
            end_of_life: String::new(),
            messages_subscription: Level::Participants,
            presence_subscription: Level::Participants,
            participants_subscription: Level::Participants,
            info_subscription: Level::Participants,
            allowed_subscription: Level::Admins,
            banned_subscription: Level::Admins,
            config_access: Level::Owners,
            info_update: Level::Admins,
            avatar_update: Level::Admins,
            open_presence: false,
            must_provide_presence: false,
            user_retraction: false,
            admin_retraction: Level::Owners,
            invitations: false,
            private_messages: true,
            mandatory_nicks: true,
            jid_visibility: Visibility::Visible,
            adhoc: false,
            modified: String::new(),
            invite_secret: String::new(),
        }
    }
}

/// The information node's content (XEP-0369 §5.3.3).
#[derive(Debug, Clone, Default)]
pub(crate) struct Info {
    pub name: String,
    pub description: String,
    pub contacts: Vec<String>,
    pub modified: String,
}

/// A participant: whose it is and what it is called.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub jid: BareJid,
    pub nick: Option<String>,
}

/// One online client of a participant that shares its presence.
#[derive(Debug, Clone)]
pub(crate) struct ClientPresence {
    /// The presence as the client sent it (its children are distributed).
    pub presence: Element,
    /// The resource other participants see: the client's own, or a random one when JIDs
    /// are hidden (XEP-0404 §4.3).
    pub shown_resource: String,
}

pub(crate) struct Channel {
    pub jid: BareJid,
    pub config: ChannelConfig,
    pub info: Info,
    /// By Stable Participant ID.
    pub participants: BTreeMap<String, Member>,
    /// Node → subscribed bare JIDs.
    pub subscriptions: HashMap<String, BTreeSet<BareJid>>,
    /// `None` when the allowed node is absent: everyone not banned is allowed.
    pub allowed: Option<BTreeSet<String>>,
    pub banned: BTreeSet<String>,
    /// Clients sharing presence, by full JID (not stored: presence ends with the process).
    pub presences: BTreeMap<FullJid, ClientPresence>,
    /// Participants' preferences (XEP-0404 §5), for those who set any.
    pub preferences: HashMap<BareJid, crate::preferences::Preferences>,
}

/// A JID list entry covers a bare JID when it names it or its domain (XEP-0406 §4.2).
fn listed(list: &BTreeSet<String>, who: &BareJid) -> bool {
    list.contains(who.as_str()) || list.contains(who.domain().as_str())
}

impl Channel {
    pub(crate) fn new(jid: BareJid, config: ChannelConfig) -> Self {
        Self {
            jid,
            config,
            info: Info::default(),
            participants: BTreeMap::new(),
            subscriptions: HashMap::new(),
            allowed: None,
            banned: BTreeSet::new(),
            presences: BTreeMap::new(),
            preferences: HashMap::new(),
        }
    }

    /// The strongest group `who` belongs to.
    pub(crate) fn level_of(&self, who: &BareJid) -> Level {
        if self.config.owners.contains(who.as_str()) {
            Level::Owners
        } else if self.config.admins.contains(who.as_str()) {
            Level::Admins
        } else if self.is_banned(who) {
            Level::Anyone
        } else if self.participant_id(who).is_some() {
            Level::Participants
        } else if self.allowed.as_ref().is_none_or(|a| listed(a, who)) {
            Level::Allowed
        } else {
            Level::Anyone
        }
    }

    /// Whether `who` has the rights of `needed`.
    pub(crate) fn may(&self, who: &BareJid, needed: Level) -> bool {
        needed != Level::Nobody && self.level_of(who) >= needed
    }

    pub(crate) fn is_banned(&self, who: &BareJid) -> bool {
        listed(&self.banned, who)
    }

    /// Whether `who` may become a participant (XEP-0406 §4.1 "Allowed").
    pub(crate) fn may_join(&self, who: &BareJid) -> bool {
        self.level_of(who) >= Level::Allowed
    }

    pub(crate) fn participant_id(&self, who: &BareJid) -> Option<&str> {
        self.participants.iter().find(|(_, m)| &m.jid == who).map(|(id, _)| id.as_str())
    }

    pub(crate) fn nick_taken(&self, nick: &str, by: &BareJid) -> bool {
        self.participants.values().any(|m| m.nick.as_deref() == Some(nick) && &m.jid != by)
    }

    /// Whether everyone sees `who`'s real JID: in a channel that shows JIDs, or in one that
    /// may, when `who` asked for it to be shown.
    pub(crate) fn jid_public(&self, who: &BareJid) -> bool {
        match self.config.jid_visibility {
            Visibility::Visible => true,
            Visibility::Hidden => false,
            Visibility::MaybeVisible => self.preferences.get(who).is_some_and(|p| p.shows_jid()),
        }
    }

    /// Whether `viewer` gets to see `who`'s real JID (administrators see every one).
    pub(crate) fn shows_jid_of(&self, who: &BareJid, viewer: &BareJid) -> bool {
        self.jid_public(who) || self.may(viewer, Level::Admins)
    }

    /// Who may subscribe to (and read) a node.
    pub(crate) fn read_level(&self, node: &str) -> Option<Level> {
        use rhein_proto::mix::nodes::*;
        let c = &self.config;
        Some(match node {
            MESSAGES => c.messages_subscription,
            PRESENCE => c.presence_subscription,
            PARTICIPANTS => c.participants_subscription,
            INFO | ns::AVATAR_DATA | ns::AVATAR_METADATA => c.info_subscription,
            ALLOWED => c.allowed_subscription,
            BANNED => c.banned_subscription,
            CONFIG => c.config_access,
            JIDMAP => Level::Admins,
            _ => return None,
        })
    }

    /// Who may publish to (and retract from) a node; participants, presence, messages and
    /// the JID map change only through the channel's own operations.
    pub(crate) fn write_level(&self, node: &str) -> Option<Level> {
        use rhein_proto::mix::nodes::*;
        Some(match node {
            INFO => self.config.info_update,
            ns::AVATAR_DATA | ns::AVATAR_METADATA => self.config.avatar_update,
            ALLOWED | BANNED => Level::Admins,
            CONFIG => Level::Owners,
            _ => return None,
        })
    }

    /// `who`'s affiliation with `node`, for the pubsub engine to judge: MIX gives each node a
    /// level that may read it and one that may write it (XEP-0369 §7.3), so the affiliation
    /// follows from the levels `who` meets, over a node that is a whitelist
    /// ([`node_access`]).
    fn affiliation(&self, node: &str, who: &BareJid) -> Affiliation {
        let meets = |level: Option<Level>| level.is_some_and(|l| self.may(who, l));
        match (meets(self.read_level(node)), meets(self.write_level(node))) {
            (true, true) => Affiliation::Publisher,
            (false, true) => Affiliation::PublishOnly,
            (true, false) => Affiliation::Member,
            (false, false) => Affiliation::None,
        }
    }

    /// Whether `who` may do `action` on `node`, as the pubsub engine decides.
    pub(crate) fn allows(&self, node: &str, who: &BareJid, action: Action) -> bool {
        rhein_pubsub::may(&node_access(), self.affiliation(node, who), &Relation::default(), action).is_ok()
    }

    /// Whether `who` may subscribe to `node` (which must exist: the allowed node only once
    /// it is in use).
    pub(crate) fn subscribable(&self, node: &str, who: &BareJid) -> bool {
        let exists = node != rhein_proto::mix::nodes::ALLOWED || self.allowed.is_some();
        exists && self.read_level(node).is_some_and(|level| self.may(who, level))
    }

    pub(crate) fn subscribers(&self, node: &str) -> impl Iterator<Item = &BareJid> {
        self.subscriptions.get(node).into_iter().flatten()
    }

    /// `<id>#<channel>@<service>`: how a participant is addressed in presence (XEP-0403 §3.2).
    pub(crate) fn proxy_jid(&self, participant_id: &str) -> String {
        format!("{participant_id}#{}", self.jid)
    }

    /// The encoded JID of a client of a participant.
    pub(crate) fn proxy_full(&self, participant_id: &str, resource: &str) -> String {
        format!("{}/{resource}", self.proxy_jid(participant_id))
    }
}

/// How every channel node admits those without an affiliation: not at all (only the levels
/// a node names, turned into affiliations, let anyone read or write).
fn node_access() -> NodeConfig {
    NodeConfig {
        access_model: AccessModel::Whitelist,
        publish_model: PublishModel::Publishers,
        ..NodeConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn levels_follow_the_hierarchy_and_bans_win() {
        let mut config = ChannelConfig::default();
        config.owners.insert("own@a.example".into());
        config.admins.insert("adm@a.example".into());
        let mut c = Channel::new(jid("c@mix.a.example"), config);
        c.participants.insert("p1".into(), Member { jid: jid("part@a.example"), nick: None });
        assert_eq!(c.level_of(&jid("own@a.example")), Level::Owners);
        assert!(c.may(&jid("own@a.example"), Level::Admins));
        assert_eq!(c.level_of(&jid("part@a.example")), Level::Participants);
        assert_eq!(c.level_of(&jid("x@b.example")), Level::Allowed);
        c.allowed = Some(BTreeSet::from(["a.example".to_owned()]));
        assert_eq!(c.level_of(&jid("x@b.example")), Level::Anyone);
        assert!(c.may_join(&jid("y@a.example")));
        c.banned.insert("part@a.example".into());
        assert_eq!(c.level_of(&jid("part@a.example")), Level::Anyone);
        assert!(!c.may_join(&jid("part@a.example")));
        assert!(!c.may(&jid("own@a.example"), Level::Nobody));
    }

    #[test]
    fn node_rights_are_the_engines_over_the_levels_each_node_names() {
        use rhein_proto::mix::nodes::{CONFIG, INFO, JIDMAP};
        let mut config = ChannelConfig::default();
        config.owners.insert("own@a.example".into());
        config.admins.insert("adm@a.example".into());
        let mut c = Channel::new(jid("c@mix.a.example"), config);
        c.participants.insert("p1".into(), Member { jid: jid("part@a.example"), nick: None });
        let (own, adm, part) = (jid("own@a.example"), jid("adm@a.example"), jid("part@a.example"));
        // Information: participants read it, admins (the default info_update) change it.
        assert!(c.allows(INFO, &part, Action::Retrieve));
        assert!(!c.allows(INFO, &part, Action::Publish));
        assert!(c.allows(INFO, &adm, Action::Publish) && c.allows(INFO, &adm, Action::Retract));
        // The configuration is the owners' to write; the JID map only admins read.
        assert!(!c.allows(CONFIG, &adm, Action::Publish));
        assert!(c.allows(CONFIG, &own, Action::Publish));
        assert!(!c.allows(JIDMAP, &part, Action::Retrieve));
        assert!(c.allows(JIDMAP, &adm, Action::Retrieve));
        // Nobody may change what only the channel's own operations change.
        assert!(!c.allows(JIDMAP, &own, Action::Publish));
        // A node MIX does not know is nobody's.
        assert!(!c.allows("urn:example:other", &own, Action::Retrieve));
    }
}
