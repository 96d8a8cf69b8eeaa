//! Per-account documents (private XML, vCards) and XEP-0191 blocklists.

use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};

/// The kind of the documents naming the MIX channels an account is in (XEP-0405), each with
/// its participant id: written by PAM (mod-im), read by the unread overview too.
pub const MIX_CHANNELS: &str = "mix";

/// Small XML documents per account, by kind and name (`db.account_data()`).
pub struct AccountData<'a> {
    pub(crate) db: &'a Db,
}

impl AccountData<'_> {
    pub async fn get(&self, owner: &str, kind: &str, name: &str) -> Result<Option<String>, StorageError> {
        const SQL: &str = "SELECT payload FROM account_data WHERE owner = $1 AND kind = $2 AND name = $3";
        let row: Option<(String,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(kind).bind(name).fetch_optional(p).await)?;
        Ok(row.map(|(payload,)| payload))
    }

    /// Every document of one kind, by name.
    pub async fn list(&self, owner: &str, kind: &str) -> Result<Vec<(String, String)>, StorageError> {
        const SQL: &str = "SELECT name, payload FROM account_data WHERE owner = $1 AND kind = $2 ORDER BY name";
        Ok(on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(kind).fetch_all(p).await)?)
    }

    /// Removes one document; whether it existed.
    pub async fn remove(&self, owner: &str, kind: &str, name: &str) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM account_data WHERE owner = $1 AND kind = $2 AND name = $3";
        Ok(
            on_pool!(write: self.db, |p| sqlx::query(SQL).bind(owner).bind(kind).bind(name).execute(p).await?.rows_affected())
                > 0,
        )
    }

    /// Stores several documents of one kind in one transaction.
    pub async fn put_all(&self, owner: &str, kind: &str, docs: &[(String, String)]) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO account_data (owner, kind, name, payload) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (owner, kind, name) DO UPDATE SET payload = $4";
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            for (name, payload) in docs {
                sqlx::query(SQL).bind(owner).bind(kind).bind(name).bind(payload).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Blocked JIDs per account (`db.blocklist()`).
pub struct Blocklist<'a> {
    pub(crate) db: &'a Db,
}

impl Blocklist<'_> {
    pub async fn list(&self, owner: &str) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT blocked FROM blocklist WHERE owner = $1 ORDER BY blocked";
        let rows: Vec<(String,)> = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    /// Adds JIDs (already in the list is fine).
    pub async fn add(&self, owner: &str, jids: &[String]) -> Result<(), StorageError> {
        const SQL: &str =
            "INSERT INTO blocklist (owner, blocked) VALUES ($1, $2) ON CONFLICT (owner, blocked) DO NOTHING";
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            for jid in jids {
                sqlx::query(SQL).bind(owner).bind(jid).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes the given JIDs, or every JID when `jids` is empty.
    pub async fn remove(&self, owner: &str, jids: &[String]) -> Result<(), StorageError> {
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            if jids.is_empty() {
                sqlx::query("DELETE FROM blocklist WHERE owner = $1").bind(owner).execute(&mut *tx).await?;
            }
            for jid in jids {
                sqlx::query("DELETE FROM blocklist WHERE owner = $1 AND blocked = $2")
                    .bind(owner)
                    .bind(jid)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocklist_and_documents_round_trip() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let b = db.blocklist();
        b.add("a@x", &["b@x".into(), "c@x".into(), "b@x".into()]).await.unwrap();
        assert_eq!(b.list("a@x").await.unwrap(), ["b@x", "c@x"]);
        b.remove("a@x", &["b@x".into()]).await.unwrap();
        assert_eq!(b.list("a@x").await.unwrap(), ["c@x"]);
        b.remove("a@x", &[]).await.unwrap();
        assert!(b.list("a@x").await.unwrap().is_empty());

        let d = db.account_data();
        d.put_all("a@x", "private", &[("ns1".into(), "<a/>".into())]).await.unwrap();
        d.put_all("a@x", "private", &[("ns1".into(), "<b/>".into())]).await.unwrap();
        assert_eq!(d.get("a@x", "private", "ns1").await.unwrap().as_deref(), Some("<b/>"));
        assert_eq!(d.get("a@x", "vcard", "ns1").await.unwrap(), None);
        assert!(db.accounts().delete("x", "a").await.is_ok());
        assert_eq!(d.get("a@x", "private", "ns1").await.unwrap(), None, "deleting the account empties its data");
    }
}
