//! Accounts and their credentials.

use crate::cache::Written;
use crate::db::{BeginWrite, on_pool};
use crate::epoch;
use crate::{Db, StorageError};
use rhein_sasl::{Credentials, ScramHash, ScramKeys};

/// Repository of accounts (`db.accounts()`).
pub struct Accounts<'a> {
    pub(crate) db: &'a Db,
}

/// Binds the credential columns, in table order, after host and username.
macro_rules! bind_credentials {
    ($query:expr, $c:expr) => {
        $query
            .bind(&$c.salt)
            .bind($c.iterations as i32)
            .bind(&$c.sha1.stored_key)
            .bind(&$c.sha1.server_key)
            .bind($c.sha256.as_ref().map(|k| &k.stored_key))
            .bind($c.sha256.as_ref().map(|k| &k.server_key))
            .bind(&$c.argon2)
            .bind($c.sha512.as_ref().map(|k| &k.stored_key))
            .bind($c.sha512.as_ref().map(|k| &k.server_key))
    };
}
pub(crate) use bind_credentials;

/// Creates an account (binds host, username, the credentials, then the creation time); changes
/// nothing if it exists.
pub(crate) const INSERT: &str = "INSERT INTO account (host, username, salt, iterations, sha1_stored_key, \
    sha1_server_key, sha256_stored_key, sha256_server_key, argon2, sha512_stored_key, sha512_server_key, \
    created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (host, username) DO NOTHING";

/// A write of one statement on `account` and the epoch bump, in one transaction; yields
/// (rows changed, new epoch).
macro_rules! bumping_epoch {
    ($db:expr, $statement:expr) => {
        async {
            Ok(on_pool!(write: $db, |p| {
                let mut tx = p.begin_write().await?;
                let done = $statement.execute(&mut *tx).await?.rows_affected();
                let epoch: i64 = sqlx::query_scalar(epoch::BUMP).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                (done, epoch)
            }))
        }
    };
}

/// salt, iterations, the SHA-1 keys, the SHA-256 keys, argon2, the SHA-512 keys, disabled.
type CredRow =
    (Vec<u8>, i32, Vec<u8>, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>, String, Option<Vec<u8>>, Option<Vec<u8>>, bool);

/// A key set read from its two columns (both or neither, which the schema checks).
fn key_set(stored_key: Option<Vec<u8>>, server_key: Option<Vec<u8>>) -> Option<ScramKeys> {
    Some(ScramKeys { stored_key: stored_key?, server_key: server_key? })
}

