//! XEP-0313 message archives: append, and filtered queries paged by archive id (RSM) in either
//! direction, with the full count of matching messages.

use crate::db::{BeginWrite, on_pool};
use crate::unread::Marks;
use crate::{Db, StorageError};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// One archived message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    pub stanza_id: String,
    pub with_jid: String,
    pub ts: i64,
    pub stanza: String,
}

/// Which page of the matching messages (XEP-0059).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Page {
    /// From the oldest.
    #[default]
    First,
    /// The messages right after this archive id.
    After(String),
    /// The messages right before this archive id.
    Before(String),
    /// The newest messages.
    Last,
}

/// A query's filters (XEP-0313 §4.1) and page.
#[derive(Debug, Clone, Default)]
pub struct ArchiveQuery {
    pub with: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub after_id: Option<String>,
    pub before_id: Option<String>,
    pub ids: Vec<String>,
    pub page: Page,
    pub max: i64,
}

/// A page of results, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePage {
    pub rows: Vec<ArchiveRow>,
    /// No more results in the paging direction.
    pub complete: bool,
    /// How many messages match the filters in all.
    pub count: i64,
}

/// A user's archiving preferences (`db.archive().prefs()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePrefs {
    pub default_mode: ArchiveDefault,
    pub always: Vec<String>,
    pub never: Vec<String>,
}

/// What is archived of conversations with JIDs on neither list (XEP-0313 §6), stored as
/// its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveDefault {
    Always,
    Never,
    /// Only conversations with contacts in the roster.
    Roster,
}

stored_enum!(ArchiveDefault, "archive default", { Always => "always", Never => "never", Roster => "roster" });

impl Default for ArchivePrefs {
    fn default() -> Self {
        Self { default_mode: ArchiveDefault::Always, always: Vec::new(), never: Vec::new() }
    }
}

/// Repository of archives (`db.archive()`).
pub struct Archive<'a> {
    pub(crate) db: &'a Db,
}

#[derive(Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// What [`Archive::query`] runs.
struct Plan {
    count_sql: String,
    count_args: Vec<Arg>,
    /// The page's conditions; `ORDER BY id` and `LIMIT` come with `page_sql`.
    page: Conditions,
    descending: bool,
    limit: i64,
    /// A time range: its count also gives the first and last archive id in it, which then
    /// bound the page (SQLite would otherwise walk the conversation in id order, testing
    /// every message's time, to find the range).
    ranged: bool,
}

impl Plan {
    fn page_sql(&self) -> String {
        let order = if self.descending { "DESC" } else { "ASC" };
        format!(
            "SELECT id, stanza_id, with_jid, ts, stanza FROM archive WHERE {} ORDER BY id {order} LIMIT {}",
            self.page.clause(),
            self.limit
        )
    }
}

/// Retention deletes this many messages per transaction, so that appends are never held
/// up for long and the rows it returns stay few.
const EXPIRE_CHUNK: usize = 10_000;
/// `$2` is `EXPIRE_CHUNK`.
const EXPIRE: &str = "DELETE FROM archive WHERE id IN (SELECT id FROM archive WHERE ts < $1 LIMIT $2) \
    RETURNING owner, with_jid";
pub(crate) const BUMP_COUNT: &str = "INSERT INTO archive_count (owner, with_jid, n, appended, last_id) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, with_jid) DO UPDATE SET n = archive_count.n + $3, \
    appended = archive_count.appended + $4, \
    last_id = CASE WHEN archive_count.last_id < $5 THEN $5 ELSE archive_count.last_id END";
const COUNT: &str = "SELECT n FROM archive_count WHERE owner = $1 AND with_jid = $2";

/// How one archive count changes: rows added or deleted (`n`), rows appended (`appended`,
/// which deletes never lower: read positions are measured in it) and the newest row added.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) n: i64,
    pub(crate) appended: i64,
    pub(crate) last_id: i64,
}

