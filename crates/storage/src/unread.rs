//! Unread counters (Rhein's unread overview, described in the README): per account and
//! conversation, where the account has read up to and how many messages after that mention
//! it, kept as messages are archived and as the account marks messages displayed, so the
//! overview of every open conversation costs a few index lookups, never an archive scan.
//!
//! A conversation is a count row of `archive_count`: `(account, contact)` for a chat (the
//! account's own archive; MIX channels reach it through PAM), `(room, '')` for a room's
//! archive. Its `appended` only grows, so a read position is a number in it (`seen`), and
//! the unread count is `appended - seen`. Moving a position to an older message counts the
//! messages after it once, from the index.

use crate::archive::{ArchiveRow, Counts};
use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, HashMap};

/// What an archived message does to accounts' read positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// The local account that wrote it: it has read its conversation up to here.
    pub author: Option<String>,
    /// The local accounts it mentions (XEP-0372, or a nickname in a room).
    pub mentioned: Vec<String>,
}

impl Marks {
    pub fn is_empty(&self) -> bool {
        self.author.is_none() && self.mentioned.is_empty()
    }
}

/// One change to a read position, written in the transaction that archives the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `account` has read `(archive, with)` up to message number `seq`.
    Read { account: String, archive: String, with: String, seq: i64 },
    /// Message number `seq` of `(archive, with)` mentions `account`; a position that did not
    /// exist starts at `first_seen`.
    Mention { account: String, archive: String, with: String, seq: i64, first_seen: i64 },
}

/// The conversation a read position of `account` in `archive` follows: its own chat with
/// `with`, or the whole archive of a room or channel.
fn key<'a>(account: &str, archive: &str, with: &'a str) -> &'a str {
    if account == archive { with } else { "" }
}

/// The `appended` number of each message of a batch, handed out in archive order.
#[derive(Default)]
pub(crate) struct Seqs(HashMap<(String, String), i64>);

impl Seqs {
    /// The number before the batch's first message of `(owner, with)`, from the count
    /// written already and what the batch added to it.
    pub(crate) fn start(&mut self, counts: &Counts, owner: &str, with: &str, appended_now: i64) {
        let before = appended_now - counts.appended_to(owner, with);
        self.0.insert((owner.to_owned(), with.to_owned()), before);
    }

    pub(crate) fn started(&self, owner: &str, with: &str) -> bool {
        self.0.contains_key(&(owner.to_owned(), with.to_owned()))
    }

    /// The next message of the batch, archived by `owner` in conversation `with`: its number
    /// in each conversation it counts in, and the changes its `marks` make.
    pub(crate) fn next_ops(&mut self, owner: &str, with: &str, marks: Option<&Marks>) -> Vec<Op> {
        let mut numbers = HashMap::new();
        for conversation in [with, ""] {
            if let Some(n) = self.0.get_mut(&(owner.to_owned(), conversation.to_owned())) {
                *n += 1;
                numbers.insert(conversation, *n);
            }
            if with.is_empty() {
                break;
            }
        }
        let Some(marks) = marks else { return Vec::new() };
        let mut ops = Vec::new();
        let number = |account: &str| {
            let with = key(account, owner, with);
            numbers.get(with).map(|seq| (with.to_owned(), *seq))
        };
        if let Some(account) = &marks.author
            && let Some((with, seq)) = number(account)
        {
            ops.push(Op::Read { account: account.clone(), archive: owner.to_owned(), with, seq });
        }
        for account in &marks.mentioned {
            if let Some((with, seq)) = number(account) {
                // A chat nobody marked is unread from its start; a room from this mention.
                let first_seen = if account == owner { 0 } else { seq - 1 };
                ops.push(Op::Mention { account: account.clone(), archive: owner.to_owned(), with, seq, first_seen });
            }
        }
        ops
    }
}

/// A batch's changes with the same final effect in fewer statements: positions only move
/// forward, so of the reads of one position only the furthest is written, and a mention at
/// or before it would be forgotten by it. The reads go first, so a mention after them finds
/// its position row and only counts.
pub(crate) fn coalesce(ops: Vec<Op>) -> Vec<Op> {
    // Ordered, so concurrent transactions on PostgreSQL lock position rows alike.
    let mut furthest: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut mentions = Vec::new();
    for op in ops {
        match op {
            Op::Read { account, archive, with, seq } => {
                let read = furthest.entry((account, archive, with)).or_insert(seq);
                *read = (*read).max(seq);
            }
            mention @ Op::Mention { .. } => mentions.push(mention),
        }
    }
    mentions.retain(|op| match op {
        Op::Mention { account, archive, with, seq, .. } => {
            furthest.get(&(account.clone(), archive.clone(), with.clone())).is_none_or(|read| read < seq)
        }
        Op::Read { .. } => true,
    });
    let reads = furthest.into_iter().map(|((account, archive, with), seq)| Op::Read { account, archive, with, seq });
    reads.chain(mentions).collect()
}

