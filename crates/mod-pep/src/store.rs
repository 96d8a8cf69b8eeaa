//! The pubsub engine's [`Store`] for one account's personal nodes, over the shared pubsub
//! tables: the account owns every node; storage failures are logged here.

use crate::config;
use rhein_proto::BareJid;
use rhein_pubsub::{Affiliation, Failure, Item, NodeConfig, Store};
use rhein_storage::{Db, StorageError};

pub(crate) struct AccountNodes<'a> {
    pub db: &'a Db,
    pub owner: &'a BareJid,
}

fn logged(e: StorageError) -> Failure {
    tracing::error!(error = %e, "pubsub storage failure");
    Failure
}

impl Store for AccountNodes<'_> {
    async fn config(&self, node: &str) -> Result<Option<NodeConfig>, Failure> {
        let stored = self.db.pubsub().node(self.owner.as_str(), node).await.map_err(logged)?;
        Ok(stored.map(|json| config::stored(node, &json)))
    }

    async fn node_count(&self) -> Result<usize, Failure> {
        let count = self.db.pubsub().node_count(self.owner.as_str()).await.map_err(logged)?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    async fn create(&self, node: &str, config: &NodeConfig) -> Result<bool, Failure> {
        self.db.pubsub().create(self.owner.as_str(), node, &config.to_json()).await.map_err(logged)
    }

    async fn configure(&self, node: &str, config: &NodeConfig, keep: i64) -> Result<(), Failure> {
        let pubsub = self.db.pubsub();
        pubsub.configure(self.owner.as_str(), node, &config.to_json(), Some(keep)).await.map(drop).map_err(logged)
    }

    async fn publish(&self, node: &str, config: &NodeConfig, item: &Item, keep: i64) -> Result<Vec<String>, Failure> {
        let pubsub = self.db.pubsub();
        pubsub.publish(self.owner.as_str(), node, &config.to_json(), item, Some(keep)).await.map_err(logged)
    }

    async fn retract(&self, node: &str, id: &str) -> Result<bool, Failure> {
        self.db.pubsub().retract(self.owner.as_str(), node, id).await.map_err(logged)
    }

    async fn purge(&self, node: &str) -> Result<(), Failure> {
        self.db.pubsub().purge(self.owner.as_str(), node).await.map(drop).map_err(logged)
    }

    async fn delete(&self, node: &str) -> Result<(), Failure> {
        self.db.pubsub().delete(self.owner.as_str(), node).await.map(drop).map_err(logged)
    }

    async fn affiliation(&self, node: &str, who: &str) -> Result<Affiliation, Failure> {
        if who == self.owner.as_str() {
            return Ok(Affiliation::Owner);
        }
        let all = self.db.pubsub().affiliations(self.owner.as_str(), node).await.map_err(logged)?;
        Ok(all.into_iter().find(|(jid, _)| jid == who).map(|(_, a)| a).unwrap_or_default())
    }

    async fn set_subscription(&self, node: &str, jid: &str, on: bool) -> Result<bool, Failure> {
        self.db.pubsub().set_subscription(self.owner.as_str(), node, jid, on).await.map_err(logged)
    }
}
