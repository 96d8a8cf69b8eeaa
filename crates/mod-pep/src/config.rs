//! Node configuration (XEP-0060 §8.2) as PEP shows and takes it: the defaults of the nodes
//! clients rely on and what a personal node may not be. The configuration is the engine's
//! ([`rhein_pubsub::NodeConfig`]), its forms are [`rhein_module::pubsub`]'s.

pub use rhein_module::pubsub::NodeForm;
use rhein_proto::{StanzaError, ns};
pub use rhein_pubsub::{AccessModel as Access, NodeConfig, PublishModel, SendLast};

/// Nodes that are private lists by nature start out private and unbounded, whatever the
/// client forgets to ask for.
pub fn default_for(node: &str) -> NodeConfig {
    let base = NodeConfig::default();
    match node {
        ns::BOOKMARKS | ns::OPEN_CONVERSATIONS | ns::MDS_DISPLAYED => NodeConfig {
            access_model: Access::Whitelist,
            max_items: None,
            send_last_published_item: SendLast::Never,
            ..base
        },
        ns::MOVED => NodeConfig { access_model: Access::Open, max_items: Some(1), ..base },
        _ => base,
    }
}

/// A stored configuration; a corrupt one falls back to the defaults of its node (which are
/// private for the nodes that hold private lists).
pub fn stored(node: &str, json: &str) -> NodeConfig {
    NodeConfig::from_json(json).unwrap_or_else(|e| {
        tracing::warn!(node, error = %e, "unreadable node configuration, using defaults");
        default_for(node)
    })
}

/// What a personal node cannot be: published to by others than the account, or held back
/// for the account's approval (contacts already subscribe through presence).
pub fn personal(config: &NodeConfig) -> Result<(), StanzaError> {
    if config.publish_model != PublishModel::Publishers {
        return Err(StanzaError::not_acceptable().with_text("only the owner publishes to a personal node"));
    }
    if config.access_model == Access::Authorize {
        return Err(StanzaError::not_acceptable().with_text("personal nodes have no authorize access model"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_lists_stay_private_and_corrupt_configurations_fall_back_to_them() {
        let c = stored(ns::BOOKMARKS, "not json");
        assert_eq!((c.access_model, c.max_items), (Access::Whitelist, None));
        let open = NodeConfig { access_model: Access::Open, ..NodeConfig::default() };
        assert_eq!(stored("n", &open.to_json()), open);
    }

    #[test]
    fn personal_nodes_refuse_other_publishers_and_approvals() {
        personal(&NodeConfig::default()).unwrap();
        let open = NodeConfig { publish_model: PublishModel::Open, ..NodeConfig::default() };
        assert_eq!(personal(&open).unwrap_err().condition, "not-acceptable");
        let authorize = NodeConfig { access_model: Access::Authorize, ..NodeConfig::default() };
        assert_eq!(personal(&authorize).unwrap_err().condition, "not-acceptable");
    }
}
