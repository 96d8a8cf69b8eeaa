//! Stanza processing: from a local session (`process`) or from inside the server (`route`),
//! to modules (IQ table, stages) and sessions (RFC 6121 §8.5 delivery rules).

use crate::{Router, sessions::Resource};
use rhein_module::{
    BoxFuture, Ctx, Event, Flow, Interest, IqKind, ResourceInfo, RouterApi, Stage, Stanza, Targets, Unroutable,
};
use rhein_proto::xml::{self, StanzaKind};
use rhein_proto::{BareJid, Broadcast, Element, FullJid, Jid, StanzaError};
use std::sync::Arc;

impl Router {
    /// Processes a stanza sent by a bound local session. `from` is stamped here: a client
    /// never chooses its own `from` (RFC 6120 §8.1.2.1).
    pub async fn process(&self, from: &FullJid, mut el: Element) {
        xml::set_attr(&mut el, "from", from.as_str());
        let Some(kind) = StanzaKind::of(&el) else { return };
        if kind == StanzaKind::Iq && el.attr("id").is_none() {
            // Nobody could answer it usefully, so it goes nowhere (a result or error without
            // an id is dropped: those are never answered).
            return self.bounce(&el, StanzaError::iq_without_id()).await;
        }
        // A message without `to` is addressed to the sender's account (RFC 6120 §10.3.1).
        if el.attr("to").is_none() && kind == StanzaKind::Message {
            xml::set_attr(&mut el, "to", from.to_bare().as_str());
        }
        let stanza = match el.attr("to").map(Jid::new) {
            Some(Err(e)) => {
                // RFC 6120 §8.3.3.8, straight to the session: a presence too (no stage
                // bounces one), or its client never learns why nothing happens.
                if !matches!(el.attr("type"), Some("error" | "result")) {
                    let err = StanzaError::jid_malformed().with_text(format!("the address is not a valid JID: {e}"));
                    self.inner.sessions.send_to(from, err.reply_to(&el));
                }
                return;
            }
            Some(Ok(to)) => Stanza { kind, from: Jid::from(from.clone()), to, el },
            // An IQ or presence without `to` is handled for the sender's account (§10.3).
            None => Stanza { kind, from: Jid::from(from.clone()), to: Jid::from(from.to_bare()), el },
        };
        let host = from.domain().as_str();
        let Some(stanza) = self.run_stage(Stage::Outbound, host, stanza).await else { return };
        let stage = match kind {
            StanzaKind::Message => Stage::OutboundMessage,
            StanzaKind::Iq => Stage::OutboundIq,
            StanzaKind::Presence => Stage::OutboundPresence,
        };
        let Some(stanza) = self.run_stage(stage, host, stanza).await else { return };
        // A presence broadcast is handled by its stage.
        if !stanza.is_broadcast() {
            self.deliver(stanza).await
        }
    }

    /// Runs a stage chain; `None` when a handler took the stanza (or answered with an error).
    /// Handlers whose filter declines the stanza are skipped.
    async fn run_stage(&self, stage: Stage, host: &str, mut stanza: Stanza) -> Option<Stanza> {
        let mut ctx = None;
        // For an error reply, whichever handler refuses: the stanza's addresses, id and type
        // as it arrived (RFC 6120 §8.3.1 makes echoing its content optional, and copying
        // every stanza a handler looks at in case one refuses it cost a whole copy each).
        let mut arrived = None;
        for hook in self.inner.registry.stage_chain(stage) {
            let ctx = ctx.get_or_insert_with(|| self.ctx(host));
            if !hook.wants(ctx, &stanza) {
                continue;
            }
            let arrived = arrived.get_or_insert_with(|| stanza.header());
            match (hook.handler)(ctx.clone(), stanza).await {
                Ok(Flow::Continue(next)) => stanza = next,
                Ok(Flow::Handled) => return None,
                Err(err) => {
                    self.refuse(arrived, err).await;
                    return None;
                }
            }
        }
        Some(stanza)
    }

    /// Whether a recipient-side handler wants `stanza`.
    fn stages_want(&self, stages: &[Stage], ctx: &Ctx, stanza: &Stanza) -> bool {
        let registry = &self.inner.registry;
        stages.iter().any(|stage| registry.stage_chain(*stage).any(|hook| hook.wants(ctx, stanza)))
    }

