//! Client-to-server streams (RFC 6120): accept a connection, negotiate TLS, SASL and a
//! resource, then run the bound session until either side ends it. Stanzas go to the router;
//! the router's deliveries come back through the session's queue.

mod auth;
mod bind2;
mod committing;
mod csi;
mod negotiate;
mod queued;
mod request;
mod sasl2;
mod session;
mod sm;
mod throttle;
mod upgrade;

pub use sm::{Resumable, UnackedLimit};
pub use throttle::{AuthThrottle, ThrottleLimits};

pub use rhein_metrics::Transport;
use rhein_metrics::{TransportLabel, metrics};
use rhein_router::Router;
use rhein_storage::Db;
use rhein_stream::tls::TlsSettings;
use rhein_stream::{Conn, Limits};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;

/// Settings shared by every c2s connection of a listener.
#[derive(Clone)]
pub struct C2sConfig {
    /// Hosts served; the first answers streams that name no host.
    pub hosts: Vec<String>,
    pub tls: Option<TlsSettings>,
    /// Refuse SASL until STARTTLS (RFC 7590). Only `--ephemeral` on loopback turns it off.
    pub require_tls: bool,
    pub limits: Limits,
    /// Sessions one account may bind at once.
    pub max_sessions_per_account: usize,
    /// Stanzas queued for a session before it counts as a slow consumer and is closed.
    pub queue_size: usize,
    /// Time allowed from accepting a connection to a bound resource: TLS handshakes, SASL
    /// and binding all count.
    pub negotiation_timeout: Duration,
    /// Failed SASL attempts allowed on one stream before it is closed.
    pub sasl_retries: u32,
    /// How long a session with XEP-0198 resumption waits for its client to come back.
    pub resume_timeout: Duration,
    /// What a session with XEP-0198 holds for its client until acknowledged: a live session
    /// that reaches it asks for an ack and sends nothing more until one comes; a hibernating
    /// one is given up (its messages go to other resources or offline storage).
    pub unacked: UnackedLimit,
    /// How long a live session whose unacknowledged stanzas reached the limit waits for an
    /// ack before it closes with `policy-violation`.
    pub ack_timeout: Duration,
}

impl C2sConfig {
    pub fn new(hosts: Vec<String>, tls: Option<TlsSettings>) -> Self {
        Self {
            hosts,
            tls,
            require_tls: true,
            limits: Limits::default(),
            max_sessions_per_account: 10,
            queue_size: 10_000,
            negotiation_timeout: Duration::from_secs(60),
            sasl_retries: 3,
            resume_timeout: Duration::from_secs(300),
            unacked: UnackedLimit { stanzas: 5000, bytes: 4 * 1024 * 1024 },
            ack_timeout: Duration::from_secs(60),
        }
    }
}

/// What every connection needs from the server.
pub struct C2sShared {
    pub config: C2sConfig,
    pub router: Router,
    pub db: Db,
    pub throttle: Arc<AuthThrottle>,
    /// Bounds concurrent argon2 checks (PLAIN) so logins cannot starve the blocking pool.
    pub hash_permits: Arc<tokio::sync::Semaphore>,
    /// Sessions a new connection may resume (XEP-0198).
    pub resumable: Arc<Resumable>,
    /// What SASL answers a name without an account with (so answers do not tell which exist).
    pub secret: rhein_sasl::ServerSecret,
}

/// Serves a client whose stream arrives over another transport (XMPP over WebSocket or BOSH,
/// already bridged to plain XMPP).
pub fn serve_bridged(
    shared: Arc<C2sShared>,
    conn: Conn,
    peer: SocketAddr,
    transport: Transport,
) -> impl Future<Output = ()> {
    let span = tracing::info_span!("c2s", %peer, ?transport);
    async move {
        let deadline = Instant::now() + shared.config.negotiation_timeout;
        let Some(bound) = negotiate_boxed(&shared, conn, peer, deadline).await else { return };
        let _counted = SessionCount::new(transport);
        session::run(&shared, bound).await;
    }
    .instrument(span)
}

/// Negotiation on the heap: its future is large (TLS handshake, SASL, storage lookups) and
/// would otherwise stay part of every bound session's task while the session idles.
async fn negotiate_boxed(
    shared: &C2sShared,
    conn: Conn,
    peer: SocketAddr,
    deadline: Instant,
) -> Option<negotiate::Bound> {
    Box::pin(negotiate::negotiate(shared, conn, peer, deadline)).await
}

/// Serves one accepted TCP connection to the end. `direct_tls` for XEP-0368 ports.
///
/// Not an `async fn`, whose future would keep its arguments beside the copies moved into
/// the session: this future lives as long as the connection.
pub fn serve(shared: Arc<C2sShared>, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) -> impl Future<Output = ()> {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!("c2s", %peer);
    async move {
        // One deadline from accept to a bound resource, whatever the client stops in.
        let deadline = Instant::now() + shared.config.negotiation_timeout;
        let conn = if direct_tls {
            let Some(tls) = shared.config.tls.as_ref() else { return };
            match tokio::time::timeout_at(deadline, Box::pin(Conn::Plain(tcp).into_tls(tls))).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!("TLS handshake timed out"),
            }
        } else {
            Conn::Plain(tcp)
        };
        let Some(bound) = negotiate_boxed(&shared, conn, peer, deadline).await else { return };
        let _counted = SessionCount::new(if direct_tls { Transport::Tls } else { Transport::Tcp });
        session::run(&shared, bound).await;
    }
    .instrument(span)
}

/// A bound client session, counted by transport in the metrics while it lasts.
struct SessionCount(Transport);

impl SessionCount {
    fn new(transport: Transport) -> Self {
        metrics().client_sessions.get_or_create(&TransportLabel { transport }).inc();
        Self(transport)
    }
}

impl Drop for SessionCount {
    fn drop(&mut self) {
        metrics().client_sessions.get_or_create(&TransportLabel { transport: self.0 }).dec();
    }
}
