//! The configuration file: TOML into typed structs, unknown keys refused, every limit with a
//! default. Errors name the file, line and column.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use toml::Table;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    /// Virtual hosts; the first is the default.
    pub hosts: Vec<HostConfig>,
    #[serde(default = "default_listeners")]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub modules: ModulesConfig,
    /// Federation; active when an `s2s` or `s2s_tls` listener is configured.
    #[serde(default)]
    pub s2s: S2sSection,
    /// Web clients (http and https listeners).
    #[serde(default)]
    pub web: WebSection,
    /// External components (XEP-0114), served on `component` listeners.
    #[serde(default)]
    pub components: Vec<ComponentConfig>,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub metrics: MetricsSection,
}

/// `[metrics]`: `/metrics` is on the HTTP listeners for loopback peers; `listen` gives it an
/// address of its own, answering whoever reaches it (keep it private).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub listen: Option<SocketAddr>,
}

/// `[log]`: how log lines are written (their level is `[server] log_level`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub format: LogFormat,
}

/// One line per event: for people, or one JSON object for a log collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[web]`: settings of the http and https listeners.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// Origins (`https://chat.example.org`) whose pages may open WebSocket and BOSH sessions;
    /// empty: any (sessions still need SASL). Requests without an Origin (non-browser
    /// clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// A directory holding Converse.js's npm package (`deploy/webchat.sh` installs it):
    /// served at `/webchat/`, and the webchat rooms and invitations point to.
    pub webchat_dir: Option<PathBuf>,
    /// Reverse proxies in front of the HTTP listeners (`["127.0.0.1", "::1"]`): their
    /// requests are taken to come from the address their `X-Forwarded-For` names, for
    /// per-address caps, throttles and `/metrics`; and their own connections are not capped
    /// per address. Anyone else's `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// `[s2s]`: federation settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct S2sSection {
    /// Refuse server-to-server streams without TLS, both ways.
    pub require_tls: bool,
    /// Time allowed to connect, secure and authenticate a stream.
    pub connect_timeout_secs: u64,
    /// First wait before an unreachable domain is tried again (doubles up to 32×).
    pub retry_after_secs: u64,
    /// PEM bundle of the certificate authorities peers' certificates are validated against;
    /// default: the system bundle (`/etc/ssl/certs/ca-certificates.crt`) when present.
    pub trust_anchors: Option<PathBuf>,
    /// Require a valid certificate from every peer: no dialback (like Prosody's
    /// `s2s_secure_auth`).
    pub secure_auth: bool,
    /// Domains that must present a valid certificate even with `secure_auth = false`.
    pub secure_domains: Vec<String>,
    /// Domains allowed to use dialback even with `secure_auth = true`.
    pub insecure_domains: Vec<String>,
    /// The DNS server to resolve remote domains with (`ADDR:PORT`), instead of the system's.
    pub dns_server: Option<SocketAddr>,
    /// Remote domains pinned to an address, bypassing DNS (tests, private federations):
    /// `"ADDR:PORT"` (STARTTLS) or `"tls:ADDR:PORT"` (direct TLS).
    pub routes: std::collections::HashMap<String, String>,
}

impl S2sSection {
    /// The configured trust anchors, else the system bundle if there is one.
    pub fn trust_anchors(&self) -> Option<PathBuf> {
        let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
        self.trust_anchors.clone().or_else(|| system.exists().then(|| system.to_path_buf()))
    }
}

impl Default for S2sSection {
    fn default() -> Self {
        Self {
            require_tls: true,
            connect_timeout_secs: 30,
            retry_after_secs: 10,
            trust_anchors: None,
            secure_auth: false,
            secure_domains: Vec::new(),
            insecure_domains: Vec::new(),
            dns_server: None,
            routes: Default::default(),
        }
    }
}

/// One external component: the domain it serves and the secret of its handshake.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub domain: String,
    pub secret: String,
}