    /// Delivers a copy of `el` to each of `recipients`. A local session whose copy no
    /// recipient-side stage wants gets the one serialisation all such sessions share; every
    /// other copy takes the whole way `deliver` takes, all of them at once: a stage that
    /// stores (a MIX participant's archive) then commits the copies together instead of
    /// one after another.
    pub async fn fan_out(&self, el: Element, recipients: Vec<Jid>) {
        let Some(first) = recipients.first() else { return };
        // The filters are asked of one stanza, readdressed to each recipient in turn.
        let mut template = match Stanza::read(el, |_| Some(Jid::from(first.to_bare()))) {
            Ok(stanza) => stanza,
            Err(e) => return tracing::warn!(why = ?e.1, "a module fanned out what cannot be routed"),
        };
        let stages: &[Stage] = match template.kind {
            StanzaKind::Message => &[Stage::Inbound, Stage::InboundMessage],
            StanzaKind::Presence => &[Stage::Inbound, Stage::InboundPresence],
            StanzaKind::Iq => &[],
        };
        let shared = Arc::new(Broadcast::new(template.el.clone()));
        let mut ctx: Option<Ctx> = None;
        let mut whole_way = Vec::new();
        for mut to in recipients {
            let local_session = to.try_as_full().is_ok_and(|full| self.is_host(full.domain().as_str()));
            if local_session && !stages.is_empty() {
                let ctx = match &ctx {
                    Some(ctx) if *ctx.host == *to.domain().as_str() => ctx,
                    _ => ctx.insert(self.ctx(to.domain().as_str())),
                };
                std::mem::swap(&mut template.to, &mut to);
                let wanted = self.stages_want(stages, ctx, &template);
                std::mem::swap(&mut template.to, &mut to);
                if !wanted
                    && let Ok(full) = to.try_as_full()
                    && self.inner.sessions.send_shared(full, &shared)
                {
                    continue;
                }
            }
            let el = shared.to_element(to.as_str());
            whole_way.push(self.deliver(Stanza { kind: template.kind, from: template.from.clone(), to, el }));
        }
        futures::future::join_all(whole_way).await;
    }

    /// Sends an error reply for a stanza that only exists as an element (federation's and
    /// the c2s stream's refusals), if its addresses read.
    pub async fn bounce(&self, el: &Element, err: StanzaError) {
        if let Ok(stanza) = Stanza::read(xml::header(el), |_| None) {
            self.refuse(&stanza, err).await
        }
    }

    /// Sends the error reply for `stanza`, unless it is itself an error or an IQ result (which
    /// must never be answered, to avoid loops) or a presence.
    pub(crate) async fn refuse(&self, stanza: &Stanza, err: StanzaError) {
        if stanza.kind == StanzaKind::Presence {
            return;
        }
        let Some(mut reply) = stanza.error_reply(&err) else { return };
        // A server-generated error for a local session goes straight to it: recipient-side
        // stages (blocking, for one) must not swallow the server's own answer.
        if let Ok(to) = reply.to.try_as_full() {
            match self.inner.sessions.try_send_to(to, reply.el) {
                Ok(()) => return,
                Err(el) => reply.el = el,
            }
        }
        Box::pin(self.deliver(reply)).await
    }

    /// Reads and routes a stanza that is not read yet (made by a module, taken back from a
    /// session, or from a component) as any inbound stanza. One without `from` speaks for
    /// the local account it is for.
    pub async fn route(&self, el: Element) {
        match Stanza::read(el, |to| self.is_host(to.domain().as_str()).then(|| Jid::from(to.to_bare()))) {
            // Only an IQ goes to an account implicitly (RFC 6120 §10.3.3): anything else
            // without `to` has no addressee.
            Ok(stanza) if stanza.kind != StanzaKind::Iq && stanza.el.attr("to").is_none() => {}
            Ok(stanza) => self.deliver(stanza).await,
            Err(e) => match *e {
                (el, Unroutable::Malformed { from: Some(sender) }) => {
                    // RFC 6120 §8.3.3.8, from the server: the bad address cannot be the reply's `from`.
                    let kind = StanzaKind::of(&el).unwrap_or(StanzaKind::Iq);
                    let mut reply = Stanza { kind, from: sender.clone(), to: sender, el: xml::header(&el) };
                    xml::remove_attr(&mut reply.el, "to");
                    self.refuse(&reply, StanzaError::jid_malformed()).await
                }
                (el, why) => tracing::debug!(?why, name = el.name(), "dropped a stanza that cannot be routed"),
            },
        }
    }

