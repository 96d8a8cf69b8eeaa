//! A room: its configuration (the XEP-0045 §15.5.3 form), affiliations, and who is in it.

use rhein_proto::form::{bit, boolean, field, form, options};
use rhein_proto::muc as wire;
use rhein_proto::parsers::data_forms::DataForm;
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns, xml};
use rhein_storage::RoomAffiliation;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub(crate) const ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";

/// Who may see occupants' real JIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Whois {
    Moderators,
    Anyone,
}

/// The room configuration, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoomConfig {
    pub name: String,
    pub description: String,
    pub persistent: bool,
    pub public: bool,
    pub members_only: bool,
    pub moderated: bool,
    /// Empty: no password.
    pub password: String,
    pub whois: Whois,
    /// Participants (not only moderators) may change the subject.
    pub change_subject: bool,
    /// 0: the service's limit.
    pub max_users: usize,
    pub allow_invites: bool,
    /// Private messages between occupants.
    pub allow_pm: bool,
    /// Messages are archived (XEP-0313 on the room, and history for newcomers).
    pub logging: bool,
    /// Mentions of registered users who are not in the room are forwarded to them (XEP-0452).
    pub forward_mentions: bool,
    /// The room's natural language (`muc#roomconfig_lang`).
    pub language: String,
    /// A pubsub node associated with the room (`muc#roomconfig_pubsub`), informational.
    pub pubsub: String,
    /// Roles whose presence is broadcast to everyone (others are seen only by themselves).
    pub presence_broadcast: Vec<Role>,
    /// Roles that may retrieve the member list.
    pub get_member_list: Vec<Role>,
    /// Messages one history request may get at most (0: the service's limit).
    pub max_history_fetch: usize,
    /// Salt of the room's XEP-0421 occupant ids (random per room, kept with it, so ids are
    /// stable and cannot be computed from a guessed JID).
    pub salt: String,
    /// The hats the room defines (XEP-0317), and who wears which (bare JID to hat URIs).
    pub hats: Vec<crate::hats::HatDef>,
    pub hat_wearers: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            persistent: false,
            public: true,
            members_only: false,
            moderated: false,
            password: String::new(),
            whois: Whois::Moderators,
            change_subject: false,
            max_users: 0,
            allow_invites: false,
            allow_pm: true,
            logging: true,
            forward_mentions: false,
            language: String::new(),
            pubsub: String::new(),
            presence_broadcast: vec![Role::Moderator, Role::Participant, Role::Visitor],
            get_member_list: vec![Role::Moderator, Role::Participant],
            max_history_fetch: 0,
            salt: rhein_proto::xml::random_id(),
            hats: Vec::new(),
            hat_wearers: Default::default(),
        }
    }
}

impl RoomConfig {
    pub(crate) fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The configuration form (XEP-0045 §10.2).
    pub(crate) fn to_form(&self) -> Element {
        let mut x = form("form", ROOMCONFIG);
        let whois = match self.whois {
            Whois::Moderators => "moderators",
            Whois::Anyone => "anyone",
        };
        let max = if self.max_users == 0 { String::new() } else { self.max_users.to_string() };
        x.append_child(field("muc#roomconfig_roomname", "text-single", &[&self.name]));
        x.append_child(field("muc#roomconfig_roomdesc", "text-single", &[&self.description]));
        x.append_child(field("muc#roomconfig_persistentroom", "boolean", &[bit(self.persistent)]));
        x.append_child(field("muc#roomconfig_publicroom", "boolean", &[bit(self.public)]));
        x.append_child(field("muc#roomconfig_membersonly", "boolean", &[bit(self.members_only)]));
        x.append_child(field("muc#roomconfig_moderatedroom", "boolean", &[bit(self.moderated)]));
        x.append_child(field("muc#roomconfig_passwordprotectedroom", "boolean", &[bit(!self.password.is_empty())]));
        x.append_child(field("muc#roomconfig_roomsecret", "text-private", &[&self.password]));
        x.append_child(options(field("muc#roomconfig_whois", "list-single", &[whois]), &["moderators", "anyone"]));
        x.append_child(field("muc#roomconfig_changesubject", "boolean", &[bit(self.change_subject)]));
        x.append_child(field("muc#roomconfig_maxusers", "text-single", &[&max]));
        x.append_child(field("muc#roomconfig_allowinvites", "boolean", &[bit(self.allow_invites)]));
        x.append_child(options(
            field("muc#roomconfig_allowpm", "list-single", &[if self.allow_pm { "anyone" } else { "none" }]),
            &["anyone", "none"],
        ));
        x.append_child(field("muc#roomconfig_enablelogging", "boolean", &[bit(self.logging)]));
        x.append_child(field("muc#roomconfig_forwardmentions", "boolean", &[bit(self.forward_mentions)]));
        x.append_child(field("muc#roomconfig_lang", "text-single", &[&self.language]));
        x.append_child(field("muc#roomconfig_pubsub", "text-single", &[&self.pubsub]));
        let roles = |list: &[Role]| list.iter().map(|r| r.as_str()).collect::<Vec<_>>();
        let choices = ["moderator", "participant", "visitor"];
        x.append_child(options(
            field("muc#roomconfig_presencebroadcast", "list-multi", &roles(&self.presence_broadcast)),
            &choices,
        ));
        x.append_child(options(
            field("muc#roomconfig_getmemberlist", "list-multi", &roles(&self.get_member_list)),
            &choices,
        ));
        let fetch = if self.max_history_fetch == 0 { String::new() } else { self.max_history_fetch.to_string() };
        x.append_child(field("muc#maxhistoryfetch", "text-single", &[&fetch]));
        x
    }

