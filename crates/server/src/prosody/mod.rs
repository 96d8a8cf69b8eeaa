//! `rhein import --from-prosody PATH`: Prosody's storage read into accounts and rooms, from
//! either of the backends a Prosody server keeps its data in:
//!
//! - the file storage (`storage = "internal"`, the default, as under /var/lib/prosody): PATH
//!   is the data directory ([`files`]);
//! - the SQL storage in SQLite (`storage = "sql"`, `sql = { driver = "SQLite3" }`): PATH is
//!   the database (`prosody.sqlite`), or a data directory that holds one and no directory of
//!   a configured host or of a subdomain of one ([`sql`]; opened read-only, so the database
//!   of a running Prosody is never written). Prosody's SQL storage in MySQL or PostgreSQL is
//!   read through `prosody-migrator` to the file storage first.
//!
//! Both readers yield, per account or room, the same [`Stored`] values (Lua tables as the
//! file storage holds them), which one mapping turns into what Rhein stores. Stores read:
//! `accounts` (SCRAM-SHA-1 keys, or a plain password), `roster` (with pending subscription
//! requests), `vcard`, `private`, `offline`, `pep` and `pep_*` (every PEP node with its
//! items: bookmarks, avatars, OMEMO), `blocklist`, `archive` (MAM) ([`user`]); and from a
//! MUC component (a subdomain of a configured host), its persistent rooms ([`rooms`]). Like
//! an XEP-0227 import, everything is checked first, then each account and room is written
//! in one transaction that replaces what was stored for it.

mod files;
pub mod lua;
mod rooms;
mod sql;
pub mod stanza;
mod user;

pub use sql::SCHEMA as SQL_SCHEMA;

use crate::pie::import::{Converted, ImportError, Imported, write};
use lua::Table;
use rhein_storage::Db;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Stores this importer reads for an account; anything else on a host is reported.
const KNOWN_STORES: &[&str] =
    &["accounts", "roster", "vcard", "private", "offline", "pep", "blocklist", "archive", "archive2"];

/// Stores that hold nothing worth carrying over (caches, logs, tokens of sessions).
const IGNORED_STORES: &[&str] =
    &["lastlog", "lastlog2", "account_details", "smacks_h", "cron", "tokens", "roster_groups"];

/// The name of the database Prosody's SQLite storage keeps in its data directory.
const SQLITE_FILE: &str = "prosody.sqlite";

/// What one owner (an account, or a room) keeps in the stores the importer reads, as the
/// file storage holds it: a keyval or map store's value as one table (a `.dat` file), an
/// archive's entries oldest first (a `.list` file: each the stored stanza with `key`,
/// `when` and `with` beside it). Both readers fill it; [`user`] and [`rooms`] map it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Stored {
    pub keyval: BTreeMap<String, Table>,
    pub archives: BTreeMap<String, Vec<Table>>,
}

impl Stored {
    fn keyval(&self, store: &str) -> Option<&Table> {
        self.keyval.get(store)
    }

