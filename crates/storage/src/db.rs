//! The database handle and the macro that runs one SQL text on either pool.

use crate::cache::Cache;
use crate::epoch::Epoch;
use crate::last_seen::LastSeen;
use crate::writer::{ArchiveWriter, Target};
use crate::{StorageError, migrate};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A connection pool to the configured database, with what logins read kept in memory
/// (see `cache`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: Pool,
    /// Every archive append goes through it (see `writer`).
    pub(crate) archive: ArchiveWriter,
    pub(crate) cache: Arc<Cache>,
    /// Tells when another process changed accounts (see `epoch`).
    pub(crate) epoch: Arc<Epoch>,
    pub(crate) last_seen: Arc<LastSeen>,
}

/// The connections of one database.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// Readers share `read`; every write but the archive's goes through `write`, a pool of
    /// one connection, so writers queue here in order instead of sleeping in SQLite's busy
    /// handler. The task that batches archive appends has a connection of its own (see
    /// `writer`). In memory, all are the same single connection.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool `$db` holds (or the `pool` given);
/// `$p` names the pool. `write:` picks the pool that writes go through.
macro_rules! on_pool {
    (write: $db:expr, |$p:ident| $e:expr) => {
        on_pool!(write_pool & $db.pool, |$p| $e)
    };
    (write_pool $pool:expr, |$p:ident| $e:expr) => {{
        let started = std::time::Instant::now();
        let result = match $pool {
            $crate::db::Pool::Sqlite { write: $p, .. } => $e,
            $crate::db::Pool::Postgres($p) => $e,
        };
        rhein_metrics::storage_query(rhein_metrics::Access::Write, started);
        result
    }};
    (pool $pool:expr, |$p:ident| $e:expr) => {{
        let started = std::time::Instant::now();
        let result = match $pool {
            $crate::db::Pool::Sqlite { read: $p, .. } => $e,
            $crate::db::Pool::Postgres($p) => $e,
        };
        rhein_metrics::storage_query(rhein_metrics::Access::Read, started);
        result
    }};
    ($db:expr, |$p:ident| $e:expr) => {
        on_pool!(pool & $db.pool, |$p| $e)
    };
}
pub(crate) use on_pool;

