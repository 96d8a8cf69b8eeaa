//! Channels in storage: each channel is a pubsub owner (its bare JID) whose nodes hold what
//! XEP-0369 says they hold — participants, the JID map, information, allowed and banned
//! JIDs — with node subscriptions as pubsub subscriptions and the configuration as the
//! configuration node's JSON. A channel exists while its configuration node does.

use crate::channel::{Channel, ChannelConfig, Member};
use crate::forms;
use rhein_module::{Ctx, storage_failure};
use rhein_proto::mix::{JidMapEntry, Participant, nodes};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::{ItemPage, ItemRow};
use std::collections::BTreeSet;

/// Nodes every channel has from the start (the allowed node only once someone uses it).
const STANDARD: &[&str] = &[
    nodes::MESSAGES,
    nodes::PARTICIPANTS,
    nodes::INFO,
    nodes::PRESENCE,
    nodes::BANNED,
    nodes::JIDMAP,
    ns::AVATAR_DATA,
    ns::AVATAR_METADATA,
];

/// Items of a node, all of them (participants and lists are small enough to hold).
async fn all_items(ctx: &Ctx, owner: &str, node: &str) -> Result<Vec<ItemRow>, StanzaError> {
    let page = ctx.db.pubsub().items(owner, node, &ItemPage::First(i64::MAX)).await.map_err(storage_failure)?;
    Ok(page.map(|(rows, _)| rows).unwrap_or_default())
}

/// A channel from storage; `None` if there is no such channel.
pub(crate) async fn load(ctx: &Ctx, jid: &BareJid) -> Result<Option<Channel>, StanzaError> {
    let owner = jid.as_str();
    let pubsub = ctx.db.pubsub();
    let Some(config) = pubsub.node(owner, nodes::CONFIG).await.map_err(storage_failure)? else { return Ok(None) };
    // A configuration that does not read is not replaced by a default (open): the channel
    // is not served until someone looks at it.
    let config: ChannelConfig = serde_json::from_str(&config).map_err(|e| {
        tracing::error!(channel = %jid, error = %e, "stored channel configuration does not parse; channel not served");
        StanzaError::internal_server_error().with_text("the channel's configuration is damaged")
    })?;
    let mut channel = Channel::new(jid.clone(), config);
    if let Some(row) = all_items(ctx, owner, nodes::INFO).await?.pop() {
        channel.info = row.payload.parse::<Element>().map(|form| forms::read_info(&form, &row.id)).unwrap_or_default();
    }
    let mut jids = std::collections::HashMap::new();
    for row in all_items(ctx, owner, nodes::JIDMAP).await? {
        let entry = row.payload.parse::<Element>().ok().and_then(|e| JidMapEntry::try_from(e).ok());
        if let Some(jid) = entry.and_then(|e| BareJid::new(&e.jid).ok()) {
            jids.insert(row.id, jid);
        }
    }
    for row in all_items(ctx, owner, nodes::PARTICIPANTS).await? {
        let nick = row.payload.parse::<Element>().ok().and_then(|e| Participant::try_from(e).ok()).and_then(|p| p.nick);
        if let Some(jid) = jids.remove(&row.id) {
            channel.participants.insert(row.id, Member { jid, nick });
        }
    }
    for (node, _) in pubsub.nodes(owner).await.map_err(storage_failure)? {
        let subscribers: BTreeSet<BareJid> = pubsub
            .subscribers(owner, &node)
            .await
            .map_err(storage_failure)?
            .iter()
            .filter_map(|j| BareJid::new(j).ok())
            .collect();
        if !subscribers.is_empty() {
            channel.subscriptions.insert(node.clone(), subscribers);
        }
        if node == nodes::ALLOWED {
            channel.allowed = Some(all_items(ctx, owner, &node).await?.into_iter().map(|r| r.id).collect());
        }
    }
    channel.banned = all_items(ctx, owner, nodes::BANNED).await?.into_iter().map(|r| r.id).collect();
    channel.preferences = crate::preferences::load(ctx, jid).await?.into_iter().collect();
    Ok(Some(channel))
}

/// Creates a channel's nodes; `false` if it exists already.
pub(crate) async fn create(ctx: &Ctx, channel: &Channel) -> Result<bool, StanzaError> {
    let owner = channel.jid.as_str();
    let pubsub = ctx.db.pubsub();
    let config = serde_json::to_string(&channel.config).unwrap_or_default();
    if !pubsub.create(owner, nodes::CONFIG, &config).await.map_err(storage_failure)? {
        return Ok(false);
    }
    for node in STANDARD {
        pubsub.create(owner, node, "{}").await.map_err(storage_failure)?;
    }
    save_info(ctx, channel).await?;
    Ok(true)
}

pub(crate) async fn save_config(ctx: &Ctx, channel: &Channel) -> Result<(), StanzaError> {
    let config = serde_json::to_string(&channel.config).unwrap_or_default();
    ctx.db.pubsub().configure(channel.jid.as_str(), nodes::CONFIG, &config, None).await.map_err(storage_failure)?;
    Ok(())
}