/// Secrets stay out of debug output (and so out of logs).
impl std::fmt::Debug for ComponentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentConfig").field("domain", &self.domain).field("secret", &"<redacted>").finish()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Where generated certificates (and the default SQLite database) live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://...`; default: SQLite in `data_dir`.
    pub storage: Option<String>,
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter.
    pub log_level: String,
    /// Administrators (bare JIDs), besides those an admin invite made.
    pub admins: Vec<String>,
    /// The admin socket `rhein ctl` talks to; default: `rhein.sock` in `data_dir`.
    pub admin_socket: Option<PathBuf>,
    /// A directory of certificates laid out as certbot (`HOST/fullchain.pem` and
    /// `privkey.pem`) or Prosody (`HOST.crt` and `HOST.key`) lays them out; default: `certs` in
    /// `data_dir`, where generated ones go.
    pub certificates: Option<PathBuf>,
    /// How often certificate files are checked for changes (and expiry), in seconds.
    pub certificate_check_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("rhein-data"),
            storage: None,
            log_level: "info".into(),
            admins: Vec::new(),
            admin_socket: None,
            certificates: None,
            certificate_check_secs: 300,
        }
    }
}

impl ServerSection {
    pub fn certificates_dir(&self) -> PathBuf {
        self.certificates.clone().unwrap_or_else(|| self.data_dir.join("certs"))
    }

    pub fn admin_socket_path(&self) -> PathBuf {
        self.admin_socket.clone().unwrap_or_else(|| self.data_dir.join("rhein.sock"))
    }

    pub fn storage_url(&self) -> String {
        self.storage.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("rhein.db").display()))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub domain: String,
    /// PEM certificate chain; without it a self-signed one is generated once in `data_dir`.
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerKind {
    /// Client connections, STARTTLS (port 5222).
    C2s,
    /// Client connections, direct TLS (XEP-0368, port 5223).
    C2sTls,
    /// External components (XEP-0114, port 5347; keep it on loopback or a private network).
    Component,
    /// Other servers, STARTTLS (RFC 6120, port 5269).
    S2s,
    /// Other servers, direct TLS (XEP-0368, port 5270).
    S2sTls,
    /// HTTP: XMPP over WebSocket and discovery (port 5280; plaintext WebSocket logins only on
    /// loopback).
    Http,
    /// HTTPS: the same over TLS (port 5281).
    Https,
    /// Only `/metrics`, to any peer that reaches it (`[metrics] listen`).
    Metrics,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub kind: ListenerKind,
    pub address: SocketAddr,
    /// Allow SASL without TLS. Refused at start unless the address is loopback.
    #[serde(default)]
    pub allow_plaintext: bool,
}

fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        ListenerConfig {
            kind: ListenerKind::Http,
            address: SocketAddr::from(([127, 0, 0, 1], 5280)),
            allow_plaintext: true,
        },
        ListenerConfig {
            kind: ListenerKind::Https,
            address: SocketAddr::from(([0, 0, 0, 0], 5281)),
            allow_plaintext: false,
        },
        ListenerConfig {
            kind: ListenerKind::C2s,
            address: SocketAddr::from(([0, 0, 0, 0], 5222)),
            allow_plaintext: false,
        },
        ListenerConfig {
            kind: ListenerKind::C2sTls,
            address: SocketAddr::from(([0, 0, 0, 0], 5223)),
            allow_plaintext: false,
        },
    ]
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_stanza_size: usize,
    /// Nesting of one stanza (the stanza itself is level 1).
    pub max_depth: usize,
    /// Attributes of one element, namespace declarations included.
    pub max_attributes: usize,
    /// Bytes of a stream header (and of a BOSH `<body>` tag).
    pub max_header_size: usize,
    /// Namespace declarations on a stream header, which every stanza inherits.
    pub max_header_namespaces: usize,
    pub bytes_per_second: u64,
    pub idle_timeout_secs: u64,
    pub negotiation_timeout_secs: u64,
    pub max_sessions_per_account: usize,
    pub max_connections_per_address: usize,
    /// Connections open at once from everyone: TCP streams, WebSocket and BOSH sessions
    /// (HTTP connections are counted apart, under the same two caps).
    pub max_connections: usize,
    /// Time allowed for an HTTP request's headers, and for an idle keep-alive connection.
    pub http_header_timeout_secs: u64,
    /// Longest an HTTP request body may stall; a BOSH body must arrive whole within it.
    pub http_body_timeout_secs: u64,
    /// A BOSH session without a request for this long (beyond its `wait`) has lost its client.
    pub bosh_inactivity_secs: u64,
    pub session_queue: usize,
    pub auth_failures_per_account: u32,
    pub auth_failures_per_address: u32,
    pub auth_failure_window_secs: u64,
    pub resume_timeout_secs: u64,
    pub max_unacked: usize,
    pub max_unacked_bytes: usize,
    pub ack_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_stanza_size: 256 * 1024,
            max_depth: 128,
            max_attributes: 100,
            max_header_size: 8 * 1024,
            max_header_namespaces: 10,
            bytes_per_second: 256 * 1024,
            idle_timeout_secs: 600,
            negotiation_timeout_secs: 60,
            max_sessions_per_account: 10,
            max_connections_per_address: 1000,
            max_connections: 50_000,
            http_header_timeout_secs: 10,
            http_body_timeout_secs: 30,
            bosh_inactivity_secs: 90,
            // A client joining a room gets every occupant's presence at once: the default
            // must hold a full room of the default size (1,000) several times over. The
            // queue's slots are allocated as they fill, so an idle session pays nothing.
            session_queue: 10_000,
            auth_failures_per_account: 5,
            auth_failures_per_address: 20,
            auth_failure_window_secs: 60,
            resume_timeout_secs: 300,
            max_unacked: 5000,
            max_unacked_bytes: 4 * 1024 * 1024,
            ack_timeout_secs: 60,
        }
    }
}

impl LimitsConfig {
    /// What the stream framer enforces on every transport.
    pub fn frame(&self) -> rhein_stream::FrameLimits {
        rhein_stream::FrameLimits {
            max_element: self.max_stanza_size,
            max_depth: self.max_depth,
            max_attributes: self.max_attributes,
            max_header: self.max_header_size,
            max_header_namespaces: self.max_header_namespaces,
        }
    }

    /// Framing limits a real client can live with, and that keep every walk over a parsed
    /// tree within a thread's stack.
    fn check_framing(&self) -> Result<(), String> {
        let ceiling = rhein_stream::FrameLimits::DEPTH_CEILING;
        if !(16..=ceiling).contains(&self.max_depth) {
            return Err(format!("limits.max_depth must be between 16 and {ceiling}"));
        }
        if self.max_attributes < 16 {
            return Err("limits.max_attributes must be at least 16".into());
        }
        if self.max_header_size < 1024 {
            return Err("limits.max_header_size must be at least 1024".into());
        }
        if self.max_header_namespaces < 3 {
            return Err("limits.max_header_namespaces must be at least 3 (content, stream and dialback)".into());
        }
        Ok(())
    }
}

/// `[modules]`: which modules run, and one table of settings per module (`[modules.im]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModulesConfig {
    #[serde(default = "default_modules")]
    pub enabled: Vec<String>,
    /// Modules run besides `enabled` (so a config adds one without restating the defaults).
    #[serde(default)]
    pub also: Vec<String>,
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl Default for ModulesConfig {
    fn default() -> Self {
        Self { enabled: default_modules(), also: Vec::new(), settings: toml::Table::new() }
    }
}

impl ModulesConfig {
    /// Every module that runs, each once.
    pub fn running(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.enabled.iter().chain(&self.also) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }
}

