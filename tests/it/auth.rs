//! RFC 6120 §5–§7: STARTTLS, direct TLS, SASL mechanisms and failures, resource binding.

use rhein_testkit::{TestServer, Tls, ns};

#[tokio::test]
async fn starttls_is_required_and_offers_every_mechanism_after_it() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let plain = server.connect().tls(Tls::None).open().await;
    let features = plain.features.clone().unwrap();
    let starttls = features.get_child("starttls", ns::TLS).expect("STARTTLS offered");
    assert!(starttls.get_child("required", ns::TLS).is_some());
    assert!(plain.mechanisms().is_empty(), "no SASL before TLS: {:?}", plain.mechanisms());

    let secured = server.connect().open().await;
    assert_eq!(
        secured.mechanisms(),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    );
    let cb =
        secured.features.as_ref().unwrap().get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0").expect("XEP-0440");
    let types: Vec<_> = cb.children().filter_map(|c| c.attr("type")).collect();
    assert_eq!(types, ["tls-exporter", "tls-server-end-point"]);
}

#[tokio::test]
async fn auth_before_starttls_is_a_policy_violation() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.connect().tls(Tls::None).open().await;
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWFiYw==</auth>")
        .await;
    assert_eq!(c.expect_stream_error().await, "policy-violation");
}

#[tokio::test]
async fn every_mechanism_logs_in() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    for mech in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] {
        let c = server.connect().mechanism(mech).login("alice", "secret").await;
        assert!(c.jid.as_deref().unwrap().starts_with("alice@localhost/"), "{mech}");
    }
    let direct = server.connect().addr(server.c2s_tls_addr()).tls(Tls::Direct).login("alice", "secret").await;
    assert!(direct.jid.is_some());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_alike() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    for mech in ["SCRAM-SHA-256", "PLAIN"] {
        let mut c = server.connect().open().await;
        assert_eq!(c.authenticate(mech, "alice", "wrong").await, Err("not-authorized".into()), "{mech}");
        assert_eq!(c.authenticate(mech, "nobody", "secret").await, Err("not-authorized".into()), "{mech}");
    }
}

#[tokio::test]
async fn failed_attempts_are_throttled_per_account_and_per_stream() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.connect().open().await;
    for _ in 0..2 {
        assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "bad").await, Err("not-authorized".into()));
    }
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "bad").await, Err("not-authorized".into()));
    // Three failures on one stream close it.
    assert_eq!(c.expect_stream_error().await, "policy-violation");
    let mut c = server.connect().open().await;
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "bad").await, Err("not-authorized".into()));
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "bad").await, Err("not-authorized".into()));
    // Five failures for the account within the window: even the right password waits.
    let mut c = server.connect().open().await;
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "secret").await, Err("temporary-auth-failure".into()));
}

#[tokio::test]
async fn unknown_mechanism_and_bad_base64_get_sasl_failures() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.connect().open().await;
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>").await;
    let f = c.next().await;
    assert!(f.is("failure", ns::SASL) && f.get_child("invalid-mechanism", ns::SASL).is_some(), "{f:?}");
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>!!!</auth>").await;
    let f = c.next().await;
    assert!(f.get_child("incorrect-encoding", ns::SASL).is_some(), "{f:?}");
}

#[tokio::test]
async fn resources_bind_with_conflicts_resolved_by_replacing_the_old_session() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let generated = server.client("alice", "secret").await;
    assert!(generated.jid.as_deref().unwrap().starts_with("alice@localhost/rhein-"));
    let mut first = server.connect().resource("phone").login("alice", "secret").await;
    assert_eq!(first.jid.as_deref(), Some("alice@localhost/phone"));
    let second = server.connect().resource("phone").login("alice", "secret").await;
    assert_eq!(second.jid.as_deref(), Some("alice@localhost/phone"));
    assert_eq!(first.expect_stream_error().await, "conflict");
}

