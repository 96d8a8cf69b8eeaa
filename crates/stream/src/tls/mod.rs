//! TLS for c2s (and later s2s and HTTPS): certificates per virtual host chosen by SNI,
//! self-signed ECDSA P-256 certificates for the embedded default (about 3x the TLS 1.3
//! handshakes per core of RSA), and the channel-binding data SCRAM-PLUS needs.

mod info;
mod table;

pub use info::CertInfo;
use info::wildcard_of;
use table::{CertTable, Entry, Served};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::{ServerName, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::rustls::{DistinguishedName, RootCertStore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// ring's suites, AES-128-GCM first and chosen by the server: its SHA-256 runs on the CPU's
/// SHA extensions where SHA-384 (AES-256-GCM's hash, which most clients list first) has
/// none, and its strength matches the P-256 and X25519 keys of the handshake.
fn server_provider() -> rustls::crypto::CryptoProvider {
    let mut provider = default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            && suite.suite() != rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    });
    provider
}

/// Why a certificate could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A certificate chain and its private key, PEM-encoded.
#[derive(Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl CertPair {
    /// A fresh self-signed ECDSA P-256 certificate for the given names.
    pub fn self_signed(names: &[String]) -> Result<Self, TlsError> {
        let ck = rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| TlsError::Generate(e.to_string()))?;
        Ok(Self { cert_pem: ck.cert.pem(), key_pem: ck.signing_key.serialize_pem() })
    }

    /// Reads a certificate chain and key from PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| TlsError::Read { path: p.display().to_string(), source })
        };
        Ok(Self { cert_pem: read(cert)?, key_pem: read(key)? })
    }

    /// The certificate chain, leaf first; `label` names it in errors (its file).
    pub fn chain(&self, label: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let pem_err = |reason: String| TlsError::Pem { path: label.to_owned(), reason };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| pem_err(format!("bad certificate PEM: {e}")))?;
        if chain.is_empty() {
            return Err(pem_err("no certificate found".into()));
        }
        Ok(chain)
    }

    /// The leaf's names and expiry.
    pub fn info(&self, label: &str) -> Result<CertInfo, TlsError> {
        CertInfo::of(&self.chain(label)?[0], label)
    }

    /// Checks that the key matches the certificate and rustls can serve them.
    fn certified_key(&self, label: &str) -> Result<CertifiedKey, TlsError> {
        let chain = self.chain(label)?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| TlsError::Pem { path: label.to_owned(), reason: format!("bad private key PEM: {e}") })?;
        CertifiedKey::from_der(chain, key, &default_provider())
            .map_err(|e| TlsError::Pem { path: label.to_owned(), reason: e.to_string() })
    }
}

/// A certificate to serve.
#[derive(Clone)]
pub struct ServeCert {
    /// The virtual host it was configured for: that name picks it before any other.
    pub host: Option<String>,
    /// Where it came from (its file), for messages.
    pub label: String,
    pub pair: CertPair,
}

impl ServeCert {
    /// Whether it can be served (the key matches, rustls takes both), and what it covers.
    pub fn check(&self) -> Result<CertInfo, TlsError> {
        self.pair.certified_key(&self.label)?;
        self.pair.info(&self.label)
    }

    fn entry(&self) -> Result<Entry, TlsError> {
        let served = Arc::new(Served::new(self.pair.certified_key(&self.label)?));
        Ok(Entry { served, info: self.pair.info(&self.label)?, host: self.host.clone() })
    }
}

/// Picks the certificate for the name a client asked for (SNI).
#[derive(Debug)]
struct SniResolver(Arc<CertTable>);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.pick(hello.server_name()).key.clone())
    }
}

/// Everything a stream needs for TLS: the acceptor and per-host channel-binding data.
#[derive(Clone)]
pub struct TlsSettings {
    pub acceptor: TlsAcceptor,
    /// For HTTPS (ALPN `http/1.1`).
    pub https_acceptor: TlsAcceptor,
    /// For server-to-server streams: also asks the peer for its certificate (optional, not
    /// validated in the handshake; see [`Pkix`]).
    pub s2s_acceptor: TlsAcceptor,
    /// The certificates served, by name; hosts' own ones are also presented as client
    /// certificates on outbound s2s streams.
    table: Arc<CertTable>,
}

/// Early data a direct-TLS client may send: a stream header and a SASL2 login fit.
pub const EARLY_DATA_LIMIT: u32 = 16 * 1024;

impl TlsSettings {
    /// Builds settings from `(host, certificate)` pairs; the first is the default.
    pub fn new(hosts: &[(String, CertPair)]) -> Result<Self, TlsError> {
        let certs: Vec<ServeCert> = hosts
            .iter()
            .map(|(host, pair)| ServeCert { host: Some(host.clone()), label: host.clone(), pair: pair.clone() })
            .collect();
        Self::serving(&certs)
    }

