//! XEP-0215: External Service Discovery — STUN and TURN servers for calls, with short-lived
//! TURN credentials derived from a secret shared with the TURN server (the "TURN REST API"
//! scheme coturn implements: username `expiry:jid`, password base64(HMAC-SHA1(secret, username))).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rhein_module::{Iq, IqResult, Module, ModuleError, Registry, Targets};
use rhein_proto::extdisco::{self as wire, Credentials, Restricted, Services};
use rhein_proto::{BareJid, StanzaError, ns, time};
use rhein_storage::now_ms;
use serde::Deserialize;
use sha1::Sha1;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    #[serde(rename = "type")]
    kind: String,
    host: String,
    port: Option<u16>,
    transport: Option<String>,
    name: Option<String>,
    /// Needs credentials (derived from the shared secret).
    #[serde(default)]
    restricted: bool,
}

/// `[modules.extdisco]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtDisco {
    /// Shared with the TURN server (coturn's `static-auth-secret`).
    #[serde(default)]
    secret: String,
    #[serde(default = "default_ttl")]
    ttl_secs: u64,
    #[serde(default)]
    services: Vec<Service>,
}

fn default_ttl() -> u64 {
    86_400
}

pub(crate) fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    let c = rhein_module::settings::parse::<ExtDisco>("extdisco", table)?;
    if c.services.iter().any(|s| s.restricted) && c.secret.is_empty() {
        return Err(ModuleError::Config { module: "extdisco", reason: "restricted services need a secret".into() });
    }
    Ok(Arc::new(c))
}

impl Module for ExtDisco {
    fn name(&self) -> &'static str {
        "extdisco"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.feature(ns::EXTDISCO);
        let this = self.clone();
        reg.get(Targets::Host, move |_, iq: Iq<Services>| this.clone().handle_services(iq))?;
        reg.get(Targets::Host, move |_, iq: Iq<Credentials>| self.clone().handle_credentials(iq))
    }
}

impl ExtDisco {
    /// `s` as the requester sees it: with fresh credentials when it is restricted.
    fn describe(&self, s: &Service, requester: &BareJid) -> wire::Service {
        let mut service = wire::Service {
            kind: s.kind.clone(),
            host: s.host.clone(),
            port: s.port,
            transport: s.transport.clone(),
            name: s.name.clone(),
            ..Default::default()
        };
        if s.restricted {
            let expires_ms = now_ms() + (self.ttl_secs as i64) * 1000;
            let username = format!("{}:{requester}", expires_ms / 1000);
            let password = <Hmac<Sha1> as KeyInit>::new_from_slice(self.secret.as_bytes())
                .map(|m| {
                    base64::engine::general_purpose::STANDARD
                        .encode(m.chain_update(username.as_bytes()).finalize().into_bytes())
                })
                .unwrap_or_default();
            service.restricted = Some(Restricted);
            service.username = Some(username);
            service.password = Some(password);
            service.expires = Some(time::datetime(expires_ms));
        }
        service
    }

    async fn handle_services(self: Arc<Self>, iq: Iq<Services>) -> IqResult {
        let requester = iq.from.to_bare();
        let kind = iq.payload.kind;
        let services = self
            .services
            .iter()
            .filter(|s| kind.as_ref().is_none_or(|k| *k == s.kind))
            .map(|s| self.describe(s, &requester))
            .collect();
        Ok(Some(Services { kind, services }.into()))
    }

    async fn handle_credentials(self: Arc<Self>, iq: Iq<Credentials>) -> IqResult {
        let requester = iq.from.to_bare();
        let wanted =
            iq.payload.services.first().ok_or_else(|| StanzaError::bad_request().with_text("name a service"))?;
        let service = self
            .services
            .iter()
            .find(|s| s.kind == wanted.kind && s.host == wanted.host)
            .ok_or_else(StanzaError::item_not_found)?;
        Ok(Some(Credentials { services: vec![self.describe(service, &requester)] }.into()))
    }
}
