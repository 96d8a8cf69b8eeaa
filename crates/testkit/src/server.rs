//! An in-process server for tests.

use crate::client::ClientBuilder;
use rhein_server::config::{HostConfig, ListenerConfig};
use rhein_server::{Config, ListenerKind, Persistence, RunningServer, accounts};
use std::net::SocketAddr;

pub struct TestServerBuilder {
    config: Config,
    users: Vec<(String, String)>,
    durable: bool,
    storage: Option<String>,
}

impl TestServerBuilder {
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    pub fn domain(mut self, domain: &str) -> Self {
        self.config.hosts = vec![HostConfig { domain: domain.into(), certificate: None, key: None }];
        self
    }

    /// Adds an external component (XEP-0114) and, once, a loopback listener for components.
    pub fn component(mut self, domain: &str, secret: &str) -> Self {
        use rhein_server::config::ComponentConfig;
        self.config.components.push(ComponentConfig { domain: domain.into(), secret: secret.into() });
        if !self.config.listeners.iter().any(|l| l.kind == ListenerKind::Component) {
            self.config.listeners.push(ListenerConfig {
                kind: ListenerKind::Component,
                address: SocketAddr::from(([127, 0, 0, 1], 0)),
                allow_plaintext: false,
            });
        }
        self
    }

    /// Serves HTTP (plaintext WebSocket logins allowed, as on loopback) and HTTPS on free ports.
    pub fn web(mut self) -> Self {
        for (kind, allow_plaintext) in [(ListenerKind::Http, true), (ListenerKind::Https, false)] {
            self.config.listeners.push(ListenerConfig {
                kind,
                address: SocketAddr::from(([127, 0, 0, 1], 0)),
                allow_plaintext,
            });
        }
        self
    }

    /// Federates: an s2s listener on `addr` (a loopback address; port 0 picks one).
    /// Peers are pinned after start with [`TestServer::pin`].
    pub fn federation(mut self, addr: &str) -> Self {
        self.config.listeners.push(ListenerConfig {
            kind: ListenerKind::S2s,
            address: addr.parse().expect("socket address"),
            allow_plaintext: false,
        });
        self
    }

    /// Serves the host with this certificate and trusts `anchors` for peers' certificates.
    pub fn certified(
        mut self,
        (cert, key): (std::path::PathBuf, std::path::PathBuf),
        anchors: std::path::PathBuf,
    ) -> Self {
        self.config.hosts[0].certificate = Some(cert);
        self.config.hosts[0].key = Some(key);
        self.config.s2s.trust_anchors = Some(anchors);
        self
    }

    /// Federates over direct TLS too (XEP-0368): an s2s_tls listener on `addr`.
    pub fn federation_direct_tls(mut self, addr: &str) -> Self {
        self.config.listeners.push(ListenerConfig {
            kind: ListenerKind::S2sTls,
            address: addr.parse().expect("socket address"),
            allow_plaintext: false,
        });
        self
    }

    /// Keeps storage across [`TestServer::restart`] (SQLite in a temporary file instead of
    /// memory; PostgreSQL databases are durable anyway).
    pub fn durable(mut self) -> Self {
        self.durable = true;
        self
    }

    /// Uses this database instead of a fresh one (a test's own PostgreSQL, a file on a small
    /// file system).
    pub fn storage(mut self, url: &str) -> Self {
        self.storage = Some(url.into());
        self
    }

    /// Adjusts the configuration before start.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    pub async fn start(self) -> TestServer {
        // RHEIN_TEST_LOG=debug (any tracing filter) shows the servers' logs of a failing test.
        if let Ok(filter) = std::env::var("RHEIN_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let (mut url, pg_db) = match &self.storage {
            Some(url) => (url.clone(), None),
            None => fresh_storage().await,
        };
        if self.durable && pg_db.is_none() && self.storage.is_none() {
            let mut b = [0u8; 6];
            rand::fill(&mut b[..]);
            let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
            url = format!("sqlite://{}", std::env::temp_dir().join(format!("rhein-test-{name}.db")).display());
        }
        let mut config = self.config;
        config.server.storage = Some(url.clone());
        let domain = config.hosts[0].domain.clone();
        let server = rhein_server::start(config.clone(), Persistence::Ephemeral).await.expect("server starts");
        for (name, password) in &self.users {
            assert!(accounts::add(&server.db, &domain, name, password).await.unwrap(), "user {name} created");
        }
        TestServer { server: Some(server), domain, storage_url: url, config, _pg_db: pg_db }
    }
}

