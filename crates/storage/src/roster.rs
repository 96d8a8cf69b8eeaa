//! RFC 6121 roster items with XEP-0237 versions, pending subscription requests, and XEP-0012
//! last activity.

use crate::cache::{CachedRoster, RosterChange, Waiting, Written};
use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};
use std::sync::Arc;

/// Who receives whose presence (RFC 6121 §2.1.2.5), stored as its name (`none`, `to`,
/// `from`, `both`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subscription {
    #[default]
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    Both,
}

impl Subscription {
    /// The state with the user receiving the contact's presence (`to`) and the contact
    /// receiving the user's (`from`) as given.
    pub fn of(to: bool, from: bool) -> Self {
        match (to, from) {
            (false, false) => Self::None,
            (true, false) => Self::To,
            (false, true) => Self::From,
            (true, true) => Self::Both,
        }
    }

    /// Whether the user receives the contact's presence.
    pub fn to(self) -> bool {
        matches!(self, Self::To | Self::Both)
    }

    /// Whether the contact receives the user's presence.
    pub fn from(self) -> bool {
        matches!(self, Self::From | Self::Both)
    }

    pub fn with_to(self) -> Self {
        Self::of(true, self.from())
    }

    pub fn with_from(self) -> Self {
        Self::of(self.to(), true)
    }

    pub fn without_to(self) -> Self {
        Self::of(false, self.from())
    }

    pub fn without_from(self) -> Self {
        Self::of(self.to(), false)
    }
}

stored_enum!(Subscription, "roster subscription", { None => "none", To => "to", From => "from", Both => "both" });

/// One roster item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    pub contact: String,
    pub name: Option<String>,
    pub subscription: Subscription,
    /// An outbound subscription request is pending (`ask='subscribe'`).
    pub ask: bool,
    /// The user pre-approved the contact's subscription (RFC 6121 §3.4).
    pub approved: bool,
    pub groups: Vec<String>,
}

impl RosterRow {
    /// A fresh item with no subscription.
    pub fn new(contact: impl Into<String>) -> Self {
        Self {
            contact: contact.into(),
            name: None,
            subscription: Subscription::None,
            ask: false,
            approved: false,
            groups: Vec::new(),
        }
    }
}

pub(crate) type Row = (String, Option<String>, String, bool, bool, String);

pub(crate) fn from_row((contact, name, subscription, ask, approved, groups): Row) -> Result<RosterRow, StorageError> {
    let groups = serde_json::from_str(&groups).map_err(|e| StorageError::Corrupt(format!("roster groups: {e}")))?;
    let subscription = subscription.parse()?;
    Ok(RosterRow { contact, name, subscription, ask, approved, groups })
}

/// Repository of rosters (`db.roster()`).
pub struct Roster<'a> {
    pub(crate) db: &'a Db,
}

const BUMP: &str = "INSERT INTO roster_version (owner, version) VALUES ($1, 1) \
    ON CONFLICT (owner) DO UPDATE SET version = roster_version.version + 1 RETURNING version";

/// A roster's items as stored, read-only.
#[derive(Debug, Clone)]
pub struct RosterItems(Arc<CachedRoster>);

impl RosterItems {
    /// The items, by contact.
    pub fn iter(&self) -> impl Iterator<Item = &RosterRow> {
        self.0.items.values()
    }

    pub fn len(&self) -> usize {
        self.0.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.items.is_empty()
    }
}