/// Changes to archive counts (table `archive_count`): per conversation, and per archive
/// under the conversation `''`. Written in the transaction that added or deleted the rows.
#[derive(Default)]
pub(crate) struct Counts(HashMap<(String, String), Change>);

impl Counts {
    /// `n` rows deleted (negative) from a conversation.
    pub(crate) fn add(&mut self, owner: &str, with: &str, n: i64) {
        self.change(owner, with, |c| c.n += n);
    }

    /// The row `id` appended to a conversation.
    pub(crate) fn appended(&mut self, owner: &str, with: &str, id: i64) {
        self.change(owner, with, |c| {
            c.n += 1;
            c.appended += 1;
            c.last_id = c.last_id.max(id);
        });
    }

    fn change(&mut self, owner: &str, with: &str, f: impl Fn(&mut Change)) {
        if !with.is_empty() {
            f(self.0.entry((owner.to_owned(), with.to_owned())).or_default());
        }
        f(self.0.entry((owner.to_owned(), String::new())).or_default());
    }

    /// How many rows this batch appended to a conversation (`''`: to the archive).
    pub(crate) fn appended_to(&self, owner: &str, with: &str) -> i64 {
        self.0.get(&(owner.to_owned(), with.to_owned())).map_or(0, |c| c.appended)
    }

    /// `(owner, conversation, change)` for each count that changes.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (&str, &str, Change)> {
        self.0.iter().filter(|(_, c)| c.n != 0 || c.appended != 0).map(|((o, w), c)| (o.as_str(), w.as_str(), *c))
    }
}
pub(crate) const APPEND: &str = "INSERT INTO archive (owner, stanza_id, with_jid, ts, stanza) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (owner, stanza_id) DO NOTHING RETURNING id";

/// SQL conditions with numbered placeholders, written once for both backends.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    fn push(&mut self, template: &str, arg: Arg) {
        self.args.push(arg);
        self.sql.push(template.replace('?', &format!("${}", self.args.len())));
    }
    fn push_raw(&mut self, sql: String) {
        self.sql.push(sql);
    }
    fn clause(&self) -> String {
        self.sql.join(" AND ")
    }
}

type Row = (i64, String, String, i64, String);

