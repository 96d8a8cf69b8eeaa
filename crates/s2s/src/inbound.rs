//! Inbound streams: a remote server connects, secures the stream, proves with dialback
//! which of its domains it speaks for, and sends stanzas from those domains to ours. It may
//! also ask us (as the authoritative server) whether we issued a key.

use crate::link::{self, Local, Peer, Refusal};
use crate::{S2s, Shared, dialback, outbound};
use rhein_proto::xml::{self, StanzaKind};
use rhein_proto::{Element, Jid, StreamErrorCondition as Cond, ns};
use rhein_router::Stanza;
use rhein_stream::{Conn, Frame, ReadError, StreamHeader, StreamIo};
use rustls_pki_types::CertificateDer;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::Instrument;

/// Serves one accepted connection from a remote server; `direct_tls` for XEP-0368 ports.
pub async fn serve(s2s: S2s, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) {
    let _ = tcp.set_nodelay(true);
    let shared = s2s.shared;
    let span = tracing::info_span!("s2s_in", %peer);
    async move {
        // One deadline from accept until the peer has authenticated a domain (TLS, SASL
        // EXTERNAL or dialback); a peer that stops anywhere on the way is dropped then.
        let deadline = Instant::now() + shared.config.connect_timeout;
        let conn = if direct_tls {
            match timeout_at(deadline, Conn::Plain(tcp).accept_tls(&shared.config.tls.s2s_acceptor)).await {
                Ok(Ok(conn)) => conn,
                _ => return tracing::debug!("TLS handshake failed"),
            }
        } else {
            Conn::Plain(tcp)
        };
        let mut io = StreamIo::new(conn, shared.config.limits.clone());
        io.set_deadline(Some(deadline));
        let Some(Negotiated { mut io, stream_id, first, authenticated, bidi }) = negotiate(&shared, io).await else {
            return;
        };
        // From here on, the dialback phase keeps the deadline (`Incoming::unauthenticated_until`).
        io.set_deadline(None);
        let chain = io.conn().peer_certificates();
        let (verdicts_tx, verdicts) = mpsc::channel(16);
        let mut incoming = Incoming {
            id: NEXT_STREAM.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            closed: Arc::default(),
            shared,
            stream_id,
            chain,
            authenticated: HashSet::new(),
            verdicts_tx,
            verdicts,
            verifying: 0,
            deadline: Some(deadline),
            bidi,
            reverse: None,
        };
        for (remote, local) in authenticated {
            incoming.authenticate(remote, local);
        }
        if let Some(el) = first {
            match incoming.receive(el).await {
                Ok(answers) => {
                    for a in answers {
                        if io.send(&a).await.is_err() {
                            return;
                        }
                    }
                }
                Err(refusal) => return io.fail(refusal.cond, Some(&refusal.text)).await,
            }
        }
        link::run(&mut io, ns::SERVER, &mut incoming).await;
        if let Some(reverse) = incoming.reverse.take() {
            reverse.finish(&incoming.shared).await;
        }
    }
    .instrument(span)
    .await
}

struct Negotiated {
    io: StreamIo,
    /// What dialback keys on this stream are bound to.
    stream_id: String,
    /// On a plaintext stream where TLS is optional, or after features offering SASL, the
    /// first element the peer sent, already read.
    first: Option<Element>,
    /// The (remote, local) pair SASL EXTERNAL authenticated, if it did.
    authenticated: HashSet<(String, String)>,
    /// The peer turned on XEP-0288.
    bidi: bool,
}

