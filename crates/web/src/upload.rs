//! The HTTP half of XEP-0363: one PUT fills a slot handed out over XMPP (exactly the announced
//! size and type, once), GET serves it to anyone with the URL.

use crate::{Body, WebShared, cors, plain, secure_headers};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// `/upload/<slot>/<file name>` → (slot, decoded file name).
fn parse_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/upload/")?;
    let (slot, name) = rest.split_once('/')?;
    let name = percent_decode(name)?;
    let valid = !slot.is_empty() && slot.chars().all(|c| c.is_ascii_hexdigit()) && !name.contains('/');
    valid.then(|| (slot.to_owned(), name))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn status(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = plain(code, text);
    cors(&mut r);
    r
}

/// `PUT`: the slot must exist, match the name, be empty, and get exactly its size.
pub(crate) async fn put(shared: Arc<WebShared>, req: Request<Incoming>) -> Response<Body> {
    let Some((id, name)) = parse_path(req.uri().path()) else { return status(StatusCode::NOT_FOUND, "no such slot") };
    let slot = match shared.db.uploads().get(&id).await {
        Ok(Some(slot)) if slot.filename == name => slot,
        Ok(_) => return status(StatusCode::NOT_FOUND, "no such slot"),
        Err(e) => {
            tracing::error!(error = %e, "upload lookup failed");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "storage failure");
        }
    };
    if slot.stored {
        return status(StatusCode::CONFLICT, "this slot is already used");
    }
    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
    match length {
        Some(n) if n > slot.size => return status(StatusCode::PAYLOAD_TOO_LARGE, "larger than the slot"),
        Some(n) if n == slot.size => {}
        _ => return status(StatusCode::BAD_REQUEST, "Content-Length must be the slot's size"),
    }
    let given_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !slot.content_type.is_empty() && !given_type.is_empty() && given_type != slot.content_type {
        return status(StatusCode::BAD_REQUEST, "Content-Type differs from the slot's");
    }
    let data = match crate::read_body(req.into_body(), slot.size as usize, shared.timeouts.body).await {
        Ok(b) => b,
        Err(e) => {
            let mut r = e.response();
            cors(&mut r);
            return r;
        }
    };
    if data.len() as i64 != slot.size {
        return status(StatusCode::BAD_REQUEST, "the body is not the slot's size");
    }
    let dir = shared.upload_dir.join(&slot.id);
    let written = async {
        tokio::fs::create_dir_all(&dir).await?;
        let mut file = tokio::fs::File::create(dir.join(&slot.filename)).await?;
        file.write_all(&data).await?;
        // What was acknowledged is on disk.
        file.sync_all().await
    };
    if let Err(e) = written.await {
        tracing::error!(error = %e, "storing an upload failed");
        return status(StatusCode::INTERNAL_SERVER_ERROR, "storage failure");
    }
    match shared.db.uploads().mark_stored(&slot.id).await {
        Ok(true) => {
            rhein_metrics::metrics().upload_bytes.inc_by(data.len() as u64);
            status(StatusCode::CREATED, "stored")
        }
        Ok(false) => status(StatusCode::CONFLICT, "this slot is already used"),
        Err(e) => {
            tracing::error!(error = %e, "upload bookkeeping failed");
            status(StatusCode::INTERNAL_SERVER_ERROR, "storage failure")
        }
    }
}

/// `GET` (and `HEAD`): a stored file, as a download that cannot run as a page of this origin.
pub(crate) async fn get(shared: Arc<WebShared>, req: Request<Incoming>) -> Response<Body> {
    let Some((id, name)) = parse_path(req.uri().path()) else { return status(StatusCode::NOT_FOUND, "not found") };
    let slot = match shared.db.uploads().get(&id).await {
        Ok(Some(slot)) if slot.stored && slot.filename == name => slot,
        _ => return status(StatusCode::NOT_FOUND, "not found"),
    };
    let data = match tokio::fs::read(shared.upload_dir.join(&slot.id).join(&slot.filename)).await {
        Ok(d) => d,
        Err(_) => return status(StatusCode::NOT_FOUND, "not found"),
    };
    let body = if req.method() == hyper::Method::HEAD { Bytes::new() } else { Bytes::from(data) };
    let mut r = Response::new(Full::new(body));
    secure_headers(&mut r);
    cors(&mut r);
    let kind = if slot.content_type.is_empty() { "application/octet-stream" } else { slot.content_type.as_str() };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Uploaded HTML or SVG must not run scripts with this server's origin.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_slot_and_one_file() {
        assert_eq!(parse_path("/upload/abc123/my%20photo.jpg"), Some(("abc123".into(), "my photo.jpg".into())));
        assert_eq!(parse_path("/upload/abc123/a%2Fb"), None, "no slashes smuggled in");
        assert_eq!(parse_path("/upload/../x/y"), None);
        assert_eq!(parse_path("/upload/abc"), None);
    }
}
