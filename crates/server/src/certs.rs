//! Certificates per host: the configured files, or a self-signed one generated once and kept
//! in the data directory (or only in memory for ephemeral servers).

use crate::config::HostConfig;
use rhein_stream::tls::{CertPair, TlsError};
use std::path::Path;

/// Loads or creates the certificate of each host. `data_dir == None` keeps generated
/// certificates in memory only.
pub fn for_hosts(hosts: &[HostConfig], data_dir: Option<&Path>) -> Result<Vec<(String, CertPair)>, TlsError> {
    hosts.iter().map(|h| Ok((h.domain.clone(), for_host(h, data_dir)?))).collect()
}

fn for_host(host: &HostConfig, data_dir: Option<&Path>) -> Result<CertPair, TlsError> {
    if let (Some(cert), Some(key)) = (&host.certificate, &host.key) {
        return CertPair::load(cert, key);
    }
    let names = vec![host.domain.clone()];
    let Some(dir) = data_dir else { return CertPair::self_signed(&names) };
    let dir = dir.join("certs");
    let (cert, key) = (dir.join(format!("{}.crt", host.domain)), dir.join(format!("{}.key", host.domain)));
    if cert.exists() && key.exists() {
        return CertPair::load(&cert, &key);
    }
    let pair = CertPair::self_signed(&names)?;
    let write = |p: &Path, data: &str| {
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(p, data))
            .map_err(|source| TlsError::Read { path: p.display().to_string(), source })
    };
    write(&key, &pair.key_pem)?;
    restrict(&key);
    write(&cert, &pair.cert_pem)?;
    tracing::info!(domain = %host.domain, path = %cert.display(), "generated a self-signed certificate");
    Ok(pair)
}

/// Private keys are readable by the owner only.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}