    fn archive(&self, store: &str) -> &[Table] {
        self.archives.get(store).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Who has something in which store, by host as stored: host → store → users.
type Inventory = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The backend PATH names.
enum Storage {
    Files(files::Files),
    Sqlite(sql::Database),
}

impl Storage {
    /// A file is an SQLite database; a directory is the file storage, unless it holds a
    /// `prosody.sqlite` and no directory of a configured host (or of a subdomain of one).
    async fn open(path: &Path, hosts: &[String], warnings: &mut Vec<String>) -> Result<Self, ImportError> {
        if path.is_file() {
            return Ok(Self::Sqlite(sql::Database::open(path).await?));
        }
        let files = files::Files::open(path)?;
        let database = path.join(SQLITE_FILE);
        if !database.is_file() {
            return Ok(Self::Files(files));
        }
        if files.holds_any_of(hosts) {
            warnings.push(format!(
                "{}: not read, as the file storage beside it is: name the file itself to import it instead",
                database.display()
            ));
            return Ok(Self::Files(files));
        }
        Ok(Self::Sqlite(sql::Database::open(&database).await?))
    }

    fn inventory(&self) -> &Inventory {
        match self {
            Self::Files(f) => f.inventory(),
            Self::Sqlite(d) => d.inventory(),
        }
    }

    /// What `owner` of `host` (as stored) has in the `wanted` stores.
    async fn load(&self, host: &str, owner: &str, wanted: fn(&str) -> bool) -> Result<Stored, String> {
        match self {
            Self::Files(f) => f.load(host, owner, wanted),
            Self::Sqlite(d) => d.load(host, owner, wanted).await,
        }
    }

    async fn close(self) {
        if let Self::Sqlite(d) = self {
            d.close().await;
        }
    }
}

/// One account or room to import.
enum Owner {
    /// `name` of `host` (configured; `stored` as Prosody spells it).
    User { host: String, stored: String, name: String },
    /// Room `name` of the MUC component `stored`, moving to `domain`.
    Room { stored: String, name: String, domain: String },
}

impl Owner {
    /// The owner as errors name it.
    fn label(&self) -> String {
        match self {
            Self::User { host, name, .. } => format!("{name}@{host}"),
            Self::Room { name, domain, .. } => format!("room {name}@{domain}"),
        }
    }

    /// Reads the owner's stores and maps them; warnings name the owner.
    async fn convert(&self, storage: &Storage, warn: &mut dyn FnMut(String)) -> Result<Converted, String> {
        match self {
            Self::User { host, stored, name } => {
                let data = storage.load(stored, name, user::wanted).await?;
                user::read(&data, host, name, &mut |w| warn(format!("{name}@{host}: {w}")))
            }
            Self::Room { stored, name, domain } => {
                let data = storage.load(stored, name, rooms::wanted).await?;
                rooms::read(&data, name, domain, warn)
            }
        }
    }
}

/// The accounts of the configured hosts and the rooms of their MUC components (at
/// `muc_subdomain` of their host: where Rhein serves rooms; without it, rooms are left
/// out); what is not imported goes to `warnings`.
fn survey(
    inventory: &Inventory,
    hosts: &[String],
    muc_subdomain: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Owner>, String> {
    let mut owners = Vec::new();
    let mut rooms = Vec::new();
    let mut others = Vec::new();
    let mut found = 0;
    for (stored, stores) in inventory {
        let host = stored.to_ascii_lowercase();
        let of = |store: &str| stores.get(store).cloned().unwrap_or_default();
        if !hosts.contains(&host) {
            let names = of("config");
            let home = hosts.iter().filter(|h| host.ends_with(&format!(".{h}"))).max_by_key(|h| h.len());
            match (home, muc_subdomain) {
                (Some(home), Some(sub)) if !names.is_empty() => {
                    let domain = format!("{sub}.{home}");
                    if domain != host {
                        warnings.push(format!("{host}: its rooms move to {domain}, where Rhein serves rooms"));
                    }
                    rooms.extend(names.into_iter().map(|name| Owner::Room {
                        stored: stored.clone(),
                        name,
                        domain: domain.clone(),
                    }));
                }
                _ => others.push(host),
            }
            continue;
        }
        found += 1;
        let users = of("accounts");
        let mut stray = BTreeSet::new();
        for (store, holders) in stores {
            if !user::wanted(store) {
                if !IGNORED_STORES.contains(&store.as_str()) {
                    warnings.push(format!("{host}: store {store} is not imported"));
                }
                continue;
            }
            stray.extend(holders.difference(&users).cloned());
        }
        for user in stray {
            warnings.push(format!("{host}: data of {user}, who has no account, is not imported"));
        }
        owners.extend(users.into_iter().map(|name| Owner::User { host: host.clone(), stored: stored.clone(), name }));
    }
    if found == 0 {
        let seen = if others.is_empty() { "none".to_owned() } else { others.join(", ") };
        return Err(format!("no data of a configured host ({}) here; hosts found: {seen}", hosts.join(", ")));
    }
    for other in others {
        warnings.push(format!("{other}: neither a configured host nor MUC rooms of one: not imported"));
    }
    owners.extend(rooms);
    Ok(owners)
}

/// Checks Prosody's storage at `path` (its data directory, or its SQLite database), then
/// (unless `dry_run`) writes every account of the configured hosts it holds, and the rooms
/// of their MUC components (at `muc_subdomain` of their host: where Rhein serves rooms;
/// without it, rooms are left out).
pub async fn import(
    db: &Db,
    path: &Path,
    hosts: &[String],
    muc_subdomain: Option<&str>,
    dry_run: bool,
) -> Result<Imported, ImportError> {
    let mut result = Imported::default();
    let storage = Storage::open(path, hosts, &mut result.warnings).await?;
    let done = check_then_write(db, &storage, path, hosts, muc_subdomain, dry_run, &mut result).await;
    storage.close().await;
    done.map(|()| result)
}

/// The check of every owner, then (unless `dry_run`) the writes; the caller closes the
/// storage whatever they end in.
async fn check_then_write(
    db: &Db,
    storage: &Storage,
    path: &Path,
    hosts: &[String],
    muc_subdomain: Option<&str>,
    dry_run: bool,
    result: &mut Imported,
) -> Result<(), ImportError> {
    let invalid = |errors| ImportError::Invalid { path: path.to_owned(), errors };
    let owners =
        survey(storage.inventory(), hosts, muc_subdomain, &mut result.warnings).map_err(|e| invalid(vec![e]))?;
    let mut errors = Vec::new();
    for owner in &owners {
        let converted = owner.convert(storage, &mut |w| result.warnings.push(w)).await;
        match converted {
            Ok(_) if matches!(owner, Owner::Room { .. }) => result.rooms += 1,
            Ok(_) => result.users += 1,
            Err(e) => errors.push(format!("{}: {e}", owner.label())),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if dry_run {
        return Ok(());
    }
    let mut done = 0;
    for owner in &owners {
        // Read again (one owner in memory at a time); what changed since the check and no
        // longer reads (a running Prosody's doing) is left out, and said.
        let c = match owner.convert(storage, &mut |_| {}).await {
            Ok(c) => c,
            Err(e) => {
                result.warnings.push(format!("{}: changed since the check, not imported: {e}", owner.label()));
                continue;
            }
        };
        let owner = c.image.owner.clone();
        write(db, c).await.map_err(|error| ImportError::Storage { owner, done, error })?;
        done += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sql::fixture;
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &Path, file: &str, content: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rhein-prosody-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const HOSTS: &[&str] = &["example.org"];

    fn hosts() -> Vec<String> {
        HOSTS.iter().map(|h| h.to_string()).collect()
    }

    /// A data directory as Prosody 0.12 leaves it (files abridged from a real one).
    fn file_storage(dir: &Path) {
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
            dir,
            "conference%2eexample%2eorg/config/room.dat",
            "return {\n\t[\"_data\"] = { [\"subject\"] = \"Tea time\"; [\"persistent\"] = true; [\"members_only\"] = true; [\"hidden\"] = true; [\"subject_from\"] = \"room@conference.example.org/alice\"; [\"name\"] = \"The Lounge\"; };\n\
            \t[\"alice@example.org\"] = \"owner\"; [\"bob@example.org\"] = \"member\"; [\"_jid\"] = \"room@conference.example.org\";\n\
            \t[\"_affiliation_data\"] = { [\"bob@example.org\"] = { [\"reserved_nickname\"] = \"bobby\"; }; };\n};",
        );
    }

    /// The same data in Prosody's SQL storage, row by row as `mod_storage_sql` writes it, and
    /// what only this fixture has: a vCard (a stored stanza split into rows), an offline
    /// message and MAM entries (XML text).
    async fn sql_storage(path: &Path) {
        let db = fixture::create(path, sql::SCHEMA).await;
        let h = "example.org";
        for row in [
            [h, "alice", "accounts", "salt", "string", "073b2239"],
            [h, "alice", "accounts", "iteration_count", "number", "10000"],
            [h, "alice", "accounts", "stored_key", "string", "6d7e5e971c44840293314e88f8a9bc6bfb1326e1"],
            [h, "alice", "accounts", "server_key", "string", "d8f988db9cf456ede9c39a213feba180f2b68f1c"],
            [h, "bob", "accounts", "password", "string", "plain"],
            [
                h,
                "alice",
                "roster",
                "bob@example.org",
                "json",
                r#"{"groups":{"Friends":true},"subscription":"both","name":"Bob"}"#,
            ],
            [
                h,
                "alice",
                "roster",
                "",
                "json",
                r#"{"__hash":[false,{"version":5,"pending":{"carol@example.org":true}}]}"#,
            ],
            [
                h,
                "alice",
                "pep",
                "urn:xmpp:bookmarks:1",
                "json",
                r#"{"name":"urn:xmpp:bookmarks:1","config":{"access_model":"whitelist","max_items":"max"},"subscribers":{},"affiliations":{}}"#,
            ],
            [h, "alice", "vcard", "name", "string", "vCard"],
            [h, "alice", "vcard", "attr", "json", r#"{"xmlns":"vcard-temp"}"#],
            [h, "alice", "vcard", "", "json", r#"[{"name":"FN","attr":{},"__array":["Alice Liddell"]}]"#],
            [h, "alice", "blocklist", "spam@example.net", "number", "1700000000"],
            [h, "alice", "blocklist", "", "json", r#"{"__hash":[false,{"created":1700000000}]}"#],
            [h, "alice", "lastlog2", "login", "json", "{}"],
            [h, "alice", "mystery", "x", "string", "y"],
            [h, "", "cron", "x", "number", "1"],
            ["conference.example.org", "room", "config", "_jid", "string", "room@conference.example.org"],
            [
                "conference.example.org",
                "room",
                "config",
                "_data",
                "json",
                r#"{"subject":"Tea time","persistent":true,"members_only":true,"hidden":true,"subject_from":"room@conference.example.org/alice","name":"The Lounge"}"#,
            ],
            ["conference.example.org", "room", "config", "alice@example.org", "string", "owner"],
            ["conference.example.org", "room", "config", "bob@example.org", "string", "member"],
            [
                "conference.example.org",
                "room",
                "config",
                "_affiliation_data",
                "json",
                r#"{"bob@example.org":{"reserved_nickname":"bobby"}}"#,
            ],
        ] {
            fixture::keyval(&db, row).await;
        }
        for (row, when) in [
            (
                [
                    h,
                    "alice",
                    "pep_urn:xmpp:bookmarks:1",
                    "room@conference.example.org",
                    "alice@example.org",
                    "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>alice</nick></conference>",
                ],
                1796649217.0,
            ),
            (
                [
                    h,
                    "bob",
                    "offline",
                    "0190-a",
                    "",
                    "<message to='bob@example.org' from='alice@example.org/x' type='chat'><body>while you were out</body></message>",
                ],
                1700000000.0,
            ),
            (
                [
                    h,
                    "alice",
                    "archive",
                    "mam-1",
                    "bob@example.org",
                    "<message xmlns='jabber:client' to='bob@example.org' type='chat'><body>hello</body></message>",
                ],
                1700000001.5,
            ),
            (
                [
                    "conference.example.org",
                    "room",
                    "muc_log",
                    "log-1",
                    "message<groupchat",
                    "<message from='room@conference.example.org/alice' type='groupchat'><body>tea?</body></message>",
                ],
                1700000002.0,
            ),
        ] {
            fixture::archive(&db, row, when).await;
        }
        db.close().await;
    }

    /// Surveys and converts everything `storage` holds, as the check does.
    async fn convert_all(storage: &Storage) -> (Vec<Converted>, Vec<String>) {
        let mut warnings = Vec::new();
        let owners = survey(storage.inventory(), &hosts(), Some("conference"), &mut warnings).unwrap();
        let mut converted = Vec::new();
        for owner in &owners {
            converted.push(owner.convert(storage, &mut |w| panic!("{w}")).await.unwrap());
        }
        (converted, warnings)
    }

    /// What both fixtures hold, mapped the same.
    fn check_common(converted: &[Converted], warnings: &[String]) {
        let owners: Vec<&str> = converted.iter().map(|c| c.image.owner.as_str()).collect();
        assert_eq!(owners, ["alice@example.org", "bob@example.org", "room@conference.example.org"]);
        assert!(warnings.iter().any(|w| w.contains("store mystery")), "{warnings:?}");
        assert!(!warnings.iter().any(|w| w.contains("lastlog2") || w.contains("cron")), "{warnings:?}");

        let alice = &converted[0];
        let account = alice.image.account.as_ref().unwrap();
        assert_eq!((account.credentials.salt.as_slice(), account.credentials.iterations), (&b"073b2239"[..], 10_000));
        assert_eq!(account.credentials.sha1.stored_key[..2], [0x6d, 0x7e]);
        assert_eq!(alice.password, None);
        assert_eq!(
            (alice.image.roster[0].groups.as_slice(), alice.image.roster[0].name.as_deref()),
            (&["Friends".to_owned()][..], Some("Bob"))
        );
        assert_eq!(alice.image.requests[0].0, "carol@example.org");
        let node = &alice.image.nodes[0];
        let config = rhein_pubsub::NodeConfig::from_json(&node.config).unwrap();
        assert_eq!((config.max_items, node.items[0].id.as_str()), (None, "room@conference.example.org"));
        assert!(!node.items[0].payload.contains("stamp"), "{}", node.items[0].payload);
        assert!(node.items[0].payload.contains("<nick>alice</nick>"), "{}", node.items[0].payload);
        assert_eq!(converted[1].password.as_deref(), Some("plain"));

        let room = converted[2].image.room.as_ref().unwrap();
        let config: serde_json::Value = serde_json::from_str(&room.row.config).unwrap();
        assert_eq!(
            (config["name"].as_str(), config["members_only"].as_bool(), config["public"].as_bool()),
            (Some("The Lounge"), Some(true), Some(false))
        );
        assert_eq!((room.row.subject.as_str(), room.row.subject_by.as_str()), ("Tea time", "alice"));
        let bob = room.affiliations.iter().find(|a| a.jid == "bob@example.org").unwrap();
        assert_eq!((bob.affiliation, bob.nick.as_str()), (rhein_storage::RoomAffiliation::Member, "bobby"));
    }

    #[tokio::test]
    async fn an_account_and_a_room_read_alike_from_files_and_from_sqlite() {
        let dir = temp("files");
        file_storage(&dir);
        let storage = Storage::open(&dir, &hosts(), &mut Vec::new()).await.unwrap();
        assert!(matches!(storage, Storage::Files(_)));
        let (converted, warnings) = convert_all(&storage).await;
        check_common(&converted, &warnings);

        let db_dir = temp("sqlite");
        sql_storage(&db_dir.join(SQLITE_FILE)).await;
        let mut warnings = Vec::new();
        // The database, named or found in a data directory without host directories.
        for path in [db_dir.join(SQLITE_FILE), db_dir.clone()] {
            let storage = Storage::open(&path, &hosts(), &mut warnings).await.unwrap();
            assert!(matches!(storage, Storage::Sqlite(_)));
            let (converted, warnings) = convert_all(&storage).await;
            storage.close().await;
            check_common(&converted, &warnings);
            let alice = &converted[0].image;
            let vcard = &alice.documents[0];
            assert_eq!(vcard.payload, "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN></vCard>");
            assert_eq!(alice.blocklist, ["spam@example.net"]);
            let mam = &alice.archive[0];
            assert_eq!(
                (mam.stanza_id.as_str(), mam.with_jid.as_str(), mam.ts),
                ("mam-1", "bob@example.org", 1_700_000_001_500)
            );
            assert!(mam.stanza.contains("<body>hello</body>"), "{}", mam.stanza);
            let offline = &converted[1].image.offline[0];
            assert_eq!(offline.stamp, 1_700_000_000_000);
            assert!(offline.stanza.starts_with("<message xmlns='jabber:client'"), "{}", offline.stanza);
            let log = &converted[2].image.archive[0];
            assert!(log.stanza.contains("tea?") && log.stanza.contains("from='room@conference.example.org/alice'"));
        }
        // Beside host directories, the file storage is read, and the database named.
        std::fs::copy(db_dir.join(SQLITE_FILE), dir.join(SQLITE_FILE)).unwrap();
        let mut warnings = Vec::new();
        let storage = Storage::open(&dir, &hosts(), &mut warnings).await.unwrap();
        assert!(matches!(storage, Storage::Files(_)));
        assert!(warnings[0].contains("name the file itself"), "{warnings:?}");
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(db_dir);
    }

    /// The check's errors for `path`, which must not import.
    async fn refused(path: &Path) -> Vec<String> {
        let url = format!("sqlite://{}?mode=rwc", path.with_extension("rhein").display());
        let db = Db::connect(&url).await.unwrap();
        let result = import(&db, path, &hosts(), Some("conference"), false).await;
        let listed = db.images().read("alice@example.org", Some(("example.org", "alice"))).await.unwrap();
        db.close().await;
        assert_eq!(listed.account, None, "nothing written");
        match result {
            Err(ImportError::Invalid { errors, .. }) => errors,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_database_that_is_not_prosodys_or_does_not_decode_is_refused_whole() {
        let dir = temp("damaged");
        let path = dir.join("other.sqlite");
        fixture::create(&path, "CREATE TABLE prosody (x TEXT);").await.close().await;
        let errors = refused(&path).await;
        assert!(errors[0].contains("not Prosody's SQL storage: no table prosodyarchive"), "{errors:?}");

        std::fs::write(&path, "not a database at all, but long enough to have a header page of some kind").unwrap();
        assert!(refused(&path).await[0].contains("not an SQLite database"));

        // A good account, and one whose roster does not decode: nothing is written.
        sql_storage(&path).await;
        let pool =
            sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path)).await.unwrap();
        fixture::keyval(&pool, ["example.org", "bob", "roster", "carol@example.org", "json", "{\"subscription\":"])
            .await;
        fixture::keyval(&pool, ["example.org", "bob", "vcard", "name", "number", "vCard"]).await;
        pool.close().await;
        let errors = refused(&path).await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("bob@example.org: store roster, key \"carol@example.org\": JSON that does not parse"),
            "{errors:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