#[tokio::test]
async fn too_many_sessions_is_a_resource_constraint() {
    let server = TestServer::builder()
        .user("alice", "secret")
        .configure(|c| c.limits.max_sessions_per_account = 2)
        .start()
        .await;
    let _a = server.client("alice", "secret").await;
    let _b = server.client("alice", "secret").await;
    let mut c = server.connect().open().await;
    c.authenticate("SCRAM-SHA-256", "alice", "secret").await.unwrap();
    let reply = c.iq("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>").await;
    let err = reply.get_child("error", ns::CLIENT).expect("error");
    assert!(err.get_child("resource-constraint", ns::STANZAS).is_some(), "{reply:?}");
}

#[tokio::test]
async fn plus_mechanisms_bind_to_the_tls_channel() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    for binding in ["tls-exporter", "tls-server-end-point"] {
        let mut c = server.connect().open().await;
        c.authenticate_with_binding("SCRAM-SHA-256-PLUS", "alice", "secret", binding).await.unwrap();
    }
    // Data from another channel (a man in the middle) is refused.
    let mut c = server.connect().open().await;
    assert_eq!(
        c.authenticate_with_binding("SCRAM-SHA-256-PLUS", "alice", "secret", "tls-unique").await,
        Err("not-authorized".into())
    );
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let server = TestServer::builder().configure(|c| c.limits.max_connections_per_address = 2).start().await;
    let _a = server.connect().open().await;
    let _b = server.connect().open().await;
    let mut tcp = tokio::net::TcpStream::connect(server.c2s_addr()).await.unwrap();
    let mut text = String::new();
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_string(&mut text)).await.unwrap().unwrap();
    assert!(text.contains("<policy-violation"), "{text}");
}

#[tokio::test]
async fn shutdown_closes_sessions_with_system_shutdown() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.client("alice", "secret").await;
    let stop = tokio::spawn(server.stop());
    assert_eq!(c.expect_stream_error().await, "system-shutdown");
    stop.await.unwrap();
}

/// One deadline from accept to a bound resource (`negotiation_timeout_secs`), whatever state
/// the client stops in: here one second.
async fn short_negotiation() -> TestServer {
    TestServer::builder().user("alice", "secret").configure(|c| c.limits.negotiation_timeout_secs = 1).start().await
}

/// A SCRAM client-first-message for alice, base64.
const CLIENT_FIRST: &str = "biwsbj1hbGljZSxyPWFiY2RlZmdo";

