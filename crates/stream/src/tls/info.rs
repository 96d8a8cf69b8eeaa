//! What a certificate says about itself: the names it covers and when it expires, for picking
//! it by SNI and for warning before it runs out.

use super::TlsError;
use rustls_pki_types::CertificateDer;
use std::time::{Duration, SystemTime};
use x509_parser::extensions::GeneralName;

/// The names and lifetime of a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names from subjectAltName (lowercase, wildcards as `*.example.org`), or the
    /// subject's common name when there are none.
    pub names: Vec<String>,
    pub not_after: SystemTime,
}

impl CertInfo {
    pub fn of(leaf: &CertificateDer<'_>, label: &str) -> Result<Self, TlsError> {
        let bad = |reason: String| TlsError::Pem { path: label.to_owned(), reason };
        let (_, cert) =
            x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| bad(format!("bad certificate: {e}")))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(dns) = name {
                    names.push(dns.to_ascii_lowercase());
                }
            }
        }
        if names.is_empty() {
            let cn = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok());
            names.extend(cn.map(str::to_ascii_lowercase));
        }
        let seconds = cert.validity().not_after.timestamp();
        let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        Ok(Self { names, not_after })
    }

    /// Whether it covers `name`: exactly, or by a wildcard for one leftmost label.
    pub fn covers(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.names.iter().any(|n| *n == name || wildcard_of(&name).is_some_and(|w| *n == w))
    }

    /// Time left before it expires (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or_default()
    }
}

/// `*.example.org` for `conference.example.org`; none for a bare label. (Whether a CA may
/// issue `*.org` is not the server's question: it serves the certificates it was given.)
pub(crate) fn wildcard_of(name: &str) -> Option<String> {
    let (label, parent) = name.split_once('.')?;
    (!label.is_empty() && !parent.is_empty()).then(|| format!("*.{parent}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::CertPair;

    fn info(names: &[&str]) -> CertInfo {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let pair = CertPair::self_signed(&names).unwrap();
        CertInfo::of(&pair.chain("test").unwrap()[0], "test").unwrap()
    }

    #[test]
    fn names_come_from_the_subject_alternative_names() {
        let i = info(&["example.org", "*.example.org"]);
        assert_eq!(i.names, ["example.org", "*.example.org"]);
        assert!(i.covers("example.org") && i.covers("Conference.Example.org"));
        assert!(!i.covers("a.b.example.org") && !i.covers("example.net") && !i.covers("org"));
        assert!(i.remaining(SystemTime::now()) > Duration::from_secs(86_400 * 300));
    }

    #[test]
    fn a_wildcard_stands_for_the_leftmost_label() {
        assert_eq!(wildcard_of("conference.example.org").as_deref(), Some("*.example.org"));
        assert_eq!(wildcard_of("conference.localhost").as_deref(), Some("*.localhost"));
        assert_eq!(wildcard_of("localhost"), None);
        assert_eq!(wildcard_of(".localhost"), None);
    }
}
