//! The certificates a server presents, by the names they cover. Handshakes read the current
//! table; a reload builds a new one whole and swaps it in, so sessions keep their
//! connections and new handshakes see the new certificates.

use super::{CertInfo, TlsError, wildcard_of};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio_rustls::rustls::sign::CertifiedKey;

/// One certificate, ready to serve.
#[derive(Debug)]
pub(crate) struct Served {
    pub key: Arc<CertifiedKey>,
    /// `tls-server-end-point` channel-binding data (RFC 5929 §4: SHA-256 of the leaf).
    pub end_point: Vec<u8>,
}

impl Served {
    pub(crate) fn new(key: CertifiedKey) -> Self {
        let end_point = key.cert.first().map(|c| Sha256::digest(c.as_ref()).to_vec()).unwrap_or_default();
        Self { key: Arc::new(key), end_point }
    }
}

/// A certificate with the names it is picked for.
pub(crate) struct Entry {
    pub served: Arc<Served>,
    pub info: CertInfo,
    /// The virtual host it was configured for, if any: that host's name picks it first.
    pub host: Option<String>,
}

#[derive(Debug)]
struct Table {
    by_name: HashMap<String, Arc<Served>>,
    by_host: HashMap<String, Arc<Served>>,
    default: Arc<Served>,
}

impl Table {
    /// Hosts' own certificates first, then every name each certificate covers (the first
    /// certificate listed for a name wins); the first entry is the default.
    fn build(entries: Vec<Entry>) -> Result<Self, TlsError> {
        let default = entries.first().ok_or_else(|| TlsError::Generate("no certificate to serve".into()))?;
        let default = default.served.clone();
        let mut by_host = HashMap::new();
        for e in &entries {
            if let Some(host) = &e.host {
                by_host.entry(host.to_ascii_lowercase()).or_insert_with(|| e.served.clone());
            }
        }
        let mut by_name = by_host.clone();
        for e in &entries {
            for name in &e.info.names {
                by_name.entry(name.clone()).or_insert_with(|| e.served.clone());
            }
        }
        Ok(Self { by_name, by_host, default })
    }

    fn pick(&self, name: Option<&str>) -> &Arc<Served> {
        let Some(name) = name.map(str::to_ascii_lowercase) else { return &self.default };
        let wildcard = || wildcard_of(&name).and_then(|w| self.by_name.get(&w));
        self.by_name.get(&name).or_else(wildcard).unwrap_or(&self.default)
    }
}

/// The table handshakes read and reloads replace.
#[derive(Debug)]
pub(crate) struct CertTable(RwLock<Arc<Table>>);

impl CertTable {
    pub(crate) fn new(entries: Vec<Entry>) -> Result<Self, TlsError> {
        Ok(Self(RwLock::new(Arc::new(Table::build(entries)?))))
    }

    pub(crate) fn replace(&self, entries: Vec<Entry>) -> Result<(), TlsError> {
        let table = Arc::new(Table::build(entries)?);
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = table;
        Ok(())
    }

    fn current(&self) -> Arc<Table> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The certificate for an SNI name: its own, one whose wildcard covers it, or the default.
    pub(crate) fn pick(&self, name: Option<&str>) -> Arc<Served> {
        self.current().pick(name).clone()
    }

    /// The certificate a host presents as a client on outbound s2s streams.
    pub(crate) fn of_host(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let table = self.current();
        let served = table.by_host.get(&host.to_ascii_lowercase()).unwrap_or_else(|| table.pick(Some(host)));
        Some(served.key.clone())
    }
}