/// Stream headers, STARTTLS and SASL EXTERNAL (RFC 6120 §5, §6; XEP-0178): a peer whose
/// certificate is valid for the domain it names in its header may authenticate with it.
async fn negotiate(shared: &Shared, mut io: StreamIo) -> Option<Negotiated> {
    let mut authenticated = HashSet::new();
    let mut bidi = false;
    loop {
        let header = match io.read_frame().await {
            Ok(Frame::Open(h)) => h,
            Err(ReadError::TimedOut) => {
                // RFC 6120 §4.9.1.1: a stream error goes on a stream, so ours is opened first.
                io.queue_stream_header(&StreamHeader::new(ns::SERVER));
                io.fail(Cond::ConnectionTimeout, Some(TOO_LONG)).await;
                return None;
            }
            _ => return None,
        };
        let to = header.attr("to").unwrap_or_default().to_ascii_lowercase();
        let from = header.attr("from").map(str::to_ascii_lowercase);
        let id = xml::random_id();
        let reply = StreamHeader {
            from: Some(&to),
            to: from.as_deref(),
            id: Some(&id),
            dialback: true,
            ..StreamHeader::new(ns::SERVER)
        };
        // Leaves with the features or the stream error that follows.
        io.queue_stream_header(&reply);
        if !shared.is_local(&to) {
            io.fail(Cond::HostUnknown, Some(&format!("{to:?} is not served here"))).await;
            return None;
        }
        let secured = io.conn().is_tls();
        // SASL EXTERNAL, once per stream, for the domain the header names if its
        // certificate is valid for it.
        let external = match (&from, secured && authenticated.is_empty()) {
            (Some(from), true) => match shared.config.pkix.validate(&io.conn().peer_certificates(), from) {
                Ok(()) => Some(from.clone()),
                Err(reason) => {
                    tracing::debug!(%from, %reason, "certificate not valid for the peer's domain; dialback only");
                    None
                }
            },
            _ => None,
        };
        let mut features = Element::bare("features", ns::STREAM);
        if secured {
            if external.is_some() {
                let mut mechanisms = Element::bare("mechanisms", ns::SASL);
                mechanisms.append_child(xml::text_el("mechanism", ns::SASL, "EXTERNAL"));
                features.append_child(mechanisms);
            }
            features.append_child(dialback::feature());
            features.append_child(Element::bare("bidi", ns::BIDI_FEATURE));
        } else {
            let mut starttls = Element::bare("starttls", ns::TLS);
            if shared.config.require_tls {
                starttls.append_child(Element::bare("required", ns::TLS));
            } else {
                features.append_child(dialback::feature());
            }
            features.append_child(starttls);
        }
        features.append_child(shared.config.limits.advertisement());
        io.send(&features).await.ok()?;
        if secured && external.is_none() {
            return Some(Negotiated { io, stream_id: id, first: None, authenticated, bidi });
        }
        let mut el = next_element(&mut io).await?;
        if secured && el.is("bidi", ns::BIDI) {
            bidi = true;
            el = next_element(&mut io).await?;
        }
        if el.is("starttls", ns::TLS) && !secured {
            io.send(&Element::bare("proceed", ns::TLS)).await.ok()?;
            io = io.starttls_with(&shared.config.tls.s2s_acceptor).await.ok()?;
            continue;
        }
        if let (true, Some(domain)) = (el.is("auth", ns::SASL), &external) {
            if el.attr("mechanism") != Some("EXTERNAL") || !authzid_matches(&el.text(), domain) {
                io.send(&sasl_failure()).await.ok()?;
                io.fail(Cond::NotAuthorized, Some("SASL EXTERNAL must name the certificate's domain")).await;
                return None;
            }
            tracing::info!(remote = %domain, local = %to, "authenticated with SASL EXTERNAL");
            io.send(&Element::bare("success", ns::SASL)).await.ok()?;
            io.restart();
            authenticated.insert((domain.clone(), to));
            continue;
        }
        if !secured && shared.config.require_tls {
            io.fail(Cond::PolicyViolation, Some("STARTTLS is required")).await;
            return None;
        }
        return Some(Negotiated { io, stream_id: id, first: Some(el), authenticated, bidi });
    }
}

const TOO_LONG: &str = "the stream was not authenticated in time";

/// The next element of a stream under negotiation; a stream past its deadline or with bad
/// XML is answered with a stream error (RFC 6120 §4.9) and gives `None`.
async fn next_element(io: &mut StreamIo) -> Option<Element> {
    match io.read_frame().await {
        Ok(Frame::Element(el)) => Some(el),
        Err(ReadError::TimedOut) => {
            io.fail(Cond::ConnectionTimeout, Some(TOO_LONG)).await;
            None
        }
        Err(ReadError::Frame(e)) => {
            io.fail(e.condition(), Some(&e.to_string())).await;
            None
        }
        Ok(Frame::Close) => {
            io.close_stream().await;
            None
        }
        _ => None,
    }
}

