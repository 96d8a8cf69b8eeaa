//! XEP-0388 SASL2 with XEP-0386 Bind2 and XEP-0484 FAST: a mobile client logs in, binds,
//! enables carbons and stream management in one round trip, and comes back with a token or
//! resumes its session inline.

use crate::named;
use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::time::Duration;

const SASL2: &str = "urn:xmpp:sasl:2";
const BIND2: &str = "urn:xmpp:bind:0";
const FAST: &str = "urn:xmpp:fast:0";
const SM: &str = "urn:xmpp:sm:3";
const UA: &str = "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>Test</software></user-agent>";

async fn ping(c: &mut TestClient, id: &str) -> Element {
    c.iq(&format!("<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")).await
}

/// What Bind2 offers to enable inline, as the stream features before authentication say.
fn bind2_inline_features(c: &TestClient) -> Vec<String> {
    let auth = c.features.as_ref().unwrap().get_child("authentication", SASL2).expect("SASL2 offered");
    let bind = auth.get_child("inline", SASL2).unwrap().get_child("bind", BIND2).expect("Bind2 offered");
    bind.get_child("inline", BIND2).unwrap().children().filter_map(|f| f.attr("var")).map(str::to_owned).collect()
}

#[tokio::test]
async fn features_announce_sasl2_bind2_sm_and_fast() {
    let server = TestServer::builder().start().await;
    let c = server.connect().open().await;
    let auth = c.features.as_ref().unwrap().get_child("authentication", SASL2).expect("SASL2 offered").clone();
    let mechs: Vec<String> = auth.children().filter(|m| m.name() == "mechanism").map(Element::text).collect();
    assert!(mechs.contains(&"SCRAM-SHA-256-PLUS".to_owned()) && mechs.contains(&"PLAIN".to_owned()), "{mechs:?}");
    let inline = auth.get_child("inline", SASL2).unwrap();
    assert_eq!(
        bind2_inline_features(&c),
        ["urn:xmpp:carbons:2", "https://rhein.chat/protocol/unread:0", "urn:xmpp:csi:0", SM]
    );
    assert!(inline.get_child("sm", SM).is_some());
    let fast: Vec<String> = inline.get_child("fast", FAST).unwrap().children().map(Element::text).collect();
    assert_eq!(fast, ["HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"]);
}

#[tokio::test]
async fn bind2_offers_only_what_enabled_modules_do() {
    // Carbons, the archive's catch-up and the unread overview are their modules' work: without
    // those modules, Bind2 offers neither carbons nor the overview and reports no archive.
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .configure(|c| c.modules.enabled.retain(|m| m != "carbons" && m != "mam"))
        .start()
        .await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost' type='chat' id='o1'><body>while you were out</body></message>").await;
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;

    let mut c = server.connect().open().await;
    assert_eq!(bind2_inline_features(&c), ["urn:xmpp:csi:0", SM]);
    // Asked for anyway: binding and the stream's own features go ahead.
    let inline = format!("{UA}<bind xmlns='{BIND2}'><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='{SM}'/></bind>");
    let success = c.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    let bound = success.get_child("bound", BIND2).expect("bound");
    assert!(bound.get_child("enabled", SM).is_some());
    assert!(bound.get_child("metadata", "urn:xmpp:mam:2").is_none(), "no archive to report");
    // Nothing archived it, so the offline message is delivered as usual.
    c.send("<presence/>").await;
    let message = c.expect(|e| e.name() == "message" && e.attr("id") == Some("o1")).await;
    assert!(message.get_child("delay", "urn:xmpp:delay").is_some());
}

