//! Stored data to XEP-0227: each owner's [`OwnerImage`] becomes a `<user/>`, or one of
//! Rhein's `<room/>` and `<entity/>`, in canonical order, one per line.

use super::{Kind, classify};
use rhein_module::pubsub::NodeForm;
use rhein_proto::parsers::blocking::BlocklistResult;
use rhein_proto::parsers::data_forms::DataForm;
use rhein_proto::parsers::mam_prefs::{DefaultPrefs, Prefs};
use rhein_proto::parsers::roster::{Ask, Group};
use rhein_proto::pie::{self, Stamp};
use rhein_proto::roster::{Item as RosterItem, Roster, Subscription as RosterSubscription};
use rhein_proto::{BareJid, Element, Jid, ns, xml};
use rhein_pubsub::{NodeConfig, Subscription};
use rhein_storage::{ArchiveDefault, Db, NodeImage, OwnerImage, StorageError};
use std::io::Write;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("{owner}: {reason}")]
    Corrupt { owner: String, reason: String },
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("no account {0}")]
    NoSuchUser(String),
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exported {
    pub users: usize,
    pub rooms: usize,
    pub entities: usize,
    /// Owners with stored data but neither an account nor a room, whose address belongs
    /// to a configured host (left out).
    pub orphans: Vec<String>,
}

/// Writes the XEP-0227 document of `hosts` to `out`: every account, room and other entity,
/// or only `user`'s account (a local part of the first host, or a bare JID).
pub async fn export(
    db: &Db,
    hosts: &[String],
    user: Option<&str>,
    out: &mut impl Write,
) -> Result<Exported, ExportError> {
    let mut done = Exported::default();
    writeln!(out, "<?xml version='1.0' encoding='UTF-8'?>")?;
    writeln!(out, "<server-data xmlns='{}'>", ns::PIE)?;
    if let Some(user) = user {
        let (username, host) = match user.split_once('@') {
            Some((u, h)) => (u.to_owned(), h.to_ascii_lowercase()),
            None => (user.to_owned(), hosts.first().cloned().unwrap_or_default()),
        };
        let username = rhein_proto::prepare_localpart(&username, &host).unwrap_or(username);
        if !hosts.contains(&host) || !db.accounts().exists(&host, &username).await? {
            return Err(ExportError::NoSuchUser(format!("{username}@{host}")));
        }
        writeln!(out, "<host jid='{}'>", xml::escape(&host))?;
        write_user(db, &host, &username, out).await?;
        done.users = 1;
        writeln!(out, "</host>")?;
    } else {
        let owners = db.images().owners().await?;
        for host in hosts {
            writeln!(out, "<host jid='{}'>", xml::escape(host))?;
            for username in db.accounts().list(host).await? {
                write_user(db, host, &username, out).await?;
                done.users += 1;
            }
            for owner in &owners {
                match classify(owner, host, hosts) {
                    Some(Kind::Account)
                        if !db.accounts().exists(host, owner.split('@').next().unwrap_or("")).await? =>
                    {
                        done.orphans.push(owner.clone());
                    }
                    Some(Kind::Account) | None => {}
                    Some(Kind::Service) => {
                        let image = db.images().read(owner, None).await?;
                        let element = match &image.room {
                            Some(_) => {
                                done.rooms += 1;
                                Element::from(room(&image)?)
                            }
                            None if image.is_empty() => continue,
                            None => {
                                done.entities += 1;
                                Element::from(entity(&image)?)
                            }
                        };
                        writeln!(out, "{}", xml::to_string(&element))?;
                    }
                }
            }
            writeln!(out, "</host>")?;
        }
    }
    writeln!(out, "</server-data>")?;
    out.flush()?;
    Ok(done)
}

async fn write_user(db: &Db, host: &str, username: &str, out: &mut impl Write) -> Result<(), ExportError> {
    let owner = format!("{username}@{host}");
    let image = db.images().read(&owner, Some((host, username))).await?;
    let element = Element::from(user(&image, host)?);
    writeln!(out, "{}", xml::to_string(&element))?;
    Ok(())
}

/// Reads a stored XML string; a row that does not parse is corrupt.
fn parse(owner: &str, what: &str, stored: &str) -> Result<Element, ExportError> {
    stored.parse().map_err(|e| corrupt(owner, format!("stored {what} is not XML: {e}")))
}

fn corrupt(owner: &str, reason: impl Into<String>) -> ExportError {
    ExportError::Corrupt { owner: owner.to_owned(), reason: reason.into() }
}

fn jid(owner: &str, what: &str, s: &str) -> Result<Jid, ExportError> {
    Jid::new(s).map_err(|e| corrupt(owner, format!("{what} {s:?}: {e}")))
}

