//! RFC 6121 §2: roster get, set and remove, roster pushes to interested resources, and
//! XEP-0237 versioning (a client sending the current `ver` gets an empty result).

use crate::{internal, pam, subscription};
use rhein_module::roster::{result_item, wire_subscription};
use rhein_module::{Ctx, Interest, Iq, IqResult};
use rhein_proto::parsers::roster::{Ask, Group};
use rhein_proto::roster::{Item, Roster, Subscription as WireSubscription};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::{RosterRow, StorageError};
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

/// The wire item of a stored roster row. Contacts were stored as prepared bare JIDs.
pub(crate) fn item(row: &RosterRow) -> Result<Item, StanzaError> {
    let jid =
        BareJid::new(&row.contact).map_err(|e| internal(StorageError::Corrupt(format!("roster contact: {e}"))))?;
    Ok(Item {
        name: row.name.clone(),
        subscription: wire_subscription(row.subscription),
        ask: if row.ask { Ask::Subscribe } else { Ask::None },
        approved: row.approved.then_some(true),
        groups: row.groups.iter().cloned().map(Group).collect(),
        ..Item::new(jid)
    })
}

/// RFC 6121 §2.1.3 roster get; XEP-0237: a client holding the current version gets an
/// empty result (its pushes follow).
pub(crate) async fn handle_roster_get(ctx: Ctx, iq: Iq<Roster>) -> IqResult {
    let from = iq.own()?;
    let owner = from.to_bare();
    ctx.router.set_interest(&from, Interest::Roster, true);
    let annotate = pam::wants_annotations(&ctx, &from, iq.payload.annotate.is_some());
    let ver = ctx.db.roster().version(owner.as_str()).await.map_err(internal)?.to_string();
    if iq.payload.ver.as_deref() == Some(ver.as_str()) {
        return Ok(None);
    }
    let channels = if annotate { pam::channels(&ctx, &owner).await? } else { Default::default() };
    let rows = ctx.db.roster().items(owner.as_str()).await.map_err(internal)?;
    let annotations: Vec<_> = rows.iter().map(|row| pam::annotation(&channels, &row.contact)).collect();
    let items = rows.iter().zip(&annotations).map(|(row, channel)| result_item(row, channel.as_ref()));
    Ok(Some(rhein_proto::roster::result_element(&ver, items)))
}

/// RFC 6121 §2.3 and §2.5: a roster set adds, changes or removes one item.
pub(crate) async fn handle_roster_set(ctx: Ctx, iq: Iq<Roster>, limit: RosterLimit) -> IqResult {
    let owner = iq.own()?.to_bare();
    let mut items = iq.payload.items.into_iter();
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(StanzaError::bad_request().with_text("a roster set carries exactly one item"));
    };
    let contact = item.jid;
    if contact == owner {
        return Err(StanzaError::not_allowed().with_text("an account cannot be in its own roster"));
    }
    if item.subscription == WireSubscription::Remove {
        return remove(&ctx, &owner, &contact).await;
    }
    let mut groups: Vec<String> = Vec::new();
    for Group(name) in item.groups {
        if name.trim().is_empty() || name.len() > 1023 {
            return Err(StanzaError::not_acceptable().with_text("group names must be 1 to 1023 bytes"));
        }
        if groups.contains(&name) {
            return Err(StanzaError::bad_request().with_text("duplicate group"));
        }
        groups.push(name);
    }
    let name = item.name.filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.len() > 1023) {
        return Err(StanzaError::not_acceptable().with_text("name too long"));
    }
    let _roster = lock(&owner).await;
    let mut row = item_or_new(&ctx, &owner, &contact, limit).await?;
    // Subscription state is the server's to keep; `subscription` and `ask` from clients are ignored.
    row.name = name;
    row.groups = groups;
    save(&ctx, &owner, &row).await?;
    Ok(None)
}

/// Removes an item, cancelling subscriptions both ways (RFC 6121 §2.5.2). The roster changes
/// under its lock; the cancellations are routed once it is released.
async fn remove(ctx: &Ctx, owner: &BareJid, contact: &BareJid) -> IqResult {
    let (row, version) = {
        let _roster = lock(owner).await;
        let Some(row) = ctx.db.roster().item(owner.as_str(), contact.as_str()).await.map_err(internal)? else {
            return Err(StanzaError::item_not_found());
        };
        ctx.db.subscription_requests().remove(owner.as_str(), contact.as_str()).await.map_err(internal)?;
        (row, ctx.db.roster().remove(owner.as_str(), contact.as_str()).await.map_err(internal)?)
    };
    if row.subscription.to() || row.ask {
        subscription::send(ctx, owner, contact, "unsubscribe").await;
    }
    if row.subscription.from() {
        subscription::send(ctx, owner, contact, "unsubscribed").await;
    }
    if let Some(version) = version {
        push(ctx, owner, Item::removed(contact.clone()), version).await;
    }
    Ok(None)
}

static PUSH_ID: AtomicU64 = AtomicU64::new(1);

/// Sends a roster push to every resource that fetched the roster (RFC 6121 §2.1.6).
pub(crate) async fn push(ctx: &Ctx, owner: &BareJid, item: Item, version: i64) {
    push_annotated(ctx, owner, item, version, &Default::default()).await
}

/// A roster push whose item, if it is one of `channels`, is marked as a MIX channel for the
/// resources that asked for that (XEP-0405 §5.9).
pub(crate) async fn push_annotated(
    ctx: &Ctx,
    owner: &BareJid,
    item: Item,
    version: i64,
    channels: &std::collections::HashMap<String, String>,
) {
    let channel = pam::annotation(channels, item.jid.as_str());
    let query =
        |item: Item| Element::from(Roster { ver: Some(version.to_string()), items: vec![item], annotate: None });
    let (plain, marked) = match channel {
        Some(channel) => (query(item.clone()), query(Item { channel: Some(channel), ..item })),
        None => {
            let plain = query(item);
            (plain.clone(), plain)
        }
    };
    for r in ctx.router.resources(owner).into_iter().filter(|r| r.wants(Interest::Roster)) {
        let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "set");
        xml::set_attr(&mut iq, "id", format!("push{}", PUSH_ID.fetch_add(1, Ordering::Relaxed)));
        xml::set_attr(&mut iq, "to", r.jid.as_str());
        iq.append_child(if r.wants(Interest::MixAnnotations) { marked.clone() } else { plain.clone() });
        ctx.router.send_to(&r.jid, iq);
    }
}

/// Stores a changed row and pushes it.
pub(crate) async fn save(ctx: &Ctx, owner: &BareJid, row: &RosterRow) -> Result<(), StanzaError> {
    let version = ctx.db.roster().upsert(owner.as_str(), row).await.map_err(internal)?;
    push(ctx, owner, item(row)?, version).await;
    Ok(())
}