#[tokio::test]
async fn one_round_trip_login_binds_enables_and_issues_a_token_then_fast_logs_in() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut c = server.connect().open().await;
    let inline = format!(
        "{UA}<bind xmlns='{BIND2}'><tag>Phone</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='{SM}' resume='true'/></bind>\
         <request-token xmlns='{FAST}' mechanism='HT-SHA-256-EXPR'/>"
    );
    let success = c.authenticate2("SCRAM-SHA-256-PLUS", "alice", "pw", &inline).await.unwrap();
    let jid = success.get_child("authorization-identifier", SASL2).unwrap().text();
    assert!(jid.starts_with("alice@localhost/Phone/"), "{jid}");
    let bound = success.get_child("bound", BIND2).expect("bound");
    let enabled = bound.get_child("enabled", SM).expect("SM enabled inline");
    assert_eq!(enabled.attr("resume"), Some("true"));
    let token_el = success.get_child("token", FAST).expect("token");
    let token = token_el.attr("token").unwrap().to_owned();
    assert!(token_el.attr("expiry").unwrap().ends_with('Z'));
    // The session is live (features_after_success_offer_only_what_still_applies has the features).
    assert_eq!(ping(&mut c, "p1").await.attr("type"), Some("result"));
    c.send(&format!("<r xmlns='{SM}'/>")).await;
    assert_eq!(c.expect(|e| e.is("a", SM)).await.attr("h"), Some("1"));

    assert!(bound.get_child("metadata", "urn:xmpp:mam:2").is_none(), "nothing archived yet");

    // Carbons were enabled inline: a message to another resource is copied here.
    let mut other = server.connect().resource("desk").login("alice", "pw").await;
    other.send("<presence/>").await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost/desk' type='chat'><body>carbon me</body></message>").await;
    other.expect(named("message")).await;
    let carbon = c.expect(|e| e.get_child("received", "urn:xmpp:carbons:2").is_some()).await;
    assert_eq!(carbon.attr("from"), Some("alice@localhost"));

    // FAST: the token logs in with one message; the server proves it knows the token too.
    let mut again = server.connect().open().await;
    let inline = format!("{UA}<fast xmlns='{FAST}'/><bind xmlns='{BIND2}'><tag>Phone</tag></bind>");
    let success = again.authenticate2("HT-SHA-256-EXPR", "alice", &token, &inline).await.unwrap();
    let proof = success.get_child("additional-data", SASL2).expect("server proof").text();
    use base64::Engine;
    let cb = again.channel_binding();
    let msg = rhein_sasl::HtMechanism::Exporter.client_initial("alice", token.as_bytes(), &cb).unwrap();
    let (_, client_proof) = rhein_sasl::HtMechanism::parse(&msg).unwrap();
    let expected = rhein_sasl::HtMechanism::Exporter.verify(token.as_bytes(), &client_proof, &cb).unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(proof.trim()).unwrap(), expected);
    // The archive holds the carbon-copied chat now: <bound/> says where it starts and ends.
    let metadata =
        success.get_child("bound", BIND2).unwrap().get_child("metadata", "urn:xmpp:mam:2").expect("MAM metadata");
    let (start, end) =
        (metadata.get_child("start", "urn:xmpp:mam:2").unwrap(), metadata.get_child("end", "urn:xmpp:mam:2").unwrap());
    assert_eq!(start.attr("id"), end.attr("id"), "one message archived");
    assert!(start.attr("timestamp").unwrap().ends_with('Z'));
    assert_eq!(ping(&mut again, "p2").await.attr("type"), Some("result"));

    // Wrong token, wrong mechanism, another client's id: refused.
    let mut bad = server.connect().open().await;
    assert_eq!(bad.authenticate2("HT-SHA-256-EXPR", "alice", "not-the-token", UA).await, Err("not-authorized".into()));
    assert_eq!(bad.authenticate2("HT-SHA-256-NONE", "alice", &token, UA).await, Err("not-authorized".into()));
    let other_ua = "<user-agent id='someone-else'/>";
    let mut bad = server.connect().open().await;
    assert_eq!(bad.authenticate2("HT-SHA-256-EXPR", "alice", &token, other_ua).await, Err("not-authorized".into()));

    // Invalidation: the token works once more, then never again.
    let mut last = server.connect().open().await;
    let inline = format!("{UA}<fast xmlns='{FAST}' invalidate='true'/>");
    last.authenticate2("HT-SHA-256-EXPR", "alice", &token, &inline).await.unwrap();
    let mut after = server.connect().open().await;
    assert_eq!(after.authenticate2("HT-SHA-256-EXPR", "alice", &token, UA).await, Err("not-authorized".into()));
}

/// The stream features last received, as "name namespace".
fn offered(c: &TestClient) -> Vec<String> {
    c.features.as_ref().unwrap().children().map(|f| format!("{} {}", f.name(), f.ns())).collect()
}

