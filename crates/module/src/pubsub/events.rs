//! Notifications (XEP-0060 §7.1.2, §7.2.2, §8.2.5, §8.4.2, §8.5.2): the `<event/>` of an
//! engine [`Notice`] and the message that carries it.

use crate::Ctx;
use rhein_proto::{Element, Jid, ns, xml};
use rhein_pubsub::{Event, Item, Notice, NotificationType};

/// An `<item/>` in namespace `ns_` (`pubsub` for results, `pubsub#event` for notifications),
/// with its payload unless `with_payload` is off.
pub fn item_element(ns_: &str, item: &Item, with_payload: bool) -> Element {
    let mut el = xml::with_attr(Element::bare("item", ns_), "id", item.id.as_str());
    if with_payload
        && !item.payload.is_empty()
        && let Ok(payload) = item.payload.parse::<Element>()
    {
        el.append_child(payload);
    }
    el
}

/// `<event><items node='…'>{children}</items></event>`.
pub fn items_event(node: &str, children: impl IntoIterator<Item = Element>) -> Element {
    let mut items = xml::with_attr(Element::bare("items", ns::PUBSUB_EVENT), "node", node);
    for c in children {
        items.append_child(c);
    }
    event(items)
}

/// `<event><{name} node='…'>{child}</{name}></event>`.
fn event_of(name: &str, node: &str, child: Option<Element>) -> Element {
    let mut inner = xml::with_attr(Element::bare(name, ns::PUBSUB_EVENT), "node", node);
    if let Some(child) = child {
        inner.append_child(child);
    }
    event(inner)
}

fn event(inner: Element) -> Element {
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(inner);
    event
}

/// The `<event/>` of an engine event.
pub fn event_element(notice: &Notice) -> Element {
    use super::form::NodeForm;
    let (node, config) = (notice.node.as_str(), &notice.config);
    match &notice.event {
        Event::Published { item, .. } => {
            items_event(node, [item_element(ns::PUBSUB_EVENT, item, config.deliver_payloads)])
        }
        Event::Retracted(ids) => {
            items_event(node, ids.iter().map(|id| xml::with_attr(Element::bare("retract", ns::PUBSUB_EVENT), "id", id)))
        }
        Event::Purged => event_of("purge", node, None),
        Event::Deleted { redirect } => {
            let redirect =
                redirect.as_ref().map(|uri| xml::with_attr(Element::bare("redirect", ns::PUBSUB_EVENT), "uri", uri));
            event_of("delete", node, redirect)
        }
        Event::Configured => event_of("configuration", node, config.deliver_payloads.then(|| config.to_form("result"))),
    }
}

/// The message carrying `event` from `from` to `to`, of the node's notification type, with
/// a `<body/>` for subscribers who asked for one (`pubsub#include_body`).
pub fn notification(from: &str, to: &str, event: &Element, kind: NotificationType, body: Option<&str>) -> Element {
    let kind = match kind {
        NotificationType::Headline => "headline",
        NotificationType::Normal => "normal",
    };
    let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "type", kind);
    xml::set_attr(&mut msg, "from", from);
    xml::set_attr(&mut msg, "to", to);
    xml::set_attr(&mut msg, "id", xml::random_id());
    if let Some(body) = body {
        msg.append_child(xml::text_el("body", ns::CLIENT, body));
    }
    msg.append_child(event.clone());
    msg
}

/// One headline per recipient, from `from` (XEP-0163 §4.3.3 for PEP: the owner's bare JID),
/// fanned out: the router serialises it once for all the sessions it reaches as it is.
pub async fn send_event(ctx: &Ctx, from: &str, recipients: &[String], event: &Element) {
    let to: Vec<Jid> = recipients.iter().filter_map(|r| Jid::new(r).ok()).collect();
    let Some(first) = to.first() else { return };
    let headline = notification(from, first.as_str(), event, NotificationType::Headline, None);
    ctx.router.fan_out(headline, to).await;
}
