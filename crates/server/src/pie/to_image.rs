//! XEP-0227's typed elements (and Rhein's) to the images storage writes: every check an
//! import makes of an entry's content, and the canonical order an image is kept in (so an
//! export of the import reads the same).

use super::import::{Converted, Entity, Source};
use base64::Engine;
use rhein_module::pubsub::NodeForm;
use rhein_proto::parsers::mam_prefs::DefaultPrefs;
use rhein_proto::parsers::roster::Ask;
use rhein_proto::pie;
use rhein_proto::roster::Subscription as RosterSubscription;
use rhein_proto::{Element, Jid, ns, xml};
use rhein_pubsub::{Affiliation, NodeConfig, SubOptions, SubState, Subscription};
use rhein_sasl::{Credentials, ScramKeys};
use rhein_storage::{
    AccountImage, AffiliationRow, ArchiveDefault, ArchivePrefs, ArchiveRow, Document, ItemRow, NodeImage,
    OfflineMessage, OwnerImage, RoomImage, RoomRow, RosterRow, StorageError,
};
use std::collections::HashSet;

/// A `<user/>` as the image of an account of `host`.
pub(crate) fn user_image(
    user: pie::User,
    host: &str,
    source: Source,
    warn: &mut dyn FnMut(String),
) -> Result<Converted, String> {
    let username = rhein_proto::prepare_localpart(&user.name, host)
        .ok_or_else(|| format!("{:?} is not a valid username", user.name))?;
    let owner = format!("{username}@{host}");
    let mut image = OwnerImage::new(owner.clone());
    let account = user.account.unwrap_or_default();
    let password = user.password.filter(|p| !p.is_empty());
    let mut credentials = match scram_credentials(&user.scram, source, warn)? {
        Some(c) => c,
        None if password.is_some() => placeholder_credentials(),
        None => return Err("no SCRAM-SHA-1 credentials and no password: the account could not log in".into()),
    };
    credentials.argon2 = account.argon2.unwrap_or_default();
    credentials.disabled = account.disabled.unwrap_or(false);
    image.account = Some(AccountImage {
        host: host.to_owned(),
        username,
        credentials,
        admin: account.admin.unwrap_or(false),
        created_at: account.created.map_or_else(rhein_storage::now_ms, |s| s.0),
    });

    if let Some(roster) = user.roster {
        let mut contacts = HashSet::new();
        for item in roster.items {
            let contact = item.jid.to_string();
            if !contacts.insert(contact.clone()) {
                return Err(format!("{contact} is in the roster twice"));
            }
            let subscription = match item.subscription {
                RosterSubscription::None => rhein_storage::Subscription::None,
                RosterSubscription::To => rhein_storage::Subscription::To,
                RosterSubscription::From => rhein_storage::Subscription::From,
                RosterSubscription::Both => rhein_storage::Subscription::Both,
                RosterSubscription::Remove => return Err(format!("roster item {contact} has subscription='remove'")),
            };
            image.roster.push(RosterRow {
                contact,
                name: item.name.filter(|n| !n.is_empty()),
                subscription,
                ask: item.ask == Ask::Subscribe,
                approved: item.approved.unwrap_or(false),
                groups: item.groups.into_iter().map(|g| g.0).collect(),
            });
        }
        image.roster.sort_by(|a, b| a.contact.cmp(&b.contact));
    }

    for request in user.requests {
        if request.kind != "subscribe" {
            return Err(format!("a <presence type='{}'/> where only subscription requests belong", request.kind));
        }
        let contact = request.from.to_string();
        if image.requests.iter().any(|(c, _)| *c == contact) {
            warn(format!("user {}: a second subscription request from {contact} replaces the first", user.name));
            image.requests.retain(|(c, _)| *c != contact);
        }
        image.requests.push((contact, xml::to_string(&Element::from(request))));
    }
    image.requests.sort();

    if let Some(vcard) = user.vcard {
        let el = Element::from(vcard);
        image.documents.push(Document { kind: "vcard".into(), name: String::new(), payload: xml::to_string(&el) });
    }
    if let Some(private) = user.private {
        for doc in private.documents {
            if doc.ns().is_empty() || doc.ns() == ns::CLIENT || doc.ns().starts_with("jabber:") {
                return Err(format!("private XML in a reserved namespace ({})", doc.ns()));
            }
            push_document(&mut image, "private", doc.ns(), xml::to_string(&doc))?;
        }
    }
    for d in user.data {
        push_document(&mut image, &d.kind, d.name, d.payload)?;
    }
    image.documents.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));

    if let Some(offline) = user.offline {
        for message in offline.messages {
            image.offline.push(offline_message(message, host)?);
        }
    }

    image.nodes = pep_nodes(&owner, user.pep_nodes.unwrap_or_default(), user.pep_items.unwrap_or_default(), warn)?;
    if let Some(archive) = user.archive {
        image.archive = archive_rows(&owner, archive)?;
    }
    let mut blocked: Vec<String> =
        user.blocklist.map(|b| b.items.iter().map(Jid::to_string).collect()).unwrap_or_default();
    if let Some(privacy) = user.privacy {
        blocked.extend(privacy_blocks(privacy, warn));
    }
    blocked.sort();
    blocked.dedup();
    image.blocklist = blocked;
    if let Some(prefs) = user.archive_prefs {
        let list = |jids: Vec<Jid>| jids.iter().map(Jid::to_string).collect();
        image.archive_prefs = Some(ArchivePrefs {
            default_mode: match prefs.default_ {
                DefaultPrefs::Always => ArchiveDefault::Always,
                DefaultPrefs::Never => ArchiveDefault::Never,
                DefaultPrefs::Roster => ArchiveDefault::Roster,
            },
            always: list(prefs.always),
            never: list(prefs.never),
        });
    }
    image.last_activity = user.last.map(|l| (l.stamp.0, l.status));
    for unknown in user.unknown {
        warn(format!("user {}: <{}/> ({}) is not imported", user.name, unknown.name(), unknown.ns()));
    }
    Ok(Converted { image, password, kind: Entity::User })
}

