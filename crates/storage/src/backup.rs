//! Online backups of an SQLite database and restoring one in its place.
//!
//! A backup is `VACUUM INTO`: it reads one snapshot of the database (in WAL mode a reader
//! neither waits for the server's writers nor holds them up) and writes it as a compact,
//! self-contained file. A restore replaces the database file atomically, and only when no
//! other process has it open. PostgreSQL has its own tools (`pg_dump`, `pg_restore`): both
//! refuse it with a pointer to them.

use crate::db::Pool;
use crate::{Db, StorageError, migrate};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Why a backup or restore was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the storage is PostgreSQL: back it up with `pg_dump --format=custom --file=FILE DBNAME` and restore with `pg_restore --clean --if-exists --dbname=DBNAME FILE` (see the README)"
    )]
    Postgres,
    #[error("the storage is in memory: there is nothing on disk to back up or restore")]
    Memory,
    #[error("{0} exists already; a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("{0} is in use by another process (a running server, or a command): stop the server before restoring")]
    InUse(PathBuf),
    #[error("{path} is not a Rhein backup: {reason}")]
    NotABackup { path: PathBuf, reason: String },
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Storage(e.into())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io { path: path.to_owned(), error }
}

/// The database file an `sqlite://` storage URL names; `Err` for PostgreSQL and memory.
pub fn sqlite_file(url: &str) -> Result<PathBuf, BackupError> {
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return Err(BackupError::Postgres);
    }
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(BackupError::Memory);
    }
    let opts = SqliteConnectOptions::from_str(url).map_err(StorageError::from)?;
    Ok(opts.get_filename().to_owned())
}

/// Where a file is written before it is renamed to `path`: beside it, so the rename stays
/// within one file system and is atomic.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Flushes a file and then its directory entry to disk.
fn sync(file: &Path) -> Result<(), BackupError> {
    std::fs::File::open(file).and_then(|f| f.sync_all()).map_err(io(file))?;
    sync_dir(file)
}

fn sync_dir(file: &Path) -> Result<(), BackupError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl Db {
    /// Writes a consistent copy of the database to `path` (which must not exist) while the
    /// server runs: the copy is one snapshot, with every transaction committed before it
    /// began. Written beside `path`, synced, then renamed, so `path` is only ever a whole
    /// backup. Returns its size in bytes.
    pub async fn backup(&self, path: &Path) -> Result<u64, BackupError> {
        let Pool::Sqlite { read, .. } = &self.pool else { return Err(BackupError::Postgres) };
        if path.exists() {
            return Err(BackupError::Exists(path.to_owned()));
        }
        let tmp = partial(path);
        let _ = std::fs::remove_file(&tmp);
        let target = tmp.to_str().ok_or_else(|| BackupError::NotABackup {
            path: path.to_owned(),
            reason: "the path is not valid UTF-8".into(),
        })?;
        let written = sqlx::query("VACUUM INTO $1").bind(target).execute(read).await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        let done =
            sync(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(io(path))).and_then(|()| sync_dir(path));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done?;
        Ok(std::fs::metadata(path).map_err(io(path))?.len())
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The schema version of the backup (migrated on the next start if older).
    pub version: i64,
    /// Where the database that was replaced now is, if there was one.
    pub previous: Option<PathBuf>,
}

/// Replaces the SQLite database `db_file` with the backup `backup`, atomically: the backup is
/// checked (an intact SQLite file with a Rhein schema this version knows), copied beside the
/// database and synced; the current database is kept as `<db_file>.bak` (replacing an older
/// one) and the copy renamed over it. Refused while any other process has the database open
/// (a running server always does).
pub async fn restore_sqlite(db_file: &Path, backup: &Path) -> Result<Restored, BackupError> {
    let version = check_backup(backup).await?;
    let previous = if db_file.exists() { Some(quiesce(db_file).await?) } else { None };
    if let Some(dir) = db_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = partial(db_file);
    let copied = std::fs::copy(backup, &tmp).map_err(io(&tmp)).and_then(|_| sync(&tmp));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(bak) = &previous {
        // A second name for the current database: the rename below then replaces the
        // database in one step, and the old one stays reachable.
        let _ = std::fs::remove_file(bak);
        if std::fs::hard_link(db_file, bak).is_err() {
            std::fs::copy(db_file, bak).map_err(io(bak))?;
            sync(bak)?;
        }
    }
    std::fs::rename(&tmp, db_file).map_err(io(db_file))?;
    sync_dir(db_file)?;
    tracing::info!(database = %db_file.display(), backup = %backup.display(), version, "database restored");
    Ok(Restored { version, previous })
}

/// Opens the backup read-only: an intact database whose schema this version knows; its
/// version.
async fn check_backup(backup: &Path) -> Result<i64, BackupError> {
    let refuse = |reason: String| BackupError::NotABackup { path: backup.to_owned(), reason };
    if !backup.is_file() {
        return Err(refuse("no such file".into()));
    }
    let opts = SqliteConnectOptions::new().filename(backup).read_only(true).immutable(true);
    let mut conn = opts.connect().await.map_err(|e| refuse(e.to_string()))?;
    let check: Result<String, _> = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut conn).await;
    match check {
        Ok(ok) if ok == "ok" => {}
        Ok(problem) => return Err(refuse(format!("damaged ({problem})"))),
        Err(e) => return Err(refuse(e.to_string())),
    }
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM rhein_schema ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .map_err(|_| refuse("it has no Rhein schema".into()))?;
    conn.close().await?;
    let unknown: Vec<String> = versions.iter().filter(|v| !migrate::knows(**v)).map(|v| v.to_string()).collect();
    if !unknown.is_empty() {
        return Err(refuse(format!("made by a newer Rhein (schema versions {} unknown here)", unknown.join(", "))));
    }
    versions.last().copied().ok_or_else(|| refuse("its schema is empty".into()))
}

