//! Domains that are not account hosts: external components (XEP-0114), attached by domain
//! while connected, and every other domain through federation once one is installed.

use crate::{Outbound, Router, SessionHandle};
use rhein_module::Stanza;
use rhein_proto::{Element, StanzaError};
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// The server-to-server side, as the router sees it.
pub trait Federation: Send + Sync + 'static {
    /// Queues a stanza for a remote domain and returns at once; a stanza that cannot be
    /// delivered comes back through [`Router::bounce`].
    fn send(&self, domain: &str, stanza: Element);
}

/// Why a component could not attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachError {
    /// No `[[components]]` entry names this domain.
    Unknown,
    /// Another connection serves it already.
    Taken,
}

/// Configured component domains and the connections serving them.
#[derive(Default)]
pub(crate) struct Components {
    configured: HashSet<String>,
    connected: RwLock<HashMap<String, SessionHandle>>,
}

impl Components {
    pub(crate) fn new(domains: impl IntoIterator<Item = String>) -> Self {
        Self { configured: domains.into_iter().map(|d| d.to_ascii_lowercase()).collect(), connected: RwLock::default() }
    }

    fn connected(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, SessionHandle>> {
        // Every mutation is a single insert or remove, so a poisoned map is still consistent.
        self.connected.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Router {
    /// Makes `handle` the connection for component `domain`.
    pub fn attach_component(&self, domain: &str, handle: SessionHandle) -> Result<(), AttachError> {
        let components = &self.inner.components;
        if !components.configured.contains(domain) {
            return Err(AttachError::Unknown);
        }
        let mut connected = components.connected();
        if connected.contains_key(domain) {
            return Err(AttachError::Taken);
        }
        connected.insert(domain.to_owned(), handle);
        Ok(())
    }

    /// Detaches a component connection (if `session_id` is still the one attached).
    pub fn detach_component(&self, domain: &str, session_id: u64) {
        let mut connected = self.inner.components.connected();
        if connected.get(domain).is_some_and(|h| h.id == session_id) {
            connected.remove(domain);
        }
    }

    /// Whether `domain` is a configured component (connected or not).
    pub fn is_component(&self, domain: &str) -> bool {
        self.inner.components.configured.contains(domain)
    }

    /// Whether a connection serves component `domain` right now.
    pub fn component_connected(&self, domain: &str) -> bool {
        self.inner.components.connected.read().unwrap_or_else(|e| e.into_inner()).contains_key(domain)
    }

    /// The components connected now, sorted.
    pub fn connected_components(&self) -> Vec<String> {
        let mut domains: Vec<String> =
            self.inner.components.connected.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        domains.sort();
        domains
    }

    /// Installs the server-to-server side; without one every remote domain is unreachable.
    pub fn set_federation(&self, federation: std::sync::Arc<dyn Federation>) {
        let _ = self.inner.federation.set(federation);
    }

    pub(crate) fn component_domains(&self) -> impl Iterator<Item = String> + '_ {
        self.inner.components.configured.iter().cloned()
    }

    /// A stanza for a domain that is not an account host.
    pub(crate) async fn deliver_remote(&self, domain: &str, stanza: Stanza) {
        let service = self.domains().services.get(domain).cloned();
        if let Some((host, handler)) = service {
            return handler(self.ctx(&host), stanza).await;
        }
        if self.is_component(domain) {
            let handle = self.inner.components.connected.read().unwrap_or_else(|e| e.into_inner()).get(domain).cloned();
            // Queued without waiting, as for sessions: a component that does not read is closed.
            let refused = match handle {
                None => Some(stanza.el),
                Some(h) => match h.offer(Outbound::Stanza(Box::new(stanza.el))) {
                    Ok(()) => None,
                    Err(Outbound::Stanza(el)) => Some(*el),
                    Err(_) => None,
                },
            };
            if let Some(el) = refused {
                let text = format!("the component {domain} is not connected");
                let stanza = Stanza { el, ..stanza };
                self.refuse(&stanza, StanzaError::service_unavailable().with_text(text)).await;
            }
            return;
        }
        match self.inner.federation.get() {
            Some(federation) => federation.send(domain, stanza.el),
            None => self.refuse(&stanza, StanzaError::remote_server_not_found()).await,
        }
    }

    /// Service and component domains below `host` (`conference.example.org` for
    /// `example.org`), for disco#items.
    pub fn services_of(&self, host: &str) -> Vec<String> {
        let suffix = format!(".{host}");
        let domains = self.domains();
        let services = domains.services.iter().filter(|(_, (h, _))| h == host).map(|(d, _)| d.clone());
        let components = self.inner.components.configured.iter().filter(|d| d.ends_with(&suffix)).cloned();
        let mut out: Vec<String> = services.chain(components).collect();
        out.sort();
        out
    }
}
