//! The router: owns who is where (the session table), applies the delivery rules of RFC 6121
//! §8.5, and dispatches stanzas into the module handlers of the registry. It does no socket
//! I/O and holds no lock across an `.await`.

mod deliver;
mod remote;
mod sessions;
#[cfg(test)]
mod tests;

pub use remote::{AttachError, Federation};
pub use rhein_module::Stanza;
pub use sessions::{BindError, Closing, Outbound, SessionHandle};

use rhein_module::{Bind2Feature, Bind2Hook, Ctx, Disco, Event, IqKind, Registry, ServerInfo, Unauthenticated};
use rhein_proto::{BareJid, Element, FullJid, StanzaError, StreamErrorCondition, xml};
use rhein_storage::Db;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The router. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

/// The domains served: account hosts, and the module services under each.
struct Domains {
    hosts: HashSet<String>,
    /// Service domains (`conference.<host>`) to their host and handler.
    services: HashMap<String, (String, rhein_module::ServiceHandler)>,
}

impl Domains {
    fn new(hosts: impl IntoIterator<Item = String>, registry: &Registry) -> Self {
        let hosts: HashSet<String> = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        let services = hosts
            .iter()
            .flat_map(|host| {
                registry
                    .services()
                    .iter()
                    .map(move |(prefix, h)| (format!("{prefix}.{host}"), (host.clone(), h.clone())))
            })
            .collect();
        Self { hosts, services }
    }
}

struct Inner {
    sessions: sessions::Table,
    /// Replaced whole when a reload adds or removes hosts.
    domains: std::sync::RwLock<Arc<Domains>>,
    components: remote::Components,
    federation: std::sync::OnceLock<Arc<dyn Federation>>,
    registry: Registry,
    disco: Arc<Disco>,
    /// The clients' capabilities, one cache for every module.
    caps: Arc<rhein_module::caps::Capabilities>,
    db: Db,
    server: Arc<ServerInfo>,
    /// Background tasks, each with the host it works for (`None`: the whole server).
    workers: std::sync::Mutex<Vec<(Option<String>, tokio::task::AbortHandle)>>,
    /// Server-originated IQs waiting for their answer: id to (addressee, waiter).
    pending_iqs: std::sync::Mutex<std::collections::HashMap<String, (String, tokio::sync::oneshot::Sender<Element>)>>,
}

impl Router {
    /// Builds the router over the handlers modules registered.
    pub fn new(
        hosts: impl IntoIterator<Item = String>,
        components: impl IntoIterator<Item = String>,
        db: Db,
        server: Arc<ServerInfo>,
        mut registry: Registry,
    ) -> Self {
        let disco = Arc::new(registry.take_disco());
        let domains = std::sync::RwLock::new(Arc::new(Domains::new(hosts, &registry)));
        Self {
            inner: Arc::new(Inner {
                sessions: sessions::Table::default(),
                domains,
                components: remote::Components::new(components),
                federation: Default::default(),
                registry,
                disco,
                caps: Default::default(),
                db,
                server,
                workers: Default::default(),
                pending_iqs: Default::default(),
            }),
        }
    }

