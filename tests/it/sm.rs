//! XEP-0198 Stream Management: acks both ways, resumption after a killed connection with every
//! unacknowledged stanza delivered exactly once, and what happens when nobody comes back.

use crate::named;
use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::time::Duration;

const SM: &str = "urn:xmpp:sm:3";

fn body(e: &Element) -> String {
    e.get_child("body", ns::CLIENT).map(Element::text).unwrap_or_default()
}

async fn enable(c: &mut TestClient, resume: bool) -> Element {
    let attr = if resume { " resume='true'" } else { "" };
    c.send(&format!("<enable xmlns='{SM}'{attr}/>")).await;
    c.expect(|e| e.ns() == SM).await
}

#[tokio::test]
async fn acks_count_stanzas_both_ways() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    assert!(alice.features.as_ref().unwrap().get_child("sm", SM).is_some(), "SM offered after authentication");
    let enabled = enable(&mut alice, false).await;
    assert_eq!(enabled.name(), "enabled");
    assert_eq!(enabled.attr("id"), None);
    alice.send(&format!("<r xmlns='{SM}'/>")).await;
    assert_eq!(alice.expect(|e| e.is("a", SM)).await.attr("h"), Some("0"));
    alice.iq("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    alice.send("<presence/>").await;
    alice.send(&format!("<r xmlns='{SM}'/>")).await;
    assert_eq!(alice.expect(|e| e.is("a", SM)).await.attr("h"), Some("2"));

    // The server asks for acks of what it sent.
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost' type='chat'><body>one</body></message>").await;
    alice.expect(named("message")).await;
    alice.expect(|e| e.is("r", SM)).await;
    alice.send(&format!("<a xmlns='{SM}' h='3'/>")).await; // ping result, own presence, message
    let again = enable(&mut alice, false).await;
    assert_eq!(again.name(), "failed");
    // Acknowledging more than was sent is a stream error.
    alice.send(&format!("<a xmlns='{SM}' h='99'/>")).await;
    assert_eq!(alice.expect_stream_error().await, "undefined-condition");
}

#[tokio::test]
async fn resumption_after_a_killed_connection_delivers_every_unacked_stanza_once() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    alice.send("<presence/>").await;
    alice.expect(named("presence")).await; // its own broadcast, before counting starts
    let enabled = enable(&mut alice, true).await;
    assert_eq!(enabled.attr("resume"), Some("true"));
    let id = enabled.attr("id").unwrap().to_owned();
    let mut bob = server.client("bob", "pw").await;
    for i in 1..=3 {
        bob.send(&format!("<message to='alice@localhost/phone' type='chat' id='m{i}'><body>m{i}</body></message>"))
            .await;
    }
    for i in 1..=3 {
        assert_eq!(body(&alice.expect(named("message")).await), format!("m{i}"));
    }
    // The client handled only m1 when the connection died.
    let handled_before_death = 1;
    alice.kill();
    for i in 4..=5 {
        bob.send(&format!("<message to='alice@localhost/phone' type='chat' id='m{i}'><body>m{i}</body></message>"))
            .await;
    }
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;

    let mut back = server.connect().open().await;
    back.authenticate("SCRAM-SHA-256", "alice", "pw").await.unwrap();
    back.send(&format!("<resume xmlns='{SM}' previd='{id}' h='{handled_before_death}'/>")).await;
    let resumed = back.expect(|e| e.ns() == SM && e.name() != "r").await;
    assert_eq!(resumed.name(), "resumed", "{resumed:?}");
    assert_eq!(resumed.attr("previd"), Some(id.as_str()));
    assert_eq!(resumed.attr("h"), Some("0"), "alice sent nothing since enabling");
    for i in 2..=5 {
        assert_eq!(body(&back.expect(named("message")).await), format!("m{i}"));
    }
    back.jid = Some("alice@localhost/phone".into());
    back.expect_none_now(named("message")).await;
    // The resumed session is the same resource: it still receives, and bob never saw it leave.
    bob.send("<message to='alice@localhost/phone' type='chat'><body>after</body></message>").await;
    assert_eq!(body(&back.expect(named("message")).await), "after");
    bob.expect_none(Duration::from_millis(100), |e| e.attr("type") == Some("unavailable")).await;

    // Resuming again with the old id while the session lives elsewhere takes it over once more;
    // an unknown id or another account's id fails.
    let mut wrong = server.connect().open().await;
    wrong.authenticate("SCRAM-SHA-256", "bob", "pw").await.unwrap();
    wrong.send(&format!("<resume xmlns='{SM}' previd='{id}' h='0'/>")).await;
    let failed = wrong.expect(|e| e.ns() == SM).await;
    assert_eq!(failed.name(), "failed");
    assert!(failed.get_child("item-not-found", ns::STANZAS).is_some());
}

/// alice (available, as `phone`) and bob on a server that keeps sessions 1 s for resumption.
async fn alice_on_a_short_resume_timeout() -> (TestServer, rhein_testkit::TestClient) {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .configure(|c| c.limits.resume_timeout_secs = 1)
        .start()
        .await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    alice.send("<presence/>").await;
    (server, alice)
}

#[tokio::test]
async fn unacked_messages_are_rerouted_when_the_session_times_out() {
    let (server, mut alice) = alice_on_a_short_resume_timeout().await;
    enable(&mut alice, true).await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost/phone' type='chat'><body>did you get this?</body></message>").await;
    alice.expect(named("message")).await;
    alice.kill();
    // Another resource comes online; when the hibernating one gives up, the message moves here.
    let mut laptop = server.connect().resource("laptop").login("alice", "pw").await;
    laptop.send("<presence/>").await;
    let m = laptop.expect(named("message")).await;
    assert_eq!(body(&m), "did you get this?");
}

