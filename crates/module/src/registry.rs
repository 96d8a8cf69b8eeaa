//! The registry modules declare their handlers in; built once at start, then read without locks.

use crate::account_cache::{AccountCache, ForgetsAccounts};
use crate::commands::{Allowed, CancelHook, CommandEntry, CommandHandler, Commands, Staged, Stages};
use crate::web::{WebHandler, WebRequest, WebResponse};
use crate::{Ctx, Iq, ModuleError, Stanza};
use rhein_proto::commands::Command;
use rhein_proto::payload::IqPayload;
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an IQ handler returns: the payload of the result (if any) or a stanza error. The router
/// writes exactly one reply from it, so a handler cannot forget to answer or answer twice.
pub type IqResult = Result<Option<Element>, StanzaError>;

/// What a stage handler decides: pass the (possibly rewritten) stanza on, or stop here.
pub enum Flow {
    Continue(Stanza),
    Handled,
}

pub type IqHandler = Arc<dyn Fn(Ctx, Stanza) -> BoxFuture<'static, IqResult> + Send + Sync>;
pub type StageHandler = Arc<dyn Fn(Ctx, Stanza) -> BoxFuture<'static, Result<Flow, StanzaError>> + Send + Sync>;
/// What a stage handler looks at: whether it has anything to do with a stanza. (In a
/// fan-out it is asked once per recipient, of one stanza whose `to` is that recipient's.)
pub type StageFilter = Arc<dyn Fn(&Ctx, &Stanza) -> bool + Send + Sync>;
pub type EventHandler = Arc<dyn Fn(Ctx, Event) -> BoxFuture<'static, ()> + Send + Sync>;
/// A whole domain below each host (`conference.<host>`): every stanza addressed to it or to
/// a JID at it. The handler routes whatever it answers itself.
pub type ServiceHandler = Arc<dyn Fn(Ctx, Stanza) -> BoxFuture<'static, ()> + Send + Sync>;
/// A background task, started once per host when the server starts and dropped with it.
pub type Worker = Arc<dyn Fn(Ctx) -> BoxFuture<'static, ()> + Send + Sync>;
/// Runs, for a session Bind2 (XEP-0386) just bound, on an element of the request in the
/// feature's namespace; what it returns goes into `<bound/>`.
pub type Bind2Handler = Arc<dyn Fn(Ctx, FullJid, Element) -> BoxFuture<'static, Option<Element>> + Send + Sync>;
/// Runs for every session Bind2 binds, asked or not; what it returns goes into `<bound/>`.
pub type Bind2Hook = Arc<dyn Fn(Ctx, FullJid) -> BoxFuture<'static, Option<Element>> + Send + Sync>;

/// Answers an IQ on a stream that has not authenticated (XEP-0077 registration, XEP-0445
/// tokens): the stream it came on, and the IQ.
pub type PreAuthHandler = Arc<dyn Fn(Ctx, Unauthenticated, Element) -> BoxFuture<'static, IqResult> + Send + Sync>;

/// A stream before authentication, as a pre-authentication handler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated {
    /// Tells this stream apart from every other one of the process, for what a module
    /// remembers between two IQs of it.
    pub stream: u64,
    pub peer: std::net::IpAddr,
}

/// An IQ with payload `P` on a stream that has not authenticated.
#[derive(Debug, Clone)]
pub struct PreAuth<P> {
    pub stream: Unauthenticated,
    pub payload: P,
}

/// A feature a client can enable inside Bind2 (XEP-0386 §2.1), advertised as
/// `<feature var='…'/>` while its module is on.
#[derive(Clone)]
pub struct Bind2Feature {
    pub var: &'static str,
    pub handler: Bind2Handler,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqKind {
    Get,
    Set,
}

/// Which addresses an IQ handler serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Targets {
    /// The server itself (`to` absent or a local domain).
    Host,
    /// A local account's bare JID (the sender's own included).
    Account,
}

