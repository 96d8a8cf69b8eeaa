//! Stream negotiation up to a bound resource: headers, STARTTLS, SASL, resource binding
//! (RFC 6120 §4–§7), each step offering exactly the features that apply to it.

use crate::C2sShared;
use crate::auth::{self, AuthOutcome, Profile};
use crate::sasl2::Sasl2Next;
use crate::sm::{self, ResumeRequest, Sm};
use rhein_proto::{BareJid, Element, FullJid, StanzaError, StreamErrorCondition as Cond, ns, xml};
use rhein_router::{BindError, Outbound, SessionHandle};
use rhein_stream::{Conn, Frame, ReadError, StreamIo};
use std::net::SocketAddr;
use std::sync::Arc;
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
}

impl Binding {
    /// The bound session's stream: no longer under the negotiation deadline.
    pub(crate) fn into_bound(self, mut io: StreamIo) -> Bound {
        io.set_deadline(None);
        let Binding { jid, session_id, rx, overflow } = self;
        Bound { io, jid, session_id, rx, overflow, sm: None, resume_rx: None, inactive: false }
    }
}

/// Where negotiation stands.
enum Phase {
    /// Before SASL (plaintext or secured).
    Unauthenticated { failures: u32 },
    /// SASL succeeded for this local part; binding is next.
    Authenticated { localpart: String },
}

/// Negotiates until `deadline` (set at accept: the TLS handshake counts too); `None` if the
/// stream ended before binding.
pub(crate) async fn negotiate(shared: &C2sShared, conn: Conn, peer: SocketAddr, deadline: Instant) -> Option<Bound> {
    let mut io = StreamIo::new(conn, shared.config.limits.clone());
    io.set_deadline(Some(deadline));
    Negotiation { io, header_sent: false, deadline }.run(shared, peer).await
}

