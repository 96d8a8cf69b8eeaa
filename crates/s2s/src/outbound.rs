//! Outbound streams, one per (local domain, remote domain) pair: connect (pinned address or
//! DNS), STARTTLS, present our dialback key, then carry the pair's stanzas. The same stream
//! carries our questions about keys other servers of that domain showed us (`db:verify`),
//! which must not wait behind stanzas or for the stream's own authentication.

use crate::link::{self, Local, Peer, Refusal};
use crate::resolve;
use crate::{Shared, VerifyRequest, dialback};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{Element, Jid, StanzaError, StreamErrorCondition as Cond, ns, xml};
use rhein_stream::{Conn, Frame, StreamHeader, StreamIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::Instrument;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The sending end of an outbound stream.
#[derive(Clone)]
pub(crate) struct Handle {
    pub id: u64,
    pub stanzas: mpsc::Sender<Element>,
    pub verifies: mpsc::Sender<VerifyRequest>,
}

impl Handle {
    /// A handle and the task that runs its stream (to be spawned by the caller).
    pub(crate) fn new(
        shared: Arc<Shared>,
        local: &str,
        remote: &str,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (stanzas, stanzas_rx) = mpsc::channel(shared.config.queue_size.max(1));
        let (verifies, verifies_rx) = mpsc::channel(64);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!(parent: None, "s2s_out", %local, %remote);
        let out = Outgoing {
            shared,
            id,
            local: local.to_owned(),
            remote: remote.to_owned(),
            authenticated: false,
            deadline: Instant::now(),
            stanzas: stanzas_rx,
            questions: dialback::Questions::new(verifies_rx),
            bidi: false,
            failure: None,
        };
        (Self { id, stanzas, verifies }, out.run().instrument(span))
    }

    /// A handle served by an inbound XEP-0288 stream instead of a connection of our own.
    pub(crate) fn reverse(queue: usize, local: &str, remote: &str) -> (Self, Reverse) {
        let (stanzas, stanzas_rx) = mpsc::channel(queue.max(1));
        let (verifies, verifies_rx) = mpsc::channel(64);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let reverse = Reverse {
            id,
            local: local.to_owned(),
            remote: remote.to_owned(),
            stanzas: stanzas_rx,
            questions: dialback::Questions::new(verifies_rx),
        };
        (Self { id, stanzas, verifies }, reverse)
    }
}

/// The receiving ends of a handle that an inbound XEP-0288 stream serves.
pub(crate) struct Reverse {
    pub id: u64,
    pub local: String,
    pub remote: String,
    pub stanzas: mpsc::Receiver<Element>,
    pub questions: dialback::Questions,
}

impl Reverse {
    /// The next thing to send to the peer.
    pub(crate) async fn next(&mut self) -> Element {
        tokio::select! {
            question = self.questions.next(&self.local, &self.remote) => question,
            Some(el) = self.stanzas.recv() => el,
        }
    }

    /// The stream ended: this handle goes, and what it still queued takes a stream of its own.
    pub(crate) async fn finish(mut self, shared: &Arc<Shared>) {
        shared.forget(&self.local, &self.remote, self.id);
        self.stanzas.close();
        self.questions.close();
        while let Some(el) = self.stanzas.recv().await {
            if let Err(refused) = shared.queue(&self.remote, el) {
                shared.router.bounce(&refused.0, refused.1).await;
            }
        }
    }
}

struct Outgoing {
    shared: Arc<Shared>,
    id: u64,
    local: String,
    remote: String,
    authenticated: bool,
    /// Dialback must have succeeded by then.
    deadline: Instant,
    stanzas: mpsc::Receiver<Element>,
    questions: dialback::Questions,
    /// XEP-0288 is on: the peer may send us stanzas on this stream too.
    bidi: bool,
    /// What queued stanzas are bounced with if the stream never authenticates.
    failure: Option<StanzaError>,
}

impl Outgoing {
    async fn run(mut self) {
        self.deadline = Instant::now() + self.shared.config.connect_timeout;
        match timeout_at(self.deadline, self.open()).await {
            Ok(Ok(Opened { mut io, stream_id, external: true, bidi })) => {
                self.bidi = bidi;
                tracing::info!(%stream_id, "authenticated with SASL EXTERNAL; stream ready");
                self.authenticated = true;
                self.shared.record_success(&self.remote);
                link::run(&mut io, ns::SERVER, &mut self).await;
            }
            Ok(Ok(Opened { mut io, stream_id, external: false, bidi })) => {
                self.bidi = bidi;
                let key = self.shared.secret.key(&self.remote, &self.local, &stream_id);
                let result = dialback::element("result", &self.local, &self.remote, None, Some(&key), None);
                if io.send(&result).await.is_ok() {
                    link::run(&mut io, ns::SERVER, &mut self).await;
                }
            }
            Ok(Err(reason)) => {
                tracing::warn!(%reason, "cannot open a stream");
                self.failure = Some(StanzaError::remote_server_not_found().with_text(reason));
            }
            Err(_) => {
                tracing::warn!("opening the stream timed out");
                self.failure = Some(StanzaError::remote_server_timeout());
            }
        }
        self.finish().await;
    }

    /// Connects and negotiates up to the point where our dialback key can be presented;
    /// returns the stream and the id the peer gave it.
    async fn open(&self) -> Result<Opened, String> {
        let (conn, direct_tls) = self.connect().await?;
        let mut io = StreamIo::new(conn, self.shared.config.limits.clone());
        let (mut stream_id, mut features) = self.open_stream(&mut io).await?;
        if !direct_tls {
            if features.get_child("starttls", ns::TLS).is_some() {
                io.send(&Element::bare("starttls", ns::TLS)).await.map_err(|e| e.to_string())?;
                match io.read_frame().await {
                    Ok(Frame::Element(el)) if el.is("proceed", ns::TLS) => {}
                    _ => return Err("STARTTLS refused".into()),
                }
                let connector = self.shared.connector(&self.local);
                io = io.starttls_client(&connector, &self.remote).await.map_err(|e| format!("TLS: {e}"))?;
                (stream_id, features) = self.open_stream(&mut io).await?;
            } else if self.shared.config.require_tls {
                return Err("the peer does not offer STARTTLS".into());
            }
        }
        if let Err(reason) = self.shared.config.pkix.validate(&io.conn().peer_certificates(), &self.remote) {
            if !self.shared.dialback_allowed(&self.remote) {
                tracing::warn!(%reason, "refusing the peer: its certificate is not valid for its domain");
                return Err(format!("the certificate of {} is not valid: {reason}", self.remote));
            }
            tracing::debug!(%reason, "the peer's certificate does not validate; dialback decides");
        }
        let bidi = features.get_child("bidi", ns::BIDI_FEATURE).is_some();
        if bidi {
            // XEP-0478 §2.2: the peer sees no features from us on this stream, so the limits
            // ride in <bidi/>.
            let mut bidi = Element::bare("bidi", ns::BIDI);
            bidi.append_child(self.shared.config.limits.advertisement());
            io.send(&bidi).await.map_err(|e| e.to_string())?;
        }
        if offers_external(&features)
            && let Some(stream_id) = self.sasl_external(&mut io).await?
        {
            return Ok(Opened { io, stream_id, external: true, bidi });
        }
        Ok(Opened { io, stream_id, external: false, bidi })
    }

    /// Authenticates with our certificate (XEP-0178); the new stream's id on success, `None`
    /// if the peer refuses (dialback may still work).
    async fn sasl_external(&self, io: &mut StreamIo) -> Result<Option<String>, String> {
        use base64::Engine;
        let authzid = base64::engine::general_purpose::STANDARD.encode(&self.local);
        let auth = xml::with_attr(xml::text_el("auth", ns::SASL, authzid), "mechanism", "EXTERNAL");
        io.send(&auth).await.map_err(|e| e.to_string())?;
        match io.read_frame().await {
            Ok(Frame::Element(el)) if el.is("success", ns::SASL) => {
                io.restart();
                let (stream_id, _) = self.open_stream(io).await?;
                Ok(Some(stream_id))
            }
            Ok(Frame::Element(el)) if el.is("failure", ns::SASL) => {
                tracing::debug!("SASL EXTERNAL refused; trying dialback");
                Ok(None)
            }
            other => Err(format!("unexpected answer to SASL EXTERNAL: {other:?}")),
        }
    }

    /// A connection to the first target that answers (pinned, else from DNS), already in
    /// TLS for a direct-TLS target; and whether it was one.
    async fn connect(&self) -> Result<(Conn, bool), String> {
        let targets = match self.shared.pinned(&self.remote) {
            Some(route) => vec![(route.direct_tls, vec![route.addr])],
            None => {
                let resolver = self.shared.resolver()?;
                let mut resolved = Vec::new();
                for target in resolve::targets(resolver, &self.remote).await? {
                    match resolve::addresses(resolver, &target).await {
                        Ok(addrs) => resolved.push((target.direct_tls, addrs)),
                        Err(e) => tracing::debug!(error = %e, "skipping a target"),
                    }
                }
                resolved
            }
        };
        let mut last_error = format!("{} has no reachable address", self.remote);
        for (direct_tls, addrs) in targets {
            for addr in addrs {
                match self.connect_one(addr, direct_tls).await {
                    Ok(conn) => {
                        self.shared.opened.fetch_add(1, Ordering::Relaxed);
                        return Ok((conn, direct_tls));
                    }
                    Err(e) => {
                        tracing::debug!(%addr, error = %e, "connection attempt failed");
                        last_error = e;
                    }
                }
            }
        }
        Err(last_error)
    }

    async fn connect_one(&self, addr: SocketAddr, direct_tls: bool) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let conn = Conn::Plain(tcp);
        if !direct_tls {
            return Ok(conn);
        }
        let connector = self.shared.connector(&self.local);
        conn.into_client_tls(&connector, &self.remote).await.map_err(|e| format!("TLS to {addr}: {e}"))
    }

    /// Sends our header; reads the peer's header and features.
    async fn open_stream(&self, io: &mut StreamIo) -> Result<(String, Element), String> {
        let header = StreamHeader {
            from: Some(&self.local),
            to: Some(&self.remote),
            dialback: true,
            ..StreamHeader::new(ns::SERVER)
        };
        io.send_stream_header(&header).await.map_err(|e| e.to_string())?;
        let stream_id = match io.read_frame().await {
            Ok(Frame::Open(h)) => h.attr("id").map(str::to_owned).ok_or("the peer's stream has no id")?,
            Ok(other) => return Err(format!("expected a stream header, got {other:?}")),
            Err(e) => return Err(e.to_string()),
        };
        match io.read_frame().await {
            Ok(Frame::Element(f)) if f.is("features", ns::STREAM) => Ok((stream_id, f)),
            Ok(Frame::Element(e)) if e.is("error", ns::STREAM) => {
                Err(format!("stream error: {}", link::describe_stream_error(&e)))
            }
            Ok(other) => Err(format!("expected stream features, got {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// After the stream: stanzas still queued are bounced (never authenticated) or sent on a
    /// fresh stream (an authenticated stream that closed).
    async fn finish(mut self) {
        self.shared.forget(&self.local, &self.remote, self.id);
        self.stanzas.close();
        self.questions.close();
        if !self.authenticated {
            self.shared.record_failure(&self.remote);
        }
        let failure = self.failure.take().unwrap_or_else(StanzaError::remote_server_not_found);
        while let Some(el) = self.stanzas.recv().await {
            let retry = if self.authenticated {
                self.shared.queue(&self.remote, el)
            } else {
                Err(Box::new((el, failure.clone())))
            };
            if let Err(refused) = retry {
                self.shared.router.bounce(&refused.0, refused.1).await;
            }
        }
    }
}

impl Peer for Outgoing {
    async fn next_local(&mut self) -> Local {
        let authenticated = self.authenticated;
        tokio::select! {
            question = self.questions.next(&self.local, &self.remote) => Local::Send(question),
            stanza = self.stanzas.recv(), if authenticated => match stanza {
                Some(el) => {
                    tracing::trace!(name = el.name(), "stanza to the peer");
                    Local::Send(el)
                }
                None => Local::Close,
            },
            () = sleep_until(self.deadline), if !authenticated => {
                self.failure = Some(StanzaError::remote_server_timeout());
                Local::Fail(Refusal::new(Cond::ConnectionTimeout, "dialback took too long"))
            }
        }
    }

    async fn receive(&mut self, el: Element) -> Result<Vec<Element>, Refusal> {
        let addressed = el.attr("from") == Some(self.remote.as_str()) && el.attr("to") == Some(self.local.as_str());
        if el.is("result", ns::DIALBACK) && addressed {
            if el.attr("type") == Some("valid") {
                tracing::info!("dialback accepted; stream ready");
                self.authenticated = true;
                self.shared.record_success(&self.remote);
                return Ok(Vec::new());
            }
            let text = format!("{} refused our dialback key", self.remote);
            self.failure = Some(StanzaError::remote_server_not_found().with_text(text.clone()));
            return Err(Refusal::new(Cond::NotAuthorized, text));
        }
        if el.is("verify", ns::DIALBACK) && addressed {
            self.questions.answer(&el);
            return Ok(Vec::new());
        }
        if self.bidi && self.authenticated && StanzaKind::of(&el).is_some() {
            // XEP-0288: the peer answers on our stream, from its domain to ours only.
            let domain = |attr| el.attr(attr).and_then(|j| Jid::new(j).ok()).map(|j| j.domain().as_str().to_owned());
            if domain("from").as_deref() != Some(self.remote.as_str())
                || domain("to").as_deref() != Some(self.local.as_str())
            {
                return Err(Refusal::new(Cond::InvalidFrom, "only stanzas between the authenticated domains"));
            }
            self.shared.router.route(el).await;
            return Ok(Vec::new());
        }
        // Stanzas on our outbound stream would need XEP-0288, which we do not offer.
        tracing::debug!(name = el.name(), "ignoring an element on an outbound stream");
        Ok(Vec::new())
    }
}

/// A negotiated stream, ready for dialback or already authenticated.
struct Opened {
    io: StreamIo,
    stream_id: String,
    /// Authenticated by SASL EXTERNAL: no dialback needed.
    external: bool,
    /// XEP-0288 enabled.
    bidi: bool,
}

fn offers_external(features: &Element) -> bool {
    features
        .get_child("mechanisms", ns::SASL)
        .is_some_and(|m| m.children().any(|c| c.is("mechanism", ns::SASL) && c.text().trim() == "EXTERNAL"))
}
