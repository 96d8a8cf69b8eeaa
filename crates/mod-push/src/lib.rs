//! XEP-0357 Push Notifications for accounts. A client registers an app server (`jid`, `node`,
//! optional publish-options); when a message arrives and nobody is looking at the account
//! (all offline, hibernating after XEP-0198, or inactive per XEP-0352), the server publishes a summary to
//! every registration: message count, last sender, and the body only where the user asked for
//! it (`<include-body/>`, a Rhein extension) and the operator allows it. Pushes go through the
//! router like any IQ; an app server that keeps failing is disabled.

use rhein_module::{
    Ctx, Event, Flow, IqKind, IqResult, Module, ModuleError, ModuleSpec, Registry, Stage, Targets, own_request,
    storage_failure,
};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_storage::PushRegistration;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS: &str = "urn:xmpp:push:0";
const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const NS_DATA: &str = "jabber:x:data";
/// `<include-body xmlns=…/>` in `<enable/>`: this client wants message bodies in its pushes.
pub const NS_BODY: &str = "https://rhein.chat/protocol/push:0";

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "push", build }];

/// `[modules.push]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Message bodies in pushes (they then pass through the app server and the platform's
    /// push service): `never`, `opt-in` (registrations that asked with `<include-body/>`)
    /// or `always`.
    pub bodies: Bodies,
    /// Attempts per push before the registration is disabled.
    pub attempts: u32,
    /// How long to wait for the app server's answer to one attempt.
    pub timeout_secs: u64,
}

/// Chats and normal messages with a body: what a push notification is about.
fn may_notify(el: &Element) -> bool {
    el.get_child("body", ns::CLIENT).is_some() && !matches!(el.attr("type"), Some("groupchat" | "error" | "headline"))
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { bodies: Bodies::OptIn, attempts: 3, timeout_secs: 20 }
    }
}

/// Whose pushes carry message bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bodies {
    Never,
    OptIn,
    Always,
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    let config = PushConfig::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| ModuleError::Config { module: "push", reason: e.to_string() })?;
    Ok(Arc::new(Push { config, unseen: Mutex::default() }))
}

struct Push {
    config: PushConfig,
    /// Messages each account received since it was last online (the `message-count`).
    unseen: Mutex<HashMap<BareJid, u64>>,
}

impl Module for Push {
    fn name(&self) -> &'static str {
        "push"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.account_feature(NS);
        if self.config.bodies == Bodies::OptIn {
            reg.account_feature(NS_BODY);
        }
        reg.iq(IqKind::Set, Targets::Account, NS, "enable", handle_enable)?;
        reg.iq(IqKind::Set, Targets::Account, NS, "disable", handle_disable)?;
        let this = self.clone();
        // After archiving (10) and carbons (0): it only observes.
        reg.stage_when(
            Stage::InboundMessage,
            -10,
            |_, el, _| may_notify(el),
            move |ctx, el| this.clone().handle_message(ctx, el),
        );
        reg.on_event(move |_ctx, ev| {
            if let Event::SessionBound(jid) = ev {
                self.unseen.lock().unwrap_or_else(|e| e.into_inner()).remove(&jid.to_bare());
            }
            async {}
        });
        Ok(())
    }
}

async fn handle_enable(ctx: Ctx, iq: Element) -> IqResult {
    let owner = own_request(&iq)?.to_bare();
    let el = iq.get_child("enable", NS).ok_or_else(StanzaError::bad_request)?;
    let service = el
        .attr("jid")
        .and_then(|j| Jid::new(j).ok())
        .ok_or_else(|| StanzaError::bad_request().with_text("jid required"))?;
    let node = el
        .attr("node")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| StanzaError::bad_request().with_text("node required"))?;
    let options = el.get_child("x", NS_DATA).map(xml::to_string);
    let with_body = el.get_child("include-body", NS_BODY).is_some();
    let reg = PushRegistration { service: service.to_string(), node: node.to_owned(), options, with_body };
    ctx.db.push().enable(owner.as_str(), &reg).await.map_err(storage_failure)?;
    Ok(None)
}

async fn handle_disable(ctx: Ctx, iq: Element) -> IqResult {
    let owner = own_request(&iq)?.to_bare();
    let el = iq.get_child("disable", NS).ok_or_else(StanzaError::bad_request)?;
    let service = el
        .attr("jid")
        .and_then(|j| Jid::new(j).ok())
        .ok_or_else(|| StanzaError::bad_request().with_text("jid required"))?;
    ctx.db.push().disable(owner.as_str(), service.as_str(), el.attr("node")).await.map_err(storage_failure)?;
    Ok(None)
}