#[tokio::test]
async fn features_after_success_offer_only_what_still_applies() {
    // XEP-0388 §2.6.1: the features after <success/> are those of the stream as it now is.
    // Clients act on them: offered <bind/> and <sm/> again, xmpp.js tried to resume the session
    // it had just bound (unexpected-request) and to bind once more (service-unavailable).
    let server = TestServer::builder().user("alice", "pw").start().await;
    // CSI, the stream's limits and the modules' features (roster versioning, pre-approval,
    // capabilities) always apply.
    let always = [
        "csi urn:xmpp:csi:0",
        "limits urn:xmpp:stream-limits:0",
        "ver urn:xmpp:features:rosterver",
        "sub urn:xmpp:features:pre-approval",
    ];
    let always: Vec<String> =
        always.into_iter().chain(["c http://jabber.org/protocol/caps"]).map(String::from).collect();
    let sm = format!("sm {SM}");
    let with = |first: &[&str]| first.iter().map(|f| f.to_string()).chain(always.clone()).collect::<Vec<_>>();

    // Bound, with stream management enabled inline: neither is offered again.
    let mut c = server.connect().open().await;
    let inline = format!("{UA}<bind xmlns='{BIND2}'><enable xmlns='{SM}' resume='true'/></bind>");
    let success = c.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    assert_eq!(offered(&c), always);
    let id =
        success.get_child("bound", BIND2).unwrap().get_child("enabled", SM).unwrap().attr("id").unwrap().to_owned();

    // Bound without stream management: it may still be enabled (XEP-0198 §3), and it is.
    let mut no_sm = server.connect().open().await;
    no_sm.authenticate2("SCRAM-SHA-256", "alice", "pw", &format!("{UA}<bind xmlns='{BIND2}'/>")).await.unwrap();
    assert_eq!(offered(&no_sm), with(&[&sm]));
    no_sm.send(&format!("<enable xmlns='{SM}'/>")).await;
    assert_eq!(no_sm.expect(|e| e.ns() == SM).await.name(), "enabled");

    // Authenticated, not bound: legacy binding (and resumption) come next.
    let mut unbound = server.connect().open().await;
    unbound.authenticate2("SCRAM-SHA-256", "alice", "pw", UA).await.unwrap();
    let session = format!("session {}", ns::SESSION);
    assert_eq!(offered(&unbound), with(&[&format!("bind {}", ns::BIND), &session, &sm]));

    // Resumed inline: bound, with stream management on.
    let jid = c.jid.clone().unwrap();
    c.kill();
    server.wait_for_detached(&jid).await;
    let mut back = server.connect().open().await;
    let inline = format!("{UA}<resume xmlns='{SM}' previd='{id}' h='0'/>");
    let success = back.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    assert!(success.get_child("resumed", SM).is_some(), "{success:?}");
    assert_eq!(offered(&back), always);
    assert_eq!(ping(&mut back, "p").await.attr("type"), Some("result"));
}

#[tokio::test]
async fn sasl2_resumes_a_hibernating_session_inline() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut c = server.connect().open().await;
    let inline = format!("{UA}<bind xmlns='{BIND2}'><enable xmlns='{SM}' resume='true'/></bind>");
    let success = c.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    let jid = c.jid.clone().unwrap();
    let id =
        success.get_child("bound", BIND2).unwrap().get_child("enabled", SM).unwrap().attr("id").unwrap().to_owned();
    c.send("<presence/>").await;
    c.expect(named("presence")).await;
    let mut bob = server.client("bob", "pw").await;
    bob.send(&format!("<message to='{jid}' type='chat'><body>while away</body></message>")).await;
    c.expect(named("message")).await;
    c.kill();
    server.wait_for_detached(&jid).await;

    let mut back = server.connect().open().await;
    let inline = format!("{UA}<resume xmlns='{SM}' previd='{id}' h='1'/><bind xmlns='{BIND2}'/>");
    let success = back.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    let resumed = success.get_child("resumed", SM).expect("resumed inline");
    assert_eq!(resumed.attr("previd"), Some(id.as_str()));
    assert!(success.get_child("bound", BIND2).is_none(), "a resumed session is not bound again");
    // The message and the presence echo were sent; the client handled one (h=1): the message comes again.
    let again = back.expect(named("message")).await;
    assert_eq!(again.get_child("body", ns::CLIENT).unwrap().text(), "while away");
    assert_eq!(ping(&mut back, "p").await.attr("type"), Some("result"));

    // An unknown id fails, and the bind in the same request still happens.
    let mut fresh = server.connect().open().await;
    let inline = format!("{UA}<resume xmlns='{SM}' previd='nope' h='0'/><bind xmlns='{BIND2}'/>");
    let success = fresh.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    assert!(success.get_child("failed", SM).is_some());
    assert!(success.get_child("bound", BIND2).is_some());
}

