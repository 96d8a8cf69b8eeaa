//! Embedded migrations, one folder per backend with the same versions (a test checks it).
//! Each migration runs in its own transaction together with its bookkeeping row.

use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};
use sqlx::AssertSqlSafe;

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            sqlite: include_str!(concat!("../../../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../../../migrations/postgres/", $file)),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_core.sql"),
    migration!(2, "0002_account_data.sql"),
    migration!(3, "0003_archive.sql"),
    migration!(4, "0004_push.sql"),
    migration!(5, "0005_fast.sql"),
    migration!(6, "0006_pubsub.sql"),
    migration!(7, "0007_archive_indexes.sql"),
    migration!(8, "0008_muc.sql"),
    migration!(9, "0009_muc_push.sql"),
    migration!(10, "0010_upload.sql"),
    migration!(11, "0011_push_body.sql"),
    migration!(12, "0012_fast_count.sql"),
    migration!(13, "0013_archive_count.sql"),
    migration!(14, "0014_account_epoch.sql"),
    migration!(15, "0015_account_removed.sql"),
    migration!(16, "0016_invites.sql"),
    migration!(17, "0017_account_disabled.sql"),
    migration!(18, "0018_pubsub_subscriptions.sql"),
    migration!(19, "0019_unread.sql"),
    migration!(20, "0020_scram_sha512.sql"),
];

/// Whether this version of Rhein has a migration of that version (a backup from a newer one
/// has some it does not).
pub(crate) fn knows(version: i64) -> bool {
    MIGRATIONS.iter().any(|m| m.version == version)
}

const BOOKKEEPING: &str =
    "CREATE TABLE IF NOT EXISTS rhein_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

pub(crate) async fn run(db: &Db) -> Result<(), StorageError> {
    // Serialises processes migrating at once (a server and `rhein user add`); SQLite's
    // immediate transaction does that by itself.
    let lock = match db.pool {
        crate::db::Pool::Sqlite { .. } => None,
        crate::db::Pool::Postgres(_) => Some("SELECT pg_advisory_xact_lock(7302447283)"),
    };
    let applied: Vec<(i64,)> = on_pool!(write: db, |p| {
        let mut tx = p.begin_write().await?;
        if let Some(lock) = lock {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        sqlx::raw_sql(BOOKKEEPING).execute(&mut *tx).await?;
        let applied = sqlx::query_as("SELECT version FROM rhein_schema").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        applied
    });
    for m in MIGRATIONS.iter().filter(|m| !applied.iter().any(|(v,)| *v == m.version)) {
        let sql = match db.pool {
            crate::db::Pool::Sqlite { .. } => m.sqlite,
            crate::db::Pool::Postgres(_) => m.postgres,
        };
        let fail = |source| StorageError::Migration { version: m.version, source };
        let applied_now = on_pool!(write: db, |p| {
            let mut tx = p.begin_write().await.map_err(fail)?;
            if let Some(lock) = lock {
                sqlx::query(lock).execute(&mut *tx).await.map_err(fail)?;
            }
            // Another process may have applied it while this one waited for the lock.
            let done: Option<(i64,)> = sqlx::query_as("SELECT version FROM rhein_schema WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(fail)?;
            if done.is_none() {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(fail)?;
                sqlx::query("INSERT INTO rhein_schema (version, applied_at) VALUES ($1, $2)")
                    .bind(m.version)
                    .bind(crate::now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
            }
            tx.commit().await.map_err(fail)?;
            done.is_none()
        });
        if applied_now {
            tracing::info!(version = m.version, backend = db.backend(), "applied migration");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &str) -> Vec<String> {
        let path = format!("{}/../../migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
        let mut v: Vec<String> =
            std::fs::read_dir(path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    /// 0020 rebuilds SQLite's `account` table (SQLite cannot drop NOT NULL): an account made
    /// before it keeps every column, and reads back without SCRAM-SHA-512 keys.
    #[tokio::test]
    async fn accounts_from_before_scram_sha512_keep_their_keys() {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let dir = std::env::temp_dir().join(format!("rhein-migrate-0020-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("db.sqlite").display());
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let mut conn = opts.connect().await.unwrap();
        sqlx::raw_sql(BOOKKEEPING).execute(&mut conn).await.unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.version < 20) {
            sqlx::raw_sql(AssertSqlSafe(m.sqlite)).execute(&mut conn).await.unwrap();
            sqlx::query("INSERT INTO rhein_schema (version, applied_at) VALUES ($1, 0)")
                .bind(m.version)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let old = rhein_sasl::Credentials::derive_scram("pw", vec![1; 16], 4096, "$argon2id$x".into());
        sqlx::query(
            "INSERT INTO account (host, username, salt, iterations, sha1_stored_key, sha1_server_key, \
             sha256_stored_key, sha256_server_key, argon2, created_at, admin, disabled) \
             VALUES ('x', 'alice', $1, 4096, $2, $3, $4, $5, $6, 7, TRUE, TRUE)",
        )
        .bind(&old.salt)
        .bind(&old.sha1.stored_key)
        .bind(&old.sha1.server_key)
        .bind(&old.sha256.as_ref().unwrap().stored_key)
        .bind(&old.sha256.as_ref().unwrap().server_key)
        .bind(&old.argon2)
        .execute(&mut conn)
        .await
        .unwrap();
        drop(conn);

        let db = Db::connect(&url).await.unwrap();
        let expected = rhein_sasl::Credentials { sha512: None, disabled: true, ..old };
        assert_eq!(db.accounts().credentials("x", "alice").await.unwrap(), Some(expected));
        let (created_at, admin): (i64, bool) =
            on_pool!(db, |p| sqlx::query_as("SELECT created_at, admin FROM account").fetch_one(p).await).unwrap();
        assert_eq!((created_at, admin), (7, true));
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let sqlite = names("sqlite");
        assert_eq!(sqlite, names("postgres"));
        assert_eq!(sqlite.len(), MIGRATIONS.len(), "every migration file is listed in MIGRATIONS");
    }
}