    /// Builds settings serving `certs`; the first is the default for names none covers.
    pub fn serving(certs: &[ServeCert]) -> Result<Self, TlsError> {
        let entries = certs.iter().map(ServeCert::entry).collect::<Result<_, _>>()?;
        let table = Arc::new(CertTable::new(entries)?);
        let resolver = Arc::new(SniResolver(table.clone()));
        let provider = Arc::new(server_provider());
        let builder = || ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions();
        let with_server_order = |mut config: ServerConfig| {
            config.ignore_client_order = true;
            config
        };
        let mut config = with_server_order(builder()?.with_no_client_auth().with_cert_resolver(resolver.clone()));
        // XEP-0368: direct TLS clients announce "xmpp-client", servers "xmpp-server"; peers
        // without ALPN are fine too.
        config.alpn_protocols = vec![b"xmpp-client".to_vec(), b"xmpp-server".to_vec()];
        // XEP-0484: a resuming client may send its FAST login as TLS 1.3 early data; the
        // c2s engine accepts it only with a fresh per-token count (replays are refused).
        config.max_early_data_size = EARLY_DATA_LIMIT;
        let mut https = with_server_order(builder()?.with_no_client_auth().with_cert_resolver(resolver.clone()));
        https.alpn_protocols = vec![b"http/1.1".to_vec()];
        let verifier = Arc::new(AnyCertificate::new());
        let mut s2s = with_server_order(builder()?.with_client_cert_verifier(verifier).with_cert_resolver(resolver));
        s2s.alpn_protocols = vec![b"xmpp-server".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            s2s_acceptor: TlsAcceptor::from(Arc::new(s2s)),
            https_acceptor: TlsAcceptor::from(Arc::new(https)),
            table,
        })
    }

    /// Serves `certs` from the next handshake on; connections already up keep theirs. All or
    /// nothing: one certificate that does not load leaves the current ones in place.
    pub fn reload(&self, certs: &[ServeCert]) -> Result<(), TlsError> {
        let entries = certs.iter().map(ServeCert::entry).collect::<Result<_, _>>()?;
        self.table.replace(entries)
    }

    /// A TLS client for outbound s2s streams of `host`: presents the host's certificate (for
    /// SASL EXTERNAL), accepts any server certificate (validate it afterwards with [`Pkix`]).
    pub fn s2s_connector(&self, host: &str) -> TlsConnector {
        unverified_connector_with(&[b"xmpp-server"], self.table.of_host(host))
    }

    /// `tls-server-end-point` data (RFC 5929 §4: SHA-256 of the certificate, which is what an
    /// ECDSA-with-SHA-256 or RSA-SHA-256 certificate calls for).
    pub fn end_point(&self, sni: Option<&str>) -> Vec<u8> {
        self.table.pick(sni).end_point.clone()
    }
}

/// The handshake-signature checks both verifier traits require, done properly (only the
/// certificate chain is left unchecked).
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

/// Accepts any certificate chain but checks the handshake signatures: the connection is
/// encrypted to whoever holds the presented key, and the peer's identity is established some
/// other way (XEP-0220 dialback for s2s; nothing, in tests against self-signed servers).
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyCertificate {
    fn new() -> Self {
        Self { algorithms: default_provider().signature_verification_algorithms }
    }
}

/// The server side of the same: a peer server may present its certificate, which is checked
/// later against the domain it claims (a failed validation must not fail the handshake,
/// since dialback can still authenticate it).
impl ClientCertVerifier for AnyCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    signature_checks!();
}

/// Presents one certificate to every server that asks.
#[derive(Debug)]
struct ClientCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCertificate {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    signature_checks!();
}

/// A TLS client that does not validate the server's certificate chain (see [`AnyCertificate`]),
/// offering the given ALPN protocols.
pub fn unverified_connector(alpn: &[&[u8]]) -> TlsConnector {
    unverified_connector_with(alpn, None)
}

/// The client configuration behind [`unverified_connector`], for callers that tune it
/// (a test sending TLS early data, say).
pub fn unverified_client_config(alpn: &[&[u8]]) -> ClientConfig {
    unverified_config(alpn, None)
}

fn unverified_connector_with(alpn: &[&[u8]], client_cert: Option<Arc<CertifiedKey>>) -> TlsConnector {
    TlsConnector::from(Arc::new(unverified_config(alpn, client_cert)))
}

fn unverified_config(alpn: &[&[u8]], client_cert: Option<Arc<CertifiedKey>>) -> ClientConfig {
    let builder =
        ClientConfig::builder_with_provider(Arc::new(default_provider())).with_safe_default_protocol_versions();
    // The default protocol versions are always supported by the default provider.
    let Ok(builder) = builder else { unreachable!("ring supports TLS 1.2 and 1.3") };
    let builder = builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate::new()));
    let mut config = match client_cert {
        Some(key) => builder.with_client_cert_resolver(Arc::new(ClientCertificate(key))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// PKIX validation of a peer server's certificate chain for a domain (RFC 6125 DNS-IDs, as
/// webpki checks them), against a set of trust anchors.
#[derive(Clone)]
pub struct Pkix {
    verifier: Option<Arc<WebPkiServerVerifier>>,
}

impl Pkix {
    /// Trust anchors from a PEM bundle (e.g. `/etc/ssl/certs/ca-certificates.crt`); `None`
    /// trusts nothing, so no certificate validates.
    pub fn from_pem_file(path: Option<&Path>) -> Result<Self, TlsError> {
        let Some(path) = path else { return Ok(Self { verifier: None }) };
        let label = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TlsError::Read { path: label.clone(), source })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| TlsError::Pem { path: label.clone(), reason: e.to_string() })?;
            // A bundle may hold certificates webpki cannot use as anchors; skip those.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Ok(Self { verifier: None });
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(default_provider()))
            .build()
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        Ok(Self { verifier: Some(verifier) })
    }

    /// Whether `chain` (end entity first) is a valid certificate for `domain`; the reason if not.
    pub fn validate(&self, chain: &[CertificateDer<'static>], domain: &str) -> Result<(), String> {
        let Some(verifier) = &self.verifier else { return Err("no trust anchors configured".into()) };
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return Err("no certificate presented".into());
        };
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| e.to_string())?;
        verifier
            .verify_server_cert(end_entity, intermediates, &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
