//! The engine's [`Store`] over the shared pubsub tables, for any service: PEP keys nodes by
//! the account, the generic service by its address. Storage failures are logged here.

use rhein_pubsub::{Affiliation, Failure, Item, NodeConfig, Store, Subscription};
use rhein_storage::{Db, StorageError};

pub struct StoredNodes<'a> {
    pub db: &'a Db,
    /// The service's address as storage keys its nodes (an account's bare JID for PEP).
    pub service: &'a str,
    /// Who owns every node whatever the affiliations say.
    pub owners: Owners<'a>,
    /// Reads a stored configuration (a service knows what to fall back to if it is corrupt).
    pub read: fn(node: &str, json: &str) -> NodeConfig,
}

/// Who owns every node of a service.
#[derive(Debug, Clone, Copy)]
pub enum Owners<'a> {
    /// The address nodes are keyed by: an account owns its personal nodes.
    Itself,
    /// These JIDs (a server's administrators), besides each node's owners by affiliation.
    Listed(&'a [String]),
}

fn logged(e: StorageError) -> Failure {
    tracing::error!(error = %e, "pubsub storage failure");
    Failure
}

impl Store for StoredNodes<'_> {
    async fn config(&self, node: &str) -> Result<Option<NodeConfig>, Failure> {
        let stored = self.db.pubsub().node(self.service, node).await.map_err(logged)?;
        Ok(stored.map(|json| (self.read)(node, &json)))
    }

    async fn node_count(&self) -> Result<usize, Failure> {
        let count = self.db.pubsub().node_count(self.service).await.map_err(logged)?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    async fn create(&self, node: &str, config: &NodeConfig) -> Result<bool, Failure> {
        self.db.pubsub().create(self.service, node, &config.to_json()).await.map_err(logged)
    }

    async fn configure(&self, node: &str, config: &NodeConfig, keep: i64) -> Result<(), Failure> {
        let pubsub = self.db.pubsub();
        pubsub.configure(self.service, node, &config.to_json(), Some(keep)).await.map(drop).map_err(logged)
    }

    async fn publish(&self, node: &str, config: &NodeConfig, item: &Item, keep: i64) -> Result<Vec<String>, Failure> {
        let pubsub = self.db.pubsub();
        pubsub.publish(self.service, node, &config.to_json(), item, Some(keep)).await.map_err(logged)
    }

    async fn retract(&self, node: &str, id: &str) -> Result<bool, Failure> {
        self.db.pubsub().retract(self.service, node, id).await.map_err(logged)
    }

    async fn purge(&self, node: &str) -> Result<(), Failure> {
        self.db.pubsub().purge(self.service, node).await.map(drop).map_err(logged)
    }

    async fn delete(&self, node: &str) -> Result<(), Failure> {
        self.db.pubsub().delete(self.service, node).await.map(drop).map_err(logged)
    }

    async fn affiliation(&self, node: &str, who: &str) -> Result<Affiliation, Failure> {
        let owns_all = match self.owners {
            Owners::Itself => who == self.service,
            Owners::Listed(jids) => jids.iter().any(|o| o == who),
        };
        if owns_all {
            return Ok(Affiliation::Owner);
        }
        let all = self.db.pubsub().affiliations(self.service, node).await.map_err(logged)?;
        Ok(all.into_iter().find(|(jid, _)| jid == who).map(|(_, a)| a).unwrap_or_default())
    }

    async fn subscription(&self, node: &str, jid: &str) -> Result<Option<Subscription>, Failure> {
        self.db.pubsub().subscription(self.service, node, jid).await.map_err(logged)
    }

    async fn put_subscription(&self, node: &str, subscription: &Subscription) -> Result<(), Failure> {
        self.db.pubsub().put_subscription(self.service, node, subscription).await.map_err(logged)
    }

    async fn unsubscribe(&self, node: &str, jid: &str) -> Result<bool, Failure> {
        self.db.pubsub().unsubscribe(self.service, node, jid).await.map_err(logged)
    }
}