/// Credentials that no password matches, replaced by ones derived from the plain-text
/// password before the account is written.
pub(crate) fn placeholder_credentials() -> Credentials {
    Credentials {
        salt: vec![0; 16],
        iterations: 1,
        sha1: ScramKeys { stored_key: vec![0; 20], server_key: vec![0; 20] },
        sha256: None,
        sha512: None,
        argon2: String::new(),
        disabled: false,
    }
}

/// The account's SCRAM keys from `<scram-credentials/>`: SCRAM-SHA-1's, and SHA-256 and
/// SHA-512 keys that share their salt and iteration count (Rhein stores one of each per
/// account). An account with only stronger keys gets SHA-1 keys no password matches, until a
/// PLAIN login (checked against the stronger keys) sets them all.
fn scram_credentials(
    scram: &[pie::ScramCredentials],
    source: Source,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Credentials>, String> {
    let mut seen = HashSet::new();
    let mut sets = Vec::new();
    for s in scram {
        if !seen.insert(s.mechanism.as_str()) {
            return Err(format!("two <scram-credentials/> for {}", s.mechanism));
        }
        if s.iterations == 0 {
            return Err(format!("{}: the iteration count must be positive", s.mechanism));
        }
        let length = match s.mechanism.as_str() {
            "SCRAM-SHA-1" => 20,
            "SCRAM-SHA-256" => 32,
            "SCRAM-SHA-512" => 64,
            other => {
                warn(format!("{other} credentials are not a mechanism Rhein has; left out"));
                continue;
            }
        };
        let mut s = s.clone();
        if source == Source::Ejabberd {
            // ejabberd writes each value base64-encoded twice (its store keeps them in
            // base64 already).
            for value in [&mut s.salt, &mut s.server_key, &mut s.stored_key] {
                let decoded = base64::engine::general_purpose::STANDARD.decode(&value[..]);
                *value = decoded.map_err(|_| format!("{}: not ejabberd's twice-encoded base64", s.mechanism))?;
            }
        }
        if s.stored_key.len() != length || s.server_key.len() != length {
            let hint = if source == Source::Xep0227 && s.stored_key.len() == length.div_ceil(3) * 4 {
                " (encoded twice, as ejabberd's export_piefxis writes them? import with --from-ejabberd)"
            } else {
                ""
            };
            return Err(format!("{}: keys must be {length} bytes{hint}", s.mechanism));
        }
        if s.salt.is_empty() {
            return Err(format!("{}: the salt is empty", s.mechanism));
        }
        sets.push(s);
    }
    let keys =
        |s: &pie::ScramCredentials| ScramKeys { stored_key: s.stored_key.clone(), server_key: s.server_key.clone() };
    let find = |mechanism: &str| sets.iter().find(|s| s.mechanism == mechanism);
    let (base, sha1) = match find("SCRAM-SHA-1") {
        Some(s) => (s, keys(s)),
        None => match find("SCRAM-SHA-256").or_else(|| find("SCRAM-SHA-512")) {
            Some(s) => {
                warn(format!("{} keys only: SCRAM-SHA-1 works after a first PLAIN login", s.mechanism));
                let mut placeholder = vec![0; 20];
                rand::fill(&mut placeholder[..]);
                (s, ScramKeys { stored_key: placeholder.clone(), server_key: placeholder })
            }
            None => return Ok(None),
        },
    };
    let mut shared = |mechanism: &str| -> Option<ScramKeys> {
        let s = find(mechanism)?;
        if s.salt != base.salt || s.iterations != base.iterations {
            warn(format!(
                "{mechanism} credentials have another salt or iteration count than {}'s; left out (set again at the next PLAIN login)",
                base.mechanism
            ));
            return None;
        }
        Some(keys(s))
    };
    Ok(Some(Credentials {
        salt: base.salt.clone(),
        iterations: base.iterations,
        sha1,
        sha256: shared("SCRAM-SHA-256"),
        sha512: shared("SCRAM-SHA-512"),
        argon2: String::new(),
        disabled: false,
    }))
}

/// The JIDs a privacy list blocks outright (XEP-0016 items of type `jid`, action `deny`,
/// for every kind of stanza), which is what XEP-0191 blocking is; other rules are reported.
fn privacy_blocks(privacy: pie::PrivacyLists, warn: &mut dyn FnMut(String)) -> Vec<String> {
    let default = privacy.default.and_then(|d| d.name);
    let in_force: Vec<pie::PrivacyList> = match (&default, privacy.lists.len()) {
        (Some(name), _) => privacy.lists.into_iter().filter(|l| l.name == *name).collect(),
        (None, 1) => privacy.lists,
        (None, _) => {
            warn("privacy lists without a default: none imported".into());
            Vec::new()
        }
    };
    let mut blocked = Vec::new();
    for item in in_force.into_iter().flat_map(|l| l.items) {
        let outright = item.kind.as_deref() == Some("jid") && item.action == "deny" && item.stanzas.is_empty();
        match (outright, item.value.as_deref().map(Jid::new)) {
            (true, Some(Ok(jid))) => blocked.push(jid.to_string()),
            _ => warn(format!(
                "privacy rule {} {} {} is not a block of a JID: left out",
                item.action,
                item.kind.as_deref().unwrap_or("everything"),
                item.value.as_deref().unwrap_or("")
            )),
        }
    }
    blocked
}

fn push_document(image: &mut OwnerImage, kind: &str, name: String, payload: String) -> Result<(), String> {
    if image.documents.iter().any(|d| d.kind == kind && d.name == name) {
        return Err(format!("two {kind} documents named {name:?}"));
    }
    image.documents.push(Document { kind: kind.to_owned(), name, payload });
    Ok(())
}

/// A stanza as Rhein stores it: in `jabber:client` (a `jabber:server` one is moved there).
fn client_stanza(el: Element, what: &str) -> Result<Element, String> {
    let el = if el.ns() == ns::SERVER { xml::renamespace(el, ns::SERVER, ns::CLIENT) } else { el };
    if el.ns() != ns::CLIENT || !matches!(el.name(), "message" | "presence" | "iq") {
        return Err(format!("{what} is <{}/> in {}, not a jabber:client stanza", el.name(), el.ns()));
    }
    Ok(el)
}

/// An offline message: the stanza without the `<delay/>` this host stamped it with, and
/// when that was (now, without one).
fn offline_message(message: Element, host: &str) -> Result<OfflineMessage, String> {
    let message = client_stanza(message, "an offline message")?;
    if message.name() != "message" {
        return Err(format!("an offline <{}/> where only messages belong", message.name()));
    }
    let ours = |c: &Element| c.is("delay", ns::DELAY) && c.attr("from").is_none_or(|f| f.eq_ignore_ascii_case(host));
    let mut message = message;
    let mut nodes = message.take_nodes();
    let at = nodes.iter().rposition(|n| n.as_element().is_some_and(ours));
    let delay = at.map(|i| nodes.remove(i)).and_then(|n| n.into_element());
    for node in nodes {
        message.append_node(node);
    }
    let stamp = match delay {
        Some(delay) => pie::Delay::try_from(delay).map_err(|e| format!("an offline message's <delay/>: {e}"))?.stamp.0,
        None => rhein_storage::now_ms(),
    };
    Ok(OfflineMessage { stamp, stanza: xml::to_string(&message) })
}

/// The conversation an archived stanza belongs to, for an archive without Rhein's
/// `<with/>`: the other party's bare JID.
fn conversation(owner: &str, stanza: &Element) -> String {
    let bare = |a: &str| stanza.attr(a).and_then(|j| Jid::new(j).ok()).map(|j| j.to_bare().to_string());
    match (bare("from"), bare("to")) {
        (Some(from), _) if from != owner => from,
        (_, Some(to)) => to,
        (Some(from), None) => from,
        (None, None) => String::new(),
    }
}

fn archive_rows(owner: &str, archive: pie::Archive) -> Result<Vec<ArchiveRow>, String> {
    let mut ids = HashSet::new();
    let mut rows = Vec::with_capacity(archive.results.len());
    for result in archive.results {
        if !ids.insert(result.id.clone()) {
            return Err(format!("archive id {} appears twice", result.id));
        }
        let stanza = client_stanza(result.forwarded.stanza, "an archived message")?;
        let with = result.with.unwrap_or_else(|| conversation(owner, &stanza));
        rows.push(ArchiveRow {
            stanza_id: result.id,
            with_jid: with,
            ts: result.forwarded.delay.stamp.0,
            stanza: xml::to_string(&stanza),
        });
    }
    Ok(rows)
}

fn items(owner: &str, node: &str, items: Vec<pie::Item>) -> Result<Vec<ItemRow>, String> {
    let mut ids = HashSet::new();
    items
        .into_iter()
        .map(|i| {
            if !ids.insert(i.id.clone()) {
                return Err(format!("node {node}: item {} appears twice", i.id));
            }
            Ok(ItemRow {
                id: i.id,
                publisher: i.publisher.unwrap_or_else(|| owner.to_owned()),
                payload: i.payload.as_ref().map(xml::to_string).unwrap_or_default(),
            })
        })
        .collect()
}

fn affiliation(node: &str, jid: &str, a: &str) -> Result<(String, Affiliation), String> {
    Affiliation::parse(a).map(|a| (jid.to_owned(), a)).ok_or_else(|| format!("node {node}: no affiliation {a:?}"))
}

/// XEP-0227's PEP nodes: configuration forms, affiliations and subscriptions, and items.
fn pep_nodes(
    owner: &str,
    configs: pie::PepNodes,
    contents: pie::PepItems,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<NodeImage>, String> {
    let mut nodes: Vec<NodeImage> = Vec::new();
    for configure in configs.configure {
        if nodes.iter().any(|n| n.node == configure.node) {
            return Err(format!("node {} is configured twice", configure.node));
        }
        let mut config = NodeConfig::default();
        config.apply(&Element::from(configure.form)).map_err(|e| {
            format!("node {}: configuration: {}", configure.node, e.text.as_deref().unwrap_or("not acceptable"))
        })?;
        nodes.push(NodeImage {
            node: configure.node,
            config: config.to_json(),
            items: Vec::new(),
            affiliations: Vec::new(),
            subscriptions: Vec::new(),
        });
    }
    let find = |nodes: &mut Vec<NodeImage>, node: &str, warn: &mut dyn FnMut(String)| -> usize {
        if let Some(i) = nodes.iter().position(|n| n.node == node) {
            return i;
        }
        warn(format!("node {node} has no configuration; it gets the defaults"));
        nodes.push(NodeImage {
            node: node.to_owned(),
            config: NodeConfig::default().to_json(),
            items: Vec::new(),
            affiliations: Vec::new(),
            subscriptions: Vec::new(),
        });
        nodes.len() - 1
    };
    for a in configs.affiliations {
        let i = find(&mut nodes, &a.node, warn);
        for one in a.affiliations {
            nodes[i].affiliations.push(affiliation(&a.node, &one.jid, &one.affiliation)?);
        }
    }
    for s in configs.subscriptions {
        let i = find(&mut nodes, &s.node, warn);
        for one in s.subscriptions {
            let state = match one.subscription.as_str() {
                "subscribed" => SubState::Subscribed,
                "pending" => SubState::Pending,
                "none" => continue,
                other => return Err(format!("node {}: no subscription state {other:?}", s.node)),
            };
            let subid = one.subid.unwrap_or_else(rhein_storage::new_subid);
            nodes[i].subscriptions.push(Subscription { jid: one.jid, subid, state, options: SubOptions::default() });
        }
    }
    for content in contents.nodes {
        let i = find(&mut nodes, &content.node, warn);
        if !nodes[i].items.is_empty() {
            return Err(format!("node {}: its items are listed twice", content.node));
        }
        nodes[i].items = items(owner, &content.node, content.items)?;
    }
    Ok(canonical(nodes))
}

/// Nodes by name, each one's affiliations and subscriptions by JID (the order storage
/// reads them in).
fn canonical(mut nodes: Vec<NodeImage>) -> Vec<NodeImage> {
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    for n in &mut nodes {
        n.affiliations.sort_by(|a, b| a.0.cmp(&b.0));
        n.subscriptions.sort_by(|a, b| a.jid.cmp(&b.jid));
    }
    nodes
}

/// Rhein's `<node/>`s, archive and documents of a room or entity.
pub(crate) fn generic(
    image: &mut OwnerImage,
    nodes: Vec<pie::Node>,
    archive: Option<pie::Archive>,
    data: Vec<pie::Data>,
) -> Result<(), String> {
    let owner = image.owner.clone();
    let mut images = Vec::with_capacity(nodes.len());
    for node in nodes {
        if images.iter().any(|n: &NodeImage| n.node == node.name) {
            return Err(format!("node {} appears twice", node.name));
        }
        let affiliations = node
            .affiliations
            .iter()
            .map(|a| affiliation(&node.name, &a.jid, &a.affiliation))
            .collect::<Result<_, _>>()?;
        let subscriptions = node
            .subscriptions
            .into_iter()
            .map(|s| {
                let state = SubState::parse(&s.state)
                    .ok_or_else(|| format!("node {}: no subscription state {:?}", node.name, s.state))?;
                Ok(Subscription { jid: s.jid, subid: s.subid, state, options: SubOptions::from_json(&s.options) })
            })
            .collect::<Result<_, String>>()?;
        images.push(NodeImage {
            items: items(&owner, &node.name, node.items)?,
            node: node.name,
            config: node.config,
            affiliations,
            subscriptions,
        });
    }
    image.nodes = canonical(images);
    if let Some(archive) = archive {
        image.archive = archive_rows(&owner, archive)?;
    }
    for d in data {
        push_document(image, &d.kind, d.name, d.payload)?;
    }
    image.documents.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    Ok(())
}

pub(crate) fn room_image(room: pie::Room) -> Result<OwnerImage, String> {
    let jid = room.jid.to_string();
    serde_json::from_str::<serde_json::Value>(&room.config)
        .map_err(|e| format!("the configuration is not JSON: {e}"))?;
    let mut affiliations = Vec::with_capacity(room.affiliations.len());
    for a in room.affiliations {
        if affiliations.iter().any(|b: &AffiliationRow| b.jid == a.jid) {
            return Err(format!("{} is affiliated twice", a.jid));
        }
        let affiliation = a.affiliation.parse().map_err(|e: StorageError| e.to_string())?;
        affiliations.push(AffiliationRow { jid: a.jid, affiliation, nick: a.nick, reason: a.reason });
    }
    affiliations.sort_by(|a, b| a.jid.cmp(&b.jid));
    let subject = room.subject.unwrap_or_default();
    let mut image = OwnerImage::new(jid.clone());
    image.room = Some(RoomImage {
        row: RoomRow { jid, config: room.config, subject: subject.text, subject_by: subject.by },
        affiliations,
    });
    generic(&mut image, room.nodes, room.archive, room.data)?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram(mechanism: &str, c: &Credentials, keys: &ScramKeys) -> pie::ScramCredentials {
        pie::ScramCredentials {
            mechanism: mechanism.into(),
            iterations: c.iterations,
            salt: c.salt.clone(),
            server_key: keys.server_key.clone(),
            stored_key: keys.stored_key.clone(),
        }
    }

    /// ejabberd with `auth_scram_hash: sha256` (or Prosody with `password_hash = "SHA-256"`)
    /// exports SCRAM-SHA-256 keys only: they are kept, PLAIN is checked against them, and
    /// that login makes the rest.
    #[test]
    fn sha256_keys_alone_are_kept_and_plain_completes_them() {
        let full = Credentials::derive_scram("secret", b"salt".to_vec(), 4096, String::new());
        let only = [scram("SCRAM-SHA-256", &full, full.sha256.as_ref().unwrap())];
        let mut warnings = Vec::new();
        let imported = scram_credentials(&only, Source::Xep0227, &mut |w| warnings.push(w)).unwrap().unwrap();
        assert_eq!(imported.sha256, full.sha256);
        assert_ne!(imported.sha1, full.sha1, "no SHA-1 keys to carry");
        assert!(warnings[0].contains("SCRAM-SHA-1 works after a first PLAIN login"), "{warnings:?}");
        assert!(imported.verify_password("secret") && !imported.verify_password("other"));
        let completed = imported.completed("secret").unwrap();
        assert_eq!((completed.sha1, completed.sha256, completed.sha512), (full.sha1, full.sha256, full.sha512));
    }

    /// Key sets with another salt than SHA-1's cannot share Rhein's one salt: left out.
    #[test]
    fn key_sets_of_another_salt_are_left_out() {
        let one = Credentials::derive_scram("secret", b"salt".to_vec(), 4096, String::new());
        let other = Credentials::derive_scram("secret", b"pepper".to_vec(), 4096, String::new());
        let sets =
            [scram("SCRAM-SHA-1", &one, &one.sha1), scram("SCRAM-SHA-256", &other, other.sha256.as_ref().unwrap())];
        let mut warnings = Vec::new();
        let imported = scram_credentials(&sets, Source::Xep0227, &mut |w| warnings.push(w)).unwrap().unwrap();
        assert_eq!((imported.sha1, imported.sha256), (one.sha1, None));
        assert_eq!(warnings.len(), 1);
    }
}
