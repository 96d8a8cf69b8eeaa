//! XEP-0357 Push Notifications for accounts. A client registers an app server (`jid`, `node`,
//! optional publish-options); when a message arrives and nobody is looking at the account
//! (all offline, hibernating after XEP-0198, or inactive per XEP-0352), the server publishes a summary to
//! every registration: message count, last sender, and the body only where the user asked for
//! it (`<include-body/>`, a Rhein extension) and the operator allows it. Pushes go through the
//! router like any IQ; an app server that keeps failing is disabled.

use rhein_module::{
    AccountCache, Ctx, Current, Event, Flow, Iq, IqResult, Module, ModuleError, ModuleSpec, Reconfigure, Registry,
    Stage, Stanza, Targets, settings, storage_failure,
};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field};
use rhein_proto::parsers::pubsub::NodeName;
use rhein_proto::parsers::pubsub::pubsub::{self, PubSub};
use rhein_proto::parsers::push::Notification;
use rhein_proto::push::{Disable, Enable};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::PushRegistration;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

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
    let config = Current::new(settings::parse("push", table)?);
    Ok(Arc::new(Push { config, unseen: Arc::new(AccountCache::new(100_000)) }))
}

struct Push {
    config: Current<PushConfig>,
    /// Messages each account received since it was last online (the `message-count`).
    unseen: Arc<AccountCache<u64>>,
}

impl Module for Push {
    fn name(&self) -> &'static str {
        "push"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.account_feature(ns::PUSH);
        if self.config.get().bodies == Bodies::OptIn {
            reg.account_feature(ns::PUSH_BODY);
        }
        reg.set(Targets::Account, handle_enable)?;
        reg.set(Targets::Account, handle_disable)?;
        reg.forgets(self.unseen.clone());
        let this = self.clone();
        // After archiving (10) and carbons (0): it only observes.
        reg.stage_when(
            Stage::InboundMessage,
            -10,
            |_, s| may_notify(&s.el),
            move |ctx, el| this.clone().handle_message(ctx, el),
        );
        reg.on_event(move |_ctx, ev| {
            if let Event::SessionBound(jid) = ev {
                self.unseen.remove(&jid.to_bare());
            }
            async {}
        });
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        // Opting in is announced in disco, which is set at start.
        let opt_in = |a: &PushConfig, b: &PushConfig| (a.bodies == Bodies::OptIn) != (b.bodies == Bodies::OptIn);
        settings::reconfigure("push", &self.config, table, &[("bodies (opt-in or not)", opt_in)])
    }
}

async fn handle_enable(ctx: Ctx, iq: Iq<Enable>) -> IqResult {
    let owner = iq.own()?.to_bare();
    let Enable { jid, node, options, include_body } = iq.payload;
    if node.is_empty() {
        return Err(StanzaError::bad_request().with_text("node required"));
    }
    let options = options.map(|form| xml::to_string(&form.into()));
    let reg = PushRegistration { service: jid.to_string(), node, options, with_body: include_body.is_some() };
    ctx.db.push().enable(owner.as_str(), &reg).await.map_err(storage_failure)?;
    Ok(None)
}

async fn handle_disable(ctx: Ctx, iq: Iq<Disable>) -> IqResult {
    let owner = iq.own()?.to_bare();
    let Disable { jid, node } = iq.payload;
    ctx.db.push().disable(owner.as_str(), jid.as_str(), node.as_deref()).await.map_err(storage_failure)?;
    Ok(None)
}

impl Push {
    /// A message for the account: push if nobody is there to see it.
    async fn handle_message(self: Arc<Self>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
        let body = match stanza.el.get_child("body", ns::CLIENT) {
            Some(body) if may_notify(&stanza.el) => body.text(),
            _ => return Ok(Flow::Continue(stanza)),
        };
        let owner = stanza.to.to_bare();
        // Somebody is looking only at a connected client that did not say it is inactive.
        if ctx.router.resources(&owner).iter().any(|r| r.is_available() && !r.detached && !r.inactive) {
            return Ok(Flow::Continue(stanza));
        }
        let registrations = ctx.db.push().list(owner.as_str()).await.map_err(storage_failure)?;
        if registrations.is_empty() {
            return Ok(Flow::Continue(stanza));
        }
        let count = self.unseen.update(&owner, |n| {
            *n += 1;
            *n
        });
        let sender = stanza.from.as_str().to_owned();
        for reg in registrations {
            let with_body = match self.config.get().bodies {
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
        Ok(Flow::Continue(stanza))
    }

    /// Publishes to one registration, retrying; disables it when the app server keeps failing.
    async fn deliver(self: Arc<Self>, ctx: Ctx, owner: BareJid, reg: PushRegistration, summary: DataForm) {
        let notification = Notification { form: Some(summary), payloads: Vec::new() };
        let item = pubsub::Item { id: None, publisher: None, payload: Some(notification.into()) };
        let publish = pubsub::Publish { node: NodeName(reg.node.clone()), items: vec![item] };
        let form =
            reg.options.as_ref().and_then(|o| o.parse::<Element>().ok()).and_then(|o| DataForm::try_from(o).ok());
        let publish_options = form.map(|form| pubsub::PublishOptions { form: Some(form) });
        let pubsub = PubSub::Publish { publish, publish_options };
        let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "set");
        xml::set_attr(&mut iq, "from", ctx.host.as_ref());
        xml::set_attr(&mut iq, "to", reg.service.as_str());
        iq.append_child(pubsub.into());

        let config = self.config.get();
        let timeout = Duration::from_secs(config.timeout_secs);
        let attempts = config.attempts.max(1);
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
fn summary(count: u64, sender: &str, body: Option<&str>) -> DataForm {
    let mut fields = vec![
        Field::text_single("message-count", &count.to_string()),
        Field::text_single("last-message-sender", sender),
    ];
    fields.extend(body.map(|body| Field::text_single("last-message-body", body)));
    DataForm::new(DataFormType::Submit, ns::PUSH_SUMMARY, fields)
}
