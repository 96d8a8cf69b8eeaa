//! The HTTP side: XMPP over WebSocket (RFC 7395) as a full client session, and XEP-0156
//! discovery with CORS, over real sockets.

use base64::Engine;
use futures::{SinkExt, StreamExt};
use rhein_testkit::scram::ScramClient;
use rhein_testkit::{Element, TestServer, ns};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct WsClient<S> {
    ws: WebSocketStream<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    async fn connect(io: S, url: &str) -> Self {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::client_async(req, io).await.expect("WebSocket handshake");
        assert_eq!(resp.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some("xmpp"));
        Self { ws }
    }

    async fn send(&mut self, xml: &str) {
        self.ws.send(Message::text(xml.to_owned())).await.unwrap();
    }

    /// The next message, parsed (each carries exactly one element).
    async fn next(&mut self) -> Element {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await.expect("a message in time");
            match msg {
                Some(Ok(Message::Text(t))) => return t.as_str().parse().unwrap_or_else(|e| panic!("{e}: {t}")),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    async fn open(&mut self) -> Element {
        self.send(&format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")).await;
        let open = self.next().await;
        assert!(open.is("open", FRAMING), "{open:?}");
        assert!(open.attr("id").is_some());
        let features = self.next().await;
        assert!(features.is("features", ns::STREAM), "{features:?}");
        features
    }

    /// SCRAM-SHA-256 and resource binding; returns the bound JID.
    async fn login(&mut self, user: &str, password: &str) -> String {
        let features = self.open().await;
        assert!(features.get_child("starttls", ns::TLS).is_none(), "no STARTTLS inside a WebSocket");
        let mut scram = ScramClient::new("SCRAM-SHA-256", user, password, None);
        self.send(&format!(
            "<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{}</auth>",
            ns::SASL,
            B64.encode(scram.first())
        ))
        .await;
        let challenge = self.next().await;
        let server_first = B64.decode(challenge.text()).unwrap();
        self.send(&format!("<response xmlns='{}'>{}</response>", ns::SASL, B64.encode(scram.respond(&server_first))))
            .await;
        let success = self.next().await;
        assert!(success.is("success", ns::SASL), "{success:?}");
        assert!(scram.verify(&B64.decode(success.text()).unwrap()));
        let features = self.open().await;
        assert!(features.get_child("bind", ns::BIND).is_some());
        self.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await;
        let bound = self.next().await;
        bound.get_child("bind", ns::BIND).and_then(|b| b.get_child("jid", ns::BIND)).unwrap().text()
    }
}

#[tokio::test]
async fn websocket_clients_are_full_sessions() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").web().start().await;
    let addr = server.http_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut alice = WsClient::connect(tcp, &format!("ws://{addr}/xmpp-websocket")).await;
    let alice_jid = alice.login("alice", "pw").await;
    assert!(alice_jid.starts_with("alice@localhost/"));
    alice.send("<presence xmlns='jabber:client'/>").await;

    let mut bob = server.client("bob", "pw").await;
    bob.send(&format!("<message to='{alice_jid}' type='chat' id='w1'><body>to the browser</body></message>")).await;
    let got = loop {
        let el = alice.next().await;
        if el.name() == "message" {
            break el;
        }
    };
    assert!(got.is("message", ns::CLIENT));
    assert_eq!(got.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("to the browser"));
    let bob_jid = bob.jid.clone().unwrap();
    alice
        .send(&format!(
            "<message xmlns='jabber:client' to='{bob_jid}' type='chat' id='w2'><body>from the browser</body></message>"
        ))
        .await;
    let back = bob.expect(|e| e.attr("id") == Some("w2")).await;
    assert_eq!(back.attr("from"), Some(alice_jid.as_str()));

    // IQs answered by the server come back framed too.
    alice.send("<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let pong = loop {
        let el = alice.next().await;
        if el.attr("id") == Some("p") {
            break el;
        }
    };
    assert_eq!(pong.attr("type"), Some("result"));

    // <close/> ends the stream with a <close/>.
    alice.send(&format!("<close xmlns='{FRAMING}'/>")).await;
    let close = loop {
        let el = alice.next().await;
        if el.is("close", FRAMING) {
            break el;
        }
    };
    assert!(close.is("close", FRAMING));
    server.wait_for_sessions(1).await;
}

#[tokio::test]
async fn bad_xml_over_websocket_gets_a_stream_error() {
    let server = TestServer::builder().web().start().await;
    let addr = server.http_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut c = WsClient::connect(tcp, &format!("ws://{addr}/xmpp-websocket")).await;
    c.open().await;
    c.send("<message><unclosed></message>").await;
    let error = c.next().await;
    assert!(error.is("error", ns::STREAM), "{error:?}");
    assert!(error.get_child("not-well-formed", ns::STREAMS).is_some());
    assert!(c.next().await.is("close", FRAMING));
}

/// A raw HTTP/1.1 request; returns (status line, headers lowercased, body).
async fn http<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, request: &str) -> (String, Vec<(String, String)>, String) {
    io.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn clients_discover_the_websocket_endpoint() {
    let server = TestServer::builder().web().start().await;
    let addr = server.http_addr();
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://webchat.example\r\nConnection: close\r\n\r\n")
    };

    let (status, headers, body) = http(TcpStream::connect(addr).await.unwrap(), &get("/.well-known/host-meta")).await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&headers, "content-type"), Some("application/xrd+xml"));
    assert!(body.contains(&format!("href='ws://{addr}/xmpp-websocket'")), "{body}");
    assert!(body.contains("urn:xmpp:alt-connections:websocket"));

    let (status, headers, body) =
        http(TcpStream::connect(addr).await.unwrap(), &get("/.well-known/host-meta.json")).await;
    assert!(status.contains("200"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["links"][0]["href"], format!("ws://{addr}/xmpp-websocket"));

    let preflight = format!(
        "OPTIONS /.well-known/host-meta.json HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://webchat.example\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
    );
    let (status, headers, _) = http(TcpStream::connect(addr).await.unwrap(), &preflight).await;
    assert!(status.contains("204"), "{status}");
    assert!(header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("GET")));

    let (status, _, _) = http(TcpStream::connect(addr).await.unwrap(), &get("/nothing-here")).await;
    assert!(status.contains("404"));
    let (status, _, _) = http(TcpStream::connect(addr).await.unwrap(), &get("/xmpp-websocket")).await;
    assert!(status.contains("400"), "a plain GET is not a WebSocket: {status}");

    // Over HTTPS the endpoint is wss://.
    let https = server.https_addr();
    let tls = rhein_testkit::insecure_connector(false);
    let tcp = TcpStream::connect(https).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let io = tls.connect(name, tcp).await.unwrap();
    let req = format!("GET /.well-known/host-meta.json HTTP/1.1\r\nHost: {https}\r\nConnection: close\r\n\r\n");
    let (status, _, body) = http(io, &req).await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains(&format!("wss://{https}/xmpp-websocket")), "{body}");
}