    /// Routes a stanza towards its `to` (recipient side).
    pub async fn deliver(&self, stanza: Stanza) {
        let domain = stanza.to.domain().as_str().to_owned();
        if !self.is_host(&domain) {
            return self.deliver_remote(&domain, stanza).await;
        }
        let mut stanza = stanza;
        let kind = stanza.kind;
        if stanza.to.node().is_some() {
            let exists = self.account_exists(&stanza.to.to_bare()).await;
            if exists != Some(true) {
                // RFC 6121 §8.5.1 and table 1 of §8.5.4: presence and headlines are ignored,
                // other messages and IQs bounced. Storage that cannot say is the server's
                // failure, not a missing account.
                let error = if exists.is_none() {
                    StanzaError::internal_server_error()
                } else {
                    StanzaError::service_unavailable()
                };
                return match kind {
                    StanzaKind::Presence => {}
                    StanzaKind::Message if stanza.stanza_type() == Some("headline") => {}
                    _ => self.refuse(&stanza, error).await,
                };
            }
            let Some(next) = self.run_stage(Stage::Inbound, &domain, stanza).await else { return };
            stanza = next;
        }
        match (kind, stanza.to.node().is_some()) {
            (StanzaKind::Iq, false) => self.dispatch_iq(Targets::Host, &domain, stanza).await,
            (_, false) => {} // Messages and presence to the bare domain: nothing handles them yet.
            (StanzaKind::Iq, true) => match stanza.to.try_as_full() {
                Ok(_) => self.deliver_iq_to_full(stanza).await,
                Err(_) => self.dispatch_iq(Targets::Account, &domain, stanza).await,
            },
            (StanzaKind::Message, true) => self.deliver_message(&domain, stanza).await,
            (StanzaKind::Presence, true) => self.deliver_presence(&domain, stanza).await,
        }
    }

    async fn dispatch_iq(&self, targets: Targets, host: &str, stanza: Stanza) {
        let kind = match stanza.stanza_type() {
            Some("get") => IqKind::Get,
            Some("set") => IqKind::Set,
            Some("result") | Some("error") => return self.answer_pending(stanza),
            _ => {
                let err = StanzaError::bad_request().with_text("IQ type must be get, set, result or error");
                return self.refuse(&stanza, err).await;
            }
        };
        let mut payloads = stanza.el.children();
        let (Some(payload), None) = (payloads.next(), payloads.next()) else {
            let err = StanzaError::bad_request().with_text("an IQ get or set carries exactly one payload");
            return self.refuse(&stanza, err).await;
        };
        let Some(handler) = self.inner.registry.iq_handler(kind, targets, &payload.ns(), payload.name()).cloned()
        else {
            return self.refuse(&stanza, StanzaError::service_unavailable()).await;
        };
        // What the answer needs of the request: the handler takes the request itself.
        let request = stanza.header();
        match handler(self.ctx(host), stanza).await {
            Ok(payload) => {
                let mut el = xml::iq_result(&request.el, payload);
                if request.el.attr("to").is_none() {
                    // The request went to the account implicitly; answer from nobody (RFC 6120 §8.1.2.1).
                    xml::remove_attr(&mut el, "from");
                }
                let reply = Stanza { kind: StanzaKind::Iq, from: request.to, to: request.from, el };
                Box::pin(self.deliver(reply)).await
            }
            Err(err) => self.refuse(&request, err).await,
        }
    }

    /// An answer to an IQ the server sent goes to whoever waits for it, if it comes from the
    /// entity the IQ went to (ids alone are guessable).
    fn answer_pending(&self, stanza: Stanza) {
        let Some(id) = stanza.el.attr("id") else { return };
        let mut pending = self.inner.pending_iqs.lock().unwrap_or_else(|e| e.into_inner());
        if pending.get(id).is_some_and(|(to, _)| to == stanza.from.as_str())
            && let Some((_, tx)) = pending.remove(id)
        {
            let _ = tx.send(stanza.el);
        }
    }

