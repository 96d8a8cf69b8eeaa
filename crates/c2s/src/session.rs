//! The bound session: client stanzas to the router in order, router deliveries to the client,
//! XEP-0198 acks and resumption, keepalives, idle timeout and slow-consumer protection.
//!
//! The session outlives its connection when the client enabled resumption: it hibernates,
//! queueing deliveries, until a new connection resumes it or the resume timeout passes.

use crate::C2sShared;
use crate::committing::Committing;
use crate::csi::Held;
use crate::negotiate::Bound;
use crate::queued::Queued;
use crate::sm::{self, ResumeRequest, Sm};
use rhein_metrics::{Direction, StanzaLabels, metrics};
use rhein_proto::xml::{self, StanzaKind};
use rhein_proto::{Element, FullJid, StreamErrorCondition as Cond, ns};
use rhein_router::Outbound;
use rhein_stream::{Frame, ReadError, StreamIo};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, sleep_until};

struct Session<'a> {
    shared: &'a C2sShared,
    jid: FullJid,
    session_id: u64,
    rx: mpsc::Receiver<Outbound>,
    overflow: Arc<Notify>,
    sm: Option<Sm>,
    resume_rx: Option<sm::ResumeRx>,
    /// Set while the client is inactive (XEP-0352).
    held: Option<Held>,
    /// Set while deliveries wait because the client holds all it may unacknowledged: it was
    /// asked for an ack, and the session closes if none makes room by then.
    ack_due: Option<Instant>,
    /// Stanzas handled whose writes are not yet committed.
    committing: Committing,
}

/// How a connection ended, from the session's point of view.
enum Ended {
    /// The session ends (clean close, stream error, replaced by a new bind, shutdown).
    Session,
    /// Only the connection was lost; a resumable session hibernates.
    Connection,
}

/// What woke the live loop.
enum Wake {
    Frame(Result<Frame, ReadError>),
    /// The oldest handled stanza's writes are committed.
    Committed,
    Deliver(Outbound),
    Resume(Box<ResumeRequest>),
    Overflow,
    Timer(Timer),
}

/// The live loop's deadlines; it sleeps until the first.
#[derive(Clone, Copy)]
enum Timer {
    /// Nothing read for the idle timeout.
    Idle,
    /// Time for a whitespace keepalive.
    Keepalive,
    /// A full unacknowledged queue got no ack in time.
    Ack,
}

/// Runs until the session ends, then unbinds it and re-routes what the client never got.
///
/// Written to keep the session's task small, as it lives as long as the session: not an
/// `async fn` (whose arguments would be kept beside their moved copies), `bound` taken apart
/// before the future is built, and the session state boxed.
pub(crate) fn run(shared: &C2sShared, bound: Bound) -> impl Future<Output = ()> + '_ {
    let Bound { io, jid, session_id, rx, overflow, sm, resume_rx, inactive } = bound;
    let held = inactive.then(Held::default);
    if inactive {
        shared.router.set_inactive(&jid, true);
    }
    let committing = Committing::default();
    let mut session =
        Box::new(Session { shared, jid, session_id, rx, overflow, sm, resume_rx, held, ack_due: None, committing });
    let mut conn = Some(io);
    async move {
        while let Some(io) = conn.as_mut() {
            let ended = session.live(io).await;
            // What the client sent is counted before it may resume.
            session.settle().await;
            // The connection is over either way; a hibernating session holds no socket.
            drop(conn.take());
            if !matches!(ended, Ended::Connection) || session.resume_rx.is_none() {
                break;
            }
            // Boxed: only a hibernating session needs this future's memory.
            conn = Box::pin(session.hibernate()).await;
        }
        Box::pin(session.finish()).await;
    }
}