#[tokio::test]
async fn unacked_messages_go_offline_when_no_resource_is_left() {
    let (server, mut alice) = alice_on_a_short_resume_timeout().await;
    enable(&mut alice, false).await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost' type='chat'><body>keep me</body></message>").await;
    alice.expect(named("message")).await;
    // No resumption was enabled: the connection's end is the session's end, right away.
    alice.kill();
    // The dropped session ends and hands the message to offline storage.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.running().db.offline().count("alice@localhost").await.unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "the unacked message never reached offline storage");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut again = server.client("alice", "pw").await;
    again.send("<presence/>").await;
    let m = again.expect(named("message")).await;
    assert_eq!(body(&m), "keep me");
    assert!(m.get_child("delay", ns::DELAY).is_some());
}

/// alice (as `phone`, resumable SM on) and bob, on a server configured by `limits`.
async fn alice_with_sm(limits: impl FnOnce(&mut rhein_server::config::LimitsConfig)) -> (TestServer, TestClient) {
    let server =
        TestServer::builder().user("alice", "pw").user("bob", "pw").configure(|c| limits(&mut c.limits)).start().await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    alice.send("<presence/>").await;
    alice.expect(named("presence")).await; // its own broadcast, before counting starts
    enable(&mut alice, true).await;
    (server, alice)
}

/// bob sends `count` messages (ids m1, m2...) with `body` to alice's bare JID; they are all in
/// alice's session (or written to her) when this returns.
async fn bob_sends(server: &TestServer, count: usize, body: &str) {
    let mut bob = server.client("bob", "pw").await;
    for i in 1..=count {
        bob.send(&format!("<message to='alice@localhost' type='chat' id='m{i}'><body>{body}</body></message>")).await;
    }
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
}

/// A client that reads but never acks: what it got before the stream error, and the error.
async fn read_without_acking(alice: &mut TestClient) -> (Vec<Element>, String) {
    let condition = alice.expect_stream_error().await;
    (alice.drain_backlog(), condition)
}

/// Waits until alice has `count` offline messages, then logs her in again and checks she gets
/// m1..m`count`, each once (in any order: messages sent as a session ends go offline directly,
/// racing with those the session hands back).
async fn all_kept_offline(server: &TestServer, count: usize) {
    let offline = server.running().db.offline();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while offline.count("alice@localhost").await.unwrap() < count as i64 {
        assert!(std::time::Instant::now() < deadline, "the held messages never reached offline storage");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut again = server.client("alice", "pw").await;
    again.send("<presence/>").await;
    let mut got = Vec::new();
    for _ in 0..count {
        let id = again.expect(named("message")).await.attr("id").unwrap_or_default().to_owned();
        got.push(id.trim_start_matches('m').parse::<usize>().unwrap_or_default());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=count).collect::<Vec<_>>());
    again.expect_none_now(named("message")).await;
}

#[tokio::test]
async fn a_client_that_never_acks_is_asked_then_closed_and_its_messages_go_offline() {
    // Before: a live session held every unacknowledged stanza, without bound.
    let (server, mut alice) = alice_with_sm(|l| {
        l.max_unacked = 5;
        l.ack_timeout_secs = 1;
    })
    .await;
    bob_sends(&server, 8, "hello").await;
    let (got, condition) = read_without_acking(&mut alice).await;
    let ids: Vec<_> = got.iter().filter(|e| e.name() == "message").filter_map(|e| e.attr("id")).collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4", "m5"], "nothing beyond the limit is sent");
    assert!(got.last().is_some_and(|e| e.is("r", SM)), "the full queue asks for an ack: {got:?}");
    assert_eq!(condition, "policy-violation");
    // The five it never acknowledged and the three it never got: none lost, none twice.
    all_kept_offline(&server, 8).await;
}

#[tokio::test]
async fn the_unacked_bytes_are_bounded_too() {
    // Five 3 KB messages reach a 10,000-byte bound at the fourth, far below 5,000 stanzas.
    let (server, mut alice) = alice_with_sm(|l| {
        l.max_unacked_bytes = 10_000;
        l.ack_timeout_secs = 1;
    })
    .await;
    bob_sends(&server, 5, &"x".repeat(3000)).await;
    let (got, condition) = read_without_acking(&mut alice).await;
    assert_eq!(got.iter().filter(|e| e.name() == "message").count(), 4);
    assert!(got.last().is_some_and(|e| e.is("r", SM)));
    assert_eq!(condition, "policy-violation");
    all_kept_offline(&server, 5).await;
}

#[tokio::test]
async fn a_client_that_acks_gets_everything_past_the_limit() {
    let (server, mut alice) = alice_with_sm(|l| l.max_unacked = 5).await;
    bob_sends(&server, 20, "hello").await;
    let mut handled = 0;
    while handled < 20 {
        let el = alice.next().await;
        if el.name() == "message" {
            handled += 1;
            assert_eq!(el.attr("id"), Some(format!("m{handled}").as_str()));
        } else if el.is("r", SM) {
            alice.send(&format!("<a xmlns='{SM}' h='{handled}'/>")).await;
        }
    }
    alice.expect_none(Duration::from_millis(300), |e| e.is("error", ns::STREAM)).await;
}

#[tokio::test]
async fn a_hibernating_session_that_fills_up_gives_up_without_losing_a_message() {
    // Before: the stanza that found the queue full was dropped along with the session.
    let (server, alice) = alice_with_sm(|l| l.max_unacked = 3).await;
    let jid = alice.jid.clone().unwrap();
    alice.kill();
    server.wait_for_detached(&jid).await;
    bob_sends(&server, 5, "while you were away").await;
    all_kept_offline(&server, 5).await;
}
