//! What client listeners hand each new connection (c2s over TCP, WebSocket and BOSH), built
//! from the configuration. A reload builds it again from the new configuration: connections
//! accepted afterwards take the new limits, those already open keep theirs. Session registry,
//! resumable sessions, BOSH sessions and argon2 permits carry over.

use crate::config::{Config, LimitsConfig};
use rhein_c2s::{AuthThrottle, C2sConfig, C2sShared, Resumable, ThrottleLimits, UnackedLimit};
use rhein_module::Current;
use rhein_router::Router;
use rhein_sasl::ServerSecret;
use rhein_storage::Db;
use rhein_stream::tls::TlsSettings;
use rhein_stream::{Connections, Limits};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) fn stream_limits(l: &LimitsConfig) -> Limits {
    Limits {
        frame: l.frame(),
        bytes_per_second: l.bytes_per_second,
        idle_timeout: Duration::from_secs(l.idle_timeout_secs),
        ..Limits::default()
    }
}

fn throttle_limits(l: &LimitsConfig) -> ThrottleLimits {
    ThrottleLimits {
        per_address: l.auth_failures_per_address,
        per_account: l.auth_failures_per_account,
        window: Duration::from_secs(l.auth_failure_window_secs),
    }
}

/// What every client listener shares and a reload keeps.
pub(crate) struct ClientParts {
    pub router: Router,
    pub db: Db,
    pub tls: TlsSettings,
    pub secret: ServerSecret,
    /// XMPP connection slots (TCP streams, WebSocket and BOSH sessions).
    pub connections: Connections,
    /// HTTP connection slots of the web listeners.
    pub http_connections: Connections,
    pub upload_dir: PathBuf,
    /// Renders `/metrics`, set once the server is assembled.
    pub metrics: rhein_web::MetricsText,
    /// Every listener bound and not stopping (`/health`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

/// A web listener's settings in effect.
struct WebListener {
    https: bool,
    allow_plaintext: bool,
    metrics_only: bool,
    current: Current<rhein_web::WebShared>,
    bosh: Arc<rhein_web::BoshSessions>,
}

/// What a reload keeps: the shared parts, resumable sessions, argon2 permits, and the auth
/// throttle (with its counts, while its limits stay the same).
struct Kept {
    parts: ClientParts,
    resumable: Arc<Resumable>,
    hash_permits: Arc<tokio::sync::Semaphore>,
    throttle: Mutex<(ThrottleLimits, Arc<AuthThrottle>)>,
}

/// The client side of the server: c2s settings with and without plaintext SASL, and each web
/// listener's.
pub(crate) struct ClientSide {
    kept: Kept,
    tls_only: Current<C2sShared>,
    plaintext: Current<C2sShared>,
    web: Mutex<Vec<WebListener>>,
}

impl ClientSide {
    pub(crate) fn new(config: &Config, parts: ClientParts) -> Self {
        let limits = throttle_limits(&config.limits);
        let throttle = Arc::new(AuthThrottle::new(limits.clone()));
        let kept = Kept {
            parts,
            resumable: Arc::new(Resumable::default()),
            // One pool of argon2 permits for every listener.
            hash_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            throttle: Mutex::new((limits, throttle)),
        };
        kept.parts.http_connections.set_uncapped(config.web.trusted_proxies.iter().copied());
        let tls_only = Current::new(kept.c2s_shared(config, false));
        let plaintext = Current::new(kept.c2s_shared(config, true));
        Self { kept, tls_only, plaintext, web: Mutex::new(Vec::new()) }
    }

    /// The c2s settings of a listener that allows plaintext SASL or not.
    pub(crate) fn c2s(&self, allow_plaintext: bool) -> Current<C2sShared> {
        if allow_plaintext { self.plaintext.clone() } else { self.tls_only.clone() }
    }

