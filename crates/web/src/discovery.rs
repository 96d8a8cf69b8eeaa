//! XEP-0156: how a client that knows only the domain finds the WebSocket endpoint.

use crate::{Body, cors, secure_headers};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

const WEBSOCKET_REL: &str = "urn:xmpp:alt-connections:websocket";
const BOSH_REL: &str = "urn:xmpp:alt-connections:xbosh";

/// The endpoints on the host and scheme the request came in on: (WebSocket, BOSH).
fn endpoints(req: &Request<Incoming>, secure: bool) -> Option<(String, String)> {
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    // A Host header is a host and port at most; anything else is not echoed back.
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) {
        return None;
    }
    let (ws, http) = if secure { ("wss", "https") } else { ("ws", "http") };
    Some((format!("{ws}://{host}/xmpp-websocket"), format!("{http}://{host}/http-bind")))
}

/// `/.well-known/host-meta` (XRD) or `host-meta.json`.
pub(crate) fn host_meta(req: &Request<Incoming>, secure: bool, json: bool) -> Response<Body> {
    let Some((websocket, bosh)) = endpoints(req, secure) else {
        return crate::plain(StatusCode::BAD_REQUEST, "a Host header is needed");
    };
    let (body, kind) = if json {
        let links = [json!({ "rel": WEBSOCKET_REL, "href": websocket }), json!({ "rel": BOSH_REL, "href": bosh })];
        (json!({ "links": links }).to_string(), "application/json")
    } else {
        let escape = rhein_proto::xml::escape;
        let doc = format!(
            "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  \
             <Link rel='{WEBSOCKET_REL}' href='{}'/>\n  <Link rel='{BOSH_REL}' href='{}'/>\n</XRD>\n",
            escape(&websocket),
            escape(&bosh)
        );
        (doc, "application/xrd+xml")
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    secure_headers(&mut r);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    cors(&mut r);
    r
}

/// CORS preflight: discovery and uploaded files are public, BOSH and uploads are
/// authorised by their session id and slot id, so any origin may use them.
pub(crate) fn preflight() -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    secure_headers(&mut r);
    cors(&mut r);
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, PUT, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}
