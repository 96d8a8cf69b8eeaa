//! Stanza processing: from a local session (`process`) or from inside the server (`route`),
//! to modules (IQ table, stages) and sessions (RFC 6121 §8.5 delivery rules).

use crate::{Router, sessions::Resource};
use rhein_module::{BoxFuture, Ctx, Flow, Interest, IqKind, ResourceInfo, RouterApi, Stage, Targets};
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
        // A message or IQ without `to` is addressed to the sender's account (RFC 6120 §10.3).
        if el.attr("to").is_none() && kind == StanzaKind::Message {
            xml::set_attr(&mut el, "to", from.to_bare().as_str());
        }
        // Sender-side filters see the addressee too, read once here: an IQ without `to` is
        // for the sender's account (RFC 6120 §10.3.3); a presence without one is a broadcast.
        let to = match el.attr("to") {
            Some(to) => Jid::new(to).ok(),
            None if kind == StanzaKind::Iq => Some(Jid::from(from.to_bare())),
            None => None,
        };
        let host = from.domain().as_str();
        let Some(el) = self.run_stage(Stage::Outbound, host, el, to.as_ref()).await else { return };
        let stage = match kind {
            StanzaKind::Message => Stage::OutboundMessage,
            StanzaKind::Iq => Stage::OutboundIq,
            StanzaKind::Presence => Stage::OutboundPresence,
        };
        let Some(el) = self.run_stage(stage, host, el, to.as_ref()).await else { return };
        // A presence without `to` is a broadcast, handled by its stage.
        if kind != StanzaKind::Presence || el.attr("to").is_some() {
            self.deliver(el).await
        }
    }

    /// Runs a stage chain; `None` when a handler took the stanza (or answered with an error).
    /// `to`, on the recipient side, lets handlers that look only at some stanzas be skipped.
    async fn run_stage(&self, stage: Stage, host: &str, mut el: Element, to: Option<&Jid>) -> Option<Element> {
        let mut ctx = None;
        // For an error reply, whichever handler refuses: the stanza's addresses, id and type
        // as it arrived (RFC 6120 §8.3.1 makes echoing its content optional, and copying
        // every stanza a handler looks at in case one refuses it cost a whole copy each).
        let mut arrived = None;
        for hook in self.inner.registry.stage_chain(stage) {
            let ctx = ctx.get_or_insert_with(|| self.ctx(host));
            if to.is_some_and(|to| !hook.wants(ctx, &el, to)) {
                continue;
            }
            let arrived = arrived.get_or_insert_with(|| xml::header(&el));
            match (hook.handler)(ctx.clone(), el).await {
                Ok(Flow::Continue(next)) => el = next,
                Ok(Flow::Handled) => return None,
                Err(err) => {
                    self.bounce(arrived, err).await;
                    return None;
                }
            }
        }
        Some(el)
    }

    /// Whether a recipient-side handler wants `el` on its way to `to`.
    fn stages_want(&self, stages: &[Stage], ctx: &Ctx, el: &Element, to: &Jid) -> bool {
        let registry = &self.inner.registry;
        stages.iter().any(|stage| registry.stage_chain(*stage).any(|hook| hook.wants(ctx, el, to)))
    }

    /// Delivers a copy of `el` to each of `recipients`. A local session whose copy no
    /// recipient-side stage wants gets the one serialisation all such sessions share; every
    /// other copy takes the whole way `deliver` takes.
    pub async fn fan_out(&self, el: Element, recipients: Vec<Jid>) {
        let stages: &[Stage] = match StanzaKind::of(&el) {
            Some(StanzaKind::Message) => &[Stage::Inbound, Stage::InboundMessage],
            Some(StanzaKind::Presence) => &[Stage::Inbound, Stage::InboundPresence],
            _ => &[],
        };
        let shared = Arc::new(Broadcast::new(el));
        let mut ctx: Option<Ctx> = None;
        for to in recipients {
            if let Ok(full) = to.try_as_full()
                && !stages.is_empty()
                && self.is_host(full.domain().as_str())
            {
                let ctx = match &ctx {
                    Some(ctx) if *ctx.host == *full.domain().as_str() => ctx,
                    _ => ctx.insert(self.ctx(full.domain().as_str())),
                };
                if !self.stages_want(stages, ctx, shared.element(), &to)
                    && self.inner.sessions.send_shared(full, &shared)
                {
                    continue;
                }
            }
            self.deliver(shared.to_element(to.as_str())).await;
        }
    }

    /// Sends an error reply for `el`, unless `el` is itself an error or an IQ result (which
    /// must never be answered, to avoid loops).
    pub async fn bounce(&self, el: &Element, err: StanzaError) {
        if matches!(el.attr("type"), Some("error") | Some("result")) {
            return;
        }
        if el.name() == "presence" {
            return;
        }
        let reply = err.reply_to(el);
        // A server-generated error for a local session goes straight to it: recipient-side
        // stages (blocking, for one) must not swallow the server's own answer.
        let reply = match reply.attr("to").and_then(|t| FullJid::new(t).ok()) {
            Some(to) => match self.inner.sessions.try_send_to(&to, reply) {
                Ok(()) => return,
                Err(reply) => reply,
            },
            None => reply,
        };
        Box::pin(self.deliver(reply)).await
    }

    /// Routes a stanza towards its `to` (recipient side).
    pub async fn deliver(&self, mut el: Element) {
        let Some(kind) = StanzaKind::of(&el) else { return };
        let to = match el.attr("to").map(Jid::new) {
            Some(Ok(jid)) => jid,
            Some(Err(_)) => return self.bounce(&el, StanzaError::jid_malformed()).await,
            None => match el.attr("from").map(Jid::new) {
                // An IQ without `to` goes to the sender's account (RFC 6120 §10.3.3).
                Some(Ok(from)) if kind == StanzaKind::Iq => Jid::from(from.to_bare()),
                _ => return,
            },
        };
        let domain = to.domain().as_str().to_owned();
        if !self.is_host(&domain) {
            return self.deliver_remote(&domain, el).await;
        }
        if to.node().is_some() {
            if !self.account_exists(&to.to_bare()).await {
                // RFC 6121 §8.5.1 and table 1 of §8.5.4: presence and headlines are ignored,
                // other messages and IQs bounced.
                return match kind {
                    StanzaKind::Presence => {}
                    StanzaKind::Message if el.attr("type") == Some("headline") => {}
                    _ => self.bounce(&el, StanzaError::service_unavailable()).await,
                };
            }
            let Some(next) = self.run_stage(Stage::Inbound, &domain, el, Some(&to)).await else { return };
            el = next;
        }
        match (kind, to.node().is_some()) {
            (StanzaKind::Iq, false) => self.dispatch_iq(Targets::Host, &domain, el).await,
            (_, false) => {} // Messages and presence to the bare domain: nothing handles them yet.
            (StanzaKind::Iq, true) => match to.try_as_full() {
                Ok(full) => self.deliver_iq_to_full(full, el).await,
                Err(_) => self.dispatch_iq(Targets::Account, &domain, el).await,
            },
            (StanzaKind::Message, true) => self.deliver_message(&to, &domain, el).await,
            (StanzaKind::Presence, true) => self.deliver_presence(&to, &domain, el).await,
        }
    }

    async fn dispatch_iq(&self, targets: Targets, host: &str, el: Element) {
        let kind = match el.attr("type") {
            Some("get") => IqKind::Get,
            Some("set") => IqKind::Set,
            Some("result") | Some("error") => return self.answer_pending(el),
            _ => {
                return self
                    .bounce(&el, StanzaError::bad_request().with_text("IQ type must be get, set, result or error"))
                    .await;
            }
        };
        let mut payloads = el.children();
        let (Some(payload), None) = (payloads.next(), payloads.next()) else {
            return self
                .bounce(&el, StanzaError::bad_request().with_text("an IQ get or set carries exactly one payload"))
                .await;
        };
        let Some(handler) = self.inner.registry.iq_handler(kind, targets, &payload.ns(), payload.name()).cloned()
        else {
            return self.bounce(&el, StanzaError::service_unavailable()).await;
        };
        // What the answer needs of the request: the handler takes the request itself.
        let request = xml::header(&el);
        match handler(self.ctx(host), el).await {
            Ok(payload) => {
                let mut reply = xml::iq_result(&request, payload);
                if request.attr("to").is_none() {
                    // The request went to the account implicitly; answer from nobody (RFC 6120 §8.1.2.1).
                    xml::remove_attr(&mut reply, "from");
                }
                Box::pin(self.deliver(reply)).await
            }
            Err(err) => self.bounce(&request, err).await,
        }
    }

    /// An answer to an IQ the server sent goes to whoever waits for it, if it comes from the
    /// entity the IQ went to (ids alone are guessable).
    fn answer_pending(&self, el: Element) {
        let (Some(id), Some(from)) = (el.attr("id"), el.attr("from")) else { return };
        let mut pending = self.inner.pending_iqs.lock().unwrap_or_else(|e| e.into_inner());
        if pending.get(id).is_some_and(|(to, _)| to == from)
            && let Some((_, tx)) = pending.remove(id)
        {
            let _ = tx.send(el);
        }
    }

    async fn send_server_iq(&self, mut iq: Element, timeout: std::time::Duration) -> Option<Element> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("rhein-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        xml::set_attr(&mut iq, "id", id.as_str());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let to = iq.attr("to").unwrap_or_default().to_owned();
        self.inner.pending_iqs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), (to, tx));
        self.deliver(iq).await;
        let answer = tokio::time::timeout(timeout, rx).await.ok().and_then(Result::ok);
        self.inner.pending_iqs.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        answer
    }

    async fn deliver_iq_to_full(&self, to: &FullJid, el: Element) {
        if let Err(el) = self.inner.sessions.try_send_to(to, el) {
            // RFC 6121 §8.5.3.2.1: no such resource → service-unavailable for get/set.
            self.bounce(&el, StanzaError::service_unavailable()).await;
        }
    }

    async fn account_exists(&self, jid: &BareJid) -> bool {
        if self.inner.sessions.has_resources(jid) {
            return true;
        }
        let (Some(node), domain) = (jid.node(), jid.domain()) else { return false };
        match self.inner.db.accounts().exists(domain.as_str(), node.as_str()).await {
            Ok(exists) => exists,
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                false
            }
        }
    }

    /// RFC 6121 §8.5.2 (bare) and §8.5.3 (full) for messages.
    async fn deliver_message(&self, to: &Jid, host: &str, el: Element) {
        let mtype = el.attr("type").unwrap_or("normal").to_owned();
        let bare = to.to_bare();
        let Some(mut el) = self.run_stage(Stage::InboundMessage, host, el, Some(to)).await else { return };
        if let Ok(full) = to.try_as_full() {
            match self.inner.sessions.try_send_to(full, el) {
                Ok(()) => return,
                Err(back) => el = back,
            }
            // No such resource: chat and normal fall back to the bare JID, the rest stops here.
            match mtype.as_str() {
                "groupchat" => return self.bounce(&el, StanzaError::service_unavailable()).await,
                "headline" | "error" => return,
                _ => {}
            }
        }
        let targets = self.message_targets(&bare, &mtype);
        match mtype.as_str() {
            "error" => {}
            "groupchat" => self.bounce(&el, StanzaError::service_unavailable()).await,
            _ if !targets.is_empty() => self.send_to_each(&targets, el),
            "headline" => {}
            _ => {
                if let Some(el) = self.run_stage(Stage::Undeliverable, host, el, None).await {
                    self.bounce(&el, StanzaError::service_unavailable()).await;
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
    async fn deliver_presence(&self, to: &Jid, host: &str, el: Element) {
        let bare = to.to_bare();
        let Some(el) = self.run_stage(Stage::InboundPresence, host, el, Some(to)).await else { return };
        match to.try_as_full() {
            Ok(full) => {
                self.inner.sessions.send_to(full, el);
            }
            Err(_) => {
                self.send_to_each(&self.inner.sessions.available(&bare), el);
            }
        }
    }
}

impl RouterApi for Router {
    fn route(&self, stanza: Element) -> BoxFuture<'_, ()> {
        Box::pin(self.deliver(stanza))
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
}
