//! Service discovery of the service (XEP-0060 §5): its identity and features, its nodes
//! (those the requester may see), a node's metadata, and a node's items.

use crate::service::{Pubsub, Requester};
use rhein_module::{Ctx, IqResult, storage_failure};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field};
use rhein_proto::parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsQuery, DiscoItemsResult, Identity, Item};
use rhein_proto::{Jid, StanzaError, ns};
use rhein_pubsub::{Action, Affiliation, NodeConfig};
use rhein_storage::ItemPage;

const META_DATA: &str = "http://jabber.org/protocol/pubsub#meta-data";

/// What the service does, as XEP-0060 §10 names it.
const FEATURES: &[&str] = &[
    "access-authorize",
    "access-open",
    "access-presence",
    "access-roster",
    "access-whitelist",
    "auto-create",
    "config-node",
    "config-node-max",
    "create-and-configure",
    "create-nodes",
    "delete-items",
    "delete-nodes",
    "get-pending",
    "instant-nodes",
    "item-ids",
    "manage-subscriptions",
    "meta-data",
    "modify-affiliations",
    "outcast-affiliation",
    "persistent-items",
    "publish",
    "publish-only-affiliation",
    "publish-options",
    "publisher-affiliation",
    "purge-nodes",
    "retract-items",
    "retrieve-affiliations",
    "retrieve-default",
    "retrieve-default-sub",
    "retrieve-items",
    "retrieve-subscriptions",
    "rsm",
    "subscribe",
    "subscription-options",
    "subscription-notifications",
];

fn identity(category: &str, kind: &str, name: Option<String>) -> Identity {
    Identity { category: category.into(), type_: kind.into(), lang: None, name }
}

pub(crate) async fn info(service: &Pubsub, ctx: &Ctx, who: &Requester, query: DiscoInfoQuery) -> IqResult {
    let Some(node) = query.node else {
        let mut features = vec![ns::DISCO_INFO.to_owned(), ns::DISCO_ITEMS.to_owned(), ns::PUBSUB.to_owned()];
        features.extend(FEATURES.iter().map(|f| format!("{}#{f}", ns::PUBSUB)));
        let identities = vec![identity("pubsub", "service", Some(service.config.get().name.clone()))];
        return Ok(Some(
            DiscoInfoResult { node: None, identities, features: features.into_iter().collect(), extensions: vec![] }
                .into(),
        ));
    };
    let address = service.address(ctx);
    let config = service.allowed(ctx, &address, &node, who, Action::Retrieve).await.map_err(hidden)?;
    let owners = ctx.db.pubsub().affiliations(&address, &node).await.map_err(storage_failure)?;
    let owners: Vec<String> = owners.into_iter().filter(|(_, a)| *a == Affiliation::Owner).map(|(j, _)| j).collect();
    Ok(Some(
        DiscoInfoResult {
            identities: vec![identity("pubsub", "leaf", (!config.title.is_empty()).then(|| config.title.clone()))],
            features: [ns::PUBSUB.to_owned()].into(),
            extensions: vec![metadata(&owners, &config)],
            node: Some(node),
        }
        .into(),
    ))
}

/// A node the requester may not see is not there for it.
fn hidden(e: StanzaError) -> StanzaError {
    if e.condition == "internal-server-error" { e } else { StanzaError::item_not_found() }
}

/// §5.4: a node's metadata form.
fn metadata(owners: &[String], config: &NodeConfig) -> DataForm {
    let max = config.max_items.map_or("max".to_owned(), |n| n.to_string());
    let mut owner = Field::new("pubsub#owner", rhein_proto::parsers::data_forms::FieldType::JidMulti);
    owner.values = owners.to_vec();
    let fields = vec![
        owner,
        Field::text_single("pubsub#title", &config.title),
        Field::text_single("pubsub#type", &config.payload_type),
        Field::text_single("pubsub#access_model", &NodeConfig::wire_name(&config.access_model)),
        Field::text_single("pubsub#publish_model", &NodeConfig::wire_name(&config.publish_model)),
        Field::text_single("pubsub#max_items", &max),
    ];
    DataForm::new(DataFormType::Result_, META_DATA, fields)
}

pub(crate) async fn items(service: &Pubsub, ctx: &Ctx, who: &Requester, query: DiscoItemsQuery) -> IqResult {
    let address = service.address(ctx);
    let Ok(jid) = Jid::new(&address) else { return Err(StanzaError::internal_server_error()) };
    let mut items = Vec::new();
    match query.node {
        // §5.2: the nodes the requester may see.
        None => {
            for (node, json) in ctx.db.pubsub().nodes(&address).await.map_err(storage_failure)? {
                if service.allowed(ctx, &address, &node, who, Action::Retrieve).await.is_ok() {
                    let title = NodeConfig::from_json(&json).ok().map(|c| c.title).filter(|t| !t.is_empty());
                    items.push(Item { jid: jid.clone(), node: Some(node), name: title });
                }
            }
        }
        // §5.5: a node's items, by id.
        Some(ref node) => {
            service.allowed(ctx, &address, node, who, Action::Retrieve).await.map_err(hidden)?;
            let page = ItemPage::First(i64::from(service.config.get().max_items));
            let rows = ctx.db.pubsub().items(&address, node, &page).await.map_err(storage_failure)?;
            for row in rows.map(|(rows, _)| rows).unwrap_or_default() {
                items.push(Item { jid: jid.clone(), node: None, name: Some(row.id) });
            }
        }
    }
    Ok(Some(DiscoItemsResult { node: query.node, items, rsm: None }.into()))
}
