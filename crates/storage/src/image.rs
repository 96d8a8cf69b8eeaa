//! Everything stored for one owner (an account, a room, a channel or other service entity)
//! read as one value, and written back as one: what export and import work with.
//!
//! Writing replaces the owner whole, in one transaction: its rows in every owned table are
//! deleted and the image's inserted, so importing the same image twice leaves the same state
//! and a failure leaves the owner as it was. What images do not carry (push registrations,
//! FAST tokens) goes with the rows replaced.

use crate::cache::Written;
use crate::db::{BeginRead, BeginWrite, on_pool};
use crate::roster::{Row as RosterCols, from_row};
use crate::{
    AffiliationRow, ArchiveDefault, ArchivePrefs, ArchiveRow, Db, ItemRow, OfflineMessage, RoomRow, RosterRow,
    StorageError, epoch,
};
use rhein_pubsub::{Affiliation, SubOptions, SubState, Subscription};
use rhein_sasl::{Credentials, ScramKeys};

/// An account's row besides its owner: credentials and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountImage {
    pub host: String,
    pub username: String,
    pub credentials: Credentials,
    pub admin: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// A room's row and its affiliations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomImage {
    pub row: RoomRow,
    pub affiliations: Vec<AffiliationRow>,
}

/// One stored document (`account_data`): vCards, private XML, memberships, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub kind: String,
    pub name: String,
    pub payload: String,
}

/// A pubsub node of the owner with its items (oldest first), affiliations and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImage {
    pub node: String,
    /// As the node's service stores it (JSON).
    pub config: String,
    pub items: Vec<ItemRow>,
    pub affiliations: Vec<(String, Affiliation)>,
    pub subscriptions: Vec<Subscription>,
}

/// What is stored for one owner (a bare JID, or a domain for a service), each list in a
/// canonical order: by contact, name or JID, or oldest first where order is the data's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerImage {
    pub owner: String,
    pub account: Option<AccountImage>,
    pub room: Option<RoomImage>,
    pub roster: Vec<RosterRow>,
    /// Subscription requests waiting: (contact, stanza).
    pub requests: Vec<(String, String)>,
    /// Oldest first.
    pub offline: Vec<OfflineMessage>,
    pub documents: Vec<Document>,
    pub blocklist: Vec<String>,
    /// Oldest first.
    pub archive: Vec<ArchiveRow>,
    pub archive_prefs: Option<ArchivePrefs>,
    /// (milliseconds since the epoch, status).
    pub last_activity: Option<(i64, String)>,
    pub nodes: Vec<NodeImage>,
}

impl OwnerImage {
    /// An image of `owner` with nothing in it.
    pub fn new(owner: impl Into<String>) -> Self {
        Self { owner: owner.into(), ..Self::default() }
    }

    /// Whether nothing is stored for the owner.
    pub fn is_empty(&self) -> bool {
        *self == Self::new(self.owner.clone())
    }
}

/// Reads and replaces owners whole (`db.images()`).
pub struct Images<'a> {
    pub(crate) db: &'a Db,
}

/// The tables whose rows belong to an owner: those `OWNED_TABLES` names, and rooms.
fn owners_sql() -> String {
    let mut parts: Vec<String> = crate::OWNED_TABLES.iter().map(|t| format!("SELECT owner FROM {t}")).collect();
    parts.push("SELECT jid FROM muc_room".into());
    parts.push("SELECT host FROM account".into());
    format!("{} ORDER BY 1", parts.join(" UNION "))
}

type AccountCols = (
    Vec<u8>,
    i32,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    bool,
    bool,
    i64,
);

fn key_set(stored_key: Option<Vec<u8>>, server_key: Option<Vec<u8>>) -> Option<ScramKeys> {
    Some(ScramKeys { stored_key: stored_key?, server_key: server_key? })
}

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Corrupt(format!("{what} {value:?}"))
}

