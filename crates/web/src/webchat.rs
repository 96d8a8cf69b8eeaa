//! A web client served by the server itself: Converse.js from its npm package, installed in
//! `[web] webchat_dir` (deploy/webchat.sh; never fetched at run time), at `/webchat/`, set up
//! for the host it is reached as: WebSocket on this listener, the domain locked, and the room
//! of `?room=` joined on login (the link room landing pages give).

use crate::{Body, WebShared, plain, secure_headers};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::path::{Component, Path};

/// `/webchat` and everything under it, when a webchat directory is configured.
pub(crate) async fn serve(shared: &WebShared, req: &Request<Incoming>) -> Response<Body> {
    let Some(dir) = &shared.webchat_dir else { return plain(StatusCode::NOT_FOUND, "not found") };
    let path = req.uri().path();
    match path.strip_prefix("/webchat/dist/") {
        Some(file) => asset(dir, file).await,
        None if path == "/webchat" || path == "/webchat/" => index(shared, req),
        None => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The page that starts Converse. The domain is the host the browser asked for, when it is
/// ours.
fn index(shared: &WebShared, req: &Request<Incoming>) -> Response<Body> {
    let asked = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(crate::pages::hostname);
    let hosts = &shared.c2s.config.hosts;
    let host = asked.filter(|h| hosts.contains(h)).or_else(|| hosts.first().cloned()).unwrap_or_default();
    let scheme = if shared.tls.is_some() { "wss" } else { "ws" };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{host}</title>
<link rel="stylesheet" href="/webchat/dist/converse.min.css">
<script type="module" src="/webchat/dist/converse.min.js"></script>
</head>
<body class="converse-fullscreen">
<script type="module">
const room = new URLSearchParams(location.search).get('room');
converse.initialize({{
  assets_path: '/webchat/dist/',
  view_mode: 'fullscreen',
  websocket_url: '{scheme}://' + location.host + '/xmpp-websocket',
  discover_connection_methods: false,
  locked_domain: '{host}',
  auto_reconnect: true,
  auto_join_rooms: room ? [room] : [],
  muc_nickname_from_jid: true,
  allow_registration: false,
}});
</script>
</body>
</html>
"#
    );
    let mut r = Response::new(Full::new(Bytes::from(html)));
    secure_headers(&mut r);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A file of the package's `dist/`; nothing outside it.
async fn asset(dir: &Path, file: &str) -> Response<Body> {
    let relative = Path::new(file);
    let inside = relative.components().all(|c| matches!(c, Component::Normal(_))) && !file.contains('\\');
    if file.is_empty() || !inside {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let Ok(bytes) = tokio::fs::read(dir.join("dist").join(relative)).await else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    secure_headers(&mut r);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(relative)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}
