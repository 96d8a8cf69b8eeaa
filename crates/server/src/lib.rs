//! Assembles a running server from a [`Config`]: storage, certificates, modules, router and
//! listeners. `start` returns once every listener is bound, so callers (the CLI, tests) can
//! connect immediately.

pub mod accounts;
pub mod certs;
mod clients;
pub mod config;
pub mod control;
pub mod invites;
mod listener;
mod metrics;
pub mod modules;
pub mod pie;
pub mod prosody;
pub mod reload;
mod secret;
pub mod xeps;

pub use config::{Config, ConfigError, ListenerKind};

use listener::Service;
use rhein_module::{Registry, ServerInfo};
use rhein_router::Router;
use rhein_s2s::component::ComponentShared;
use rhein_sasl::ServerSecret;
use rhein_storage::Db;
use rhein_stream::Connections;
use rhein_stream::tls::TlsSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Storage(#[from] rhein_storage::StorageError),
    #[error("TLS: {0}")]
    Tls(#[from] rhein_stream::tls::TlsError),
    #[error("module setup: {0}")]
    Module(#[from] rhein_module::ModuleError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Config(String),
    #[error("server secret: {0}")]
    Secret(#[from] secret::SecretError),
    #[error("{0}")]
    Control(#[from] control::ControlError),
}

/// Where state goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Storage URL and certificates from the config; generated certificates and the server
    /// secret kept in `data_dir`.
    Disk,
    /// Nothing written to disk: generated certificates and the server secret stay in memory (storage should be
    /// `sqlite::memory:`).
    Ephemeral,
}

/// A started server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub db: Db,
    pub router: Router,
    /// Federation, when an s2s listener is configured.
    pub s2s: Option<rhein_s2s::S2s>,
    listeners: Vec<(ListenerKind, SocketAddr)>,
    stop: watch::Sender<bool>,
    /// XMPP connections: TCP streams, WebSocket and BOSH sessions.
    connections: Connections,
    /// HTTP connections of the web listeners (a WebSocket is counted as a session once upgraded).
    http_connections: Connections,
    /// An ephemeral server's uploads, removed at shutdown.
    scratch: Option<std::path::PathBuf>,
    reloader: Arc<reload::Reloader>,
    /// What `/health` reports besides storage: started and not stopping.
    ready: Arc<AtomicBool>,
}

impl RunningServer {
    /// Bound addresses, in config order.
    pub fn listeners(&self) -> &[(ListenerKind, SocketAddr)] {
        &self.listeners
    }

    /// The first bound address of a listener kind.
    pub fn addr(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.listeners.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }

    /// Takes what changed in the configuration and certificates (see [`reload`]).
    pub fn reload(&self) -> reload::ReloadReport {
        self.reloader.reload()
    }

    pub fn reloader(&self) -> &reload::Reloader {
        &self.reloader
    }

    /// Resolves when a shutdown was requested.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Stops accepting, closes every session with `system-shutdown`, waits briefly for them,
    /// and closes storage.
    pub async fn shutdown(self) {
        self.ready.store(false, Ordering::Release);
        let _ = self.stop.send(true);
        self.router.shutdown();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        for pool in [&self.connections, &self.http_connections] {
            pool.drain(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
        }
        self.db.close().await;
        if let Some(dir) = self.scratch {
            let _ = tokio::fs::remove_dir_all(dir).await;
        }
    }
}

/// Starts a server.
pub async fn start(config: Config, persistence: Persistence) -> Result<RunningServer, StartError> {
    config.validate().map_err(StartError::Config)?;
    let db = Db::connect(&config.server.storage_url()).await?;
    let data_dir = (persistence == Persistence::Disk).then_some(config.server.data_dir.as_path());
    let cert_sources = certs::CertSources::new(&config.hosts, &config.server, persistence == Persistence::Disk);
    let served = cert_sources.load()?;
    let tls = TlsSettings::serving(&served)?;
    let certificates = Arc::new(certs::Certificates::new(cert_sources, tls.clone(), served));
    let secret = match data_dir {
        Some(dir) => secret::load_or_create(dir)?,
        None => ServerSecret::generate(),
    };

    let mut registry = Registry::new();
    let mut running_modules = Vec::new();
    for name in config.modules.running() {
        let spec = modules::find(name).ok_or_else(|| StartError::Config(format!("unknown module {name}")))?;
        let settings = match config.modules.settings.get(name) {
            Some(toml::Value::Table(t)) => t.clone(),
            Some(_) => return Err(StartError::Config(format!("[modules.{name}] must be a table"))),
            None => toml::Table::new(),
        };
        let module = (spec.build)(&settings)?;
        module.clone().register(&mut registry)?;
        running_modules.push((name.to_owned(), module));
    }
    let hosts: Vec<String> = config.hosts.iter().map(|h| h.domain.to_ascii_lowercase()).collect();
    let upload_dir = match persistence {
        Persistence::Disk => config.server.data_dir.join("uploads"),
        // Ephemeral servers keep uploads in a temporary directory of their own.
        Persistence::Ephemeral => std::env::temp_dir().join(format!("rhein-uploads-{}", rhein_proto::xml::random_id())),
    };
    let server = Arc::new(ServerInfo {
        name: "Rhein",
        version: env!("CARGO_PKG_VERSION"),
        started: Instant::now(),
        upload_dir: upload_dir.clone(),
        web_origin: Default::default(),
        admins: std::sync::RwLock::new(config.server.admins.iter().map(|a| a.to_lowercase()).collect()),
        webchat: config.web.webchat_dir.is_some(),
    });
    let router = Router::new(
        hosts.clone(),
        config.components.iter().map(|c| c.domain.clone()),
        db.clone(),
        server.clone(),
        registry,
    );
    router.start_workers();

    let l = &config.limits;
    let (stop, _) = watch::channel(false);
    let connections = Connections::new(l.max_connections_per_address, l.max_connections);
    let http_connections = Connections::new(l.max_connections_per_address, l.max_connections);
    let metrics_text = rhein_web::MetricsText::default();
    let ready = Arc::new(AtomicBool::new(false));
    let clients = Arc::new(clients::ClientSide::new(
        &config,
        clients::ClientParts {
            router: router.clone(),
            db: db.clone(),
            tls: tls.clone(),
            secret,
            connections: connections.clone(),
            http_connections: http_connections.clone(),
            upload_dir: upload_dir.clone(),
            metrics: metrics_text.clone(),
            ready: ready.clone(),
        },
    ));
    let persist = persistence == Persistence::Disk;
    let reloader = reload::Reloader::new(
        certificates.clone(),
        router.clone(),
        running_modules,
        clients.clone(),
        server.clone(),
        config.clone(),
        persist,
    );
    let component = Arc::new(ComponentShared {
        secrets: config.components.iter().map(|c| (c.domain.to_ascii_lowercase(), c.secret.clone())).collect(),
        router: router.clone(),
        limits: clients::stream_limits(l),
        queue_size: l.session_queue,
        handshake_timeout: Duration::from_secs(l.negotiation_timeout_secs),
    });
    let federates = config.listeners.iter().any(|l| matches!(l.kind, ListenerKind::S2s | ListenerKind::S2sTls));
    let pkix = match federates {
        true => rhein_stream::tls::Pkix::from_pem_file(config.s2s.trust_anchors().as_deref())?,
        false => rhein_stream::tls::Pkix::from_pem_file(None)?,
    };
    let s2s = federates.then(|| {
        let s = &config.s2s;
        let s2s_config = rhein_s2s::S2sConfig {
            local_domains: router.local_domains(),
            // Checked by `validate`; an unparsable route cannot get here.
            routes: s.routes.iter().filter_map(|(d, r)| Some((d.to_ascii_lowercase(), r.parse().ok()?))).collect(),
            require_tls: s.require_tls,
            tls: tls.clone(),
            pkix,
            secure_auth: s.secure_auth,
            secure_domains: s.secure_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            insecure_domains: s.insecure_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            limits: clients::stream_limits(l),
            queue_size: l.session_queue,
            connect_timeout: Duration::from_secs(s.connect_timeout_secs),
            retry_after: Duration::from_secs(s.retry_after_secs),
            dns_server: s.dns_server,
        };
        rhein_s2s::S2s::install(s2s_config, router.clone())
    });
    let state = metrics::ServerState {
        router: router.clone(),
        s2s: s2s.clone(),
        connections: connections.clone(),
        http_connections: http_connections.clone(),
        certificates,
    };
    let _ = metrics_text.set(Box::new(move || state.render()));
    let mut bound = Vec::new();
    for lc in &config.all_listeners() {
        let service = match lc.kind {
            ListenerKind::C2s | ListenerKind::C2sTls => {
                Service::C2s { shared: clients.c2s(lc.allow_plaintext), direct_tls: lc.kind == ListenerKind::C2sTls }
            }
            ListenerKind::Component => Service::Component(component.clone()),
            ListenerKind::Http | ListenerKind::Https => {
                Service::Web(clients.web(&config, lc.kind == ListenerKind::Https, lc.allow_plaintext, false))
            }
            ListenerKind::Metrics => Service::Web(clients.web(&config, false, false, true)),
            ListenerKind::S2s | ListenerKind::S2sTls => Service::S2s {
                s2s: s2s.clone().ok_or_else(|| StartError::Config("s2s listener without federation".into()))?,
                direct_tls: lc.kind == ListenerKind::S2sTls,
            },
        };
        let pool = if matches!(service, Service::Web(_)) { &http_connections } else { &connections };
        let addr = listener::spawn(lc.address, service, stop.subscribe(), pool.clone())
            .await
            .map_err(|source| StartError::Listen { addr: lc.address, source })?;
        tracing::info!(kind = ?lc.kind, %addr, "listening");
        if lc.kind == ListenerKind::Https {
            let _ = server.web_origin.set(format!("https://{}:{}", hosts[0], addr.port()));
        }
        bound.push((lc.kind, addr));
    }
    // An ephemeral server has an admin socket only when asked for one.
    let socket = match persistence {
        Persistence::Disk => Some(config.server.admin_socket_path()),
        Persistence::Ephemeral => config.server.admin_socket.clone(),
    };
    if let Some(path) = socket {
        let ops = control::Operations {
            router: router.clone(),
            db: db.clone(),
            s2s: s2s.clone(),
            connections: connections.clone(),
            started: server.started,
            reloader: reloader.clone(),
        };
        // Without the socket the server still serves; a second server on the same data
        // directory is another matter.
        match control::spawn(&path, ops, stop.subscribe()).await {
            Err(e @ control::ControlError::InUse { .. }) => return Err(e.into()),
            Err(e) => tracing::error!(error = %e, "no admin socket: `rhein ctl` cannot reach this server"),
            Ok(()) => {}
        }
    }
    let scratch = (persistence == Persistence::Ephemeral).then_some(upload_dir);
    let every = Duration::from_secs(config.server.certificate_check_secs.max(1));
    reloader.clone().watch_certificates(every, stop.subscribe());
    // Every listener is bound and the admin socket open: `/health` may say so.
    ready.store(true, Ordering::Release);
    Ok(RunningServer {
        db,
        router,
        s2s,
        listeners: bound,
        stop,
        connections,
        http_connections,
        scratch,
        reloader,
        ready,
    })
}
