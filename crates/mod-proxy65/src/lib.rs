//! SOCKS5 Bytestreams proxy (XEP-0065): `proxy.<host>` tells clients where its SOCKS5
//! listener is, pairs the two connections of a transfer by the hash both send (SHA-1 of the
//! stream id, the requester's JID and the target's), and relays between them once the
//! requester activates the transfer. The hash includes the requester's JID as its server
//! stamped it, so nobody else can activate (or join) someone's transfer.

mod relay;
mod socks5;

use relay::{PerAddress, Refusal, Slot, Transfers};
use rhein_module::{Ctx, Module, ModuleError, ModuleSpec, Registry, Stanza};
use rhein_proto::bytestreams::{Query, StreamHost};
use rhein_proto::parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{Element, FullJid, Jid, StanzaError, ns, xml};
use serde::Deserialize;
use sha1::Digest;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "proxy65", build }];

/// `[modules.proxy65]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Proxy65Config {
    /// The service is `<subdomain>.<host>`.
    pub subdomain: String,
    /// Its name in service discovery.
    pub name: String,
    /// Where the SOCKS5 listener binds (one for every host).
    pub listen: SocketAddr,
    /// The address clients are told to connect to (default: the host's domain).
    pub host: Option<String>,
    /// The port clients are told (default: the listener's).
    pub port: Option<u16>,
    /// Only this server's accounts may use the proxy.
    pub local_only: bool,
    /// Transfers one account may have at once.
    pub max_transfers_per_account: usize,
    /// Bytes per second one account's transfers move together (0: no limit).
    pub bytes_per_second: u64,
    /// A transfer that moves nothing for this long ends.
    pub idle_timeout_secs: u64,
    /// A connection not activated within this long is dropped.
    pub activation_timeout_secs: u64,
    /// Connections that may wait for activation (or be in SOCKS5 negotiation), all together.
    pub max_waiting: usize,
    /// Of those, from one address.
    pub max_waiting_per_address: usize,
    /// Transfers under way at once, all accounts together.
    pub max_transfers: usize,
}

impl Default for Proxy65Config {
    fn default() -> Self {
        Self {
            subdomain: "proxy".into(),
            name: "SOCKS5 Bytestreams Service".into(),
            listen: SocketAddr::from(([0, 0, 0, 0], 5000)),
            host: None,
            port: None,
            local_only: true,
            max_transfers_per_account: 5,
            bytes_per_second: 10 * 1024 * 1024,
            idle_timeout_secs: 60,
            activation_timeout_secs: 60,
            max_waiting: 1000,
            max_waiting_per_address: 20,
            max_transfers: 1000,
        }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    let config = rhein_module::settings::parse::<Proxy65Config>("proxy65", table)?;
    let transfers =
        Arc::new(Transfers::new(config.max_waiting, config.max_transfers_per_account, config.max_transfers));
    Ok(Arc::new(Proxy {
        config,
        transfers,
        per_address: Default::default(),
        bound: OnceLock::new(),
        listening: AtomicBool::new(false),
    }))
}

struct Proxy {
    config: Proxy65Config,
    transfers: Arc<Transfers>,
    /// Connections negotiating or waiting, by address.
    per_address: Arc<PerAddress>,
    /// The listener's address, once bound.
    bound: OnceLock<SocketAddr>,
    /// One host's worker runs the listener for all.
    listening: AtomicBool,
}

impl Module for Proxy {
    fn name(&self) -> &'static str {
        "proxy65"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let subdomain = self.config.subdomain.clone();
        let this = self.clone();
        reg.service(&subdomain, move |ctx, stanza| this.clone().handle(ctx, stanza));
        reg.worker("proxy65", move |_| self.clone().listen());
        Ok(())
    }
}