fn field(var: &str, value: &str) -> Element {
    let mut f = xml::with_attr(Element::bare("field", NS_DATA), "var", var);
    f.append_child(xml::text_el("value", NS_DATA, value));
    f
}

impl Push {
    /// A message for the account: push if nobody is there to see it.
    async fn handle_message(self: Arc<Self>, ctx: Ctx, el: Element) -> Result<Flow, StanzaError> {
        let Some(body) = el.get_child("body", ns::CLIENT).map(Element::text) else { return Ok(Flow::Continue(el)) };
        if !may_notify(&el) {
            return Ok(Flow::Continue(el));
        }
        let Some(owner) = el.attr("to").and_then(|t| Jid::new(t).ok()).map(|j| j.to_bare()) else {
            return Ok(Flow::Continue(el));
        };
        // Somebody is looking only at a connected client that did not say it is inactive.
        if ctx.router.resources(&owner).iter().any(|r| r.is_available() && !r.detached && !r.inactive) {
            return Ok(Flow::Continue(el));
        }
        let registrations = ctx.db.push().list(owner.as_str()).await.map_err(storage_failure)?;
        if registrations.is_empty() {
            return Ok(Flow::Continue(el));
        }
        let count = {
            let mut unseen = self.unseen.lock().unwrap_or_else(|e| e.into_inner());
            let n = unseen.entry(owner.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let sender = el.attr("from").unwrap_or_default().to_owned();
        for reg in registrations {
            let with_body = match self.config.bodies {
                Bodies::Never => false,
                Bodies::OptIn => reg.with_body,
                Bodies::Always => true,
            };
            let summary = summary(count, &sender, with_body.then_some(body.as_str()));
            let this = self.clone();
            let ctx = ctx.clone();
            let owner = owner.clone();
            // Pushing waits on the app server; the message does not.
            tokio::spawn(async move { this.deliver(ctx, owner, reg, summary).await });
        }
        Ok(Flow::Continue(el))
    }

    /// Publishes to one registration, retrying; disables it when the app server keeps failing.
    async fn deliver(self: Arc<Self>, ctx: Ctx, owner: BareJid, reg: PushRegistration, summary: Element) {
        let mut notification = Element::bare("notification", NS);
        notification.append_child(summary);
        let mut item = Element::bare("item", NS_PUBSUB);
        item.append_child(notification);
        let mut publish = xml::with_attr(Element::bare("publish", NS_PUBSUB), "node", reg.node.as_str());
        publish.append_child(item);
        let mut pubsub = Element::bare("pubsub", NS_PUBSUB);
        pubsub.append_child(publish);
        if let Some(options) = reg.options.as_ref().and_then(|o| o.parse::<Element>().ok()) {
            let mut po = Element::bare("publish-options", NS_PUBSUB);
            po.append_child(options);
            pubsub.append_child(po);
        }
        let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "set");
        xml::set_attr(&mut iq, "from", ctx.host.as_ref());
        xml::set_attr(&mut iq, "to", reg.service.as_str());
        iq.append_child(pubsub);

        let timeout = Duration::from_secs(self.config.timeout_secs);
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            match ctx.router.send_iq(iq.clone(), timeout).await {
                Some(answer) if answer.attr("type") == Some("result") => return,
                answer => {
                    tracing::debug!(service = %reg.service, attempt, error = ?answer.map(|a| xml::to_string(&a)), "push failed");
                    if attempt < attempts {
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    }
                }
            }
        }
        tracing::info!(%owner, service = %reg.service, node = %reg.node, "app server keeps failing; push disabled");
        if let Err(e) = ctx.db.push().disable(owner.as_str(), &reg.service, Some(&reg.node)).await {
            tracing::error!(error = %e, "disabling push failed");
        }
    }
}

/// The XEP-0357 summary form.
fn summary(count: u64, sender: &str, body: Option<&str>) -> Element {
    let mut form = xml::with_attr(Element::bare("x", NS_DATA), "type", "submit");
    form.append_child(field("FORM_TYPE", "urn:xmpp:push:summary"));
    form.append_child(field("message-count", &count.to_string()));
    form.append_child(field("last-message-sender", sender));
    if let Some(body) = body {
        form.append_child(field("last-message-body", body));
    }
    form
}
