//! Federation: two Rhein servers on different loopback addresses, dialback-authenticated
//! STARTTLS streams both ways, and peers that misbehave.

use crate::named;
use rhein_testkit::pki::TestCa;
use rhein_testkit::{Element, TestClient, TestServer, ns};

pub(crate) async fn pair() -> (TestServer, TestServer) {
    pair_with(|_| {}).await
}

/// Two federating servers, alpha configured further by `configure`.
pub(crate) async fn pair_with(configure: impl FnOnce(&mut rhein_server::Config)) -> (TestServer, TestServer) {
    let alpha = TestServer::builder()
        .domain("alpha.test")
        .user("alice", "pw")
        .federation("127.0.0.2:0")
        .configure(configure)
        .start()
        .await;
    let beta = TestServer::builder().domain("beta.test").user("bob", "pw").federation("127.0.0.3:0").start().await;
    // Each server's group chat services federate through the same listener.
    for domain in ["beta.test", "conference.beta.test", "channels.beta.test"] {
        alpha.pin(domain, beta.s2s_addr());
    }
    for domain in ["alpha.test", "conference.alpha.test", "channels.alpha.test"] {
        beta.pin(domain, alpha.s2s_addr());
    }
    (alpha, beta)
}

fn stanza_error(el: &Element) -> Option<String> {
    let err = el.get_child("error", ns::CLIENT)?;
    err.children().find(|c| c.ns() == ns::STANZAS && c.name() != "text").map(|c| c.name().to_owned())
}