impl Images<'_> {
    /// Every owner something is stored for (account JIDs, rooms, channels, services, and
    /// hosts: for host-wide documents), sorted.
    pub async fn owners(&self) -> Result<Vec<String>, StorageError> {
        let sql = owners_sql();
        let rows: Vec<(String,)> =
            on_pool!(self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(o,)| o).collect())
    }

    /// The image of `owner` as stored now. For an account, `account` names its host and
    /// username (its row is read too); a room's row is read when there is one.
    pub async fn read(&self, owner: &str, account: Option<(&str, &str)>) -> Result<OwnerImage, StorageError> {
        const ACCOUNT: &str = "SELECT salt, iterations, sha1_stored_key, sha1_server_key, sha256_stored_key, \
            sha256_server_key, argon2, sha512_stored_key, sha512_server_key, disabled, admin, created_at \
            FROM account WHERE host = $1 AND username = $2";
        const ROOM: &str = "SELECT jid, config, subject, subject_by FROM muc_room WHERE jid = $1";
        const ROOM_AFFILIATIONS: &str =
            "SELECT jid, affiliation, nick, reason FROM muc_affiliation WHERE room = $1 ORDER BY jid";
        const ROSTER: &str = "SELECT contact, name, subscription, ask, approved, groups_json FROM roster_item \
            WHERE owner = $1 ORDER BY contact";
        const REQUESTS: &str = "SELECT contact, stanza FROM subscription_request WHERE owner = $1 ORDER BY contact";
        const OFFLINE: &str = "SELECT stamp, stanza FROM offline_message WHERE owner = $1 ORDER BY id";
        const DOCUMENTS: &str = "SELECT kind, name, payload FROM account_data WHERE owner = $1 ORDER BY kind, name";
        const BLOCKLIST: &str = "SELECT blocked FROM blocklist WHERE owner = $1 ORDER BY blocked";
        const ARCHIVE: &str = "SELECT stanza_id, with_jid, ts, stanza FROM archive WHERE owner = $1 ORDER BY id";
        const PREFS: &str = "SELECT default_mode, always_json, never_json FROM archive_prefs WHERE owner = $1";
        const LAST: &str = "SELECT stamp, status FROM last_activity WHERE owner = $1";
        const NODES: &str = "SELECT node, config FROM pubsub_node WHERE owner = $1 ORDER BY node";
        const ITEMS: &str =
            "SELECT item_id, publisher, payload FROM pubsub_item WHERE owner = $1 AND node = $2 ORDER BY seq";
        const AFFILIATIONS: &str =
            "SELECT jid, affiliation FROM pubsub_affiliation WHERE owner = $1 AND node = $2 ORDER BY jid";
        const SUBSCRIPTIONS: &str = "SELECT jid, subid, state, options FROM pubsub_subscription \
            WHERE owner = $1 AND node = $2 ORDER BY jid";

        type NodeRows = Vec<(
            String,
            String,
            Vec<(String, String, String)>,
            Vec<(String, String)>,
            Vec<(String, String, String, String)>,
        )>;
        #[allow(clippy::type_complexity)]
        let (
            account_row,
            room_row,
            room_affiliations,
            roster,
            requests,
            offline,
            documents,
            blocklist,
            archive,
            prefs,
            last,
            nodes,
        ): (
            Option<AccountCols>,
            Option<(String, String, String, String)>,
            Vec<(String, String, String, String)>,
            Vec<RosterCols>,
            Vec<(String, String)>,
            Vec<(i64, String)>,
            Vec<(String, String, String)>,
            Vec<(String,)>,
            Vec<(String, String, i64, String)>,
            Option<(String, String, String)>,
            Option<(i64, String)>,
            NodeRows,
        ) = on_pool!(self.db, |p| {
            // One snapshot: an export of a running server's account is consistent.
            let mut tx = p.begin_read().await?;
            let account_row = match account {
                Some((host, username)) => {
                    sqlx::query_as(ACCOUNT).bind(host).bind(username).fetch_optional(&mut *tx).await?
                }
                None => None,
            };
            let room_row = sqlx::query_as(ROOM).bind(owner).fetch_optional(&mut *tx).await?;
            let room_affiliations = sqlx::query_as(ROOM_AFFILIATIONS).bind(owner).fetch_all(&mut *tx).await?;
            let roster = sqlx::query_as(ROSTER).bind(owner).fetch_all(&mut *tx).await?;
            let requests = sqlx::query_as(REQUESTS).bind(owner).fetch_all(&mut *tx).await?;
            let offline = sqlx::query_as(OFFLINE).bind(owner).fetch_all(&mut *tx).await?;
            let documents = sqlx::query_as(DOCUMENTS).bind(owner).fetch_all(&mut *tx).await?;
            let blocklist = sqlx::query_as(BLOCKLIST).bind(owner).fetch_all(&mut *tx).await?;
            let archive = sqlx::query_as(ARCHIVE).bind(owner).fetch_all(&mut *tx).await?;
            let prefs = sqlx::query_as(PREFS).bind(owner).fetch_optional(&mut *tx).await?;
            let last = sqlx::query_as(LAST).bind(owner).fetch_optional(&mut *tx).await?;
            let node_rows: Vec<(String, String)> = sqlx::query_as(NODES).bind(owner).fetch_all(&mut *tx).await?;
            let mut nodes = Vec::with_capacity(node_rows.len());
            for (node, config) in node_rows {
                let items = sqlx::query_as(ITEMS).bind(owner).bind(&node).fetch_all(&mut *tx).await?;
                let affiliations = sqlx::query_as(AFFILIATIONS).bind(owner).bind(&node).fetch_all(&mut *tx).await?;
                let subscriptions = sqlx::query_as(SUBSCRIPTIONS).bind(owner).bind(&node).fetch_all(&mut *tx).await?;
                nodes.push((node, config, items, affiliations, subscriptions));
            }
            tx.commit().await?;
            (
                account_row,
                room_row,
                room_affiliations,
                roster,
                requests,
                offline,
                documents,
                blocklist,
                archive,
                prefs,
                last,
                nodes,
            )
        });

        let account = match (account, account_row) {
            (Some((host, username)), Some(cols)) => {
                let (salt, iterations, s1, k1, s256, k256, argon2, s512, k512, disabled, admin, created_at) = cols;
                Some(AccountImage {
                    host: host.to_owned(),
                    username: username.to_owned(),
                    credentials: Credentials {
                        salt,
                        iterations: iterations as u32,
                        sha1: ScramKeys { stored_key: s1, server_key: k1 },
                        sha256: key_set(s256, k256),
                        sha512: key_set(s512, k512),
                        argon2,
                        disabled,
                    },
                    admin,
                    created_at,
                })
            }
            _ => None,
        };
        let room = room_row
            .map(|(jid, config, subject, subject_by)| -> Result<RoomImage, StorageError> {
                let affiliations = room_affiliations
                    .into_iter()
                    .map(|(jid, affiliation, nick, reason)| {
                        Ok(AffiliationRow { jid, affiliation: affiliation.parse()?, nick, reason })
                    })
                    .collect::<Result<_, StorageError>>()?;
                Ok(RoomImage { row: RoomRow { jid, config, subject, subject_by }, affiliations })
            })
            .transpose()?;
        let archive_prefs = prefs
            .map(|(default_mode, always, never)| -> Result<ArchivePrefs, StorageError> {
                let list = |s: &str| serde_json::from_str(s).map_err(|e| corrupt("archive prefs", &e.to_string()));
                Ok(ArchivePrefs {
                    default_mode: default_mode.parse::<ArchiveDefault>()?,
                    always: list(&always)?,
                    never: list(&never)?,
                })
            })
            .transpose()?;
        let nodes = nodes
            .into_iter()
            .map(|(node, config, items, affiliations, subscriptions)| {
                let items =
                    items.into_iter().map(|(id, publisher, payload)| ItemRow { id, publisher, payload }).collect();
                let affiliations = affiliations
                    .into_iter()
                    .map(|(jid, a)| {
                        Affiliation::parse(&a).map(|a| (jid, a)).ok_or_else(|| corrupt("pubsub affiliation", &a))
                    })
                    .collect::<Result<_, _>>()?;
                let subscriptions = subscriptions
                    .into_iter()
                    .map(|(jid, subid, state, options)| {
                        let state =
                            SubState::parse(&state).ok_or_else(|| corrupt("pubsub subscription state", &state))?;
                        Ok(Subscription { jid, subid, state, options: SubOptions::from_json(&options) })
                    })
                    .collect::<Result<_, StorageError>>()?;
                Ok(NodeImage { node, config, items, affiliations, subscriptions })
            })
            .collect::<Result<_, StorageError>>()?;
        // A logout recorded in memory and not yet written is the newer one.
        let last_activity = self.db.last_seen.get(owner).or(last);
        Ok(OwnerImage {
            owner: owner.to_owned(),
            account,
            room,
            roster: roster.into_iter().map(from_row).collect::<Result<_, _>>()?,
            requests,
            offline: offline.into_iter().map(|(stamp, stanza)| OfflineMessage { stamp, stanza }).collect(),
            documents: documents.into_iter().map(|(kind, name, payload)| Document { kind, name, payload }).collect(),
            blocklist: blocklist.into_iter().map(|(b,)| b).collect(),
            archive: archive
                .into_iter()
                .map(|(stanza_id, with_jid, ts, stanza)| ArchiveRow { stanza_id, with_jid, ts, stanza })
                .collect(),
            archive_prefs,
            last_activity,
            nodes,
        })
    }

    /// Makes the stored owner exactly `image`, in one transaction: everything stored for it
    /// before is replaced (its account row updated, or created). The roster's version moves
    /// on, so clients holding an older roster fetch the new one.
    pub async fn replace(&self, image: &OwnerImage) -> Result<(), StorageError> {
        let owner = image.owner.as_str();
        self.db.last_seen.forget(owner);
        let write = async {
            on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                write_image(&mut tx, image).await?;
                let epoch: i64 = sqlx::query_scalar(epoch::BUMP).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok::<_, StorageError>(epoch)
            })
        };
        let epoch = self.db.cache.writing(owner, Written::All, write).await?;
        self.db.epoch.bumped_here(epoch);
        Ok(())
    }
}

