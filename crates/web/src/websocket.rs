//! RFC 7395: the WebSocket handshake with the `xmpp` subprotocol, and a bridge between the
//! WebSocket's one-element-per-message framing and the byte stream the c2s engine speaks.
//! The c2s side sees a plain XMPP stream (`Conn::Bridged`); `<open/>` and `<close/>` are
//! translated to and from stream headers here.

use crate::bridge::{self, Out, Output};
use crate::{Body, WebShared, plain, secure_headers};
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use rhein_proto::{Element, ns, xml};
use rhein_stream::{FrameLimits, Refused};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

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
    // Refused before the upgrade, so a refused client costs no session; every WebSocket
    // client reports a failed handshake as a failed connection and retries later.
    let slot = match shared.sessions.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(why) => {
            tracing::warn!(%peer, "WebSocket refused: {why}");
            return match why {
                Refused::Address => plain(StatusCode::TOO_MANY_REQUESTS, "too many connections from your address"),
                Refused::Full => plain(StatusCode::SERVICE_UNAVAILABLE, "the server is at its connection limit"),
            };
        }
    };
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
        drop(slot);
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

/// Runs a c2s session over the WebSocket until either side ends. The session is not awaited:
/// after a lost connection it may hibernate (XEP-0198) long after the WebSocket is gone.
async fn bridge<S>(ws: WebSocketStream<S>, shared: Arc<WebShared>, peer: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ours, _) = bridge::start(&shared, peer, rhein_c2s::Transport::Websocket);
    pump(ws, ours, shared.frame_limits()).await;
}

/// Moves messages between the WebSocket and the c2s byte stream, translating framing.
///
/// The two directions run side by side: a client writing a big stanza while the server
/// writes to it must not wait on each other, and whatever the server says last (a stream
/// error) reaches the client even when the client's side has ended.
///
/// Only the client's `<close/>` ends the stream. A WebSocket that breaks or closes without it
/// is a lost connection (RFC 7395 §3.6): the c2s end just stops getting bytes, as when a TCP
/// client vanishes, so a session with XEP-0198 resumption hibernates instead of logging out.
async fn pump<S>(ws: WebSocketStream<S>, ours: tokio::io::DuplexStream, limits: FrameLimits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut from_c2s, mut to_c2s) = tokio::io::split(ours);
    let inbound = async move {
        while let Some(msg) = ws_rx.next().await {
            let bytes = match msg {
                Ok(Message::Text(text)) => into_stream(text.as_str(), limits),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                // Binary frames are not XMPP (RFC 7395 §3.2): the client ends its stream.
                Ok(Message::Binary(_)) => {
                    let _ = to_c2s.write_all(b"</stream:stream>").await;
                    break;
                }
                Ok(Message::Close(_)) | Err(_) => break,
            };
            if to_c2s.write_all(bytes.as_bytes()).await.is_err() {
                break;
            }
        }
        // End of input for c2s: a lost connection, unless the client closed its stream first.
        let _ = to_c2s.shutdown().await;
    };
    let outbound = async move {
        let mut output = Output::new(limits);
        let mut buf = vec![0u8; 16 * 1024];
        'stream: loop {
            let n = match from_c2s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for out in output.feed(&buf[..n]) {
                let (message, last) = match out {
                    Out::Open(header) => (xml::to_string(&open_element(&header)), false),
                    Out::Element(el) => (xml::to_string(&el), false),
                    Out::Close => (xml::to_string(&Element::bare("close", ns::FRAMING)), true),
                };
                if ws_tx.send(Message::text(message)).await.is_err() {
                    return;
                }
                if last {
                    break 'stream;
                }
            }
        }
        let _ = ws_tx.send(Message::Close(None)).await;
        let _ = ws_tx.close().await;
    };
    tokio::pin!(outbound);
    tokio::select! {
        () = &mut outbound => {}
        // The client is done: the server still has its last word.
        () = inbound => outbound.await,
    }
}

/// A client's WebSocket message as stream bytes: `<open/>` becomes a stream header,
/// `<close/>` the stream's end, anything else passes as is (the c2s framer checks it).
fn into_stream(text: &str, limits: FrameLimits) -> String {
    let trimmed = text.trim_start();
    let framing = trimmed.starts_with("<open") || trimmed.starts_with("<close");
    if framing && let Ok(el) = rhein_stream::parse_element(trimmed.as_bytes(), limits) {
        if el.is("close", ns::FRAMING) {
            return "</stream:stream>".into();
        }
        if el.is("open", ns::FRAMING) {
            return bridge::stream_header(el.attr("to"));
        }
    }
    text.to_owned()
}

/// The server's stream header as `<open/>` (RFC 7395 §3.4).
fn open_element(header: &Element) -> Element {
    let mut open = Element::bare("open", ns::FRAMING);
    for name in ["from", "to", "id", "version"] {
        if let Some(v) = header.attr(name) {
            xml::set_attr(&mut open, name, v);
        }
    }
    open
}
