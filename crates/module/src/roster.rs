//! Stored roster rows as the wire writes them, for the modules that show a roster (the
//! account's own in mod-im, an administrator's view of it in mod-admin).

use rhein_proto::Element;
use rhein_proto::roster::{ResultItem, Subscription as WireSubscription};
use rhein_storage::{RosterRow, Subscription};

/// A stored subscription as the wire writes it.
pub fn wire_subscription(stored: Subscription) -> WireSubscription {
    match stored {
        Subscription::None => WireSubscription::None,
        Subscription::To => WireSubscription::To,
        Subscription::From => WireSubscription::From,
        Subscription::Both => WireSubscription::Both,
    }
}

/// A roster row as a result item, with the MIX channel annotation given (XEP-0405 §5.9).
pub fn result_item<'a>(row: &'a RosterRow, channel: Option<&'a rhein_proto::mix::RosterChannel>) -> ResultItem<'a> {
    ResultItem {
        jid: &row.contact,
        name: row.name.as_deref(),
        subscription: wire_subscription(row.subscription),
        ask: row.ask,
        approved: row.approved,
        groups: &row.groups,
        channel,
    }
}

/// The `<query xmlns='jabber:iq:roster' ver/>` of stored rows, without annotations.
pub fn query<'a>(ver: &str, rows: impl IntoIterator<Item = &'a RosterRow>) -> Element {
    rhein_proto::roster::result_element(ver, rows.into_iter().map(|row| result_item(row, None)))
}

/// Deletes an account and everything stored of it, then tells its contacts what a client
/// would have told them, had it cancelled everything first (RFC 6121 §3.2, §3.3): its
/// sessions' `unavailable`, `unsubscribe` to the contacts it was subscribed to, and
/// `unsubscribed` to those subscribed to it, so no roster here or on another server keeps a
/// subscription to an account that is gone. `false` if there was no such account.
pub async fn delete_account(
    ctx: &crate::Ctx,
    account: &rhein_proto::BareJid,
) -> Result<bool, rhein_storage::StorageError> {
    use rhein_proto::{ns, xml};
    let (host, user) = (account.domain().as_str(), account.node().map(|n| n.as_str()).unwrap_or_default());
    let contacts = ctx.db.roster().items(account.as_str()).await?;
    let sessions = ctx.router.resources(account);
    if !ctx.db.accounts().delete(host, user).await? {
        return Ok(false);
    }
    let presence = |from: &str, to: &str, kind: &str| {
        let mut p = xml::with_attr(Element::bare("presence", ns::CLIENT), "from", from);
        xml::set_attr(&mut p, "to", to);
        xml::set_attr(&mut p, "type", kind);
        p
    };
    for contact in contacts.iter() {
        let subscribed_to_us = matches!(contact.subscription, Subscription::From | Subscription::Both);
        let we_subscribed = matches!(contact.subscription, Subscription::To | Subscription::Both) || contact.ask;
        if subscribed_to_us {
            for session in sessions.iter().filter(|s| s.is_available()) {
                ctx.router.route(presence(session.jid.as_str(), &contact.contact, "unavailable")).await;
            }
            ctx.router.route(presence(account.as_str(), &contact.contact, "unsubscribed")).await;
        }
        if we_subscribed {
            ctx.router.route(presence(account.as_str(), &contact.contact, "unsubscribe")).await;
        }
    }
    Ok(true)
}
