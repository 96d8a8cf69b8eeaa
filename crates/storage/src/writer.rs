//! Group commit for the archive. Every routed message is archived (twice: for sender and
//! recipient). One task per database takes whatever appends are waiting and writes them with
//! one statement and one commit; each caller still returns only once its row is committed,
//! so what was acknowledged is on disk.
//!
//! SQLite has one writer at a time: concurrent single-row transactions would queue on its
//! write lock, whose busy handler sleeps. PostgreSQL takes concurrent writers, but a
//! transaction per message is a round trip per statement and a WAL flush per message; in
//! batches both are shared by hundreds of messages.

use crate::StorageError;
use crate::archive::{
    ArchiveRow, Counts, MAX_ROWS_PER_INSERT, append_counted, bind_row, insert_rows_sql, write_counts,
};
use crate::db::Placeholders;
use crate::unread::{Marks, Seqs, coalesce, start_seqs, write_ops};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool};
use sqlx::{ConnectOptions, Connection};
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

/// Appends committed together at most.
const MAX_BATCH: usize = MAX_ROWS_PER_INSERT;

struct Job {
    owner: String,
    row: ArchiveRow,
    /// Boxed: most messages move no read position, and jobs wait in a bounded channel.
    marks: Option<Box<Marks>>,
    done: oneshot::Sender<Result<bool, StorageError>>,
}

impl Job {
    fn marks_something(&self) -> bool {
        self.marks.as_deref().is_some_and(|m| !m.is_empty())
    }
}

/// Where the writer writes.
pub(crate) enum Target {
    /// With `own` (a file database) through a connection of its own, beside the write
    /// pool's: a pooled connection goes back to its pool through a task of the runtime, so
    /// each batch's acquire waited behind every task the last batch woke (a room's fan-out to
    /// a thousand sessions), batches shrank, and MUC deliveries fell by a quarter. Its
    /// transactions begin `IMMEDIATE`, so it and the pool's writer wait for each other under
    /// the busy timeout, never failing. In memory it uses `pool`.
    Sqlite {
        pool: SqlitePool,
        own: Option<Box<SqliteConnectOptions>>,
    },
    Postgres(PgPool),
}

/// The handle appends go through; the task ends with the last handle.
#[derive(Clone, Debug)]
pub struct ArchiveWriter {
    jobs: mpsc::Sender<Work>,
}

/// What the task is asked: an append, or to answer once everything queued before is
/// committed.
enum Work {
    Append(Job),
    Settle(oneshot::Sender<()>),
}

impl ArchiveWriter {
    /// Starts the task.
    pub(crate) fn spawn(target: Target) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Work>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut own: Option<SqliteConnection> = None;
            let mut work = Vec::with_capacity(MAX_BATCH);
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut settled = Vec::new();
            while queue.recv_many(&mut work, MAX_BATCH).await > 0 {
                for w in work.drain(..) {
                    match w {
                        Work::Append(job) => batch.push(job),
                        Work::Settle(waiter) => settled.push(waiter),
                    }
                }
                if !batch.is_empty() {
                    write(&target, &mut own, &mut batch).await;
                }
                for waiter in settled.drain(..) {
                    let _ = waiter.send(());
                }
            }
        });
        Self { jobs }
    }

    /// Queues one message (waiting only while the queue is full); the returned future
    /// resolves once it is committed: `false` if its stanza id is archived already for `owner`.
    pub(crate) async fn queue(
        &self,
        owner: &str,
        row: &ArchiveRow,
        marks: Option<Marks>,
    ) -> Result<crate::archive::Committing, StorageError> {
        let (done, answer) = oneshot::channel();
        let job = Job { owner: owner.to_owned(), row: row.clone(), marks: marks.map(Box::new), done };
        self.jobs.send(Work::Append(job)).await.map_err(|_| stopped())?;
        Ok(Box::pin(async move { answer.await.map_err(|_| stopped())? }))
    }

    /// Returns once every append queued before this call is committed (or failed): a read
    /// after it sees what was delivered before it, even if another session sent it.
    pub(crate) async fn settled(&self) -> Result<(), StorageError> {
        let (waiter, answer) = oneshot::channel();
        self.jobs.send(Work::Settle(waiter)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }
}

