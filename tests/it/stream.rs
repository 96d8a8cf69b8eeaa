//! RFC 6120 §4 and §11: stream headers, stream errors for bad input, limits.

use rhein_testkit::{Element, TestServer, ns};

#[tokio::test]
async fn unknown_host_and_bad_version_are_stream_errors() {
    let server = TestServer::builder().start().await;
    let tcp = tokio::net::TcpStream::connect(server.c2s_addr()).await.unwrap();
    let mut raw = Raw(tcp);
    raw.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='elsewhere.example' version='1.0'>").await;
    let reply = raw.read_all().await;
    assert!(reply.contains("<host-unknown"), "{reply}");

    let tcp = tokio::net::TcpStream::connect(server.c2s_addr()).await.unwrap();
    let mut raw = Raw(tcp);
    raw.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>").await;
    assert!(raw.read_all().await.contains("<unsupported-version"));
}

/// A bare TCP peer that writes text and reads until the server closes.
struct Raw(tokio::net::TcpStream);

impl Raw {
    async fn send(&mut self, s: &str) {
        use tokio::io::AsyncWriteExt;
        self.0.write_all(s.as_bytes()).await.unwrap();
    }
    async fn read_all(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let mut out = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(5), self.0.read_to_end(&mut out))
            .await
            .expect("server closes")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[tokio::test]
async fn garbage_before_the_header_gets_a_header_and_an_error() {
    let server = TestServer::builder().start().await;
    let tcp = tokio::net::TcpStream::connect(server.c2s_addr()).await.unwrap();
    let mut raw = Raw(tcp);
    raw.send("<<<not xml").await;
    let reply = raw.read_all().await;
    assert!(reply.starts_with("<?xml version='1.0'?><stream:stream"), "{reply}");
    assert!(reply.contains("<not-well-formed"), "{reply}");
    assert!(reply.ends_with("</stream:stream>"), "{reply}");
}

#[tokio::test]
async fn restricted_xml_and_oversize_stanzas_close_only_the_offender() {
    let server = TestServer::builder()
        .user("alice", "secret")
        .user("bob", "secret")
        .configure(|c| c.limits.max_stanza_size = 10_000)
        .start()
        .await;
    let mut bob = server.client("bob", "secret").await;
    bob.send("<presence/>").await;

    let mut c = server.client("alice", "secret").await;
    c.send("<!DOCTYPE foo [<!ENTITY x 'y'>]>").await;
    assert_eq!(c.expect_stream_error().await, "restricted-xml");

    let mut c = server.client("alice", "secret").await;
    c.send("<message to='bob@localhost'><body>&x;</body></message>").await;
    assert_eq!(c.expect_stream_error().await, "restricted-xml");

    let mut c = server.client("alice", "secret").await;
    c.send(&format!("<message to='bob@localhost'><body>{}</body></message>", "a".repeat(20_000))).await;
    assert_eq!(c.expect_stream_error().await, "policy-violation");

    let mut c = server.client("alice", "secret").await;
    c.send("<message to='bob@localhost'><body>unclosed</message>").await;
    assert_eq!(c.expect_stream_error().await, "not-well-formed");

    let mut c = server.client("alice", "secret").await;
    c.send("<foo xmlns='urn:example'/>").await;
    assert_eq!(c.expect_stream_error().await, "unsupported-stanza-type");

    // Bob never noticed.
    let reply = bob.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
}

#[tokio::test]
async fn stanzas_before_authentication_are_not_authorized() {
    let server = TestServer::builder().start().await;
    let mut c = server.connect().open().await;
    c.send("<message to='bob@localhost'><body>hi</body></message>").await;
    assert_eq!(c.expect_stream_error().await, "not-authorized");
}

#[tokio::test]
async fn closing_the_stream_is_answered_and_whitespace_is_keepalive() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.client("alice", "secret").await;
    c.send("   \n  ").await;
    let reply = c.iq("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    c.send("</stream:stream>").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn idle_streams_time_out() {
    let server =
        TestServer::builder().user("alice", "secret").configure(|c| c.limits.idle_timeout_secs = 1).start().await;
    let mut c = server.client("alice", "secret").await;
    assert_eq!(c.expect_stream_error().await, "connection-timeout");
    let _ = ns::CLIENT;
}

#[tokio::test]
async fn the_optional_session_iq_succeeds_after_binding() {
    // Strophe-based clients (Converse.js) send it after binding and give up on an error.
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let reply = alice.iq("<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply:?}");
}

/// The server picks TLS 1.3's AES-128-GCM even for a client that lists AES-256-GCM first
/// (rustls does): its SHA-256 runs on the CPU's SHA extensions.
#[tokio::test]
async fn the_server_chooses_aes_128_gcm() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let alice = server.client("alice", "pw").await;
    assert_eq!(alice.cipher_suite().as_deref(), Some("TLS13_AES_128_GCM_SHA256"));
}