/// The statements of [`Images::replace`], inside its transaction, for either backend.
macro_rules! write_image_body {
    ($tx:expr, $image:expr, $placeholders:expr) => {{
        let tx = $tx;
        let image: &OwnerImage = $image;
        let owner = image.owner.as_str();
        let now = crate::now_ms();
        let version: Option<(i64,)> = sqlx::query_as("SELECT version FROM roster_version WHERE owner = $1")
            .bind(owner)
            .fetch_optional(&mut **tx)
            .await?;
        for table in crate::OWNED_TABLES {
            let sql = format!("DELETE FROM {table} WHERE owner = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner).execute(&mut **tx).await?;
        }
        sqlx::query("DELETE FROM muc_room WHERE jid = $1").bind(owner).execute(&mut **tx).await?;
        if let Some(a) = &image.account {
            const UPSERT: &str = "INSERT INTO account (host, username, salt, iterations, sha1_stored_key, \
                sha1_server_key, sha256_stored_key, sha256_server_key, argon2, sha512_stored_key, \
                sha512_server_key, created_at, admin, disabled) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                ON CONFLICT (host, username) DO UPDATE SET salt = $3, iterations = $4, sha1_stored_key = $5, \
                sha1_server_key = $6, sha256_stored_key = $7, sha256_server_key = $8, argon2 = $9, \
                sha512_stored_key = $10, sha512_server_key = $11, created_at = $12, admin = $13, disabled = $14";
            let c = &a.credentials;
            crate::accounts::bind_credentials!(sqlx::query(UPSERT).bind(&a.host).bind(&a.username), c)
                .bind(a.created_at)
                .bind(a.admin)
                .bind(c.disabled)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(room) = &image.room {
            sqlx::query(
                "INSERT INTO muc_room (jid, config, subject, subject_by, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(owner)
            .bind(&room.row.config)
            .bind(&room.row.subject)
            .bind(&room.row.subject_by)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            for a in &room.affiliations {
                sqlx::query(
                    "INSERT INTO muc_affiliation (room, jid, affiliation, nick, reason) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(owner)
                .bind(&a.jid)
                .bind(a.affiliation.as_str())
                .bind(&a.nick)
                .bind(&a.reason)
                .execute(&mut **tx)
                .await?;
            }
        }
        for item in &image.roster {
            let groups = serde_json::to_string(&item.groups).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO roster_item (owner, contact, name, subscription, ask, approved, groups_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(owner)
            .bind(&item.contact)
            .bind(&item.name)
            .bind(item.subscription.as_str())
            .bind(item.ask)
            .bind(item.approved)
            .bind(&groups)
            .execute(&mut **tx)
            .await?;
        }
        if !image.roster.is_empty() || version.is_some() {
            let next = version.map_or(1, |(v,)| v + 1);
            sqlx::query("INSERT INTO roster_version (owner, version) VALUES ($1, $2)")
                .bind(owner)
                .bind(next)
                .execute(&mut **tx)
                .await?;
        }
        for (contact, stanza) in &image.requests {
            sqlx::query("INSERT INTO subscription_request (owner, contact, stanza) VALUES ($1, $2, $3)")
                .bind(owner)
                .bind(contact)
                .bind(stanza)
                .execute(&mut **tx)
                .await?;
        }
        for m in &image.offline {
            sqlx::query("INSERT INTO offline_message (owner, stamp, stanza) VALUES ($1, $2, $3)")
                .bind(owner)
                .bind(m.stamp)
                .bind(&m.stanza)
                .execute(&mut **tx)
                .await?;
        }
        for d in &image.documents {
            sqlx::query("INSERT INTO account_data (owner, kind, name, payload) VALUES ($1, $2, $3, $4)")
                .bind(owner)
                .bind(&d.kind)
                .bind(&d.name)
                .bind(&d.payload)
                .execute(&mut **tx)
                .await?;
        }
        for blocked in &image.blocklist {
            sqlx::query("INSERT INTO blocklist (owner, blocked) VALUES ($1, $2)")
                .bind(owner)
                .bind(blocked)
                .execute(&mut **tx)
                .await?;
        }
        let mut counts = crate::archive::Counts::default();
        for chunk in image.archive.chunks(crate::archive::MAX_ROWS_PER_INSERT) {
            let sql = crate::archive::insert_rows_sql(chunk.len(), "id, with_jid", $placeholders);
            let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                q = crate::archive::bind_row!(q, owner, row);
            }
            for (id, with) in q.fetch_all(&mut **tx).await? {
                counts.appended(owner, &with, id);
            }
        }
        {
            let conn = &mut **tx;
            crate::archive::write_counts!(counts, conn);
        }
        // Imported history counts as read, as migration 0019 had it for the archives it found:
        // the unread overview starts from what arrives after the move.
        sqlx::query(
            "INSERT INTO unread_mark (owner, archive, with_jid, seen, mentions) \
             SELECT owner, owner, with_jid, appended, 0 FROM archive_count WHERE owner = $1 AND with_jid <> '' \
             ON CONFLICT (owner, archive, with_jid) DO UPDATE SET seen = excluded.seen, mentions = 0",
        )
        .bind(owner)
        .execute(&mut **tx)
        .await?;
        if let Some(prefs) = &image.archive_prefs {
            let always = serde_json::to_string(&prefs.always).unwrap_or_else(|_| "[]".into());
            let never = serde_json::to_string(&prefs.never).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO archive_prefs (owner, default_mode, always_json, never_json) VALUES ($1, $2, $3, $4)",
            )
            .bind(owner)
            .bind(prefs.default_mode.as_str())
            .bind(&always)
            .bind(&never)
            .execute(&mut **tx)
            .await?;
        }
        if let Some((stamp, status)) = &image.last_activity {
            sqlx::query("INSERT INTO last_activity (owner, stamp, status) VALUES ($1, $2, $3)")
                .bind(owner)
                .bind(stamp)
                .bind(status)
                .execute(&mut **tx)
                .await?;
        }
        for node in &image.nodes {
            sqlx::query("INSERT INTO pubsub_node (owner, node, config, created_at) VALUES ($1, $2, $3, $4)")
                .bind(owner)
                .bind(&node.node)
                .bind(&node.config)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            for (seq, item) in node.items.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO pubsub_item (owner, node, item_id, seq, publisher, payload, published_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(owner)
                .bind(&node.node)
                .bind(&item.id)
                .bind(seq as i64 + 1)
                .bind(&item.publisher)
                .bind(&item.payload)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            for (jid, affiliation) in &node.affiliations {
                sqlx::query("INSERT INTO pubsub_affiliation (owner, node, jid, affiliation) VALUES ($1, $2, $3, $4)")
                    .bind(owner)
                    .bind(&node.node)
                    .bind(jid)
                    .bind(affiliation.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            for s in &node.subscriptions {
                sqlx::query(
                    "INSERT INTO pubsub_subscription (owner, node, jid, subid, state, options) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(owner)
                .bind(&node.node)
                .bind(&s.jid)
                .bind(&s.subid)
                .bind(s.state.as_str())
                .bind(s.options.to_json())
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok::<(), StorageError>(())
    }};
}

/// Writes an image inside a transaction of either backend (the body is the same SQL; the
/// transaction types differ, hence the macro).
trait WriteImage {
    fn write_image<'a>(
        &'a mut self,
        image: &'a OwnerImage,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'a;
}

impl WriteImage for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn write_image(&mut self, image: &OwnerImage) -> Result<(), StorageError> {
        write_image_body!(self, image, crate::db::Placeholders::Anonymous)
    }
}

impl WriteImage for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn write_image(&mut self, image: &OwnerImage) -> Result<(), StorageError> {
        write_image_body!(self, image, crate::db::Placeholders::Numbered)
    }
}

async fn write_image<T: WriteImage>(tx: &mut T, image: &OwnerImage) -> Result<(), StorageError> {
    tx.write_image(image).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RoomAffiliation, Subscription as RosterSubscription};

    fn sample(owner: &str) -> OwnerImage {
        let mut image = OwnerImage::new(owner);
        let (username, host) = owner.split_once('@').unwrap();
        image.account = Some(AccountImage {
            host: host.into(),
            username: username.into(),
            credentials: Credentials::derive_scram("pw", vec![7; 16], 1, "$argon2id$x".into()),
            admin: true,
            created_at: 1_000,
        });
        image.roster = vec![RosterRow {
            contact: "b@x".into(),
            name: Some("B".into()),
            subscription: RosterSubscription::Both,
            ask: false,
            approved: true,
            groups: vec!["g".into()],
        }];
        image.requests = vec![("c@x".into(), "<presence xmlns='jabber:client' type='subscribe' from='c@x'/>".into())];
        image.offline = vec![OfflineMessage { stamp: 5, stanza: "<message xmlns='jabber:client'/>".into() }];
        image.documents =
            vec![Document { kind: "vcard".into(), name: String::new(), payload: "<vCard xmlns='vcard-temp'/>".into() }];
        image.blocklist = vec!["spam@y".into()];
        image.archive = vec![
            ArchiveRow {
                stanza_id: "s1".into(),
                with_jid: "b@x".into(),
                ts: 10,
                stanza: "<message xmlns='jabber:client'/>".into(),
            },
            ArchiveRow {
                stanza_id: "s2".into(),
                with_jid: "c@x".into(),
                ts: 11,
                stanza: "<message xmlns='jabber:client'/>".into(),
            },
        ];
        image.archive_prefs =
            Some(ArchivePrefs { default_mode: ArchiveDefault::Roster, always: vec!["b@x".into()], never: vec![] });
        image.last_activity = Some((20, "bye".into()));
        image.nodes = vec![NodeImage {
            node: "urn:xmpp:bookmarks:1".into(),
            config: "{}".into(),
            items: vec![
                ItemRow { id: "z".into(), publisher: owner.into(), payload: "<p xmlns='t'/>".into() },
                ItemRow { id: "a".into(), publisher: owner.into(), payload: String::new() },
            ],
            affiliations: vec![("m@x".into(), Affiliation::Member)],
            subscriptions: vec![Subscription {
                jid: "m@x".into(),
                subid: "1".into(),
                state: SubState::Subscribed,
                options: SubOptions::default(),
            }],
        }];
        image
    }

    /// Replacing writes exactly the image, twice the same; what was there before is gone.
    #[tokio::test]
    async fn an_image_replaces_the_owner_whole_and_reads_back_as_written() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let creds = Credentials::derive_scram("old", vec![1; 16], 1, String::new());
        db.accounts().create("x", "a", &creds).await.unwrap();
        db.roster().upsert("a@x", &RosterRow::new("old@x")).await.unwrap();
        db.offline().push("a@x", 1, "<message xmlns='jabber:client'/>", 10).await.unwrap();

        let image = sample("a@x");
        db.images().replace(&image).await.unwrap();
        let read = db.images().read("a@x", Some(("x", "a"))).await.unwrap();
        assert_eq!(read, image);
        db.images().replace(&image).await.unwrap();
        assert_eq!(db.images().read("a@x", Some(("x", "a"))).await.unwrap(), image, "idempotent");
        assert_eq!(db.accounts().credentials("x", "a").await.unwrap(), Some(image.account.unwrap().credentials));
        assert_eq!(db.roster().len("a@x").await.unwrap(), 1, "the cached roster was dropped");
        assert_eq!(db.archive().query("a@x", &Default::default()).await.unwrap().unwrap().count, 2);
        assert!(db.images().owners().await.unwrap().contains(&"a@x".to_owned()));

        let mut room = OwnerImage::new("r@conference.x");
        room.room = Some(RoomImage {
            row: RoomRow {
                jid: "r@conference.x".into(),
                config: "{}".into(),
                subject: "s".into(),
                subject_by: "n".into(),
            },
            affiliations: vec![AffiliationRow {
                jid: "a@x".into(),
                affiliation: RoomAffiliation::Owner,
                nick: "A".into(),
                reason: String::new(),
            }],
        });
        db.images().replace(&room).await.unwrap();
        assert_eq!(db.images().read("r@conference.x", None).await.unwrap(), room);
        db.images().replace(&OwnerImage::new("r@conference.x")).await.unwrap();
        assert!(db.muc().room("r@conference.x").await.unwrap().is_none());
    }

    /// A write that fails part way (here on a duplicate roster row) leaves the owner as it
    /// was: nothing of the new image, nothing of the old one deleted.
    #[tokio::test]
    async fn a_failed_replace_changes_nothing() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let before = sample("a@x");
        db.images().replace(&before).await.unwrap();
        let mut broken = sample("a@x");
        broken.documents.clear();
        broken.roster.push(broken.roster[0].clone());
        assert!(db.images().replace(&broken).await.is_err());
        assert_eq!(db.images().read("a@x", Some(("x", "a"))).await.unwrap(), before);
    }
}