impl Session<'_> {
    async fn live(&mut self, io: &mut StreamIo) -> Ended {
        let idle = io.limits().idle_timeout;
        let mut last_read = Instant::now();
        loop {
            let (due, timer) = first_deadline(last_read + idle, Instant::from(io.keepalive_due()), self.ack_due);
            // While a full queue waits for an ack, deliveries wait in the router's queue.
            let delivering = self.ack_due.is_none();
            let wake = tokio::select! {
                frame = io.read_frame() => Wake::Frame(frame),
                () = self.committing.next(), if !self.committing.is_empty() => Wake::Committed,
                Some(item) = self.rx.recv(), if delivering => Wake::Deliver(item),
                Some(req) = recv_opt(&mut self.resume_rx) => Wake::Resume(req),
                () = self.overflow.notified() => Wake::Overflow,
                () = sleep_until(due) => Wake::Timer(timer),
            };
            match wake {
                Wake::Committed => self.count_handled(),
                Wake::Frame(frame) => {
                    last_read = Instant::now();
                    match frame {
                        Ok(Frame::Element(el)) => {
                            if let Some(ended) = self.handle_element(io, el).await {
                                return ended;
                            }
                        }
                        Ok(Frame::Close) => {
                            io.close_stream().await;
                            return Ended::Session;
                        }
                        Ok(Frame::Open(_)) => return Ended::Session,
                        Err(ReadError::Frame(e)) => {
                            tracing::debug!(error = %e, "bad XML from client");
                            io.fail(e.condition(), Some(&e.to_string())).await;
                            return Ended::Session;
                        }
                        Err(_) => return Ended::Connection,
                    }
                }
                Wake::Deliver(first) => {
                    if let Some(ended) = self.write_batch(io, first).await {
                        return ended;
                    }
                }
                Wake::Resume(req) => {
                    // The client came back on a new connection before we noticed the old one died.
                    io.fail(Cond::Conflict, Some("replaced by a resumed stream")).await;
                    // `<resumed h>` counts every stanza the old connection brought.
                    self.settle().await;
                    match Box::pin(self.resume(*req)).await {
                        Some(new_io) => {
                            *io = new_io;
                            last_read = Instant::now();
                        }
                        None => return Ended::Connection,
                    }
                }
                Wake::Overflow => {
                    metrics().slow_consumers_cut.inc();
                    io.fail(Cond::PolicyViolation, Some("too many stanzas queued for this session")).await;
                    return Ended::Session;
                }
                Wake::Timer(Timer::Idle) => {
                    io.fail(Cond::ConnectionTimeout, None).await;
                    return Ended::Connection;
                }
                Wake::Timer(Timer::Keepalive) => {
                    if io.write(b" ").await.is_err() {
                        return Ended::Connection;
                    }
                }
                Wake::Timer(Timer::Ack) => {
                    // What it holds goes to other resources or offline storage (finish).
                    tracing::info!(jid = %self.jid, "closing a session whose client does not acknowledge");
                    io.fail(Cond::PolicyViolation, Some("too many unacknowledged stanzas")).await;
                    return Ended::Session;
                }
            }
        }
    }

    /// A top-level element from the client: SM nonzas here, stanzas to the router.
    async fn handle_element(&mut self, io: &mut StreamIo, el: Element) -> Option<Ended> {
        if el.ns() == ns::SM {
            return self.handle_sm(io, &el).await;
        }
        if el.ns() == ns::CSI {
            return self.handle_csi(io, &el).await;
        }
        if let Err((cond, text)) = check_top_level(&el) {
            io.fail(cond, Some(text)).await;
            return Some(Ended::Session);
        }
        count_stanza(Direction::In, el.name());
        if el.name() == "iq" {
            // An IQ sees what the stanzas before it wrote (a MAM query, the message just sent).
            self.settle().await;
        }
        let legacy_session = el.is("iq", ns::CLIENT)
            && el.attr("type") == Some("set")
            && el.attr("id").is_some()
            && el.get_child("session", ns::SESSION).is_some();
        let writes = if legacy_session {
            // RFC 3921 session establishment, advertised as optional: clients such as Strophe
            // still send it after binding; it is a no-op that must succeed.
            let mut ok = xml::iq_result(&el, None);
            xml::set_attr(&mut ok, "to", self.jid.as_str());
            xml::remove_attr(&mut ok, "from");
            rhein_module::RouterApi::send_to(&self.shared.router, &self.jid, ok);
            Vec::new()
        } else {
            // Boxed: routing's future is large and would otherwise sit in every idle session.
            Box::pin(rhein_module::commits::collect(self.shared.router.process(&self.jid, el))).await
        };
        // Counted for XEP-0198 once handled and what it wrote is committed: no `<a/>` covers
        // a stanza whose writes could still be lost.
        if writes.is_empty() && self.committing.is_empty() {
            self.count_handled();
        } else {
            self.committing.push(writes);
            if self.committing.len() >= Committing::MAX {
                self.committing.next().await;
                self.count_handled();
            }
        }
        None
    }

    /// One more stanza from the client handled, for XEP-0198.
    fn count_handled(&mut self) {
        if let Some(sm) = &mut self.sm {
            sm.inbound = sm.inbound.wrapping_add(1);
        }
    }

    /// Waits until every handled stanza's writes are committed, counting them.
    async fn settle(&mut self) {
        while !self.committing.is_empty() {
            self.committing.next().await;
            self.count_handled();
        }
    }

    async fn handle_sm(&mut self, io: &mut StreamIo, el: &Element) -> Option<Ended> {
        if el.name() != "a" {
            // `<r/>` is answered with every stanza before it counted, and what was handled
            // before `<enable/>` is not counted at all.
            self.settle().await;
        }
        let reply = match (el.name(), &mut self.sm) {
            ("enable", None) => {
                let (sm, enabled, resume_rx) = Sm::enable(el, self.jid.to_bare(), self.shared);
                self.sm = Some(sm);
                self.resume_rx = resume_rx;
                enabled
            }
            ("enable", Some(_)) => sm::failed("unexpected-request", None),
            ("r", Some(sm)) => sm::el("a", &[("h", sm.inbound.to_string())]),
            ("a", Some(sm)) => {
                sm.ack_requested = false;
                match sm::h_of(el).map(|h| sm.ack(h)) {
                    Some(Ok(())) => {
                        if !sm.is_full() {
                            self.ack_due = None;
                        }
                        return None;
                    }
                    _ => {
                        let text = "acknowledged more stanzas than were sent";
                        io.fail(Cond::UndefinedCondition, Some(text)).await;
                        return Some(Ended::Session);
                    }
                }
            }
            _ => sm::failed("unexpected-request", None),
        };
        if io.send(&reply).await.is_err() {
            return Some(Ended::Connection);
        }
        None
    }

    async fn handle_csi(&mut self, io: &mut StreamIo, el: &Element) -> Option<Ended> {
        match el.name() {
            "inactive" => {
                self.held.get_or_insert_with(Held::default);
                self.shared.router.set_inactive(&self.jid, true);
                None
            }
            "active" => {
                self.shared.router.set_inactive(&self.jid, false);
                let held = self.held.take().map(|mut h| h.take()).unwrap_or_default();
                self.write_stanzas(io, held).await
            }
            _ => {
                io.fail(Cond::UnsupportedStanzaType, Some("unknown CSI element")).await;
                Some(Ended::Session)
            }
        }
    }

    /// Writes stanzas now (used when CSI releases what it held).
    async fn write_stanzas(&mut self, io: &mut StreamIo, stanzas: Vec<Queued>) -> Option<Ended> {
        let mut out = Vec::new();
        for stanza in stanzas {
            self.encode(&mut out, stanza);
        }
        self.request_ack(&mut out);
        if !out.is_empty() && io.write(&out).await.is_err() {
            return Some(Ended::Connection);
        }
        None
    }

    /// Appends a stanza to a write buffer, keeping it for SM until the client acks it.
    fn encode(&mut self, out: &mut Vec<u8>, stanza: Queued) {
        count_stanza(Direction::Out, stanza.element().name());
        let start = out.len();
        stanza.append(&self.jid, out);
        if let Some(sm) = &mut self.sm {
            sm.sent(stanza, out.len() - start);
        }
    }

    /// Appends an `<r/>` when stanzas are unacknowledged and none is outstanding. When the
    /// client holds all it may, asks again whatever is outstanding (a client that never acks
    /// got its last `<r/>` long ago) and stops deliveries until an ack or `ack_timeout`.
    fn request_ack(&mut self, out: &mut Vec<u8>) {
        let Some(sm) = &mut self.sm else { return };
        if sm.is_full() && self.ack_due.is_none() {
            self.ack_due = Some(Instant::now() + self.shared.config.ack_timeout);
        } else if sm.unacked_len() == 0 || sm.ack_requested {
            return;
        }
        sm.ack_requested = true;
        xml::append_bytes(&sm::el("r", &[]), out);
    }

    /// Writes `first` and whatever else is queued in one go, counting for SM and asking for
    /// an ack when stanzas are outstanding.
    async fn write_batch(&mut self, io: &mut StreamIo, first: Outbound) -> Option<Ended> {
        let mut next = Some(first);
        let mut close = None;
        // A fresh buffer per batch: an idle session keeps none.
        let mut out = Vec::new();
        while let Some(item) = next.take() {
            let stanza = match Queued::try_from(item) {
                Ok(stanza) => stanza,
                Err(closing) => {
                    close = Some(closing);
                    continue;
                }
            };
            match &mut self.held {
                Some(held) if !Held::is_urgent(stanza.element()) && held.len() < MAX_HELD => held.hold(stanza),
                Some(held) => {
                    for h in held.take() {
                        self.encode(&mut out, h);
                    }
                    self.encode(&mut out, stanza);
                }
                None => self.encode(&mut out, stanza),
            }
            let full = self.sm.as_ref().is_some_and(Sm::is_full);
            if out.len() < 64 * 1024 && !full {
                next = self.rx.try_recv().ok();
            }
        }
        self.request_ack(&mut out);
        if !out.is_empty() && io.write(&out).await.is_err() {
            return Some(Ended::Connection);
        }
        if let Some(closing) = close {
            io.fail(closing.condition, closing.text.as_deref()).await;
            return Some(Ended::Session);
        }
        None
    }

    /// Waits, connection-less, for a resumption; deliveries pile up as unacknowledged.
    async fn hibernate(&mut self) -> Option<StreamIo> {
        tracing::debug!(jid = %self.jid, "session hibernating");
        self.shared.router.set_detached(&self.jid, true);
        let deadline = Instant::now() + self.shared.config.resume_timeout;
        loop {
            tokio::select! {
                Some(req) = recv_opt(&mut self.resume_rx) => {
                    if let Some(io) = Box::pin(self.resume(*req)).await {
                        return Some(io);
                    }
                }
                item = self.rx.recv() => match (item.map(Queued::try_from), &mut self.sm) {
                    (Some(Ok(stanza)), Some(sm)) => {
                        let bytes = stanza.encoded_len(&self.jid);
                        sm.sent(stanza, bytes);
                        if sm.is_full() {
                            tracing::debug!(jid = %self.jid, "hibernating session full, given up");
                            return None;
                        }
                    }
                    _ => return None,
                },
                () = self.overflow.notified() => return None,
                () = sleep_until(deadline) => return None,
            }
        }
    }

    /// Completes a resumption on the new connection: `<resumed/>`, then every stanza the client
    /// has not acknowledged, in order. `None` if the new connection fails on the way.
    async fn resume(&mut self, req: ResumeRequest) -> Option<StreamIo> {
        let ResumeRequest { mut io, h, sasl2 } = req;
        let sm = self.sm.as_mut()?;
        if sm.ack(h).is_err() {
            let _ = io.send(&sm::failed("undefined-condition", Some(sm.inbound))).await;
            io.close().await;
            return None;
        }
        let previd = sm.resume_id.clone().unwrap_or_default();
        let resumed = sm::el("resumed", &[("previd", previd), ("h", sm.inbound.to_string())]);
        let mut out = Vec::new();
        match sasl2 {
            // XEP-0388: the result goes inside <success/>, and the stream features follow.
            Some((mut success, features)) => {
                success.append_child(resumed);
                xml::append_bytes(&success, &mut out);
                xml::append_bytes(&features, &mut out);
            }
            None => xml::append_bytes(&resumed, &mut out),
        }
        for stanza in sm.unacked() {
            stanza.append(&self.jid, &mut out);
        }
        let resent = sm.unacked_len();
        // A new connection: an `<r/>` written before went with the old one.
        sm.ack_requested = false;
        self.ack_due = None;
        self.request_ack(&mut out);
        io.write(&out).await.ok()?;
        tracing::info!(jid = %self.jid, resent, "session resumed");
        metrics().sm_resumptions.inc();
        self.shared.router.set_detached(&self.jid, false);
        Some(io)
    }

    /// Unbinds, then hands messages the client never acknowledged (or never got) back to the
    /// router, which delivers them to other resources or offline storage (XEP-0198 §5).
    async fn finish(&mut self) {
        if let Some(id) = self.sm.as_ref().and_then(|sm| sm.resume_id.as_ref()) {
            self.shared.resumable.remove(id);
        }
        tracing::info!(jid = %self.jid, "session closed");
        Box::pin(self.shared.router.unbind(&self.jid, self.session_id)).await;
        let mut pending: Vec<Queued> = self.sm.as_mut().map(Sm::take_unacked).unwrap_or_default();
        pending.extend(self.held.take().map(|mut h| h.take()).unwrap_or_default());
        while let Ok(item) = self.rx.try_recv() {
            pending.extend(Queued::try_from(item).ok());
        }
        for stanza in pending.into_iter().filter(|q| worth_rerouting(q.element())) {
            Box::pin(self.shared.router.route(stanza.into_element(&self.jid))).await;
        }
    }
}