fn stopped() -> StorageError {
    StorageError::Corrupt("archive writer stopped".into())
}

/// Writes one batch through `target`'s connection (`own`, kept between batches, on a SQLite file).
async fn write(target: &Target, own: &mut Option<SqliteConnection>, batch: &mut Vec<Job>) {
    match target {
        Target::Postgres(pool) => match pool.acquire().await {
            Ok(mut c) => commit(Conn::Postgres(&mut c, pool), batch).await,
            Err(e) => refuse(batch, e.into()),
        },
        Target::Sqlite { pool, own: None } => match pool.acquire().await {
            Ok(mut c) => commit(Conn::Sqlite(&mut c), batch).await,
            Err(e) => refuse(batch, e.into()),
        },
        Target::Sqlite { own: Some(opts), .. } => {
            let c = match own {
                Some(c) => c,
                None => match opts.connect().await {
                    Ok(c) => own.insert(c),
                    Err(e) => return refuse(batch, e.into()),
                },
            };
            commit(Conn::Sqlite(c), batch).await;
            // After an error SQLite may have rolled back by itself, and sqlx then counts the
            // connection as inside a transaction for good: the next batch gets a new one.
            if c.is_in_transaction() {
                *own = None;
            }
        }
    }
}

/// The connection a batch is written on (on PostgreSQL, with its pool).
enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection, &'a PgPool),
}

/// Answers every job of a batch that could not be written with `error`.
fn refuse(batch: &mut Vec<Job>, error: StorageError) {
    tracing::error!(error = %error, "archive writer has no connection");
    for job in batch.drain(..) {
        let _ = job.done.send(Err(StorageError::Corrupt(format!("no database connection: {error}"))));
    }
}

/// Writes a batch as one multi-row INSERT (and the archives' new counts) in one
/// transaction and answers every job; the rows it returns are the ones that were new. If it
/// fails, each row is tried on its own, so one bad row fails only its own append (on
/// PostgreSQL each on a connection from the pool: the batch's may be the one that broke).
async fn commit(mut conn: Conn<'_>, batch: &mut Vec<Job>) {
    let started = std::time::Instant::now();
    let committed = match &mut conn {
        Conn::Sqlite(c) => commit_sqlite(c, batch).await,
        Conn::Postgres(c, _) => commit_postgres(c, batch).await,
    };
    let m = rhein_metrics::metrics();
    m.archive_batch_size.observe(batch.len() as f64);
    m.archive_commit_seconds.observe(started.elapsed().as_secs_f64());
    let e = match committed {
        Ok(mut new) => {
            for job in batch.drain(..) {
                // A stanza id twice in one batch: only its first append added it.
                let added = new.remove(&(job.owner.clone(), job.row.stanza_id.clone())).is_some();
                let _ = job.done.send(Ok(added));
            }
            return;
        }
        Err(e) => e,
    };
    tracing::warn!(error = %e, rows = batch.len(), "archive batch failed; appending one by one");
    for job in batch.drain(..) {
        let result = match &mut conn {
            Conn::Sqlite(c) => one_sqlite(c, &job).await,
            Conn::Postgres(_, pool) => match pool.acquire().await {
                Ok(mut c) => one_postgres(&mut c, &job).await,
                Err(e) => Err(e),
            },
        };
        let _ = job.done.send(result.map_err(StorageError::from));
    }
}

/// The rows a batch added, by owner and stanza id, with their archive ids.
type Added = HashMap<(String, String), i64>;