/// An account's image as `<user/>`.
pub fn user(image: &OwnerImage, host: &str) -> Result<pie::User, ExportError> {
    let owner = image.owner.as_str();
    let account = image.account.as_ref().ok_or_else(|| corrupt(owner, "not an account"))?;
    let c = &account.credentials;
    let mut user = pie::User::new(account.username.clone());
    let scram = |mechanism: &str, keys: &rhein_sasl::ScramKeys| pie::ScramCredentials {
        mechanism: mechanism.into(),
        iterations: c.iterations,
        salt: c.salt.clone(),
        server_key: keys.server_key.clone(),
        stored_key: keys.stored_key.clone(),
    };
    user.scram.push(scram("SCRAM-SHA-1", &c.sha1));
    if let Some(keys) = &c.sha256 {
        user.scram.push(scram("SCRAM-SHA-256", keys));
    }
    if let Some(keys) = &c.sha512 {
        user.scram.push(scram("SCRAM-SHA-512", keys));
    }
    user.account = Some(pie::Account {
        created: Some(Stamp(account.created_at)),
        admin: account.admin.then_some(true),
        disabled: c.disabled.then_some(true),
        argon2: (!c.argon2.is_empty()).then(|| c.argon2.clone()),
    });
    if !image.roster.is_empty() {
        let items = image
            .roster
            .iter()
            .map(|row| {
                let jid = BareJid::new(&row.contact)
                    .map_err(|e| corrupt(owner, format!("roster contact {:?}: {e}", row.contact)))?;
                Ok(RosterItem {
                    name: row.name.clone(),
                    subscription: match row.subscription {
                        rhein_storage::Subscription::None => RosterSubscription::None,
                        rhein_storage::Subscription::To => RosterSubscription::To,
                        rhein_storage::Subscription::From => RosterSubscription::From,
                        rhein_storage::Subscription::Both => RosterSubscription::Both,
                    },
                    ask: if row.ask { Ask::Subscribe } else { Ask::None },
                    approved: row.approved.then_some(true),
                    groups: row.groups.iter().cloned().map(Group).collect(),
                    ..RosterItem::new(jid)
                })
            })
            .collect::<Result<_, ExportError>>()?;
        user.roster = Some(Roster { ver: None, items, annotate: None });
    }
    for (contact, stanza) in &image.requests {
        let el = parse(owner, "subscription request", stanza)?;
        let request = pie::SubscriptionRequest::try_from(el)
            .map_err(|e| corrupt(owner, format!("subscription request from {contact}: {e}")))?;
        user.requests.push(request);
    }
    let mut private = Vec::new();
    for doc in &image.documents {
        match (doc.kind.as_str(), doc.name.as_str()) {
            ("vcard", "") => {
                let vcard = parse(owner, "vCard", &doc.payload)?;
                user.vcard = Some(pie::VCard { content: vcard.children().cloned().collect() });
            }
            ("private", _) => private.push(parse(owner, "private XML", &doc.payload)?),
            _ => user.data.push(data(doc)),
        }
    }
    if !private.is_empty() {
        user.private = Some(rhein_proto::payload::PrivateQuery { documents: private });
    }
    if !image.offline.is_empty() {
        let mut messages = Vec::with_capacity(image.offline.len());
        for m in &image.offline {
            let mut el = parse(owner, "offline message", &m.stanza)?;
            let delay =
                pie::Delay { stamp: Stamp(m.stamp), from: Some(host.to_owned()), reason: "Offline Storage".into() };
            el.append_child(delay.into());
            messages.push(el);
        }
        user.offline = Some(pie::OfflineMessages { messages });
    }
    if !image.nodes.is_empty() {
        let mut nodes = pie::PepNodes::default();
        let mut items = pie::PepItems::default();
        for node in &image.nodes {
            let config = NodeConfig::from_json(&node.config)
                .map_err(|e| corrupt(owner, format!("configuration of node {}: {e}", node.node)))?;
            let form = DataForm::try_from(config.to_form("form"))
                .map_err(|e| corrupt(owner, format!("configuration form of node {}: {e}", node.node)))?;
            nodes.configure.push(pie::Configure { node: node.node.clone(), form });
            if !node.affiliations.is_empty() {
                let affiliations = node
                    .affiliations
                    .iter()
                    .map(|(jid, a)| pie::Affiliation { jid: jid.clone(), affiliation: a.as_str().into() })
                    .collect();
                nodes.affiliations.push(pie::Affiliations { node: node.node.clone(), affiliations });
            }
            if !node.subscriptions.is_empty() {
                let subscriptions = node
                    .subscriptions
                    .iter()
                    .map(|s| pie::Subscription {
                        jid: s.jid.clone(),
                        subscription: s.state.as_str().into(),
                        subid: Some(s.subid.clone()),
                    })
                    .collect();
                nodes.subscriptions.push(pie::Subscriptions { node: node.node.clone(), subscriptions });
            }
            items.nodes.push(pie::Items { node: node.node.clone(), items: node_items(owner, node)? });
        }
        user.pep_nodes = Some(nodes);
        user.pep_items = Some(items);
    }
    user.archive = archive(image)?;
    if !image.blocklist.is_empty() {
        let items = image.blocklist.iter().map(|b| jid(owner, "blocked JID", b)).collect::<Result<_, _>>()?;
        user.blocklist = Some(BlocklistResult { items });
    }
    if let Some(prefs) = &image.archive_prefs {
        let list =
            |jids: &[String]| jids.iter().map(|j| jid(owner, "archiving preference", j)).collect::<Result<Vec<_>, _>>();
        user.archive_prefs = Some(Prefs {
            default_: match prefs.default_mode {
                ArchiveDefault::Always => DefaultPrefs::Always,
                ArchiveDefault::Never => DefaultPrefs::Never,
                ArchiveDefault::Roster => DefaultPrefs::Roster,
            },
            always: list(&prefs.always)?,
            never: list(&prefs.never)?,
        });
    }
    if let Some((stamp, status)) = &image.last_activity {
        user.last = Some(pie::LastActivity { stamp: Stamp(*stamp), status: status.clone() });
    }
    Ok(user)
}

