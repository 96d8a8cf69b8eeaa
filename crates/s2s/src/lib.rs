//! Streams with other servers: federation (RFC 6120 server-to-server streams authenticated by
//! XEP-0220 dialback) and external components (XEP-0114).
//!
//! Federation keeps one outbound stream per (local domain, remote domain) pair, opened on the
//! first stanza and queueing stanzas until the peer has accepted our dialback key; inbound
//! streams are accepted on `s2s` listeners and carry stanzas only for the domain pairs they
//! authenticated. A peer's dialback key is verified by asking the domain it claims, over our
//! own outbound stream to that domain.

pub mod component;
mod dialback;
mod inbound;
mod link;
mod outbound;
mod resolve;

pub use inbound::serve;
pub use resolve::Route;

use rhein_proto::{Element, Jid, StanzaError};
use rhein_router::{Federation, Router};
use rhein_stream::Limits;
use rhein_stream::tls::{Pkix, TlsSettings};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Federation settings.
#[derive(Clone)]
pub struct S2sConfig {
    /// Domains we federate as: the account hosts and component domains.
    pub local_domains: Vec<String>,
    /// Remote domains pinned to an address instead of being looked up in DNS (the initial
    /// pins; [`S2s::pin`] adds more).
    pub routes: HashMap<String, Route>,
    /// Refuse streams, both ways, that do not use TLS.
    pub require_tls: bool,
    pub tls: TlsSettings,
    /// Validates peers' certificates (SASL EXTERNAL, and whether dialback is needed).
    pub pkix: Pkix,
    /// Peers must present a valid certificate; no dialback (Prosody's `s2s_secure_auth`).
    pub secure_auth: bool,
    /// Domains treated as if `secure_auth` were on.
    pub secure_domains: HashSet<String>,
    /// Domains allowed dialback even with `secure_auth` on.
    pub insecure_domains: HashSet<String>,
    pub limits: Limits,
    /// Stanzas queued for one remote domain (while connecting, or a slow peer).
    pub queue_size: usize,
    /// Time allowed for TCP connect plus the TLS and dialback negotiation.
    pub connect_timeout: Duration,
    /// The DNS server to ask instead of the system's (private federations, tests).
    pub dns_server: Option<std::net::SocketAddr>,
    /// First wait after a failed connection before the domain is tried again (doubling up to
    /// 32 times this); meanwhile its stanzas are bounced at once.
    pub retry_after: Duration,
}

/// The federation service; installed into the router as its [`Federation`].
#[derive(Clone)]
pub struct S2s {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    config: S2sConfig,
    router: Router,
    secret: dialback::Secret,
    /// TLS clients per local domain (each presents that domain's certificate).
    connectors: HashMap<String, tokio_rustls::TlsConnector>,
    routes: RwLock<HashMap<String, Route>>,
    /// The system's DNS resolver, set up on first use (a server with pinned routes only
    /// never reads resolv.conf).
    resolver: std::sync::OnceLock<Result<hickory_resolver::TokioResolver, String>>,
    outbound: Mutex<HashMap<(String, String), outbound::Handle>>,
    /// Outbound connections opened so far (for tests and metrics).
    opened: std::sync::atomic::AtomicUsize,
    /// Remote domains that failed recently: until when they are not retried, and the wait
    /// that follows the next failure.
    backoff: Mutex<HashMap<String, (Instant, Duration)>>,
    /// Inbound streams that authenticated a domain pair, by stream number.
    inbound: Mutex<HashMap<u64, inbound::Registered>>,
}

/// A federation link as the administration sees it: one direction of one domain pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkInfo {
    pub local: String,
    pub remote: String,
    /// The peer connected to us (else we connected to it).
    pub inbound: bool,
}

/// A request to check a dialback key with the domain that supposedly issued it.
pub(crate) struct VerifyRequest {
    pub stream_id: String,
    pub key: String,
    pub answer: oneshot::Sender<bool>,
}

