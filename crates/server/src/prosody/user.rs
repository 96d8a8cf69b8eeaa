//! One Prosody account, from every store that has something of it, as the image Rhein
//! stores.

use super::Stored;
use super::lua::{Table, Value};
use super::stanza::element;
use crate::pie::import::{Converted, Entity};
use crate::pie::to_image::placeholder_credentials;
use rhein_module::pubsub::NodeForm;
use rhein_proto::{BareJid, Element, Jid, ns, xml};
use rhein_pubsub::{Affiliation, NodeConfig, SubOptions, SubState, Subscription};
use rhein_sasl::{Credentials, ScramKeys};
use rhein_storage::{AccountImage, ArchiveRow, Document, ItemRow, NodeImage, OfflineMessage, OwnerImage, RosterRow};

/// Whether an account's data in `store` is read.
pub(super) fn wanted(store: &str) -> bool {
    super::KNOWN_STORES.contains(&store) || store.starts_with("pep_")
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Seconds since the epoch (an integer or a fraction) as milliseconds.
fn millis(when: &Value) -> Option<i64> {
    when.as_f64().filter(|w| w.is_finite() && *w >= 0.0).map(|w| (w * 1000.0).round() as i64)
}

/// Maps what `user@host` has stored.
pub(super) fn read(stored: &Stored, host: &str, user: &str, warn: &mut dyn FnMut(String)) -> Result<Converted, String> {
    let username =
        rhein_proto::prepare_localpart(user, host).ok_or_else(|| format!("{user:?} is not a valid username"))?;
    let owner = format!("{username}@{host}");
    let mut image = OwnerImage::new(owner.clone());
    let account = stored.keyval("accounts").ok_or("no account data")?;
    let (credentials, password) = credentials(account, warn)?;
    image.account = Some(AccountImage {
        host: host.to_owned(),
        username,
        credentials,
        admin: false,
        created_at: rhein_storage::now_ms(),
    });
    if let Some(roster) = stored.keyval("roster") {
        read_roster(&mut image, roster, warn)?;
    }
    if let Some(vcard) = stored.keyval("vcard") {
        let el = element(vcard, ns::VCARD).map_err(|e| format!("vcard: {e}"))?;
        if el.is("vCard", ns::VCARD) {
            image.documents.push(Document { kind: "vcard".into(), name: String::new(), payload: xml::to_string(&el) });
        } else {
            warn(format!("the stored vCard is <{}/> in {}: not imported", el.name(), el.ns()));
        }
    }
    if let Some(private) = stored.keyval("private") {
        for (key, value) in private.string_fields() {
            let Some(t) = value.as_table() else { continue };
            let el = element(t, ns::PRIVATE).map_err(|e| format!("private {key}: {e}"))?;
            let name = el.ns();
            if name.is_empty() || name.starts_with("jabber:") {
                warn(format!("private XML in the reserved namespace {name:?}: not imported"));
                continue;
            }
            image.documents.push(Document { kind: "private".into(), name, payload: xml::to_string(&el) });
        }
    }
    image.documents.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    for entry in stored.archive("offline") {
        image.offline.push(offline(entry).map_err(|e| format!("offline: {e}"))?);
    }
    read_pep(&mut image, stored, warn)?;
    if let Some(blocklist) = stored.keyval("blocklist") {
        let mut blocked: Vec<String> = blocklist
            .string_fields()
            .filter_map(|(jid, _)| match Jid::new(jid) {
                Ok(j) => Some(j.to_string()),
                Err(_) => {
                    warn(format!("blocked {jid:?} is not a JID: left out"));
                    None
                }
            })
            .collect();
        blocked.sort();
        blocked.dedup();
        image.blocklist = blocked;
    }
    for store in ["archive2", "archive"] {
        for entry in stored.archive(store) {
            image.archive.push(archived(entry).map_err(|e| format!("{store}: {e}"))?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    image.archive.retain(|row| seen.insert(row.stanza_id.clone()));
    Ok(Converted { image, password, kind: Entity::User })
}

/// `accounts/USER.dat`: SCRAM keys (`internal_hashed`) or a password (`internal_plain`).
fn credentials(t: &Table, warn: &mut dyn FnMut(String)) -> Result<(Credentials, Option<String>), String> {
    let disabled = t.get("enabled").and_then(Value::as_bool) == Some(false);
    if let Some(password) = t.str("password").filter(|p| !p.is_empty()) {
        return Ok((Credentials { disabled, ..placeholder_credentials() }, Some(password.to_owned())));
    }
    let keys = (t.str("stored_key").and_then(hex), t.str("server_key").and_then(hex));
    let (Some(stored_key), Some(server_key)) = keys else {
        return Err("the account has neither SCRAM keys nor a password".into());
    };
    let salt = match t.get("salt") {
        Some(Value::Str(s)) if !s.is_empty() => s.clone(),
        _ => return Err("the account's SCRAM keys come without a salt".into()),
    };
    let iterations = t
        .get("iteration_count")
        .and_then(Value::as_i64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or("the account's SCRAM keys come without an iteration count")?;
    let keys = ScramKeys { stored_key, server_key };
    let mut credentials = Credentials {
        salt,
        iterations,
        sha1: keys.clone(),
        sha256: None,
        sha512: None,
        argon2: String::new(),
        disabled,
    };
    match keys.stored_key.len() {
        20 if keys.server_key.len() == 20 => {}
        32 if keys.server_key.len() == 32 => {
            // `password_hash = "SHA-256"`: no SHA-1 keys to carry. SCRAM-SHA-1 cannot
            // succeed until a PLAIN login sets every key from the password.
            warn("SCRAM-SHA-256 keys only (password_hash = SHA-256): SCRAM-SHA-1 works after a first PLAIN or SCRAM-SHA-256 login".into());
            credentials.sha256 = Some(keys);
            credentials.sha1 = ScramKeys { stored_key: rand_key(20), server_key: rand_key(20) };
        }
        n => return Err(format!("SCRAM keys of {n} bytes, which no hash Rhein knows makes")),
    }
    Ok((credentials, None))
}

fn rand_key(n: usize) -> Vec<u8> {
    let mut key = vec![0; n];
    rand::fill(&mut key[..]);
    key
}

/// `roster/USER.dat`: contacts by JID, and under `[false]` the version and the pending
/// subscription requests.
fn read_roster(image: &mut OwnerImage, roster: &Table, warn: &mut dyn FnMut(String)) -> Result<(), String> {
    for (jid, value) in roster.string_fields() {
        let Some(item) = value.as_table() else { continue };
        let contact = match BareJid::new(jid) {
            Ok(j) => j.to_string(),
            Err(_) => {
                warn(format!("roster contact {jid:?} is not a bare JID: left out"));
                continue;
            }
        };
        let subscription = match item.str("subscription").unwrap_or("none") {
            "none" => rhein_storage::Subscription::None,
            "to" => rhein_storage::Subscription::To,
            "from" => rhein_storage::Subscription::From,
            "both" => rhein_storage::Subscription::Both,
            other => return Err(format!("roster contact {jid}: subscription {other:?}")),
        };
        let mut groups: Vec<String> = item
            .table("groups")
            .map(|g| g.string_fields().map(|(name, _)| name.to_owned()).collect())
            .unwrap_or_default();
        groups.sort();
        let approved = matches!(item.get("approved"), Some(Value::Bool(true))) || item.str("approved") == Some("true");
        image.roster.push(RosterRow {
            contact,
            name: item.str("name").filter(|n| !n.is_empty()).map(str::to_owned),
            subscription,
            ask: item.str("ask") == Some("subscribe"),
            approved,
            groups,
        });
    }
    image.roster.sort_by(|a, b| a.contact.cmp(&b.contact));
    let pending = roster.get_false().and_then(Value::as_table).and_then(|meta| meta.table("pending"));
    for (jid, request) in pending.map(|p| p.string_fields().collect::<Vec<_>>()).unwrap_or_default() {
        let Ok(from) = BareJid::new(jid) else {
            warn(format!("a subscription request from {jid:?}, which is not a bare JID: left out"));
            continue;
        };
        // Older versions kept `true`; 0.12 the presence stanza itself.
        let presence = match request.as_table() {
            Some(t) => element(t, ns::CLIENT).map_err(|e| format!("pending request from {jid}: {e}"))?,
            None => Element::bare("presence", ns::CLIENT),
        };
        let mut presence = presence;
        xml::set_attr(&mut presence, "from", from.as_str());
        xml::set_attr(&mut presence, "to", image.owner.as_str());
        xml::set_attr(&mut presence, "type", "subscribe");
        image.requests.push((from.to_string(), xml::to_string(&presence)));
    }
    image.requests.sort();
    Ok(())
}

/// An entry of one of Prosody's archives: the stanza (or item payload), its key, when it
/// was stored (milliseconds) and with whom.
pub(super) struct Entry {
    pub stanza: Element,
    pub key: Option<String>,
    pub when: Option<i64>,
    pub with: Option<String>,
}

/// Prosody's archive entries are the stanza with `key`, `when` and `with` beside it and
/// its time also in a `stamp` attribute: the stanza alone, and those.
pub(super) fn unwrap_entry(entry: &Table) -> Result<Entry, String> {
    let mut stanza = entry.clone();
    stanza.fields.retain(|(k, _)| !matches!(k.as_str(), Some("key" | "when" | "with")));
    let mut stamp = None;
    for (k, v) in &mut stanza.fields {
        if k.as_str() == Some("attr")
            && let Value::Table(attrs) = v
        {
            stamp = attrs.str("stamp").and_then(|s| rhein_proto::time::parse_datetime(s).ok());
            attrs.fields.retain(|(k, _)| !matches!(k.as_str(), Some("stamp" | "stamp_legacy")));
        }
    }
    Ok(Entry {
        stanza: element(&stanza, ns::CLIENT)?,
        key: entry.str("key").map(str::to_owned),
        when: entry.get("when").and_then(millis).or(stamp),
        with: entry.str("with").map(str::to_owned),
    })
}

fn offline(entry: &Table) -> Result<OfflineMessage, String> {
    let Entry { stanza, when, .. } = unwrap_entry(entry)?;
    if !stanza.is("message", ns::CLIENT) {
        return Err(format!("an offline <{}/>", stanza.name()));
    }
    Ok(OfflineMessage { stamp: when.unwrap_or_else(rhein_storage::now_ms), stanza: xml::to_string(&stanza) })
}

fn archived(entry: &Table) -> Result<ArchiveRow, String> {
    let Entry { stanza: el, key, when, with } = unwrap_entry(entry)?;
    let key = key.ok_or("an archived message without an id")?;
    // `with` may carry the message type after a `<` (groupchat).
    let with = with.unwrap_or_default();
    let with = with.split('<').next().unwrap_or_default().to_owned();
    Ok(ArchiveRow {
        stanza_id: key,
        with_jid: with,
        ts: when.unwrap_or_else(rhein_storage::now_ms),
        stanza: xml::to_string(&el),
    })
}

/// Prosody's PEP defaults (mod_pep's `node_defaults` over util.pubsub's), which a node's
/// stored configuration only overrides.
fn prosody_defaults() -> NodeConfig {
    let mut config = NodeConfig { max_items: Some(1), ..NodeConfig::default() };
    config.access_model = NodeConfig::from_wire("presence").unwrap_or(config.access_model);
    config.send_last_published_item =
        NodeConfig::from_wire("on_sub_and_presence").unwrap_or(config.send_last_published_item);
    config.publish_model = NodeConfig::from_wire("publishers").unwrap_or(config.publish_model);
    config.persist_items = true;
    config
}

/// A node's stored Prosody configuration over the defaults, through the same form fields
/// a client would set.
fn node_config(stored: Option<&Table>, node: &str, warn: &mut dyn FnMut(String)) -> Result<NodeConfig, String> {
    let mut config = prosody_defaults();
    let Some(stored) = stored else { return Ok(config) };
    let mut form = Element::bare("x", ns::DATA);
    for (key, value) in stored.string_fields() {
        let values: Vec<String> = match value {
            Value::Bool(b) => vec![if *b { "1" } else { "0" }.to_owned()],
            Value::Int(n) => vec![n.to_string()],
            Value::Float(f) => vec![f.to_string()],
            Value::Str(_) => vec![value.as_str().unwrap_or_default().to_owned()],
            Value::Table(t) => t.items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Value::Nil => continue,
        };
        let known = [
            "access_model",
            "publish_model",
            "persist_items",
            "max_items",
            "send_last_published_item",
            "title",
            "type",
            "notify_retract",
            "notify_delete",
            "notify_config",
            "deliver_payloads",
            "deliver_notifications",
            "notification_type",
            "roster_groups_allowed",
            "item_expire",
        ];
        if key.starts_with('_') || key == "itemreply" || key == "description" {
            continue;
        }
        if !known.contains(&key) {
            warn(format!("node {node}: option {key} is not one Rhein has; left out"));
            continue;
        }
        let mut field = xml::with_attr(Element::bare("field", ns::DATA), "var", format!("pubsub#{key}"));
        for v in values {
            field.append_child(xml::text_el("value", ns::DATA, v));
        }
        form.append_child(field);
    }
    config
        .apply(&form)
        .map_err(|e| format!("node {node}: {}", e.text.as_deref().unwrap_or("configuration not acceptable")))?;
    Ok(config)
}

/// The `pep` store (each node's configuration, affiliations and subscribers) and the
/// `pep_NODE` archives (its items).
fn read_pep(image: &mut OwnerImage, stored: &Stored, warn: &mut dyn FnMut(String)) -> Result<(), String> {
    let owner = image.owner.clone();
    let nodes = stored.keyval("pep").cloned().unwrap_or_default();
    let mut names: Vec<String> = nodes.string_fields().map(|(n, _)| n.to_owned()).collect();
    for store in stored.archives.keys() {
        if let Some(node) = store.strip_prefix("pep_")
            && !names.iter().any(|n| n == node)
        {
            names.push(node.to_owned());
        }
    }
    names.sort();
    for node in names {
        let entry = nodes.get(&node).and_then(Value::as_table);
        let items = stored.archive(&format!("pep_{node}"));
        // mod_bookmarks' mirror of XEP-0402 bookmarks for old clients, which Rhein
        // answers from the bookmarks node itself (XEP-0411).
        if node == ns::BOOKMARKS_LEGACY && items.is_empty() {
            continue;
        }
        let config = node_config(entry.and_then(|e| e.table("config")), &node, warn)?;
        let mut affiliations = Vec::new();
        for (jid, a) in entry
            .and_then(|e| e.table("affiliations"))
            .map(|t| t.string_fields().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let Some(affiliation) = a.as_str().and_then(Affiliation::parse) else {
                warn(format!("node {node}: affiliation of {jid} not understood; left out"));
                continue;
            };
            if jid != owner {
                affiliations.push((jid.to_owned(), affiliation));
            }
        }
        affiliations.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subscriptions: Vec<Subscription> = entry
            .and_then(|e| e.table("subscribers"))
            .map(|t| {
                t.string_fields()
                    .map(|(jid, _)| Subscription {
                        jid: jid.to_owned(),
                        subid: rhein_storage::new_subid(),
                        state: SubState::Subscribed,
                        options: SubOptions::default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        subscriptions.sort_by(|a, b| a.jid.cmp(&b.jid));
        let mut rows: Vec<ItemRow> = Vec::with_capacity(items.len());
        for item in items {
            let Entry { stanza: payload, key, with, .. } =
                unwrap_entry(item).map_err(|e| format!("pep_{node}: {e}"))?;
            let id = key.ok_or_else(|| format!("pep_{node}: an item without an id"))?;
            rows.retain(|r| r.id != id);
            rows.push(ItemRow {
                id,
                publisher: with.unwrap_or_else(|| owner.clone()),
                payload: xml::to_string(&payload),
            });
        }
        image.nodes.push(NodeImage { node, config: config.to_json(), items: rows, affiliations, subscriptions });
    }
    Ok(())
}