/// `Seqs::start` for the conversations `(owner, with)` and `(owner, '')`, reading their
/// counts inside the transaction `$tx` (after `write_counts!`).
macro_rules! start_seqs {
    ($seqs:expr, $counts:expr, $owner:expr, $with:expr, $tx:expr) => {
        for conversation in [$with, ""] {
            if !$seqs.started($owner, conversation) {
                let (now,): (i64,) = sqlx::query_as($crate::unread::APPENDED)
                    .bind($owner)
                    .bind(conversation)
                    .fetch_one(&mut *$tx)
                    .await?;
                $seqs.start(&$counts, $owner, conversation, now);
            }
        }
    };
}
pub(crate) use start_seqs;

pub(crate) const APPENDED: &str = "SELECT appended FROM archive_count WHERE owner = $1 AND with_jid = $2";

/// Moves a read position forward (never back). `$1` account, `$2` archive, `$3`
/// conversation, `$4` the number read up to.
pub(crate) const READ: &str = "INSERT INTO unread_mark (owner, archive, with_jid, seen, mentions) \
    VALUES ($1, $2, $3, $4, 0) ON CONFLICT (owner, archive, with_jid) DO UPDATE SET \
    seen = CASE WHEN unread_mark.seen < $4 THEN $4 ELSE unread_mark.seen END";
/// Then recounts the mentions after it, in a statement of its own: it runs holding the
/// position's row lock (taken by `READ`), so on PostgreSQL it sees every mention whose
/// `MENTIONED` increment came first, and one still to come increments what it counted.
pub(crate) const RECOUNT: &str = "UPDATE unread_mark SET mentions = (SELECT COUNT(*) FROM unread_mention m \
    WHERE m.owner = $1 AND m.archive = $2 AND m.with_jid = $3 AND m.seq > unread_mark.seen) \
    WHERE owner = $1 AND archive = $2 AND with_jid = $3";
pub(crate) const FORGET_MENTIONS: &str =
    "DELETE FROM unread_mention WHERE owner = $1 AND archive = $2 AND with_jid = $3 AND seq <= $4";
pub(crate) const MENTION: &str = "INSERT INTO unread_mention (owner, archive, with_jid, seq) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (owner, archive, with_jid, seq) DO NOTHING";
pub(crate) const MENTIONED: &str = "INSERT INTO unread_mark (owner, archive, with_jid, seen, mentions) \
    VALUES ($1, $2, $3, $4, 1) ON CONFLICT (owner, archive, with_jid) DO UPDATE SET \
    mentions = unread_mark.mentions + 1";

