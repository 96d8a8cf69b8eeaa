//! One module on its own, for tests that read as its specification: a real in-memory
//! database, and a router that records what the module sends instead of delivering it.
//! Requests go to the handlers the module registered, as the router would call them.

use rhein_module::{
    BoxFuture, Ctx, Event, Flow, Interest, IqKind, Module, ModuleSpec, Registry, ResourceInfo, RouterApi, ServerInfo,
    Stage, Stanza, Targets,
};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};
use rhein_storage::Db;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// A module, registered alone, with its storage and a recording router.
pub struct ModuleHarness {
    registry: Registry,
    router: Arc<RecordingRouter>,
    caps: Arc<rhein_module::caps::Capabilities>,
    pub db: Db,
    pub host: String,
}

impl ModuleHarness {
    /// The built-in module `name` with its `[modules.<name>]` table (TOML, may be empty),
    /// serving `localhost`.
    pub async fn start(spec: &ModuleSpec, config: &str) -> Self {
        let table: toml::Table = config.parse().expect("module config is TOML");
        let module = (spec.build)(&table).unwrap_or_else(|e| panic!("module {} does not build: {e}", spec.name));
        Self::with_module(module).await
    }

    /// A module built by the test.
    pub async fn with_module(module: Arc<dyn Module>) -> Self {
        let mut registry = Registry::new();
        module.register(&mut registry).expect("module registers");
        let db = Db::connect("sqlite::memory:").await.expect("in-memory database");
        let host = "localhost".to_owned();
        let router = Arc::new(RecordingRouter { host: host.clone(), ..Default::default() });
        Self { registry, router, caps: Default::default(), db, host }
    }

    /// Creates an account (password `pw`).
    pub async fn account(&self, user: &str) -> BareJid {
        let creds = rhein_sasl::Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        assert!(self.db.accounts().create(&self.host, user, &creds).await.expect("account created"));
        BareJid::new(&format!("{user}@{}", self.host)).expect("a bare JID")
    }

    /// A resource of an account, bound (not yet available) and wanting `interests`.
    pub fn connect(&self, jid: &str, interests: &[Interest]) -> FullJid {
        let jid = FullJid::new(jid).expect("a full JID");
        let mut info = ResourceInfo {
            jid: jid.clone(),
            priority: 0,
            presence: None,
            interests: Default::default(),
            detached: false,
            inactive: false,
        };
        for i in interests {
            info.interests.set(*i, true);
        }
        self.router.sessions().entry(jid.to_bare()).or_default().push(info);
        jid
    }

    /// The handler context, as the router hands it out for the host.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            host: self.host.as_str().into(),
            db: self.db.clone(),
            router: self.router.clone(),
            server: Arc::new(ServerInfo {
                name: "Rhein",
                version: "test",
                started: Instant::now(),
                upload_dir: std::env::temp_dir(),
                web_origin: Default::default(),
                admins: Default::default(),
                webchat: false,
            }),
            disco: Arc::new(Default::default()),
            caps: self.caps.clone(),
        }
    }

    /// Sends an IQ (with `from`, and `to` when it is not for the sender's own account) to the
    /// handler registered for its payload: its result payload or its error. No handler is
    /// `service-unavailable`, as the router answers.
    pub async fn iq(&self, xml: &str) -> Result<Option<Element>, StanzaError> {
        let iq = read(xml);
        let kind = match iq.stanza_type() {
            Some("get") => IqKind::Get,
            Some("set") => IqKind::Set,
            other => panic!("an IQ get or set, not {other:?}"),
        };
        let targets = if iq.to.node().is_none() { Targets::Host } else { Targets::Account };
        let payload = iq.el.children().next().expect("a payload");
        let Some(handler) = self.registry.iq_handler(kind, targets, &payload.ns(), payload.name()) else {
            return Err(StanzaError::service_unavailable());
        };
        handler(self.ctx(), iq).await
    }

    /// Runs a stanza through the module's handlers of `stage`, as the router does: what
    /// continues, or `None` when a handler took it (or refused it: the error is returned).
    pub async fn stage(&self, stage: Stage, xml: &str) -> Result<Option<Element>, StanzaError> {
        let mut stanza = read(xml);
        for hook in self.registry.stage_chain(stage) {
            if !hook.wants(&self.ctx(), &stanza) {
                continue;
            }
            match (hook.handler)(self.ctx(), stanza).await? {
                Flow::Continue(next) => stanza = next,
                Flow::Handled => return Ok(None),
            }
        }
        Ok(Some(stanza.el))
    }

    /// Tells the module of a lifecycle event.
    pub async fn event(&self, event: Event) {
        for h in self.registry.event_handlers() {
            h(self.ctx(), event.clone()).await;
        }
    }

    /// Everything the module sent since last asked, in order.
    pub fn sent(&self) -> Vec<Element> {
        std::mem::take(&mut *lock(&self.router.sent))
    }
}

