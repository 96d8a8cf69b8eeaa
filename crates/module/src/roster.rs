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
