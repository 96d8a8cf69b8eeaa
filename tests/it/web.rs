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

pub(crate) struct WsClient<S> {
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

    pub(crate) async fn send(&mut self, xml: &str) {
        self.ws.send(Message::text(xml.to_owned())).await.unwrap();
    }

    /// The next message, parsed (each carries exactly one element).
    pub(crate) async fn next(&mut self) -> Element {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await.expect("a message in time");
            match msg {
                Some(Ok(Message::Text(t))) => return t.as_str().parse().unwrap_or_else(|e| panic!("{e}: {t}")),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    pub(crate) async fn open(&mut self) -> Element {
        self.send(&format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")).await;
        let open = self.next().await;
        assert!(open.is("open", FRAMING), "{open:?}");
        assert!(open.attr("id").is_some());
        let features = self.next().await;
        assert!(features.is("features", ns::STREAM), "{features:?}");
        features
    }

    /// The next element matching `pred`, skipping others.
    async fn expect(&mut self, pred: impl Fn(&Element) -> bool) -> Element {
        loop {
            let el = self.next().await;
            if pred(&el) {
                return el;
            }
        }
    }

    /// SCRAM-SHA-256 and resource binding; returns the bound JID.
    pub(crate) async fn login(&mut self, user: &str, password: &str) -> String {
        self.authenticate(user, password).await;
        self.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await;
        let bound = self.next().await;
        bound.get_child("bind", ns::BIND).and_then(|b| b.get_child("jid", ns::BIND)).unwrap().text()
    }

    /// Opens the stream, authenticates with SCRAM-SHA-256 and opens the new stream.
    async fn authenticate(&mut self, user: &str, password: &str) {
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
pub(crate) async fn http<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    request: &str,
) -> (String, Vec<(String, String)>, String) {
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

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
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

/// `/health`: 200 while storage answers, 503 once it does not (here: its pool closed).
#[tokio::test]
async fn health_says_whether_storage_answers() {
    let server = TestServer::builder().web().start().await;
    let addr = server.http_addr();
    let get = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");

    let (status, headers, body) = http(TcpStream::connect(addr).await.unwrap(), &get).await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok\n");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));

    server.running().db.close().await;
    let (status, _, body) = http(TcpStream::connect(addr).await.unwrap(), &get).await;
    assert!(status.contains("503"), "{status}");
    assert_eq!(body, "storage unavailable\n");
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

const UPLOAD: &str = "urn:xmpp:http:upload:0";

fn upload_server(expire: &str) -> rhein_testkit::TestServerBuilder {
    let settings = format!("max_file_size = 1000\nquota = 1500\n{expire}");
    TestServer::builder().user("alice", "pw").user("bob", "pw").web().configure(move |c| {
        let t: toml::Table = toml::from_str(&settings).unwrap();
        c.modules.settings.insert("upload".into(), toml::Value::Table(t));
    })
}

async fn slot(c: &mut rhein_testkit::TestClient, id: &str, name: &str, size: usize) -> Element {
    c.iq(&format!(
        "<iq type='get' to='upload.localhost' id='{id}'><request xmlns='{UPLOAD}' filename='{name}' size='{size}' content-type='text/plain'/></iq>"
    ))
    .await
}

fn put_url(slot: &Element) -> String {
    let url = slot.get_child("slot", UPLOAD).and_then(|s| s.get_child("put", UPLOAD)).and_then(|p| p.attr("url"));
    url.unwrap_or_else(|| panic!("no slot: {slot:?}")).to_owned()
}

/// The path of an absolute URL.
fn url_path(url: &str) -> &str {
    url.split_once("://").map(|(_, r)| &r[r.find('/').unwrap()..]).unwrap()
}

async fn https_connect(server: &TestServer) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server.https_addr()).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    rhein_testkit::insecure_connector(false).connect(name, tcp).await.unwrap()
}

/// A request over HTTPS to the server's https listener; `url` is what a slot names.
pub(crate) async fn https(
    server: &TestServer,
    method: &str,
    url: &str,
    headers: &str,
    body: &[u8],
) -> (String, Vec<(String, String)>, String) {
    let mut io = https_connect(server).await;
    let head = format!("{method} {} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n", url_path(url));
    io.write_all(head.as_bytes()).await.unwrap();
    io.write_all(body).await.unwrap();
    http(io, "").await
}

#[tokio::test]
async fn uploads_follow_size_quota_slot_and_cors_rules() {
    let server = upload_server("").start().await;
    let mut alice = server.client("alice", "pw").await;

    let info = alice
        .iq(&format!("<iq type='get' to='upload.localhost' id='i'><query xmlns='{}'/></iq>", ns::DISCO_INFO))
        .await;
    let q = info.get_child("query", ns::DISCO_INFO).unwrap();
    assert!(q.children().any(|f| f.attr("var") == Some(UPLOAD)));
    let max = q
        .get_child("x", "jabber:x:data")
        .unwrap()
        .children()
        .find(|f| f.attr("var") == Some("max-file-size"))
        .map(|f| f.children().next().unwrap().text());
    assert_eq!(max.as_deref(), Some("1000"));

    // Too large for the service: not-acceptable with <file-too-large/>.
    let big = slot(&mut alice, "s0", "big.txt", 1001).await;
    let err = big.get_child("error", ns::CLIENT).unwrap();
    assert!(err.get_child("not-acceptable", ns::STANZAS).is_some());
    assert!(err.get_child("file-too-large", UPLOAD).is_some());

    // A slot, filled once with exactly its size, then served with CORS.
    let s1 = slot(&mut alice, "s1", "hello world.txt", 11).await;
    let url = put_url(&s1);
    assert!(url.contains("/upload/") && url.ends_with("hello%20world.txt"), "{url}");
    let (status, _, _) =
        https(&server, "PUT", &url, "Content-Length: 12\r\nContent-Type: text/plain\r\n", b"hello world!").await;
    assert!(status.contains("413"), "oversize PUT: {status}");
    let (status, _, _) =
        https(&server, "PUT", &url, "Content-Length: 11\r\nContent-Type: image/png\r\n", b"hello world").await;
    assert!(status.contains("400"), "wrong type: {status}");
    let wrong = url.replace("hello%20world.txt", "other.txt");
    let (status, _, _) = https(&server, "PUT", &wrong, "Content-Length: 11\r\n", b"hello world").await;
    assert!(status.contains("404"), "wrong slot: {status}");
    let (status, headers, _) =
        https(&server, "PUT", &url, "Content-Length: 11\r\nContent-Type: text/plain\r\n", b"hello world").await;
    assert!(status.contains("201"), "{status}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    let (status, _, _) =
        https(&server, "PUT", &url, "Content-Length: 11\r\nContent-Type: text/plain\r\n", b"hello again").await;
    assert!(status.contains("409"), "one PUT per slot: {status}");
    let (status, headers, body) = https(&server, "GET", &url, "", b"").await;
    assert!(status.contains("200"));
    assert_eq!(body, "hello world");
    assert_eq!(header(&headers, "content-type"), Some("text/plain"));
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert!(header(&headers, "content-security-policy").is_some_and(|c| c.contains("sandbox")));
    let (status, headers, _) = https(
        &server,
        "OPTIONS",
        &url,
        "Origin: https://webchat.example\r\nAccess-Control-Request-Method: PUT\r\n",
        b"",
    )
    .await;
    assert!(status.contains("204"));
    assert!(header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("PUT")));

    // The quota counts what is held (11 of 1500 bytes used).
    let s2 = slot(&mut alice, "s2", "b.txt", 1000).await;
    assert_eq!(s2.attr("type"), Some("result"));
    let over = slot(&mut alice, "s3", "c.txt", 600).await;
    assert!(
        over.get_child("error", ns::CLIENT).and_then(|e| e.get_child("resource-constraint", ns::STANZAS)).is_some(),
        "{over:?}"
    );
    // bob's quota is his own.
    let mut bob = server.client("bob", "pw").await;
    assert_eq!(slot(&mut bob, "s4", "d.txt", 600).await.attr("type"), Some("result"));
}

#[tokio::test]
async fn uploaded_files_expire() {
    let server = upload_server("expire_after_secs = 1").start().await;
    let mut alice = server.client("alice", "pw").await;
    let url = put_url(&slot(&mut alice, "s1", "short.txt", 5).await);
    let (status, _, _) = https(&server, "PUT", &url, "Content-Length: 5\r\n", b"brief").await;
    assert!(status.contains("201") || status.contains("404"), "stored (or already expired): {status}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _, _) = https(&server, "GET", &url, "", b"").await;
    assert!(status.contains("404"), "expired: {status}");
}

#[tokio::test]
async fn sessions_can_be_limited_to_known_origins() {
    let server = TestServer::builder()
        .web()
        .configure(|c| c.web.allowed_origins = vec!["https://chat.example.org".into()])
        .start()
        .await;
    let addr = server.http_addr();
    let upgrade = |origin: &str| {
        format!(
            "GET /xmpp-websocket HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
        )
    };
    let (status, _, _) = http(TcpStream::connect(addr).await.unwrap(), &upgrade("https://evil.example")).await;
    assert!(status.contains("403"), "{status}");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(upgrade("https://chat.example.org").as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"), "the allowed origin upgrades");
    // Discovery stays open to every origin.
    let meta = format!(
        "GET /.well-known/host-meta HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n"
    );
    let (status, _, _) = http(TcpStream::connect(addr).await.unwrap(), &meta).await;
    assert!(status.contains("200"));
}

/// A WebSocket handshake for the xmpp subprotocol: the session, or the HTTP status it was
/// refused with (0: no HTTP answer at all).
async fn ws_connect(addr: std::net::SocketAddr) -> Result<WsClient<TcpStream>, u16> {
    ws_handshake(TcpStream::connect(addr).await.unwrap(), addr, &[]).await
}

/// As [`ws_connect`], over `tcp` (to `addr`), with more request headers.
pub(crate) async fn ws_handshake(
    tcp: TcpStream,
    addr: std::net::SocketAddr,
    headers: &[(&'static str, &str)],
) -> Result<WsClient<TcpStream>, u16> {
    use tokio_tungstenite::tungstenite::Error;
    let mut req = format!("ws://{addr}/xmpp-websocket").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    for (name, value) in headers {
        req.headers_mut().append(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, _)) => Ok(WsClient { ws }),
        Err(Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(_) => Err(0),
    }
}

fn bosh_create(wait: u32) -> String {
    format!(
        "<body xmlns='{BOSH}' xmlns:xmpp='urn:xmpp:xbosh' rid='1' to='localhost' wait='{wait}' hold='1' ver='1.6' xmpp:version='1.0'/>"
    )
}

/// The condition a BOSH session creation was refused with, if it was.
async fn bosh_refusal(addr: std::net::SocketAddr) -> Option<String> {
    let created = bosh(addr, &bosh_create(1)).await;
    match created.attr("type") {
        Some("terminate") => Some(created.attr("condition").unwrap_or_default().to_owned()),
        _ => None,
    }
}

/// What a TCP client to `addr` is told before the server closes the connection.
async fn tcp_refusal(addr: std::net::SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut text)).await.unwrap().unwrap();
    text
}

/// Retries `attempt` until it yields, for at most 10 s: a slot is given back just after the
/// client sees its session end, or once the server notices a BOSH session's inactivity.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut attempt: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(done) = attempt().await {
            return done;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn websocket_and_bosh_sessions_count_against_the_per_address_cap() {
    let server = TestServer::builder()
        .web()
        .configure(|c| {
            c.limits.max_connections_per_address = 2;
            c.limits.bosh_inactivity_secs = 1;
        })
        .start()
        .await;
    let addr = server.http_addr();
    let mut ws = ws_connect(addr).await.expect("the first session");
    ws.open().await;
    assert_eq!(bosh_refusal(addr).await, None, "the second session");

    // A third session from this address is refused on every transport.
    assert_eq!(bosh_refusal(addr).await.as_deref(), Some("policy-violation"));
    assert_eq!(ws_connect(addr).await.err(), Some(429));
    assert!(tcp_refusal(server.c2s_addr()).await.contains("<policy-violation"));

    // A session that ends gives its slot back: a WebSocket closed by its client...
    ws.send(&format!("<close xmlns='{FRAMING}'/>")).await;
    while !ws.next().await.is("close", FRAMING) {}
    let mut ws = eventually("a WebSocket after one closed", || async { ws_connect(addr).await.ok() }).await;
    ws.open().await;
    assert_eq!(bosh_refusal(addr).await.as_deref(), Some("policy-violation"));
    // ... and a BOSH session nobody polls any more (wait 1 s + inactivity 1 s).
    eventually("a BOSH session after one went inactive", || async { bosh_refusal(addr).await.is_none().then_some(()) })
        .await;
}

#[tokio::test]
async fn the_global_connection_cap_covers_every_transport() {
    let server = TestServer::builder().web().configure(|c| c.limits.max_connections = 2).start().await;
    let addr = server.http_addr();
    let _c2s = server.connect().open().await;
    let mut ws = ws_connect(addr).await.expect("the second connection");
    ws.open().await;
    assert_eq!(ws_connect(addr).await.err(), Some(503));
    assert_eq!(bosh_refusal(addr).await.as_deref(), Some("policy-violation"));
    assert!(tcp_refusal(server.c2s_addr()).await.contains("<resource-constraint"));
}

/// Writes `data` and returns what the server wrote before it ended the connection, which it
/// must do within 5 s.
async fn cut_off<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, data: &[u8]) -> String {
    io.write_all(data).await.unwrap();
    let mut got = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut got)).await;
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(ended.is_ok(), "the connection is still open after 5 s; got {got:?}");
    got
}

#[tokio::test]
async fn stalled_http_requests_are_cut_off() {
    let server = TestServer::builder()
        .web()
        .configure(|c| {
            c.limits.http_header_timeout_secs = 1;
            c.limits.http_body_timeout_secs = 1;
        })
        .start()
        .await;
    let addr = server.http_addr();
    let connect = || TcpStream::connect(addr);

    // Headers that never end.
    let started = tokio::time::Instant::now();
    cut_off(connect().await.unwrap(), b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\n").await;
    assert!(started.elapsed() >= Duration::from_millis(900), "cut off by the header timeout, not at once");

    // A body that stops halfway.
    let body = bosh_create(1);
    let head = format!("POST /http-bind HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n", body.len());
    let reply = cut_off(connect().await.unwrap(), format!("{head}{}", &body[..body.len() / 2]).as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");

    // A keep-alive connection that sends no next request.
    let reply =
        cut_off(connect().await.unwrap(), b"GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test]
async fn a_stalled_upload_is_cut_off() {
    let server = upload_server("").configure(|c| c.limits.http_body_timeout_secs = 1).start().await;
    let mut alice = server.client("alice", "pw").await;
    let url = put_url(&slot(&mut alice, "s1", "half.txt", 10).await);
    let head = format!("PUT {} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhello", url_path(&url));
    let reply = cut_off(https_connect(&server).await, head.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let (status, _, _) = https(&server, "GET", &url, "", b"").await;
    assert!(status.contains("404"), "nothing stored: {status}");
}

const SM: &str = "urn:xmpp:sm:3";

/// A BOSH client: one request per connection, `rid` counted up.
struct BoshClient {
    addr: std::net::SocketAddr,
    sid: String,
    rid: u64,
    /// Elements of responses not yet looked at.
    backlog: std::collections::VecDeque<Element>,
}

impl BoshClient {
    /// Creates a session (`wait` seconds per held request); its stream features are in the backlog.
    async fn create(addr: std::net::SocketAddr, wait: u32) -> Self {
        let created = bosh(addr, &bosh_create(wait)).await;
        assert_eq!(created.attr("type"), None, "{created:?}");
        let sid = created.attr("sid").expect("a session id").to_owned();
        Self { addr, sid, rid: 1, backlog: created.children().cloned().collect() }
    }

    /// One request carrying `children` (and `attrs` on its `<body/>`); what it returned joins the backlog.
    async fn request(&mut self, attrs: &str, children: &str) {
        self.rid += 1;
        let reply = bosh(self.addr, &wrap(&self.sid, self.rid, attrs, children)).await;
        assert_eq!(reply.attr("type"), None, "the session ended: {reply:?}");
        self.backlog.extend(reply.children().cloned());
    }

    async fn send(&mut self, children: &str) {
        self.request("", children).await;
    }

    /// The first element matching `pred`, polling for it (at most 10 s).
    async fn expect(&mut self, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.backlog.iter().position(&pred) {
                return self.backlog.remove(i).unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "not received: {:?}", self.backlog);
            self.request("", "").await;
        }
    }

    /// SCRAM-SHA-256 and the stream restart; the new stream's features are returned.
    async fn authenticate(&mut self, user: &str, password: &str) -> Element {
        self.expect(|e| e.is("features", ns::STREAM)).await;
        let mut scram = ScramClient::new("SCRAM-SHA-256", user, password, None);
        self.send(&format!(
            "<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{}</auth>",
            ns::SASL,
            B64.encode(scram.first())
        ))
        .await;
        let challenge = self.expect(|e| e.is("challenge", ns::SASL)).await;
        let server_first = B64.decode(challenge.text()).unwrap();
        self.send(&format!("<response xmlns='{}'>{}</response>", ns::SASL, B64.encode(scram.respond(&server_first))))
            .await;
        self.expect(|e| e.is("success", ns::SASL)).await;
        self.request("to='localhost' xmpp:restart='true'", "").await;
        self.expect(|e| e.is("features", ns::STREAM)).await
    }

    /// Authenticates and binds; returns the bound JID.
    async fn login(&mut self, user: &str, password: &str) -> String {
        self.authenticate(user, password).await;
        self.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await;
        let bound = self.expect(|e| e.attr("id") == Some("b")).await;
        bound.get_child("bind", ns::BIND).and_then(|b| b.get_child("jid", ns::BIND)).unwrap().text()
    }
}

fn body_text(e: &Element) -> String {
    e.get_child("body", ns::CLIENT).map(Element::text).unwrap_or_default()
}

fn message_to(jid: &str, text: &str) -> String {
    format!("<message to='{jid}' type='chat' id='{text}'><body>{text}</body></message>")
}

/// bob, online as `bob@localhost/b`, with alice's directed presence: he learns if she logs out.
async fn bob_watching(server: &TestServer) -> rhein_testkit::TestClient {
    let mut bob = server.connect().resource("b").login("bob", "pw").await;
    bob.send("<presence/>").await;
    bob
}

fn unavailable_from(jid: &str) -> impl Fn(&Element) -> bool + '_ {
    move |e| e.name() == "presence" && e.attr("type") == Some("unavailable") && e.attr("from") == Some(jid)
}

#[tokio::test]
async fn a_dropped_websocket_is_a_lost_connection_and_the_session_resumes() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").web().start().await;
    let addr = server.http_addr();
    let mut bob = bob_watching(&server).await;
    let mut alice = ws_connect(addr).await.unwrap();
    let jid = alice.login("alice", "pw").await;
    alice.send("<presence xmlns='jabber:client' to='bob@localhost/b'/>").await;
    bob.expect(|e| e.name() == "presence" && e.attr("from") == Some(jid.as_str())).await;
    alice.send(&format!("<enable xmlns='{SM}' resume='true'/>")).await;
    let id = alice.expect(|e| e.is("enabled", SM)).await.attr("id").expect("resumable").to_owned();

    // The network goes away: no <close/>, no closing handshake, just the socket gone.
    drop(alice);
    bob.send(&message_to(&jid, "m1")).await;
    server.wait_for_detached(&jid).await;
    bob.send(&message_to(&jid, "m2")).await;
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;

    let mut back = ws_connect(addr).await.unwrap();
    back.authenticate("alice", "pw").await;
    back.send(&format!("<resume xmlns='{SM}' previd='{id}' h='0'/>")).await;
    let resumed = back.expect(|e| e.ns() == SM && e.name() != "r").await;
    assert_eq!(resumed.name(), "resumed", "{resumed:?}");
    for text in ["m1", "m2"] {
        assert_eq!(body_text(&back.expect(|e| e.name() == "message").await), text);
    }
    bob.expect_none(Duration::from_millis(300), unavailable_from(&jid)).await;
}

#[tokio::test]
async fn an_inactive_bosh_session_is_a_lost_connection_and_the_session_resumes() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .web()
        .configure(|c| c.limits.bosh_inactivity_secs = 1)
        .start()
        .await;
    let addr = server.http_addr();
    let mut bob = bob_watching(&server).await;
    let mut alice = BoshClient::create(addr, 1).await;
    let jid = alice.login("alice", "pw").await;
    alice.send("<presence xmlns='jabber:client' to='bob@localhost/b'/>").await;
    bob.expect(|e| e.name() == "presence" && e.attr("from") == Some(jid.as_str())).await;
    alice.send(&format!("<enable xmlns='{SM}' resume='true'/>")).await;
    let id = alice.expect(|e| e.is("enabled", SM)).await.attr("id").expect("resumable").to_owned();

    // alice stops polling: m1 waits in a session nobody asks for, until its inactivity
    // (wait 1 s + 1 s) ends the connection.
    bob.send(&message_to(&jid, "m1")).await;
    server.wait_for_detached(&jid).await;
    bob.send(&message_to(&jid, "m2")).await;
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;

    let mut back = BoshClient::create(addr, 1).await;
    back.authenticate("alice", "pw").await;
    back.send(&format!("<resume xmlns='{SM}' previd='{id}' h='0'/>")).await;
    let resumed = back.expect(|e| e.ns() == SM && e.name() != "r").await;
    assert_eq!(resumed.name(), "resumed", "{resumed:?}");
    for text in ["m1", "m2"] {
        assert_eq!(body_text(&back.expect(|e| e.name() == "message").await), text);
    }
    bob.expect_none(Duration::from_millis(300), unavailable_from(&jid)).await;
}

#[tokio::test]
async fn a_clients_own_close_is_a_logout_even_with_resumption() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").web().start().await;
    let addr = server.http_addr();
    let mut bob = bob_watching(&server).await;
    let enable = format!("<enable xmlns='{SM}' resume='true'/>");
    let directed = "<presence xmlns='jabber:client' to='bob@localhost/b'/>";

    // WebSocket: <close/>.
    let mut ws = ws_connect(addr).await.unwrap();
    let ws_jid = ws.login("alice", "pw").await;
    ws.send(directed).await;
    ws.send(&enable).await;
    let ws_id = ws.expect(|e| e.is("enabled", SM)).await.attr("id").unwrap().to_owned();
    ws.send(&format!("<close xmlns='{FRAMING}'/>")).await;
    ws.expect(|e| e.is("close", FRAMING)).await;
    bob.expect(unavailable_from(&ws_jid)).await;

    // BOSH: type='terminate'.
    let mut alice = BoshClient::create(addr, 1).await;
    let bosh_jid = alice.login("alice", "pw").await;
    alice.send(directed).await;
    alice.send(&enable).await;
    let bosh_id = alice.expect(|e| e.is("enabled", SM)).await.attr("id").unwrap().to_owned();
    let ended = bosh(addr, &wrap(&alice.sid, alice.rid + 1, "type='terminate'", "")).await;
    assert_eq!(ended.attr("type"), Some("terminate"));
    bob.expect(unavailable_from(&bosh_jid)).await;

    // Neither session waits to be resumed.
    server.wait_for_sessions(1).await;
    for id in [ws_id, bosh_id] {
        let mut again = ws_connect(addr).await.unwrap();
        again.authenticate("alice", "pw").await;
        again.send(&format!("<resume xmlns='{SM}' previd='{id}' h='0'/>")).await;
        let failed = again.expect(|e| e.ns() == SM).await;
        assert_eq!(failed.name(), "failed", "{failed:?}");
        assert!(failed.get_child("item-not-found", ns::STANZAS).is_some());
    }
}