/// Points in the stanza flow where modules hook in. Names mirror Prosody's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Any stanza sent by a local session, before routing and before the kind-specific
    /// stages below.
    Outbound,
    /// `pre-message`: a message sent by a local session, before routing.
    OutboundMessage,
    /// `pre-iq`: an IQ sent by a local session, before routing.
    OutboundIq,
    /// Any stanza for an existing local account, before the kind-specific stages.
    Inbound,
    /// `pre-presence`: a presence sent by a local session, before routing.
    OutboundPresence,
    /// `presence/bare` and `presence/full`: a presence for a local account.
    InboundPresence,
    /// `message/bare` and `message/full`: a message for an existing local account, before delivery.
    InboundMessage,
    /// A chat or normal message for a local account with no resource to take it (offline).
    Undeliverable,
}

/// Session lifecycle events.
#[derive(Debug, Clone)]
pub enum Event {
    /// An account was created through an invite: it and `inviter` (if the invite says so)
    /// become mutual contacts, the newcomer filing the inviter under `groups`, and it is made
    /// a member of `rooms`.
    Invited { account: BareJid, inviter: Option<BareJid>, groups: Vec<String>, rooms: Vec<BareJid> },
    /// A resource was bound.
    SessionBound(FullJid),
    /// A resource went away; carries its last available presence, if it had one.
    SessionClosed { jid: FullJid, presence: Option<Element> },
    /// An account was deleted (here or by another process): its sessions are closed and
    /// its storage emptied already; nothing kept of it may outlive it.
    AccountRemoved(BareJid),
}

/// Service discovery data gathered from every module.
#[derive(Debug, Default)]
pub struct Disco {
    /// `(category, type, name)` of the server.
    pub identities: Vec<(&'static str, &'static str, &'static str)>,
    pub features: Vec<&'static str>,
    pub account_features: Vec<&'static str>,
    /// `(category, type, name)` of accounts besides `account/registered` (e.g. `pubsub/pep`).
    pub account_identities: Vec<(&'static str, &'static str, &'static str)>,
    /// XEP-0128 extension forms of the server (e.g. XEP-0157 contact addresses).
    pub forms: Vec<Element>,
    /// XEP-0050 commands of the server.
    pub commands: Commands,
    /// The module that keeps nodes at accounts (PEP), which answers discovery about them.
    pub account_nodes: AccountNodesSlot,
}

/// A module that keeps nodes at accounts (PEP) answers discovery about them: the nodes of an
/// account a requester may see (XEP-0060 §5.2, XEP-0163 §4.x), and one node's metadata (§5.4).
pub trait AccountNodes: Send + Sync {
    fn items(
        &self,
        ctx: Ctx,
        owner: BareJid,
        requester: BareJid,
    ) -> BoxFuture<'static, Result<Vec<rhein_proto::parsers::disco::Item>, rhein_proto::StanzaError>>;
    /// `None` when there is no such node, or the requester may not see it.
    fn info(
        &self,
        ctx: Ctx,
        owner: BareJid,
        requester: BareJid,
        node: String,
    ) -> BoxFuture<'static, Result<Option<rhein_proto::parsers::disco::DiscoInfoResult>, rhein_proto::StanzaError>>;
}

/// The [`AccountNodes`] a module registered, if one did.
#[derive(Default, Clone)]
pub struct AccountNodesSlot(pub Option<Arc<dyn AccountNodes>>);

impl std::fmt::Debug for AccountNodesSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "AccountNodes" } else { "none" })
    }
}

/// The node clients see in the server's XEP-0115 capabilities.
pub const CAPS_NODE: &str = "https://rhein.chat";

impl Disco {
    /// The XEP-0115 verification string of the server's disco#info (§5.1: identities,
    /// features, then extension forms, each sorted, SHA-1, base64).
    pub fn caps_ver(&self) -> String {
        caps_hash(
            self.identities.iter().map(|(c, t, n)| format!("{c}/{t}//{n}")).collect(),
            self.features.iter().map(|f| f.to_string()).collect(),
            self.forms.iter().map(caps_form).collect(),
        )
    }
}

