//! A raw XMPP client over real sockets, for tests: it sends XML text and waits for elements.

use crate::scram::ScramClient;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_proto::{Element, ns};
use rhein_stream::{Conn, Frame, FrameLimits, Framer};
use sha2::Digest;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How the client secures its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    StartTls,
    Direct,
    None,
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS client that accepts any certificate (test servers' are self-signed); with `alpn`, it
/// offers `xmpp-client` as direct-TLS clients do.
pub fn insecure_connector(alpn: bool) -> TlsConnector {
    rhein_stream::tls::unverified_connector(if alpn { &[b"xmpp-client"] } else { &[] })
}

/// Connection options.
pub struct ClientBuilder {
    addr: SocketAddr,
    domain: String,
    tls: Tls,
    mechanism: String,
    resource: Option<String>,
    from: Option<String>,
}

impl ClientBuilder {
    pub fn new(addr: SocketAddr, domain: &str) -> Self {
        Self {
            addr,
            domain: domain.into(),
            tls: Tls::StartTls,
            mechanism: "SCRAM-SHA-256".into(),
            resource: None,
            from: None,
        }
    }
    /// The stream header's `from` (RFC 6120 §4.7.1): the account about to log in.
    pub fn from(mut self, jid: &str) -> Self {
        self.from = Some(jid.into());
        self
    }
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
    pub fn mechanism(mut self, m: &str) -> Self {
        self.mechanism = m.into();
        self
    }
    pub fn resource(mut self, r: &str) -> Self {
        self.resource = Some(r.into());
        self
    }

    /// Connects, opens the stream, and (unless `Tls::None`) secures it; features are read.
    pub async fn open(self) -> TestClient {
        let tcp = TcpStream::connect(self.addr).await.expect("connect");
        let mut conn = Conn::Plain(tcp);
        if self.tls == Tls::Direct {
            conn = conn.into_client_tls(&insecure_connector(true), &self.domain).await.expect("direct TLS");
        }
        let mut c = TestClient {
            conn: Some(conn),
            framer: Framer::new(server_output()),
            backlog: VecDeque::new(),
            domain: self.domain,
            features: None,
            jid: None,
            mechanism: self.mechanism,
            resource: self.resource,
            patience: TIMEOUT,
            from: self.from,
            tasks: Vec::new(),
        };
        c.open_stream().await;
        if self.tls == Tls::StartTls {
            c.starttls().await;
        }
        c
    }

    /// Opens, authenticates with the chosen mechanism and binds.
    pub async fn login(self, user: &str, password: &str) -> TestClient {
        let mut c = self.open().await;
        let mech = c.mechanism.clone();
        c.authenticate(&mech, user, password).await.unwrap_or_else(|e| panic!("login as {user} failed: {e}"));
        let resource = c.resource.clone();
        c.bind(resource.as_deref()).await;
        c
    }
}

/// A connected client.
pub struct TestClient {
    /// `None` only while STARTTLS swaps the plaintext connection for the TLS one.
    conn: Option<Conn>,
    framer: Framer,
    backlog: VecDeque<Element>,
    pub domain: String,
    /// The latest `<stream:features/>`.
    pub features: Option<Element>,
    /// The bound full JID.
    pub jid: Option<String>,
    mechanism: String,
    resource: Option<String>,
    /// How long a read waits for the server before the test fails.
    patience: Duration,
    /// Sent as the stream header's `from`.
    from: Option<String>,
    /// The XEP-0480 tasks the server had the last SASL2 login perform, in order.
    pub tasks: Vec<String>,
}

/// What a client answers an XEP-0480 SCRAM upgrade task (`UPGR-SCRAM-…`) with: the base64
/// text of its `<hash/>`, given the task, the salt and the iteration count.
pub type UpgradeAnswer<'a> = &'a dyn Fn(&str, &[u8], u32) -> String;

impl TestClient {
    /// Waits up to `patience` for each read from now on (a test that makes the server slow
    /// on purpose).
    pub fn set_patience(&mut self, patience: Duration) {
        self.patience = patience;
    }

    fn io(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connected")
    }

    pub async fn send_raw(&mut self, data: &[u8]) {
        self.io().write_all(data).await.expect("write");
        self.io().flush().await.expect("flush");
    }

    pub async fn send(&mut self, xml: &str) {
        self.send_raw(xml.as_bytes()).await;
    }

    /// Sends a stream header and reads the server's header and features.
    pub async fn open_stream(&mut self) {
        let from = self.from.as_ref().map(|f| format!(" from='{f}'")).unwrap_or_default();
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{}'{from} version='1.0'>",
            self.domain
        );
        self.send(&header).await;
        self.framer.reset();
        match self.read_frame().await {
            Some(Frame::Open(_)) => {}
            other => panic!("expected a stream header, got {other:?}"),
        }
        let features = self.next().await;
        assert!(features.is("features", ns::STREAM), "expected features, got {features:?}");
        self.features = Some(features);
    }

    /// A client on a plain connection that has not said anything yet.
    fn raw(tcp: TcpStream, domain: &str) -> TestClient {
        TestClient {
            conn: Some(Conn::Plain(tcp)),
            framer: Framer::new(server_output()),
            backlog: VecDeque::new(),
            domain: domain.into(),
            features: None,
            jid: None,
            mechanism: String::new(),
            resource: None,
            patience: TIMEOUT,
            from: None,
            tasks: Vec::new(),
        }
    }

    /// Connects as an external component (XEP-0114) for `domain` and reads the server's
    /// header; returns the client and the stream id the handshake digest is computed over.
    pub async fn component(addr: SocketAddr, domain: &str) -> (TestClient, String) {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut c = TestClient::raw(tcp, domain);
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'>"
        );
        c.send(&header).await;
        let id = match c.read_frame().await {
            Some(Frame::Open(h)) => h.attr("id").unwrap_or_default().to_owned(),
            other => panic!("expected a stream header, got {other:?}"),
        };
        (c, id)
    }

    /// Connects to an s2s listener as server `from` asking for `to`, secures the stream with
    /// STARTTLS, and returns the client and the stream id (what dialback keys are bound to).
    pub async fn server(addr: SocketAddr, from: &str, to: &str) -> (TestClient, String) {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut c = TestClient::raw(tcp, to);
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
             xmlns:db='jabber:server:dialback' from='{from}' to='{to}' version='1.0'>"
        );
        c.send(&header).await;
        c.framer.reset();
        assert!(matches!(c.read_frame().await, Some(Frame::Open(_))), "stream header");
        let features = c.next().await;
        assert!(features.get_child("starttls", ns::TLS).is_some(), "s2s offers STARTTLS: {features:?}");
        c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
        assert!(c.next().await.is("proceed", ns::TLS));
        let conn = c.conn.take().expect("connected");
        c.conn = Some(conn.into_client_tls(&insecure_connector(false), to).await.expect("STARTTLS handshake"));
        c.send(&header).await;
        c.framer.reset();
        let id = match c.read_frame().await {
            Some(Frame::Open(h)) => h.attr("id").unwrap_or_default().to_owned(),
            other => panic!("expected a stream header, got {other:?}"),
        };
        let features = c.next().await;
        assert!(features.get_child("dialback", ns::DIALBACK_FEATURE).is_some(), "dialback offered: {features:?}");
        c.features = Some(features);
        (c, id)
    }

    /// Sends the XEP-0114 handshake for `stream_id` and `secret`; `Err(condition)` if the
    /// server answers with a stream error instead of `<handshake/>`.
    pub async fn component_handshake(&mut self, stream_id: &str, secret: &str) -> Result<(), String> {
        use sha1::Digest;
        let digest = sha1::Sha1::new().chain_update(stream_id).chain_update(secret).finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.send(&format!("<handshake>{hex}</handshake>")).await;
        let reply = self.next().await;
        if reply.is("handshake", ns::COMPONENT_ACCEPT) {
            return Ok(());
        }
        Err(reply
            .children()
            .find(|c| c.ns() == ns::STREAMS && c.name() != "text")
            .map(|c| c.name().to_owned())
            .unwrap_or_default())
    }

    async fn starttls(&mut self) {
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
        let proceed = self.next().await;
        assert!(proceed.is("proceed", ns::TLS), "{proceed:?}");
        let conn = self.conn.take().expect("connected");
        self.conn =
            Some(conn.into_client_tls(&insecure_connector(false), &self.domain).await.expect("STARTTLS handshake"));
        self.open_stream().await;
    }

    /// Mechanisms offered in the current features.
    pub fn mechanisms(&self) -> Vec<String> {
        self.features
            .as_ref()
            .and_then(|f| f.get_child("mechanisms", ns::SASL))
            .map(|m| m.children().map(Element::text).collect())
            .unwrap_or_default()
    }

    /// SASL with `mechanism` (-PLUS variants bind with `tls-exporter`); `Err(condition)` on
    /// `<failure/>`. Restarts the stream on success.
    pub async fn authenticate(&mut self, mechanism: &str, user: &str, password: &str) -> Result<(), String> {
        self.authenticate_with_binding(mechanism, user, password, "tls-exporter").await
    }

    /// Channel-binding data of this connection as a client computes it.
    fn binding(&self, kind: &str) -> Vec<u8> {
        let conn = self.conn.as_ref().expect("connected");
        match kind {
            "tls-exporter" => conn.tls_exporter().expect("TLS 1.3"),
            "tls-server-end-point" => {
                let Conn::Tls(tls) = conn else { panic!("not TLS") };
                let tokio_rustls::TlsStream::Client(client) = tls.as_ref() else { panic!("not a client") };
                let certs = client.get_ref().1.peer_certificates().expect("server certificate");
                sha2::Sha256::digest(certs[0].as_ref()).to_vec()
            }
            other => other.as_bytes().to_vec(),
        }
    }

    /// Like [`TestClient::authenticate`], choosing the channel-binding type for -PLUS.
    pub async fn authenticate_with_binding(
        &mut self,
        mechanism: &str,
        user: &str,
        password: &str,
        binding: &str,
    ) -> Result<(), String> {
        if mechanism == "PLAIN" {
            let msg = B64.encode(format!("\0{user}\0{password}"));
            self.send(&format!("<auth xmlns='{}' mechanism='PLAIN'>{msg}</auth>", ns::SASL)).await;
            let reply = self.next().await;
            return self.finish_auth(reply, None).await;
        }
        let cb = mechanism.ends_with("-PLUS").then(|| (binding, self.binding(binding)));
        self.authenticate_scram(mechanism, ScramClient::new(mechanism, user, password, cb)).await
    }

    /// SCRAM with `mechanism` as `scram` says it (flag, binding); like [`TestClient::authenticate`].
    pub async fn authenticate_scram(&mut self, mechanism: &str, mut scram: ScramClient) -> Result<(), String> {
        self.send(&format!("<auth xmlns='{}' mechanism='{mechanism}'>{}</auth>", ns::SASL, B64.encode(scram.first())))
            .await;
        let challenge = self.next().await;
        if !challenge.is("challenge", ns::SASL) {
            return self.finish_auth(challenge, None).await;
        }
        let server_first = B64.decode(challenge.text().trim()).expect("base64 challenge");
        let response = scram.respond(&server_first);
        self.send(&format!("<response xmlns='{}'>{}</response>", ns::SASL, B64.encode(response))).await;
        let reply = self.next().await;
        self.finish_auth(reply, Some(&scram)).await
    }

    async fn finish_auth(&mut self, reply: Element, scram: Option<&ScramClient>) -> Result<(), String> {
        if reply.is("success", ns::SASL) {
            if let Some(scram) = scram {
                let data = B64.decode(reply.text().trim()).expect("base64 success");
                assert!(scram.verify(&data), "server signature verifies");
            }
            self.open_stream().await;
            return Ok(());
        }
        assert!(reply.is("failure", ns::SASL), "expected success or failure, got {reply:?}");
        Err(reply.children().find(|c| c.name() != "text").map(|c| c.name().to_owned()).unwrap_or_default())
    }

    /// XEP-0388 SASL2 with a password mechanism (SCRAM-*, PLAIN) or, for `HT-*` mechanisms,
    /// a FAST token in place of the password. `inline` is XML added inside `<authenticate/>`
    /// (user-agent, bind, resume, request-token...). Returns `<success/>`, after which the
    /// stream features have been read (there is no restart), or the failure condition.
    /// XEP-0480 SCRAM upgrade tasks the server asks for (after `<upgrade/>` in `inline`) are
    /// performed with the password (`tasks` lists them).
    pub async fn authenticate2(
        &mut self,
        mechanism: &str,
        user: &str,
        secret: &str,
        inline: &str,
    ) -> Result<Element, String> {
        let password = secret.to_owned();
        let answer = move |task: &str, salt: &[u8], iterations: u32| {
            B64.encode(crate::scram::Hash::of(task).salted_password(&password, salt, iterations))
        };
        self.authenticate2_answering(mechanism, user, secret, inline, &answer).await
    }

    /// Like [`TestClient::authenticate2`], answering upgrade tasks with `answer`.
    pub async fn authenticate2_answering(
        &mut self,
        mechanism: &str,
        user: &str,
        secret: &str,
        inline: &str,
        answer: UpgradeAnswer<'_>,
    ) -> Result<Element, String> {
        const NS2: &str = "urn:xmpp:sasl:2";
        const UPGRADE: &str = "urn:xmpp:scram-upgrade:0";
        self.tasks.clear();
        let mut scram = None;
        let initial = if mechanism == "PLAIN" {
            format!("\0{user}\0{secret}").into_bytes()
        } else if let Some(ht) = rhein_sasl::HtMechanism::from_name(mechanism) {
            ht.client_initial(user, secret.as_bytes(), &self.channel_binding()).expect("binding available")
        } else {
            let cb = mechanism.ends_with("-PLUS").then(|| ("tls-exporter", self.binding("tls-exporter")));
            let client = ScramClient::new(mechanism, user, secret, cb);
            let first = client.first();
            scram = Some(client);
            first
        };
        self.send(&format!(
            "<authenticate xmlns='{NS2}' mechanism='{mechanism}'><initial-response>{}</initial-response>{inline}</authenticate>",
            B64.encode(initial)
        ))
        .await;
        let mut reply = self.next().await;
        if reply.is("challenge", NS2) {
            let server_first = B64.decode(reply.text().trim()).expect("base64 challenge");
            let response = scram.as_mut().expect("only SCRAM challenges").respond(&server_first);
            self.send(&format!("<response xmlns='{NS2}'>{}</response>", B64.encode(response))).await;
            reply = self.next().await;
        }
        // The mechanism's final data, in the first <continue/> or in <success/>.
        let mut server_final = None;
        while reply.is("continue", NS2) {
            if server_final.is_none() {
                server_final = reply.get_child("additional-data", NS2).map(Element::text);
            }
            let tasks = reply.get_child("tasks", NS2).expect("<continue/> has <tasks/>");
            let task = tasks.get_child("task", NS2).expect("a task").text();
            self.send(&format!("<next xmlns='{NS2}' task='{task}'/>")).await;
            let data = self.next().await;
            if data.is("failure", NS2) {
                reply = data;
                break;
            }
            assert!(data.is("task-data", NS2), "expected the task's data, got {data:?}");
            let salt_el = data.get_child("salt", UPGRADE).expect("a SCRAM upgrade salt");
            let salt = B64.decode(salt_el.text().trim()).expect("base64 salt");
            let iterations = salt_el.attr("iterations").and_then(|i| i.parse().ok()).expect("iterations");
            let hash = answer(&task, &salt, iterations);
            self.send(&format!("<task-data xmlns='{NS2}'><hash xmlns='{UPGRADE}'>{hash}</hash></task-data>")).await;
            self.tasks.push(task);
            reply = self.next().await;
        }
        if reply.is("failure", NS2) {
            return Err(reply.children().find(|c| c.ns() == ns::SASL).map(|c| c.name().to_owned()).unwrap_or_default());
        }
        assert!(reply.is("success", NS2), "expected SASL2 success, got {reply:?}");
        if let Some(scram) = &scram {
            let data = server_final
                .or_else(|| reply.get_child("additional-data", NS2).map(Element::text))
                .expect("SCRAM server-final");
            assert!(scram.verify(&B64.decode(data.trim()).unwrap()), "server signature verifies");
        }
        if let Some(identity) = reply.get_child("authorization-identifier", NS2) {
            self.jid = Some(identity.text()).filter(|j| j.contains('/'));
        }
        let features = self.expect(|e| e.is("features", ns::STREAM)).await;
        self.features = Some(features);
        Ok(reply)
    }

    /// The TLS cipher suite negotiated, if the connection is TLS.
    pub fn cipher_suite(&self) -> Option<String> {
        let Some(Conn::Tls(tls)) = &self.conn else { return None };
        let tokio_rustls::TlsStream::Client(client) = tls.as_ref() else { return None };
        client.get_ref().1.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()))
    }

    /// Channel-binding data of this connection, as the server computes it.
    pub fn channel_binding(&self) -> rhein_sasl::ChannelBinding {
        rhein_sasl::ChannelBinding {
            tls_exporter: self.conn.as_ref().and_then(Conn::tls_exporter),
            tls_server_end_point: matches!(self.conn, Some(Conn::Tls(_))).then(|| self.binding("tls-server-end-point")),
        }
    }

    /// Binds a resource (server-chosen when `None`) and returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let res = resource.map(|r| format!("<resource>{r}</resource>")).unwrap_or_default();
        let reply = self.iq(&format!("<iq type='set' id='bind1'><bind xmlns='{}'>{res}</bind></iq>", ns::BIND)).await;
        assert_eq!(reply.attr("type"), Some("result"), "bind failed: {reply:?}");
        let jid = reply.get_child("bind", ns::BIND).and_then(|b| b.get_child("jid", ns::BIND)).expect("jid").text();
        self.jid = Some(jid.clone());
        jid
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 16384];
        loop {
            match self.framer.next_frame() {
                Ok(Some(f)) => return Some(f),
                Ok(None) => {}
                Err(e) => panic!("server sent bad XML: {e}"),
            }
            let n = match tokio::time::timeout(self.patience, self.io().read(&mut buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0,
                Err(_) => panic!("timed out waiting for the server"),
            };
            if n == 0 {
                return None;
            }
            self.framer.push(&buf[..n]);
        }
    }

    /// The next element (from the backlog first). Panics on timeout or stream end.
    pub async fn next(&mut self) -> Element {
        if let Some(el) = self.backlog.pop_front() {
            return el;
        }
        match self.read_frame().await {
            Some(Frame::Element(el)) => el,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// The first element matching `pred`; others are kept for later `expect`s.
    pub async fn expect(&mut self, pred: impl Fn(&Element) -> bool) -> Element {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos).expect("position is valid");
        }
        loop {
            match self.read_frame().await {
                Some(Frame::Element(el)) if pred(&el) => return el,
                Some(Frame::Element(el)) => self.backlog.push_back(el),
                other => panic!("expected a matching element, got {other:?}; skipped: {:?}", self.backlog),
            }
        }
    }

    /// Sends `to` (a full JID) a marker IQ that reaches it after everything this client sent
    /// before: the router hands one sender's stanzas on in order. Returns the marker's id, for
    /// [`TestClient::expect_none_before`] on the receiving client.
    pub async fn barrier_to(&mut self, to: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("barrier-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.send(&format!("<iq type='get' id='{id}' to='{to}'><ping xmlns='{}'/></iq>", ns::PING)).await;
        id
    }

    /// Reads up to the marker `id` (see [`TestClient::barrier_to`]) and asserts that nothing
    /// matching `pred` came before it: "nothing arrives", without waiting for a while.
    pub async fn expect_none_before(&mut self, id: &str, pred: impl Fn(&Element) -> bool) {
        assert!(!self.backlog.iter().any(&pred), "unexpected element in backlog: {:?}", self.backlog);
        let mut kept = Vec::new();
        loop {
            let el = self.next().await;
            if el.name() == "iq" && el.attr("id") == Some(id) {
                break;
            }
            assert!(!pred(&el), "unexpected element: {el:?}");
            kept.push(el);
        }
        self.backlog.extend(kept);
    }

    /// Asserts that nothing matching `pred` came of what this client sent so far: a marker to
    /// itself follows everything the server did in answer to its earlier stanzas.
    pub async fn expect_none_now(&mut self, pred: impl Fn(&Element) -> bool) {
        let me = self.jid.clone().expect("bound");
        let id = self.barrier_to(&me).await;
        self.expect_none_before(&id, pred).await;
    }

    /// Asserts that nothing matching `pred` arrives within `wait` (for what no sender's
    /// marker can follow, such as work the server does on a timer).
    pub async fn expect_none(&mut self, wait: Duration, pred: impl Fn(&Element) -> bool) {
        assert!(!self.backlog.iter().any(&pred), "unexpected element in backlog: {:?}", self.backlog);
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = [0u8; 16384];
        loop {
            while let Ok(Some(frame)) = self.framer.next_frame() {
                if let Frame::Element(el) = frame {
                    assert!(!pred(&el), "unexpected element: {el:?}");
                    self.backlog.push_back(el);
                }
            }
            match tokio::time::timeout_at(deadline, self.io().read(&mut buf)).await {
                Err(_) => return,
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => self.framer.push(&buf[..n]),
            }
        }
    }

    /// Forgets elements that arrived but were not expected yet.
    pub fn drain_backlog(&mut self) -> Vec<Element> {
        self.backlog.drain(..).collect()
    }

    /// Sends an IQ and returns the reply with the same id.
    pub async fn iq(&mut self, xml: &str) -> Element {
        let el: Element = xml.replacen("<iq ", "<iq xmlns='jabber:client' ", 1).parse().expect("test IQ parses");
        let id = el.attr("id").expect("test IQs carry an id").to_owned();
        self.send(xml).await;
        self.expect(|e| {
            e.name() == "iq" && e.attr("id") == Some(id.as_str()) && matches!(e.attr("type"), Some("result" | "error"))
        })
        .await
    }

    /// Waits for a stream error and the end of the stream; returns the condition.
    pub async fn expect_stream_error(&mut self) -> String {
        loop {
            match self.read_frame().await {
                Some(Frame::Element(el)) if el.is("error", ns::STREAM) => {
                    let cond = el
                        .children()
                        .find(|c| c.ns() == ns::STREAMS && c.name() != "text")
                        .map(|c| c.name().to_owned());
                    assert!(
                        self.read_frame().await.is_none_or(|f| matches!(f, Frame::Close)),
                        "stream closes after the error"
                    );
                    return cond.unwrap_or_default();
                }
                Some(Frame::Element(el)) => self.backlog.push_back(el),
                other => panic!("expected a stream error, got {other:?}"),
            }
        }
    }

    /// Whether the server closed the connection (reads until EOF, skipping elements).
    pub async fn expect_closed(&mut self) {
        loop {
            match self.read_frame().await {
                None | Some(Frame::Close) => return,
                Some(Frame::Element(el)) => self.backlog.push_back(el),
                Some(Frame::Open(_)) => {}
            }
        }
    }

    /// Ends the stream politely.
    pub async fn close(mut self) {
        let _ = self.io().write_all(b"</stream:stream>").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.expect_closed()).await;
    }

    /// Drops the TCP connection without closing the stream.
    pub fn kill(self) {}
}

/// What the test client accepts from the server: anything a default server may send.
fn server_output() -> FrameLimits {
    FrameLimits { max_element: 10 * 1024 * 1024, ..FrameLimits::default() }.for_output()
}