#[tokio::test]
async fn a_client_silent_after_the_scram_challenge_times_out() {
    let server = short_negotiation().await;
    let mut c = server.connect().open().await;
    c.send(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{CLIENT_FIRST}</auth>", ns::SASL)).await;
    assert!(c.next().await.is("challenge", ns::SASL));
    assert_eq!(c.expect_stream_error().await, "connection-timeout");
}

#[tokio::test]
async fn a_client_silent_after_an_empty_auth_times_out() {
    let server = short_negotiation().await;
    let mut c = server.connect().open().await;
    c.send(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'/>", ns::SASL)).await;
    assert!(c.next().await.is("challenge", ns::SASL));
    assert_eq!(c.expect_stream_error().await, "connection-timeout");
}

#[tokio::test]
async fn a_client_silent_in_a_sasl2_exchange_times_out() {
    let server = short_negotiation().await;
    let mut c = server.connect().open().await;
    c.send(&format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>{CLIENT_FIRST}</initial-response></authenticate>"
    ))
    .await;
    assert!(c.next().await.is("challenge", "urn:xmpp:sasl:2"));
    assert_eq!(c.expect_stream_error().await, "connection-timeout");
}

#[tokio::test]
async fn a_client_that_never_binds_times_out() {
    let server = short_negotiation().await;
    let mut c = server.connect().open().await;
    c.authenticate("SCRAM-SHA-256", "alice", "secret").await.unwrap();
    assert_eq!(c.expect_stream_error().await, "connection-timeout");
}

#[tokio::test]
async fn a_client_that_never_starts_tls_after_proceed_is_dropped() {
    let server = short_negotiation().await;
    let mut c = server.connect().tls(Tls::None).open().await;
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
    assert!(c.next().await.is("proceed", ns::TLS));
    // No stream is left to carry an error: the connection just ends (within the test
    // client's five seconds).
    c.expect_closed().await;
}

#[tokio::test]
async fn a_direct_tls_client_that_never_says_hello_is_dropped() {
    use tokio::io::AsyncReadExt;
    let server = short_negotiation().await;
    let mut tcp = tokio::net::TcpStream::connect(server.c2s_tls_addr()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    assert!(matches!(read, Ok(Ok(0))), "closed without a word after the deadline: {read:?}");
}

#[tokio::test]
async fn the_deadline_ends_at_binding() {
    let server = short_negotiation().await;
    let mut c = server.client("alice", "secret").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let reply = c.iq("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
}

/// The server-first-message SCRAM-SHA-256 answers `user` with, split into its attributes.
async fn server_first(server: &TestServer, user: &str) -> Vec<(String, String)> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut c = server.connect().open().await;
    let first = b64.encode(format!("n,,n={user},r=abcdefgh"));
    c.send(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{first}</auth>", ns::SASL)).await;
    let challenge = c.next().await;
    assert!(challenge.is("challenge", ns::SASL), "{challenge:?}");
    let text = String::from_utf8(b64.decode(challenge.text().trim()).unwrap()).unwrap();
    text.split(',').map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect()
}

/// XEP-0474: the server-first-message hashes the mechanisms (and XEP-0440 binding types)
/// the stream advertised, so a client sees whether someone trimmed the list on the way.
#[tokio::test]
async fn scram_carries_the_downgrade_protection_hash() {
    use base64::Engine;
    use sha2::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let server = TestServer::builder().user("alice", "secret").start().await;
    for tls in [rhein_testkit::Tls::StartTls, rhein_testkit::Tls::Direct] {
        let addr = if tls == rhein_testkit::Tls::StartTls { server.c2s_addr() } else { server.c2s_tls_addr() };
        let mut c = server.connect().addr(addr).tls(tls).open().await;
        let features = c.features.clone().unwrap();
        let mut mechanisms = c.mechanisms();
        mechanisms.sort();
        let mut advertised = mechanisms.join("\x1e");
        if let Some(cb) = features.get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0") {
            let mut types: Vec<String> = cb.children().filter_map(|t| t.attr("type")).map(str::to_owned).collect();
            types.sort();
            advertised.push('\x1f');
            advertised.push_str(&types.join("\x1e"));
        }
        let expected = b64.encode(sha2::Sha256::digest(advertised.as_bytes()));
        let first = b64.encode("n,,n=alice,r=abcdefgh");
        c.send(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{first}</auth>", ns::SASL)).await;
        let challenge = String::from_utf8(b64.decode(c.next().await.text().trim()).unwrap()).unwrap();
        let h = challenge.split(',').find_map(|a| a.strip_prefix("h=")).expect("an h attribute");
        assert_eq!(h, expected, "{tls:?}: {advertised:?}");
    }
}

#[tokio::test]
async fn scram_answers_names_without_an_account_like_accounts() {
    use base64::Engine;
    use sha2::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let server = TestServer::builder().user("alice", "secret").start().await;
    let alice = server_first(&server, "alice").await;
    let nobody = server_first(&server, "nobody").await;
    // The same form: nonce, a 16-byte salt, the iteration count of real accounts.
    let keys = |m: &[(String, String)]| m.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&alice), ["r", "s", "i", "h"]);
    assert_eq!(keys(&nobody), keys(&alice));
    let salt = |m: &[(String, String)]| b64.decode(&m[1].1).unwrap();
    assert_eq!(salt(&nobody).len(), salt(&alice).len());
    assert_eq!(nobody[2].1, alice[2].1, "iteration count");
    assert_eq!(nobody[0].1.len(), alice[0].1.len(), "nonce length");
    // Stable for one server secret...
    assert_eq!(salt(&server_first(&server, "nobody").await), salt(&nobody));
    // ... not computable from the name (the old salt was SHA-256("rhein-unknown-user:" + name))...
    assert_ne!(salt(&nobody), sha2::Sha256::digest("rhein-unknown-user:nobody")[..16].to_vec());
    // ... and another server (another secret) answers otherwise.
    let other = TestServer::builder().start().await;
    assert_ne!(salt(&server_first(&other, "nobody").await), salt(&nobody));
    // The exchange goes to its end and fails like a wrong password.
    let mut c = server.connect().open().await;
    assert_eq!(c.authenticate("SCRAM-SHA-256", "nobody", "secret").await, Err("not-authorized".into()));
    assert_eq!(c.authenticate("SCRAM-SHA-1", "nobody", "secret").await, Err("not-authorized".into()));
}

/// A client that knows only `tls-unique` (slixmpp 1.8, older Smack, libpurple) sees -PLUS,
/// binds with `tls-unique`, which TLS 1.3 does not have, and is refused; then it retries
/// the plain mechanisms with the `y` flag. That is no downgrade: nothing it can bind with
/// was offered, so it logs in.
#[tokio::test]
async fn a_tls_unique_only_client_logs_in_with_plain_scram() {
    use rhein_testkit::scram::ScramClient;
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.connect().open().await;
    assert!(c.mechanisms().contains(&"SCRAM-SHA-256-PLUS".to_owned()));
    for plus in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        let tls_unique = ScramClient::new(plus, "alice", "secret", Some(("tls-unique", b"finished".to_vec())));
        assert_eq!(c.authenticate_scram(plus, tls_unique).await, Err("not-authorized".into()), "{plus}");
    }
    let retry = ScramClient::new("SCRAM-SHA-256", "alice", "secret", None).claiming_binding();
    assert_eq!(c.authenticate_scram("SCRAM-SHA-256", retry).await, Ok(()));
    assert!(c.bind(None).await.starts_with("alice@localhost/"));

    // A `y` from a client that tried nothing else still means someone hid -PLUS from it.
    let mut c = server.connect().open().await;
    let stripped = ScramClient::new("SCRAM-SHA-256", "alice", "secret", None).claiming_binding();
    assert_eq!(c.authenticate_scram("SCRAM-SHA-256", stripped).await, Err("not-authorized".into()));
}