    /// What an enabled module provided to the server (see [`Registry::provide`]).
    pub fn provided<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.registry.provided()
    }

    fn domains(&self) -> Arc<Domains> {
        // Replaced whole, never half-written: a poisoned lock still holds a whole value.
        self.inner.domains.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every host served (account domains), sorted.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.domains().hosts.iter().cloned().collect();
        hosts.sort();
        hosts
    }

    /// Serves `hosts` from now on (a reload): added hosts get their services and workers;
    /// removed ones lose theirs, and their sessions end with `host-gone` (RFC 6120
    /// §4.9.3.6). The hosts added and removed.
    pub fn set_hosts(&self, hosts: &[String]) -> (Vec<String>, Vec<String>) {
        let new = Arc::new(Domains::new(hosts.iter().cloned(), &self.inner.registry));
        let old = std::mem::replace(&mut *self.inner.domains.write().unwrap_or_else(|e| e.into_inner()), new.clone());
        let mut added: Vec<String> = new.hosts.difference(&old.hosts).cloned().collect();
        let mut removed: Vec<String> = old.hosts.difference(&new.hosts).cloned().collect();
        added.sort();
        removed.sort();
        let mut workers = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|(host, task)| match host {
            Some(host) if removed.contains(host) => {
                task.abort();
                false
            }
            _ => true,
        });
        drop(workers);
        for host in &removed {
            let closed = self.inner.sessions.close_host(host, StreamErrorCondition::HostGone);
            tracing::info!(%host, closed, "host removed; its sessions end");
        }
        for host in &added {
            self.start_host_workers(host);
            tracing::info!(%host, "host added");
        }
        (added, removed)
    }

    /// The handler context for one of our hosts.
    pub fn ctx(&self, host: &str) -> Ctx {
        Ctx {
            host: host.into(),
            db: self.inner.db.clone(),
            router: Arc::new(self.clone()),
            server: self.inner.server.clone(),
            disco: self.inner.disco.clone(),
            caps: self.inner.caps.clone(),
        }
    }

    pub fn is_host(&self, domain: &str) -> bool {
        self.domains().hosts.contains(domain)
    }

    /// Every domain served here: hosts, module services and components (what federation
    /// sends and receives for).
    pub fn local_domains(&self) -> Vec<String> {
        let d = self.domains();
        d.hosts.iter().chain(d.services.keys()).cloned().chain(self.component_domains()).collect()
    }

    /// Whether `domain` is served here: a host, a module service or a component.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = self.domains();
        d.hosts.contains(domain) || d.services.contains_key(domain) || self.is_component(domain)
    }

    /// Extra stream features modules offer to authenticated clients.
    pub fn stream_features(&self) -> &[Element] {
        self.inner.registry.stream_features()
    }

    /// The module page serving `path` on the web listeners, if one does, with the context of
    /// `host` (or of the first host, for a name that is none of ours).
    pub fn web_page(&self, host: &str, path: &str) -> Option<(Ctx, rhein_module::web::WebHandler)> {
        let handler = self.inner.registry.web_handler(path)?.clone();
        let host = if self.is_host(host) { host.to_owned() } else { self.domains().hosts.iter().min()?.clone() };
        Some((self.ctx(&host), handler))
    }

    /// Stream features modules offer before authentication (XEP-0077, XEP-0445).
    pub fn pre_auth_features(&self) -> &[Element] {
        self.inner.registry.pre_auth_features()
    }

    /// Answers an IQ a stream sent before authenticating, for `host`: the reply, or `None`
    /// when no module answers such IQs there (the stream is then refused, RFC 6120 §6.4).
    /// An error reply does not echo the request's payload, which may hold a password.
    pub async fn pre_auth_iq(&self, host: &str, stream: Unauthenticated, iq: Element) -> Option<Element> {
        let kind = match iq.attr("type") {
            Some("get") => IqKind::Get,
            Some("set") => IqKind::Set,
            _ => return None,
        };
        let payload = iq.children().next()?;
        let handler = self.inner.registry.pre_auth_handler(kind, &payload.ns(), payload.name())?.clone();
        let mut reply = xml::reply_shell(&iq, "result");
        xml::remove_attr(&mut reply, "to");
        if iq.children().count() != 1 {
            xml::set_attr(&mut reply, "type", "error");
            let error = StanzaError::bad_request().with_text("an IQ get or set carries exactly one payload");
            reply.append_child(error.to_element());
            return Some(reply);
        }
        match handler(self.ctx(host), stream, iq).await {
            Ok(Some(payload)) => {
                reply.append_child(payload);
            }
            Ok(None) => {}
            Err(error) => {
                xml::set_attr(&mut reply, "type", "error");
                reply.append_child(error.to_element());
            }
        }
        Some(reply)
    }

    /// What modules let clients enable inside Bind2 (XEP-0386), in the order they registered.
    pub fn bind2_features(&self) -> &[Bind2Feature] {
        self.inner.registry.bind2_features()
    }

    /// What modules do for every session Bind2 binds.
    pub fn bind2_hooks(&self) -> &[Bind2Hook] {
        self.inner.registry.bind2_hooks()
    }

    /// Binds a resource (RFC 6120 §7). A session already bound to the same full JID is closed
    /// with `<conflict/>`, as Prosody and ejabberd do by default.
    pub async fn bind(&self, jid: FullJid, handle: SessionHandle, max_sessions: usize) -> Result<(), BindError> {
        self.inner.sessions.bind(jid.clone(), handle, max_sessions)?;
        let host = jid.domain().as_str().to_owned();
        self.emit(&host, Event::SessionBound(jid)).await;
        Ok(())
    }

    /// Removes a session (if `session_id` still owns the resource) and tells the modules.
    pub async fn unbind(&self, jid: &FullJid, session_id: u64) {
        if let Some(presence) = self.inner.sessions.unbind(jid, session_id) {
            self.inner.caps.forget(jid);
            let ev = Event::SessionClosed { jid: jid.clone(), presence };
            self.emit(jid.domain().as_str(), ev).await;
        }
    }

    async fn emit(&self, host: &str, event: Event) {
        let ctx = self.ctx(host);
        for h in self.inner.registry.event_handlers() {
            h(ctx.clone(), event.clone()).await;
        }
    }

    /// Starts the modules' background workers, once per host, and the task that ends the
    /// sessions of deleted accounts.
    pub fn start_workers(&self) {
        let mut removed = self.inner.db.removed_accounts();
        let router = self.clone();
        let watcher = tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match removed.recv().await {
                    Ok(jid) => match BareJid::new(&jid) {
                        Ok(account) => router.remove_account(&account).await,
                        Err(e) => tracing::error!(%jid, error = %e, "removed account with a bad JID"),
                    },
                    Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "account removals came too fast"),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).push((None, watcher.abort_handle()));
        for host in self.hosts() {
            self.start_host_workers(&host);
        }
    }

    /// Starts the modules' workers for one host.
    fn start_host_workers(&self, host: &str) {
        for (name, worker) in self.inner.registry.workers() {
            let task = worker(self.ctx(host));
            let span = tracing::info_span!("worker", name, host = %host);
            let handle = tokio::spawn(tracing::Instrument::instrument(task, span));
            let mut workers = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner());
            workers.push((Some(host.to_owned()), handle.abort_handle()));
        }
    }

    /// Marks a session as detached (its connection is gone, it waits for resumption) or back.
    pub fn set_detached(&self, jid: &FullJid, detached: bool) {
        self.inner.sessions.with_resource(jid, |r| r.detached = detached);
    }

    /// Records a client's XEP-0352 state (modules such as push look at it).
    pub fn set_inactive(&self, jid: &FullJid, inactive: bool) {
        self.inner.sessions.with_resource(jid, |r| r.inactive = inactive);
    }

    /// Stanzas waiting in the sessions' queues, in all and in the fullest one (metrics).
    pub fn queued(&self) -> (usize, usize) {
        self.inner.sessions.queued()
    }

    /// Number of bound sessions (for logs and tests).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.count()
    }

    /// An account was deleted: its sessions end with `not-authorized` (as Prosody ends them),
    /// modules forget it, then hear of it.
    pub async fn remove_account(&self, account: &BareJid) {
        if !self.is_host(account.domain().as_str()) {
            return;
        }
        tracing::info!(%account, "account removed; ending its sessions");
        self.inner.sessions.close(&account.clone().into(), StreamErrorCondition::NotAuthorized, None);
        self.inner.registry.forget_account(account);
        self.emit(account.domain().as_str(), Event::AccountRemoved(account.clone())).await;
    }

    /// Stops the workers and closes every session with `system-shutdown`.
    pub fn shutdown(&self) {
        for (_, w) in self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            w.abort();
        }
        self.inner.sessions.close_all();
    }
}