    /// The status codes announcing a change from `before` (XEP-0045 §10.2.1): 170/171 when
    /// logging was turned on/off, 172/173 when the room became non-/semi-anonymous, 104 when
    /// anything else changed; none when nothing did.
    pub(crate) fn change_codes(&self, before: &RoomConfig) -> Vec<&'static str> {
        let mut codes = Vec::new();
        if *self != (RoomConfig { logging: self.logging, whois: self.whois, ..before.clone() }) {
            codes.push("104");
        }
        if self.logging != before.logging {
            codes.push(if self.logging { "170" } else { "171" });
        }
        if self.whois != before.whois {
            codes.push(if self.whois == Whois::Anyone { "172" } else { "173" });
        }
        codes
    }

    /// Applies a submitted form; unknown fields are ignored, bad values refused.
    pub(crate) fn apply(&mut self, form: &DataForm) -> Result<(), StanzaError> {
        let mut protected = None;
        for field in &form.fields {
            let (Some(var), vals) = (field.var.as_deref(), &field.values) else { continue };
            let one = vals.first().map(String::as_str).unwrap_or_default();
            match var {
                "muc#roomconfig_roomname" => self.name = one.to_owned(),
                "muc#roomconfig_roomdesc" => self.description = one.to_owned(),
                "muc#roomconfig_persistentroom" => self.persistent = boolean(one)?,
                "muc#roomconfig_publicroom" => self.public = boolean(one)?,
                "muc#roomconfig_membersonly" => self.members_only = boolean(one)?,
                "muc#roomconfig_moderatedroom" => self.moderated = boolean(one)?,
                "muc#roomconfig_passwordprotectedroom" => protected = Some(boolean(one)?),
                "muc#roomconfig_roomsecret" => self.password = one.to_owned(),
                "muc#roomconfig_whois" => {
                    self.whois = match one {
                        "anyone" => Whois::Anyone,
                        "moderators" => Whois::Moderators,
                        _ => return Err(StanzaError::not_acceptable().with_text("whois is moderators or anyone")),
                    }
                }
                "muc#roomconfig_changesubject" => self.change_subject = boolean(one)?,
                "muc#roomconfig_maxusers" => {
                    self.max_users = match one.trim() {
                        "" | "none" => 0,
                        n => n.parse().map_err(|_| StanzaError::not_acceptable().with_text("maxusers is a number"))?,
                    }
                }
                "muc#roomconfig_allowinvites" => self.allow_invites = boolean(one)?,
                "muc#roomconfig_allowpm" => self.allow_pm = one != "none",
                "muc#roomconfig_enablelogging" => self.logging = boolean(one)?,
                "muc#roomconfig_forwardmentions" => self.forward_mentions = boolean(one)?,
                "muc#roomconfig_lang" => self.language = one.to_owned(),
                "muc#roomconfig_pubsub" => self.pubsub = one.to_owned(),
                "muc#roomconfig_presencebroadcast" => self.presence_broadcast = parse_roles(vals)?,
                "muc#roomconfig_getmemberlist" => self.get_member_list = parse_roles(vals)?,
                "muc#maxhistoryfetch" => {
                    self.max_history_fetch = match one.trim() {
                        "" => 0,
                        n => n
                            .parse()
                            .map_err(|_| StanzaError::not_acceptable().with_text("maxhistoryfetch is a number"))?,
                    }
                }
                _ => {}
            }
        }
        if protected == Some(false) {
            self.password.clear();
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Affiliation {
    Outcast,
    None,
    Member,
    Admin,
    Owner,
}

impl Affiliation {
    /// Its name on the wire (the wire type's, which owns the names).
    pub(crate) fn as_str(self) -> &'static str {
        wire::Affiliation::from(self).as_str()
    }

    /// What storage keeps of it (`none` is no row).
    pub(crate) fn stored(self) -> Option<RoomAffiliation> {
        Some(match self {
            Self::Owner => RoomAffiliation::Owner,
            Self::Admin => RoomAffiliation::Admin,
            Self::Member => RoomAffiliation::Member,
            Self::Outcast => RoomAffiliation::Outcast,
            Self::None => return None,
        })
    }
}

/// The edge to the wire: requests name affiliations as `rhein_proto::muc` types them.
impl From<wire::Affiliation> for Affiliation {
    fn from(affiliation: wire::Affiliation) -> Self {
        match affiliation {
            wire::Affiliation::Owner => Self::Owner,
            wire::Affiliation::Admin => Self::Admin,
            wire::Affiliation::Member => Self::Member,
            wire::Affiliation::None => Self::None,
            wire::Affiliation::Outcast => Self::Outcast,
        }
    }
}

impl From<Affiliation> for wire::Affiliation {
    fn from(affiliation: Affiliation) -> Self {
        match affiliation {
            Affiliation::Owner => Self::Owner,
            Affiliation::Admin => Self::Admin,
            Affiliation::Member => Self::Member,
            Affiliation::None => Self::None,
            Affiliation::Outcast => Self::Outcast,
        }
    }
}

impl From<RoomAffiliation> for Affiliation {
    fn from(stored: RoomAffiliation) -> Self {
        match stored {
            RoomAffiliation::Owner => Self::Owner,
            RoomAffiliation::Admin => Self::Admin,
            RoomAffiliation::Member => Self::Member,
            RoomAffiliation::Outcast => Self::Outcast,
        }
    }
}

/// The roles of a list-multi field (`none` is not a role one can list).
fn parse_roles(values: &[String]) -> Result<Vec<Role>, StanzaError> {
    values
        .iter()
        .map(|v| {
            Role::parse(v)
                .filter(|r| *r != Role::None)
                .ok_or_else(|| StanzaError::not_acceptable().with_text("roles are moderator, participant or visitor"))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    None,
    Visitor,
    Participant,
    Moderator,
}

impl Role {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "moderator" => Self::Moderator,
            "participant" => Self::Participant,
            "visitor" => Self::Visitor,
            "none" => Self::None,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Moderator => "moderator",
            Self::Participant => "participant",
            Self::Visitor => "visitor",
            Self::None => "none",
        }
    }
}

/// The edge to the wire, as for [`Affiliation`].
impl From<wire::Role> for Role {
    fn from(role: wire::Role) -> Self {
        match role {
            wire::Role::Moderator => Self::Moderator,
            wire::Role::Participant => Self::Participant,
            wire::Role::Visitor => Self::Visitor,
            wire::Role::None => Self::None,
        }
    }
}

impl From<Role> for wire::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Moderator => Self::Moderator,
            Role::Participant => Self::Participant,
            Role::Visitor => Self::Visitor,
            Role::None => Self::None,
        }
    }
}

