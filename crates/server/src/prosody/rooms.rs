//! Prosody's persistent MUC rooms (a component's `config` store: the room's settings under
//! `_data`, affiliations by JID, reserved nicknames under `_affiliation_data`; its
//! `muc_log` archive) as Rhein rooms. Rooms keep their names and move to the domain Rhein
//! serves rooms at, if Prosody's component had another.

use super::Stored;
use super::lua::{Table, Value};
use super::user::{Entry, unwrap_entry};
use crate::pie::import::{Converted, Entity};
use rhein_proto::{BareJid, ns, xml};
use rhein_storage::{AffiliationRow, ArchiveRow, OwnerImage, RoomAffiliation, RoomImage, RoomRow};
use serde_json::{Value as Json, json};

/// Whether a room's data in `store` is read.
pub(super) fn wanted(store: &str) -> bool {
    matches!(store, "config" | "muc_log")
}

/// Maps what room `name` of a Prosody MUC component has stored, as a room at `domain`.
pub(super) fn read(
    stores: &Stored,
    name: &str,
    domain: &str,
    warn: &mut dyn FnMut(String),
) -> Result<Converted, String> {
    let stored = stores.keyval("config").ok_or("no configuration")?;
    let old = stored.str("_jid").map(str::to_owned);
    let jid = BareJid::new(&format!("{name}@{domain}")).map_err(|e| format!("{name}@{domain} is not a JID: {e}"))?;
    let owner = jid.to_string();
    let data = stored.table("_data").cloned().unwrap_or_default();
    let room_data = stored.table("_affiliation_data");
    let mut affiliations = Vec::new();
    for (who, value) in stored.string_fields() {
        if who.starts_with('_') {
            continue;
        }
        let affiliation = match value.as_str() {
            Some("owner") => RoomAffiliation::Owner,
            Some("admin") => RoomAffiliation::Admin,
            Some("member") => RoomAffiliation::Member,
            Some("outcast") => RoomAffiliation::Outcast,
            _ => {
                warn(format!("room {owner}: affiliation of {who} not understood; left out"));
                continue;
            }
        };
        let Ok(who) = BareJid::new(who) else {
            warn(format!("room {owner}: {who:?} is not a bare JID; left out"));
            continue;
        };
        let extra = room_data.and_then(|d| d.table(who.as_str()));
        let text = |key: &str| extra.and_then(|e| e.str(key)).unwrap_or_default().to_owned();
        affiliations.push(AffiliationRow {
            jid: who.to_string(),
            affiliation,
            nick: text("reserved_nickname"),
            reason: text("reason"),
        });
    }
    affiliations.sort_by(|a, b| a.jid.cmp(&b.jid));
    let subject_by =
        data.str("subject_from").and_then(|f| f.split_once('/')).map(|(_, nick)| nick.to_owned()).unwrap_or_default();
    let mut image = OwnerImage::new(owner.clone());
    image.room = Some(RoomImage {
        row: RoomRow {
            jid: owner.clone(),
            config: config(&data).to_string(),
            subject: data.str("subject").unwrap_or_default().to_owned(),
            subject_by,
        },
        affiliations,
    });
    for entry in stores.archive("muc_log") {
        let Entry { mut stanza, key, when, .. } = unwrap_entry(entry).map_err(|e| format!("muc_log: {e}"))?;
        let Some(key) = key else { continue };
        if !stanza.is("message", ns::CLIENT) {
            continue;
        }
        // Rooms' archives keep the stanza as the room sent it, from the occupant's nick
        // at the room's (new) address.
        xml::remove_attr(&mut stanza, "to");
        if let (Some(old), Some(from)) = (&old, stanza.attr("from").map(str::to_owned))
            && let Some(nick) = from.strip_prefix(&format!("{old}/"))
        {
            xml::set_attr(&mut stanza, "from", format!("{owner}/{nick}"));
        }
        image.archive.push(ArchiveRow {
            stanza_id: key,
            with_jid: String::new(),
            ts: when.unwrap_or_else(rhein_storage::now_ms),
            stanza: xml::to_string(&stanza),
        });
    }
    let mut seen = std::collections::HashSet::new();
    image.archive.retain(|row| seen.insert(row.stanza_id.clone()));
    Ok(Converted { image, password: None, kind: Entity::Room })
}

/// Rhein's room configuration (mod-muc's stored JSON; what is left out takes its defaults)
/// from Prosody's room settings.
fn config(data: &Table) -> Json {
    let flag = |key: &str| data.get(key).and_then(Value::as_bool);
    let text = |key: &str| data.str(key).unwrap_or_default().to_owned();
    let mut config = json!({
        "name": text("name"),
        "description": text("description"),
        "persistent": true,
        "public": !flag("hidden").unwrap_or(false),
        "members_only": flag("members_only").unwrap_or(false),
        "moderated": flag("moderated").unwrap_or(false),
        "password": text("password"),
        "whois": if data.str("whois") == Some("anyone") { "anyone" } else { "moderators" },
        "change_subject": flag("changesubject").unwrap_or(false),
        "allow_invites": flag("allow_member_invites").unwrap_or(false),
        "language": text("language"),
        "logging": flag("archiving").unwrap_or(true),
        // The salt of occupant ids: kept with the room, so they stay stable.
        "salt": data.str("occupant_id_salt").map(str::to_owned).unwrap_or_else(rhein_proto::xml::random_id),
    });
    if let Some(max) = data.get("max_occupants").and_then(Value::as_i64).filter(|n| *n > 0) {
        config["max_users"] = json!(max);
    }
    config
}
