//! Retrieving items (XEP-0060 §6.5): all of them, the newest `max_items`, some by id, or a
//! page (XEP-0059), from any service's nodes. Who may ask is checked before.

use super::{item_element, wrap};
use crate::{Ctx, storage_failure};
use rhein_proto::parsers::rsm::{First, SetQuery, SetResult};
use rhein_proto::pubsub as ps;
use rhein_proto::{Element, StanzaError, ns, xml};
use rhein_pubsub::NodeConfig;
use rhein_storage::ItemPage;

/// What was asked of a node whose owner (`service`) and configuration are known.
pub struct ItemsQuery<'a> {
    /// The node's owner in storage: an account's bare JID, or the service's address.
    pub service: &'a str,
    pub node: &'a str,
    pub config: &'a NodeConfig,
    pub request: ps::Items,
    pub rsm: Option<SetQuery>,
    /// The most items one answer holds.
    pub limit: u32,
}

/// The `<pubsub><items/></pubsub>` answering `query`, with a `<set/>` when it asked for a page.
pub async fn items(ctx: &Ctx, query: ItemsQuery<'_>) -> Result<Element, StanzaError> {
    let ItemsQuery { service, node, config, request, rsm, limit } = query;
    let pubsub = ctx.db.pubsub();
    if let Some(seconds) = config.item_expire {
        let before =
            rhein_storage::now_ms().saturating_sub(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX));
        pubsub.expire(service, node, before).await.map_err(storage_failure)?;
    }
    let limit = i64::from(limit);
    let ids: Vec<String> = request.items.iter().filter_map(|i| i.id.clone()).collect();
    let (rows, count) = if !ids.is_empty() {
        let rows = pubsub.items_by_id(service, node, &ids).await.map_err(storage_failure)?;
        if rows.is_empty() {
            return Err(StanzaError::item_not_found().with_text("no such item"));
        }
        (rows, None)
    } else {
        let max_items = request.max_items.as_deref();
        let max = match (rsm.as_ref().and_then(|r| r.max), max_items) {
            (Some(m), _) => i64::try_from(m).unwrap_or(i64::MAX).min(limit),
            (None, Some(m)) => m
                .trim()
                .parse::<i64>()
                .map(|n| n.clamp(0, limit))
                .map_err(|_| StanzaError::bad_request().with_text("max_items must be a number"))?,
            (None, None) => limit,
        };
        let paged = rsm.is_some();
        let (after, before) = rsm.map(|r| (r.after, r.before)).unwrap_or_default();
        let page = match (after, before, max_items) {
            (Some(a), _, _) if !a.is_empty() => ItemPage::After(a, max),
            (_, Some(b), _) if !b.is_empty() => ItemPage::Before(b, max),
            (_, Some(_), _) | (None, None, Some(_)) => ItemPage::Last(max),
            _ => ItemPage::First(max),
        };
        let (rows, count) = pubsub
            .items(service, node, &page)
            .await
            .map_err(storage_failure)?
            .ok_or_else(|| StanzaError::item_not_found().with_text("no such item to page from"))?;
        (rows, paged.then_some(count))
    };
    let mut items = xml::with_attr(Element::bare("items", ns::PUBSUB), "node", node);
    for row in &rows {
        items.append_child(item_element(ns::PUBSUB, row, true));
    }
    let mut out = wrap(ns::PUBSUB, items);
    if let Some(count) = count {
        let bounds = rows.first().zip(rows.last());
        let set = SetResult {
            first: bounds.map(|(f, _)| First { index: None, item: f.id.clone() }),
            last: bounds.map(|(_, l)| l.id.clone()),
            count: Some(count.max(0) as usize),
        };
        out.append_child(set.into());
    }
    Ok(out)
}