/// A SASL exchange expects `<response/>` (or `<abort/>`): anything else fails it visibly
/// (`malformed-request`), and the client may start again; an XML stanza, which may not come
/// before authentication at all, also ends the stream with `not-authorized` (RFC 6120 §4.3.5).
#[tokio::test]
async fn something_else_than_a_sasl_response_fails_the_exchange() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let malformed =
        |f: &rhein_testkit::Element| f.is("failure", ns::SASL) && f.get_child("malformed-request", ns::SASL).is_some();

    let mut c = server.connect().open().await;
    c.send(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{CLIENT_FIRST}</auth>", ns::SASL)).await;
    assert!(c.next().await.is("challenge", ns::SASL));
    c.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
    let failure = c.next().await;
    assert!(malformed(&failure), "{failure:?}");
    c.authenticate("SCRAM-SHA-256", "alice", "secret").await.unwrap();

    let mut c = server.connect().open().await;
    c.send(&format!("<auth xmlns='{}' mechanism='SCRAM-SHA-256'>{CLIENT_FIRST}</auth>", ns::SASL)).await;
    assert!(c.next().await.is("challenge", ns::SASL));
    c.send("<message to='bob@localhost'><body>hi</body></message>").await;
    let failure = c.next().await;
    assert!(malformed(&failure), "{failure:?}");
    assert_eq!(c.expect_stream_error().await, "not-authorized");
}
