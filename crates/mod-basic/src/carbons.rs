//! XEP-0280: Message Carbons — every resource of an account that enabled carbons sees the
//! chats its other resources send and receive.

use rhein_module::{Ctx, Flow, Interest, Iq, IqResult, ModuleError, Registry, Stage, Stanza, Targets};
use rhein_proto::ns::{self, CARBONS as NS, FORWARD, HINTS};
use rhein_proto::parsers::carbons::{Disable, Enable};
use rhein_proto::{BareJid, Element, FullJid, StanzaError, xml};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(NS);
    reg.set(Targets::Account, |ctx, iq: Iq<Enable>| toggle(ctx, iq, true))?;
    reg.set(Targets::Account, |ctx, iq: Iq<Disable>| toggle(ctx, iq, false))?;
    reg.bind2_feature(NS, enable_inline);
    reg.stage(Stage::OutboundMessage, 0, handle_sent);
    reg.stage_when(
        Stage::InboundMessage,
        0,
        |_, s| eligible(&s.el) || s.el.get_child("private", NS).is_some(),
        handle_received,
    );
    Ok(())
}

async fn toggle<P>(ctx: Ctx, iq: Iq<P>, on: bool) -> IqResult {
    ctx.router.set_interest(&iq.own()?, Interest::Carbons, on);
    Ok(None)
}

/// XEP-0386: carbons enabled inside Bind2, as by the IQ (only `<enable/>` asks for anything).
async fn enable_inline(ctx: Ctx, jid: FullJid, el: Element) -> Option<Element> {
    if Enable::try_from(el).is_ok() {
        ctx.router.set_interest(&jid, Interest::Carbons, true);
    }
    None
}

/// Chats, and normal messages with a body (XEP-0280 §6), unless marked private or no-copy.
fn eligible(el: &Element) -> bool {
    if el.name() != "message" || el.get_child("private", NS).is_some() || el.get_child("no-copy", HINTS).is_some() {
        return false;
    }
    // Carbon copies themselves are never copied again.
    if el.get_child("sent", NS).is_some() || el.get_child("received", NS).is_some() {
        return false;
    }
    match el.attr("type").unwrap_or("normal") {
        "chat" => true,
        "normal" => el.get_child("body", ns::CLIENT).is_some(),
        _ => false,
    }
}

/// `<message from=bare to=resource><{wrapper}><forwarded><message/></forwarded></{wrapper}></message>`
fn carbon(wrapper: &str, owner: &BareJid, to: &FullJid, original: &Element) -> Element {
    let mut forwarded = Element::bare("forwarded", FORWARD);
    forwarded.append_child(original.clone());
    let mut w = Element::bare(wrapper, NS);
    w.append_child(forwarded);
    let mut m = xml::with_attr(Element::bare("message", ns::CLIENT), "from", owner.as_str());
    xml::set_attr(&mut m, "to", to.as_str());
    xml::set_attr(&mut m, "type", original.attr("type").unwrap_or("normal"));
    m.append_child(w);
    m
}

/// Strips `<private/>`: it is an instruction to this server, not to the recipient.
fn without_private(mut stanza: Stanza) -> Stanza {
    stanza.el.remove_child("private", NS);
    stanza
}

/// A message sent by one resource is copied to the account's other carbon-enabled resources.
async fn handle_sent(ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    if !eligible(&stanza.el) {
        return Ok(Flow::Continue(without_private(stanza)));
    }
    let owner = stanza.from.to_bare();
    for r in ctx.router.resources(&owner) {
        if r.jid != stanza.from && r.wants(Interest::Carbons) {
            ctx.router.send_to(&r.jid, carbon("sent", &owner, &r.jid, &stanza.el));
        }
    }
    Ok(Flow::Continue(stanza))
}

/// A message to the account is copied to its carbon-enabled resources that do not get it.
async fn handle_received(ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    if !eligible(&stanza.el) {
        return Ok(Flow::Continue(without_private(stanza)));
    }
    let owner = stanza.to.to_bare();
    let resources = ctx.router.resources(&owner);
    let targets: Vec<FullJid> = match stanza.to.try_as_full() {
        Ok(full) if resources.iter().any(|r| r.jid == *full) => vec![full.clone()],
        _ => ctx.router.message_targets(&owner, stanza.stanza_type().unwrap_or("normal")),
    };
    for r in resources {
        if r.wants(Interest::Carbons) && !targets.contains(&r.jid) {
            ctx.router.send_to(&r.jid, carbon("received", &owner, &r.jid, &stanza.el));
        }
    }
    Ok(Flow::Continue(stanza))
}