/// The authorization identity of SASL EXTERNAL: empty (`=`) or the certificate's domain.
fn authzid_matches(text: &str, domain: &str) -> bool {
    use base64::Engine;
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return true;
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok_and(|id| String::from_utf8_lossy(&id).eq_ignore_ascii_case(domain))
}

fn sasl_failure() -> Element {
    let mut failure = Element::bare("failure", ns::SASL);
    failure.append_child(Element::bare("not-authorized", ns::SASL));
    failure
}

/// An inbound stream as the service lists it: the pairs it authenticated, and how to ask it
/// to close.
pub(crate) struct Registered {
    /// (remote, local) domain pairs.
    pub pairs: Vec<(String, String)>,
    pub close: Arc<tokio::sync::Notify>,
}

static NEXT_STREAM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

struct Incoming {
    /// This stream's number in the service's inbound table.
    id: u64,
    /// Notified when an administrator closes the stream.
    closed: Arc<tokio::sync::Notify>,
    shared: Arc<Shared>,
    stream_id: String,
    /// The peer's TLS certificate chain (empty if it presented none).
    chain: Vec<CertificateDer<'static>>,
    /// (remote domain, local domain) pairs dialback verified on this stream.
    authenticated: HashSet<(String, String)>,
    verdicts_tx: mpsc::Sender<(String, String, bool)>,
    verdicts: mpsc::Receiver<(String, String, bool)>,
    /// Dialback verifications under way (each bounded by its own timeout).
    verifying: usize,
    /// Until the stream is in use, when it must be: a stream that authenticated nothing
    /// and asked nothing by then is closed with `connection-timeout`.
    deadline: Option<Instant>,
    /// The peer turned on XEP-0288: we may send on this stream for authenticated pairs.
    bidi: bool,
    /// What we send to the peer on this stream, if it became our way to it.
    reverse: Option<outbound::Reverse>,
}

impl Peer for Incoming {
    async fn next_local(&mut self) -> Local {
        let deadline = self.unauthenticated_until();
        let reverse = self.reverse.as_mut();
        let reverse = async {
            match reverse {
                Some(reverse) => reverse.next().await,
                None => std::future::pending().await,
            }
        };
        let verdict = tokio::select! {
            verdict = self.verdicts.recv() => verdict,
            el = reverse => return Local::Send(el),
            () = self.closed.notified() => return Local::Close,
            () = sleep_until_some(deadline) => {
                return Local::Fail(Refusal::new(Cond::ConnectionTimeout, TOO_LONG));
            }
        };
        // `verdicts_tx` lives in `self`, so the channel never closes.
        let Some((remote, local, valid)) = verdict else { return Local::Close };
        self.verifying = self.verifying.saturating_sub(1);
        if valid {
            tracing::info!(%remote, %local, "dialback verified");
            self.authenticate(remote.clone(), local.clone());
        } else {
            tracing::warn!(%remote, %local, "dialback key rejected by the domain it claims");
        }
        Local::Send(dialback::element("result", &local, &remote, None, None, Some(valid)))
    }

    async fn receive(&mut self, el: Element) -> Result<Vec<Element>, Refusal> {
        let (from, to) = (el.attr("from").unwrap_or_default(), el.attr("to").unwrap_or_default());
        if el.is("result", ns::DIALBACK) {
            return self.start_verification(from, to, &el.text());
        }
        if el.is("bidi", ns::BIDI) {
            self.bidi = true;
            return Ok(Vec::new());
        }
        if el.is("verify", ns::DIALBACK) && el.attr("type").is_some() {
            // An answer to a question we asked on this XEP-0288 stream.
            if let Some(reverse) = &mut self.reverse {
                reverse.questions.answer(&el);
            }
            return Ok(Vec::new());
        }
        if el.is("verify", ns::DIALBACK) {
            // We are the authoritative server: did we issue this key for that stream? A
            // stream that asks is in use even if it authenticates nothing.
            self.deadline = None;
            let (Some(id), true) = (el.attr("id"), self.shared.is_local(to)) else {
                return Ok(vec![dialback::element("verify", to, from, el.attr("id"), None, Some(false))]);
            };
            let valid = self.shared.secret.check(from, to, id, &el.text());
            return Ok(vec![dialback::element("verify", to, from, Some(id), None, Some(valid))]);
        }
        let Some(kind) = StanzaKind::of(&el) else {
            return Err(Refusal::new(Cond::UnsupportedStanzaType, format!("<{}/> is not a stanza", el.name())));
        };
        let (from, to) = match (Jid::new(from), Jid::new(to)) {
            (Ok(from), Ok(to)) => (from, to),
            _ => return Err(Refusal::new(Cond::ImproperAddressing, "a server's stanza needs a valid from and to")),
        };
        let pair = (from.domain().as_str().to_owned(), to.domain().as_str().to_owned());
        if !self.authenticated.contains(&pair) {
            if !self.shared.is_local(&pair.1) {
                return Err(Refusal::new(Cond::HostUnknown, format!("{} is not served here", pair.1)));
            }
            return Err(Refusal::new(Cond::InvalidFrom, format!("{} is not authenticated on this stream", pair.0)));
        }
        tracing::trace!(name = el.name(), "stanza from the peer");
        self.shared.router.deliver(Stanza { kind, from, to, el }).await;
        Ok(Vec::new())
    }
}

