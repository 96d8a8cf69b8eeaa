//! Subscription approval (XEP-0060 §8.6): on an `authorize` node, each owner gets a
//! `pubsub#subscribe_authorization` form for a new subscriber; the first answer decides,
//! and the subscriber is told.

use crate::service::{Pubsub, Requester};
use rhein_module::pubsub::refusal;
use rhein_module::{Ctx, Stanza, storage_failure};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use rhein_proto::parsers::message::{Id, Message, MessageType};
use rhein_proto::{Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::Affiliation;

const AUTHORIZATION: &str = "http://jabber.org/protocol/pubsub#subscribe_authorization";

/// The form an owner fills in.
fn request_form(node: &str, subscriber: &Jid) -> DataForm {
    let mut form = DataForm::new(
        DataFormType::Form,
        AUTHORIZATION,
        vec![
            Field::text_single("pubsub#node", node),
            Field::new("pubsub#subscriber_jid", FieldType::JidSingle).with_value(subscriber.as_str()),
            Field::new("pubsub#allow", FieldType::Boolean).with_value("false"),
        ],
    );
    form.title = Some("Subscription request".into());
    form.instructions = Some(format!("Allow {subscriber} to subscribe to {node}?"));
    form
}

/// Sends every owner of the node the approval form for `subscriber`.
pub(crate) async fn ask_owners(ctx: &Ctx, service: &str, node: &str, subscriber: &Jid) -> Result<(), StanzaError> {
    let affiliations = ctx.db.pubsub().affiliations(service, node).await.map_err(storage_failure)?;
    for (owner, _) in affiliations.into_iter().filter(|(_, a)| *a == Affiliation::Owner) {
        let (Ok(to), Ok(from)) = (Jid::new(&owner), Jid::new(service)) else { continue };
        let mut message = Message::new_with_type(MessageType::Normal, Some(to));
        message.payloads.push(request_form(node, subscriber).into());
        message.from = Some(from);
        message.id = Some(Id(xml::random_id()));
        ctx.router.route(message.into()).await;
    }
    Ok(())
}

/// A message to the service: an owner's answer to an approval form, or nothing it knows.
pub(crate) async fn answered(service_module: &Pubsub, ctx: &Ctx, message: &Stanza) -> Result<(), StanzaError> {
    let Some(form) = message.el.get_child("x", ns::DATA).cloned() else { return Ok(()) };
    let form = DataForm::try_from(form).map_err(|_| StanzaError::bad_request())?;
    if form.type_ != DataFormType::Submit || form.form_type() != Some(AUTHORIZATION) {
        return Ok(());
    }
    let value = |var: &str| form.fields.iter().find(|f| f.var.as_deref() == Some(var)).and_then(|f| f.values.first());
    let node = value("pubsub#node").ok_or_else(StanzaError::bad_request)?;
    let subscriber =
        value("pubsub#subscriber_jid").and_then(|j| Jid::new(j).ok()).ok_or_else(StanzaError::bad_request)?;
    let allow = rhein_proto::form::boolean(value("pubsub#allow").map_or("false", String::as_str))?;
    let service = service_module.address(ctx);
    let who = Requester::of(ctx, &message.from).await;
    let standing = service_module.standing(ctx, &service, node, &who).await?;
    let engine = service_module.engine(ctx, &service, &who);
    let decided = engine.decide(&Pubsub::actor(&who, &standing), node, subscriber.as_str(), allow).await;
    let approved = decided.map_err(refusal)?;
    // §8.6: the subscriber hears how it went.
    let mut subscription = xml::with_attr(Element::bare("subscription", ns::PUBSUB_EVENT), "node", node.as_str());
    xml::set_attr(&mut subscription, "jid", subscriber.as_str());
    xml::set_attr(&mut subscription, "subscription", if approved.is_some() { "subscribed" } else { "none" });
    if let Some(approved) = &approved {
        xml::set_attr(&mut subscription, "subid", approved.subid.as_str());
    }
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(subscription);
    let mut notice = xml::with_attr(Element::bare("message", ns::CLIENT), "from", service.as_str());
    xml::set_attr(&mut notice, "to", subscriber.as_str());
    xml::set_attr(&mut notice, "id", xml::random_id());
    notice.append_child(event);
    ctx.router.route(notice).await;
    Ok(())
}
