//! Stream negotiation up to a bound resource: headers, STARTTLS, SASL, resource binding
//! (RFC 6120 §4–§7), each step offering exactly the features that apply to it.

use crate::C2sShared;
use crate::auth::{self, AuthOutcome, Profile};
use crate::request::{Action, Login, Phase, Refusal, Request, Resume, Tls};
use crate::sm::{self, ResumeRequest, Sm};
use crate::upgrade::Tasks;
use rhein_module::Unauthenticated;
use rhein_proto::{BareJid, Element, FullJid, StanzaError, StreamErrorCondition as Cond, ns, xml};
use rhein_router::{BindError, Outbound, SessionHandle};
use rhein_sasl::SaslError;
use rhein_stream::{Conn, Frame, ReadError, StreamIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// A session that has bound a resource and is ready for the stanza loop.
pub(crate) struct Bound {
    pub io: StreamIo,
    pub jid: FullJid,
    pub session_id: u64,
    pub rx: mpsc::Receiver<Outbound>,
    pub overflow: Arc<Notify>,
    /// Set up inline by Bind2 (XEP-0386): stream management, and CSI's initial state.
    pub sm: Option<Sm>,
    pub resume_rx: Option<sm::ResumeRx>,
    pub inactive: bool,
}

/// A freshly bound resource, before the stream is handed to the session loop.
pub(crate) struct Binding {
    pub jid: FullJid,
    pub session_id: u64,
    pub rx: mpsc::Receiver<Outbound>,
    pub overflow: Arc<Notify>,
    /// What Bind2 set up inline (XEP-0386); nothing for RFC 6120 binding.
    pub sm: Option<Sm>,
    pub resume_rx: Option<sm::ResumeRx>,
    pub inactive: bool,
}

impl Binding {
    /// The bound session's stream: no longer under the negotiation deadline.
    pub(crate) fn into_bound(self, mut io: StreamIo) -> Bound {
        io.set_deadline(None);
        let Binding { jid, session_id, rx, overflow, sm, resume_rx, inactive } = self;
        Bound { io, jid, session_id, rx, overflow, sm, resume_rx, inactive }
    }
}

/// Negotiates until `deadline` (set at accept: the TLS handshake counts too); `None` if the
/// stream ended before binding.
pub(crate) async fn negotiate(shared: &C2sShared, conn: Conn, peer: SocketAddr, deadline: Instant) -> Option<Bound> {
    let mut io = StreamIo::new(conn, shared.config.limits.clone());
    io.set_deadline(Some(deadline));
    let id = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    Negotiation { io, header_sent: false, deadline, id }.run(shared, peer).await
}

pub(crate) struct Negotiation {
    /// Under the negotiation deadline until a session takes it over: every read,
    /// write and TLS handshake past it fails, whatever state the stream is in.
    pub(crate) io: StreamIo,
    header_sent: bool,
    /// Binding must be done by then; a stream past it ends with `connection-timeout`.
    deadline: Instant,
    /// Tells this connection apart from every other one (what modules answering IQs before
    /// authentication remember a stream by).
    id: u64,
}

/// The id of the next connection to negotiate.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// One stream, from its header to its end or restart, and what it was offered.
struct Opened {
    host: String,
    tls: Tls,
    offer: auth::Offer,
}

/// Where negotiation goes after a request. The stream changes hands only in
/// [`Negotiation::run`], which owns it.
pub(crate) enum Next {
    /// The next element of this stream.
    Read,
    /// A new stream on this connection (after legacy SASL): header and features again.
    Restart,
    /// `<proceed/>` was sent: the TLS handshake, then a new stream over TLS.
    StartTls,
    /// A resource is bound: the session loop takes the stream.
    Bound(Binding),
    /// An earlier session is resumed (XEP-0198): its task takes the stream.
    Resume(HandOver),
}

/// A stream on its way to the session it resumes.
pub(crate) struct HandOver {
    pub tx: sm::ResumeTx,
    /// How many stanzas the client says it handled.
    pub h: u32,
    /// Inside SASL2: the `<success/>` to put `<resumed/>` into, and the features after it.
    pub sasl2: Option<(Element, Element)>,
}

/// Stream features once a client is authenticated: resource binding (with RFC 3921's optional
/// session establishment) comes next.
pub(crate) fn authenticated_features(shared: &C2sShared) -> Element {
    let mut features = Element::bare("features", ns::STREAM);
    features.append_child(Element::bare("bind", ns::BIND));
    let mut session = Element::bare("session", ns::SESSION);
    session.append_child(Element::bare("optional", ns::SESSION));
    features.append_child(session);
    append_session_features(&mut features, shared, true);
    features
}

/// Stream features before authentication: STARTTLS while it is pending, then SASL.
fn unauthenticated_features(shared: &C2sShared, tls: Tls, offer: &auth::Offer) -> Element {
    let mut features = Element::bare("features", ns::STREAM);
    if tls.pending {
        let mut st = Element::bare("starttls", ns::TLS);
        if tls.required {
            st.append_child(Element::bare("required", ns::TLS));
        }
        features.append_child(st);
    }
    for f in offer.features(shared) {
        features.append_child(f);
    }
    features.append_child(shared.config.limits.advertisement());
    if !(tls.pending && tls.required) {
        for f in shared.router.pre_auth_features() {
            features.append_child(f.clone());
        }
    }
    features
}

/// Stream features once SASL2 has bound a resource inline (XEP-0388 §2.6.1: only those that
/// still apply): no binding, and stream management only while it is off (XEP-0198 lets a
/// bound client enable it). Clients act on what is offered: xmpp.js resumes and binds again.
pub(crate) fn bound_features(shared: &C2sShared, sm_enabled: bool) -> Element {
    let mut features = Element::bare("features", ns::STREAM);
    append_session_features(&mut features, shared, !sm_enabled);
    features
}

/// What an authenticated stream offers, bound or not: stream management, CSI, and the
/// modules' features (capabilities, roster versioning, pre-approval).
fn append_session_features(features: &mut Element, shared: &C2sShared, offer_sm: bool) {
    if offer_sm {
        features.append_child(Element::bare("sm", ns::SM));
    }
    features.append_child(Element::bare("csi", ns::CSI));
    features.append_child(shared.config.limits.advertisement());
    for f in shared.router.stream_features() {
        features.append_child(f.clone());
    }
}

impl Negotiation {
    /// Closes with a stream error, sending our header first if the client never got one
    /// (RFC 6120 §4.9.1.1).
    pub(crate) async fn fail(&mut self, cond: Cond, text: Option<&str>) {
        if !self.header_sent {
            self.io.queue_header("", &new_id(), None);
        }
        self.io.fail(cond, text).await;
    }

    /// Streams until a resource is bound: each element is read into a request, checked
    /// against the phase, and handled or refused.
    async fn run(mut self, shared: &C2sShared, peer: SocketAddr) -> Option<Bound> {
        let mut phase = Phase::Unauthenticated { failures: 0 };
        loop {
            let mut stream = self.open(shared, &phase).await?;
            loop {
                let request = Request::parse(next_element(&mut self.io).await?);
                let next = match request.check(&phase, stream.tls) {
                    Ok(action) => self.act(shared, peer, &mut stream, &mut phase, action).await?,
                    Err(refusal) => self.refuse(refusal).await?,
                };
                match next {
                    Next::Read => {}
                    Next::Restart => break,
                    Next::StartTls => {
                        self.io = upgrade(self.io, shared).await?;
                        self.header_sent = false;
                        break;
                    }
                    Next::Bound(binding) => return Some(binding.into_bound(self.io)),
                    Next::Resume(to) => self.io = hand_over(self.io, to, self.deadline).await?,
                }
            }
        }
    }

    /// Opens a stream and offers what `phase` allows on it.
    async fn open(&mut self, shared: &C2sShared, phase: &Phase) -> Option<Opened> {
        let (host, from) = self.open_stream(shared).await?;
        let pending = self.io.conn().can_starttls() && shared.config.tls.is_some();
        let tls = Tls { pending, required: shared.config.require_tls };
        let claimed = match phase {
            // Nothing is offered before TLS where it is required: no need to look.
            Phase::Unauthenticated { .. } if !(tls.pending && tls.required) => {
                auth::Claimed::of(shared, &host, from.as_deref()).await
            }
            _ => auth::Claimed::Nobody,
        };
        let offer = auth::Offer::new(shared, &self.io, &claimed);
        let features = match phase {
            Phase::Unauthenticated { .. } => unauthenticated_features(shared, tls, &offer),
            Phase::Authenticated { .. } => authenticated_features(shared),
        };
        self.io.send(&features).await.ok()?;
        Some(Opened { host, tls, offer })
    }

    /// Runs an allowed request; `None` when the stream ended.
    async fn act(
        &mut self,
        shared: &C2sShared,
        peer: SocketAddr,
        stream: &mut Opened,
        phase: &mut Phase,
        action: Action,
    ) -> Option<Next> {
        match action {
            Action::StartTls => self.proceed().await,
            Action::Authenticate(login) => self.authenticate(shared, peer, stream, phase, &login).await,
            Action::RefuseLogin(profile, why) => {
                tracing::debug!(%why, "a login that does not read");
                auth::send_failure(&mut self.io, profile, SaslError::MalformedRequest, Some(&why)).await;
                self.failed_attempt(shared, phase).await
            }
            Action::Resume { localpart, resume } => self.resume(shared, &stream.host, &localpart, resume).await,
            Action::Session(iq) => self.session(&iq).await,
            Action::Bind { localpart, iq, resource } => {
                self.bind(shared, &stream.host, &localpart, &iq, resource).await
            }
            Action::PreAuthIq(iq) => {
                let id = Unauthenticated { stream: self.id, peer: peer.ip() };
                self.pre_auth_iq(shared, &stream.host, id, iq).await
            }
        }
    }

    /// Answers a request the phase does not allow, the way [`Request::check`] decided.
    async fn refuse(&mut self, refusal: Refusal) -> Option<Next> {
        match refusal {
            Refusal::Stream(cond, text) => {
                self.fail(cond, text).await;
                None
            }
            Refusal::SmFailed(condition) => {
                self.io.send(&sm::failed(condition, None)).await.ok()?;
                Some(Next::Read)
            }
            Refusal::IqWithoutId(iq) => {
                let mut reply = StanzaError::iq_without_id().reply_to(&iq);
                xml::remove_attr(&mut reply, "from");
                self.io.send(&reply).await.ok()?;
                Some(Next::Read)
            }
        }
    }

    /// RFC 6120 §5.4.2.3: the client may start the handshake.
    async fn proceed(&mut self) -> Option<Next> {
        self.io.send(&Element::bare("proceed", ns::TLS)).await.ok()?;
        Some(Next::StartTls)
    }

    /// One SASL exchange; success moves to the authenticated phase, and failures count.
    async fn authenticate(
        &mut self,
        shared: &C2sShared,
        peer: SocketAddr,
        stream: &mut Opened,
        phase: &mut Phase,
        login: &Login,
    ) -> Option<Next> {
        let host = &stream.host;
        match auth::authenticate(shared, &mut self.io, peer.ip(), host, login, &mut stream.offer).await {
            AuthOutcome::Success { localpart, additional, rotate } => {
                let next = match login {
                    Login::Legacy(_) => self.legacy_success(&localpart, additional).await?,
                    Login::Sasl2(request) => {
                        tracing::debug!(%localpart, "authenticated (SASL2)");
                        let additional = match self.upgrade_tasks(shared, host, &localpart, request, additional).await {
                            Tasks::Done(additional) => additional,
                            Tasks::Ended => return None,
                        };
                        self.sasl2_success(shared, host, &localpart, request, additional, rotate).await?
                    }
                };
                *phase = Phase::Authenticated { localpart };
                Some(next)
            }
            AuthOutcome::Failed => self.failed_attempt(shared, phase).await,
            AuthOutcome::Broken => None,
        }
    }

    /// RFC 6120 §6.4.6: `<success/>`, then the stream restarts.
    async fn legacy_success(&mut self, localpart: &str, additional: Option<Vec<u8>>) -> Option<Next> {
        tracing::debug!(%localpart, "authenticated");
        let success = auth::sasl_el(Profile::Legacy, "success", additional.as_deref());
        self.io.send(&success).await.ok()?;
        self.io.restart();
        self.header_sent = false;
        Some(Next::Restart)
    }

    /// Counts a failed exchange; the stream ends after `sasl_retries` of them.
    async fn failed_attempt(&mut self, shared: &C2sShared, phase: &mut Phase) -> Option<Next> {
        if let Phase::Unauthenticated { failures } = phase {
            *failures += 1;
            if *failures >= shared.config.sasl_retries {
                self.fail(Cond::PolicyViolation, Some("too many failed authentication attempts")).await;
                return None;
            }
        }
        Some(Next::Read)
    }

    /// XEP-0198 §5: resumes one of the account's sessions, if it is waiting.
    async fn resume(&mut self, shared: &C2sShared, host: &str, localpart: &str, resume: Resume) -> Option<Next> {
        let owner = BareJid::new(&format!("{localpart}@{host}")).ok()?;
        let target = resume.previd.and_then(|id| shared.resumable.find(&id, &owner));
        match (target, resume.h) {
            (Some(tx), Some(h)) => return Some(Next::Resume(HandOver { tx, h, sasl2: None })),
            (_, None) => self.io.send(&sm::failed("bad-request", None)).await.ok()?,
            (None, Some(_)) => self.io.send(&sm::failed("item-not-found", None)).await.ok()?,
        }
        Some(Next::Read)
    }

    /// An IQ before authentication: a module's answer, or the end of the stream when no
    /// module answers such IQs (RFC 6120 §6.4).
    async fn pre_auth_iq(
        &mut self,
        shared: &C2sShared,
        host: &str,
        stream: Unauthenticated,
        iq: Element,
    ) -> Option<Next> {
        match shared.router.pre_auth_iq(host, stream, iq).await {
            Some(reply) => {
                self.io.send(&reply).await.ok()?;
                Some(Next::Read)
            }
            None => {
                self.fail(Cond::NotAuthorized, None).await;
                None
            }
        }
    }

    /// RFC 3921 session establishment: nothing to do, and it must succeed.
    async fn session(&mut self, iq: &Element) -> Option<Next> {
        self.io.send(&xml::iq_result(iq, None)).await.ok()?;
        Some(Next::Read)
    }

    /// RFC 6120 §7: binds the resource asked for, or one of the server's choice.
    async fn bind(
        &mut self,
        shared: &C2sShared,
        host: &str,
        localpart: &str,
        iq: &Element,
        resource: Option<String>,
    ) -> Option<Next> {
        let resource = resource.unwrap_or_else(|| format!("rhein-{}", new_id()));
        match bind_resource(shared, host, localpart, &resource).await {
            Ok(binding) => {
                let mut reply_bind = Element::bare("bind", ns::BIND);
                reply_bind.append_child(xml::text_el("jid", ns::BIND, binding.jid.as_str()));
                let mut reply = xml::iq_result(iq, Some(reply_bind));
                xml::remove_attr(&mut reply, "from");
                if self.io.send(&reply).await.is_err() {
                    shared.router.unbind(&binding.jid, binding.session_id).await;
                    return None;
                }
                Some(Next::Bound(binding))
            }
            Err(err) => {
                self.io.send(&err.reply_to(iq)).await.ok()?;
                Some(Next::Read)
            }
        }
    }

    /// Waits for the client's stream header, answers it, and returns the host it names and
    /// its `from`, if any.
    async fn open_stream(&mut self, shared: &C2sShared) -> Option<(String, Option<String>)> {
        let header = match self.io.read_frame().await {
            Ok(Frame::Open(h)) => h,
            Ok(_) => {
                self.fail(Cond::NotWellFormed, None).await;
                return None;
            }
            Err(ReadError::Frame(e)) => {
                self.fail(e.condition(), Some(&e.to_string())).await;
                return None;
            }
            Err(ReadError::TimedOut) => {
                self.fail(Cond::ConnectionTimeout, Some(TOO_LONG)).await;
                return None;
            }
            Err(_) => return None,
        };
        let requested = header.attr("to").map(str::to_ascii_lowercase);
        let host = requested.clone().or_else(|| shared.config.hosts.first().cloned())?;
        let id = new_id();
        // Leaves with the features or the stream error that follows.
        self.io.queue_header(&host, &id, None);
        self.header_sent = true;
        // RFC 6120 §4.8: the stream's namespace, and `jabber:client` as the content namespace
        // (not `jabber:server`, nor none).
        let content_ns = header.prefixes.declared_prefixes().get(&None).map(String::as_str);
        if !header.is("stream", ns::STREAM) || content_ns != Some(ns::CLIENT) {
            self.fail(Cond::InvalidNamespace, Some("a client stream is in jabber:client")).await;
            return None;
        }
        if !shared.config.hosts.contains(&host) {
            self.fail(Cond::HostUnknown, Some("this server does not serve that domain")).await;
            return None;
        }
        let major = header.attr("version").and_then(|v| v.split('.').next()).and_then(|m| m.parse::<u32>().ok());
        if major != Some(1) {
            self.fail(Cond::UnsupportedVersion, Some("XMPP 1.0 streams only")).await;
            return None;
        }
        Some((host, header.attr("from").map(str::to_owned)))
    }
}

/// A stream leaving negotiation for a session that takes it over: no longer under its deadline.
fn handed_over(mut io: StreamIo) -> StreamIo {
    io.set_deadline(None);
    io
}

/// The TLS handshake after `<proceed/>`; `None` if it failed.
async fn upgrade(io: StreamIo, shared: &C2sShared) -> Option<StreamIo> {
    let tls = shared.config.tls.as_ref()?;
    match io.starttls(tls).await {
        Ok(io) => Some(io),
        Err(e) => {
            tracing::debug!(error = %e, "STARTTLS failed");
            None
        }
    }
}

/// Gives the stream to the session it resumes, whose own task carries on with it. Should that
/// session be gone meanwhile, the stream comes back: a `<resume/>` is answered with
/// `item-not-found` and negotiation goes on; inside SASL2, the connection ends.
async fn hand_over(io: StreamIo, to: HandOver, deadline: Instant) -> Option<StreamIo> {
    let HandOver { tx, h, sasl2 } = to;
    let inline = sasl2.is_some();
    let Err(mpsc::error::SendError(req)) = tx.send(Box::new(ResumeRequest { io: handed_over(io), h, sasl2 })).await
    else {
        return None;
    };
    if inline {
        return None;
    }
    let mut io = req.io;
    io.set_deadline(Some(deadline));
    io.send(&sm::failed("item-not-found", None)).await.ok()?;
    Some(io)
}

const TOO_LONG: &str = "negotiation took too long";

/// The next top-level element of a stream under negotiation (its header was sent). Its end,
/// bad XML and the negotiation deadline are answered here (RFC 6120 §4.9) and give `None`.
pub(crate) async fn next_element(io: &mut StreamIo) -> Option<Element> {
    match io.read_frame().await {
        Ok(Frame::Element(el)) => Some(el),
        Ok(Frame::Close) => {
            io.close_stream().await;
            None
        }
        Ok(Frame::Open(_)) => None,
        Err(ReadError::Frame(e)) => {
            io.fail(e.condition(), Some(&e.to_string())).await;
            None
        }
        Err(ReadError::TimedOut) => {
            io.fail(Cond::ConnectionTimeout, Some(TOO_LONG)).await;
            None
        }
        Err(_) => None,
    }
}

/// Binds `localpart@host/resource` for a new session; a taken resource replaces the old session.
pub(crate) async fn bind_resource(
    shared: &C2sShared,
    host: &str,
    localpart: &str,
    resource: &str,
) -> Result<Binding, StanzaError> {
    let jid = FullJid::new(&format!("{localpart}@{host}/{resource}"))
        .map_err(|_| StanzaError::bad_request().with_text("invalid resource"))?;
    let (handle, rx, overflow) = SessionHandle::new(shared.config.queue_size);
    let session_id = handle.id;
    match shared.router.bind(jid.clone(), handle, shared.config.max_sessions_per_account).await {
        Ok(()) => {
            tracing::info!(%jid, "session bound");
            Ok(Binding { jid, session_id, rx, overflow, sm: None, resume_rx: None, inactive: false })
        }
        Err(BindError::TooManySessions) => {
            Err(StanzaError::resource_constraint().with_text("too many sessions for this account"))
        }
    }
}

pub(crate) fn new_id() -> String {
    let mut b = [0u8; 8];
    rand::fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