/// Stores the information node's single item.
pub(crate) async fn save_info(ctx: &Ctx, channel: &Channel) -> Result<(), StanzaError> {
    let owner = channel.jid.as_str();
    let item = ItemRow {
        id: channel.info.modified.clone(),
        publisher: owner.to_owned(),
        payload: xml::to_string(&forms::info_form(&channel.info, "result")),
    };
    ctx.db.pubsub().publish(owner, nodes::INFO, "{}", &item, Some(1)).await.map_err(storage_failure).map(drop)
}

/// Stores a participant (its nick, and its JID in the JID map).
pub(crate) async fn put_participant(ctx: &Ctx, channel: &Channel, id: &str, m: &Member) -> Result<(), StanzaError> {
    let owner = channel.jid.as_str();
    let pubsub = ctx.db.pubsub();
    let nick = ItemRow {
        id: id.to_owned(),
        publisher: owner.to_owned(),
        payload: xml::to_string(&Element::from(Participant { nick: m.nick.clone(), jid: None })),
    };
    let jid = ItemRow {
        id: id.to_owned(),
        publisher: owner.to_owned(),
        payload: xml::to_string(&Element::from(JidMapEntry { jid: m.jid.to_string() })),
    };
    pubsub.publish(owner, nodes::JIDMAP, "{}", &jid, None).await.map_err(storage_failure)?;
    pubsub.publish(owner, nodes::PARTICIPANTS, "{}", &nick, None).await.map_err(storage_failure).map(drop)
}

/// Forgets a participant and its subscriptions.
pub(crate) async fn remove_participant(
    ctx: &Ctx,
    channel: &Channel,
    id: &str,
    who: &BareJid,
) -> Result<(), StanzaError> {
    let owner = channel.jid.as_str();
    let pubsub = ctx.db.pubsub();
    pubsub.retract(owner, nodes::PARTICIPANTS, id).await.map_err(storage_failure)?;
    pubsub.retract(owner, nodes::JIDMAP, id).await.map_err(storage_failure)?;
    for node in channel.subscriptions.keys() {
        pubsub.set_subscription(owner, node, who.as_str(), false).await.map_err(storage_failure)?;
    }
    crate::preferences::forget(ctx, channel, who).await
}

pub(crate) async fn set_subscription(
    ctx: &Ctx,
    channel: &Channel,
    node: &str,
    who: &BareJid,
    on: bool,
) -> Result<(), StanzaError> {
    // Every node one can subscribe to exists (see `Channel::subscribable`).
    ctx.db.pubsub().set_subscription(channel.jid.as_str(), node, who.as_str(), on).await.map_err(storage_failure)?;
    Ok(())
}

/// Adds (`true`) or removes a JID on the allowed or banned list.
pub(crate) async fn list_entry(
    ctx: &Ctx,
    channel: &Channel,
    node: &str,
    entry: &str,
    on: bool,
) -> Result<(), StanzaError> {
    let owner = channel.jid.as_str();
    let pubsub = ctx.db.pubsub();
    if on {
        let item = ItemRow { id: entry.to_owned(), publisher: owner.to_owned(), payload: String::new() };
        pubsub.publish(owner, node, "{}", &item, None).await.map_err(storage_failure).map(drop)
    } else {
        pubsub.retract(owner, node, entry).await.map_err(storage_failure).map(|_| ())
    }
}

/// Creates the allowed node (empty: only owners and administrators may join).
pub(crate) async fn create_allowed(ctx: &Ctx, channel: &Channel) -> Result<(), StanzaError> {
    ctx.db.pubsub().create(channel.jid.as_str(), nodes::ALLOWED, "{}").await.map_err(storage_failure).map(|_| ())
}

/// Deletes a channel: its nodes and its archive.
pub(crate) async fn destroy(ctx: &Ctx, jid: &BareJid) -> Result<(), StanzaError> {
    ctx.db.pubsub().delete_owner(jid.as_str()).await.map_err(storage_failure)?;
    ctx.db.archive().delete_owner(jid.as_str()).await.map_err(storage_failure)?;
    Ok(())
}

/// The channels of a service.
pub(crate) async fn channels(ctx: &Ctx, domain: &str) -> Result<Vec<BareJid>, StanzaError> {
    let owners = ctx.db.pubsub().owners_with_node(domain, nodes::CONFIG).await.map_err(storage_failure)?;
    Ok(owners.iter().filter_map(|o| BareJid::new(o).ok()).collect())
}

/// Items of a generic node (avatar data and metadata) for reading.
pub(crate) async fn items(ctx: &Ctx, channel: &Channel, node: &str) -> Result<Vec<ItemRow>, StanzaError> {
    all_items(ctx, channel.jid.as_str(), node).await
}

/// Publishes to a generic node (avatars), keeping the newest item only.
pub(crate) async fn publish(ctx: &Ctx, channel: &Channel, node: &str, item: &ItemRow) -> Result<(), StanzaError> {
    ctx.db.pubsub().publish(channel.jid.as_str(), node, "{}", item, Some(1)).await.map_err(storage_failure).map(drop)
}