impl Proxy {
    /// Accepts SOCKS5 connections, and drops those left waiting, until the server stops.
    async fn listen(self: Arc<Self>) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let listener = match TcpListener::bind(self.config.listen).await {
            Ok(listener) => listener,
            Err(e) => return tracing::error!(addr = %self.config.listen, error = %e, "proxy65 cannot listen"),
        };
        let Ok(addr) = listener.local_addr() else { return };
        let _ = self.bound.set(addr);
        tracing::info!(%addr, "SOCKS5 bytestreams proxy listening");
        let negotiating = Arc::new(tokio::sync::Semaphore::new(self.config.max_waiting));
        let activation = Duration::from_secs(self.config.activation_timeout_secs);
        let mut sweep = tokio::time::interval(activation.min(Duration::from_secs(5)).max(Duration::from_millis(100)));
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Out of descriptors, most likely: give the others time to close.
                            tracing::warn!(error = %e, "proxy65 accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    // Beyond the limits, a connection is closed at once.
                    let Ok(permit) = negotiating.clone().try_acquire_owned() else { continue };
                    let Some(slot) = self.per_address.take(peer.ip(), self.config.max_waiting_per_address) else {
                        continue;
                    };
                    let transfers = self.transfers.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(HANDSHAKE, arrive(&transfers, stream, slot)).await;
                        drop(permit);
                    });
                }
                _ = sweep.tick() => self.transfers.expire(activation),
            }
        }
    }

    /// Everything addressed to `proxy.<host>`.
    async fn handle(self: Arc<Self>, ctx: Ctx, stanza: Stanza) {
        if stanza.kind != StanzaKind::Iq || stanza.is_answer() {
            return;
        }
        let reply = match self.answer(&ctx, &stanza).await {
            Ok(payload) => xml::iq_result(&stanza.el, payload),
            Err(e) => e.reply_to(&stanza.el),
        };
        ctx.router.route(reply).await;
    }

    async fn answer(&self, ctx: &Ctx, iq: &Stanza) -> Result<Option<Element>, StanzaError> {
        let payload = iq.el.children().next().ok_or_else(StanzaError::bad_request)?;
        match (iq.stanza_type(), payload.ns().as_str(), payload.name()) {
            (Some("get"), ns::DISCO_INFO, "query") => Ok(Some(self.info().into())),
            (Some("get"), ns::DISCO_ITEMS, "query") => {
                Ok(Some(DiscoItemsResult { node: None, items: Vec::new(), rsm: None }.into()))
            }
            (Some(kind @ ("get" | "set")), ns::BYTESTREAMS, "query") => {
                let query: Query = rhein_module::payload(payload.clone())?;
                let from = self.user(ctx, &iq.from)?;
                match kind {
                    "get" => Ok(Some(self.streamhost(ctx, &iq.to)?.into())),
                    _ => self.activate(&from, query).map(|()| None),
                }
            }
            _ => Err(StanzaError::service_unavailable()),
        }
    }

    fn info(&self) -> DiscoInfoResult {
        DiscoInfoResult {
            node: None,
            identities: vec![Identity {
                category: "proxy".into(),
                type_: "bytestreams".into(),
                lang: None,
                name: Some(self.config.name.clone()),
            }],
            features: [ns::DISCO_INFO.to_owned(), ns::BYTESTREAMS.to_owned()].into(),
            extensions: Vec::new(),
        }
    }

    /// Who may use the proxy: a client (full JID), of this server unless `local_only` is off.
    fn user(&self, ctx: &Ctx, from: &Jid) -> Result<FullJid, StanzaError> {
        let from = from.try_as_full().map_err(|_| StanzaError::bad_request().with_text("send from a full JID"))?;
        if self.config.local_only && !ctx.router.is_local_host(from.domain().as_str()) {
            return Err(StanzaError::forbidden().with_text("this proxy is for the server's own users"));
        }
        Ok(from.clone())
    }

    /// §4: the proxy's network address.
    fn streamhost(&self, ctx: &Ctx, proxy: &Jid) -> Result<Query, StanzaError> {
        let Some(bound) = self.bound.get() else {
            return Err(StanzaError::not_allowed().with_text("the proxy is not listening"));
        };
        let host = self.config.host.clone().unwrap_or_else(|| ctx.host.to_string());
        let streamhost = StreamHost { jid: proxy.clone(), host, port: Some(self.config.port.unwrap_or(bound.port())) };
        Ok(Query { streamhosts: vec![streamhost], ..Query::default() })
    }

    /// §6.3.5: the requester joins its connection to the target's.
    fn activate(&self, requester: &FullJid, query: Query) -> Result<(), StanzaError> {
        let sid = query.sid.ok_or_else(|| StanzaError::bad_request().with_text("activation needs a sid"))?;
        let target = query.activate.ok_or_else(|| StanzaError::bad_request().with_text("activate whom?"))?;
        let target = Jid::new(target.trim()).map_err(|_| StanzaError::jid_malformed().with_text("activate a JID"))?;
        let hash = transfer_hash(&sid, requester.as_str(), target.as_str());
        let idle = Duration::from_secs(self.config.idle_timeout_secs);
        let account = requester.to_bare();
        self.transfers.activate(&hash, &account, self.config.bytes_per_second, idle).map_err(
            |refusal| match refusal {
                Refusal::Unknown => {
                    StanzaError::not_authorized().with_text("no connections for this sid, requester and target")
                }
                Refusal::OneSided => StanzaError::not_allowed().with_text("only the target is connected"),
                Refusal::TooMany => StanzaError::resource_constraint().with_text("too many transfers of yours at once"),
                Refusal::Taken | Refusal::Full => StanzaError::internal_server_error(),
            },
        )?;
        tracing::debug!(%requester, %target, "bytestream activated");
        Ok(())
    }
}

/// How long a client has to say which transfer it is for.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A connection's SOCKS5 negotiation, and its place among those waiting.
async fn arrive(transfers: &Transfers, mut stream: TcpStream, slot: Slot) {
    let hash = match socks5::read_request(&mut stream).await {
        Ok(hash) => hash,
        Err(socks5::Refused::Told(code)) => return tracing::debug!(?code, "SOCKS5 request refused"),
        Err(socks5::Refused::Io) => return,
    };
    let confirm = async |stream: &mut TcpStream| socks5::reply(stream, socks5::Reply::Succeeded, &hash).await;
    if let Err((mut stream, refusal)) = transfers.arrive(&hash, stream, slot, confirm).await {
        tracing::debug!(?refusal, "SOCKS5 connection refused");
        let code = match refusal {
            Refusal::Full => socks5::Reply::GeneralFailure,
            _ => socks5::Reply::NotAllowed,
        };
        let _ = socks5::reply(&mut stream, code, &hash).await;
    }
}

/// XEP-0065 §5.3.2: SHA-1 of stream id, requester JID and target JID, in lowercase hex.
fn transfer_hash(sid: &str, requester: &str, target: &str) -> String {
    let digest = sha1::Sha1::digest(format!("{sid}{requester}{target}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::transfer_hash;

    #[test]
    fn the_hash_is_the_xeps() {
        // The XEP's §5.3.2 inputs give a known SHA-1 (checked with `sha1sum`).
        assert_eq!(
            transfer_hash("vxf9n471bn46", "requester@example.com/foo", "target@example.org/bar"),
            "98b8d688d0f5d895fd41c5e7309a2e9e33ba32ff"
        );
    }
}