fn data(doc: &rhein_storage::Document) -> pie::Data {
    pie::Data { kind: doc.kind.clone(), name: doc.name.clone(), payload: doc.payload.clone() }
}

fn node_items(owner: &str, node: &NodeImage) -> Result<Vec<pie::Item>, ExportError> {
    node.items
        .iter()
        .map(|i| {
            let payload = match i.payload.as_str() {
                "" => None,
                p => Some(parse(owner, "item payload", p)?),
            };
            let publisher = (!i.publisher.is_empty()).then(|| i.publisher.clone());
            Ok(pie::Item { id: i.id.clone(), publisher, payload })
        })
        .collect()
}

fn archive(image: &OwnerImage) -> Result<Option<pie::Archive>, ExportError> {
    if image.archive.is_empty() {
        return Ok(None);
    }
    let results = image
        .archive
        .iter()
        .map(|row| {
            Ok(pie::ArchivedMessage {
                id: row.stanza_id.clone(),
                with: Some(row.with_jid.clone()),
                forwarded: pie::Forwarded {
                    delay: pie::Delay { stamp: Stamp(row.ts), from: None, reason: String::new() },
                    stanza: parse(&image.owner, "archived message", &row.stanza)?,
                },
            })
        })
        .collect::<Result<_, ExportError>>()?;
    Ok(Some(pie::Archive { results }))
}

fn nodes(image: &OwnerImage) -> Result<Vec<pie::Node>, ExportError> {
    image
        .nodes
        .iter()
        .map(|node| {
            Ok(pie::Node {
                name: node.node.clone(),
                config: node.config.clone(),
                items: node_items(&image.owner, node)?,
                affiliations: node
                    .affiliations
                    .iter()
                    .map(|(jid, a)| pie::NodeAffiliation { jid: jid.clone(), affiliation: a.as_str().into() })
                    .collect(),
                subscriptions: node.subscriptions.iter().map(subscription).collect(),
            })
        })
        .collect()
}

fn subscription(s: &Subscription) -> pie::NodeSubscription {
    pie::NodeSubscription {
        jid: s.jid.clone(),
        subid: s.subid.clone(),
        state: s.state.as_str().into(),
        options: s.options.to_json(),
    }
}

/// A room's image as Rhein's `<room/>`.
pub fn room(image: &OwnerImage) -> Result<pie::Room, ExportError> {
    let owner = image.owner.as_str();
    let room = image.room.as_ref().ok_or_else(|| corrupt(owner, "not a room"))?;
    let jid = BareJid::new(owner).map_err(|e| corrupt(owner, format!("room address: {e}")))?;
    let subject = (!room.row.subject.is_empty() || !room.row.subject_by.is_empty())
        .then(|| pie::Subject { by: room.row.subject_by.clone(), text: room.row.subject.clone() });
    Ok(pie::Room {
        jid,
        config: room.row.config.clone(),
        subject,
        affiliations: room
            .affiliations
            .iter()
            .map(|a| pie::RoomAffiliation {
                jid: a.jid.clone(),
                affiliation: a.affiliation.as_str().into(),
                nick: a.nick.clone(),
                reason: a.reason.clone(),
            })
            .collect(),
        nodes: nodes(image)?,
        archive: archive(image)?,
        data: image.documents.iter().map(data).collect(),
    })
}

/// Any other owner's image as Rhein's `<entity/>`.
pub fn entity(image: &OwnerImage) -> Result<pie::Entity, ExportError> {
    Ok(pie::Entity {
        jid: image.owner.clone(),
        nodes: nodes(image)?,
        archive: archive(image)?,
        data: image.documents.iter().map(data).collect(),
    })
}
