//! RFC 7395: the WebSocket handshake with the `xmpp` subprotocol, and a bridge between the
//! WebSocket's one-element-per-message framing and the byte stream the c2s engine speaks.
//! The c2s side sees a plain XMPP stream (`Conn::Bridged`); `<open/>` and `<close/>` are
//! translated to and from stream headers here.

use crate::{Body, WebShared, plain, secure_headers};
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use rhein_proto::{Element, ns, xml};
use rhein_stream::{Conn, Frame, Framer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub(crate) const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

fn header_has(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Answers the upgrade request and, once upgraded, runs the session.
pub(crate) fn upgrade(shared: Arc<WebShared>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()));
    let is_upgrade = header_has(&req, header::UPGRADE, "websocket") && header_has(&req, header::CONNECTION, "upgrade");
    let (Some(accept), true) = (key, is_upgrade) else {
        return plain(StatusCode::BAD_REQUEST, "this endpoint speaks XMPP over WebSocket (RFC 7395)");
    };
    if !header_has(&req, header::SEC_WEBSOCKET_PROTOCOL, "xmpp") {
        return plain(StatusCode::BAD_REQUEST, "the WebSocket subprotocol must be xmpp");
    }
    let max = shared.max_message;
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default().max_message_size(Some(max)).max_frame_size(Some(max));
                let io = hyper_util::rt::TokioIo::new(upgraded);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                bridge(ws, shared, peer).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    secure_headers(&mut r);
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("xmpp"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// Runs a c2s session over the WebSocket until either side ends.
async fn bridge<S>(ws: WebSocketStream<S>, shared: Arc<WebShared>, peer: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let conn = Conn::Bridged { io: theirs, secure: shared.tls.is_some() };
    let session = tokio::spawn(rhein_c2s::serve_bridged(shared.c2s.clone(), conn, peer));
    pump(ws, ours, shared.max_message).await;
    let _ = session.await;
}

/// Moves messages between the WebSocket and the c2s byte stream, translating framing.
async fn pump<S>(ws: WebSocketStream<S>, ours: tokio::io::DuplexStream, max: usize)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut from_c2s, mut to_c2s) = tokio::io::split(ours);
    // What the c2s engine writes is parsed back into elements, one per WebSocket message.
    let mut outgoing = Framer::new(max.max(1024 * 1024) * 4);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            msg = ws_rx.next() => {
                let bytes = match msg {
                    Some(Ok(Message::Text(text))) => into_stream(text.as_str()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    // Binary frames are not XMPP (RFC 7395 §3.2); the stream ends like a close.
                    Some(Ok(Message::Binary(_) | Message::Close(_))) | Some(Err(_)) | None => {
                        let _ = to_c2s.write_all(b"</stream:stream>").await;
                        break;
                    }
                };
                if to_c2s.write_all(bytes.as_bytes()).await.is_err() {
                    break;
                }
            }
            n = from_c2s.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut ended = false;
                for message in from_stream(&mut outgoing, &buf[..n], &mut ended) {
                    if ws_tx.send(Message::text(message)).await.is_err() {
                        return;
                    }
                }
                if ended {
                    break;
                }
            }
        }
    }
    let _ = ws_tx.send(Message::Close(None)).await;
    let _ = ws_tx.close().await;
}

/// A client's WebSocket message as stream bytes: `<open/>` becomes a stream header,
/// `<close/>` the stream's end, anything else passes as is (the c2s framer checks it).
fn into_stream(text: &str) -> String {
    let trimmed = text.trim_start();
    let framing = trimmed.starts_with("<open") || trimmed.starts_with("<close");
    if framing && let Ok(el) = trimmed.parse::<Element>() {
        if el.is("close", FRAMING) {
            return "</stream:stream>".into();
        }
        if el.is("open", FRAMING) {
            let to = el.attr("to").map(|t| format!(" to='{}'", xml::escape(t))).unwrap_or_default();
            let version = el.attr("version").map(|v| format!(" version='{}'", xml::escape(v))).unwrap_or_default();
            return format!(
                "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}'{to}{version}>",
                ns::CLIENT,
                ns::STREAM
            );
        }
    }
    text.to_owned()
}

/// Stream bytes from the c2s engine as WebSocket messages. Each stream header (a new one
/// follows SASL) starts a new document, so the parser starts over at every `<?xml` (which
/// cannot occur unescaped anywhere else).
fn from_stream(framer: &mut Framer, bytes: &[u8], ended: &mut bool) -> Vec<String> {
    let mut out = Vec::new();
    for segment in split_before_headers(bytes) {
        if segment.starts_with(b"<?xml") {
            *framer = Framer::new(framer.max_element());
        }
        framer.push(segment);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Open(header))) => out.push(xml::to_string(&open_element(&header))),
                Ok(Some(Frame::Element(el))) => out.push(xml::to_string(&el)),
                Ok(Some(Frame::Close)) => {
                    out.push(xml::to_string(&Element::bare("close", FRAMING)));
                    *ended = true;
                    return out;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "unparsable output from the c2s engine");
                    *ended = true;
                    return out;
                }
            }
        }
    }
    out
}

/// `bytes` cut before each `<?xml`.
fn split_before_headers(bytes: &[u8]) -> Vec<&[u8]> {
    const MARK: &[u8] = b"<?xml";
    let mut cuts: Vec<usize> =
        bytes.windows(MARK.len()).enumerate().filter(|(_, w)| *w == MARK).map(|(i, _)| i).collect();
    cuts.retain(|&i| i > 0);
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts {
        out.push(&bytes[from..cut]);
        from = cut;
    }
    out.push(&bytes[from..]);
    out
}

/// The server's stream header as `<open/>` (RFC 7395 §3.4).
fn open_element(header: &Element) -> Element {
    let mut open = Element::bare("open", FRAMING);
    for name in ["from", "to", "id", "version"] {
        if let Some(v) = header.attr(name) {
            xml::set_attr(&mut open, name, v);
        }
    }
    open
}