/// Storage for one test: in-memory SQLite, or a fresh PostgreSQL database (its URL and name).
pub async fn fresh_storage() -> (String, Option<String>) {
    match std::env::var("RHEIN_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            use sqlx::Executor;
            let mut b = [0u8; 6];
            rand::fill(&mut b[..]);
            let name = format!("rhein_t_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&admin)
                .await
                .expect("postgres reachable");
            pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            (format!("{base}/{name}"), Some(name))
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true") || std::env::var("RHEIN_TEST_SQLITE_ONLY").is_ok(),
                "CI=true needs RHEIN_TEST_POSTGRES_URL (or RHEIN_TEST_SQLITE_ONLY for the SQLite pass), so PostgreSQL is never skipped unnoticed"
            );
            ("sqlite::memory:".into(), None)
        }
    }
}

/// A running server; stopped when dropped.
pub struct TestServer {
    server: Option<RunningServer>,
    pub domain: String,
    pub storage_url: String,
    config: Config,
    _pg_db: Option<String>,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        let mut config = Config::embedded_default();
        config.hosts = vec![HostConfig { domain: "localhost".into(), certificate: None, key: None }];
        config.listeners = vec![
            ListenerConfig {
                kind: ListenerKind::C2s,
                address: SocketAddr::from(([127, 0, 0, 1], 0)),
                allow_plaintext: false,
            },
            ListenerConfig {
                kind: ListenerKind::C2sTls,
                address: SocketAddr::from(([127, 0, 0, 1], 0)),
                allow_plaintext: false,
            },
        ];
        TestServerBuilder { config, users: Vec::new(), durable: false, storage: None }
    }

    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().expect("running")
    }

    pub fn c2s_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::C2s).expect("c2s listener")
    }

    pub fn c2s_tls_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::C2sTls).expect("c2s_tls listener")
    }

    pub fn component_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::Component).expect("component listener")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::Http).expect("http listener")
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::Https).expect("https listener")
    }

    pub fn s2s_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::S2s).expect("s2s listener")
    }

    pub fn s2s_tls_addr(&self) -> SocketAddr {
        self.running().addr(ListenerKind::S2sTls).expect("s2s_tls listener")
    }

    /// Routes `domain` to `addr` (STARTTLS) instead of DNS.
    pub fn pin(&self, domain: &str, addr: SocketAddr) {
        let route = rhein_s2s::Route { addr, direct_tls: false };
        self.running().s2s.as_ref().expect("federation configured").pin(domain, route);
    }

    /// Routes `domain` to `addr` with direct TLS (XEP-0368).
    pub fn pin_direct_tls(&self, domain: &str, addr: SocketAddr) {
        let route = rhein_s2s::Route { addr, direct_tls: true };
        self.running().s2s.as_ref().expect("federation configured").pin(domain, route);
    }

    /// A client builder aimed at the STARTTLS listener.
    pub fn connect(&self) -> ClientBuilder {
        ClientBuilder::new(self.c2s_addr(), &self.domain)
    }

    /// Logs `user` in (STARTTLS, SCRAM-SHA-256, bind) and returns the bound client.
    pub async fn client(&self, user: &str, password: &str) -> crate::TestClient {
        self.connect().login(user, password).await
    }

    /// Waits (at most 5 s) until exactly `n` sessions are bound: a test that drops a
    /// connection uses it to know the server has noticed.
    pub async fn wait_for_sessions(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.running().router.session_count() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} sessions, have {}",
                self.running().router.session_count()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Waits (at most 5 s) until the session of `jid` lost its connection and hibernates.
    pub async fn wait_for_detached(&self, jid: &str) {
        use rhein_module::RouterApi;
        let jid = rhein_proto::FullJid::new(jid).expect("full JID");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !self.running().router.resources(&jid.to_bare()).iter().any(|r| r.jid == jid && r.detached) {
            assert!(tokio::time::Instant::now() < deadline, "{jid} never detached");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Stops the server and starts it again on the same storage and configuration (listeners
    /// on new ports). Only meaningful for [`TestServerBuilder::durable`] servers.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let server = rhein_server::start(self.config.clone(), Persistence::Ephemeral).await.expect("server restarts");
        self.server = Some(server);
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}