const BOSH: &str = "http://jabber.org/protocol/httpbind";

/// One BOSH request over its own connection; returns the response's `<body/>`.
async fn bosh(addr: std::net::SocketAddr, body: &str) -> Element {
    let request = format!(
        "POST /http-bind HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, headers, text) = http(TcpStream::connect(addr).await.unwrap(), &request).await;
    assert!(status.contains("200"), "{status}: {text}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    let el: Element = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(el.is("body", BOSH), "{el:?}");
    el
}

fn wrap(sid: &str, rid: u64, attrs: &str, children: &str) -> String {
    format!("<body xmlns='{BOSH}' xmlns:xmpp='urn:xmpp:xbosh' sid='{sid}' rid='{rid}' {attrs}>{children}</body>")
}

#[tokio::test]
async fn bosh_clients_log_in_and_chat() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").web().start().await;
    let addr = server.http_addr();
    let created = bosh(
        addr,
        &format!("<body xmlns='{BOSH}' xmlns:xmpp='urn:xmpp:xbosh' rid='100' to='localhost' wait='5' hold='1' ver='1.6' xmpp:version='1.0'/>"),
    )
    .await;
    let sid = created.attr("sid").expect("a session id").to_owned();
    assert!(created.attr("authid").is_some_and(|a| !a.is_empty()));
    let features = created.get_child("features", ns::STREAM).expect("stream features in the first response");
    assert!(features.get_child("mechanisms", ns::SASL).is_some());

    let mut scram = ScramClient::new("SCRAM-SHA-256", "alice", "pw", None);
    let auth = format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{}</auth>", ns::SASL, B64.encode(scram.first()));
    let challenge = bosh(addr, &wrap(&sid, 101, "", &auth)).await;
    let server_first = B64.decode(challenge.get_child("challenge", ns::SASL).unwrap().text()).unwrap();
    let response = format!("<response xmlns='{}'>{}</response>", ns::SASL, B64.encode(scram.respond(&server_first)));
    let success = bosh(addr, &wrap(&sid, 102, "", &response)).await;
    assert!(success.get_child("success", ns::SASL).is_some(), "{success:?}");

    let restarted = bosh(addr, &wrap(&sid, 103, "to='localhost' xmpp:restart='true'", "")).await;
    assert!(restarted.get_child("features", ns::STREAM).and_then(|f| f.get_child("bind", ns::BIND)).is_some());
    let bind = "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
    let bound = bosh(addr, &wrap(&sid, 104, "", bind)).await;
    let jid = bound
        .get_child("iq", ns::CLIENT)
        .and_then(|iq| iq.get_child("bind", ns::BIND))
        .and_then(|b| b.get_child("jid", ns::BIND))
        .unwrap()
        .text();
    assert!(jid.starts_with("alice@localhost/"));
    let presence = bosh(addr, &wrap(&sid, 105, "", "<presence xmlns='jabber:client'/>")).await;
    drop(presence);

    // A held request returns as soon as a message arrives for the session.
    let mut bob = server.client("bob", "pw").await;
    let waiting = tokio::spawn(async move { bosh(addr, &wrap(&sid, 106, "", "")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    bob.send(&format!("<message to='{jid}' type='chat' id='h1'><body>over BOSH</body></message>")).await;
    let delivered = waiting.await.unwrap();
    let m = delivered.get_child("message", ns::CLIENT).expect("the message in the held response");
    assert_eq!(m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("over BOSH"));
}

#[tokio::test]
async fn bosh_rejects_unknown_sessions_and_garbage() {
    let server = TestServer::builder().web().start().await;
    let addr = server.http_addr();
    let unknown = bosh(addr, &wrap("nope", 1, "", "")).await;
    assert_eq!((unknown.attr("type"), unknown.attr("condition")), (Some("terminate"), Some("item-not-found")));
    let request = "POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let (status, _, _) = http(TcpStream::connect(addr).await.unwrap(), request).await;
    assert!(status.contains("400"), "{status}");
}
