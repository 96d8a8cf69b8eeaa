//! `rhein import --from-prosody DIR`: Prosody's file storage (`storage = "internal"`, the
//! default, as under /var/lib/prosody) read into accounts. Each host is a directory (its
//! name with `%2e` for dots), each store a directory under it, each user a `.dat` file
//! (`return { ... };`) or a `.list` file (`item({ ... });` per entry), read by [`lua`].
//!
//! Stores read: `accounts` (SCRAM-SHA-1 keys, or a plain password), `roster` (with pending
//! subscription requests), `vcard`, `private`, `offline`, `pep` and `pep_*` (every PEP node
//! with its items: bookmarks, avatars, OMEMO), `blocklist`, `archive` (MAM); and from a MUC
//! component's directory (a subdomain of a configured host), its persistent rooms
//! ([`rooms`]). Like an XEP-0227 import, everything is checked first, then each account and
//! room is written in one transaction that replaces what was stored for it.

pub mod lua;
mod rooms;
pub mod stanza;
mod user;

use crate::pie::import::{ImportError, Imported, write};
use rhein_storage::Db;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Stores this importer reads; anything else found in a host's directory is reported.
const KNOWN_STORES: &[&str] =
    &["accounts", "roster", "vcard", "private", "offline", "pep", "blocklist", "archive", "archive2"];

/// Stores that hold nothing worth carrying over (caches, logs, tokens of sessions).
const IGNORED_STORES: &[&str] =
    &["lastlog", "lastlog2", "account_details", "smacks_h", "cron", "tokens", "roster_groups"];

/// Prosody's file-name encoding: `%xx` for a byte (hosts and users: every non-alphanumeric
/// one; store names keep `_`).
pub fn decode(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The entries of a directory as (decoded name without `ext`, path), sorted.
fn entries(dir: &Path, ext: Option<&str>) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = match ext {
                Some(ext) => name.strip_suffix(ext)?.to_owned(),
                None if e.path().is_dir() => name,
                None => return None,
            };
            Some((decode(&stem), e.path()))
        })
        .collect();
    found.sort();
    found
}

/// One host's directory.
struct HostDir {
    host: String,
    path: PathBuf,
    users: Vec<String>,
}

/// A MUC component's directory: its rooms, and the domain they move to.
struct RoomsDir {
    path: PathBuf,
    rooms: Vec<String>,
    domain: String,
}

/// What of a data directory is imported.
struct Survey {
    hosts: Vec<HostDir>,
    rooms: Vec<RoomsDir>,
}

