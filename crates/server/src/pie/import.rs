//! XEP-0227 to storage. The file is read twice: first every entry is checked (a malformed
//! file is refused whole, with the line and the reason, before anything is written), then
//! each owner is written in a transaction of its own, replacing what was stored for it, so
//! importing the same file twice leaves the same state.

use super::document::{Entry, ReadError, Reader};
use super::to_image::{generic, room_image, user_image};
use super::{Kind, classify};
use rhein_proto::{ns, pie};
use rhein_sasl::Credentials;
use rhein_storage::{Db, OwnerImage, StorageError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Whose export the file is: XEP-0227 as Rhein (or any server) writes it, or ejabberd's
/// `export_piefxis`, whose quirks are smoothed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Xep0227,
    Ejabberd,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    pub users: usize,
    pub rooms: usize,
    pub entities: usize,
    /// What was read but not imported, each with its line.
    pub warnings: Vec<String>,
}

/// Why an import was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot open: {error}")]
    Open { path: PathBuf, error: std::io::Error },
    #[error("{path}: {error}")]
    Read { path: PathBuf, error: ReadError },
    #[error("{path}: nothing imported:\n{}", errors.join("\n"))]
    Invalid { path: PathBuf, errors: Vec<String> },
    #[error("writing {owner} failed, nothing of it written ({done} imported before it): {error}")]
    Storage { owner: String, done: usize, error: StorageError },
}

/// Errors listed at most, before the check stops.
const MAX_ERRORS: usize = 20;

/// One owner read from a file, ready to write.
pub(crate) struct Converted {
    pub image: OwnerImage,
    /// A password in plain text to derive the credentials from at write time (slow, so
    /// not during the check).
    pub password: Option<String>,
    pub kind: Entity,
}

/// What an entry of the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    User,
    Room,
    Other,
}

/// Checks the file at `path`, then (unless `dry_run`) writes each owner it holds.
pub async fn import(
    db: &Db,
    path: &Path,
    source: Source,
    hosts: &[String],
    dry_run: bool,
) -> Result<Imported, ImportError> {
    let mut result = Imported::default();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    each_entry(path, |entry| {
        let at = entry.location();
        match convert(entry, source, hosts, &mut result.warnings) {
            Ok(Some(c)) if !seen.insert(c.image.owner.clone()) => {
                errors.push(format!("{at}: {} appears twice", c.image.owner));
            }
            Ok(Some(c)) => match c.kind {
                Entity::User => result.users += 1,
                Entity::Room => result.rooms += 1,
                Entity::Other => result.entities += 1,
            },
            Ok(None) => {}
            Err(e) => errors.push(format!("{at}: {e}")),
        }
        errors.len() < MAX_ERRORS
    })?;
    if !errors.is_empty() {
        return Err(ImportError::Invalid { path: path.to_owned(), errors });
    }
    if dry_run {
        return Ok(result);
    }
    let mut done = 0;
    let mut failure = None;
    // The entries are read again (one in memory at a time) and written in order.
    let mut reader = open(path)?;
    loop {
        let entry = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(error) => return Err(ImportError::Read { path: path.to_owned(), error }),
        };
        let Ok(Some(c)) = convert(entry, source, hosts, &mut Vec::new()) else { continue };
        let owner = c.image.owner.clone();
        if let Err(error) = write(db, c).await {
            failure = Some(ImportError::Storage { owner, done, error });
            break;
        }
        done += 1;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// Writes one owner: its credentials derived from a plain-text password first, if it came
/// with one.
pub(crate) async fn write(db: &Db, mut c: Converted) -> Result<(), StorageError> {
    if let (Some(password), Some(account)) = (c.password.take(), c.image.account.as_mut()) {
        let derived = rhein_module::derive_credentials(&password).await;
        account.credentials = Credentials { disabled: account.credentials.disabled, ..derived };
    }
    db.images().replace(&c.image).await?;
    tracing::debug!(owner = %c.image.owner, "imported");
    Ok(())
}

fn open(path: &Path) -> Result<Reader<std::io::BufReader<std::fs::File>>, ImportError> {
    Reader::open(path).map_err(|error| ImportError::Open { path: path.to_owned(), error })
}

/// Calls `f` with each entry until it returns `false`.
fn each_entry(path: &Path, mut f: impl FnMut(Entry) -> bool) -> Result<(), ImportError> {
    let mut reader = open(path)?;
    loop {
        match reader.next_entry() {
            Ok(Some(entry)) => {
                if !f(entry) {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(ImportError::Read { path: path.to_owned(), error }),
        }
    }
}

/// One entry of the file as an owner to write; `None` for what Rhein does not import
/// (noted in `warnings`).
pub(crate) fn convert(
    entry: Entry,
    source: Source,
    hosts: &[String],
    warnings: &mut Vec<String>,
) -> Result<Option<Converted>, String> {
    let host = entry.host.to_ascii_lowercase();
    if !hosts.contains(&host) {
        return Err(format!("host {host} is not configured here (configured: {})", hosts.join(", ")));
    }
    let at = entry.location();
    let el = entry.element;
    let typed = |e: rhein_proto::xso::error::FromElementError| e.to_string();
    if el.is("user", ns::PIE) {
        let user = pie::User::try_from(el).map_err(|e| format!("<user/>: {}", typed(e)))?;
        let label = format!("user {}", user.name);
        let converted = user_image(user, &host, source, &mut |w| warnings.push(format!("{at}: {w}")))
            .map_err(|e| format!("{label}: {e}"))?;
        return Ok(Some(converted));
    }
    if el.is("room", ns::RHEIN_PIE) {
        let room = pie::Room::try_from(el).map_err(|e| format!("<room/>: {}", typed(e)))?;
        let label = format!("room {}", room.jid);
        if classify(room.jid.as_str(), &host, hosts) != Some(Kind::Service) {
            return Err(format!("{label} is not at a service of {host}"));
        }
        let image = room_image(room).map_err(|e| format!("{label}: {e}"))?;
        return Ok(Some(Converted { image, password: None, kind: Entity::Room }));
    }
    if el.is("entity", ns::RHEIN_PIE) {
        let entity = pie::Entity::try_from(el).map_err(|e| format!("<entity/>: {}", typed(e)))?;
        let label = format!("entity {}", entity.jid);
        if classify(&entity.jid, &host, hosts) != Some(Kind::Service) {
            return Err(format!("{label} is neither {host} nor at one of its services"));
        }
        let mut image = OwnerImage::new(entity.jid.clone());
        generic(&mut image, entity.nodes, entity.archive, entity.data).map_err(|e| format!("{label}: {e}"))?;
        return Ok(Some(Converted { image, password: None, kind: Entity::Other }));
    }
    warnings.push(format!("{at}: <{}/> ({}) in host {host} is not something Rhein imports", el.name(), el.ns()));
    Ok(None)
}