/// `sqlx::query_as(sql)` with the collected arguments bound in order.
macro_rules! with_args {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query_as(AssertSqlSafe($sql.to_owned()));
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// Rows in one multi-row INSERT: 5 parameters each, SQLite allows 32,766 per statement.
pub(crate) const MAX_ROWS_PER_INSERT: usize = 2048;
const _: () = assert!(MAX_ROWS_PER_INSERT * 5 <= 32_766);

/// An INSERT of `rows` messages (numbered placeholders, five per row) that skips stanza
/// ids already archived and returns `returning` of each row it added.
pub(crate) fn insert_rows_sql(rows: usize, returning: &str, placeholders: crate::db::Placeholders) -> String {
    format!(
        "INSERT INTO archive (owner, stanza_id, with_jid, ts, stanza) VALUES {} \
         ON CONFLICT (owner, stanza_id) DO NOTHING RETURNING {returning}",
        crate::db::values(rows, 5, placeholders)
    )
}

/// Applies `Counts` inside a transaction, for either backend.
macro_rules! write_counts {
    ($counts:expr, $tx:expr) => {
        for (owner, with, c) in $counts.changes() {
            sqlx::query($crate::archive::BUMP_COUNT)
                .bind(owner)
                .bind(with)
                .bind(c.n)
                .bind(c.appended)
                .bind(c.last_id)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use write_counts;

/// Binds one message's five columns to `$q`, in the order of `APPEND` and `insert_rows_sql`.
macro_rules! bind_row {
    ($q:expr, $owner:expr, $row:expr) => {
        $q.bind($owner).bind(&$row.stanza_id).bind(&$row.with_jid).bind($row.ts).bind(&$row.stanza)
    };
}

/// The INSERT of one archived message, for either backend; returns the new row's id.
macro_rules! append_query {
    ($owner:expr, $row:expr) => {
        $crate::archive::bind_row!(sqlx::query_as::<_, (i64,)>($crate::archive::APPEND), $owner, $row)
    };
}

/// Appends one message inside a transaction, counts it and moves the read positions its
/// `marks` move; whether it was new.
macro_rules! append_counted {
    ($owner:expr, $row:expr, $marks:expr, $tx:expr) => {{
        let added = $crate::archive::append_query!($owner, $row).fetch_optional(&mut *$tx).await?;
        if let Some((id,)) = added {
            let mut counts = $crate::archive::Counts::default();
            counts.appended($owner, &$row.with_jid, id);
            $crate::archive::write_counts!(counts, $tx);
            if let Some(marks) = $marks {
                let mut seqs = $crate::unread::Seqs::default();
                $crate::unread::start_seqs!(seqs, counts, $owner, $row.with_jid.as_str(), $tx);
                let ops = seqs.next_ops($owner, &$row.with_jid, Some(marks));
                $crate::unread::write_ops!(ops, $tx);
            }
        }
        added.is_some()
    }};
}
pub(crate) use {append_counted, append_query, bind_row};

/// An append on its way to disk: resolves once committed, `false` if the stanza id was
/// archived already for its owner.
pub type Committing = std::pin::Pin<Box<dyn Future<Output = Result<bool, StorageError>> + Send>>;

impl Archive<'_> {
    /// Appends a message; `false` if the stanza id is already archived for this owner.
    pub async fn append(&self, owner: &str, row: &ArchiveRow) -> Result<bool, StorageError> {
        self.append_marked(owner, row, None).await
    }

    /// Appends a message that moves accounts' unread counters (see [`Marks`]), in the
    /// transaction that adds it; `false` if the stanza id is already archived for this owner.
    pub async fn append_marked(
        &self,
        owner: &str,
        row: &ArchiveRow,
        marks: Option<Marks>,
    ) -> Result<bool, StorageError> {
        self.queue_marked(owner, row, marks).await?.await
    }

    /// As [`Archive::append_marked`], without waiting for the commit: the append is queued
    /// for the group-commit task (in order: what is queued later commits with it or after
    /// it) and the returned future resolves once it is committed.
    pub async fn queue_marked(
        &self,
        owner: &str,
        row: &ArchiveRow,
        marks: Option<Marks>,
    ) -> Result<Committing, StorageError> {
        let marks = marks.filter(|m| !m.is_empty());
        self.db.archive.queue(owner, row, marks).await
    }

    /// The internal id of an archived message.
    async fn position(&self, owner: &str, stanza_id: &str) -> Result<Option<i64>, StorageError> {
        const SQL: &str = "SELECT id FROM archive WHERE owner = $1 AND stanza_id = $2";
        let row: Option<(i64,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(stanza_id).fetch_optional(p).await)?;
        Ok(row.map(|(id,)| id))
    }

    /// Appends many messages in one transaction (imports, benchmarks); how many were new.
    pub async fn append_batch(&self, owner: &str, rows: &[ArchiveRow]) -> Result<u64, StorageError> {
        let mut counts = Counts::default();
        let mut added = 0;
        let placeholders = crate::db::Placeholders::of(&self.db.pool);
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            for chunk in rows.chunks(MAX_ROWS_PER_INSERT) {
                let sql = insert_rows_sql(chunk.len(), "id, with_jid", placeholders);
                let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
                for row in chunk {
                    q = bind_row!(q, owner, row);
                }
                for (id, with) in q.fetch_all(&mut *tx).await? {
                    counts.appended(owner, &with, id);
                    added += 1;
                }
            }
            write_counts!(counts, tx);
            tx.commit().await?;
        });
        Ok(added)
    }

    /// Runs a query, after every append queued before it is committed (as are the other
    /// reads here and in `Unread`: a client that was just sent a message finds it). `Ok(None)`
    /// when a referenced id (filter or page) is not in the archive.
    pub async fn query(&self, owner: &str, q: &ArchiveQuery) -> Result<Option<ArchivePage>, StorageError> {
        self.db.archive.settled().await?;
        let Some(mut plan) = self.plan(owner, q).await? else { return Ok(None) };
        let count = if plan.ranged {
            let sql = &plan.count_sql;
            let (n, first, last): (i64, Option<i64>, Option<i64>) =
                on_pool!(self.db, |p| with_args!(sql, &plan.count_args).fetch_one(p).await?);
            let (Some(first), Some(last)) = (first, last) else {
                return Ok(Some(ArchivePage { rows: Vec::new(), complete: true, count: 0 }));
            };
            plan.page.push("id >= ?", Arg::Int(first));
            plan.page.push("id <= ?", Arg::Int(last));
            n
        } else {
            self.fetch_count(&plan.count_sql, &plan.count_args).await?
        };
        let mut rows = self.fetch_rows(&plan.page_sql(), &plan.page.args).await?;
        let complete = rows.len() as i64 <= q.max;
        rows.truncate(q.max.max(0) as usize);
        if plan.descending {
            rows.reverse();
        }
        let rows = rows
            .into_iter()
            .map(|(_, stanza_id, with_jid, ts, stanza)| ArchiveRow { stanza_id, with_jid, ts, stanza })
            .collect();
        Ok(Some(ArchivePage { rows, complete, count }))
    }

    /// The two statements a query runs (full count, then one page) with their arguments;
    /// `None` when a referenced id is not in the archive.
    async fn plan(&self, owner: &str, q: &ArchiveQuery) -> Result<Option<Plan>, StorageError> {
        let mut c = Conditions::default();
        c.push("owner = ?", Arg::Text(owner.to_owned()));
        if let Some(w) = &q.with {
            c.push("with_jid = ?", Arg::Text(w.clone()));
        }
        if let Some(s) = q.start {
            c.push("ts >= ?", Arg::Int(s));
        }
        if let Some(e) = q.end {
            c.push("ts <= ?", Arg::Int(e));
        }
        for (id, op) in [(&q.after_id, ">"), (&q.before_id, "<")] {
            if let Some(id) = id {
                let Some(pos) = self.position(owner, id).await? else { return Ok(None) };
                c.push(&format!("id {op} ?"), Arg::Int(pos));
            }
        }
        if !q.ids.is_empty() {
            let mut placeholders = Vec::new();
            for id in &q.ids {
                c.args.push(Arg::Text(id.clone()));
                placeholders.push(format!("${}", c.args.len()));
            }
            c.push_raw(format!("stanza_id IN ({})", placeholders.join(", ")));
        }
        // Without a time, id or page filter, the count is the archive's or the conversation's
        // whole count, which is kept.
        let unfiltered = q.start.is_none() && q.end.is_none() && q.after_id.is_none() && q.before_id.is_none();
        let ranged = q.start.is_some() || q.end.is_some();
        let (count_sql, count_args) = if unfiltered && q.ids.is_empty() {
            let with = q.with.clone().unwrap_or_default();
            (COUNT.to_owned(), vec![Arg::Text(owner.to_owned()), Arg::Text(with)])
        } else if ranged {
            (format!("SELECT COUNT(*), MIN(id), MAX(id) FROM archive WHERE {}", c.clause()), c.args.clone())
        } else {
            (format!("SELECT COUNT(*) FROM archive WHERE {}", c.clause()), c.args.clone())
        };

        let (descending, bound) = match &q.page {
            Page::First => (false, None),
            Page::Last => (true, None),
            Page::After(id) => (false, Some((id, ">"))),
            Page::Before(id) => (true, Some((id, "<"))),
        };
        if let Some((id, op)) = bound {
            let Some(pos) = self.position(owner, id).await? else { return Ok(None) };
            c.push(&format!("id {op} ?"), Arg::Int(pos));
        }
        Ok(Some(Plan { count_sql, count_args, page: c, descending, limit: q.max + 1, ranged }))
    }

    async fn fetch_count(&self, sql: &str, args: &[Arg]) -> Result<i64, StorageError> {
        let n: Option<(i64,)> = on_pool!(self.db, |p| with_args!(sql, args).fetch_optional(p).await?);
        Ok(n.map_or(0, |(n,)| n))
    }

    async fn fetch_rows(&self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, StorageError> {
        Ok(on_pool!(self.db, |p| with_args!(sql, args).fetch_all(p).await?))
    }

    /// Deletes messages older than `before` (epoch ms) from every archive; how many went.
    pub async fn expire(&self, before: i64) -> Result<u64, StorageError> {
        let mut total = 0;
        loop {
            let gone = on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                let gone: Vec<(String, String)> =
                    sqlx::query_as(EXPIRE).bind(before).bind(EXPIRE_CHUNK as i64).fetch_all(&mut *tx).await?;
                let mut counts = Counts::default();
                for (owner, with) in &gone {
                    counts.add(owner, with, -1);
                }
                write_counts!(counts, tx);
                tx.commit().await?;
                gone.len()
            });
            total += gone as u64;
            if gone < EXPIRE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// One archived message by its stanza id.
    pub async fn get(&self, owner: &str, stanza_id: &str) -> Result<Option<ArchiveRow>, StorageError> {
        self.db.archive.settled().await?;
        const SQL: &str = "SELECT stanza_id, with_jid, ts, stanza FROM archive WHERE owner = $1 AND stanza_id = $2";
        let row: Option<(String, String, i64, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(stanza_id).fetch_optional(p).await)?;
        Ok(row.map(|(stanza_id, with_jid, ts, stanza)| ArchiveRow { stanza_id, with_jid, ts, stanza }))
    }

    /// Replaces an archived message's stanza (a tombstone for a retracted one), keeping its
    /// place; whether it existed.
    pub async fn replace_stanza(&self, owner: &str, stanza_id: &str, stanza: &str) -> Result<bool, StorageError> {
        self.db.archive.settled().await?;
        const SQL: &str = "UPDATE archive SET stanza = $3 WHERE owner = $1 AND stanza_id = $2";
        Ok(on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(owner)
            .bind(stanza_id)
            .bind(stanza)
            .execute(p)
            .await?
            .rows_affected())
            > 0)
    }

    /// Deletes a whole archive (a destroyed channel's); how many messages went.
    pub async fn delete_owner(&self, owner: &str) -> Result<u64, StorageError> {
        self.db.archive.settled().await?;
        const SQL: &str = "DELETE FROM archive WHERE owner = $1";
        const COUNTS: &str = "DELETE FROM archive_count WHERE owner = $1";
        // Read positions in it: a channel or room made again under its JID counts afresh.
        const MARKS: &str = "DELETE FROM unread_mark WHERE archive = $1";
        const MENTIONS: &str = "DELETE FROM unread_mention WHERE archive = $1";
        Ok(on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(SQL).bind(owner).execute(&mut *tx).await?.rows_affected();
            sqlx::query(COUNTS).bind(owner).execute(&mut *tx).await?;
            sqlx::query(MARKS).bind(owner).execute(&mut *tx).await?;
            sqlx::query(MENTIONS).bind(owner).execute(&mut *tx).await?;
            tx.commit().await?;
            n
        }))
    }

    pub async fn prefs(&self, owner: &str) -> Result<ArchivePrefs, StorageError> {
        const SQL: &str = "SELECT default_mode, always_json, never_json FROM archive_prefs WHERE owner = $1";
        let row: Option<(String, String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_optional(p).await)?;
        let Some((default_mode, always, never)) = row else { return Ok(ArchivePrefs::default()) };
        let parse = |s: &str| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(format!("archive prefs: {e}")));
        Ok(ArchivePrefs { default_mode: default_mode.parse()?, always: parse(&always)?, never: parse(&never)? })
    }

    pub async fn set_prefs(&self, owner: &str, prefs: &ArchivePrefs) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO archive_prefs (owner, default_mode, always_json, never_json) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (owner) DO UPDATE SET default_mode = $2, always_json = $3, never_json = $4";
        let always = serde_json::to_string(&prefs.always).unwrap_or_else(|_| "[]".into());
        let never = serde_json::to_string(&prefs.never).unwrap_or_else(|_| "[]".into());
        on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(owner)
            .bind(prefs.default_mode.as_str())
            .bind(&always)
            .bind(&never)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn filled() -> Db {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        for i in 0..10 {
            let with = if i % 2 == 0 { "b@x" } else { "c@x" };
            let row = ArchiveRow {
                stanza_id: format!("s{i}"),
                with_jid: with.into(),
                ts: 1000 + i,
                stanza: format!("<m{i}/>"),
            };
            assert!(db.archive().append("a@x", &row).await.unwrap());
        }
        db
    }

    fn ids(p: &ArchivePage) -> Vec<&str> {
        p.rows.iter().map(|r| r.stanza_id.as_str()).collect()
    }

    #[tokio::test]
    async fn pages_forward_and_backward_with_counts() {
        let db = filled().await;
        let a = db.archive();
        let q = |page, max| ArchiveQuery { page, max, ..Default::default() };
        let first = a.query("a@x", &q(Page::First, 4)).await.unwrap().unwrap();
        assert_eq!((ids(&first), first.complete, first.count), (vec!["s0", "s1", "s2", "s3"], false, 10));
        let next = a.query("a@x", &q(Page::After("s7".into()), 4)).await.unwrap().unwrap();
        assert_eq!((ids(&next), next.complete), (vec!["s8", "s9"], true));
        let last = a.query("a@x", &q(Page::Last, 3)).await.unwrap().unwrap();
        assert_eq!((ids(&last), last.complete), (vec!["s7", "s8", "s9"], false));
        let before = a.query("a@x", &q(Page::Before("s2".into()), 5)).await.unwrap().unwrap();
        assert_eq!((ids(&before), before.complete), (vec!["s0", "s1"], true));
        assert!(a.query("a@x", &q(Page::After("nope".into()), 5)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn filters_combine() {
        let db = filled().await;
        let a = db.archive();
        let q = ArchiveQuery {
            with: Some("b@x".into()),
            start: Some(1002),
            end: Some(1008),
            max: 10,
            ..Default::default()
        };
        let p = a.query("a@x", &q).await.unwrap().unwrap();
        assert_eq!((ids(&p), p.count), (vec!["s2", "s4", "s6", "s8"], 4));
        let q =
            ArchiveQuery { after_id: Some("s3".into()), before_id: Some("s6".into()), max: 10, ..Default::default() };
        assert_eq!(ids(&a.query("a@x", &q).await.unwrap().unwrap()), ["s4", "s5"]);
        let q = ArchiveQuery { ids: vec!["s9".into(), "s1".into()], max: 10, ..Default::default() };
        assert_eq!(ids(&a.query("a@x", &q).await.unwrap().unwrap()), ["s1", "s9"]);
        assert_eq!(a.query("other@x", &ArchiveQuery { max: 5, ..Default::default() }).await.unwrap().unwrap().count, 0);
        assert_eq!(a.expire(1005).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn kept_counts_follow_appends_and_deletes() {
        let db = filled().await;
        let a = db.archive();
        let count = |with: Option<&str>| {
            let q = ArchiveQuery { with: with.map(str::to_owned), page: Page::Last, max: 1, ..Default::default() };
            let a = db.archive();
            async move { a.query("a@x", &q).await.unwrap().unwrap().count }
        };
        assert_eq!((count(None).await, count(Some("b@x")).await, count(Some("c@x")).await), (10, 5, 5));
        let dup = ArchiveRow { stanza_id: "s0".into(), with_jid: "b@x".into(), ts: 1, stanza: "<m/>".into() };
        assert!(!a.append("a@x", &dup).await.unwrap(), "a duplicate is not counted");
        let more = |id: &str| ArchiveRow { stanza_id: id.into(), ..dup.clone() };
        assert_eq!(a.append_batch("a@x", &[more("n1"), more("s1"), more("n2")]).await.unwrap(), 2);
        assert_eq!((count(None).await, count(Some("b@x")).await), (12, 7));
        // s0..s4 and the two batch rows (ts 1) go: b@x loses s0, s2, s4, n1, n2; c@x s1, s3.
        assert_eq!(a.expire(1005).await.unwrap(), 7);
        assert_eq!((count(None).await, count(Some("b@x")).await, count(Some("c@x")).await), (5, 2, 3));
        let filtered = ArchiveQuery { start: Some(1007), max: 1, ..Default::default() };
        assert_eq!(a.query("a@x", &filtered).await.unwrap().unwrap().count, 3, "filters count the rows");
        assert_eq!(a.delete_owner("a@x").await.unwrap(), 5);
        assert_eq!(count(None).await, 0);
    }

    /// SQLite's plan for a statement, one line per step.
    async fn explain(db: &Db, sql: &str, args: &[Arg]) -> Vec<String> {
        let crate::db::Pool::Sqlite { read: p, .. } = &db.pool else { unreachable!() };
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let rows: Vec<(i64, i64, i64, String)> = with_args!(explain, args).fetch_all(p).await.unwrap();
        rows.into_iter().map(|r| r.3).collect()
    }

    fn assert_indexed(plan: &[String], what: &str) {
        for step in plan {
            let scans_table = step.starts_with("SCAN archive") && !step.contains("USING");
            assert!(!scans_table, "{what} scans the archive: {plan:?}");
        }
    }

    #[tokio::test]
    async fn every_archive_query_uses_an_index() {
        let db = filled().await;
        let a = db.archive();
        let base = ArchiveQuery { max: 50, ..Default::default() };
        let shapes = [
            ("newest page", ArchiveQuery { page: Page::Last, ..base.clone() }),
            ("oldest page", base.clone()),
            ("one conversation, newest", ArchiveQuery { with: Some("b@x".into()), page: Page::Last, ..base.clone() }),
            (
                "one conversation, after",
                ArchiveQuery { with: Some("b@x".into()), page: Page::After("s2".into()), ..base.clone() },
            ),
            ("before an id", ArchiveQuery { page: Page::Before("s5".into()), ..base.clone() }),
            ("time range", ArchiveQuery { start: Some(1002), end: Some(1006), ..base.clone() }),
            (
                "one conversation, time range",
                ArchiveQuery { with: Some("c@x".into()), start: Some(1002), end: Some(1006), ..base.clone() },
            ),
            ("after-id filter", ArchiveQuery { after_id: Some("s3".into()), ..base.clone() }),
            ("ids", ArchiveQuery { ids: vec!["s1".into(), "s4".into()], ..base.clone() }),
        ];
        for (what, q) in shapes {
            let plan = a.plan("a@x", &q).await.unwrap().unwrap();
            assert_indexed(&explain(&db, &plan.count_sql, &plan.count_args).await, what);
            assert_indexed(&explain(&db, &plan.page_sql(), &plan.page.args).await, what);
        }
        let expire = explain(&db, EXPIRE, &[Arg::Int(0), Arg::Int(EXPIRE_CHUNK as i64)]).await;
        assert_indexed(&expire, "retention");
    }
}
