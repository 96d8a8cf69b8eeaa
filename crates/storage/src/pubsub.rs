//! Publish-subscribe nodes and their items, one row per item (XEP-0060 as PEP needs it).
//! The node configuration is opaque here (the caller's JSON); storage only keeps order,
//! enforces `max_items` and pages.

use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};
use rhein_pubsub::{Affiliation, SubOptions, SubState, Subscription};

/// One stored item: the engine's [`rhein_pubsub::Item`]. `payload` is the serialized child
/// of `<item/>` (empty when there is none).
pub use rhein_pubsub::Item as ItemRow;

/// Which items of a node, in publication order (XEP-0059 paging by item id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemPage {
    /// The oldest `n`.
    First(i64),
    /// The `n` right after the item with this id.
    After(String, i64),
    /// The `n` right before the item with this id.
    Before(String, i64),
    /// The newest `n`.
    Last(i64),
}

/// Repository of pubsub nodes (`db.pubsub()`).
pub struct Pubsub<'a> {
    pub(crate) db: &'a Db,
}

type Item = (String, String, String);

impl Pubsub<'_> {
    /// The configuration of a node, if it exists.
    pub async fn node(&self, owner: &str, node: &str) -> Result<Option<String>, StorageError> {
        const SQL: &str = "SELECT config FROM pubsub_node WHERE owner = $1 AND node = $2";
        let row: Option<(String,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(node).fetch_optional(p).await)?;
        Ok(row.map(|(c,)| c))
    }

    /// Every node of `owner` with its configuration, by name.
    pub async fn nodes(&self, owner: &str) -> Result<Vec<(String, String)>, StorageError> {
        const SQL: &str = "SELECT node, config FROM pubsub_node WHERE owner = $1 ORDER BY node";
        Ok(on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_all(p).await)?)
    }

    /// Owners at `domain` (`name@domain`) that have a node called `node`: the channels of a
    /// MIX service, say.
    pub async fn owners_with_node(&self, domain: &str, node: &str) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT owner FROM pubsub_node WHERE node = $1 AND owner LIKE $2 ORDER BY owner";
        // `_` and `%` in a domain only widen the match; the exact suffix is checked below.
        let pattern = format!("%@{domain}");
        let rows: Vec<(String,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(node).bind(&pattern).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(o,)| o).filter(|o| o.ends_with(&format!("@{domain}"))).collect())
    }

    /// Deletes every node of `owner` with its items, affiliations and subscriptions.
    pub async fn delete_owner(&self, owner: &str) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM pubsub_node WHERE owner = $1";
        Ok(on_pool!(write: self.db, |p| sqlx::query(SQL).bind(owner).execute(p).await?.rows_affected()))
    }

    /// How many nodes `owner` has.
    pub async fn node_count(&self, owner: &str) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM pubsub_node WHERE owner = $1";
        let (n,): (i64,) = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_one(p).await)?;
        Ok(n)
    }

    /// Creates a node; `false` if it already exists.
    pub async fn create(&self, owner: &str, node: &str, config: &str) -> Result<bool, StorageError> {
        let done = on_pool!(write: self.db, |p| sqlx::query(CREATE_NODE)
            .bind(owner)
            .bind(node)
            .bind(config)
            .bind(crate::now_ms())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Replaces a node's configuration and drops the items beyond its new `max_items`.
    pub async fn configure(
        &self,
        owner: &str,
        node: &str,
        config: &str,
        max_items: Option<i64>,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE pubsub_node SET config = $3 WHERE owner = $1 AND node = $2";
        let found = on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            let found = sqlx::query(SQL).bind(owner).bind(node).bind(config).execute(&mut *tx).await?.rows_affected();
            if let Some(max) = max_items {
                sqlx::query(TRIM).bind(owner).bind(node).bind(max).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            found == 1
        });
        Ok(found)
    }

    /// Deletes a node with its items, affiliations and subscriptions; `false` if there was none.
    pub async fn delete(&self, owner: &str, node: &str) -> Result<bool, StorageError> {
        Ok(self.on_node("DELETE FROM pubsub_node WHERE owner = $1 AND node = $2", owner, node, &[]).await? == 1)
    }

    /// Removes every item of a node; how many there were.
    pub async fn purge(&self, owner: &str, node: &str) -> Result<u64, StorageError> {
        self.on_node("DELETE FROM pubsub_item WHERE owner = $1 AND node = $2", owner, node, &[]).await
    }

    /// Runs a statement about one node (`$1` owner, `$2` node, then `more` as `$3`…); how many
    /// rows it touched.
    async fn on_node(&self, sql: &'static str, owner: &str, node: &str, more: &[&str]) -> Result<u64, StorageError> {
        Ok(on_pool!(write: self.db, |p| {
            let mut q = sqlx::query(sql).bind(owner).bind(node);
            for arg in more {
                q = q.bind(*arg);
            }
            q.execute(p).await.map(|r| r.rows_affected())
        })?)
    }

    /// Stores an item (replacing one with the same id, which then counts as the newest),
    /// creating the node with `config` if it does not exist, and keeps at most `max_items`;
    /// the ids of the items that made room. One transaction: an acknowledged publication is on
    /// disk as a whole.
    pub async fn publish(
        &self,
        owner: &str,
        node: &str,
        config: &str,
        item: &ItemRow,
        max_items: Option<i64>,
    ) -> Result<Vec<String>, StorageError> {
        const ITEM: &str = "INSERT INTO pubsub_item (owner, node, item_id, seq, publisher, payload, published_at) \
            VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM pubsub_item WHERE owner = $1 AND node = $2), \
            $4, $5, $6) \
            ON CONFLICT (owner, node, item_id) DO UPDATE SET seq = excluded.seq, publisher = excluded.publisher, \
            payload = excluded.payload, published_at = excluded.published_at";
        let now = crate::now_ms();
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(CREATE_NODE).bind(owner).bind(node).bind(config).bind(now).execute(&mut *tx).await?;
            sqlx::query(ITEM)
                .bind(owner)
                .bind(node)
                .bind(&item.id)
                .bind(&item.publisher)
                .bind(&item.payload)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let trimmed: Vec<String> = match max_items {
                Some(max) => sqlx::query_scalar(TRIM).bind(owner).bind(node).bind(max).fetch_all(&mut *tx).await?,
                None => Vec::new(),
            };
            tx.commit().await?;
            Ok(trimmed)
        })
    }

    /// Removes one item; `false` if the node has no such item.
    pub async fn retract(&self, owner: &str, node: &str, id: &str) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM pubsub_item WHERE owner = $1 AND node = $2 AND item_id = $3";
        Ok(self.on_node(SQL, owner, node, &[id]).await? == 1)
    }

    /// The items with these ids that exist, in publication order.
    pub async fn items_by_id(&self, owner: &str, node: &str, ids: &[String]) -> Result<Vec<ItemRow>, StorageError> {
        const SQL: &str = "SELECT item_id, publisher, payload FROM pubsub_item \
            WHERE owner = $1 AND node = $2 AND item_id = $3";
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<Item> =
                on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(node).bind(id).fetch_optional(p).await)?;
            found.extend(row.map(item));
        }
        Ok(found)
    }

    /// A page of items, oldest first, and how many items the node holds. `None` when the
    /// page's reference item does not exist.
    pub async fn items(
        &self,
        owner: &str,
        node: &str,
        page: &ItemPage,
    ) -> Result<Option<(Vec<ItemRow>, i64)>, StorageError> {
        const COLS: &str = "SELECT item_id, publisher, payload, seq FROM pubsub_item WHERE owner = $1 AND node = $2";
        const SEQ: &str = "(SELECT seq FROM pubsub_item WHERE owner = $1 AND node = $2 AND item_id = $4)";
        let (sql, reference, limit, newest_first) = match page {
            ItemPage::First(n) => (format!("{COLS} ORDER BY seq LIMIT $3"), None, *n, false),
            ItemPage::Last(n) => (format!("{COLS} ORDER BY seq DESC LIMIT $3"), None, *n, true),
            ItemPage::After(id, n) => (format!("{COLS} AND seq > {SEQ} ORDER BY seq LIMIT $3"), Some(id), *n, false),
            ItemPage::Before(id, n) => {
                (format!("{COLS} AND seq < {SEQ} ORDER BY seq DESC LIMIT $3"), Some(id), *n, true)
            }
        };
        if let Some(id) = reference
            && self.items_by_id(owner, node, std::slice::from_ref(id)).await?.is_empty()
        {
            return Ok(None);
        }
        let mut rows: Vec<(String, String, String, i64)> = on_pool!(self.db, |p| {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(owner).bind(node).bind(limit);
            match reference {
                Some(id) => q.bind(id).fetch_all(p).await,
                None => q.fetch_all(p).await,
            }
        })?;
        if newest_first {
            rows.reverse();
        }
        const COUNT: &str = "SELECT COUNT(*) FROM pubsub_item WHERE owner = $1 AND node = $2";
        let (count,): (i64,) = on_pool!(self.db, |p| sqlx::query_as(COUNT).bind(owner).bind(node).fetch_one(p).await)?;
        Ok(Some((
            rows.into_iter().map(|(id, publisher, payload, _)| ItemRow { id, publisher, payload }).collect(),
            count,
        )))
    }

    /// JIDs with an affiliation to a node (other than its owner), and which.
    /// The JIDs affiliated with a node, and how. An affiliation that does not read is a
    /// corrupt row, never `none` (it may be a ban).
    pub async fn affiliations(&self, owner: &str, node: &str) -> Result<Vec<(String, Affiliation)>, StorageError> {
        const SQL: &str = "SELECT jid, affiliation FROM pubsub_affiliation WHERE owner = $1 AND node = $2 ORDER BY jid";
        let rows: Vec<(String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(node).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(jid, a)| match Affiliation::parse(&a) {
                Some(a) => Ok((jid, a)),
                None => Err(StorageError::Corrupt(format!("pubsub affiliation {a:?}"))),
            })
            .collect()
    }

    /// `jid`'s affiliations with any of `owner`'s nodes, by node.
    pub async fn affiliations_of(&self, owner: &str, jid: &str) -> Result<Vec<(String, Affiliation)>, StorageError> {
        const SQL: &str =
            "SELECT node, affiliation FROM pubsub_affiliation WHERE owner = $1 AND jid = $2 ORDER BY node";
        let rows: Vec<(String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(jid).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(node, a)| match Affiliation::parse(&a) {
                Some(a) => Ok((node, a)),
                None => Err(StorageError::Corrupt(format!("pubsub affiliation {a:?}"))),
            })
            .collect()
    }

    /// Sets (or with `none`, removes) a JID's affiliation to a node.
    pub async fn set_affiliation(
        &self,
        owner: &str,
        node: &str,
        jid: &str,
        affiliation: Affiliation,
    ) -> Result<(), StorageError> {
        if affiliation == Affiliation::None {
            const SQL: &str = "DELETE FROM pubsub_affiliation WHERE owner = $1 AND node = $2 AND jid = $3";
            self.on_node(SQL, owner, node, &[jid]).await?;
        } else {
            const SQL: &str = "INSERT INTO pubsub_affiliation (owner, node, jid, affiliation) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (owner, node, jid) DO UPDATE SET affiliation = excluded.affiliation";
            self.on_node(SQL, owner, node, &[jid, affiliation.as_str()]).await?;
        }
        Ok(())
    }

    /// JIDs explicitly subscribed to a node (approved subscriptions only).
    pub async fn subscribers(&self, owner: &str, node: &str) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT jid FROM pubsub_subscription WHERE owner = $1 AND node = $2 \
            AND state = 'subscribed' ORDER BY jid";
        let rows: Vec<(String,)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(node).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(j,)| j).collect())
    }

    /// Every subscription to a node, pending ones included, by JID.
    pub async fn subscriptions(&self, owner: &str, node: &str) -> Result<Vec<Subscription>, StorageError> {
        const SQL: &str = "SELECT jid, subid, state, options FROM pubsub_subscription \
            WHERE owner = $1 AND node = $2 ORDER BY jid";
        let rows: Vec<SubscriptionCols> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(node).fetch_all(p).await)?;
        rows.into_iter().map(subscription).collect()
    }

    /// One JID's subscription to a node.
    pub async fn subscription(&self, owner: &str, node: &str, jid: &str) -> Result<Option<Subscription>, StorageError> {
        const SQL: &str = "SELECT jid, subid, state, options FROM pubsub_subscription \
            WHERE owner = $1 AND node = $2 AND jid = $3";
        let row: Option<SubscriptionCols> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(node).bind(jid).fetch_optional(p).await)?;
        row.map(subscription).transpose()
    }

    /// The subscriptions of `bare` and its resources to any of `owner`'s nodes, with the node.
    pub async fn subscriptions_of(&self, owner: &str, bare: &str) -> Result<Vec<(String, Subscription)>, StorageError> {
        const SQL: &str = "SELECT node, jid, subid, state, options FROM pubsub_subscription \
            WHERE owner = $1 AND (jid = $2 OR (jid >= $3 AND jid < $4)) ORDER BY node, jid";
        // `bare/` up to `bare0` ('0' follows '/'): the full JIDs of `bare`, by index range.
        let (from, to) = (format!("{bare}/"), format!("{bare}0"));
        let rows: Vec<(String, String, String, String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(bare).bind(&from).bind(&to).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(node, jid, subid, state, options)| Ok((node, subscription((jid, subid, state, options))?)))
            .collect()
    }

    /// Stores a subscription, replacing the JID's previous one.
    pub async fn put_subscription(&self, owner: &str, node: &str, s: &Subscription) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO pubsub_subscription (owner, node, jid, subid, state, options) \
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner, node, jid) DO UPDATE SET \
            subid = excluded.subid, state = excluded.state, options = excluded.options";
        let options = s.options.to_json();
        self.on_node(SQL, owner, node, &[&s.jid, &s.subid, s.state.as_str(), &options]).await.map(drop)
    }

    /// Ends a JID's subscription; `false` if it had none.
    pub async fn unsubscribe(&self, owner: &str, node: &str, jid: &str) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM pubsub_subscription WHERE owner = $1 AND node = $2 AND jid = $3";
        Ok(self.on_node(SQL, owner, node, &[jid]).await? == 1)
    }

    /// Subscribes (`true`, with default options) or unsubscribes a JID; whether anything
    /// changed.
    pub async fn set_subscription(&self, owner: &str, node: &str, jid: &str, on: bool) -> Result<bool, StorageError> {
        if !on {
            return self.unsubscribe(owner, node, jid).await;
        }
        const SQL: &str = "INSERT INTO pubsub_subscription (owner, node, jid, subid, state, options) \
            VALUES ($1, $2, $3, $4, 'subscribed', '{}') ON CONFLICT (owner, node, jid) DO NOTHING";
        Ok(self.on_node(SQL, owner, node, &[jid, &new_subid()]).await? == 1)
    }

    /// Drops the items of a node published before `before` (milliseconds since the epoch):
    /// `pubsub#item_expire`.
    pub async fn expire(&self, owner: &str, node: &str, before: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM pubsub_item WHERE owner = $1 AND node = $2 AND published_at < $3";
        Ok(on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(owner)
            .bind(node)
            .bind(before)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }
}

