//! XEP-0404 §5 user preferences: what a participant wants of a channel about its JID (shown
//! never, always, by default, or preferably not), private messages (allowed or blocked),
//! vCard retrieval and presence sharing. Given with the join or changed later with
//! `<user-preference/>`; a channel whose JID visibility a participant cannot accept does not
//! keep it (its join is refused, and a change of mode removes it). Kept per channel in
//! storage, by participant.

use crate::channel::{Channel, Visibility};
use rhein_module::{Ctx, storage_failure};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType, Option_};
use rhein_proto::{BareJid, StanzaError, ns};
use serde::{Deserialize, Serialize};

/// Where preferences are kept: documents of the channel, one per participant's bare JID.
const KIND: &str = "mix-preferences";

/// One participant's preferences, with XEP-0404's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Preferences {
    pub jid_visibility: String,
    pub private_messages: String,
    pub vcard: String,
    pub presence: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            jid_visibility: "default".into(),
            private_messages: "allow".into(),
            vcard: "block".into(),
            presence: "share".into(),
        }
    }
}

/// Each preference: its field, the values it takes, and where it is kept.
type Slot = fn(&mut Preferences) -> &mut String;
const OPTIONS: &[(&str, &str, &[&str], Slot)] = &[
    ("JID Visibility", "Preference for JID Visibility", &["default", "never", "always", "prefer not"], |p| {
        &mut p.jid_visibility
    }),
    ("Private Messages", "Private messages from other participants", &["allow", "block"], |p| &mut p.private_messages),
    ("vCard", "vCard retrieval by other participants", &["allow", "block"], |p| &mut p.vcard),
    ("Presence", "Share presence with the channel", &["share", "not share"], |p| &mut p.presence),
];

impl Preferences {
    /// The preferences with what a submitted form changes; `bad-request` for a value the
    /// preference does not take. Fields XEP-0404 does not define are ignored.
    pub(crate) fn with(mut self, form: &DataForm) -> Result<Self, StanzaError> {
        for field in &form.fields {
            let Some((var, _, values, slot)) = OPTIONS.iter().find(|(var, ..)| field.var.as_deref() == Some(*var))
            else {
                continue;
            };
            let Some(value) = field.values.first() else { continue };
            // XEP-0404's own example writes "Never".
            let value = value.trim().to_ascii_lowercase();
            if !values.contains(&value.as_str()) {
                return Err(StanzaError::bad_request().with_text(format!("{var} takes {}", values.join(", "))));
            }
            *slot(&mut self) = value;
        }
        Ok(self)
    }

    /// Whether a channel of `mode` may keep the participant (§5: `never` rules out a channel
    /// that shows JIDs, `always` one that hides them).
    pub(crate) fn accepts(&self, mode: Visibility) -> bool {
        !matches!((self.jid_visibility.as_str(), mode), ("never", Visibility::Visible) | ("always", Visibility::Hidden))
    }

    /// In a channel that may show JIDs, whether this participant's is shown.
    pub(crate) fn shows_jid(&self) -> bool {
        self.jid_visibility == "always"
    }

    pub(crate) fn blocks_private_messages(&self) -> bool {
        self.private_messages == "block"
    }

    /// The preferences as a `result` form.
    pub(crate) fn to_form(&self) -> DataForm {
        let mut copy = self.clone();
        let fields = OPTIONS.iter().map(|(var, _, _, slot)| Field::text_single(var, slot(&mut copy))).collect();
        DataForm::new(DataFormType::Result_, ns::MIX_ANON, fields)
    }
}

/// The template a client fills in (§5): each preference with the values it takes.
pub(crate) fn template() -> DataForm {
    let fields = OPTIONS
        .iter()
        .map(|(var, label, values, _)| {
            let mut field = Field::new(var, FieldType::ListSingle);
            field.label = Some((*label).into());
            field.options = values.iter().map(|v| Option_ { label: None, value: (*v).into() }).collect();
            field
        })
        .collect();
    DataForm::new(DataFormType::Form, ns::MIX_ANON, fields)
}

/// The channel's participants' preferences, from storage.
pub(crate) async fn load(ctx: &Ctx, channel: &BareJid) -> Result<Vec<(BareJid, Preferences)>, StanzaError> {
    let stored = ctx.db.account_data().list(channel.as_str(), KIND).await.map_err(storage_failure)?;
    Ok(stored
        .into_iter()
        .filter_map(|(who, json)| Some((BareJid::new(&who).ok()?, serde_json::from_str(&json).ok()?)))
        .collect())
}

pub(crate) async fn save(ctx: &Ctx, c: &Channel, who: &BareJid, prefs: &Preferences) -> Result<(), StanzaError> {
    let json = serde_json::to_string(prefs).unwrap_or_default();
    ctx.db.account_data().put_all(c.jid.as_str(), KIND, &[(who.to_string(), json)]).await.map_err(storage_failure)
}

pub(crate) async fn forget(ctx: &Ctx, c: &Channel, who: &BareJid) -> Result<(), StanzaError> {
    ctx.db.account_data().remove(c.jid.as_str(), KIND, who.as_str()).await.map(drop).map_err(storage_failure)
}