#[tokio::test]
async fn sasl2_without_bind2_falls_back_to_legacy_binding_and_fails_cleanly() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut c = server.connect().open().await;
    assert_eq!(c.authenticate2("SCRAM-SHA-1", "alice", "wrong", "").await, Err("not-authorized".into()));
    let success = c.authenticate2("PLAIN", "alice", "pw", "").await.unwrap();
    assert_eq!(success.get_child("authorization-identifier", SASL2).unwrap().text(), "alice@localhost");
    let jid = c.bind(Some("legacy")).await;
    assert_eq!(jid, "alice@localhost/legacy");
    c.expect_none_now(|e| e.name() == "success").await;
}

#[tokio::test]
async fn bind2_takes_offline_messages_from_the_archive_instead() {
    // XEP-0386 §3: offline messages are cleared without being sent; MAM has them.
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost' type='chat' id='o1'><body>while you were out</body></message>").await;
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let mut c = server.connect().open().await;
    let inline = format!("{UA}<bind xmlns='{BIND2}'><tag>Phone</tag></bind>");
    let success = c.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    let metadata = success.get_child("bound", BIND2).and_then(|b| b.get_child("metadata", "urn:xmpp:mam:2"));
    assert!(metadata.and_then(|m| m.get_child("end", "urn:xmpp:mam:2")).is_some(), "the archive has it");
    c.send("<presence/>").await;
    c.expect_none_now(|e| e.name() == "message" && e.attr("id") == Some("o1")).await;
    // A legacy login afterwards finds nothing waiting either.
    let mut legacy = server.client("alice", "pw").await;
    legacy.send("<presence/>").await;
    legacy.expect_none_now(|e| e.name() == "message" && e.attr("id") == Some("o1")).await;
}

#[tokio::test]
async fn fast_tokens_near_expiry_are_rotated() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    // A token with an hour left (its lifetime is 30 days: due for rotation).
    let expiry = rhein_storage::now_ms() + 3_600_000;
    let ua_id = "d4565fa7-4d72-4749-b3d3-740edbf87770";
    server
        .running()
        .db
        .fast_tokens()
        .issue("alice@localhost", ua_id, "HT-SHA-256-EXPR", "old-token", expiry)
        .await
        .unwrap();
    let mut c = server.connect().open().await;
    let success = c.authenticate2("HT-SHA-256-EXPR", "alice", "old-token", UA).await.unwrap();
    let fresh = success.get_child("token", FAST).expect("a new token without asking");
    let new_token = fresh.attr("token").unwrap().to_owned();
    assert_ne!(new_token, "old-token");
    let mut again = server.connect().open().await;
    assert!(again.authenticate2("HT-SHA-256-EXPR", "alice", &new_token, UA).await.is_ok(), "the new token works");
    // A fresh token is not rotated on use.
    let mut third = server.connect().open().await;
    let success = third.authenticate2("HT-SHA-256-EXPR", "alice", &new_token, UA).await.unwrap();
    assert!(success.get_child("token", FAST).is_none(), "{success:?}");
}