    /// The settings of a new web listener (`metrics_only`: one that serves `/metrics` alone).
    pub(crate) fn web(
        &self,
        config: &Config,
        https: bool,
        allow_plaintext: bool,
        metrics_only: bool,
    ) -> Current<rhein_web::WebShared> {
        let bosh = Arc::new(rhein_web::BoshSessions::default());
        let c2s = self.c2s(allow_plaintext && !https).get();
        let current = Current::new(self.kept.web_shared(config, https, c2s, bosh.clone(), metrics_only));
        let listener = WebListener { https, allow_plaintext, metrics_only, current: current.clone(), bosh };
        self.web.lock().unwrap_or_else(|p| p.into_inner()).push(listener);
        current
    }

    /// Builds everything again from `config`, for the connections to come.
    pub(crate) fn apply(&self, config: &Config) {
        let l = &config.limits;
        let parts = &self.kept.parts;
        parts.connections.set_caps(l.max_connections_per_address, l.max_connections);
        parts.http_connections.set_caps(l.max_connections_per_address, l.max_connections);
        parts.http_connections.set_uncapped(config.web.trusted_proxies.iter().copied());
        {
            let mut throttle = self.kept.throttle.lock().unwrap_or_else(|p| p.into_inner());
            let limits = throttle_limits(l);
            if limits != throttle.0 {
                *throttle = (limits.clone(), Arc::new(AuthThrottle::new(limits)));
            }
        }
        self.tls_only.set(self.kept.c2s_shared(config, false));
        self.plaintext.set(self.kept.c2s_shared(config, true));
        for w in self.web.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let c2s = self.c2s(w.allow_plaintext && !w.https).get();
            w.current.set(self.kept.web_shared(config, w.https, c2s, w.bosh.clone(), w.metrics_only));
        }
    }
}

impl Kept {
    fn c2s_shared(&self, config: &Config, allow_plaintext: bool) -> C2sShared {
        let l = &config.limits;
        let hosts = config.hosts.iter().map(|h| h.domain.to_ascii_lowercase()).collect();
        let mut c2s = C2sConfig::new(hosts, Some(self.parts.tls.clone()));
        c2s.limits = stream_limits(l);
        c2s.negotiation_timeout = Duration::from_secs(l.negotiation_timeout_secs);
        c2s.max_sessions_per_account = l.max_sessions_per_account;
        c2s.queue_size = l.session_queue;
        c2s.resume_timeout = Duration::from_secs(l.resume_timeout_secs);
        c2s.unacked = UnackedLimit { stanzas: l.max_unacked, bytes: l.max_unacked_bytes };
        c2s.ack_timeout = Duration::from_secs(l.ack_timeout_secs);
        c2s.require_tls = !allow_plaintext;
        C2sShared {
            config: c2s,
            router: self.parts.router.clone(),
            db: self.parts.db.clone(),
            throttle: self.throttle.lock().unwrap_or_else(|p| p.into_inner()).1.clone(),
            hash_permits: self.hash_permits.clone(),
            resumable: self.resumable.clone(),
            secret: self.parts.secret.clone(),
        }
    }

    fn web_shared(
        &self,
        config: &Config,
        https: bool,
        c2s: Arc<C2sShared>,
        bosh: Arc<rhein_web::BoshSessions>,
        metrics_only: bool,
    ) -> rhein_web::WebShared {
        let l = &config.limits;
        rhein_web::WebShared {
            c2s,
            tls: https.then(|| self.parts.tls.https_acceptor.clone()),
            max_message: l.max_stanza_size,
            bosh,
            db: self.parts.db.clone(),
            upload_dir: self.parts.upload_dir.clone(),
            allowed_origins: config.web.allowed_origins.clone(),
            trusted_proxies: config.web.trusted_proxies.clone(),
            sessions: self.parts.connections.clone(),
            timeouts: rhein_web::WebTimeouts {
                header: Duration::from_secs(l.http_header_timeout_secs),
                body: Duration::from_secs(l.http_body_timeout_secs),
                bosh_inactivity: Duration::from_secs(l.bosh_inactivity_secs),
            },
            webchat_dir: config.web.webchat_dir.clone(),
            metrics: self.parts.metrics.clone(),
            metrics_only,
            ready: self.parts.ready.clone(),
        }
    }
}