impl S2s {
    /// Creates the service and installs it in the router.
    pub fn install(mut config: S2sConfig, router: Router) -> Self {
        // The pins live in one place from now on (they change with `pin`).
        let routes = RwLock::new(std::mem::take(&mut config.routes));
        let connectors = local_connectors(&config);
        let shared = Arc::new(Shared {
            routes,
            resolver: std::sync::OnceLock::new(),
            config,
            router: router.clone(),
            secret: dialback::Secret::random(),
            connectors,
            outbound: Mutex::default(),
            backoff: Mutex::default(),
            inbound: Mutex::default(),
            opened: Default::default(),
        });
        let s2s = Self { shared };
        router.set_federation(Arc::new(s2s.clone()));
        s2s
    }

    /// Pins a remote domain to an address (as `[s2s.routes]` does), replacing any earlier pin.
    pub fn pin(&self, domain: &str, route: Route) {
        self.shared.routes.write().unwrap_or_else(|e| e.into_inner()).insert(domain.to_ascii_lowercase(), route);
    }

    /// Outbound connections opened since start (an XEP-0288 stream saves one).
    pub fn connections_opened(&self) -> usize {
        self.shared.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Outbound streams currently open or opening (for tests and logs).
    pub fn outbound_count(&self) -> usize {
        self.shared.outbound_table().len()
    }

    /// Every link: outbound streams by domain pair, and the pairs inbound streams
    /// authenticated; sorted.
    pub fn links(&self) -> Vec<LinkInfo> {
        let mut links: Vec<LinkInfo> = self
            .shared
            .outbound_table()
            .keys()
            .map(|(local, remote)| LinkInfo { local: local.clone(), remote: remote.clone(), inbound: false })
            .collect();
        for registered in self.shared.inbound_table().values() {
            links.extend(registered.pairs.iter().map(|(remote, local)| LinkInfo {
                local: local.clone(),
                remote: remote.clone(),
                inbound: true,
            }));
        }
        links.sort();
        links
    }

    /// Closes every stream to and from `remote` (an administrator's decision; the next
    /// stanza for it opens a new one). How many streams were told to close.
    pub fn close(&self, remote: &str) -> usize {
        let remote = remote.to_ascii_lowercase();
        // Dropping the table's handle ends the stream once the stanzas queued are written.
        let mut table = self.shared.outbound_table();
        let before = table.len();
        table.retain(|(_, r), _| *r != remote);
        let mut closed = before - table.len();
        drop(table);
        for registered in self.shared.inbound_table().values() {
            if registered.pairs.iter().any(|(r, _)| *r == remote) {
                registered.close.notify_one();
                closed += 1;
            }
        }
        tracing::info!(%remote, closed, "s2s streams closed by an administrator");
        closed
    }
}

fn local_connectors(config: &S2sConfig) -> HashMap<String, tokio_rustls::TlsConnector> {
    config.local_domains.iter().map(|d| (d.to_ascii_lowercase(), config.tls.s2s_connector(d))).collect()
}

impl Federation for S2s {
    fn send(&self, domain: &str, stanza: Element) {
        let shared = self.shared.clone();
        let remote = domain.to_owned();
        if let Err(refused) = shared.queue(&remote, stanza) {
            tokio::spawn(async move { shared.router.bounce(&refused.0, refused.1).await });
        }
    }
}

impl Shared {
    fn outbound_table(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), outbound::Handle>> {
        // Each mutation is one insert or remove: a poisoned table is still consistent.
        self.outbound.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn inbound_table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, inbound::Registered>> {
        self.inbound.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn pinned(&self, domain: &str) -> Option<Route> {
        self.routes.read().unwrap_or_else(|e| e.into_inner()).get(domain).copied()
    }

    pub(crate) fn resolver(&self) -> Result<&hickory_resolver::TokioResolver, String> {
        let built = self.resolver.get_or_init(|| {
            use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
            use hickory_resolver::name_server::TokioConnectionProvider;
            let builder = match self.config.dns_server {
                Some(addr) => {
                    let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                    let config = ResolverConfig::from_parts(None, Vec::new(), servers);
                    hickory_resolver::TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                }
                None => hickory_resolver::TokioResolver::builder_tokio().map_err(|e| format!("DNS setup: {e}"))?,
            };
            Ok(builder.build())
        });
        built.as_ref().map_err(Clone::clone)
    }

    pub(crate) fn connector(&self, local: &str) -> tokio_rustls::TlsConnector {
        self.connectors.get(local).cloned().unwrap_or_else(|| self.config.tls.s2s_connector(local))
    }

    /// Whether `remote` may authenticate (and be authenticated) without a valid certificate.
    pub(crate) fn dialback_allowed(&self, remote: &str) -> bool {
        if self.config.insecure_domains.contains(remote) {
            return true;
        }
        !self.config.secure_auth && !self.config.secure_domains.contains(remote)
    }

    /// Whether `domain` is served here (asked of the router: a reload may add or remove hosts).
    pub(crate) fn is_local(&self, domain: &str) -> bool {
        self.router.is_local_domain(domain)
    }

    /// Queues a stanza on the stream for its domain pair, opening one if needed; gives the
    /// stanza back with the error to bounce it with when that is not possible.
    fn queue(self: &Arc<Self>, remote: &str, el: Element) -> Result<(), Box<(Element, StanzaError)>> {
        let local = match el.attr("from").map(Jid::new) {
            Some(Ok(from)) if self.is_local(from.domain().as_str()) => from.domain().as_str().to_owned(),
            _ => return Err(Box::new((el, StanzaError::forbidden().with_text("only local senders are federated")))),
        };
        if self.in_backoff(remote) {
            return Err(Box::new((el, StanzaError::remote_server_not_found().with_text("recently unreachable"))));
        }
        let mut el = el;
        // A stream that is just closing refuses the stanza; the second try opens a new one.
        for _ in 0..2 {
            let handle = self.handle(&local, remote);
            match handle.stanzas.try_send(el) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(back)) => {
                    let err = StanzaError::resource_constraint().with_text("too many stanzas queued");
                    return Err(Box::new((back, err)));
                }
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    self.forget(&local, remote, handle.id);
                    el = back;
                }
            }
        }
        Err(Box::new((el, StanzaError::remote_server_not_found())))
    }