    async fn send_server_iq(&self, mut iq: Element, timeout: std::time::Duration) -> Option<Element> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("rhein-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        xml::set_attr(&mut iq, "id", id.as_str());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let to = iq.attr("to").unwrap_or_default().to_owned();
        self.inner.pending_iqs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), (to, tx));
        self.route(iq).await;
        let answer = tokio::time::timeout(timeout, rx).await.ok().and_then(Result::ok);
        self.inner.pending_iqs.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        answer
    }

    async fn deliver_iq_to_full(&self, mut stanza: Stanza) {
        let Ok(to) = stanza.to.try_as_full() else { return };
        if let Err(el) = self.inner.sessions.try_send_to(to, stanza.el) {
            // RFC 6121 §8.5.3.2.1: no such resource → service-unavailable for get/set.
            stanza.el = el;
            self.refuse(&stanza, StanzaError::service_unavailable()).await;
        }
    }

    /// Whether the account exists; `None` when storage cannot tell.
    async fn account_exists(&self, jid: &BareJid) -> Option<bool> {
        if self.inner.sessions.has_resources(jid) {
            return Some(true);
        }
        let (Some(node), domain) = (jid.node(), jid.domain()) else { return Some(false) };
        match self.inner.db.accounts().exists(domain.as_str(), node.as_str()).await {
            Ok(exists) => Some(exists),
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                None
            }
        }
    }

    /// RFC 6121 §8.5.2 (bare) and §8.5.3 (full) for messages.
    async fn deliver_message(&self, host: &str, stanza: Stanza) {
        let Some(mut stanza) = self.run_stage(Stage::InboundMessage, host, stanza).await else { return };
        let mtype = stanza.stanza_type().unwrap_or("normal").to_owned();
        if let Ok(full) = stanza.to.try_as_full() {
            match self.inner.sessions.try_send_to(full, stanza.el) {
                Ok(()) => return,
                Err(back) => stanza.el = back,
            }
            // No such resource: chat and normal fall back to the bare JID, the rest stops here.
            match mtype.as_str() {
                "groupchat" => return self.refuse(&stanza, StanzaError::service_unavailable()).await,
                "headline" | "error" => return,
                _ => {}
            }
        }
        let targets = self.message_targets(&stanza.to.to_bare(), &mtype);
        match mtype.as_str() {
            "error" => {}
            "groupchat" => self.refuse(&stanza, StanzaError::service_unavailable()).await,
            _ if !targets.is_empty() => self.send_to_each(&targets, stanza.el),
            "headline" => {}
            _ => {
                if let Some(stanza) = self.run_stage(Stage::Undeliverable, host, stanza).await {
                    self.refuse(&stanza, StanzaError::service_unavailable()).await;
                }
            }
        }
    }

    /// One copy per session, the last one getting the stanza itself.
    fn send_to_each(&self, targets: &[FullJid], el: Element) {
        let Some((last, others)) = targets.split_last() else { return };
        for t in others {
            self.inner.sessions.send_to(t, el.clone());
        }
        self.inner.sessions.send_to(last, el);
    }

    /// Available resources with non-negative priority; for chat and normal only the highest.
    pub fn message_targets(&self, bare: &BareJid, mtype: &str) -> Vec<FullJid> {
        self.inner.sessions.message_targets(bare, mtype == "headline")
    }

    /// Presence for a local account: modules (subscriptions, probes) first, then delivery to
    /// the addressed resource or to every available one.
    async fn deliver_presence(&self, host: &str, stanza: Stanza) {
        let Some(stanza) = self.run_stage(Stage::InboundPresence, host, stanza).await else { return };
        match stanza.to.try_as_full() {
            Ok(full) => {
                self.inner.sessions.send_to(full, stanza.el);
            }
            Err(_) => {
                self.send_to_each(&self.inner.sessions.available(&stanza.to.to_bare()), stanza.el);
            }
        }
    }
}

impl RouterApi for Router {
    fn route(&self, stanza: Element) -> BoxFuture<'_, ()> {
        Box::pin(Router::route(self, stanza))
    }

    fn fan_out(&self, stanza: Element, to: Vec<Jid>) -> BoxFuture<'_, ()> {
        Box::pin(Router::fan_out(self, stanza, to))
    }

    fn send_to(&self, jid: &FullJid, stanza: Element) -> bool {
        self.inner.sessions.send_to(jid, stanza)
    }

    fn resources(&self, bare: &BareJid) -> Vec<ResourceInfo> {
        self.inner.sessions.resources(bare)
    }

    fn set_presence(&self, jid: &FullJid, presence: Option<Element>, priority: i8) {
        self.inner.sessions.with_resource(jid, |r: &mut Resource| {
            r.presence = presence;
            r.priority = priority;
        });
    }

    fn set_interest(&self, jid: &FullJid, interest: Interest, on: bool) {
        self.inner.sessions.with_resource(jid, |r: &mut Resource| r.interests.set(interest, on));
    }

    fn message_targets(&self, bare: &BareJid, mtype: &str) -> Vec<FullJid> {
        Router::message_targets(self, bare, mtype)
    }

    fn is_local_host(&self, domain: &str) -> bool {
        self.is_host(domain)
    }

    fn services(&self, host: &str) -> Vec<String> {
        self.services_of(host)
    }

    fn send_iq(&self, iq: Element, timeout: std::time::Duration) -> BoxFuture<'_, Option<Element>> {
        Box::pin(self.send_server_iq(iq, timeout))
    }

    fn sessions_on(&self, host: &str) -> Vec<FullJid> {
        self.inner.sessions.bound_on(host)
    }

    fn end_sessions(&self, jid: &Jid, reason: Option<&str>) -> usize {
        self.inner.sessions.close(jid, rhein_proto::StreamErrorCondition::PolicyViolation, reason)
    }

    fn emit(&self, host: &str, event: Event) -> BoxFuture<'_, ()> {
        let host = host.to_owned();
        Box::pin(async move { Router::emit(self, &host, event).await })
    }
}