#[tokio::test]
async fn two_servers_federate_subscriptions_presence_and_messages() {
    let (alpha, beta) = pair().await;
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    alice.iq("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;

    alice.send("<presence to='bob@beta.test' type='subscribe'/>").await;
    let request = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    assert_eq!(request.attr("from"), Some("alice@alpha.test"));
    bob.send("<presence to='alice@alpha.test' type='subscribed'/>").await;
    alice.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribed")).await;
    let roster_item = |e: &Element| {
        let item = e.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER));
        item.map(|i| (i.attr("jid").map(str::to_owned), i.attr("subscription").map(str::to_owned)))
    };
    let push =
        alice.expect(|e| e.name() == "iq" && roster_item(e).is_some_and(|(_, s)| s.as_deref() == Some("to"))).await;
    assert_eq!(roster_item(&push).unwrap().0.as_deref(), Some("bob@beta.test"));
    // The contact's server sends its current presence once the subscription exists.
    let presence = alice
        .expect(|e| e.name() == "presence" && e.attr("type").is_none() && e.attr("from") == bob.jid.as_deref())
        .await;
    assert!(presence.is("presence", ns::CLIENT));

    alice.send("<message to='bob@beta.test' type='chat' id='m1'><body>hello beta</body></message>").await;
    let got = bob.expect(named("message")).await;
    assert_eq!(got.attr("from"), alice.jid.as_deref());
    assert_eq!(got.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("hello beta"));
    let alice_jid = alice.jid.clone().unwrap();
    bob.send(&format!("<message to='{alice_jid}' type='chat' id='m2'><body>hello alpha</body></message>")).await;
    let back = alice.expect(named("message")).await;
    assert_eq!(back.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("hello alpha"));

    // Both sides archive the federated conversation (XEP-0313).
    let with = "<field var='with'><value>bob@beta.test</value></field>";
    let (_, bodies, _) = crate::mam::query(&mut alice, "a1", with, "").await;
    assert_eq!(bodies, ["hello beta", "hello alpha"]);
    let with = "<field var='with'><value>alice@alpha.test</value></field>";
    let (_, bodies, _) = crate::mam::query(&mut bob, "b1", with, "").await;
    assert_eq!(bodies, ["hello beta", "hello alpha"]);

    // IQs cross too: ping the other server and the other user.
    let pong = alice.iq("<iq to='beta.test' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(pong.attr("type"), Some("result"));
    let unknown = alice.iq("<iq to='nobody@beta.test' type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(stanza_error(&unknown).as_deref(), Some("service-unavailable"));

    // Going offline is seen across.
    bob.close().await;
    let gone = alice.expect(|e| e.name() == "presence" && e.attr("type") == Some("unavailable")).await;
    assert_eq!(gone.attr("from").map(|f| f.starts_with("bob@beta.test/")), Some(true));
    assert_eq!(alpha.running().s2s.as_ref().unwrap().outbound_count(), 1, "one stream per domain pair");
}

#[tokio::test]
async fn direct_tls_streams_carry_stanzas_too() {
    let alpha = TestServer::builder()
        .domain("alpha.test")
        .user("alice", "pw")
        .federation("127.0.0.2:0")
        .federation_direct_tls("127.0.0.2:0")
        .start()
        .await;
    let beta = TestServer::builder().domain("beta.test").user("bob", "pw").federation("127.0.0.3:0").start().await;
    alpha.pin("beta.test", beta.s2s_addr());
    beta.pin_direct_tls("alpha.test", alpha.s2s_tls_addr());
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    bob.send("<presence/>").await;
    let alice_jid = alice.jid.clone().unwrap();
    bob.send(&format!("<message to='{alice_jid}' type='chat' id='t1'><body>over direct TLS</body></message>")).await;
    let got = alice.expect(named("message")).await;
    assert_eq!(got.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("over direct TLS"));
    alice.send("<message to='bob@beta.test' type='chat' id='t2'><body>and back over STARTTLS</body></message>").await;
    bob.expect(|e| e.attr("id") == Some("t2")).await;
}

/// Two servers with certificates from `ca` (beta's for `beta_name`), both requiring valid
/// certificates (no dialback).
async fn certified_pair(ca: &TestCa, beta_name: &str) -> (TestServer, TestServer) {
    let alpha = TestServer::builder()
        .domain("alpha.test")
        .user("alice", "pw")
        .federation("127.0.0.2:0")
        .certified(ca.issue(&["alpha.test"]), ca.anchors())
        .configure(|c| c.s2s.secure_auth = true)
        .start()
        .await;
    let beta = TestServer::builder()
        .domain("beta.test")
        .user("bob", "pw")
        .federation("127.0.0.3:0")
        .certified(ca.issue(&[beta_name]), ca.anchors())
        .configure(|c| c.s2s.secure_auth = true)
        .start()
        .await;
    alpha.pin("beta.test", beta.s2s_addr());
    beta.pin("alpha.test", alpha.s2s_addr());
    (alpha, beta)
}

fn error_text(el: &Element) -> String {
    let err = el.get_child("error", ns::CLIENT);
    err.and_then(|e| e.get_child("text", ns::STANZAS)).map(|t| t.text()).unwrap_or_default()
}

#[tokio::test]
async fn valid_certificates_authenticate_with_sasl_external() {
    let ca = TestCa::new();
    let (alpha, beta) = certified_pair(&ca, "beta.test").await;
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    let (alice_jid, bob_jid) = (alice.jid.clone().unwrap(), bob.jid.clone().unwrap());
    // Dialback is off on both sides, so these can only pass over SASL EXTERNAL streams.
    alice.send(&format!("<message to='{bob_jid}' type='chat' id='e1'><body>certified</body></message>")).await;
    let got = bob.expect(named("message")).await;
    assert_eq!(got.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("certified"));
    bob.send(&format!("<message to='{alice_jid}' type='chat' id='e2'><body>likewise</body></message>")).await;
    let back = alice.expect(named("message")).await;
    assert_eq!(back.attr("from"), Some(bob_jid.as_str()));
    // XEP-0288: beta answered over alpha's stream instead of opening its own.
    let opened = |s: &TestServer| s.running().s2s.as_ref().unwrap().connections_opened();
    assert_eq!((opened(&alpha), opened(&beta)), (1, 0));
}

#[tokio::test]
async fn a_certificate_for_the_wrong_name_is_refused() {
    let ca = TestCa::new();
    let (alpha, beta) = certified_pair(&ca, "wrong.test").await;
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    let (alice_jid, bob_jid) = (alice.jid.clone().unwrap(), bob.jid.clone().unwrap());

    // alpha will not talk to a beta.test whose certificate names wrong.test ...
    alice.send(&format!("<message to='{bob_jid}' id='w1'><body>hi</body></message>")).await;
    let bounce = alice.expect(|e| e.attr("id") == Some("w1")).await;
    assert_eq!(stanza_error(&bounce).as_deref(), Some("remote-server-not-found"));
    assert!(error_text(&bounce).contains("not valid"), "{bounce:?}");

    // ... nor accept one: no SASL EXTERNAL, and dialback refused.
    bob.send(&format!("<message to='{alice_jid}' id='w2'><body>hi</body></message>")).await;
    let bounce = bob.expect(|e| e.attr("id") == Some("w2")).await;
    assert_eq!(stanza_error(&bounce).as_deref(), Some("remote-server-not-found"));
    assert!(error_text(&bounce).contains("refused"), "{bounce:?}");
    alice.expect_none_now(named("message")).await;
}

#[tokio::test]
async fn remote_servers_are_found_by_srv_records() {
    let dns = rhein_testkit::dns::FakeDns::start().await;
    let beta = TestServer::builder().domain("beta.test").user("bob", "pw").federation("127.0.0.3:0").start().await;
    // No pin for beta.test: alpha asks the (loopback) DNS server, which knows a STARTTLS SRV
    // record at a lower priority than a dead one, and the target's address.
    dns.srv("_xmpp-server._tcp.beta.test", 20, 0, 1, "dead.beta.test");
    dns.srv("_xmpp-server._tcp.beta.test", 10, 0, beta.s2s_addr().port(), "xmpp.beta.test");
    dns.a("xmpp.beta.test", std::net::Ipv4Addr::new(127, 0, 0, 3));
    dns.a("dead.beta.test", std::net::Ipv4Addr::new(127, 0, 0, 9));
    let alpha = TestServer::builder()
        .domain("alpha.test")
        .user("alice", "pw")
        .federation("127.0.0.2:0")
        .configure(|c| c.s2s.dns_server = Some(dns.addr))
        .start()
        .await;
    beta.pin("alpha.test", alpha.s2s_addr());
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    let bob_jid = bob.jid.clone().unwrap();
    alice.send(&format!("<message to='{bob_jid}' type='chat' id='srv1'><body>found you</body></message>")).await;
    let got = bob.expect(named("message")).await;
    assert_eq!(got.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("found you"));
    // A domain DNS knows nothing of bounces.
    alice.send("<message to='x@unknown.test' id='srv2'><body>?</body></message>").await;
    let bounce = alice.expect(|e| e.attr("id") == Some("srv2")).await;
    assert_eq!(stanza_error(&bounce).as_deref(), Some("remote-server-not-found"));
}

#[tokio::test]
async fn unreachable_domains_bounce_remote_server_not_found() {
    let alpha = TestServer::builder().domain("alpha.test").user("alice", "pw").federation("127.0.0.2:0").start().await;
    // A port where nothing listens: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.4:0").unwrap().local_addr().unwrap();
    alpha.pin("nowhere.test", closed);
    let mut alice = alpha.client("alice", "pw").await;
    alice.send("<message to='someone@nowhere.test' id='x1'><body>hello?</body></message>").await;
    let bounce = alice.expect(|e| e.attr("id") == Some("x1")).await;
    assert_eq!(bounce.attr("type"), Some("error"));
    assert_eq!(stanza_error(&bounce).as_deref(), Some("remote-server-not-found"));
    // While the domain is backing off, stanzas bounce at once.
    alice.send("<message to='someone@nowhere.test' id='x2'><body>still?</body></message>").await;
    let bounce = alice.expect(|e| e.attr("id") == Some("x2")).await;
    assert_eq!(stanza_error(&bounce).as_deref(), Some("remote-server-not-found"));
}

#[tokio::test]
async fn bad_peers_are_refused() {
    let (alpha, _beta) = pair().await;

    // A peer claiming beta.test with a key beta.test never issued.
    let (mut liar, _id) = TestClient::server(alpha.s2s_addr(), "beta.test", "alpha.test").await;
    liar.send("<db:result xmlns:db='jabber:server:dialback' from='beta.test' to='alpha.test'>0badc0ffee</db:result>")
        .await;
    let verdict = liar.expect(|e| e.is("result", ns::DIALBACK)).await;
    assert_eq!(verdict.attr("type"), Some("invalid"));
    // ... and its stanzas are not accepted.
    liar.send("<message xmlns='jabber:server' from='bob@beta.test' to='alice@alpha.test'><body>x</body></message>")
        .await;
    assert_eq!(liar.expect_stream_error().await, "invalid-from");

    // A peer asking for a domain that is not served here.
    let (mut lost, _) = TestClient::component(alpha.s2s_addr(), "elsewhere.test").await;
    assert_eq!(lost.expect_stream_error().await, "host-unknown");

    // Stanzas before any authentication.
    let (mut eager, _) = TestClient::server(alpha.s2s_addr(), "beta.test", "alpha.test").await;
    eager.send("<message xmlns='jabber:server' from='bob@beta.test' to='alice@alpha.test'/>").await;
    assert_eq!(eager.expect_stream_error().await, "invalid-from");
}

/// Everything a peer's connection waits for until it authenticated a domain.
async fn silent_peer_text(addr: std::net::SocketAddr) -> String {
    use tokio::io::AsyncReadExt;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out))
        .await
        .expect("the server closes the stream")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn an_inbound_stream_must_authenticate_in_time() {
    let alpha = TestServer::builder()
        .domain("alpha.test")
        .federation("127.0.0.2:0")
        .configure(|c| c.s2s.connect_timeout_secs = 1)
        .start()
        .await;
    // Secured, but no dialback or SASL ever comes.
    let (mut idle, _) = TestClient::server(alpha.s2s_addr(), "beta.test", "alpha.test").await;
    assert_eq!(idle.expect_stream_error().await, "connection-timeout");
    // Not even a stream header: the answer is still a stream, with the error on it.
    let text = silent_peer_text(alpha.s2s_addr()).await;
    assert!(text.starts_with("<?xml version='1.0'?><stream:stream"), "{text}");
    assert!(text.contains("<connection-timeout"), "{text}");
}
