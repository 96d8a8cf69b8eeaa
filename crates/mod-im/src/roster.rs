//! RFC 6121 §2: roster get, set and remove, roster pushes to interested resources, and
//! XEP-0237 versioning (a client sending the current `ver` gets an empty result).

use crate::{internal, pam, subscription};
use rhein_module::{Ctx, Interest, IqResult, own_request};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::RosterRow;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Serializes the read-modify-write of one account's roster: several sessions of the account
/// (two clients approving the same request) must not overwrite each other's change. Held only
/// around storage, never while routing, so accounts sharing a stripe cannot deadlock.
pub(crate) async fn lock(owner: &BareJid) -> tokio::sync::MutexGuard<'static, ()> {
    const STRIPES: usize = 64;
    static LOCKS: LazyLock<Vec<tokio::sync::Mutex<()>>> =
        LazyLock::new(|| (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    owner.hash(&mut h);
    LOCKS[(h.finish() % STRIPES as u64) as usize].lock().await
}

/// The most items a roster may hold (`[modules.im] max_roster_items`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RosterLimit(pub usize);

impl RosterLimit {
    /// Whether `owner`'s roster can take one more item. Cheap: the size comes from the
    /// roster kept in memory.
    pub(crate) async fn has_room(self, ctx: &Ctx, owner: &BareJid) -> Result<bool, StanzaError> {
        Ok(ctx.db.roster().len(owner.as_str()).await.map_err(internal)? < self.0)
    }

    /// What refuses a new item to a full roster.
    pub(crate) fn refusal(self) -> StanzaError {
        StanzaError::not_allowed().with_text(format!("the roster is full: at most {} items", self.0))
    }
}

/// `contact`'s item in `owner`'s roster, or a new one if the roster has room for it (items
/// already in it may always change).
pub(crate) async fn item_or_new(
    ctx: &Ctx,
    owner: &BareJid,
    contact: &BareJid,
    limit: RosterLimit,
) -> Result<RosterRow, StanzaError> {
    match ctx.db.roster().item(owner.as_str(), contact.as_str()).await.map_err(internal)? {
        Some(row) => Ok(row),
        None if limit.has_room(ctx, owner).await? => Ok(RosterRow::new(contact.as_str())),
        None => Err(limit.refusal()),
    }
}

/// The `<item/>` of a stored roster row.
pub(crate) fn item_element(row: &RosterRow) -> Element {
    let mut item = xml::with_attr(Element::bare("item", ns::ROSTER), "jid", row.contact.as_str());
    xml::set_attr(&mut item, "subscription", row.subscription.as_str());
    if let Some(name) = &row.name {
        xml::set_attr(&mut item, "name", name.as_str());
    }
    if row.ask {
        xml::set_attr(&mut item, "ask", "subscribe");
    }
    if row.approved {
        xml::set_attr(&mut item, "approved", "true");
    }
    for g in &row.groups {
        item.append_child(xml::text_el("group", ns::ROSTER, g.as_str()));
    }
    item
}

pub(crate) async fn handle_roster_get(ctx: Ctx, iq: Element) -> IqResult {
    let from = own_request(&iq)?;
    let owner = from.to_bare();
    ctx.router.set_interest(&from, Interest::Roster, true);
    let version = ctx.db.roster().version(owner.as_str()).await.map_err(internal)?;
    let ver = version.to_string();
    let query = iq.get_child("query", ns::ROSTER);
    let annotate = pam::wants_annotations(&ctx, &from, query);
    if query.and_then(|q| q.attr("ver")) == Some(ver.as_str()) {
        return Ok(None);
    }
    let channels = if annotate { pam::channels(&ctx, &owner).await? } else { Default::default() };
    let mut q = xml::with_attr(Element::bare("query", ns::ROSTER), "ver", ver);
    for row in ctx.db.roster().items(owner.as_str()).await.map_err(internal)?.iter() {
        let mut item = item_element(row);
        if let Some(channel) = pam::annotation(&channels, &row.contact) {
            item.append_child(channel);
        }
        q.append_child(item);
    }
    Ok(Some(q))
}

pub(crate) async fn handle_roster_set(ctx: Ctx, iq: Element, limit: RosterLimit) -> IqResult {
    let from = own_request(&iq)?;
    let owner = from.to_bare();
    let query = iq.get_child("query", ns::ROSTER).ok_or_else(StanzaError::bad_request)?;
    let mut items = query.children().filter(|c| c.is("item", ns::ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(StanzaError::bad_request().with_text("a roster set carries exactly one item"));
    };
    let contact = item
        .attr("jid")
        .and_then(|j| BareJid::new(j).ok())
        .ok_or_else(|| StanzaError::bad_request().with_text("the item needs a bare JID"))?;
    if contact == owner {
        return Err(StanzaError::not_allowed().with_text("an account cannot be in its own roster"));
    }
    if item.attr("subscription") == Some("remove") {
        return remove(&ctx, &owner, &contact).await;
    }
    let mut groups: Vec<String> = Vec::new();
    for g in item.children().filter(|c| c.is("group", ns::ROSTER)) {
        let name = g.text();
        if name.trim().is_empty() || name.len() > 1023 {
            return Err(StanzaError::not_acceptable().with_text("group names must be 1 to 1023 bytes"));
        }
        if groups.contains(&name) {
            return Err(StanzaError::bad_request().with_text("duplicate group"));
        }
        groups.push(name);
    }
    let name = item.attr("name").filter(|n| !n.is_empty()).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.len() > 1023) {
        return Err(StanzaError::not_acceptable().with_text("name too long"));
    }
    let _roster = lock(&owner).await;
    let mut row = item_or_new(&ctx, &owner, &contact, limit).await?;
    // Subscription state is the server's to keep; `subscription` and `ask` from clients are ignored.
    row.name = name;
    row.groups = groups;
    let version = ctx.db.roster().upsert(owner.as_str(), &row).await.map_err(internal)?;
    push(&ctx, &owner, item_element(&row), version).await;
    Ok(None)
}

/// Removes an item, cancelling subscriptions both ways (RFC 6121 §2.5.2).
async fn remove(ctx: &Ctx, owner: &BareJid, contact: &BareJid) -> IqResult {
    let Some(row) = ctx.db.roster().item(owner.as_str(), contact.as_str()).await.map_err(internal)? else {
        return Err(StanzaError::item_not_found());
    };
    if matches!(row.subscription.as_str(), "to" | "both") || row.ask {
        subscription::send(ctx, owner, contact, "unsubscribe").await;
    }
    if matches!(row.subscription.as_str(), "from" | "both") {
        subscription::send(ctx, owner, contact, "unsubscribed").await;
    }
    ctx.db.subscription_requests().remove(owner.as_str(), contact.as_str()).await.map_err(internal)?;
    if let Some(version) = ctx.db.roster().remove(owner.as_str(), contact.as_str()).await.map_err(internal)? {
        let mut item = xml::with_attr(Element::bare("item", ns::ROSTER), "jid", contact.as_str());
        xml::set_attr(&mut item, "subscription", "remove");
        push(ctx, owner, item, version).await;
    }
    Ok(None)
}

static PUSH_ID: AtomicU64 = AtomicU64::new(1);

/// Sends a roster push to every resource that fetched the roster (RFC 6121 §2.1.6).
pub(crate) async fn push(ctx: &Ctx, owner: &BareJid, item: Element, version: i64) {
    push_annotated(ctx, owner, item, version, &Default::default()).await
}

/// A roster push whose item, if it is one of `channels`, is marked as a MIX channel for the
/// resources that asked for that (XEP-0405 §5.9).
pub(crate) async fn push_annotated(
    ctx: &Ctx,
    owner: &BareJid,
    item: Element,
    version: i64,
    channels: &std::collections::HashMap<String, String>,
) {
    let mut marked = item.clone();
    if let Some(channel) = pam::annotation(channels, item.attr("jid").unwrap_or_default()) {
        marked.append_child(channel);
    }
    for r in ctx.router.resources(owner).into_iter().filter(|r| r.wants(Interest::Roster)) {
        let mut query = xml::with_attr(Element::bare("query", ns::ROSTER), "ver", version.to_string());
        query.append_child(if r.wants(Interest::MixAnnotations) { marked.clone() } else { item.clone() });
        let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "set");
        xml::set_attr(&mut iq, "id", format!("push{}", PUSH_ID.fetch_add(1, Ordering::Relaxed)));
        xml::set_attr(&mut iq, "to", r.jid.as_str());
        iq.append_child(query);
        ctx.router.send_to(&r.jid, iq);
    }
}

/// Stores a changed row and pushes it.
pub(crate) async fn save(ctx: &Ctx, owner: &BareJid, row: &RosterRow) -> Result<(), StanzaError> {
    let version = ctx.db.roster().upsert(owner.as_str(), row).await.map_err(internal)?;
    push(ctx, owner, item_element(row), version).await;
    Ok(())
}