/// Starts a transaction that will write.
///
/// On SQLite a plain (deferred) `BEGIN` takes the write lock only at the first write, and a
/// transaction that has read by then cannot wait for it: if another connection wrote
/// meanwhile, SQLite answers "database is locked" at once, whatever the busy timeout, and
/// the write is lost. `BEGIN IMMEDIATE` takes the lock first, waiting under the busy timeout.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// Starts a transaction that reads one snapshot of the database throughout: SQLite's
/// deferred transaction (in WAL mode its snapshot is taken at the first read), PostgreSQL's
/// repeatable read (read committed, its default, takes one per statement).
pub(crate) trait BeginRead {
    type Database: sqlx::Database;
    fn begin_read(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginRead for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_read(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send {
        self.begin()
    }
}

impl BeginRead for PgPool {
    type Database = sqlx::Postgres;
    fn begin_read(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send {
        self.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }
}

impl Db {
    /// Connects and runs pending migrations. URLs: `sqlite://path/to/file.db`, `sqlite::memory:`,
    /// `postgres://user@host/db`.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let (pool, archive) = if url.starts_with("sqlite:") {
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
                // A statement inside a transaction keeps the pages it changes in a statement
                // journal, for its own rollback: in memory, rather than written to a temporary
                // file (a tenth of the archive writer's time went to those writes).
                opts = opts.pragma("temp_store", "memory");
                // A new file becomes WAL on one connection first: the pool's connections
                // setting its journal mode at the same time fail with "database is locked".
                opts.connect().await?.close().await?;
            }
            // An in-memory database vanishes with its last connection: keep one open for good.
            let pool = |connections: u32, opts: SqliteConnectOptions| {
                let options = SqlitePoolOptions::new()
                    .max_connections(connections)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
                if memory {
                    return options.connect_with(opts);
                }
                // After an error SQLite rolls back by itself (a full disk, an I/O error),
                // sqlx's own ROLLBACK then fails and it counts the connection as still in a
                // transaction: every later BEGIN on it would fail. Such a connection is
                // replaced. (The ping before acquiring lets a pending rollback run first.)
                options
                    .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
                    .connect_with(opts)
            };
            let read = pool(if memory { 1 } else { 4 }, opts.clone()).await?;
            let write = if memory { read.clone() } else { pool(1, opts.clone()).await? };
            // The archive's writer walks its indexes all day: a bigger page cache keeps them.
            let own = (!memory).then(|| Box::new(opts.pragma("cache_size", "-65536")));
            let archive = ArchiveWriter::spawn(Target::Sqlite { pool: write.clone(), own });
            (Pool::Sqlite { read, write }, archive)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
            (Pool::Postgres(pool.clone()), ArchiveWriter::spawn(Target::Postgres(pool)))
        } else {
            return Err(StorageError::BadUrl { url: url.to_owned() });
        };
        let last_seen = LastSeen::spawn(pool.clone());
        let db = Db { pool, archive, cache: Arc::default(), epoch: Arc::default(), last_seen };
        migrate::run(&db).await?;
        Epoch::watch(&db).await?;
        Ok(db)
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite { .. } => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// How many bytes the database takes: SQLite's pages (0 in memory), or PostgreSQL's
    /// database size.
    pub async fn size(&self) -> Result<u64, StorageError> {
        let bytes: i64 = match &self.pool {
            Pool::Sqlite { read, .. } => {
                sqlx::query_scalar("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                    .fetch_one(read)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(pool).await?
            }
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Whether the database answers: one trivial query on a reading connection (health
    /// checks). A closed pool, a database server that is down or refuses us, fail it.
    pub async fn ping(&self) -> Result<(), StorageError> {
        on_pool!(self, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Writes what is written behind, then closes all connections (waits for running
    /// queries).
    pub async fn close(&self) {
        if let Err(e) = self.last_seen.close(&self.pool).await {
            tracing::error!(error = %e, "writing last activity failed");
        }
        on_pool!(write: self, |p| p.close().await);
        on_pool!(self, |p| p.close().await)
    }

    /// Bare JIDs of accounts deleted from now on, by this process or another (learnt within
    /// [`crate::ACCOUNT_CHANGES_SETTLE`]): a running server ends their sessions. Whatever the
    /// storage kept of them is already gone when they arrive.
    pub fn removed_accounts(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.epoch.subscribe()
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
    pub fn unread(&self) -> crate::Unread<'_> {
        crate::Unread { db: self }
    }
    pub fn blocklist(&self) -> crate::Blocklist<'_> {
        crate::Blocklist { db: self }
    }
    pub fn invites(&self) -> crate::Invites<'_> {
        crate::Invites { db: self }
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
    pub fn images(&self) -> crate::Images<'_> {
        crate::Images { db: self }
    }
    pub fn last_activity(&self) -> crate::LastActivity<'_> {
        crate::LastActivity { db: self }
    }
}

/// How the placeholders of a multi-row INSERT are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// `$1, $2, ...`: what PostgreSQL needs.
    Numbered,
    /// `?, ?, ...`: SQLite. sqlx asks SQLite the name of each parameter as it binds it, and
    /// SQLite looks a name up among all the named ones: with thousands of `$n` in one
    /// statement, binding took more time than inserting.
    Anonymous,
}

impl Placeholders {
    pub(crate) fn of(pool: &Pool) -> Self {
        match pool {
            Pool::Sqlite { .. } => Self::Anonymous,
            Pool::Postgres(_) => Self::Numbered,
        }
    }
}

/// The `VALUES` list of a multi-row INSERT: `rows` tuples of `columns` placeholders.
pub(crate) fn values(rows: usize, columns: usize, placeholders: Placeholders) -> String {
    let tuple = |r: usize| {
        let placeholders: Vec<String> = (1..=columns)
            .map(|c| match placeholders {
                Placeholders::Numbered => format!("${}", r * columns + c),
                Placeholders::Anonymous => "?".to_owned(),
            })
            .collect();
        format!("({})", placeholders.join(", "))
    };
    (0..rows).map(tuple).collect::<Vec<_>>().join(", ")
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