/// One nickname in the room, with every client of its user that joined under it.
#[derive(Debug, Clone)]
pub(crate) struct Occupant {
    pub nick: String,
    pub bare: BareJid,
    pub role: Role,
    /// Its XEP-0421 occupant id (kept: push registrations are matched by it).
    pub id: String,
    /// Each joined client and its last presence (as the client sent it).
    pub sessions: Vec<(FullJid, Element)>,
}

/// A live room.
#[derive(Debug)]
pub(crate) struct Room {
    pub jid: BareJid,
    pub config: RoomConfig,
    /// Just created: only its owner may enter until it is configured (XEP-0045 §10.1.1).
    pub locked: bool,
    pub subject: String,
    pub subject_by: String,
    pub affiliations: HashMap<BareJid, Affiliation>,
    /// The SHA-1 of the room's vCard photo (XEP-0486), if it has one.
    pub avatar: Option<String>,
    /// Push registrations by token, loaded on first use.
    pub pushes: Option<Vec<rhein_storage::RoomPushRow>>,
    /// Nicknames registered with the room (§7.10), by user.
    pub reserved: HashMap<BareJid, String>,
    pub occupants: Vec<Occupant>,
}

/// A room leaving memory (destroyed, or unloaded) takes its occupants out of the count.
impl Drop for Room {
    fn drop(&mut self) {
        rhein_metrics::metrics().muc_occupants.dec_by(self.occupants.len() as i64);
    }
}

impl Room {
    pub(crate) fn new(jid: BareJid, config: RoomConfig) -> Self {
        Self {
            jid,
            config,
            locked: false,
            subject: String::new(),
            subject_by: String::new(),
            affiliations: HashMap::new(),
            pushes: None,
            avatar: None,
            reserved: HashMap::new(),
            occupants: Vec::new(),
        }
    }