/// The XEP-0115 verification string of any entity's disco#info result (to check what a
/// client announces in its presence before trusting it for everyone with the same `ver`).
pub fn caps_ver_of(info: &Element) -> String {
    let identities = info
        .children()
        .filter(|c| c.name() == "identity")
        .map(|i| {
            let a = |n: &str| i.attr(n).unwrap_or_default().to_owned();
            let lang = i.attr("xml:lang").unwrap_or_default();
            format!("{}/{}/{lang}/{}", a("category"), a("type"), a("name"))
        })
        .collect();
    let features = info.children().filter(|c| c.name() == "feature").filter_map(|f| f.attr("var")).map(str::to_owned);
    let forms = info.children().filter(|c| c.is("x", ns::DATA)).map(caps_form).collect();
    caps_hash(identities, features.collect(), forms)
}

/// XEP-0115 §5.1: identities, features, then extension forms, each sorted, SHA-1, base64.
fn caps_hash(mut identities: Vec<String>, mut features: Vec<String>, mut forms: Vec<String>) -> String {
    use base64::Engine;
    use sha1::Digest;
    identities.sort();
    features.sort_unstable();
    features.dedup();
    forms.sort();
    let mut s = String::new();
    for part in identities.iter().chain(&features) {
        s.push_str(part);
        s.push('<');
    }
    s.extend(forms);
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(s.as_bytes()))
}

/// One extension form in XEP-0115 order: FORM_TYPE, then fields by name with sorted values.
fn caps_form(form: &Element) -> String {
    let values = |f: &Element| -> Vec<String> {
        let mut v: Vec<String> = f.children().filter(|c| c.name() == "value").map(Element::text).collect();
        v.sort();
        v
    };
    let fields: Vec<&Element> = form.children().filter(|c| c.name() == "field").collect();
    let mut out = String::new();
    if let Some(ft) = fields.iter().find(|f| f.attr("var") == Some("FORM_TYPE")) {
        for v in values(ft) {
            out.push_str(&v);
            out.push('<');
        }
    }
    let mut rest: Vec<&&Element> = fields.iter().filter(|f| f.attr("var") != Some("FORM_TYPE")).collect();
    rest.sort_by_key(|f| f.attr("var").unwrap_or_default().to_owned());
    for f in rest {
        out.push_str(f.attr("var").unwrap_or_default());
        out.push('<');
        for v in values(f) {
            out.push_str(&v);
            out.push('<');
        }
    }
    out
}

/// A stage handler, with what it looks at when the module said so.
#[derive(Clone)]
pub struct StageHook {
    pub handler: StageHandler,
    wants: Option<StageFilter>,
}

impl StageHook {
    /// Whether the handler must see `stanza`.
    pub fn wants(&self, ctx: &Ctx, stanza: &Stanza) -> bool {
        self.wants.as_ref().is_none_or(|wants| wants(ctx, stanza))
    }
}