/// Sleeps until `deadline`; never wakes without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Incoming {
    /// The negotiation deadline, while it applies: the stream has authenticated nothing and
    /// has no verification under way (which gets its answer first).
    fn unauthenticated_until(&self) -> Option<Instant> {
        self.deadline.filter(|_| self.authenticated.is_empty() && self.verifying == 0)
    }

    /// A (remote, local) pair is authenticated on this stream; with XEP-0288 on, the stream
    /// also becomes our way to `remote` (for the first such pair, if we have no other).
    fn authenticate(&mut self, remote: String, local: String) {
        if self.bidi && self.reverse.is_none() {
            self.reverse = self.shared.adopt(&local, &remote);
            if self.reverse.is_some() {
                tracing::info!(%remote, %local, "bidirectional: our stanzas to the peer use this stream");
            }
        }
        if !self.authenticated.insert((remote.clone(), local.clone())) {
            return;
        }
        let mut table = self.shared.inbound_table();
        let registered =
            table.entry(self.id).or_insert_with(|| Registered { pairs: Vec::new(), close: self.closed.clone() });
        registered.pairs.push((remote, local));
    }

    /// A peer presents a key for `from` → `to`: ask `from`'s authoritative server in the
    /// background (the stream keeps serving meanwhile; waiting here could deadlock two
    /// servers verifying each other) and answer when it replies.
    fn start_verification(&mut self, from: &str, to: &str, key: &str) -> Result<Vec<Element>, Refusal> {
        let (remote, local) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
        if !self.shared.is_local(&local) {
            return Err(Refusal::new(Cond::HostUnknown, format!("{local:?} is not served here")));
        }
        if remote.is_empty() || self.shared.is_local(&remote) || Jid::new(&remote).is_err() {
            return Err(Refusal::new(Cond::InvalidFrom, format!("{remote:?} cannot be authenticated here")));
        }
        // A certificate valid for the claimed domain settles it (XEP-0344 §2.4); otherwise
        // dialback is allowed only where the configuration allows it for that domain.
        match self.shared.config.pkix.validate(&self.chain, &remote) {
            Ok(()) => {
                tracing::info!(%remote, %local, "certificate valid for the claimed domain");
                self.authenticate(remote.clone(), local.clone());
                return Ok(vec![dialback::element("result", &local, &remote, None, None, Some(true))]);
            }
            Err(reason) if !self.shared.dialback_allowed(&remote) => {
                tracing::warn!(%remote, %reason, "refusing dialback: a valid certificate is required for this domain");
                let text = format!("{remote} must present a valid certificate: {reason}");
                return Ok(vec![dialback::refusal(&local, &remote, &text)]);
            }
            Err(_) => {}
        }
        let (shared, stream_id, key, tx) =
            (self.shared.clone(), self.stream_id.clone(), key.trim().to_owned(), self.verdicts_tx.clone());
        self.verifying += 1;
        tokio::spawn(
            async move {
                let valid = shared.verify(&local, &remote, &stream_id, &key).await;
                let _ = tx.send((remote, local, valid)).await;
            }
            .in_current_span(),
        );
        Ok(Vec::new())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.shared.inbound_table().remove(&self.id);
    }
}
