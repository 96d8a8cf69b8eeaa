//! What one peer may send, on every transport, before and after authentication: nesting
//! depth, attributes, stanza and header size, and the stream-level points of RFC 6120 §4
//! and §11 (text before the header, duplicate attributes, encodings). Whatever a peer sends,
//! it alone is closed and everyone else carries on.

use futures::{SinkExt, StreamExt};
use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

/// A message nested `levels` deep (the message itself is level 1).
fn nested(levels: usize, to: &str) -> String {
    // Short tags: 10,000 levels in 70 KB, as an attacker would send them.
    let inner = format!("<a xmlns='urn:example:deep'>{}", "<a>".repeat(levels - 2)) + &"</a>".repeat(levels - 1);
    format!("<message to='{to}' type='chat' id='deep'><body>deep</body>{inner}</message>")
}

/// Writes `data` on a fresh TCP connection and reads until the server closes it.
async fn raw_exchange(addr: std::net::SocketAddr, data: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // The server may close before it read everything: a failed write is part of the answer.
    let _ = tcp.write_all(data).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("the server closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// The server still serves: a fresh login answers a ping.
async fn still_serving(server: &TestServer) {
    let mut c = server.client("bob", "pw").await;
    let pong = c.iq("<iq type='get' id='alive' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(pong.attr("type"), Some("result"));
}

/// Levels of the deepest branch of `el` (`el` itself is level 1).
fn depth(el: &Element) -> usize {
    1 + el.children().map(depth).max().unwrap_or(0)
}

fn server() -> rhein_testkit::TestServerBuilder {
    TestServer::builder().user("alice", "pw").user("bob", "pw")
}

#[tokio::test]
async fn deep_nesting_is_refused_before_and_after_login() {
    let server = server().start().await;
    // 10,000 levels before authentication: once enough to abort the process.
    let reply =
        raw_exchange(server.c2s_addr(), format!("{HEADER}{}", nested(10_000, "bob@localhost")).as_bytes()).await;
    assert!(reply.contains("<policy-violation"), "{reply}");
    assert!(reply.contains("nested deeper than 128"), "{reply}");

    let mut alice = server.client("alice", "pw").await;
    alice.send(&nested(129, "bob@localhost")).await;
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
    still_serving(&server).await;
}

#[tokio::test]
async fn the_deepest_stanza_allowed_is_routed_stored_and_archived() {
    let server = server().start().await;
    let mut alice = server.client("alice", "pw").await;
    // Bob is offline: the message is stored, then delivered at his login, and archived on
    // both sides (every copy walks the whole tree).
    alice.send(&nested(128, "bob@localhost")).await;
    // Answered once the message before it was handled: stored, not delivered live.
    alice.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;
    let got = bob.expect(|e| e.attr("id") == Some("deep")).await;
    assert!(got.get_child("delay", ns::DELAY).is_some(), "from offline storage");
    assert_eq!(depth(&got), 128, "the whole tree");
    let query = "<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='f'/></iq>";
    bob.send(query).await;
    let archived = bob.expect(|e| e.name() == "message" && e.get_child("result", "urn:xmpp:mam:2").is_some()).await;
    assert_eq!(depth(&archived), 128 + 3, "the whole tree, in result and forwarded");
    bob.expect(|e| e.attr("id") == Some("q")).await;
}

#[tokio::test]
async fn deep_nesting_is_refused_over_bosh_and_websocket() {
    let server = server().web().start().await;
    let addr = server.http_addr();
    // A 70 KB BOSH request of 10,000 levels, no session, no account.
    let body = format!(
        "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' wait='5' hold='1'>{}</body>",
        nested(10_000, "bob@localhost")
    );
    let request = format!(
        "POST /http-bind HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = raw_exchange(addr, request.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    // Over WebSocket: an <open/> with a deep tree, then a deep stanza.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/xmpp-websocket").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    let deep_open = format!(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'>{}</open>",
        "<x>".repeat(10_000) + &"</x>".repeat(10_000)
    );
    ws.send(Message::text(deep_open)).await.unwrap();
    // Not an <open/> the server can read: the bytes go to the stream as they are, where the
    // framer refuses them, and the WebSocket is closed.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    });
    ended.await.expect("the server closes the WebSocket");

    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/xmpp-websocket").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws.send(Message::text("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"))
        .await
        .unwrap();
    ws.send(Message::text(nested(10_000, "bob@localhost").replace("<message", "<message xmlns='jabber:client'")))
        .await
        .unwrap();
    let mut seen = String::new();
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        seen.push_str(t.as_str());
    }
    assert!(seen.contains("<policy-violation"), "{seen}");
    still_serving(&server).await;
}

#[tokio::test]
async fn deep_nesting_is_refused_on_server_and_component_streams() {
    let server = server().federation("127.0.0.1:0").component("echo.localhost", "sprint-secret").start().await;
    let (mut peer, _) = TestClient::server(server.s2s_addr(), "beta.test", "localhost").await;
    peer.send(&nested(10_000, "bob@localhost").replace("<message", "<message xmlns='jabber:server'")).await;
    assert_eq!(peer.expect_stream_error().await, "policy-violation");

    let (mut component, _) = TestClient::component(server.component_addr(), "echo.localhost").await;
    component.send(&nested(10_000, "bob@localhost")).await;
    assert_eq!(component.expect_stream_error().await, "policy-violation");
    still_serving(&server).await;
}

#[tokio::test]
async fn stream_headers_are_limited_like_stanzas() {
    let server = server().start().await;
    let open = |extra: &str| {
        format!(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'{extra}>"
        )
    };
    // 190,000 attributes in a 2.5 MB header.
    let attrs: String = (0..190_000).map(|i| format!(" a{i}='x'")).collect();
    let reply = raw_exchange(server.c2s_addr(), open(&attrs).as_bytes()).await;
    assert!(reply.contains("<policy-violation"), "{}", &reply[..reply.len().min(500)]);
    // 15,000 namespace declarations, which every later stanza would inherit.
    let decls: String = (0..15_000).map(|i| format!(" xmlns:p{i}='urn:p:{i}'")).collect();
    let reply = raw_exchange(server.c2s_addr(), open(&decls).as_bytes()).await;
    assert!(reply.contains("<policy-violation"), "{}", &reply[..reply.len().min(500)]);
    still_serving(&server).await;
}

#[tokio::test]
async fn attribute_bytes_count_towards_the_stanza_limit() {
    let server = server().configure(|c| c.limits.max_attributes = 100_000).start().await;
    let mut alice = server.client("alice", "pw").await;
    // 80,000 attributes, 1.27 MB, past the 256 KiB limit.
    let attrs: String = (0..80_000).map(|i| format!(" a{i}='xxxxx'")).collect();
    alice.send(&format!("<message to='bob@localhost'{attrs}><body>hi</body></message>")).await;
    assert_eq!(alice.expect_stream_error().await, "policy-violation");

    let server = self::server().start().await;
    let mut alice = server.client("alice", "pw").await;
    let attrs: String = (0..101).map(|i| format!(" a{i}='x'")).collect();
    alice.send(&format!("<message to='bob@localhost'><body{attrs}>hi</body></message>")).await;
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
    still_serving(&server).await;
}

#[tokio::test]
async fn text_before_the_header_is_an_error_at_once() {
    let server = server().start().await;
    for garbage in ["hello", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"] {
        // The connection stays open on our side: the server must answer without more input.
        let mut tcp = TcpStream::connect(server.c2s_addr()).await.unwrap();
        tcp.write_all(garbage.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out))
            .await
            .expect("answered at once")
            .unwrap();
        let reply = String::from_utf8_lossy(&out);
        assert!(reply.starts_with("<?xml version='1.0'?><stream:stream"), "{reply}");
        assert!(reply.contains("<not-well-formed"), "{garbage:?}: {reply}");
    }
}

#[tokio::test]
async fn duplicate_attributes_and_other_encodings_are_refused() {
    let server = server().start().await;
    let reply = raw_exchange(
        server.c2s_addr(),
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' to='elsewhere' version='1.0'>",
    )
    .await;
    assert!(reply.contains("<not-well-formed"), "{reply}");

    let reply = raw_exchange(
        server.c2s_addr(),
        format!("<?xml version='1.0' encoding='ISO-8859-1'?>{}", &HEADER[21..]).as_bytes(),
    )
    .await;
    assert!(reply.contains("<unsupported-encoding"), "{reply}");

    let mut alice = server.client("alice", "pw").await;
    alice.send("<message to='bob@localhost' to='alice@localhost'><body>which?</body></message>").await;
    assert_eq!(alice.expect_stream_error().await, "not-well-formed");
    still_serving(&server).await;
}

#[tokio::test]
async fn legal_prefix_declarations_reach_the_recipient_intact() {
    let server = server().start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let bob_jid = bob.jid.clone().unwrap();
    // A prefix declared again on a child is legal XML; the writer once panicked on it, in the
    // task of whoever the stanza was written for.
    alice
        .send(&format!(
            "<iq type='get' id='m1' to='{bob_jid}'><x xmlns='urn:x' xmlns:a='urn:a'><a:b xmlns:a='urn:b' a:c='1'/></x></iq>"
        ))
        .await;
    let got = bob.expect(|e| e.attr("id") == Some("m1")).await;
    let x = got.get_child("x", "urn:x").expect("the payload");
    let b = x.get_child("b", "urn:b").expect("the child in its own namespace");
    assert_eq!(b.attr_ns("urn:b", "c"), Some("1"));
    let pong = bob.iq("<iq type='get' id='alive' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(pong.attr("type"), Some("result"), "bob is still connected");
}