    /// Seats a new occupant (counted in the metrics while seated).
    pub(crate) fn seat(&mut self, occupant: Occupant) {
        self.occupants.push(occupant);
        rhein_metrics::metrics().muc_occupants.inc();
    }

    /// The occupant with `nick` leaves (or is removed), if there is one.
    pub(crate) fn unseat(&mut self, nick: &str) {
        let before = self.occupants.len();
        self.occupants.retain(|o| o.nick != nick);
        rhein_metrics::metrics().muc_occupants.dec_by((before - self.occupants.len()) as i64);
    }

    pub(crate) fn affiliation(&self, who: &BareJid) -> Affiliation {
        self.affiliations.get(who).copied().unwrap_or(Affiliation::None)
    }

    /// The role someone enters with (XEP-0045 §5.1.2).
    pub(crate) fn default_role(&self, affiliation: Affiliation) -> Role {
        match affiliation {
            Affiliation::Owner | Affiliation::Admin => Role::Moderator,
            Affiliation::Member => Role::Participant,
            Affiliation::None if self.config.moderated => Role::Visitor,
            Affiliation::None => Role::Participant,
            Affiliation::Outcast => Role::None,
        }
    }

    pub(crate) fn occupant(&self, nick: &str) -> Option<&Occupant> {
        self.occupants.iter().find(|o| o.nick == nick)
    }

    pub(crate) fn occupant_mut(&mut self, nick: &str) -> Option<&mut Occupant> {
        self.occupants.iter_mut().find(|o| o.nick == nick)
    }

    /// A message from the room itself to `to`, carrying `payload` (invitations, declines,
    /// voice requests, push and mention notifications).
    pub(crate) fn message_to(&self, to: &str, payload: Element) -> Element {
        let mut m = xml::with_attr(Element::bare("message", ns::CLIENT), "from", self.jid.as_str());
        xml::set_attr(&mut m, "to", to);
        xml::set_attr(&mut m, "id", xml::random_id());
        m.append_child(payload);
        m
    }

    /// Who holds `affiliation`, sorted.
    pub(crate) fn with_affiliation(&self, affiliation: Affiliation) -> Vec<&BareJid> {
        let mut jids: Vec<&BareJid> =
            self.affiliations.iter().filter(|(_, a)| **a == affiliation).map(|(j, _)| j).collect();
        jids.sort();
        jids
    }

    /// Who registered `nick`, if anyone.
    pub(crate) fn reserved_by(&self, nick: &str) -> Option<&BareJid> {
        self.reserved.iter().find(|(_, n)| n.as_str() == nick).map(|(who, _)| who)
    }

    /// The occupant a client joined as.
    pub(crate) fn by_session(&self, jid: &FullJid) -> Option<&Occupant> {
        self.occupants.iter().find(|o| o.sessions.iter().any(|(s, _)| s == jid))
    }

    /// The XEP-0421 occupant id of a user in this room.
    pub(crate) fn occupant_id(&self, who: &BareJid) -> String {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(self.config.salt.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.jid.as_str().as_bytes())
            .chain_update(b"\0")
            .chain_update(who.as_str().as_bytes())
            .finalize();
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..18])
    }

    /// Whether everyone sees `occ`'s presence (else only its own clients do).
    pub(crate) fn broadcasts(&self, occ: &Occupant) -> bool {
        self.config.presence_broadcast.contains(&occ.role)
    }

    /// Whether `viewer` may see occupants' real JIDs.
    pub(crate) fn shows_jids_to(&self, viewer: &Occupant) -> bool {
        self.config.whois == Whois::Anyone || viewer.role == Role::Moderator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_round_trips() {
        let mut c = RoomConfig {
            name: "Lounge".into(),
            persistent: true,
            members_only: true,
            password: "pw".into(),
            whois: Whois::Anyone,
            max_users: 30,
            allow_pm: false,
            ..RoomConfig::default()
        };
        let mut back = RoomConfig { salt: c.salt.clone(), ..RoomConfig::default() };
        back.apply(&DataForm::try_from(c.to_form()).unwrap()).unwrap();
        assert_eq!(back, c);
        let submitted = |xml: &str| DataForm::try_from(xml.parse::<Element>().unwrap()).unwrap();
        let off = submitted(
            "<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>0</value></field></x>",
        );
        c.apply(&off).unwrap();
        assert!(c.password.is_empty());
        let bad = submitted(
            "<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_whois'><value>everyone</value></field></x>",
        );
        assert!(c.apply(&bad).is_err());
    }
}
