//! An account's nodes in service discovery (XEP-0060 §5.2, §5.4; XEP-0163 §4.x): its
//! disco#items list the nodes the requester may see, and disco#info on one of them gives
//! its metadata. Private nodes (bookmarks, open conversations, displayed states) stay
//! hidden from everyone but their owner, as their access models say.

use crate::access::Audience;
use crate::config::stored;
use rhein_module::{AccountNodes, BoxFuture, Ctx, storage_failure};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field};
use rhein_proto::parsers::disco::{DiscoInfoResult, Identity, Item};
use rhein_proto::{BareJid, Jid, StanzaError, ns};
use rhein_pubsub::NodeConfig;

const META_DATA: &str = "http://jabber.org/protocol/pubsub#meta-data";

/// What PEP tells discovery, for the disco module to answer with (all of it is in storage).
pub(crate) struct Discovery;

impl AccountNodes for Discovery {
    fn items(
        &self,
        ctx: Ctx,
        owner: BareJid,
        requester: BareJid,
    ) -> BoxFuture<'static, Result<Vec<Item>, StanzaError>> {
        Box::pin(async move {
            let mut items = Vec::new();
            for (node, json) in ctx.db.pubsub().nodes(owner.as_str()).await.map_err(storage_failure)? {
                if visible(&ctx, &owner, &requester, &node, &stored(&node, &json)).await? {
                    items.push(Item { jid: Jid::from(owner.clone()), node: Some(node), name: None });
                }
            }
            Ok(items)
        })
    }

    fn info(
        &self,
        ctx: Ctx,
        owner: BareJid,
        requester: BareJid,
        node: String,
    ) -> BoxFuture<'static, Result<Option<DiscoInfoResult>, StanzaError>> {
        Box::pin(async move {
            let Some(json) = ctx.db.pubsub().node(owner.as_str(), &node).await.map_err(storage_failure)? else {
                return Ok(None);
            };
            let config = stored(&node, &json);
            if !visible(&ctx, &owner, &requester, &node, &config).await? {
                return Ok(None);
            }
            Ok(Some(DiscoInfoResult {
                node: Some(node),
                identities: vec![Identity { category: "pubsub".into(), type_: "leaf".into(), lang: None, name: None }],
                features: [ns::PUBSUB.to_owned()].into(),
                extensions: vec![metadata(&owner, &config)],
            }))
        })
    }
}

async fn visible(
    ctx: &Ctx,
    owner: &BareJid,
    requester: &BareJid,
    node: &str,
    config: &NodeConfig,
) -> Result<bool, StanzaError> {
    Ok(Audience::load(ctx, owner, node).await?.check(config, requester).is_ok())
}

/// §5.4: the node's metadata form.
fn metadata(owner: &BareJid, config: &NodeConfig) -> DataForm {
    let max = config.max_items.map_or("max".to_owned(), |n| n.to_string());
    let fields = vec![
        Field::text_single("pubsub#owner", owner.as_str()),
        Field::text_single("pubsub#title", &config.title),
        Field::text_single("pubsub#type", &config.payload_type),
        Field::text_single("pubsub#access_model", &NodeConfig::wire_name(&config.access_model)),
        Field::text_single("pubsub#max_items", &max),
    ];
    DataForm::new(DataFormType::Result_, META_DATA, fields)
}