/// The configured hosts found in `dir`, with their users (those with an account); what is
/// not imported goes to `warnings`.
fn survey(
    dir: &Path,
    hosts: &[String],
    muc_subdomain: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Survey, ImportError> {
    if !dir.is_dir() {
        return Err(ImportError::Open {
            path: dir.to_owned(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let mut found = Vec::new();
    let mut rooms = Vec::new();
    let mut others = Vec::new();
    for (name, path) in entries(dir, None) {
        let host = name.to_ascii_lowercase();
        if !hosts.contains(&host) {
            let names: Vec<String> = entries(&path.join("config"), Some(".dat")).into_iter().map(|(r, _)| r).collect();
            let home = hosts.iter().filter(|h| host.ends_with(&format!(".{h}"))).max_by_key(|h| h.len());
            match (home, muc_subdomain) {
                (Some(home), Some(sub)) if !names.is_empty() => {
                    let domain = format!("{sub}.{home}");
                    if domain != host {
                        warnings.push(format!("{host}: its rooms move to {domain}, where Rhein serves rooms"));
                    }
                    rooms.push(RoomsDir { path, rooms: names, domain });
                }
                _ => others.push(host),
            }
            continue;
        }
        let users: Vec<String> = entries(&path.join("accounts"), Some(".dat")).into_iter().map(|(u, _)| u).collect();
        let mut stray = BTreeSet::new();
        for (store, store_path) in entries(&path, None) {
            let known = KNOWN_STORES.contains(&store.as_str()) || store.starts_with("pep_");
            if !known && !IGNORED_STORES.contains(&store.as_str()) {
                warnings.push(format!("{host}: store {store} is not imported"));
            }
            if known {
                for ext in [".dat", ".list"] {
                    for (user, _) in entries(&store_path, Some(ext)) {
                        if !users.contains(&user) {
                            stray.insert(user);
                        }
                    }
                }
            }
        }
        for user in stray {
            warnings.push(format!("{host}: data of {user}, who has no account, is not imported"));
        }
        found.push(HostDir { host, path, users });
    }
    if found.is_empty() {
        let seen = if others.is_empty() { "none".to_owned() } else { others.join(", ") };
        return Err(ImportError::Invalid {
            path: dir.to_owned(),
            errors: vec![format!("no directory of a configured host ({}) here; hosts found: {seen}", hosts.join(", "))],
        });
    }
    for other in others {
        warnings.push(format!("{other}: neither a configured host nor MUC rooms of one: not imported"));
    }
    Ok(Survey { hosts: found, rooms })
}

/// Checks Prosody's data directory `dir`, then (unless `dry_run`) writes every account of
/// the configured hosts it holds, and the rooms of their MUC components (at
/// `muc_subdomain` of their host: where Rhein serves rooms; without it, rooms are left out).
pub async fn import(
    db: &Db,
    dir: &Path,
    hosts: &[String],
    muc_subdomain: Option<&str>,
    dry_run: bool,
) -> Result<Imported, ImportError> {
    let mut result = Imported::default();
    let found = survey(dir, hosts, muc_subdomain, &mut result.warnings)?;
    let mut errors = Vec::new();
    for h in &found.hosts {
        for username in &h.users {
            let mut warn = |w: String| result.warnings.push(format!("{}@{}: {w}", username, h.host));
            match user::read(&h.path, &h.host, username, &mut warn) {
                Ok(_) => result.users += 1,
                Err(e) => errors.push(format!("{username}@{}: {e}", h.host)),
            }
        }
    }
    for r in &found.rooms {
        for room in &r.rooms {
            match rooms::read(&r.path, room, &r.domain, &mut |w| result.warnings.push(w)) {
                Ok(_) => result.rooms += 1,
                Err(e) => errors.push(format!("room {room}@{}: {e}", r.domain)),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid { path: dir.to_owned(), errors });
    }
    if dry_run {
        return Ok(result);
    }
    let mut done = 0;
    for h in &found.hosts {
        for username in &h.users {
            let Ok(c) = user::read(&h.path, &h.host, username, &mut |_| {}) else { continue };
            let owner = c.image.owner.clone();
            write(db, c).await.map_err(|error| ImportError::Storage { owner, done, error })?;
            done += 1;
        }
    }
    for r in &found.rooms {
        for room in &r.rooms {
            let Ok(c) = rooms::read(&r.path, room, &r.domain, &mut |_| {}) else { continue };
            let owner = c.image.owner.clone();
            write(db, c).await.map_err(|error| ImportError::Storage { owner, done, error })?;
            done += 1;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, content: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// A data directory as Prosody 0.12 leaves it (files abridged from a real one).
    #[test]
    fn an_account_is_read_from_every_store() {
        let dir = std::env::temp_dir().join(format!("rhein-prosody-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let host = dir.join("example%2eorg");
        write(
            &host,
            "accounts/alice.dat",
            "return {\n\t[\"salt\"] = \"073b2239\";\n\t[\"iteration_count\"] = 10000;\n\t[\"stored_key\"] = \"6d7e5e971c44840293314e88f8a9bc6bfb1326e1\";\n\t[\"server_key\"] = \"d8f988db9cf456ede9c39a213feba180f2b68f1c\";\n};\n",
        );
        write(&host, "accounts/bob.dat", "return { [\"password\"] = \"plain\"; };");
        write(
            &host,
            "roster/alice.dat",
            "return {\n[false] = { [\"version\"] = 5; [\"pending\"] = { [\"carol@example.org\"] = true; }; };\n\
            [\"bob@example.org\"] = { [\"groups\"] = { [\"Friends\"] = true; }; [\"subscription\"] = \"both\"; [\"name\"] = \"Bob\"; };\n};",
        );
        write(
            &host,
            "pep/alice.dat",
            "return { [\"urn:xmpp:bookmarks:1\"] = { [\"name\"] = \"urn:xmpp:bookmarks:1\"; [\"config\"] = { [\"access_model\"] = \"whitelist\"; [\"max_items\"] = \"max\"; }; [\"subscribers\"] = {}; [\"affiliations\"] = {}; }; };",
        );
        write(
            &host,
            "pep_urn%3axmpp%3abookmarks%3a1/alice.list",
            "item({\n\t{ \"alice\"; [\"attr\"] = { [\"xmlns\"] = \"urn:xmpp:bookmarks:1\"; }; [\"name\"] = \"nick\"; };\n\t[\"attr\"] = { [\"autojoin\"] = \"true\"; [\"stamp\"] = \"2026-12-07T13:13:37Z\"; [\"xmlns\"] = \"urn:xmpp:bookmarks:1\"; };\n\t[\"name\"] = \"conference\"; [\"key\"] = \"room@conference.example.org\"; [\"with\"] = \"alice@example.org\"; [\"when\"] = 1796649217;\n});\n",
        );
        write(&host, "lastlog2/alice.dat", "return {};");
        write(&host, "mystery/alice.dat", "return {};");
        write(
            &dir,
            "conference%2eexample%2eorg/config/room.dat",
            "return {\n\t[\"_data\"] = { [\"subject\"] = \"Tea time\"; [\"persistent\"] = true; [\"members_only\"] = true; [\"hidden\"] = true; [\"subject_from\"] = \"room@conference.example.org/alice\"; [\"name\"] = \"The Lounge\"; };\n\
            \t[\"alice@example.org\"] = \"owner\"; [\"bob@example.org\"] = \"member\"; [\"_jid\"] = \"room@conference.example.org\";\n\
            \t[\"_affiliation_data\"] = { [\"bob@example.org\"] = { [\"reserved_nickname\"] = \"bobby\"; }; };\n};",
        );

        let mut warnings = Vec::new();
        let survey = survey(&dir, &["example.org".to_owned()], Some("conference"), &mut warnings).unwrap();
        let found = survey.hosts;
        assert_eq!(found[0].users, ["alice", "bob"]);
        assert!(warnings.iter().any(|w| w.contains("store mystery")), "{warnings:?}");
        assert_eq!(
            (survey.rooms[0].rooms.as_slice(), survey.rooms[0].domain.as_str()),
            (&["room".to_owned()][..], "conference.example.org")
        );

        let alice = user::read(&found[0].path, "example.org", "alice", &mut |w| panic!("{w}")).unwrap();
        let account = alice.image.account.as_ref().unwrap();
        assert_eq!((account.credentials.salt.as_slice(), account.credentials.iterations), (&b"073b2239"[..], 10_000));
        assert_eq!(account.credentials.sha1.stored_key[..2], [0x6d, 0x7e]);
        assert_eq!(alice.password, None);
        assert_eq!(alice.image.roster[0].groups, ["Friends"]);
        assert_eq!(alice.image.requests[0].0, "carol@example.org");
        let node = &alice.image.nodes[0];
        let config = rhein_pubsub::NodeConfig::from_json(&node.config).unwrap();
        assert_eq!((config.max_items, node.items[0].id.as_str()), (None, "room@conference.example.org"));
        assert!(!node.items[0].payload.contains("stamp"), "{}", node.items[0].payload);
        let bob = user::read(&found[0].path, "example.org", "bob", &mut |_| {}).unwrap();
        assert_eq!(bob.password.as_deref(), Some("plain"));

        let r = &survey.rooms[0];
        let room = rooms::read(&r.path, "room", &r.domain, &mut |w| panic!("{w}")).unwrap().image.room.unwrap();
        let config: serde_json::Value = serde_json::from_str(&room.row.config).unwrap();
        assert_eq!(
            (config["name"].as_str(), config["members_only"].as_bool(), config["public"].as_bool()),
            (Some("The Lounge"), Some(true), Some(false))
        );
        assert_eq!((room.row.subject.as_str(), room.row.subject_by.as_str()), ("Tea time", "alice"));
        let bob = room.affiliations.iter().find(|a| a.jid == "bob@example.org").unwrap();
        assert_eq!((bob.affiliation, bob.nick.as_str()), (rhein_storage::RoomAffiliation::Member, "bobby"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn names_decode() {
        assert_eq!(decode("migrate%2etest"), "migrate.test");
        assert_eq!(decode("pep_urn%3axmpp%3aavatar%3adata"), "pep_urn:xmpp:avatar:data");
        assert_eq!(decode("50%"), "50%");
        assert_eq!(decode("%c3%a9t%c3%a9"), "été");
    }
}