/// RFC 6120 §4.8.2, §4.9.3.10: a client stream's content namespace is `jabber:client`.
#[tokio::test]
async fn another_content_namespace_is_an_invalid_namespace() {
    let server = TestServer::builder().start().await;
    for content in ["xmlns='jabber:server'", "xmlns='urn:example:other'", ""] {
        let tcp = tokio::net::TcpStream::connect(server.c2s_addr()).await.unwrap();
        let mut raw = Raw(tcp);
        raw.send(&format!(
            "<?xml version='1.0'?><stream:stream {content} xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
        ))
        .await;
        let reply = raw.read_all().await;
        assert!(reply.starts_with("<?xml version='1.0'?><stream:stream"), "{content}: {reply}");
        assert!(reply.contains("<invalid-namespace"), "{content}: {reply}");
    }
}

/// RFC 6120 §8.1.3: an IQ carries an id; without one it gets `bad-request`, before binding
/// and after.
#[tokio::test]
async fn an_iq_without_an_id_is_a_bad_request() {
    let is_bad_request = |e: &rhein_testkit::Element| {
        e.name() == "iq"
            && e.attr("type") == Some("error")
            && e.attr("id").is_none()
            && e.get_child("error", ns::CLIENT).is_some_and(|err| err.get_child("bad-request", ns::STANZAS).is_some())
    };
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.connect().open().await;
    c.authenticate("SCRAM-SHA-256", "alice", "secret").await.unwrap();
    c.send("<iq type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>").await;
    c.expect(is_bad_request).await;
    c.bind(None).await;
    c.send("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    c.expect(is_bad_request).await;
    // The legacy session IQ, which the session answers by itself, too.
    c.send("<iq type='set'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await;
    c.expect(is_bad_request).await;
    // A result without an id answers nothing and is answered by nothing.
    c.send("<iq type='result'/>").await;
    let reply = c.iq("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    c.expect_none_now(|e| e.name() == "iq").await;
}

/// XEP-0478: every feature list, before and after authentication, says how large a stanza
/// may be and how long the stream may idle, as configured.
#[tokio::test]
async fn stream_features_advertise_the_limits() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .configure(|c| {
            c.limits.max_stanza_size = 100_000;
            c.limits.idle_timeout_secs = 900;
        })
        .start()
        .await;
    let limits = |features: &Element| {
        let limits = features.get_child("limits", "urn:xmpp:stream-limits:0").expect("limits advertised");
        let text = |name| limits.get_child(name, "urn:xmpp:stream-limits:0").map(Element::text);
        (text("max-bytes"), text("idle-seconds"))
    };
    let expected = (Some("100000".to_owned()), Some("900".to_owned()));
    let before = server.connect().open().await;
    assert_eq!(limits(before.features.as_ref().unwrap()), expected, "before authentication");
    let after = server.client("alice", "pw").await;
    assert_eq!(limits(after.features.as_ref().unwrap()), expected, "after authentication");
}
