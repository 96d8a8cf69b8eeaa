//! The database handle and the macro that runs one SQL text on either pool.

use crate::cache::Cache;
use crate::epoch::Epoch;
use crate::last_seen::LastSeen;
use crate::writer::ArchiveWriter;
use crate::{StorageError, migrate};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A connection pool to the configured database, with what logins read kept in memory
/// (see `cache`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: Pool,
    pub(crate) cache: Arc<Cache>,
    /// Tells when another process changed accounts (see `epoch`).
    pub(crate) epoch: Arc<Epoch>,
    pub(crate) last_seen: Arc<LastSeen>,
}

/// SQLite's pool comes with the task that batches archive appends (see `writer`).
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool, ArchiveWriter),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool `$db` holds (or the `pool` given);
/// `$p` names the pool.
macro_rules! on_pool {
    (pool $pool:expr, |$p:ident| $e:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p, _) => $e,
            $crate::db::Pool::Postgres($p) => $e,
        }
    };
    ($db:expr, |$p:ident| $e:expr) => {
        on_pool!(pool & $db.pool, |$p| $e)
    };
}
pub(crate) use on_pool;

impl Db {
    /// Connects and runs pending migrations. URLs: `sqlite://path/to/file.db`, `sqlite::memory:`,
    /// `postgres://user@host/db`.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let pool = if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let mut opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if !memory {
                if let Some(dir) = opts.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| StorageError::CreateDir {
                        path: dir.display().to_string(),
                        error: e.to_string(),
                    })?;
                }
                // WAL + NORMAL: a committed transaction survives a process crash (kill -9).
                opts = opts.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal);
                // Readers re-read pages another connection changed: mapped, that is a memory
                // access instead of a read() per page.
                opts = opts.pragma("mmap_size", "268435456");
                // Checkpoint less often: the archive's hot index pages are then copied back
                // to the database once per 40 MB of log rather than once per 4 MB.
                opts = opts.pragma("wal_autocheckpoint", "10000");
            }
            // An in-memory database vanishes with its last connection: keep one open for good.
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 4 })
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts.clone())
                .await?;
            // The writer walks the archive's indexes all day: a bigger page cache keeps them.
            let writer = ArchiveWriter::spawn(pool.clone(), (!memory).then(|| opts.pragma("cache_size", "-65536")));
            Pool::Sqlite(pool, writer)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Pool::Postgres(PgPoolOptions::new().max_connections(16).connect(url).await?)
        } else {
            return Err(StorageError::BadUrl { url: url.to_owned() });
        };
        let last_seen = LastSeen::spawn(pool.clone());
        let db = Db { pool, cache: Arc::default(), epoch: Arc::default(), last_seen };
        migrate::run(&db).await?;
        Epoch::watch(&db);
        Ok(db)
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(..) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Writes what is written behind, then closes all connections (waits for running
    /// queries).
    pub async fn close(&self) {
        if let Err(e) = self.last_seen.close(&self.pool).await {
            tracing::error!(error = %e, "writing last activity failed");
        }
        on_pool!(self, |p| p.close().await)
    }

    pub fn accounts(&self) -> crate::Accounts<'_> {
        crate::Accounts { db: self }
    }
    pub fn roster(&self) -> crate::Roster<'_> {
        crate::Roster { db: self }
    }
    pub fn subscription_requests(&self) -> crate::SubscriptionRequests<'_> {
        crate::SubscriptionRequests { db: self }
    }
    pub fn offline(&self) -> crate::Offline<'_> {
        crate::Offline { db: self }
    }
    pub fn account_data(&self) -> crate::AccountData<'_> {
        crate::AccountData { db: self }
    }
    pub fn archive(&self) -> crate::Archive<'_> {
        crate::Archive { db: self }
    }
    pub fn blocklist(&self) -> crate::Blocklist<'_> {
        crate::Blocklist { db: self }
    }
    pub fn fast_tokens(&self) -> crate::FastTokens<'_> {
        crate::FastTokens { db: self }
    }
    pub fn push(&self) -> crate::PushRegistrations<'_> {
        crate::PushRegistrations { db: self }
    }
    pub fn uploads(&self) -> crate::Uploads<'_> {
        crate::Uploads { db: self }
    }
    pub fn muc(&self) -> crate::Muc<'_> {
        crate::Muc { db: self }
    }
    pub fn pubsub(&self) -> crate::Pubsub<'_> {
        crate::Pubsub { db: self }
    }
    pub fn last_activity(&self) -> crate::LastActivity<'_> {
        crate::LastActivity { db: self }
    }
}

/// The `VALUES` list of a multi-row INSERT: `rows` tuples of `columns` numbered placeholders.
pub(crate) fn values(rows: usize, columns: usize) -> String {
    let tuple = |r: usize| {
        let placeholders: Vec<String> = (1..=columns).map(|c| format!("${}", r * columns + c)).collect();
        format!("({})", placeholders.join(", "))
    };
    (0..rows).map(tuple).collect::<Vec<_>>().join(", ")
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
