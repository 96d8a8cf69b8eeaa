//! Where the certificates come from, and keeping them fresh. Each host takes, in order: its
//! own `certificate`/`key`, `DIR/HOST/fullchain.pem` + `privkey.pem` (certbot's layout),
//! `DIR/HOST.crt` + `HOST.key` (Prosody's), or a self-signed one generated once into `DIR`
//! (in memory only for ephemeral servers). Every other certificate in `DIR` is served too,
//! for the names it covers (`conference.HOST`, `upload.HOST`, or a wildcard). A reload reads
//! them all again; one that does not load is logged with its file and the one it would have
//! replaced keeps serving.

use crate::config::{HostConfig, ServerSection};
use rhein_stream::tls::{CertInfo, CertPair, ServeCert, TlsError, TlsSettings};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Certificates closer than this to expiry are warned about.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);

/// A certificate and key on disk, maybe for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Files {
    host: Option<String>,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn load(&self) -> Result<ServeCert, TlsError> {
        let label = self.cert.display().to_string();
        let served = ServeCert { host: self.host.clone(), label, pair: CertPair::load(&self.cert, &self.key)? };
        served.check()?;
        Ok(served)
    }
}

/// A certificate file as `rhein cert check` reports it.
pub struct Surveyed {
    pub file: PathBuf,
    /// The host it was found for (by its config or its name in the directory).
    pub host: Option<String>,
    pub info: Result<CertInfo, TlsError>,
}

/// Where certificates are looked for.
#[derive(Debug, Clone)]
pub struct CertSources {
    hosts: Vec<HostConfig>,
    dir: PathBuf,
    /// Where generated certificates are kept (`certs` in the data directory, which may
    /// differ from a read-only `dir`); none for ephemeral servers.
    generated: Option<PathBuf>,
}

impl CertSources {
    pub fn new(hosts: &[HostConfig], server: &ServerSection, persist: bool) -> Self {
        let generated = persist.then(|| server.data_dir.join("certs"));
        Self { hosts: hosts.to_vec(), dir: server.certificates_dir(), generated }
    }

    /// The files of each host that has some, then the directory's other certificates.
    fn files(&self) -> (Vec<Files>, Vec<&HostConfig>) {
        let mut found = Vec::new();
        let mut without = Vec::new();
        for host in &self.hosts {
            match self.host_files(host) {
                Some(files) => found.push(files),
                None => without.push(host),
            }
        }
        let taken: HashSet<PathBuf> = found.iter().map(|f| f.cert.clone()).collect();
        found.extend(self.others().into_iter().filter(|f| !taken.contains(&f.cert)));
        (found, without)
    }

    fn host_files(&self, host: &HostConfig) -> Option<Files> {
        let files = |cert: PathBuf, key: PathBuf| Files { host: Some(host.domain.clone()), cert, key };
        if let (Some(cert), Some(key)) = (&host.certificate, &host.key) {
            return Some(files(cert.clone(), key.clone()));
        }
        let certbot = self.dir.join(&host.domain);
        let mut candidates =
            vec![(certbot.join("fullchain.pem"), certbot.join("privkey.pem")), crt_key(&self.dir, host)];
        candidates.extend(self.generated.as_deref().map(|dir| crt_key(dir, host)));
        candidates.into_iter().find(|(cert, key)| cert.is_file() && key.is_file()).map(|(cert, key)| files(cert, key))
    }

    /// Every certificate in the directory, in name order, in either layout.
    fn others(&self) -> Vec<Files> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| {
                let (cert, key) = if path.is_dir() {
                    (path.join("fullchain.pem"), path.join("privkey.pem"))
                } else if path.extension().is_some_and(|e| e == "crt") {
                    (path.clone(), path.with_extension("key"))
                } else {
                    return None;
                };
                (cert.is_file() && key.is_file()).then_some(Files { host: None, cert, key })
            })
            .collect()
    }

    /// Every certificate file found, with what it covers or why it cannot be served, and
    /// the hosts that have none (they get a self-signed one).
    pub fn survey(&self) -> (Vec<Surveyed>, Vec<String>) {
        let (files, without) = self.files();
        let surveyed = files
            .into_iter()
            .map(|f| Surveyed { file: f.cert.clone(), host: f.host.clone(), info: f.load().and_then(|c| c.check()) })
            .collect();
        (surveyed, without.into_iter().map(|h| h.domain.clone()).collect())
    }

    /// The certificates to start with: any that does not load stops the start.
    pub fn load(&self) -> Result<Vec<ServeCert>, TlsError> {
        let (files, without) = self.files();
        let mut certs = Vec::new();
        for host in without {
            certs.push(self.generate(host)?);
        }
        for f in &files {
            certs.push(f.load()?);
        }
        Ok(hosts_first(certs, &self.hosts))
    }

    /// A self-signed certificate for a host that has none, kept in the data directory
    /// (where [`CertSources::host_files`] finds it next time) unless the server is ephemeral.
    fn generate(&self, host: &HostConfig) -> Result<ServeCert, TlsError> {
        let pair = CertPair::self_signed(std::slice::from_ref(&host.domain))?;
        let mut label = format!("self-signed for {}", host.domain);
        if let Some(dir) = &self.generated {
            let (cert, key) = crt_key(dir, host);
            let write = |p: &Path, data: &str| {
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(p, data))
                    .map_err(|source| TlsError::Read { path: p.display().to_string(), source })
            };
            write(&key, &pair.key_pem)?;
            restrict(&key);
            write(&cert, &pair.cert_pem)?;
            tracing::info!(domain = %host.domain, path = %cert.display(), "generated a self-signed certificate");
            label = cert.display().to_string();
        }
        Ok(ServeCert { host: Some(host.domain.clone()), label, pair })
    }

    /// The files' paths with their modification times and sizes: what a change shows in.
    fn stamp(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let (files, _) = self.files();
        files
            .iter()
            .flat_map(|f| [&f.cert, &f.key])
            .map(|p| {
                let meta = std::fs::metadata(p).ok();
                (p.clone(), meta.as_ref().and_then(|m| m.modified().ok()), meta.map_or(0, |m| m.len()))
            })
            .collect()
    }
}