impl Accounts<'_> {
    /// Creates an account; `false` if it already exists.
    pub async fn create(&self, host: &str, username: &str, c: &Credentials) -> Result<bool, StorageError> {
        let write = bumping_epoch!(
            self.db,
            bind_credentials!(sqlx::query(INSERT).bind(host).bind(username), c).bind(crate::now_ms())
        );
        self.written(&format!("{username}@{host}"), Written::Credentials, write).await
    }

    /// Replaces the credentials of an existing account; `false` if there is no such account.
    pub async fn set_credentials(&self, host: &str, username: &str, c: &Credentials) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE account SET salt = $3, iterations = $4, sha1_stored_key = $5, \
            sha1_server_key = $6, sha256_stored_key = $7, sha256_server_key = $8, argon2 = $9, \
            sha512_stored_key = $10, sha512_server_key = $11 WHERE host = $1 AND username = $2";
        let write = bumping_epoch!(self.db, bind_credentials!(sqlx::query(SQL).bind(host).bind(username), c));
        self.written(&format!("{username}@{host}"), Written::Credentials, write).await
    }

    /// Adds the keys of one hash to an account that lacks them (an XEP-0480 upgrade task),
    /// provided its password is still the one `creds` (as read before the login) has: a
    /// password changed meanwhile has all its keys already, which these would not fit.
    /// `false` if nothing was stored (no such account, or another password now).
    pub async fn add_scram_keys(
        &self,
        host: &str,
        username: &str,
        creds: &Credentials,
        hash: ScramHash,
        keys: &ScramKeys,
    ) -> Result<bool, StorageError> {
        let sql = match hash {
            // SHA-1 keys are always there.
            ScramHash::Sha1 => return Ok(false),
            ScramHash::Sha256 => {
                "UPDATE account SET sha256_stored_key = $3, sha256_server_key = $4 \
                 WHERE host = $1 AND username = $2 AND salt = $5 AND iterations = $6 AND sha1_stored_key = $7"
            }
            ScramHash::Sha512 => {
                "UPDATE account SET sha512_stored_key = $3, sha512_server_key = $4 \
                 WHERE host = $1 AND username = $2 AND salt = $5 AND iterations = $6 AND sha1_stored_key = $7"
            }
        };
        let write = bumping_epoch!(
            self.db,
            sqlx::query(sql)
                .bind(host)
                .bind(username)
                .bind(&keys.stored_key)
                .bind(&keys.server_key)
                .bind(&creds.salt)
                .bind(creds.iterations as i32)
                .bind(&creds.sha1.stored_key)
        );
        self.written(&format!("{username}@{host}"), Written::Credentials, write).await
    }

    /// Replaces an account's credentials with `completed` (the same password's, with key
    /// sets or the argon2 hash it lacked: see `Credentials::completed`), provided they are
    /// still `before`'s (as a login read them): a password changed meanwhile stays.
    /// `false` if nothing was stored.
    pub async fn complete_credentials(
        &self,
        host: &str,
        username: &str,
        before: &Credentials,
        completed: &Credentials,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE account SET salt = $3, iterations = $4, sha1_stored_key = $5, \
            sha1_server_key = $6, sha256_stored_key = $7, sha256_server_key = $8, argon2 = $9, \
            sha512_stored_key = $10, sha512_server_key = $11 \
            WHERE host = $1 AND username = $2 AND salt = $12 AND iterations = $13 AND sha1_stored_key = $14 \
            AND argon2 = $15";
        let write = bumping_epoch!(
            self.db,
            bind_credentials!(sqlx::query(SQL).bind(host).bind(username), completed)
                .bind(&before.salt)
                .bind(before.iterations as i32)
                .bind(&before.sha1.stored_key)
                .bind(&before.argon2)
        );
        self.written(&format!("{username}@{host}"), Written::Credentials, write).await
    }

    /// Deletes an account and everything stored for it; `false` if there was none.
    pub async fn delete(&self, host: &str, username: &str) -> Result<bool, StorageError> {
        let bare = format!("{username}@{host}");
        self.db.last_seen.forget(&bare);
        let write = async {
            Ok(on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                let n = sqlx::query("DELETE FROM account WHERE host = $1 AND username = $2")
                    .bind(host)
                    .bind(username)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM invite WHERE creator = $1").bind(&bare).execute(&mut *tx).await?;
                for table in crate::OWNED_TABLES {
                    let sql = format!("DELETE FROM {table} WHERE owner = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&bare).execute(&mut *tx).await?;
                }
                let epoch: i64 = sqlx::query_scalar(epoch::BUMP).fetch_one(&mut *tx).await?;
                if n == 1 {
                    let now = crate::now_ms();
                    sqlx::query(epoch::PRUNE_REMOVALS).bind(now).execute(&mut *tx).await?;
                    sqlx::query(epoch::RECORD_REMOVAL).bind(epoch).bind(&bare).bind(now).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                (n, epoch)
            }))
        };
        let removed = self.written(&bare, Written::All, write).await?;
        if removed {
            self.db.epoch.removed(&bare, &self.db.cache);
        }
        Ok(removed)
    }

    /// Runs a write of one account (which returns the rows it changed and the epoch it
    /// bumped); whether it changed one.
    async fn written(
        &self,
        account: &str,
        what: Written,
        write: impl Future<Output = Result<(u64, i64), StorageError>>,
    ) -> Result<bool, StorageError> {
        let (n, epoch) = self.db.cache.writing(account, what, write).await?;
        self.db.epoch.bumped_here(epoch);
        Ok(n == 1)
    }

    /// What verifies the account's password; `None` if there is no such account. Kept in
    /// memory once read, and so is the absence of an account.
    pub async fn credentials(&self, host: &str, username: &str) -> Result<Option<Credentials>, StorageError> {
        const SQL: &str = "SELECT salt, iterations, sha1_stored_key, sha1_server_key, sha256_stored_key, \
            sha256_server_key, argon2, sha512_stored_key, sha512_server_key, disabled FROM account \
            WHERE host = $1 AND username = $2";
        let account = format!("{username}@{host}");
        if let Some(kept) = self.db.cache.credentials(&account) {
            return Ok(kept);
        }
        let ticket = self.db.cache.ticket();
        let row: Option<CredRow> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(host).bind(username).fetch_optional(p).await)?;
        let found = row.map(|(salt, iterations, s1, k1, s256, k256, argon2, s512, k512, disabled)| Credentials {
            salt,
            iterations: iterations as u32,
            sha1: ScramKeys { stored_key: s1, server_key: k1 },
            sha256: key_set(s256, k256),
            sha512: key_set(s512, k512),
            argon2,
            disabled,
        });
        self.db.cache.fill_credentials(ticket, &account, found.as_ref());
        Ok(found)
    }

    pub async fn exists(&self, host: &str, username: &str) -> Result<bool, StorageError> {
        const SQL: &str = "SELECT 1 FROM account WHERE host = $1 AND username = $2";
        if self.db.cache.knows_account(&format!("{username}@{host}")) {
            return Ok(true);
        }
        let row: Option<(i32,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(host).bind(username).fetch_optional(p).await)?;
        Ok(row.is_some())
    }

    /// Disables an account or enables it again; `false` if there is no such account. A running
    /// server (this process or another) forgets the credentials it kept, so the next login
    /// sees the change.
    pub async fn set_disabled(&self, host: &str, username: &str, disabled: bool) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE account SET disabled = $3 WHERE host = $1 AND username = $2";
        let write = bumping_epoch!(self.db, sqlx::query(SQL).bind(host).bind(username).bind(disabled));
        self.written(&format!("{username}@{host}"), Written::Credentials, write).await
    }

    /// The disabled accounts of a host (usernames), sorted.
    pub async fn disabled(&self, host: &str) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT username FROM account WHERE host = $1 AND disabled ORDER BY username";
        let rows: Vec<(String,)> = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(host).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Whether the account is a server administrator (made one by an invite or `rhein user`).
    pub async fn is_admin(&self, host: &str, username: &str) -> Result<bool, StorageError> {
        const SQL: &str = "SELECT admin FROM account WHERE host = $1 AND username = $2";
        let row: Option<(bool,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(host).bind(username).fetch_optional(p).await)?;
        Ok(row.is_some_and(|(admin,)| admin))
    }

    /// Makes an account an administrator, or no longer one; `false` if there is no such account.
    pub async fn set_admin(&self, host: &str, username: &str, admin: bool) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE account SET admin = $3 WHERE host = $1 AND username = $2";
        let n = on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(host)
            .bind(username)
            .bind(admin)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Usernames of a host, sorted.
    pub async fn list(&self, host: &str) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT username FROM account WHERE host = $1 ORDER BY username";
        let rows: Vec<(String,)> = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(host).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Number of accounts over all hosts.
    pub async fn count(&self) -> Result<i64, StorageError> {
        let row: (i64,) = on_pool!(self.db, |p| sqlx::query_as("SELECT COUNT(*) FROM account").fetch_one(p).await)?;
        Ok(row.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_account_is_remembered_until_it_is_created() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let accounts = db.accounts();
        assert_eq!(accounts.credentials("x", "alice").await.unwrap(), None);
        assert_eq!(db.cache.credentials("alice@x"), Some(None), "the absence is kept, to answer as fast");
        assert!(!accounts.exists("x", "alice").await.unwrap());
        let creds = Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        assert!(accounts.create("x", "alice", &creds).await.unwrap());
        assert_eq!(accounts.credentials("x", "alice").await.unwrap(), Some(creds));
        assert!(accounts.delete("x", "alice").await.unwrap());
        assert_eq!(accounts.credentials("x", "alice").await.unwrap(), None);
    }

    /// Accounts from before SCRAM-SHA-512 (or made from SHA-1 keys only) are stored and
    /// read without those keys; an upgrade adds them, unless the password changed meanwhile.
    #[tokio::test]
    async fn key_sets_may_be_missing_until_an_upgrade_adds_them() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let accounts = db.accounts();
        let full = Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        let mut imported = full.clone();
        (imported.sha256, imported.sha512) = (None, None);
        assert!(accounts.create("x", "old", &imported).await.unwrap());
        assert_eq!(accounts.credentials("x", "old").await.unwrap(), Some(imported.clone()));
        let (sha256, sha512) = (full.sha256.clone().unwrap(), full.sha512.clone().unwrap());
        assert!(accounts.add_scram_keys("x", "old", &imported, ScramHash::Sha512, &sha512).await.unwrap());
        assert!(accounts.add_scram_keys("x", "old", &imported, ScramHash::Sha256, &sha256).await.unwrap());
        assert_eq!(accounts.credentials("x", "old").await.unwrap(), Some(full.clone()), "the cache was refreshed");

        // A password set after the login read the credentials: the upgrade's keys are stale.
        let mut before = full.clone();
        before.sha512 = None;
        let changed = Credentials::derive_scram("new", vec![2; 16], 1, String::new());
        assert!(accounts.set_credentials("x", "old", &changed).await.unwrap());
        assert!(!accounts.add_scram_keys("x", "old", &before, ScramHash::Sha512, &sha512).await.unwrap());
        assert_eq!(accounts.credentials("x", "old").await.unwrap(), Some(changed));
        assert!(!accounts.add_scram_keys("x", "nobody", &before, ScramHash::Sha512, &sha512).await.unwrap());
    }

    /// A PLAIN login completes an imported account, unless its password changed meanwhile.
    #[tokio::test]
    async fn imported_credentials_are_completed_once() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let accounts = db.accounts();
        let mut imported = Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        (imported.sha256, imported.sha512) = (None, None);
        assert!(accounts.create("x", "old", &imported).await.unwrap());
        let completed = imported.completed("pw").unwrap();
        assert!(accounts.complete_credentials("x", "old", &imported, &completed).await.unwrap());
        assert_eq!(accounts.credentials("x", "old").await.unwrap(), Some(completed.clone()));
        assert!(!accounts.complete_credentials("x", "old", &imported, &completed).await.unwrap(), "already done");
        let changed = Credentials::derive_scram("new", vec![2; 16], 1, String::new());
        assert!(accounts.set_credentials("x", "old", &changed).await.unwrap());
        assert!(!accounts.complete_credentials("x", "old", &completed, &completed).await.unwrap());
        assert_eq!(accounts.credentials("x", "old").await.unwrap(), Some(changed));
    }

    /// A deletion by another process (the command line) reaches a running server: the account
    /// is announced, and nothing the server kept of it (its roster) survives into an account
    /// created again under the same name.
    #[tokio::test]
    async fn deletions_by_another_process_are_announced_and_forgotten() {
        let dir = std::env::temp_dir().join(format!("rhein-removed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("db.sqlite").display());
        let (server, command_line) = (Db::connect(&url).await.unwrap(), Db::connect(&url).await.unwrap());
        let creds = Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        assert!(server.accounts().create("x", "alice", &creds).await.unwrap());
        server.roster().upsert("alice@x", &crate::RosterRow::new("bob@x")).await.unwrap();
        assert_eq!(server.roster().len("alice@x").await.unwrap(), 1, "kept in memory");
        let mut removed = server.removed_accounts();
        tokio::time::sleep(crate::ACCOUNT_CHANGES_SETTLE).await;

        assert!(command_line.accounts().delete("x", "alice").await.unwrap());
        assert!(command_line.accounts().create("x", "alice", &creds).await.unwrap());
        let announced = tokio::time::timeout(crate::ACCOUNT_CHANGES_SETTLE * 2, removed.recv()).await;
        assert_eq!(announced.unwrap().unwrap(), "alice@x");
        assert_eq!(server.roster().len("alice@x").await.unwrap(), 0, "the new alice starts empty");

        // A deletion here is announced at once, and only once.
        assert!(server.accounts().delete("x", "alice").await.unwrap());
        assert_eq!(removed.try_recv().unwrap(), "alice@x");
        tokio::time::sleep(crate::ACCOUNT_CHANGES_SETTLE).await;
        assert!(removed.try_recv().is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
