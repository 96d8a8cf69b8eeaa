//! The HTTP side of Rhein: XMPP over WebSocket (RFC 7395) at `/xmpp-websocket`, a full client
//! session sharing c2s negotiation, SASL, limits and the router with TCP clients; and
//! XEP-0156 discovery at `/.well-known/host-meta` and `host-meta.json`, with CORS so web
//! clients on other origins can read it; and `/health` for whatever watches the server.

mod bosh;
mod bridge;
mod discovery;
mod health;
mod pages;
mod upload;
mod webchat;
mod websocket;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use rhein_c2s::C2sShared;
use rhein_stream::Connections;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

pub(crate) type Body = Full<Bytes>;

pub use bosh::Sessions as BoshSessions;

/// What every connection of one HTTP listener shares.
pub struct WebShared {
    /// The client side of the server (sessions over WebSocket are c2s sessions).
    pub c2s: Arc<C2sShared>,
    /// TLS for an HTTPS listener; `None` for plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// Largest WebSocket message or BOSH request (about one stanza) accepted.
    pub max_message: usize,
    /// BOSH sessions of this listener (shared with the settings a reload makes).
    pub bosh: Arc<BoshSessions>,
    /// Upload slots live in storage; their files in `upload_dir`.
    pub db: rhein_storage::Db,
    pub upload_dir: std::path::PathBuf,
    /// Origins allowed to open sessions (WebSocket, BOSH); empty: any.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see [`client_address`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connection slots of XMPP sessions, shared with the TCP listeners: a WebSocket or BOSH
    /// session holds one for its life, refused past the per-address or global cap.
    pub sessions: Connections,
    pub timeouts: WebTimeouts,
    /// Converse.js's npm package, served at `/webchat/` when set.
    pub webchat_dir: Option<std::path::PathBuf>,
    /// Renders `/metrics` (for loopback peers), once the server has assembled its parts.
    pub metrics: MetricsText,
    /// A listener of its own for `/metrics` (`[metrics] listen`): that alone, to any peer.
    pub metrics_only: bool,
    /// Set once the server has bound every listener, cleared when it stops (`/health`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

/// What renders the OpenMetrics text, set once at start.
pub type MetricsText = Arc<std::sync::OnceLock<Box<dyn Fn() -> String + Send + Sync>>>;

/// How long the HTTP side waits for its clients.
#[derive(Debug, Clone, Copy)]
pub struct WebTimeouts {
    /// For a request's headers; also how long an idle keep-alive connection stays open.
    pub header: Duration,
    /// Longest a request body may stall (a BOSH body must arrive whole within it).
    pub body: Duration,
    /// A BOSH session without a request for this long (beyond the client's `wait`) has lost
    /// its client.
    pub bosh_inactivity: Duration,
}

impl WebShared {
    /// What a client's stanzas may hold: the limits of its c2s stream, on every transport.
    pub(crate) fn frame_limits(&self) -> rhein_stream::FrameLimits {
        self.c2s.config.limits.frame
    }

    /// Whether a browser page from the request's origin may open a session here.
    pub(crate) fn origin_allowed(&self, req: &Request<Incoming>) -> bool {
        let Some(origin) = req.headers().get(hyper::header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        self.allowed_origins.is_empty() || self.allowed_origins.iter().any(|a| a.eq_ignore_ascii_case(origin))
    }
}

/// Serves one accepted TCP connection (HTTP/1.1, upgraded to WebSocket where asked).
pub async fn serve(shared: Arc<WebShared>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!("http", %peer);
    async move {
        match shared.tls.clone() {
            Some(acceptor) => match tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => serve_http(shared, tls, peer).await,
                _ => tracing::debug!("TLS handshake failed"),
            },
            None => serve_http(shared, tcp, peer).await,
        }
    }
    .instrument(span)
    .await
}

async fn serve_http<I>(shared: Arc<WebShared>, io: I, peer: SocketAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = shared.timeouts.header;
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(route(shared, peer, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        // Slow clients may not hold a connection open by dribbling headers (the timer also
        // runs while a keep-alive connection waits for its next request).
        .header_read_timeout(header_timeout)
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "HTTP connection ended");
    }
}

async fn route(shared: Arc<WebShared>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    if shared.metrics_only {
        return match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => metrics(&shared),
            _ => plain(StatusCode::NOT_FOUND, "not found"),
        };
    }
    let peer = client_address(&shared.trusted_proxies, peer, req.headers());
    let secure = shared.tls.is_some();
    let session_path = matches!(req.uri().path(), "/xmpp-websocket" | "/http-bind");
    if session_path && req.method() != Method::OPTIONS && !shared.origin_allowed(&req) {
        return plain(StatusCode::FORBIDDEN, "this origin may not open sessions here");
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/xmpp-websocket") => websocket::upgrade(shared, peer, req),
        (&Method::POST, "/http-bind") => bosh::handle(shared, peer, req).await,
        (&Method::GET | &Method::HEAD, "/health") => health::check(&shared).await,
        (&Method::GET, "/metrics") if peer.ip().is_loopback() => metrics(&shared),
        (&Method::GET, "/.well-known/host-meta") => discovery::host_meta(&req, secure, false),
        (&Method::GET, "/.well-known/host-meta.json") => discovery::host_meta(&req, secure, true),
        (&Method::PUT, path) if path.starts_with("/upload/") => upload::put(shared, req).await,
        (&Method::GET | &Method::HEAD, path) if path.starts_with("/upload/") => upload::get(shared, req).await,
        (&Method::GET | &Method::HEAD, path) if path == "/webchat" || path.starts_with("/webchat/") => {
            webchat::serve(&shared, &req).await
        }
        (&Method::OPTIONS, _) => discovery::preflight(),
        _ => pages::serve(&shared, peer, req).await.unwrap_or_else(|| plain(StatusCode::NOT_FOUND, "not found")),
    }
}

