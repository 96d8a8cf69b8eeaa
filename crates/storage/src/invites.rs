//! Invitations (XEP-0401 and the XEPs around it) and the registrations they allow.
//!
//! A token is made here, handed out once, and stored only as its SHA-256: tokens are 128 random
//! bits, so a fast hash is enough, and the database alone never lets anyone in. Using an invite
//! and creating the account it allows happen in one transaction, so the last use of an invite
//! goes to exactly one of two registrations racing for it.

use crate::cache::Written;
use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError, epoch};
use rhein_sasl::Credentials;
use sha2::{Digest, Sha256};

/// What an invite lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteKind {
    /// Create an account on the host (XEP-0401 account creation).
    Account,
    /// Become the creator's contact, and register here to do so if need be (a XEP-0401 user
    /// invitation with `ibr=y`).
    User,
    /// Only become the creator's contact (XEP-0379).
    Contact,
    /// Join a room and become its member (XEP-0488).
    Room,
}

stored_enum!(InviteKind, "invite kind", {
    Account => "account",
    User => "user",
    Contact => "contact",
    Room => "room",
});

impl InviteKind {
    /// Whether it lets its holder create an account.
    pub fn registers(self) -> bool {
        matches!(self, Self::Account | Self::User)
    }
}

/// An invite to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    pub host: String,
    /// The account that invites (a bare JID); `None` when the operator made it.
    pub creator: Option<String>,
    pub kind: InviteKind,
    /// How long it may be used, in milliseconds from now.
    pub valid_for_ms: i64,
    pub uses: u32,
    /// The only username it may register, reserved until it expires.
    pub username: Option<String>,
    /// Whether the creator and the one who uses it become mutual contacts.
    pub subscribe: bool,
    /// Roster groups the newcomer puts the creator in.
    pub groups: Vec<String>,
    /// Rooms (bare JIDs) the newcomer is made member of.
    pub rooms: Vec<String>,
    /// The account it creates is a server administrator.
    pub admin: bool,
    /// What it is for, in the operator's words (shown by `rhein invite list`).
    pub note: Option<String>,
}

/// The note of the invitation `rhein serve` prints for the first administrator; a new one
/// replaces the last.
pub const FIRST_ADMIN: &str = "first administrator";

impl NewInvite {
    /// A single-use invite of `kind` on `host`, valid for a week, with nothing else set.
    pub fn new(host: &str, kind: InviteKind) -> Self {
        Self {
            host: host.to_owned(),
            creator: None,
            kind,
            valid_for_ms: 7 * 24 * 3600 * 1000,
            uses: 1,
            username: None,
            subscribe: false,
            groups: Vec::new(),
            rooms: Vec::new(),
            admin: false,
            note: None,
        }
    }
}

/// A stored invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: String,
    pub host: String,
    pub creator: Option<String>,
    pub kind: InviteKind,
    pub created_at: i64,
    pub expires_at: i64,
    pub uses_left: u32,
    pub username: Option<String>,
    pub subscribe: bool,
    pub groups: Vec<String>,
    pub rooms: Vec<String>,
    pub admin: bool,
    pub revoked: bool,
    pub note: Option<String>,
}

impl Invite {
    /// Why it cannot be used at `now`, if it cannot.
    pub fn refusal(&self, now: i64) -> Option<Refused> {
        if self.revoked {
            Some(Refused::Revoked)
        } else if self.expires_at <= now {
            Some(Refused::Expired)
        } else if self.uses_left == 0 {
            Some(Refused::UsedUp)
        } else {
            None
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the invitation is not known")]
    Unknown,
    #[error("the invitation has expired")]
    Expired,
    #[error("the invitation has been used up")]
    UsedUp,
    #[error("the invitation has been revoked")]
    Revoked,
    #[error("the invitation is not for this")]
    WrongKind,
}

/// Why a registration did not create the account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRegistered {
    #[error("{0}")]
    Invite(Refused),
    #[error("the username is taken")]
    Taken,
    /// Another invite holds the name until it expires (XEP-0401 §5.2).
    #[error("the username is reserved")]
    Reserved,
    /// The invite names another username.
    #[error("this invitation is for the username {0}")]
    OtherName(String),
}

/// Repository of invites (`db.invites()`).
pub struct Invites<'a> {
    pub(crate) db: &'a Db,
}

