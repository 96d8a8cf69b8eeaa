//! Pages modules serve (`Registry::web`): the request read here, with a bounded body, handed
//! to the module whose prefix it is under, and its answer written with the headers every
//! response carries plus a content security policy that allows no script and nothing from
//! elsewhere.

use crate::{Body, WebShared, read_body, secure_headers};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rhein_module::web::{WebMethod, WebRequest};
use std::net::SocketAddr;

/// The largest form a page accepts.
const MAX_FORM: usize = 16 * 1024;

/// Pages are self-contained: inline styles and images (the QR code), forms posted back here.
const POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

/// The module's answer to `req`, or `None` when no module serves its path.
pub(crate) async fn serve(shared: &WebShared, peer: SocketAddr, req: Request<Incoming>) -> Option<Response<Body>> {
    let host = req.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok()).map(hostname).unwrap_or_default();
    let (ctx, handler) = shared.c2s.router.web_page(&host, req.uri().path())?;
    let method = match *req.method() {
        Method::GET => WebMethod::Get,
        Method::HEAD => WebMethod::Head,
        Method::POST => WebMethod::Post,
        _ => WebMethod::Other,
    };
    let (parts, body) = req.into_parts();
    let body = match method {
        WebMethod::Post => match read_body(body, MAX_FORM, shared.timeouts.body).await {
            Ok(bytes) => bytes.to_vec(),
            Err(e) => return Some(e.response()),
        },
        _ => Vec::new(),
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let request = WebRequest {
        method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
        peer: peer.ip(),
        secure: shared.tls.is_some(),
    };
    let answer = handler(ctx, request).await;
    let body = if method == WebMethod::Head { Vec::new() } else { answer.body };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    secure_headers(&mut response);
    let h = response.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    h.insert(hyper::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    h.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            h.append(name, value);
        }
    }
    Some(response)
}

/// The name in a Host header, without its port.
pub(crate) fn hostname(host: &str) -> String {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostnames_lose_their_port() {
        assert_eq!(super::hostname("Chat.Example.org:5281"), "chat.example.org");
        assert_eq!(super::hostname("[::1]:5281"), "::1");
        assert_eq!(super::hostname("localhost"), "localhost");
    }
}
