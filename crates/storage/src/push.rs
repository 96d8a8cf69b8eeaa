//! XEP-0357 push registrations.

use crate::cache::{Waiting, Written};
use crate::db::on_pool;
use crate::{Db, StorageError};

/// Where to push for one client of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRegistration {
    pub service: String,
    pub node: String,
    pub options: Option<String>,
    /// The user asked for message bodies in the summary.
    pub with_body: bool,
}

/// Repository of push registrations (`db.push()`).
pub struct PushRegistrations<'a> {
    pub(crate) db: &'a Db,
}

impl PushRegistrations<'_> {
    pub async fn enable(&self, owner: &str, r: &PushRegistration) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO push_registration (owner, service, node, options, created_at, with_body) \
            VALUES ($1, $2, $3, $4, $5, $6) \
            ON CONFLICT (owner, service, node) DO UPDATE SET options = $4, with_body = $6";
        let write = async {
            on_pool!(write: self.db, |p| sqlx::query(SQL)
                .bind(owner)
                .bind(&r.service)
                .bind(&r.node)
                .bind(&r.options)
                .bind(crate::now_ms())
                .bind(r.with_body)
                .execute(p)
                .await
                .map(|_| ()))?;
            Ok(())
        };
        self.db.cache.writing(owner, Written::PushRegistrations, write).await
    }

    /// Removes the registration of `node` at `service`, or all at `service` when `node` is `None`.
    pub async fn disable(&self, owner: &str, service: &str, node: Option<&str>) -> Result<u64, StorageError> {
        let write = async {
            Ok(match node {
                Some(n) => on_pool!(write: self.db, |p| sqlx::query(
                "DELETE FROM push_registration WHERE owner = $1 AND service = $2 AND node = $3"
            )
            .bind(owner)
            .bind(service)
            .bind(n)
            .execute(p)
            .await?
            .rows_affected()),
                None => {
                    on_pool!(write: self.db, |p| sqlx::query("DELETE FROM push_registration WHERE owner = $1 AND service = $2")
                    .bind(owner)
                    .bind(service)
                    .execute(p)
                    .await?
                    .rows_affected())
                }
            })
        };
        self.db.cache.writing(owner, Written::PushRegistrations, write).await
    }

    pub async fn list(&self, owner: &str) -> Result<Vec<PushRegistration>, StorageError> {
        const SQL: &str =
            "SELECT service, node, options, with_body FROM push_registration WHERE owner = $1 ORDER BY created_at";
        // Most accounts have none: that is kept, and asked of the database only after a change.
        let read = async { Ok(on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_all(p).await)?) };
        let rows: Vec<(String, String, Option<String>, bool)> =
            self.db.cache.waiting(Waiting::PushRegistrations, owner, read).await?;
        Ok(rows
            .into_iter()
            .map(|(service, node, options, with_body)| PushRegistration { service, node, options, with_body })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn registrations_round_trip() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let p = db.push();
        let r = PushRegistration {
            service: "push.example".into(),
            node: "n1".into(),
            options: Some("<x/>".into()),
            with_body: false,
        };
        p.enable("a@x", &r).await.unwrap();
        p.enable("a@x", &PushRegistration { node: "n2".into(), options: None, with_body: true, ..r.clone() })
            .await
            .unwrap();
        assert_eq!(
            p.list("a@x").await.unwrap(),
            [r.clone(), PushRegistration { node: "n2".into(), options: None, with_body: true, ..r.clone() }]
        );
        assert_eq!(p.disable("a@x", "push.example", Some("n1")).await.unwrap(), 1);
        assert_eq!(p.disable("a@x", "push.example", None).await.unwrap(), 1);
        assert!(p.list("a@x").await.unwrap().is_empty());
    }
}