const COLUMNS: &str = "id, host, creator, kind, created_at, expires_at, uses_left, username, subscribe, \
    groups_json, rooms_json, admin, revoked, note";

type InviteRow = (
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    i32,
    Option<String>,
    bool,
    String,
    String,
    bool,
    bool,
    Option<String>,
);

fn read(row: InviteRow) -> Result<Invite, StorageError> {
    let (
        id,
        host,
        creator,
        kind,
        created_at,
        expires_at,
        uses_left,
        username,
        subscribe,
        groups,
        rooms,
        admin,
        revoked,
        note,
    ) = row;
    let list = |json: &str| {
        serde_json::from_str::<Vec<String>>(json).map_err(|e| StorageError::Corrupt(format!("invite {id}: {e}")))
    };
    Ok(Invite {
        kind: kind.parse()?,
        groups: list(&groups)?,
        rooms: list(&rooms)?,
        uses_left: uses_left.max(0) as u32,
        id,
        host,
        creator,
        created_at,
        expires_at,
        username,
        subscribe,
        admin,
        revoked,
        note,
    })
}

/// A found invite if it can be used now and is `for_this`, or why not.
fn usable(found: Option<Invite>, for_this: impl Fn(&Invite) -> bool) -> Result<Invite, Refused> {
    let invite = found.ok_or(Refused::Unknown)?;
    match invite.refusal(crate::now_ms()) {
        Some(refused) => Err(refused),
        None if !for_this(&invite) => Err(Refused::WrongKind),
        None => Ok(invite),
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// `bytes` random bytes, in lowercase hex.
fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Consumes one use of the invite whose token hashes to `hash`, if it may be used, in the
/// transaction `$tx`; yields the invite as it was or why not. On PostgreSQL the conditional
/// UPDATE waits for a concurrent one on the same row and checks again, on SQLite the write
/// lock already serialises: either way one use goes to one taker.
macro_rules! take_use {
    ($tx:expr, $hash:expr, $now:expr) => {
        async {
            let select = format!("SELECT {COLUMNS} FROM invite WHERE token_hash = $1");
            let row: Option<InviteRow> =
                sqlx::query_as(sqlx::AssertSqlSafe(select)).bind($hash).fetch_optional(&mut *$tx).await?;
            let Some(invite) = row.map(read).transpose()? else { return Ok(Err(Refused::Unknown)) };
            if let Some(refused) = invite.refusal($now) {
                return Ok(Err(refused));
            }
            let taken = sqlx::query(
                "UPDATE invite SET uses_left = uses_left - 1 \
                 WHERE token_hash = $1 AND uses_left > 0 AND NOT revoked AND expires_at > $2",
            )
            .bind($hash)
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            Ok::<_, StorageError>(if taken == 1 { Ok(invite) } else { Err(Refused::UsedUp) })
        }
    };
}

impl Invites<'_> {
    /// Stores a new invite; returns it with its token, which exists nowhere else after this.
    pub async fn create(&self, new: &NewInvite) -> Result<(Invite, String), StorageError> {
        let token = random_hex(16);
        let now = crate::now_ms();
        let invite = Invite {
            id: random_hex(6),
            host: new.host.clone(),
            creator: new.creator.clone(),
            kind: new.kind,
            created_at: now,
            expires_at: now.saturating_add(new.valid_for_ms),
            uses_left: new.uses,
            username: new.username.clone(),
            subscribe: new.subscribe,
            groups: new.groups.clone(),
            rooms: new.rooms.clone(),
            admin: new.admin,
            revoked: false,
            note: new.note.clone(),
        };
        let sql = format!(
            "INSERT INTO invite ({COLUMNS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        on_pool!(write: self.db, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&invite.id)
            .bind(&invite.host)
            .bind(&invite.creator)
            .bind(invite.kind.as_str())
            .bind(invite.created_at)
            .bind(invite.expires_at)
            .bind(invite.uses_left.min(i32::MAX as u32) as i32)
            .bind(&invite.username)
            .bind(invite.subscribe)
            .bind(json(&invite.groups))
            .bind(json(&invite.rooms))
            .bind(invite.admin)
            .bind(false)
            .bind(&invite.note)
            .bind(hash(&token))
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok((invite, token))
    }

    /// The invite a token names, whether or not it can still be used.
    pub async fn find(&self, token: &str) -> Result<Option<Invite>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM invite WHERE token_hash = $1");
        let row: Option<InviteRow> =
            on_pool!(self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(hash(token)).fetch_optional(p).await)?;
        row.map(read).transpose()
    }

    /// The invite a token names on `host` if it can be used now and registers accounts, or
    /// why not. Uses nothing. (An invite of another host is not known here.)
    pub async fn check_registration(&self, host: &str, token: &str) -> Result<Result<Invite, Refused>, StorageError> {
        let found = self.find(token).await?.filter(|i| i.host == host);
        Ok(usable(found, |i| i.kind.registers()))
    }

    /// Whether `username` is reserved on `host` by an invite that can still be used.
    pub async fn reserved(&self, host: &str, username: &str) -> Result<bool, StorageError> {
        const SQL: &str = "SELECT 1 FROM invite WHERE host = $1 AND username = $2 \
            AND NOT revoked AND uses_left > 0 AND expires_at > $3";
        let row: Option<(i32,)> = on_pool!(self.db, |p| sqlx::query_as(SQL)
            .bind(host)
            .bind(username)
            .bind(crate::now_ms())
            .fetch_optional(p)
            .await)?;
        Ok(row.is_some())
    }

    /// Consumes one use of a token if the invite it names is `for_this` (a contact invite of
    /// the account asked, a room's invite); the invite as it was before, or why it cannot be
    /// used (`WrongKind` when it is not for this, and then nothing is used).
    pub async fn take(
        &self,
        token: &str,
        for_this: impl Fn(&Invite) -> bool,
    ) -> Result<Result<Invite, Refused>, StorageError> {
        // Most tokens that come here are no use (guesses, spent ones): they are turned away
        // without the write lock.
        if let Err(refused) = usable(self.find(token).await?, &for_this) {
            return Ok(Err(refused));
        }
        let (hash, now) = (hash(token), crate::now_ms());
        Ok(on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            let taken = take_use!(tx, &hash, now).await?;
            match taken {
                Ok(invite) if !for_this(&invite) => Err(Refused::WrongKind),
                taken => {
                    tx.commit().await?;
                    taken
                }
            }
        }))
    }

    /// Invites of a host, newest first (used up, expired and revoked ones included).
    pub async fn list(&self, host: &str) -> Result<Vec<Invite>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM invite WHERE host = $1 ORDER BY created_at DESC, id");
        let rows: Vec<InviteRow> =
            on_pool!(self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(host).fetch_all(p).await)?;
        rows.into_iter().map(read).collect()
    }

    /// Revokes an invite by id; `false` if there is none (or it was revoked already).
    pub async fn revoke(&self, id: &str) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE invite SET revoked = TRUE WHERE id = $1 AND NOT revoked";
        let n = on_pool!(write: self.db, |p| sqlx::query(SQL).bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Revokes the first-admin links printed before ([`FIRST_ADMIN`]): a fresh one replaces
    /// them at each start while the server has no account.
    pub async fn revoke_first_admin(&self, host: &str) -> Result<u64, StorageError> {
        const SQL: &str = "UPDATE invite SET revoked = TRUE WHERE host = $1 AND creator IS NULL AND admin \
            AND note = $2 AND NOT revoked";
        Ok(
            on_pool!(write: self.db, |p| sqlx::query(SQL).bind(host).bind(FIRST_ADMIN).execute(p).await?.rows_affected()),
        )
    }

    /// Creates `username@host` with `credentials`: with `token`, as an account invite allows
    /// (one use of it taken in the same transaction), or without one (open registration).
    /// A name reserved by another invite is refused either way. Returns the invite used.
    pub async fn register(
        &self,
        host: &str,
        username: &str,
        credentials: &Credentials,
        token: Option<&str>,
    ) -> Result<Result<Option<Invite>, NotRegistered>, StorageError> {
        let (hash, now) = (token.map(hash), crate::now_ms());
        let account = format!("{username}@{host}");
        let write = async {
            Ok(on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                let invite = match &hash {
                    None => None,
                    Some(hash) => match take_use!(tx, hash, now).await? {
                        // An invite of another host is not known here.
                        Ok(invite) if invite.host != host => {
                            return Ok((Err(NotRegistered::Invite(Refused::Unknown)), None));
                        }
                        Ok(invite) if !invite.kind.registers() => {
                            return Ok((Err(NotRegistered::Invite(Refused::WrongKind)), None));
                        }
                        Ok(invite) => Some(invite),
                        Err(refused) => return Ok((Err(NotRegistered::Invite(refused)), None)),
                    },
                };
                // The first-admin link is for a server without accounts only.
                if invite.as_ref().is_some_and(|i| i.note.as_deref() == Some(FIRST_ADMIN)) {
                    let any: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM account WHERE host = $1 LIMIT 1")
                        .bind(host)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if any.is_some() {
                        return Ok((Err(NotRegistered::Invite(Refused::UsedUp)), None));
                    }
                }
                match invite.as_ref().and_then(|i| i.username.as_deref()) {
                    Some(name) if name != username => {
                        return Ok((Err(NotRegistered::OtherName(name.to_owned())), None));
                    }
                    _ => {}
                }
                let reserved: Option<(i32,)> = sqlx::query_as(
                    "SELECT 1 FROM invite WHERE host = $1 AND username = $2 AND token_hash <> $3 \
                     AND NOT revoked AND uses_left > 0 AND expires_at > $4",
                )
                .bind(host)
                .bind(username)
                .bind(hash.clone().unwrap_or_default())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if reserved.is_some() {
                    return Ok((Err(NotRegistered::Reserved), None));
                }
                let insert = sqlx::query(crate::accounts::INSERT).bind(host).bind(username);
                let created = crate::accounts::bind_credentials!(insert, credentials)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if created == 0 {
                    return Ok((Err(NotRegistered::Taken), None));
                }
                if invite.as_ref().is_some_and(|i| i.admin) {
                    sqlx::query("UPDATE account SET admin = TRUE WHERE host = $1 AND username = $2")
                        .bind(host)
                        .bind(username)
                        .execute(&mut *tx)
                        .await?;
                }
                let epoch: i64 = sqlx::query_scalar(epoch::BUMP).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                (Ok(invite), Some(epoch))
            }))
        };
        let (outcome, epoch) = self.db.cache.writing(&account, Written::Credentials, write).await?;
        if let Some(epoch) = epoch {
            self.db.epoch.bumped_here(epoch);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::derive_scram("pw", vec![1; 16], 1, String::new())
    }

    #[tokio::test]
    async fn a_token_registers_once_and_is_stored_only_hashed() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let (invite, token) = db.invites().create(&NewInvite::new("x", InviteKind::Account)).await.unwrap();
        assert_eq!(token.len(), 32, "128 bits");
        let stored: Vec<(Vec<u8>,)> =
            on_pool!(db, |p| sqlx::query_as("SELECT token_hash FROM invite").fetch_all(p).await).unwrap();
        assert_eq!(stored, vec![(hash(&token),)]);

        let elsewhere = db.invites().register("y", "carol", &creds(), Some(&token)).await.unwrap();
        assert_eq!(elsewhere, Err(NotRegistered::Invite(Refused::Unknown)), "an invite is for its own host");
        let used = db.invites().register("x", "carol", &creds(), Some(&token)).await.unwrap().unwrap();
        assert_eq!(used.map(|i| i.id), Some(invite.id));
        assert!(db.accounts().exists("x", "carol").await.unwrap());
        let again = db.invites().register("x", "dave", &creds(), Some(&token)).await.unwrap();
        assert_eq!(again, Err(NotRegistered::Invite(Refused::UsedUp)));
        assert!(!db.accounts().exists("x", "dave").await.unwrap());
    }

    #[tokio::test]
    async fn refusals_say_why() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let invites = db.invites();
        let register = |token: &str| {
            let token = token.to_owned();
            let db = db.clone();
            async move { db.invites().register("x", "carol", &creds(), Some(&token)).await.unwrap() }
        };
        assert_eq!(register("nope").await, Err(NotRegistered::Invite(Refused::Unknown)));

        let expired = NewInvite { valid_for_ms: -1, ..NewInvite::new("x", InviteKind::Account) };
        let (_, token) = invites.create(&expired).await.unwrap();
        assert_eq!(register(&token).await, Err(NotRegistered::Invite(Refused::Expired)));

        let (revoked, token) = invites.create(&NewInvite::new("x", InviteKind::Account)).await.unwrap();
        assert!(invites.revoke(&revoked.id).await.unwrap());
        assert_eq!(register(&token).await, Err(NotRegistered::Invite(Refused::Revoked)));

        let (_, token) = invites.create(&NewInvite::new("x", InviteKind::Contact)).await.unwrap();
        assert_eq!(register(&token).await, Err(NotRegistered::Invite(Refused::WrongKind)));
        let contact = |i: &Invite| i.kind == InviteKind::Contact;
        assert_eq!(invites.take(&token, |_| false).await.unwrap(), Err(Refused::WrongKind), "nothing used");
        assert_eq!(invites.take(&token, contact).await.unwrap().map(|i| i.kind), Ok(InviteKind::Contact));
        assert_eq!(invites.take(&token, contact).await.unwrap(), Err(Refused::UsedUp));

        let named = NewInvite { username: Some("juliet".into()), ..NewInvite::new("x", InviteKind::Account) };
        let (_, token) = invites.create(&named).await.unwrap();
        assert_eq!(register(&token).await, Err(NotRegistered::OtherName("juliet".into())));
        assert_eq!(
            db.invites().register("x", "juliet", &creds(), None).await.unwrap(),
            Err(NotRegistered::Reserved),
            "reserved for the invite until it expires"
        );
        let used = db.invites().register("x", "juliet", &creds(), Some(&token)).await.unwrap();
        assert!(used.is_ok());
        let usable = invites.list("x").await.unwrap().into_iter().filter(|i| i.refusal(crate::now_ms()).is_none());
        assert_eq!(usable.count(), 0);
    }

    #[tokio::test]
    async fn a_taken_name_keeps_the_invite_unused_and_admins_are_marked() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        assert!(db.accounts().create("x", "alice", &creds()).await.unwrap());
        let admin = NewInvite { admin: true, ..NewInvite::new("x", InviteKind::Account) };
        let (_, token) = db.invites().create(&admin).await.unwrap();
        assert_eq!(
            db.invites().register("x", "alice", &creds(), Some(&token)).await.unwrap(),
            Err(NotRegistered::Taken)
        );
        assert!(!db.accounts().is_admin("x", "alice").await.unwrap());
        assert!(db.invites().register("x", "root", &creds(), Some(&token)).await.unwrap().is_ok());
        assert!(db.accounts().is_admin("x", "root").await.unwrap());
        assert!(db.accounts().credentials("x", "root").await.unwrap().is_some(), "logins see it at once");
    }
}
