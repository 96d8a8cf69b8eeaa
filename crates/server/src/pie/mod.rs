//! XEP-0227 export and import (`rhein export`, `rhein import`): what is stored for each
//! account, room and other entity of a host, as a portable XML document, and back.
//!
//! Storage hands over each owner whole ([`rhein_storage::OwnerImage`]); this module maps
//! images to the typed elements of [`rhein_proto::pie`] and back, and reads documents as a
//! stream ([`document`]). An import checks the whole file before it writes anything, then
//! replaces each owner in one transaction.

pub mod document;
pub mod export;
pub mod import;
pub(crate) mod to_image;

pub use document::{Entry, ReadError, Reader};
pub use export::{ExportError, Exported, export};
pub use import::{ImportError, Imported, Source, import};

/// What an owner (a bare JID, or a domain for a service's own data) is to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `user@host`: an account's.
    Account,
    /// The host itself, or an address at one of its subdomains (rooms, channels, the
    /// pubsub service) that is not a configured host of its own.
    Service,
}

/// Whether `owner` belongs to `host` (of the configured `hosts`), and how: each owner
/// belongs to the most specific configured host its domain is, or is a subdomain of.
pub(crate) fn classify(owner: &str, host: &str, hosts: &[String]) -> Option<Kind> {
    let (local, domain) = match owner.split_once('@') {
        Some((l, d)) => (Some(l), d),
        None => (None, owner),
    };
    let domain = domain.split('/').next().unwrap_or(domain);
    let under = |h: &str| domain == h || domain.strip_suffix(h).is_some_and(|rest| rest.ends_with('.'));
    let home = hosts.iter().filter(|h| under(h)).max_by_key(|h| h.len())?;
    if home != host {
        return None;
    }
    match local {
        Some(_) if domain == host => Some(Kind::Account),
        _ => Some(Kind::Service),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_belong_to_the_most_specific_host() {
        let hosts = ["example.org".to_owned(), "chat.example.org".to_owned()];
        let kind = |owner: &str, host: &str| classify(owner, host, &hosts);
        assert_eq!(kind("a@example.org", "example.org"), Some(Kind::Account));
        assert_eq!(kind("r@conference.example.org", "example.org"), Some(Kind::Service));
        assert_eq!(kind("example.org", "example.org"), Some(Kind::Service));
        assert_eq!(kind("pubsub.example.org", "example.org"), Some(Kind::Service));
        assert_eq!(kind("a@chat.example.org", "example.org"), None);
        assert_eq!(kind("a@chat.example.org", "chat.example.org"), Some(Kind::Account));
        assert_eq!(kind("r@conference.chat.example.org", "chat.example.org"), Some(Kind::Service));
        assert_eq!(kind("a@badexample.org", "example.org"), None);
        assert_eq!(kind("a@elsewhere.net", "example.org"), None);
    }
}
