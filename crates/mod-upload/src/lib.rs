//! XEP-0363 HTTP File Upload: `upload.<host>` hands this server's users slots (a PUT and a
//! GET URL) for files up to a size limit and within a quota; rhein-web takes the PUT and
//! serves the GET; slots and their files expire.

use rhein_module::{
    Ctx, Current, Module, ModuleError, ModuleSpec, Reconfigure, Registry, Stanza, settings, storage_failure,
};
use rhein_proto::form::{field, form};
use rhein_proto::parsers::http_upload::{Get, Put, SlotRequest, SlotResult};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{Element, Jid, StanzaError, ns, xml};
use rhein_storage::{SlotRow, now_ms};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "upload", build }];

/// `[modules.upload]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// The service is `<subdomain>.<host>`.
    pub subdomain: String,
    /// Largest file, in bytes (announced in disco).
    pub max_file_size: i64,
    /// Bytes one account may hold in files not yet expired.
    pub quota: i64,
    /// Days files are kept.
    pub expire_days: u64,
    /// Overrides `expire_days` with seconds (short-lived servers, tests).
    pub expire_after_secs: Option<u64>,
    /// Origin of the PUT and GET URLs (default: the https listener, `https://<host>:<port>`).
    pub base_url: Option<String>,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            subdomain: "upload".into(),
            max_file_size: 100 * 1024 * 1024,
            quota: 1024 * 1024 * 1024,
            expire_days: 30,
            expire_after_secs: None,
            base_url: None,
        }
    }
}

/// How long files are kept.
fn retention(config: &UploadConfig) -> Duration {
    Duration::from_secs(config.expire_after_secs.unwrap_or(config.expire_days * 86_400))
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(Upload { config: Current::new(settings::parse("upload", table)?) }))
}

struct Upload {
    config: Current<UploadConfig>,
}

impl Module for Upload {
    fn name(&self) -> &'static str {
        "upload"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let subdomain = self.config.get().subdomain.clone();
        let this = self.clone();
        reg.service(&subdomain, move |ctx, el| this.clone().handle(ctx, el));
        reg.worker("upload-expiry", move |ctx| self.clone().expire(ctx));
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("upload", &self.config, table, &[("subdomain", |a, b| a.subdomain != b.subdomain)])
    }
}

impl Upload {
    async fn handle(self: Arc<Self>, ctx: Ctx, stanza: Stanza) {
        if stanza.kind != StanzaKind::Iq || stanza.is_answer() {
            return;
        }
        let reply = match self.answer(&ctx, &stanza).await {
            Ok(payload) => xml::iq_result(&stanza.el, Some(payload)),
            Err(e) => e.reply_to(&stanza.el),
        };
        ctx.router.route(reply).await;
    }

    async fn answer(&self, ctx: &Ctx, iq: &Stanza) -> Result<Element, StanzaError> {
        let payload = iq.el.children().next().ok_or_else(StanzaError::bad_request)?;
        match (iq.stanza_type(), payload.ns().as_str(), payload.name()) {
            (Some("get"), ns::DISCO_INFO, "query") => Ok(self.info()),
            (Some("get"), ns::DISCO_ITEMS, "query") => Ok(Element::bare("query", ns::DISCO_ITEMS)),
            (Some("get"), ns::HTTP_UPLOAD, "request") => {
                let request = rhein_module::payload(payload.clone())?;
                Ok(self.slot(ctx, &iq.from, request).await?.into())
            }
            _ => Err(StanzaError::service_unavailable()),
        }
    }

    /// Identity, feature, and the size limit (XEP-0363 §3).
    fn info(&self) -> Element {
        let mut q = Element::bare("query", ns::DISCO_INFO);
        let mut identity = xml::with_attr(Element::bare("identity", ns::DISCO_INFO), "category", "store");
        xml::set_attr(&mut identity, "type", "file");
        xml::set_attr(&mut identity, "name", "HTTP File Upload");
        q.append_child(identity);
        q.append_child(xml::with_attr(Element::bare("feature", ns::DISCO_INFO), "var", ns::HTTP_UPLOAD));
        let mut x = form("result", ns::HTTP_UPLOAD);
        x.append_child(field("max-file-size", "text-single", &[&self.config.get().max_file_size.to_string()]));
        q.append_child(x);
        q
    }

    /// A slot for a file, if the size and the account's quota allow (§4, §5).
    async fn slot(&self, ctx: &Ctx, from: &Jid, request: SlotRequest) -> Result<SlotResult, StanzaError> {
        let config = self.config.get();
        let from = from.try_as_full().map_err(|_| StanzaError::bad_request().with_text("send from a full JID"))?;
        if !ctx.router.is_local_host(from.domain().as_str()) {
            return Err(StanzaError::not_allowed().with_text("uploads are for this server's users"));
        }
        let filename = Some(sanitize(&request.filename)).filter(|f| !f.is_empty());
        let filename = filename.ok_or_else(|| StanzaError::bad_request().with_text("a filename is needed"))?;
        let size = i64::try_from(request.size).unwrap_or(i64::MAX);
        if size > config.max_file_size {
            let mut too_large = Element::bare("file-too-large", ns::HTTP_UPLOAD);
            too_large.append_child(xml::text_el("max-file-size", ns::HTTP_UPLOAD, config.max_file_size.to_string()));
            let text = format!("files are limited to {} bytes", config.max_file_size);
            return Err(StanzaError::not_acceptable().with_text(text).with_app(too_large));
        }
        let owner = from.to_bare().to_string();
        let since = now_ms() - retention(&config).as_millis() as i64;
        let used = ctx.db.uploads().used(&owner, since).await.map_err(storage_failure)?;
        if used + size > config.quota {
            return Err(StanzaError::resource_constraint().with_text("your upload quota is used up"));
        }
        let origin = config
            .base_url
            .clone()
            .or_else(|| ctx.server.web_origin.get().cloned())
            .ok_or_else(|| StanzaError::service_unavailable().with_text("no HTTPS listener is configured"))?;
        let slot = SlotRow {
            id: xml::random_id(),
            owner,
            filename: filename.clone(),
            size,
            content_type: request.content_type.unwrap_or_default(),
            created_at: now_ms(),
            stored: false,
        };
        ctx.db.uploads().create(&slot).await.map_err(storage_failure)?;
        let url = format!("{}/upload/{}/{}", origin.trim_end_matches('/'), slot.id, percent_encode(&filename));
        Ok(SlotResult { put: Put { url: url.clone(), headers: Vec::new() }, get: Get { url } })
    }

    fn retention(&self) -> Duration {
        retention(&self.config.get())
    }

    /// Removes expired slots and their files, every hour (or tenth of the retention).
    async fn expire(self: Arc<Self>, ctx: Ctx) {
        loop {
            let before = now_ms() - self.retention().as_millis() as i64;
            match ctx.db.uploads().expire(before).await {
                Ok(ids) => {
                    for id in ids {
                        let _ = tokio::fs::remove_dir_all(ctx.server.upload_dir.join(&id)).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
            }
            tokio::time::sleep((self.retention() / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))).await;
        }
    }
}

/// A file name safe as one path segment (no directories, no control characters).
fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars().filter(|c| !c.is_control()).collect::<String>().trim().trim_start_matches('.').to_owned()
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay).
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_their_slot() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("C:\\\\x\\\\photo.jpg"), "photo.jpg");
        assert_eq!(sanitize(".hidden"), "hidden");
        assert_eq!(percent_encode("my photo.jpg"), "my%20photo.jpg");
    }
}