/// A fresh subscription id: 64 random bits in hex.
pub fn new_subid() -> String {
    format!("{:016x}", rand::random::<u64>())
}

type SubscriptionCols = (String, String, String, String);

fn subscription((jid, subid, state, options): SubscriptionCols) -> Result<Subscription, StorageError> {
    let state =
        SubState::parse(&state).ok_or_else(|| StorageError::Corrupt(format!("pubsub subscription state {state:?}")))?;
    Ok(Subscription { jid, subid, state, options: SubOptions::from_json(&options) })
}

/// Creates a node unless it exists.
const CREATE_NODE: &str = "INSERT INTO pubsub_node (owner, node, config, created_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (owner, node) DO NOTHING";

/// Keeps the newest `$3` items of a node.
const TRIM: &str = "DELETE FROM pubsub_item WHERE owner = $1 AND node = $2 AND item_id NOT IN \
    (SELECT item_id FROM pubsub_item WHERE owner = $1 AND node = $2 ORDER BY seq DESC LIMIT $3) RETURNING item_id";

fn item((id, publisher, payload): Item) -> ItemRow {
    ItemRow { id, publisher, payload }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(id: &str) -> ItemRow {
        ItemRow { id: id.into(), publisher: "a@x".into(), payload: format!("<p xmlns='t'>{id}</p>") }
    }

    fn ids(rows: &[ItemRow]) -> Vec<&str> {
        rows.iter().map(|r| r.id.as_str()).collect()
    }

    #[tokio::test]
    async fn items_keep_publication_order_and_page_both_ways() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let ps = db.pubsub();
        for id in ["a", "b", "c", "d"] {
            ps.publish("o@x", "n", "{}", &it(id), None).await.unwrap();
        }
        // Re-publishing moves an item to the end, without duplicating it.
        ps.publish("o@x", "n", "{}", &it("b"), None).await.unwrap();
        let (all, count) = ps.items("o@x", "n", &ItemPage::First(10)).await.unwrap().unwrap();
        assert_eq!((ids(&all), count), (vec!["a", "c", "d", "b"], 4));
        let (last, _) = ps.items("o@x", "n", &ItemPage::Last(2)).await.unwrap().unwrap();
        assert_eq!(ids(&last), vec!["d", "b"]);
        let (after, _) = ps.items("o@x", "n", &ItemPage::After("c".into(), 5)).await.unwrap().unwrap();
        assert_eq!(ids(&after), vec!["d", "b"]);
        let (before, _) = ps.items("o@x", "n", &ItemPage::Before("d".into(), 1)).await.unwrap().unwrap();
        assert_eq!(ids(&before), vec!["c"]);
        assert!(ps.items("o@x", "n", &ItemPage::After("zz".into(), 5)).await.unwrap().is_none());
        assert_eq!(ids(&ps.items_by_id("o@x", "n", &["d".into(), "zz".into()]).await.unwrap()), vec!["d"]);
    }

    #[tokio::test]
    async fn max_items_retract_purge_and_delete() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let ps = db.pubsub();
        for id in ["a", "b", "c"] {
            ps.publish("o@x", "n", "{}", &it(id), Some(2)).await.unwrap();
        }
        let (rows, count) = ps.items("o@x", "n", &ItemPage::First(10)).await.unwrap().unwrap();
        assert_eq!((ids(&rows), count), (vec!["b", "c"], 2));
        assert!(ps.retract("o@x", "n", "b").await.unwrap());
        assert!(!ps.retract("o@x", "n", "b").await.unwrap());
        ps.set_affiliation("o@x", "n", "m@x", Affiliation::Member).await.unwrap();
        assert_eq!(ps.affiliations_of("o@x", "m@x").await.unwrap(), vec![("n".to_owned(), Affiliation::Member)]);
        ps.set_subscription("o@x", "n", "s@x", true).await.unwrap();
        assert_eq!(ps.purge("o@x", "n").await.unwrap(), 1);
        assert!(!ps.create("o@x", "n", "{}").await.unwrap());
        assert!(ps.delete("o@x", "n").await.unwrap());
        assert!(ps.node("o@x", "n").await.unwrap().is_none());
        // Nothing of the node is left behind for a node created again under the same name.
        assert!(ps.create("o@x", "n", "{}").await.unwrap());
        assert!(ps.affiliations("o@x", "n").await.unwrap().is_empty());
        assert!(ps.subscribers("o@x", "n").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn subscriptions_keep_their_state_id_and_options() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let ps = db.pubsub();
        ps.create("svc", "n", "{}").await.unwrap();
        ps.create("svc", "m", "{}").await.unwrap();
        let pending = Subscription {
            jid: "a@x/r".into(),
            subid: "s1".into(),
            state: SubState::Pending,
            options: SubOptions { include_body: true, ..Default::default() },
        };
        ps.put_subscription("svc", "n", &pending).await.unwrap();
        assert!(ps.set_subscription("svc", "m", "a@x", true).await.unwrap());
        assert!(ps.set_subscription("svc", "m", "ab@x", true).await.unwrap());
        assert_eq!(ps.subscription("svc", "n", "a@x/r").await.unwrap(), Some(pending.clone()));
        // Pending subscribers are not notified.
        assert!(ps.subscribers("svc", "n").await.unwrap().is_empty());
        let mine: Vec<(String, String)> =
            ps.subscriptions_of("svc", "a@x").await.unwrap().into_iter().map(|(n, s)| (n, s.jid)).collect();
        assert_eq!(mine, vec![("m".into(), "a@x".into()), ("n".into(), "a@x/r".into())]);
        let approved = Subscription { state: SubState::Subscribed, ..pending };
        ps.put_subscription("svc", "n", &approved).await.unwrap();
        assert_eq!(ps.subscriptions("svc", "n").await.unwrap(), vec![approved]);
        assert!(ps.unsubscribe("svc", "n", "a@x/r").await.unwrap());
        assert!(!ps.unsubscribe("svc", "n", "a@x/r").await.unwrap());
    }
}