/// Collects handlers from modules.
#[derive(Default)]
pub struct Registry {
    iqs: HashMap<(IqKind, Targets, String, String), IqHandler>,
    stages: HashMap<Stage, Vec<(i32, StageHook)>>,
    events: Vec<EventHandler>,
    workers: Vec<(&'static str, Worker)>,
    services: Vec<(String, ServiceHandler)>,
    stream_features: Vec<Element>,
    bind2_features: Vec<Bind2Feature>,
    bind2_hooks: Vec<Bind2Hook>,
    disco: Disco,
    pre_auth: HashMap<(IqKind, String, String), PreAuthHandler>,
    pre_auth_features: Vec<Element>,
    web: Vec<(&'static str, WebHandler)>,
    account_caches: Vec<Arc<dyn ForgetsAccounts>>,
    provided: HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Discovery of the nodes modules keep at accounts (one module: PEP).
    pub fn account_nodes(&mut self, nodes: Arc<dyn AccountNodes>) {
        self.disco.account_nodes = AccountNodesSlot(Some(nodes));
    }

    /// A feature of the server (disco#info on the domain).
    pub fn feature(&mut self, ns: &'static str) {
        if !self.disco.features.contains(&ns) {
            self.disco.features.push(ns);
        }
    }

    /// A feature of accounts (disco#info on a bare JID).
    pub fn account_feature(&mut self, ns: &'static str) {
        if !self.disco.account_features.contains(&ns) {
            self.disco.account_features.push(ns);
        }
    }

    pub fn identity(&mut self, category: &'static str, kind: &'static str, name: &'static str) {
        self.disco.identities.push((category, kind, name));
    }

    /// An identity of accounts (disco#info on a bare JID).
    pub fn account_identity(&mut self, category: &'static str, kind: &'static str, name: &'static str) {
        self.disco.account_identities.push((category, kind, name));
    }

    /// An XEP-0128 extension form in the server's disco#info.
    pub fn disco_form(&mut self, form: Element) {
        self.disco.forms.push(form);
    }

    /// A cache of per-account values, at most `capacity` of them, that forgets an account
    /// when it is removed.
    pub fn account_cache<V: Send + 'static>(&mut self, capacity: usize) -> Arc<AccountCache<V>> {
        let cache = Arc::new(AccountCache::new(capacity));
        self.forgets(cache.clone());
        cache
    }

    /// Ties a cache the module made before registering to account removal.
    pub fn forgets<V: Send + 'static>(&mut self, cache: Arc<AccountCache<V>>) {
        self.account_caches.push(cache);
    }