/// A stanza written as a client writes it, with `from`, read as the router reads it.
fn read(xml: &str) -> Stanza {
    Stanza::read(client_stanza(xml), |_| None).expect("a stanza with a from and JIDs that parse")
}

/// A stanza written as a client writes it (no namespace: `jabber:client`).
fn client_stanza(text: &str) -> Element {
    let start_tag = &text[..text.find('>').unwrap_or(text.len())];
    let text = match start_tag.contains("xmlns=") {
        true => text.to_owned(),
        false => {
            let name_end = text.find([' ', '/', '>']).unwrap_or(text.len());
            format!("{} xmlns='{}'{}", &text[..name_end], ns::CLIENT, &text[name_end..])
        }
    };
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A router that keeps what it is given and knows only the resources the test connected.
#[derive(Default)]
struct RecordingRouter {
    host: String,
    sessions: Mutex<HashMap<BareJid, Vec<ResourceInfo>>>,
    sent: Mutex<Vec<Element>>,
}

impl RecordingRouter {
    fn sessions(&self) -> MutexGuard<'_, HashMap<BareJid, Vec<ResourceInfo>>> {
        lock(&self.sessions)
    }

    fn record(&self, el: Element) {
        lock(&self.sent).push(el);
    }

    fn update(&self, jid: &FullJid, f: impl FnOnce(&mut ResourceInfo)) {
        if let Some(r) = self.sessions().get_mut(&jid.to_bare()).and_then(|l| l.iter_mut().find(|r| r.jid == *jid)) {
            f(r);
        }
    }
}

impl RouterApi for RecordingRouter {
    fn route(&self, stanza: Element) -> BoxFuture<'_, ()> {
        self.record(stanza);
        Box::pin(async {})
    }

    fn fan_out(&self, stanza: Element, to: Vec<Jid>) -> BoxFuture<'_, ()> {
        for jid in to {
            let mut copy = stanza.clone();
            xml::set_attr(&mut copy, "to", jid.as_str());
            self.record(copy);
        }
        Box::pin(async {})
    }

    fn send_to(&self, jid: &FullJid, mut stanza: Element) -> bool {
        xml::set_attr(&mut stanza, "to", jid.as_str());
        self.record(stanza);
        self.sessions().get(&jid.to_bare()).is_some_and(|l| l.iter().any(|r| r.jid == *jid))
    }

    fn resources(&self, bare: &BareJid) -> Vec<ResourceInfo> {
        self.sessions().get(bare).cloned().unwrap_or_default()
    }

    fn set_presence(&self, jid: &FullJid, presence: Option<Element>, priority: i8) {
        self.update(jid, |r| {
            r.presence = presence;
            r.priority = priority;
        });
    }

    fn set_interest(&self, jid: &FullJid, interest: Interest, on: bool) {
        self.update(jid, |r| r.interests.set(interest, on));
    }

    fn message_targets(&self, bare: &BareJid, _mtype: &str) -> Vec<FullJid> {
        let resources = self.resources(bare).into_iter();
        resources.filter(|r| r.is_available() && r.priority >= 0).map(|r| r.jid).collect()
    }

    fn is_local_host(&self, domain: &str) -> bool {
        domain == self.host
    }

    fn services(&self, _host: &str) -> Vec<String> {
        Vec::new()
    }

    fn send_iq(&self, iq: Element, _timeout: std::time::Duration) -> BoxFuture<'_, Option<Element>> {
        self.record(iq);
        Box::pin(async { None })
    }

    fn sessions_on(&self, _host: &str) -> Vec<rhein_proto::FullJid> {
        Vec::new()
    }

    fn end_sessions(&self, _jid: &rhein_proto::Jid, _reason: Option<&str>) -> usize {
        0
    }

    /// Events stay inside the module under test: other modules are not there to hear them.
    fn emit(&self, _host: &str, _event: rhein_module::Event) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
