//! XEP-0215: External Service Discovery — STUN and TURN servers for calls, with short-lived
//! TURN credentials derived from a secret shared with the TURN server (the "TURN REST API"
//! scheme coturn implements: username `expiry:jid`, password base64(HMAC-SHA1(secret, username))).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rhein_module::{Ctx, IqKind, IqResult, Module, ModuleError, Registry, Targets};
use rhein_proto::{Element, FullJid, StanzaError, time, xml};
use rhein_storage::now_ms;
use serde::Deserialize;
use sha1::Sha1;
use std::sync::Arc;

const NS: &str = "urn:xmpp:extdisco:2";

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
    let c = ExtDisco::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| ModuleError::Config { module: "extdisco", reason: e.to_string() })?;
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
        reg.feature(NS);
        let this = self.clone();
        reg.iq(IqKind::Get, Targets::Host, NS, "services", move |ctx, iq| this.clone().handle_services(ctx, iq))?;
        reg.iq(IqKind::Get, Targets::Host, NS, "credentials", move |ctx, iq| self.clone().handle_credentials(ctx, iq))
    }
}

impl ExtDisco {
    fn describe(&self, s: &Service, requester: &FullJid) -> Element {
        let mut el = xml::with_attr(Element::bare("service", NS), "type", s.kind.as_str());
        xml::set_attr(&mut el, "host", s.host.as_str());
        if let Some(p) = s.port {
            xml::set_attr(&mut el, "port", p.to_string());
        }
        if let Some(t) = &s.transport {
            xml::set_attr(&mut el, "transport", t.as_str());
        }
        if let Some(n) = &s.name {
            xml::set_attr(&mut el, "name", n.as_str());
        }
        if s.restricted {
            let expires_ms = now_ms() + (self.ttl_secs as i64) * 1000;
            let username = format!("{}:{}", expires_ms / 1000, requester.to_bare());
            let password = <Hmac<Sha1> as KeyInit>::new_from_slice(self.secret.as_bytes())
                .map(|m| {
                    base64::engine::general_purpose::STANDARD
                        .encode(m.chain_update(username.as_bytes()).finalize().into_bytes())
                })
                .unwrap_or_default();
            xml::set_attr(&mut el, "restricted", "1");
            xml::set_attr(&mut el, "username", username);
            xml::set_attr(&mut el, "password", password);
            xml::set_attr(&mut el, "expires", time::datetime(expires_ms));
        }
        el
    }

    fn requester(iq: &Element) -> Result<FullJid, StanzaError> {
        iq.attr("from").and_then(|f| FullJid::new(f).ok()).ok_or_else(StanzaError::bad_request)
    }

    async fn handle_services(self: Arc<Self>, _ctx: Ctx, iq: Element) -> IqResult {
        let requester = Self::requester(&iq)?;
        let filter = iq.get_child("services", NS).and_then(|s| s.attr("type"));
        let mut out = Element::bare("services", NS);
        if let Some(t) = filter {
            xml::set_attr(&mut out, "type", t);
        }
        for s in self.services.iter().filter(|s| filter.is_none_or(|t| t == s.kind)) {
            out.append_child(self.describe(s, &requester));
        }
        Ok(Some(out))
    }

    async fn handle_credentials(self: Arc<Self>, _ctx: Ctx, iq: Element) -> IqResult {
        let requester = Self::requester(&iq)?;
        let wanted = iq
            .get_child("credentials", NS)
            .and_then(|c| c.get_child("service", NS))
            .ok_or_else(StanzaError::bad_request)?;
        let service = self
            .services
            .iter()
            .find(|s| Some(s.kind.as_str()) == wanted.attr("type") && Some(s.host.as_str()) == wanted.attr("host"))
            .ok_or_else(StanzaError::item_not_found)?;
        let mut out = Element::bare("credentials", NS);
        out.append_child(self.describe(service, &requester));
        Ok(Some(out))
    }
}