/// One timer for the live loop: whichever deadline comes first.
fn first_deadline(idle: Instant, keepalive: Instant, ack: Option<Instant>) -> (Instant, Timer) {
    let first = if idle <= keepalive { (idle, Timer::Idle) } else { (keepalive, Timer::Keepalive) };
    match ack {
        Some(ack) if ack < first.0 => (ack, Timer::Ack),
        _ => first,
    }
}

/// Stanzas held for an inactive client before they are sent anyway.
const MAX_HELD: usize = 500;

/// Messages with content, addressed to the user (not carbon copies, which other resources
/// got already).
fn worth_rerouting(el: &Element) -> bool {
    el.is("message", ns::CLIENT)
        && matches!(el.attr("type"), None | Some("chat" | "normal"))
        && el.get_child("body", ns::CLIENT).is_some()
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Only stanzas in `jabber:client` may follow binding (RFC 6120 §4.9.3.10, §4.9.3.24).
fn check_top_level(el: &Element) -> Result<(), (Cond, &'static str)> {
    if StanzaKind::of(el).is_some() {
        return Ok(());
    }
    if matches!(el.name(), "message" | "presence" | "iq") && el.ns() != ns::CLIENT {
        return Err((Cond::InvalidNamespace, "stanzas must be in jabber:client"));
    }
    Err((Cond::UnsupportedStanzaType, "unsupported top-level element"))
}

/// A stanza read from or written to the client, by kind, for the metrics.
fn count_stanza(direction: Direction, name: &str) {
    use rhein_metrics::StanzaKind as Kind;
    let kind = match name {
        "message" => Kind::Message,
        "presence" => Kind::Presence,
        "iq" => Kind::Iq,
        _ => return,
    };
    metrics().stanzas.get_or_create(&StanzaLabels { direction, kind }).inc();
}