/// One direct-TLS connection that sends `payload` as early data when it can (resuming a
/// session from `config`'s cache); returns what the server answered up to one of `until`,
/// and whether the early data was accepted.
async fn in_early_data(
    config: &std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    payload: &str,
    until: &[&str],
) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config.clone()).early_data(true);
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(payload.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !until.iter().any(|end| answer.contains(end)) {
        let Ok(read) = tokio::time::timeout_at(deadline, tls.read(&mut buf)).await else {
            panic!("no SASL2 outcome in time; got {answer:?}")
        };
        let n = read.unwrap();
        assert!(n > 0, "closed after {answer}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let accepted = tls.get_ref().1.is_early_data_accepted();
    (answer, accepted)
}

#[tokio::test]
async fn fast_logins_in_tls_early_data_need_a_fresh_count() {
    use base64::Engine;
    let server = TestServer::builder().user("alice", "pw").start().await;
    let ua_id = "d4565fa7-4d72-4749-b3d3-740edbf87770";
    let expiry = rhein_storage::now_ms() + 3_600_000;
    let db = &server.running().db;
    db.fast_tokens().issue("alice@localhost", ua_id, "HT-SHA-256-NONE", "early-token", expiry).await.unwrap();
    let none = rhein_sasl::ChannelBinding { tls_exporter: None, tls_server_end_point: None };
    let initial = rhein_sasl::HtMechanism::from_name("HT-SHA-256-NONE")
        .unwrap()
        .client_initial("alice", b"early-token", &none)
        .unwrap();
    let login = |fast: &str| {
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
             to='localhost' version='1.0'><authenticate xmlns='{SASL2}' mechanism='HT-SHA-256-NONE'>\
             <initial-response>{}</initial-response><user-agent id='{ua_id}'/>{fast}</authenticate>",
            base64::engine::general_purpose::STANDARD.encode(&initial)
        )
    };
    let mut config = rhein_stream::tls::unverified_client_config(&[b"xmpp-client"]);
    config.enable_early_data = true;
    let config = std::sync::Arc::new(config);
    let addr = server.c2s_tls_addr();
    const OUTCOME: &[&str] = &["</success>", "</failure>"];

    // A first, full handshake: the features say 0-RTT logins are welcome, and the session
    // ticket that comes with them lets the next connection resume.
    let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
    let (features, early) = in_early_data(&config, addr, header, &["</features>"]).await;
    assert!(!early, "nothing to resume yet");
    assert!(features.contains("tls-0rtt='true'") || features.contains("tls-0rtt=\"true\""), "{features}");

    // The login in early data, with a count: one round trip, accepted.
    let with_count = |n: u32| login(&format!("<fast xmlns='{FAST}' count='{n}'/>"));
    let (answer, early) = in_early_data(&config, addr, &with_count(1), OUTCOME).await;
    assert!(early, "the server took the early data");
    assert!(answer.contains("<success"), "{answer}");
    // The same login replayed: refused.
    let (answer, early) = in_early_data(&config, addr, &with_count(1), OUTCOME).await;
    assert!(early);
    assert!(answer.contains("<failure") && answer.contains("not-authorized"), "{answer}");
    // In early data without a count: refused.
    let (answer, early) = in_early_data(&config, addr, &login(&format!("<fast xmlns='{FAST}'/>")), OUTCOME).await;
    assert!(early);
    assert!(answer.contains("<failure") && answer.contains("not-authorized"), "{answer}");
    // A higher count: accepted.
    let (answer, _) = in_early_data(&config, addr, &with_count(2), OUTCOME).await;
    assert!(answer.contains("<success"), "{answer}");
}

/// A SASL2 login that does not read (XEP-0388 allows one `<user-agent/>`) fails as a malformed
/// request saying why, counts as a failed attempt, and the client may try again.
#[tokio::test]
async fn a_login_that_does_not_read_is_refused_with_the_reason() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut c = server.connect().open().await;
    c.send(&format!("<authenticate xmlns='{SASL2}' mechanism='PLAIN'>{UA}{UA}</authenticate>")).await;
    let failure = c.next().await;
    assert!(failure.is("failure", SASL2), "{failure:?}");
    assert!(failure.get_child("malformed-request", ns::SASL).is_some(), "{failure:?}");
    let text = failure.get_child("text", SASL2).map(Element::text).unwrap_or_default();
    assert!(text.contains("user_agent"), "says which: {text}");
    let success = c.authenticate2("PLAIN", "alice", "pw", UA).await.unwrap();
    assert_eq!(
        success.get_child("authorization-identifier", SASL2).map(Element::text).as_deref(),
        Some("alice@localhost")
    );
}