    /// Makes an inbound XEP-0288 stream the way to `remote` for `local`, unless there is one
    /// already; returns the receiving ends for the stream to serve.
    pub(crate) fn adopt(&self, local: &str, remote: &str) -> Option<outbound::Reverse> {
        let mut table = self.outbound_table();
        let key = (local.to_owned(), remote.to_owned());
        if table.contains_key(&key) {
            return None;
        }
        let (handle, reverse) = outbound::Handle::reverse(self.config.queue_size, local, remote);
        table.insert(key, handle);
        Some(reverse)
    }

    /// The outbound stream of a domain pair, started if there is none.
    pub(crate) fn handle(self: &Arc<Self>, local: &str, remote: &str) -> outbound::Handle {
        let key = (local.to_owned(), remote.to_owned());
        let mut table = self.outbound_table();
        if let Some(h) = table.get(&key) {
            return h.clone();
        }
        let (handle, task) = outbound::Handle::new(self.clone(), local, remote);
        table.insert(key, handle.clone());
        drop(table);
        tokio::spawn(task);
        handle
    }

    /// Removes a pair's stream from the table if it is still the one with `id`.
    pub(crate) fn forget(&self, local: &str, remote: &str, id: u64) {
        let key = (local.to_owned(), remote.to_owned());
        let mut table = self.outbound_table();
        if table.get(&key).is_some_and(|h| h.id == id) {
            table.remove(&key);
        }
    }

    fn in_backoff(&self, remote: &str) -> bool {
        let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        backoff.get(remote).is_some_and(|(until, _)| Instant::now() < *until)
    }

    pub(crate) fn record_failure(&self, remote: &str) {
        let base = self.config.retry_after;
        let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let wait = backoff.get(remote).map_or(base, |(_, next)| *next);
        backoff.insert(remote.to_owned(), (Instant::now() + wait, (wait * 2).min(base * 32)));
    }

    pub(crate) fn record_success(&self, remote: &str) {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(remote);
    }

    /// Asks `remote` (over our outbound stream to it) whether it issued `key` for the stream
    /// `stream_id` that one of its servers opened to `local`.
    pub(crate) async fn verify(self: &Arc<Self>, local: &str, remote: &str, stream_id: &str, key: &str) -> bool {
        let (answer, rx) = oneshot::channel();
        let request = VerifyRequest { stream_id: stream_id.to_owned(), key: key.to_owned(), answer };
        if self.handle(local, remote).verifies.send(request).await.is_err() {
            return false;
        }
        tokio::time::timeout(self.config.connect_timeout * 2, rx).await.ok().and_then(Result::ok).unwrap_or(false)
    }
}