pub fn default_modules() -> Vec<String> {
    [
        "disco", "ping", "version", "last", "im", "private", "vcard", "blocking", "carbons", "mam", "push", "pep",
        "muc", "mix", "pubsub", "upload", "invites", "admin",
    ]
    .map(String::from)
    .to_vec()
}

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// The listeners to bind: those configured, and `[metrics] listen`'s.
    pub fn all_listeners(&self) -> Vec<ListenerConfig> {
        let metrics = self.metrics.listen.map(|address| ListenerConfig {
            kind: ListenerKind::Metrics,
            address,
            allow_plaintext: true,
        });
        self.listeners.iter().cloned().chain(metrics).collect()
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = match e.span() {
                Some(span) => {
                    let line = text[..span.start].matches('\n').count() + 1;
                    let col = span.start - text[..span.start].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
                    format!("line {line}, column {col}: {}", e.message())
                }
                None => e.message().to_owned(),
            };
            ConfigError::Parse { path: origin.to_owned(), message }
        })?;
        config.validate().map_err(|message| ConfigError::Invalid { path: origin.to_owned(), message })?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.hosts.is_empty() {
            return Err("at least one [[hosts]] entry is needed".into());
        }
        for h in &self.hosts {
            if rhein_proto::BareJid::new(&h.domain).map(|j| j.node().is_some()).unwrap_or(true) {
                return Err(format!("hosts: {:?} is not a valid domain", h.domain));
            }
            if h.certificate.is_some() != h.key.is_some() {
                return Err(format!("hosts: {}: give both certificate and key, or neither", h.domain));
            }
        }
        for l in &self.listeners {
            if l.allow_plaintext && !l.address.ip().is_loopback() {
                return Err(format!("listeners: allow_plaintext is only allowed on loopback, not {}", l.address));
            }
        }
        for c in &self.components {
            let domain = c.domain.to_ascii_lowercase();
            if rhein_proto::BareJid::new(&domain).map(|j| j.node().is_some()).unwrap_or(true) {
                return Err(format!("components: {:?} is not a valid domain", c.domain));
            }
            if self.hosts.iter().any(|h| h.domain.eq_ignore_ascii_case(&domain)) {
                return Err(format!("components: {domain} is also a host"));
            }
            if c.secret.len() < 8 {
                return Err(format!("components: {domain}: the secret needs at least 8 characters"));
            }
        }
        if !self.components.is_empty() && !self.listeners.iter().any(|l| l.kind == ListenerKind::Component) {
            return Err("components are configured but no listener has kind = \"component\"".into());
        }
        for (domain, route) in &self.s2s.routes {
            route.parse::<rhein_s2s::Route>().map_err(|e| format!("s2s.routes.{domain}: {e}"))?;
        }
        if self.limits.max_stanza_size < 10_000 {
            return Err("limits.max_stanza_size must be at least 10000 (RFC 6120 §13.12)".into());
        }
        self.limits.check_framing()?;
        let l = &self.limits;
        if l.max_unacked == 0 || l.max_unacked_bytes == 0 || l.ack_timeout_secs == 0 {
            return Err("limits.max_unacked, max_unacked_bytes and ack_timeout_secs must be above 0".into());
        }
        self.check_room_fits_queue()?;
        let known: Vec<&str> = crate::modules::SPECS.iter().flat_map(|s| s.iter()).map(|s| s.name).collect();
        for name in self.modules.running().into_iter().chain(self.modules.settings.keys().map(String::as_str)) {
            if !known.contains(&name) {
                return Err(format!("modules: unknown module {name:?} (known: {})", known.join(", ")));
            }
        }
        Ok(())
    }

    /// The subdomain rooms are served at (`conference` unless `[modules.muc]` says
    /// otherwise), or `None` without the MUC module.
    pub fn muc_subdomain(&self) -> Option<String> {
        if !self.modules.running().contains(&"muc") {
            return None;
        }
        let muc: rhein_mod_muc::MucConfig = match self.modules.settings.get("muc") {
            Some(settings) => settings.clone().try_into().ok()?,
            None => Default::default(),
        };
        Some(muc.subdomain)
    }

    /// A client joining a room gets every occupant's presence, the history and the subject at
    /// once, and a session whose queue overflows is closed as a slow consumer: a room cap
    /// raised without the queue would cut off whoever joins a full room.
    fn check_room_fits_queue(&self) -> Result<(), String> {
        if !self.modules.running().contains(&"muc") {
            return Ok(());
        }
        let muc: rhein_mod_muc::MucConfig = match self.modules.settings.get("muc") {
            Some(settings) => settings.clone().try_into().map_err(|e| format!("modules.muc: {e}"))?,
            None => Default::default(),
        };
        let needed = 2 * (muc.max_occupants + muc.history + 1);
        if self.limits.session_queue <= needed {
            return Err(format!(
                "limits.session_queue ({}) must exceed twice what joining a full room sends \
                 (modules.muc max_occupants {} + history {} + subject): raise it above {needed}",
                self.limits.session_queue, muc.max_occupants, muc.history
            ));
        }
        Ok(())
    }

    /// The embedded default: `localhost`, SQLite in `./rhein-data`, ports 5222 and 5223.
    pub fn embedded_default() -> Self {
        Self {
            server: ServerSection::default(),
            hosts: vec![HostConfig { domain: "localhost".into(), certificate: None, key: None }],
            listeners: default_listeners(),
            limits: LimitsConfig::default(),
            modules: ModulesConfig::default(),
            components: Vec::new(),
            s2s: S2sSection::default(),
            web: WebSection::default(),
            log: LogSection::default(),
            metrics: MetricsSection::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A newcomer to a full room gets every occupant's presence, the history and the subject
    /// in one burst: with the default limits, that burst fits its session's queue, and a
    /// room cap raised alone is refused with what to raise.
    #[test]
    fn a_full_room_fits_a_session_queue() {
        let mut c = Config::embedded_default();
        assert_eq!(c.validate(), Ok(()));
        let raised = "[modules.muc]\nmax_occupants = 20000\n".parse::<toml::Table>().unwrap();
        c.modules.settings = raised["modules"].as_table().unwrap().clone();
        let err = c.validate().unwrap_err();
        assert!(err.contains("limits.session_queue (10000)") && err.contains("above 40042"), "{err}");
        c.limits.session_queue = 40_043;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn stream_management_bounds_must_be_positive() {
        let mut c = Config::embedded_default();
        assert_eq!(c.validate(), Ok(()));
        c.limits.max_unacked_bytes = 0;
        assert!(c.validate().unwrap_err().contains("max_unacked_bytes"));
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../deploy/rhein.toml");
        let c = Config::parse(text, "rhein.toml").unwrap();
        assert_eq!(c.hosts[0].domain, "example.org");
        assert_eq!(c.listeners.len(), 5);
        assert!(c.listeners.iter().any(|l| l.kind == ListenerKind::S2s));
        assert!(c.s2s.require_tls);
    }

    #[test]
    fn errors_name_line_and_reason() {
        let err = Config::parse("[[hosts]]\ndomain = \"a.example\"\n\n[limits]\nmax_stanza_sise = 5\n", "x.toml")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("x.toml: line 5, column 1"), "{msg}");
        assert!(msg.contains("max_stanza_sise"), "{msg}");

        let err = Config::parse("[[hosts]]\ndomain = \"a.example\"\n[[listeners]]\nkind = \"c2s\"\naddress = \"0.0.0.0:5222\"\nallow_plaintext = true\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("only allowed on loopback"), "{err}");

        let err = Config::parse("[[hosts]]\ndomain = \"a.example\"\n[modules]\nenabled = [\"nope\"]\n", "x.toml")
            .unwrap_err();
        assert!(err.to_string().contains("unknown module \"nope\""), "{err}");
    }
}