pub(crate) struct Negotiation {
    /// Under the negotiation deadline until a session takes it over: every read,
    /// write and TLS handshake past it fails, whatever state the stream is in.
    pub(crate) io: StreamIo,
    header_sent: bool,
    /// Binding must be done by then; a stream past it ends with `connection-timeout`.
    deadline: Instant,
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
        features.append_child(Element::bare("sm", sm::NS));
    }
    features.append_child(Element::bare("csi", crate::csi::NS));
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

    async fn run(mut self, shared: &C2sShared, peer: SocketAddr) -> Option<Bound> {
        let mut phase = Phase::Unauthenticated { failures: 0 };
        loop {
            let host = self.open_stream(shared).await?;
            let tls_pending = self.io.conn().can_starttls() && shared.config.tls.is_some();
            let mut offer = auth::Offer::new(shared, &self.io);
            // Features for this step.
            let features = match &phase {
                Phase::Unauthenticated { .. } => {
                    let mut features = Element::bare("features", ns::STREAM);
                    if tls_pending {
                        let mut st = Element::bare("starttls", ns::TLS);
                        if shared.config.require_tls {
                            st.append_child(Element::bare("required", ns::TLS));
                        }
                        features.append_child(st);
                    }
                    for f in offer.features() {
                        features.append_child(f);
                    }
                    features
                }
                Phase::Authenticated { .. } => authenticated_features(shared),
            };
            self.io.send(&features).await.ok()?;

            // Elements until the stream restarts (STARTTLS, SASL success) or a resource is bound.
            loop {
                let el = next_element(&mut self.io).await?;
                match &mut phase {
                    Phase::Unauthenticated { failures } => {
                        if el.is("starttls", ns::TLS) && tls_pending {
                            self.io.send(&Element::bare("proceed", ns::TLS)).await.ok()?;
                            let tls = shared.config.tls.as_ref()?;
                            match self.io.starttls(tls).await {
                                Ok(io) => self.io = io,
                                Err(e) => {
                                    tracing::debug!(error = %e, "STARTTLS failed");
                                    return None;
                                }
                            }
                            self.header_sent = false;
                            break;
                        }
                        let profile = if el.is("auth", ns::SASL) {
                            Profile::Legacy
                        } else if el.is("authenticate", auth::NS_SASL2) {
                            Profile::Sasl2
                        } else {
                            // RFC 6120 §6.4: nothing else is allowed before authentication.
                            self.fail(Cond::NotAuthorized, None).await;
                            return None;
                        };
                        if tls_pending && shared.config.require_tls {
                            self.fail(Cond::PolicyViolation, Some("STARTTLS is required before authentication")).await;
                            return None;
                        }
                        match auth::authenticate(shared, &mut self.io, profile, peer.ip(), &host, &el, &mut offer).await
                        {
                            AuthOutcome::Success { localpart, additional, .. } if profile == Profile::Legacy => {
                                tracing::debug!(%localpart, "authenticated");
                                let success = auth::sasl_el(profile, "success", additional.as_deref());
                                self.io.send(&success).await.ok()?;
                                phase = Phase::Authenticated { localpart };
                                self.io.restart();
                                self.header_sent = false;
                                break;
                            }
                            AuthOutcome::Success { localpart, additional, rotate } => {
                                tracing::debug!(%localpart, "authenticated (SASL2)");
                                match self.sasl2_success(shared, &host, &localpart, &el, additional, rotate).await? {
                                    Sasl2Next::Bound { binding, sm, resume_rx, inactive } => {
                                        let mut bound = binding.into_bound(self.io);
                                        bound.sm = sm;
                                        bound.resume_rx = resume_rx;
                                        bound.inactive = inactive;
                                        return Some(bound);
                                    }
                                    Sasl2Next::Resume { tx, h, success, features } => {
                                        let req = Box::new(ResumeRequest {
                                            io: handed_over(self.io),
                                            h,
                                            sasl2: Some((success, features)),
                                        });
                                        // The session's own task carries on with this connection.
                                        let _ = tx.send(req).await;
                                        return None;
                                    }
                                    Sasl2Next::Authenticated => {
                                        phase = Phase::Authenticated { localpart };
                                        continue;
                                    }
                                }
                            }
                            AuthOutcome::Failed => {
                                *failures += 1;
                                if *failures >= shared.config.sasl_retries {
                                    self.fail(Cond::PolicyViolation, Some("too many failed authentication attempts"))
                                        .await;
                                    return None;
                                }
                            }
                            AuthOutcome::Broken => return None,
                        }
                        continue;
                    }
                    Phase::Authenticated { localpart } => {
                        if el.is("resume", sm::NS) {
                            let owner = BareJid::new(&format!("{localpart}@{host}")).ok()?;
                            let target = el.attr("previd").and_then(|id| shared.resumable.find(id, &owner));
                            match (target, sm::h_of(&el)) {
                                (Some(tx), Some(h)) => {
                                    match tx
                                        .send(Box::new(ResumeRequest { io: handed_over(self.io), h, sasl2: None }))
                                        .await
                                    {
                                        // The session's own task carries on with this connection.
                                        Ok(()) => return None,
                                        Err(mpsc::error::SendError(req)) => {
                                            self.io = req.io;
                                            self.io.set_deadline(Some(self.deadline));
                                        }
                                    }
                                }
                                (_, None) => {
                                    self.io.send(&sm::failed("bad-request", None)).await.ok()?;
                                    continue;
                                }
                                (None, Some(_)) => {}
                            }
                            self.io.send(&sm::failed("item-not-found", None)).await.ok()?;
                            continue;
                        }
                        if el.is("enable", sm::NS) {
                            self.io.send(&sm::failed("unexpected-request", None)).await.ok()?;
                            continue;
                        }
                        if !el.is("iq", ns::CLIENT) {
                            self.fail(Cond::NotAuthorized, Some("bind a resource first")).await;
                            return None;
                        }
                        if el.attr("id").is_none() {
                            let mut reply = StanzaError::iq_without_id().reply_to(&el);
                            xml::remove_attr(&mut reply, "from");
                            self.io.send(&reply).await.ok()?;
                            continue;
                        }
                        if el.get_child("session", ns::SESSION).is_some() {
                            self.io.send(&xml::iq_result(&el, None)).await.ok()?;
                            continue;
                        }
                        let Some(bind) = el.get_child("bind", ns::BIND).filter(|_| el.attr("type") == Some("set"))
                        else {
                            self.fail(Cond::NotAuthorized, Some("bind a resource first")).await;
                            return None;
                        };
                        let requested =
                            bind.get_child("resource", ns::BIND).map(|r| r.text()).filter(|r| !r.trim().is_empty());
                        let resource = requested.unwrap_or_else(|| format!("rhein-{}", new_id()));
                        match bind_resource(shared, &host, localpart, &resource).await {
                            Ok(binding) => {
                                let mut reply_bind = Element::bare("bind", ns::BIND);
                                reply_bind.append_child(xml::text_el("jid", ns::BIND, binding.jid.as_str()));
                                let mut reply = xml::iq_result(&el, Some(reply_bind));
                                xml::remove_attr(&mut reply, "from");
                                if self.io.send(&reply).await.is_err() {
                                    shared.router.unbind(&binding.jid, binding.session_id).await;
                                    return None;
                                }
                                return Some(binding.into_bound(self.io));
                            }
                            Err(err) => self.io.send(&err.reply_to(&el)).await.ok()?,
                        }
                    }
                }
            }
        }
    }

    /// Waits for the client's stream header, answers it, and returns the host it names.
    async fn open_stream(&mut self, shared: &C2sShared) -> Option<String> {
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
        Some(host)
    }
}

/// A stream leaving negotiation for a session that takes it over: no longer under its deadline.
fn handed_over(mut io: StreamIo) -> StreamIo {
    io.set_deadline(None);
    io
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
            Ok(Binding { jid, session_id, rx, overflow })
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