/// The client a request comes from: the peer, or for a trusted reverse proxy the address its
/// `X-Forwarded-For` names. Read from the right, the last address not a trusted proxy is the
/// client (what is left of it the client itself may have written); one that does not parse
/// makes the client unknown (the unspecified address: no loopback privileges, one shared
/// per-address count). The port is the peer's.
pub fn client_address(trusted: &[IpAddr], peer: SocketAddr, headers: &hyper::HeaderMap) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .collect();
    let mut client = peer.ip();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return SocketAddr::new(ip, peer.port()),
            Err(_) => return SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), peer.port()),
        }
    }
    SocketAddr::new(client, peer.port())
}

/// OpenMetrics text of the server, for a scraper on this machine (a reverse proxy on this
/// machine must be listed in `trusted_proxies`, or kept from forwarding `/metrics`).
fn metrics(shared: &WebShared) -> Response<Body> {
    let Some(render) = shared.metrics.get() else { return plain(StatusCode::SERVICE_UNAVAILABLE, "starting") };
    let mut response = Response::new(Full::new(Bytes::from(render())));
    secure_headers(&mut response);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Why a request body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    TooLarge,
    /// No bytes came for the body timeout.
    Stalled,
    /// The connection failed mid-body.
    Broken,
}

impl BodyError {
    pub(crate) fn response(&self) -> Response<Body> {
        match self {
            BodyError::TooLarge => plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
            BodyError::Stalled => {
                let mut r = plain(StatusCode::REQUEST_TIMEOUT, "the request body stalled");
                // The rest of the body may still come; the connection cannot be reused.
                r.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                r
            }
            BodyError::Broken => plain(StatusCode::BAD_REQUEST, "the request body broke off"),
        }
    }
}

/// Reads a request body of at most `max` bytes; a body that stalls for `stall` is given up, so a
/// client cannot hold a request (and its buffer) open by sending half of it.
pub(crate) async fn read_body(body: Incoming, max: usize, stall: Duration) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    let mut body = http_body_util::Limited::new(body, max);
    let mut data = Vec::new();
    loop {
        match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => return Ok(Bytes::from(data)),
            Ok(Some(Ok(frame))) => {
                if let Ok(chunk) = frame.into_data() {
                    data.extend_from_slice(&chunk);
                }
            }
            Ok(Some(Err(e))) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
        }
    }
}

/// A text response with the headers every response carries.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    secure_headers(&mut r);
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Lets pages of any origin read the response (discovery, uploads and BOSH are public or
/// authorised by their own secrets; session origins are checked in `route`).
pub(crate) fn cors(r: &mut Response<Body>) {
    r.headers_mut().insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, hyper::header::HeaderValue::from_static("*"));
}

/// Headers that keep browsers from sniffing or framing what the server returns.
pub(crate) fn secure_headers(r: &mut Response<Body>) {
    use hyper::header::{HeaderName, HeaderValue};
    let h = r.headers_mut();
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    h.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::{IpAddr, SocketAddr};

    fn from(peer: &str, forwarded: &[&str]) -> IpAddr {
        let trusted: Vec<IpAddr> = ["127.0.0.1", "10.0.0.2"].iter().map(|a| a.parse().unwrap()).collect();
        let mut headers = hyper::HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        let peer: SocketAddr = format!("{peer}:4000").parse().unwrap();
        client_address(&trusted, peer, &headers).ip()
    }

    #[test]
    fn only_trusted_proxies_name_the_client_and_from_the_right() {
        assert_eq!(from("192.0.2.7", &["203.0.113.9"]), "192.0.2.7".parse::<IpAddr>().unwrap(), "not a proxy");
        assert_eq!(from("127.0.0.1", &[]), "127.0.0.1".parse::<IpAddr>().unwrap(), "the proxy itself");
        assert_eq!(from("127.0.0.1", &["203.0.113.9"]), "203.0.113.9".parse::<IpAddr>().unwrap());
        // What the client wrote itself is left of what the proxies appended.
        assert_eq!(from("127.0.0.1", &["1.2.3.4, 203.0.113.9"]), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(from("127.0.0.1", &["1.2.3.4", "203.0.113.9, 10.0.0.2"]), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(from("127.0.0.1", &["10.0.0.2"]), "10.0.0.2".parse::<IpAddr>().unwrap(), "proxies all the way");
        assert_eq!(from("127.0.0.1", &["2001:db8::1"]), "2001:db8::1".parse::<IpAddr>().unwrap());
        let unknown = from("127.0.0.1", &["unknown, 10.0.0.2"]);
        assert!(unknown.is_unspecified() && !unknown.is_loopback());
    }
}