impl Roster<'_> {
    /// The roster's items, shared with the cache rather than copied.
    pub async fn items(&self, owner: &str) -> Result<RosterItems, StorageError> {
        Ok(RosterItems(self.cached(owner).await?))
    }

    pub async fn item(&self, owner: &str, contact: &str) -> Result<Option<RosterRow>, StorageError> {
        Ok(self.cached(owner).await?.items.get(contact).cloned())
    }

    /// How many items the roster holds.
    pub async fn len(&self, owner: &str) -> Result<usize, StorageError> {
        Ok(self.cached(owner).await?.items.len())
    }

    /// The whole roster and its version, from memory once read (see `cache`).
    async fn cached(&self, owner: &str) -> Result<Arc<CachedRoster>, StorageError> {
        const ITEMS: &str = "SELECT contact, name, subscription, ask, approved, groups_json FROM roster_item \
            WHERE owner = $1";
        const VERSION: &str = "SELECT version FROM roster_version WHERE owner = $1";
        if let Some(roster) = self.db.cache.roster(owner) {
            return Ok(roster);
        }
        let ticket = self.db.cache.ticket();
        self.db.cache.roster_loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (rows, version): (Vec<Row>, Option<(i64,)>) = on_pool!(self.db, |p| (
            sqlx::query_as(ITEMS).bind(owner).fetch_all(p).await?,
            sqlx::query_as(VERSION).bind(owner).fetch_optional(p).await?
        ));
        let items =
            rows.into_iter().map(|row| from_row(row).map(|r| (r.contact.clone(), r))).collect::<Result<_, _>>()?;
        let roster = Arc::new(CachedRoster { items, version: version.map_or(0, |(v,)| v) });
        self.db.cache.fill_roster(ticket, owner, roster.clone());
        Ok(roster)
    }

    /// Inserts or replaces an item and returns the roster's new version.
    pub async fn upsert(&self, owner: &str, item: &RosterRow) -> Result<i64, StorageError> {
        const SQL: &str = "INSERT INTO roster_item (owner, contact, name, subscription, ask, approved, groups_json) \
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (owner, contact) DO UPDATE SET name = $3, \
            subscription = $4, ask = $5, approved = $6, groups_json = $7";
        let groups = serde_json::to_string(&item.groups).unwrap_or_else(|_| "[]".into());
        let write = async {
            Ok(on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                sqlx::query(SQL)
                    .bind(owner)
                    .bind(&item.contact)
                    .bind(&item.name)
                    .bind(item.subscription.as_str())
                    .bind(item.ask)
                    .bind(item.approved)
                    .bind(&groups)
                    .execute(&mut *tx)
                    .await?;
                let (v,): (i64,) = sqlx::query_as(BUMP).bind(owner).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                v
            }))
        };
        self.db.cache.writing_roster(owner, RosterChange::Upsert(item), write).await
    }

    /// Removes an item; the new version, or `None` if there was no such item.
    pub async fn remove(&self, owner: &str, contact: &str) -> Result<Option<i64>, StorageError> {
        const SQL: &str = "DELETE FROM roster_item WHERE owner = $1 AND contact = $2";
        let write = async {
            Ok(on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                let n = sqlx::query(SQL).bind(owner).bind(contact).execute(&mut *tx).await?.rows_affected();
                if n == 0 {
                    None
                } else {
                    let (v,): (i64,) = sqlx::query_as(BUMP).bind(owner).fetch_one(&mut *tx).await?;
                    tx.commit().await?;
                    Some(v)
                }
            }))
        };
        self.db.cache.writing_roster(owner, RosterChange::Remove(contact), write).await
    }

    /// The current version (0 for a roster never written).
    pub async fn version(&self, owner: &str) -> Result<i64, StorageError> {
        Ok(self.cached(owner).await?.version)
    }
}

/// Inbound subscription requests the user has not answered yet (`db.subscription_requests()`).
pub struct SubscriptionRequests<'a> {
    pub(crate) db: &'a Db,
}

impl SubscriptionRequests<'_> {
    pub async fn put(&self, owner: &str, contact: &str, stanza: &str) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO subscription_request (owner, contact, stanza) VALUES ($1, $2, $3) \
            ON CONFLICT (owner, contact) DO UPDATE SET stanza = $3";
        let write = async {
            on_pool!(write: self.db, |p| sqlx::query(SQL)
                .bind(owner)
                .bind(contact)
                .bind(stanza)
                .execute(p)
                .await
                .map(|_| ()))?;
            Ok(())
        };
        self.db.cache.writing(owner, Written::Requests, write).await
    }

    /// Removes a request; whether there was one.
    pub async fn remove(&self, owner: &str, contact: &str) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM subscription_request WHERE owner = $1 AND contact = $2";
        let n =
            on_pool!(write: self.db, |p| sqlx::query(SQL).bind(owner).bind(contact).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// `(contact, stanza)` pairs, oldest contact first.
    pub async fn list(&self, owner: &str) -> Result<Vec<(String, String)>, StorageError> {
        const SQL: &str = "SELECT contact, stanza FROM subscription_request WHERE owner = $1 ORDER BY contact";
        let read = async { Ok(on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_all(p).await)?) };
        self.db.cache.waiting(Waiting::Requests, owner, read).await
    }
}

/// When an account was last online (`db.last_activity()`).
pub struct LastActivity<'a> {
    pub(crate) db: &'a Db,
}