/// The whole batch in the transaction `$tx` (begun), committed: its `Added`.
macro_rules! write_batch {
    ($tx:expr, $batch:expr, $placeholders:expr) => {{
        let mut tx = $tx;
        let sql = insert_rows_sql($batch.len(), "id, owner, stanza_id", $placeholders);
        let mut q = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
        for job in $batch {
            q = bind_row!(q, &job.owner, job.row);
        }
        let new: Added = q.fetch_all(&mut *tx).await?.into_iter().map(|(id, owner, sid)| ((owner, sid), id)).collect();
        let mut counts = Counts::default();
        // The jobs that added a row, in archive order (a stanza id twice: its first append).
        let mut added = Vec::new();
        let mut counted = HashSet::new();
        for job in $batch {
            let key = (job.owner.clone(), job.row.stanza_id.clone());
            if let Some(id) = new.get(&key)
                && counted.insert(key)
            {
                counts.appended(&job.owner, &job.row.with_jid, *id);
                added.push(job);
            }
        }
        write_counts!(counts, tx);
        // Read positions and mentions, numbered in the conversations' counts just written;
        // only conversations where a message marks something are numbered at all.
        if added.iter().any(|job| job.marks_something()) {
            let mut seqs = Seqs::default();
            for job in added.iter().filter(|job| job.marks_something()) {
                start_seqs!(seqs, counts, job.owner.as_str(), job.row.with_jid.as_str(), tx);
            }
            let mut ops = Vec::new();
            for job in &added {
                ops.extend(seqs.next_ops(&job.owner, &job.row.with_jid, job.marks.as_deref()));
            }
            write_ops!(coalesce(ops), tx);
        }
        tx.commit().await?;
        Ok(new)
    }};
}

async fn commit_sqlite(conn: &mut SqliteConnection, batch: &[Job]) -> Result<Added, sqlx::Error> {
    write_batch!(conn.begin_with("BEGIN IMMEDIATE").await?, batch, Placeholders::Anonymous)
}

async fn commit_postgres(conn: &mut PgConnection, batch: &[Job]) -> Result<Added, sqlx::Error> {
    write_batch!(conn.begin().await?, batch, Placeholders::Numbered)
}

async fn one_sqlite(conn: &mut SqliteConnection, job: &Job) -> Result<bool, sqlx::Error> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let added = append_counted!(job.owner.as_str(), &job.row, job.marks.as_deref(), tx);
    tx.commit().await?;
    Ok(added)
}

async fn one_postgres(conn: &mut PgConnection, job: &Job) -> Result<bool, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let added = append_counted!(job.owner.as_str(), &job.row, job.marks.as_deref(), tx);
    tx.commit().await?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use crate::{ArchiveQuery, ArchiveRow, Db};

    fn row(id: &str) -> ArchiveRow {
        ArchiveRow { stanza_id: id.into(), with_jid: "b@x".into(), ts: 1, stanza: format!("<m id='{id}'/>") }
    }

    #[tokio::test]
    async fn a_read_sees_every_append_queued_before_it() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let mut pending = Vec::new();
        for i in 0..100 {
            pending.push(db.archive().queue_marked("a@x", &row(&format!("s{i}")), None).await.unwrap());
        }
        // Nothing awaited the commits: the query waits for them itself.
        let page = db.archive().query("a@x", &ArchiveQuery { max: 1, ..Default::default() }).await.unwrap().unwrap();
        assert_eq!(page.count, 100);
        for committed in pending {
            assert!(committed.await.unwrap());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_all_committed_once() {
        let dir = std::env::temp_dir().join(format!("rhein-writer-{}", std::process::id()));
        let db = Db::connect(&format!("sqlite://{}/a.db", dir.display())).await.unwrap();
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { db.archive().append("a@x", &row(&format!("s{}", i % 250))).await.unwrap() })
            })
            .collect();
        let mut added = 0;
        for t in tasks {
            added += usize::from(t.await.unwrap());
        }
        assert_eq!(added, 250, "each stanza id once, duplicates answered false");
        let all = db.archive().query("a@x", &ArchiveQuery { max: 1, ..Default::default() }).await.unwrap().unwrap();
        assert_eq!(all.count, 250);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