/// Writes `Op`s inside the transaction `$tx`, for either backend.
macro_rules! write_ops {
    ($ops:expr, $tx:expr) => {
        for op in $ops {
            match op {
                $crate::unread::Op::Read { account, archive, with, seq } => {
                    for sql in [$crate::unread::READ, $crate::unread::FORGET_MENTIONS] {
                        sqlx::query(sql).bind(&account).bind(&archive).bind(&with).bind(seq).execute(&mut *$tx).await?;
                    }
                    sqlx::query($crate::unread::RECOUNT)
                        .bind(&account)
                        .bind(&archive)
                        .bind(&with)
                        .execute(&mut *$tx)
                        .await?;
                }
                $crate::unread::Op::Mention { account, archive, with, seq, first_seen } => {
                    sqlx::query($crate::unread::MENTION)
                        .bind(&account)
                        .bind(&archive)
                        .bind(&with)
                        .bind(seq)
                        .execute(&mut *$tx)
                        .await?;
                    sqlx::query($crate::unread::MENTIONED)
                        .bind(&account)
                        .bind(&archive)
                        .bind(&with)
                        .bind(first_seen)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
    };
}
pub(crate) use write_ops;

/// One conversation of the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadRow {
    /// The contact's, room's or channel's bare JID.
    pub jid: String,
    /// Whether this is a room's archive (else the account's chat with `jid`).
    pub room: bool,
    pub unread: i64,
    pub mentions: i64,
    /// The newest message (the archive's owner is the account, or `jid` for a room).
    pub last: Option<ArchiveRow>,
}

/// Repository of read positions (`db.unread()`).
pub struct Unread<'a> {
    pub(crate) db: &'a Db,
}

/// Placeholders `$from..$from+n`.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

type OverviewRow = (String, i64, i64, Option<i64>, Option<String>, Option<i64>, Option<String>, Option<String>);

/// Rooms asked about in one statement.
const ROOMS_PER_QUERY: usize = 500;

impl Unread<'_> {
    /// `account` displayed the message `stanza_id` of its conversation with `conversation`,
    /// an id given by `by` (XEP-0359): the account itself for a chat, the room for a room.
    /// Moves the read position there unless it is further already; whether it moved.
    /// `false` too when the message is not archived here.
    pub async fn displayed(
        &self,
        account: &str,
        conversation: &str,
        by: &str,
        stanza_id: &str,
    ) -> Result<bool, StorageError> {
        self.db.archive.settled().await?;
        const POSITION: &str = "SELECT id, with_jid FROM archive WHERE owner = $1 AND stanza_id = $2";
        // One statement, one snapshot: the count now, less the messages after the one read.
        const CHAT_SEQ: &str = "SELECT (SELECT appended FROM archive_count WHERE owner = $1 AND with_jid = $2) \
            - (SELECT COUNT(*) FROM archive WHERE owner = $1 AND with_jid = $2 AND id > $3)";
        const ROOM_SEQ: &str = "SELECT (SELECT appended FROM archive_count WHERE owner = $1 AND with_jid = $2) \
            - (SELECT COUNT(*) FROM archive WHERE owner = $1 AND id > $3)";
        let (archive, with) = if by == account { (account, conversation) } else { (by, "") };
        if with.is_empty() && conversation != by {
            return Ok(false);
        }
        let moved = on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            let found: Option<(i64, String)> =
                sqlx::query_as(POSITION).bind(archive).bind(stanza_id).fetch_optional(&mut *tx).await?;
            let Some((id, in_chat)) = found else { return Ok(false) };
            if !with.is_empty() && in_chat != with {
                return Ok(false);
            }
            let sql = if with.is_empty() { ROOM_SEQ } else { CHAT_SEQ };
            let (seq,): (Option<i64>,) =
                sqlx::query_as(sql).bind(archive).bind(with).bind(id).fetch_one(&mut *tx).await?;
            let Some(seq) = seq else { return Ok(false) };
            const BEFORE: &str = "SELECT seen FROM unread_mark WHERE owner = $1 AND archive = $2 AND with_jid = $3";
            let before: Option<(i64,)> =
                sqlx::query_as(BEFORE).bind(account).bind(archive).bind(with).fetch_optional(&mut *tx).await?;
            let moved = before.is_none_or(|(seen,)| seen < seq);
            let ops = [Op::Read { account: account.to_owned(), archive: archive.to_owned(), with: with.to_owned(), seq }];
            write_ops!(ops, tx);
            tx.commit().await?;
            moved
        });
        Ok(moved)
    }

    /// The overview of `account`: its chats (the account's archive) that have unread
    /// messages or are in `open`, and the rooms in `rooms` whose archive is here, newest
    /// first, at most `limit`. A room with no read position yet gets one at its newest
    /// message (counting starts when the account first asks).
    pub async fn overview(
        &self,
        account: &str,
        open: &[String],
        rooms: &[String],
        limit: usize,
    ) -> Result<Vec<UnreadRow>, StorageError> {
        self.db.archive.settled().await?;
        let mut found = self.chats(account, open, limit).await?;
        let mut unmarked = Vec::new();
        for chunk in rooms.chunks(ROOMS_PER_QUERY) {
            let sql = format!(
                "SELECT c.owner, c.appended, COALESCE(m.mentions, 0), m.seen, a.stanza_id, a.ts, a.stanza, a.with_jid \
                 FROM archive_count c \
                 LEFT JOIN unread_mark m ON m.owner = $1 AND m.archive = c.owner AND m.with_jid = '' \
                 LEFT JOIN archive a ON a.id = c.last_id \
                 WHERE c.with_jid = '' AND c.owner IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<OverviewRow> = on_pool!(self.db, |p| {
                let mut q = sqlx::query_as(AssertSqlSafe(sql.clone())).bind(account);
                for room in chunk {
                    q = q.bind(room);
                }
                q.fetch_all(p).await
            })?;
            for (jid, appended, mentions, seen, stanza_id, ts, stanza, with) in rows {
                if seen.is_none() {
                    unmarked.push((jid.clone(), appended));
                }
                let unread = seen.map_or(0, |seen| (appended - seen).max(0));
                found.push(row(jid, true, unread, mentions, stanza_id, ts, stanza, with));
            }
        }
        if !unmarked.is_empty() {
            self.mark_rooms(account, &unmarked).await?;
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.last.as_ref().map_or(i64::MIN, |l| l.ts)));
        found.truncate(limit);
        Ok(found)
    }

    /// The account's chats with unread messages or in `open`, newest first.
    async fn chats(&self, account: &str, open: &[String], limit: usize) -> Result<Vec<UnreadRow>, StorageError> {
        let open = &open[..open.len().min(ROOMS_PER_QUERY)];
        let listed = match open.len() {
            0 => String::new(),
            n => format!(" OR c.with_jid IN ({})", placeholders(3, n)),
        };
        let sql = format!(
            "SELECT c.with_jid, c.appended - COALESCE(m.seen, 0), COALESCE(m.mentions, 0), m.seen, \
             a.stanza_id, a.ts, a.stanza, a.with_jid \
             FROM archive_count c \
             LEFT JOIN unread_mark m ON m.owner = c.owner AND m.archive = c.owner AND m.with_jid = c.with_jid \
             LEFT JOIN archive a ON a.id = c.last_id \
             WHERE c.owner = $1 AND c.with_jid <> '' AND (c.appended > COALESCE(m.seen, 0){listed}) \
             ORDER BY c.last_id DESC LIMIT $2"
        );
        let rows: Vec<OverviewRow> = on_pool!(self.db, |p| {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.clone())).bind(account).bind(limit as i64);
            for jid in open {
                q = q.bind(jid);
            }
            q.fetch_all(p).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(jid, unread, mentions, _, stanza_id, ts, stanza, with)| {
                row(jid, false, unread.max(0), mentions, stanza_id, ts, stanza, with)
            })
            .collect())
    }

    /// Counting starts for `account` in the room `room` (bookmarked): its read position is
    /// the room's newest message, unless it has one already.
    pub async fn start_room(&self, account: &str, room: &str) -> Result<(), StorageError> {
        self.db.archive.settled().await?;
        const SQL: &str = "INSERT INTO unread_mark (owner, archive, with_jid, seen, mentions) \
            VALUES ($1, $2, '', COALESCE((SELECT appended FROM archive_count WHERE owner = $2 AND with_jid = ''), 0), 0) \
            ON CONFLICT (owner, archive, with_jid) DO NOTHING";
        on_pool!(write: self.db, |p| sqlx::query(SQL).bind(account).bind(room).execute(p).await.map(drop))?;
        Ok(())
    }

    /// Read positions at the newest message of rooms the account had none in.
    async fn mark_rooms(&self, account: &str, rooms: &[(String, i64)]) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO unread_mark (owner, archive, with_jid, seen, mentions) VALUES ($1, $2, '', $3, 0) \
            ON CONFLICT (owner, archive, with_jid) DO NOTHING";
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            for (room, appended) in rooms {
                sqlx::query(SQL).bind(account).bind(room).bind(appended).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    jid: String,
    room: bool,
    unread: i64,
    mentions: i64,
    stanza_id: Option<String>,
    ts: Option<i64>,
    stanza: Option<String>,
    with: Option<String>,
) -> UnreadRow {
    let last = match (stanza_id, ts, stanza, with) {
        (Some(stanza_id), Some(ts), Some(stanza), Some(with_jid)) => {
            Some(ArchiveRow { stanza_id, with_jid, ts, stanza })
        }
        _ => None,
    };
    UnreadRow { jid, room, unread, mentions, last }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, with: &str) -> ArchiveRow {
        ArchiveRow { stanza_id: id.into(), with_jid: with.into(), ts: 1, stanza: format!("<message id='{id}'/>") }
    }

    fn by(author: &str) -> Option<Marks> {
        Some(Marks { author: Some(author.into()), mentioned: Vec::new() })
    }

    fn mentioning(account: &str) -> Option<Marks> {
        Some(Marks { author: None, mentioned: vec![account.into()] })
    }

    /// `(jid, unread, mentions)` of each conversation in the overview.
    async fn counts(db: &Db, account: &str, open: &[&str], rooms: &[&str]) -> Vec<(String, i64, i64)> {
        let open: Vec<String> = open.iter().map(|s| s.to_string()).collect();
        let rooms: Vec<String> = rooms.iter().map(|s| s.to_string()).collect();
        let mut rows = db.unread().overview(account, &open, &rooms, 200).await.unwrap();
        rows.sort_by(|a, b| a.jid.cmp(&b.jid));
        rows.into_iter().map(|r| (r.jid, r.unread, r.mentions)).collect()
    }

    #[tokio::test]
    async fn chats_count_what_came_after_the_last_read_or_sent_message() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let a = db.archive();
        for i in 0..3 {
            a.append_marked("a@x", &msg(&format!("in{i}"), "b@x"), None).await.unwrap();
        }
        a.append_marked("a@x", &msg("in3", "b@x"), mentioning("a@x")).await.unwrap();
        assert_eq!(counts(&db, "a@x", &[], &[]).await, [("b@x".into(), 4, 1)]);
        // Displaying the second message leaves two, with the mention.
        assert!(db.unread().displayed("a@x", "b@x", "a@x", "in1").await.unwrap());
        assert_eq!(counts(&db, "a@x", &[], &[]).await, [("b@x".into(), 2, 1)]);
        assert!(!db.unread().displayed("a@x", "b@x", "a@x", "in0").await.unwrap(), "never back");
        assert!(!db.unread().displayed("a@x", "c@x", "a@x", "in2").await.unwrap(), "another chat's message");
        // Answering reads everything before the answer.
        a.append_marked("a@x", &msg("out0", "b@x"), by("a@x")).await.unwrap();
        assert!(counts(&db, "a@x", &[], &[]).await.is_empty(), "nothing unread, not open");
        assert_eq!(counts(&db, "a@x", &["b@x"], &[]).await, [("b@x".into(), 0, 0)]);
        let rows = db.unread().overview("a@x", &["b@x".into()], &[], 10).await.unwrap();
        assert_eq!(rows[0].last.as_ref().unwrap().stanza_id, "out0");
    }

    #[tokio::test]
    async fn rooms_count_from_the_first_look_and_follow_markers() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let a = db.archive();
        a.append_marked("r@m", &msg("old", "c@x"), None).await.unwrap();
        assert_eq!(counts(&db, "a@x", &[], &["r@m", "gone@m"]).await, [("r@m".into(), 0, 0)]);
        for i in 0..5 {
            a.append_marked("r@m", &msg(&format!("g{i}"), "c@x"), None).await.unwrap();
        }
        a.append_marked("r@m", &msg("g5", "c@x"), mentioning("a@x")).await.unwrap();
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), 6, 1)]);
        assert!(db.unread().displayed("a@x", "r@m", "r@m", "g2").await.unwrap());
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), 3, 1)]);
        // Retention does not change what is unread.
        assert_eq!(a.expire(2).await.unwrap(), 7);
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), 3, 1)]);
        a.append_marked("r@m", &msg("mine", "a@x"), by("a@x")).await.unwrap();
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), 0, 0)]);
        // Someone mentioned in a room they never looked at: unread from the mention on.
        assert_eq!(counts(&db, "d@x", &[], &["r@m"]).await, [("r@m".into(), 0, 0)]);
        a.append_marked("r@m", &msg("hey-e", "c@x"), mentioning("e@x")).await.unwrap();
        assert_eq!(counts(&db, "e@x", &[], &["r@m"]).await, [("r@m".into(), 1, 1)]);
        // A room destroyed takes its read positions and mentions along: made again, it
        // counts afresh.
        a.delete_owner("r@m").await.unwrap();
        assert!(counts(&db, "e@x", &[], &["r@m"]).await.is_empty());
        a.append_marked("r@m", &msg("again", "c@x"), None).await.unwrap();
        assert_eq!(counts(&db, "e@x", &[], &["r@m"]).await, [("r@m".into(), 0, 0)]);
        let crate::db::Pool::Sqlite { read, .. } = &db.pool else { unreachable!() };
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM unread_mention").fetch_one(read).await.unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn appends_committed_in_one_batch_number_their_messages_in_order() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        db.unread().start_room("a@x", "r@m").await.unwrap();
        // Concurrent appends meet in the SQLite writer's batches.
        let appends = (0..40).map(|i| {
            let db = db.clone();
            let marks = if i % 4 == 0 { mentioning("a@x") } else { None };
            tokio::spawn(async move { db.archive().append_marked("r@m", &msg(&format!("g{i}"), "b@x"), marks).await })
        });
        for append in appends.collect::<Vec<_>>() {
            assert!(append.await.unwrap().unwrap());
        }
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), 40, 10)]);
        // Displaying one in the middle leaves what was archived after it, with its mentions:
        // the numbers the batches gave agree with the archive's order.
        let crate::db::Pool::Sqlite { read, .. } = &db.pool else { unreachable!() };
        let order: Vec<(String,)> = sqlx::query_as("SELECT stanza_id FROM archive WHERE owner = 'r@m' ORDER BY id")
            .fetch_all(read)
            .await
            .unwrap();
        let after: Vec<&str> = order[20..].iter().map(|(id,)| id.as_str()).collect();
        let mentions = after.iter().filter(|id| id[1..].parse::<usize>().unwrap() % 4 == 0).count() as i64;
        assert!(db.unread().displayed("a@x", "r@m", "r@m", &order[19].0).await.unwrap());
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), 20, mentions)]);
    }

    #[tokio::test]
    async fn reads_and_mentions_of_one_batch_end_as_if_written_one_by_one() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        db.unread().start_room("a@x", "r@m").await.unwrap();
        // a@x writes every fifth message and is mentioned in every third, concurrently, so
        // several reads and mentions of the one position meet in a batch.
        let appends = (0..60).map(|i| {
            let db = db.clone();
            let marks = match i {
                i if i % 5 == 0 => by("a@x"),
                i if i % 3 == 0 => mentioning("a@x"),
                _ => None,
            };
            tokio::spawn(async move { db.archive().append_marked("r@m", &msg(&format!("g{i}"), "b@x"), marks).await })
        });
        for append in appends.collect::<Vec<_>>() {
            assert!(append.await.unwrap().unwrap());
        }
        let crate::db::Pool::Sqlite { read, .. } = &db.pool else { unreachable!() };
        let order: Vec<(String,)> = sqlx::query_as("SELECT stanza_id FROM archive WHERE owner = 'r@m' ORDER BY id")
            .fetch_all(read)
            .await
            .unwrap();
        let numbers: Vec<usize> = order.iter().map(|(id,)| id[1..].parse().unwrap()).collect();
        let last_own = numbers.iter().rposition(|i| i % 5 == 0).unwrap();
        let after = &numbers[last_own + 1..];
        let mentions = after.iter().filter(|i| *i % 5 != 0 && *i % 3 == 0).count() as i64;
        assert_eq!(counts(&db, "a@x", &[], &["r@m"]).await, [("r@m".into(), after.len() as i64, mentions)]);
    }

    #[test]
    fn a_batch_writes_the_furthest_read_then_the_mentions_after_it() {
        let read = |seq| Op::Read { account: "a".into(), archive: "r".into(), with: String::new(), seq };
        let mention = |seq| Op::Mention {
            account: "a".into(),
            archive: "r".into(),
            with: String::new(),
            seq,
            first_seen: seq - 1,
        };
        let other = Op::Read { account: "b".into(), archive: "r".into(), with: String::new(), seq: 2 };
        let ops = vec![mention(1), read(3), other.clone(), mention(4), read(5), mention(7)];
        assert_eq!(coalesce(ops), [read(5), other, mention(7)]);
    }

    #[tokio::test]
    async fn every_overview_statement_uses_an_index() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let crate::db::Pool::Sqlite { read: p, .. } = &db.pool else { unreachable!() };
        let chats = "EXPLAIN QUERY PLAN SELECT c.with_jid FROM archive_count c \
             LEFT JOIN unread_mark m ON m.owner = c.owner AND m.archive = c.owner AND m.with_jid = c.with_jid \
             LEFT JOIN archive a ON a.id = c.last_id \
             WHERE c.owner = $1 AND c.with_jid <> '' AND (c.appended > COALESCE(m.seen, 0) OR c.with_jid IN ($3)) \
             ORDER BY c.last_id DESC LIMIT $2";
        let rooms = "EXPLAIN QUERY PLAN SELECT c.owner FROM archive_count c \
             LEFT JOIN unread_mark m ON m.owner = $1 AND m.archive = c.owner AND m.with_jid = '' \
             LEFT JOIN archive a ON a.id = c.last_id WHERE c.with_jid = '' AND c.owner IN ($2, $3)";
        for sql in [chats, rooms] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sql).bind("a").bind("b").bind("c").fetch_all(p).await.unwrap();
            for (_, _, _, step) in plan {
                assert!(!step.starts_with("SCAN") || step.contains("USING"), "{sql}: {step}");
            }
        }
    }
}