impl LastActivity<'_> {
    /// Recorded now, written within moments (see `last_seen`).
    pub async fn set(&self, owner: &str, stamp: i64, status: &str) -> Result<(), StorageError> {
        self.db.last_seen.set(owner, stamp, status);
        Ok(())
    }

    pub async fn get(&self, owner: &str) -> Result<Option<(i64, String)>, StorageError> {
        const SQL: &str = "SELECT stamp, status FROM last_activity WHERE owner = $1";
        if let Some(seen) = self.db.last_seen.get(owner) {
            return Ok(Some(seen));
        }
        Ok(on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_optional(p).await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_states_gain_and_lose_directions() {
        use Subscription::*;
        assert_eq!(None.with_to(), To);
        assert_eq!(To.with_from(), Both);
        assert_eq!(Both.without_to(), From);
        assert_eq!(From.without_from(), None);
        assert_eq!(To.without_from(), To);
        for s in [None, To, From, Both] {
            assert_eq!(s.as_str().parse::<Subscription>().unwrap(), s);
            assert_eq!(Subscription::of(s.to(), s.from()), s);
        }
        assert!(matches!("remove".parse::<Subscription>(), Err(StorageError::Corrupt(_))));
    }

    #[tokio::test]
    async fn roster_versions_bump_and_rows_round_trip() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let r = db.roster();
        assert_eq!(r.version("a@x").await.unwrap(), 0);
        let mut item = RosterRow::new("b@x");
        item.groups = vec!["Friends".into(), "Work, \"quoted\"".into()];
        item.name = Some("Bob".into());
        assert_eq!(r.upsert("a@x", &item).await.unwrap(), 1);
        item.subscription = Subscription::To;
        assert_eq!(r.upsert("a@x", &item).await.unwrap(), 2);
        assert_eq!(r.item("a@x", "b@x").await.unwrap(), Some(item.clone()));
        assert_eq!(r.items("a@x").await.unwrap().iter().collect::<Vec<_>>(), [&item]);
        assert_eq!(r.remove("a@x", "b@x").await.unwrap(), Some(3));
        assert_eq!(r.remove("a@x", "b@x").await.unwrap(), None);
        assert!(r.items("a@x").await.unwrap().is_empty());
    }

    /// A roster set looks the item up, then writes it. The roster kept in memory is updated
    /// by the write rather than dropped, so building a roster item by item reads it from the
    /// database once, not once per item (which made building one quadratic), and what is
    /// kept is what is stored.
    #[tokio::test]
    async fn roster_writes_cost_no_reload_of_the_roster() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let r = db.roster();
        let loads = || db.cache.roster_loads.load(std::sync::atomic::Ordering::Relaxed);
        for i in 0..600 {
            let contact = format!("c{i:03}@x");
            assert_eq!(r.item("a@x", &contact).await.unwrap(), None);
            let row = RosterRow { name: Some(format!("n{i}")), ..RosterRow::new(contact) };
            assert_eq!(r.upsert("a@x", &row).await.unwrap(), i + 1);
        }
        let before = r.items("a@x").await.unwrap();
        for i in (0..600).step_by(3) {
            let contact = format!("c{i:03}@x");
            let mut row = r.item("a@x", &contact).await.unwrap().unwrap();
            row.subscription = Subscription::Both;
            r.upsert("a@x", &row).await.unwrap();
            assert!(r.remove("a@x", &format!("c{:03}@x", i + 1)).await.unwrap().is_some());
        }
        assert_eq!(loads(), 1, "one read of the roster, for its first item");
        assert_eq!((before.len(), r.len("a@x").await.unwrap()), (600, 400), "a reader's copy does not change");

        let kept: Vec<RosterRow> = r.items("a@x").await.unwrap().iter().cloned().collect();
        let version = r.version("a@x").await.unwrap();
        db.cache.written("a@x", Written::All);
        let stored: Vec<RosterRow> = r.items("a@x").await.unwrap().iter().cloned().collect();
        assert_eq!(loads(), 2);
        assert_eq!((kept, version), (stored, r.version("a@x").await.unwrap()));
        assert_eq!(version, 1000);
    }

    #[tokio::test]
    async fn offline_limit_and_order() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let o = db.offline();
        assert!(o.push("a@x", 1, "<m1/>", 2).await.unwrap());
        assert!(o.push("a@x", 2, "<m2/>", 2).await.unwrap());
        assert!(!o.push("a@x", 3, "<m3/>", 2).await.unwrap());
        let list = o.list("a@x").await.unwrap();
        assert_eq!(list.iter().map(|(_, m)| m.stanza.as_str()).collect::<Vec<_>>(), ["<m1/>", "<m2/>"]);
        o.remove("a@x", list[0].0).await.unwrap();
        assert_eq!(o.count("a@x").await.unwrap(), 1);
        assert!(o.push("a@x", 4, "<m4/>", 2).await.unwrap());
        let taken = o.take("a@x").await.unwrap();
        assert_eq!(taken.iter().map(|m| m.stanza.as_str()).collect::<Vec<_>>(), ["<m2/>", "<m4/>"]);
        assert!(o.take("a@x").await.unwrap().is_empty(), "taken once");
        assert!(o.push("a@x", 5, "<m5/>", 2).await.unwrap());
        assert_eq!(o.take("a@x").await.unwrap().len(), 1, "a known-empty store learns of new messages");
    }
}