/// Prosody's layout: `DIR/HOST.crt` and `DIR/HOST.key`.
fn crt_key(dir: &Path, host: &HostConfig) -> (PathBuf, PathBuf) {
    (dir.join(format!("{}.crt", host.domain)), dir.join(format!("{}.key", host.domain)))
}

/// The configured hosts' certificates first, in config order: the first host's is the
/// default for names nothing covers.
fn hosts_first(mut certs: Vec<ServeCert>, hosts: &[HostConfig]) -> Vec<ServeCert> {
    let rank = |c: &ServeCert| {
        c.host.as_ref().and_then(|h| hosts.iter().position(|host| &host.domain == h)).unwrap_or(hosts.len())
    };
    certs.sort_by_key(rank);
    certs
}

/// The certificates being served and where they came from, reloaded on request.
pub struct Certificates {
    sources: Mutex<CertSources>,
    tls: TlsSettings,
    served: Mutex<Served>,
}

struct Served {
    certs: Vec<ServeCert>,
    stamp: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

impl Certificates {
    pub fn new(sources: CertSources, tls: TlsSettings, certs: Vec<ServeCert>) -> Self {
        let stamp = sources.stamp();
        warn_expiring(&certs, SystemTime::now());
        Self { sources: Mutex::new(sources), tls, served: Mutex::new(Served { certs, stamp }) }
    }

    /// Where the next reload looks (a reloaded configuration may name other files).
    pub fn set_sources(&self, sources: CertSources) {
        *self.sources.lock().unwrap_or_else(|p| p.into_inner()) = sources;
    }

    fn sources(&self) -> CertSources {
        self.sources.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads every certificate again and serves the ones that load; the others keep serving
    /// what they served before. Returns the files that were refused, with the reason.
    pub fn reload(&self) -> Vec<String> {
        let sources = self.sources();
        let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let (files, without) = sources.files();
        let mut certs = Vec::new();
        let mut refused = Vec::new();
        for host in without {
            // A host whose files vanished keeps what it had; a new one gets a certificate.
            let before = served.certs.iter().find(|c| c.host.as_deref() == Some(host.domain.as_str()));
            match before.cloned().map_or_else(|| sources.generate(host), Ok) {
                Ok(cert) => certs.push(cert),
                Err(e) => refused.push(e.to_string()),
            }
        }
        for f in &files {
            match f.load() {
                Ok(cert) => certs.push(cert),
                Err(e) => {
                    tracing::error!(file = %f.cert.display(), error = %e, "certificate refused; the previous one keeps serving");
                    refused.push(e.to_string());
                    let label = f.cert.display().to_string();
                    certs.extend(served.certs.iter().find(|c| c.label == label).cloned());
                }
            }
        }
        let certs = hosts_first(certs, &sources.hosts);
        match self.tls.reload(&certs) {
            Ok(()) => {
                tracing::info!(certificates = certs.len(), "certificates reloaded");
                warn_expiring(&certs, SystemTime::now());
                served.stamp = sources.stamp();
                served.certs = certs;
            }
            Err(e) => {
                tracing::error!(error = %e, "certificates not reloaded; the previous ones keep serving");
                refused.push(e.to_string());
            }
        }
        refused
    }

    /// Reloads if a file changed since the last load; warns of expiring certificates.
    pub fn check(&self) {
        let changed = {
            let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
            served.stamp != self.sources().stamp()
        };
        if changed {
            self.reload();
        } else {
            let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
            warn_expiring(&served.certs, SystemTime::now());
        }
    }

    /// What each certificate served covers and when it expires.
    pub fn report(&self) -> Vec<(String, CertInfo)> {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        served.certs.iter().filter_map(|c| Some((c.label.clone(), c.pair.info(&c.label).ok()?))).collect()
    }
}

/// Logs each certificate that expires within [`EXPIRY_WARNING`].
fn warn_expiring(certs: &[ServeCert], now: SystemTime) {
    for c in certs {
        let Ok(info) = c.pair.info(&c.label) else { continue };
        let left = info.remaining(now);
        if left < EXPIRY_WARNING {
            let days = left.as_secs() / 86_400;
            tracing::warn!(certificate = %c.label, names = ?info.names, days_left = days, "certificate expires soon");
        }
    }
}

/// Private keys are readable by the owner only.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}