    /// Offers a part of the module to the server itself (the admin socket calls the same
    /// service as the module's commands); the server finds it by type with [`Registry::provided`].
    pub fn provide<T: Send + Sync + 'static>(&mut self, part: Arc<T>) {
        self.provided.insert(std::any::TypeId::of::<T>(), part);
    }

    /// What a module provided of type `T`, if an enabled module did.
    pub fn provided<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.provided.get(&std::any::TypeId::of::<T>())?.clone().downcast().ok()
    }

    /// Drops `account` from every cache made with [`Registry::account_cache`].
    pub fn forget_account(&self, account: &BareJid) {
        for cache in &self.account_caches {
            cache.forget(account);
        }
    }

    /// An XEP-0050 command of the server, listed to those `allowed` and run for them only.
    pub fn command<F, Fut>(
        &mut self,
        node: &'static str,
        name: &'static str,
        allowed: Allowed,
        handler: F,
    ) -> Result<(), ModuleError>
    where
        F: Fn(Ctx, Iq<Command>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Command, StanzaError>> + Send + 'static,
    {
        let handler: CommandHandler = Arc::new(move |ctx, iq| Box::pin(handler(ctx, iq)));
        self.add_command(CommandEntry { node, name, allowed, handler, cancel: None })
    }

    /// An XEP-0050 command in stages (XEP-0050 §3.4): the command layer keeps each session,
    /// offers `next`, `prev` and `complete` where they apply, and runs the stages' `finish`
    /// with every answer.
    pub fn staged_command(
        &mut self,
        node: &'static str,
        name: &'static str,
        allowed: Allowed,
        stages: Stages,
    ) -> Result<(), ModuleError> {
        if stages.forms.is_empty() {
            return Err(ModuleError::Config { module: "commands", reason: format!("{node} has no stage") });
        }
        let staged = Arc::new(Staged::new(node, stages));
        let stepper = staged.clone();
        let handler: CommandHandler = Arc::new(move |ctx, iq| Box::pin(stepper.clone().step(ctx, iq)));
        let cancel: CancelHook = Arc::new(move |requester, id| staged.cancel(requester, id));
        self.add_command(CommandEntry { node, name, allowed, handler, cancel: Some(cancel) })
    }

    fn add_command(&mut self, entry: CommandEntry) -> Result<(), ModuleError> {
        let node = entry.node;
        if self.disco.commands.add(entry) {
            Ok(())
        } else {
            Err(ModuleError::DuplicateIq { kind: IqKind::Set, ns: ns::COMMANDS.to_owned(), name: node.to_owned() })
        }
    }

    /// Answers IQs of `kind` with payload `P` on streams that have not authenticated yet;
    /// nothing else is allowed there (RFC 6120 §6.4). A payload that does not parse is a
    /// `bad-request` saying why.
    pub fn pre_auth<P, F, Fut>(&mut self, kind: IqKind, handler: F) -> Result<(), ModuleError>
    where
        P: IqPayload,
        F: Fn(Ctx, PreAuth<P>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = IqResult> + Send + 'static,
    {
        let key = (kind, P::NS.to_owned(), P::NAME.to_owned());
        if self.pre_auth.contains_key(&key) {
            return Err(ModuleError::DuplicateIq { kind, ns: P::NS.to_owned(), name: P::NAME.to_owned() });
        }
        let h: PreAuthHandler = Arc::new(move |ctx, stream, mut iq: Element| {
            let request = iq
                .remove_child(P::NAME, P::NS)
                .ok_or_else(StanzaError::bad_request)
                .and_then(crate::payload::<P>)
                .map(|payload| handler(ctx, PreAuth { stream, payload }));
            Box::pin(async move { request?.await })
        });
        self.pre_auth.insert(key, h);
        Ok(())
    }

    /// The handler of an IQ before authentication, if one was registered.
    pub fn pre_auth_handler(&self, kind: IqKind, ns: &str, name: &str) -> Option<&PreAuthHandler> {
        self.pre_auth.get(&(kind, ns.to_owned(), name.to_owned()))
    }

    /// Serves the web pages under `prefix` (`/invite/`) on the http and https listeners.
    pub fn web<F, Fut>(&mut self, prefix: &'static str, handler: F)
    where
        F: Fn(Ctx, WebRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = WebResponse> + Send + 'static,
    {
        self.web.push((prefix, Arc::new(move |ctx, request| Box::pin(handler(ctx, request)))));
    }

    /// The module serving `path`, if one does (the longest prefix wins).
    pub fn web_handler(&self, path: &str) -> Option<&WebHandler> {
        self.web.iter().filter(|(prefix, _)| path.starts_with(prefix)).max_by_key(|(p, _)| p.len()).map(|(_, h)| h)
    }

    /// An element added to the stream features before authentication.
    pub fn pre_auth_feature(&mut self, el: Element) {
        self.pre_auth_features.push(el);
    }

    pub fn pre_auth_features(&self) -> &[Element] {
        &self.pre_auth_features
    }

    /// An element added to the stream features once a client is authenticated.
    pub fn stream_feature(&mut self, el: Element) {
        self.stream_features.push(el);
    }

    /// A feature clients enable inside Bind2 (XEP-0386): offered as `var`, and `handler` runs
    /// on each element of a Bind2 request in that namespace, once the session is bound. The
    /// module does the enabling, so it is offered exactly while the module is on.
    pub fn bind2_feature<F, Fut>(&mut self, var: &'static str, handler: F)
    where
        F: Fn(Ctx, FullJid, Element) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Element>> + Send + 'static,
    {
        let handler: Bind2Handler = Arc::new(move |ctx, jid, el| Box::pin(handler(ctx, jid, el)));
        self.bind2_features.push(Bind2Feature { var, handler });
    }

    /// Work for every session Bind2 binds, before its inline features (XEP-0386 §3: a Bind2
    /// client catches up from the archive rather than from offline storage).
    pub fn on_bind2<F, Fut>(&mut self, handler: F)
    where
        F: Fn(Ctx, FullJid) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Element>> + Send + 'static,
    {
        self.bind2_hooks.push(Arc::new(move |ctx, jid| Box::pin(handler(ctx, jid))));
    }

    /// Answers IQ gets to `targets` whose payload is a `P`, parsed before `handler` runs
    /// (one that does not parse is a `bad-request` saying why).
    pub fn get<P, F, Fut>(&mut self, targets: Targets, handler: F) -> Result<(), ModuleError>
    where
        P: IqPayload,
        F: Fn(Ctx, Iq<P>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = IqResult> + Send + 'static,
    {
        self.typed(IqKind::Get, targets, handler)
    }

    /// As [`Registry::get`], for IQ sets.
    pub fn set<P, F, Fut>(&mut self, targets: Targets, handler: F) -> Result<(), ModuleError>
    where
        P: IqPayload,
        F: Fn(Ctx, Iq<P>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = IqResult> + Send + 'static,
    {
        self.typed(IqKind::Set, targets, handler)
    }

    fn typed<P, F, Fut>(&mut self, kind: IqKind, targets: Targets, handler: F) -> Result<(), ModuleError>
    where
        P: IqPayload,
        F: Fn(Ctx, Iq<P>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = IqResult> + Send + 'static,
    {
        self.iq(kind, targets, P::NS, P::NAME, move |ctx, stanza| {
            let request = Iq::<P>::parse(stanza).map(|iq| handler(ctx, iq));
            async move { request?.await }
        })
    }

    /// Answers IQs of `kind` to `targets` whose payload is `<name xmlns='ns'/>`, untyped: for
    /// payloads passed on as they are. New handlers take a typed payload ([`Registry::get`]).
    pub fn iq<F, Fut>(
        &mut self,
        kind: IqKind,
        targets: Targets,
        ns: &str,
        name: &str,
        handler: F,
    ) -> Result<(), ModuleError>
    where
        F: Fn(Ctx, Stanza) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = IqResult> + Send + 'static,
    {
        let key = (kind, targets, ns.to_owned(), name.to_owned());
        if self.iqs.contains_key(&key) {
            return Err(ModuleError::DuplicateIq { kind, ns: ns.to_owned(), name: name.to_owned() });
        }
        let h: IqHandler = Arc::new(move |ctx, stanza| Box::pin(handler(ctx, stanza)));
        self.iqs.insert(key, h);
        Ok(())
    }

    /// Hooks a stage; higher priorities run first.
    pub fn stage<F, Fut>(&mut self, stage: Stage, priority: i32, handler: F)
    where
        F: Fn(Ctx, Stanza) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Flow, StanzaError>> + Send + 'static,
    {
        self.hook(stage, priority, None, handler);
    }

    /// As `stage`, with what the handler looks at. The router skips it for stanzas `wants`
    /// declines, without copying them for it, and writes a stanza fanned out to many
    /// sessions once for all of them when no recipient-side handler wants it.
    pub fn stage_when<W, F, Fut>(&mut self, stage: Stage, priority: i32, wants: W, handler: F)
    where
        W: Fn(&Ctx, &Stanza) -> bool + Send + Sync + 'static,
        F: Fn(Ctx, Stanza) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Flow, StanzaError>> + Send + 'static,
    {
        self.hook(stage, priority, Some(Arc::new(wants)), handler);
    }

    fn hook<F, Fut>(&mut self, stage: Stage, priority: i32, wants: Option<StageFilter>, handler: F)
    where
        F: Fn(Ctx, Stanza) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Flow, StanzaError>> + Send + 'static,
    {
        let handler: StageHandler = Arc::new(move |ctx, stanza| Box::pin(handler(ctx, stanza)));
        let chain = self.stages.entry(stage).or_default();
        chain.push((priority, StageHook { handler, wants }));
        chain.sort_by_key(|(p, _)| -p);
    }

    /// Follows session lifecycle events.
    pub fn on_event<F, Fut>(&mut self, handler: F)
    where
        F: Fn(Ctx, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.events.push(Arc::new(move |ctx, ev| Box::pin(handler(ctx, ev))));
    }

    /// A background task per host (expiry, cleanup).
    pub fn worker<F, Fut>(&mut self, name: &'static str, f: F)
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers.push((name, Arc::new(move |ctx| Box::pin(f(ctx)))));
    }

    /// Serves the domain `<prefix>.<host>` of every host (group chat services). The handler's
    /// `Ctx::host` is the parent host.
    pub fn service<F, Fut>(&mut self, prefix: &str, handler: F)
    where
        F: Fn(Ctx, Stanza) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.services.push((prefix.to_ascii_lowercase(), Arc::new(move |ctx, s| Box::pin(handler(ctx, s)))));
    }

    // Read side, for the router.

    pub fn services(&self) -> &[(String, ServiceHandler)] {
        &self.services
    }

    pub fn workers(&self) -> &[(&'static str, Worker)] {
        &self.workers
    }

    pub fn iq_handler(&self, kind: IqKind, targets: Targets, ns: &str, name: &str) -> Option<&IqHandler> {
        self.iqs.get(&(kind, targets, ns.to_owned(), name.to_owned()))
    }

    pub fn stage_chain(&self, stage: Stage) -> impl Iterator<Item = &StageHook> {
        self.stages.get(&stage).into_iter().flatten().map(|(_, h)| h)
    }

    pub fn event_handlers(&self) -> &[EventHandler] {
        &self.events
    }

    pub fn stream_features(&self) -> &[Element] {
        &self.stream_features
    }

    pub fn bind2_features(&self) -> &[Bind2Feature] {
        &self.bind2_features
    }

    pub fn bind2_hooks(&self) -> &[Bind2Hook] {
        &self.bind2_hooks
    }

    /// Takes the disco data out (it lives in every `Ctx` afterwards) and advertises the
    /// server's XEP-0115 capabilities, which only now are complete, as a stream feature.
    pub fn take_disco(&mut self) -> Disco {
        let disco = std::mem::take(&mut self.disco);
        let mut c = Element::builder("c", "http://jabber.org/protocol/caps").build();
        rhein_proto::xml::set_attr(&mut c, "hash", "sha-1");
        rhein_proto::xml::set_attr(&mut c, "node", CAPS_NODE);
        rhein_proto::xml::set_attr(&mut c, "ver", disco.caps_ver());
        self.stream_features.push(c);
        disco
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_ver_matches_the_xep_0115_example() {
        // XEP-0115 §5.2 (simple example).
        let disco = Disco {
            identities: vec![("client", "pc", "Exodus 0.9.1")],
            features: vec![
                "http://jabber.org/protocol/caps",
                "http://jabber.org/protocol/disco#info",
                "http://jabber.org/protocol/disco#items",
                "http://jabber.org/protocol/muc",
            ],
            ..Disco::default()
        };
        assert_eq!(disco.caps_ver(), "QgayPKawpkPSDYmwT/WM94uAlu0=");
        let info: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='client' type='pc' name='Exodus 0.9.1'/>\
            <feature var='http://jabber.org/protocol/muc'/><feature var='http://jabber.org/protocol/caps'/>\
            <feature var='http://jabber.org/protocol/disco#info'/>\
            <feature var='http://jabber.org/protocol/disco#items'/></query>"
            .parse()
            .unwrap();
        assert_eq!(caps_ver_of(&info), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    #[test]
    fn caps_ver_covers_extension_forms() {
        // XEP-0115 §5.3 (complex example), without the language-tagged identities' xml:lang.
        let form: Element = "<x xmlns='jabber:x:data' type='result'>\
            <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
            <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>\
            <field var='os'><value>Mac</value></field>\
            <field var='os_version'><value>10.5.1</value></field>\
            <field var='software'><value>Psi</value></field>\
            <field var='software_version'><value>0.11</value></field></x>"
            .parse()
            .unwrap();
        let mut d = Disco { forms: vec![form], ..Disco::default() };
        d.features = vec!["a"];
        // Same form, same string, whatever the order of fields and values.
        let reordered: Element = "<x xmlns='jabber:x:data' type='result'>\
            <field var='software_version'><value>0.11</value></field>\
            <field var='ip_version'><value>ipv6</value><value>ipv4</value></field>\
            <field var='os'><value>Mac</value></field>\
            <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
            <field var='os_version'><value>10.5.1</value></field>\
            <field var='software'><value>Psi</value></field></x>"
            .parse()
            .unwrap();
        let d2 = Disco { forms: vec![reordered], features: vec!["a"], ..Disco::default() };
        assert_eq!(d.caps_ver(), d2.caps_ver());
    }
}
