//! Group commit for the archive on SQLite. Every routed message is archived (twice: for
//! sender and recipient), and SQLite has one writer at a time: concurrent single-row
//! transactions queue on its write lock, whose busy handler sleeps. One task per database
//! takes whatever appends are waiting and writes them with one statement (one round trip to
//! SQLite's connection thread, one commit); each caller still returns only once its row is
//! committed, so what was acknowledged is on disk.

use crate::StorageError;
use crate::archive::{
    ArchiveRow, Counts, MAX_ROWS_PER_INSERT, append_counted, bind_row, insert_rows_sql, write_counts,
};
use crate::unread::{Marks, Seqs, start_seqs, write_ops};
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

/// The handle appends go through; the task ends with the last handle.
#[derive(Clone, Debug)]
pub struct ArchiveWriter {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("owner", &self.owner).finish_non_exhaustive()
    }
}

impl ArchiveWriter {
    /// Starts the task. With `own` (a file database) it writes through a connection of its
    /// own, beside the write pool's: a pooled connection goes back to its pool through a task
    /// of the runtime, so each batch's acquire waited behind every task the last batch woke
    /// (a room's fan-out to a thousand sessions), batches shrank, and MUC deliveries fell by
    /// a quarter. Its transactions begin `IMMEDIATE`, so it and the pool's writer wait for
    /// each other under the busy timeout, never failing. In memory it uses `pool`.
    pub(crate) fn spawn(pool: SqlitePool, own: Option<SqliteConnectOptions>) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut conn: Option<SqliteConnection> = None;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let Some(opts) = &own else {
                    match pool.acquire().await {
                        Ok(mut c) => commit(&mut c, &mut batch).await,
                        Err(e) => refuse(&mut batch, e.into()),
                    }
                    continue;
                };
                let c = match &mut conn {
                    Some(c) => c,
                    None => match opts.connect().await {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            refuse(&mut batch, e.into());
                            continue;
                        }
                    },
                };
                commit(c, &mut batch).await;
                // After an error SQLite may have rolled back by itself, and sqlx then counts
                // the connection as inside a transaction for good: the next batch gets a new one.
                if c.is_in_transaction() {
                    conn = None;
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
        let stopped = || StorageError::Corrupt("archive writer stopped".into());
        let (done, answer) = oneshot::channel();
        let job = Job { owner: owner.to_owned(), row: row.clone(), marks: marks.map(Box::new), done };
        self.jobs.send(job).await.map_err(|_| stopped())?;
        Ok(Box::pin(async move { answer.await.map_err(|_| stopped())? }))
    }
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
/// fails, each row is tried on its own, so one bad row fails only its own append.
async fn commit(conn: &mut SqliteConnection, batch: &mut Vec<Job>) {
    let started = std::time::Instant::now();
    let committed = commit_batch(conn, batch).await;
    let m = rhein_metrics::metrics();
    m.archive_batch_size.observe(batch.len() as f64);
    m.archive_commit_seconds.observe(started.elapsed().as_secs_f64());
    match committed {
        Ok(mut new) => {
            for job in batch.drain(..) {
                // A stanza id twice in one batch: only its first append added it.
                let added = new.remove(&(job.owner.clone(), job.row.stanza_id.clone())).is_some();
                let _ = job.done.send(Ok(added));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, rows = batch.len(), "archive batch failed; appending one by one");
            for job in batch.drain(..) {
                let result = commit_one(conn, &job).await.map_err(StorageError::from);
                let _ = job.done.send(result);
            }
        }
    }
}

/// The rows a batch added, by owner and stanza id, with their archive ids.
type Added = HashMap<(String, String), i64>;

async fn commit_batch(conn: &mut SqliteConnection, batch: &[Job]) -> Result<Added, sqlx::Error> {
    let sql = insert_rows_sql(batch.len(), "id, owner, stanza_id", crate::db::Placeholders::Anonymous);
    let mut q = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
    for job in batch {
        q = bind_row!(q, &job.owner, job.row);
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let new: Added = q.fetch_all(&mut *tx).await?.into_iter().map(|(id, owner, sid)| ((owner, sid), id)).collect();
    let mut counts = Counts::default();
    // The jobs that added a row, in archive order (a stanza id twice: its first append).
    let mut added = Vec::new();
    let mut counted = HashSet::new();
    for job in batch {
        let key = (job.owner.clone(), job.row.stanza_id.clone());
        if let Some(id) = new.get(&key)
            && counted.insert(key)
        {
            counts.appended(&job.owner, &job.row.with_jid, *id);
            added.push(job);
        }
    }
    write_counts!(counts, tx);
    // Read positions and mentions, numbered in the conversations' counts just written.
    if added.iter().any(|job| job.marks.is_some()) {
        let mut seqs = Seqs::default();
        for job in added.iter().filter(|job| job.marks.is_some()) {
            start_seqs!(seqs, counts, job.owner.as_str(), job.row.with_jid.as_str(), tx);
        }
        let mut ops = Vec::new();
        for job in &added {
            ops.extend(seqs.next_ops(&job.owner, &job.row.with_jid, job.marks.as_deref()));
        }
        write_ops!(ops, tx);
    }
    tx.commit().await?;
    Ok(new)
}

async fn commit_one(conn: &mut SqliteConnection, job: &Job) -> Result<bool, sqlx::Error> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
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