/// Takes the live database out of WAL mode, which SQLite allows only to the one connection
/// that has it open: a server (or any command) holding it makes this fail, and the restore
/// is refused. Afterwards everything is in the main file (no `-wal` or `-shm` left to be
/// applied to the file that replaces it). Returns the name the current database is kept as.
async fn quiesce(db_file: &Path) -> Result<PathBuf, BackupError> {
    let opts = SqliteConnectOptions::new()
        .filename(db_file)
        .busy_timeout(Duration::from_millis(500))
        .journal_mode(SqliteJournalMode::Delete);
    let conn = opts.connect().await.map_err(|e| match &e {
        sqlx::Error::Database(d) if d.message().contains("locked") || d.message().contains("busy") => {
            BackupError::InUse(db_file.to_owned())
        }
        _ => e.into(),
    })?;
    conn.close().await?;
    for suffix in ["-wal", "-shm"] {
        let mut side = db_file.as_os_str().to_owned();
        side.push(suffix);
        if Path::new(&side).exists() {
            return Err(BackupError::InUse(db_file.to_owned()));
        }
    }
    let mut bak = db_file.as_os_str().to_owned();
    bak.push(".bak");
    Ok(PathBuf::from(bak))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhein_sasl::Credentials;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rhein-backup-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A backup is taken while the database is open (and written); restoring it is refused
    /// while a connection is open, and replaces the file once none is, keeping the old one.
    #[tokio::test]
    async fn backup_while_open_and_restore_when_closed() {
        let d = dir("cycle");
        let url = format!("sqlite://{}", d.join("db.sqlite").display());
        let db = Db::connect(&url).await.unwrap();
        let creds = Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        assert!(db.accounts().create("x", "before", &creds).await.unwrap());
        let file = d.join("backup.db");
        assert!(db.backup(&file).await.unwrap() > 0);
        assert!(matches!(db.backup(&file).await, Err(BackupError::Exists(_))));
        assert!(db.accounts().create("x", "after", &creds).await.unwrap());

        let live = sqlite_file(&url).unwrap();
        assert!(matches!(restore_sqlite(&live, &file).await, Err(BackupError::InUse(_))));
        db.close().await;
        // sqlx finishes closing SQLite connections on their worker threads, just after
        // `close` returns: in this process the file may look open for a moment longer.
        let mut tries = 0;
        let restored = loop {
            match restore_sqlite(&live, &file).await {
                Err(BackupError::InUse(_)) if tries < 50 => tries += 1,
                other => break other.unwrap(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(restored.previous.as_deref(), Some(d.join("db.sqlite.bak").as_path()));

        let db = Db::connect(&url).await.unwrap();
        assert_eq!(db.accounts().list("x").await.unwrap(), ["before"]);
        db.close().await;
        let old = Db::connect(&format!("sqlite://{}", d.join("db.sqlite.bak").display())).await.unwrap();
        assert_eq!(old.accounts().list("x").await.unwrap(), ["after", "before"]);
        old.close().await;
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test]
    async fn anything_but_a_rhein_backup_is_refused() {
        let d = dir("refused");
        let junk = d.join("junk");
        std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
        let target = d.join("db.sqlite");
        let e = restore_sqlite(&target, &junk).await.unwrap_err();
        assert!(matches!(e, BackupError::NotABackup { .. }), "{e}");
        assert!(!target.exists(), "nothing was written");
        assert!(matches!(sqlite_file("postgres://x@y/z"), Err(BackupError::Postgres)));
        assert!(matches!(sqlite_file("sqlite::memory:"), Err(BackupError::Memory)));
        let _ = std::fs::remove_dir_all(d);
    }
}
