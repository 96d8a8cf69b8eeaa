//! What the server acknowledged is stored: XEP-0198 `h` counts a message only once the
//! offline store committed it, whatever else writes to the database at the same time.

use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SM: &str = "urn:xmpp:sm:3";
const SENDERS: usize = 4;
const MESSAGES_PER_SENDER: usize = 600;
const STORM_ACCOUNTS: usize = 16;

/// Sends `MESSAGES_PER_SENDER` messages to an offline account with stream management on;
/// returns the server's final `h` and any errors that came back.
async fn send_all(mut c: TestClient, sender: usize) -> (usize, Vec<Element>) {
    c.send(&format!("<enable xmlns='{SM}'/>")).await;
    c.expect(|e| e.is("enabled", SM)).await;
    let to = format!("offline{sender}@localhost");
    let mut h = 0;
    // In bursts of 50, each acknowledged before the next (the client's reads time out
    // after 5 s of silence).
    for chunk in 0..MESSAGES_PER_SENDER / 50 {
        let burst: String = (0..50)
            .map(|i| {
                let n = chunk * 50 + i;
                format!("<message to='{to}' type='chat' id='m{n}'><body>{sender}/{n}</body></message>")
            })
            .collect();
        c.send(&format!("{burst}<r xmlns='{SM}'/>")).await;
        let ack = c.expect(|e| e.is("a", SM)).await;
        h = ack.attr("h").and_then(|h| h.parse().ok()).expect("a numeric h");
    }
    // Errors travel through the session's queue, and `<a/>` does not: a ping's answer,
    // queued after them, brings them all.
    c.iq("<iq type='get' id='flush' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let errors = c.drain_backlog().into_iter().filter(|e| e.attr("type") == Some("error")).collect();
    (h, errors)
}

/// Logs accounts in and out until `done`, so logins write while messages are stored.
async fn login_storm(server: Arc<TestServer>, done: Arc<AtomicBool>) -> usize {
    let mut logins = 0;
    // Bounded: at most 100 rounds, normally ended much sooner by `done`.
    for _ in 0..100 {
        if done.load(Ordering::Relaxed) {
            break;
        }
        let rounds = (0..STORM_ACCOUNTS).map(|i| {
            let server = server.clone();
            async move {
                let mut c = server.client(&format!("storm{i}"), "pw").await;
                c.send("<presence/>").await;
                c.iq("<iq type='get' id='r' ><query xmlns='jabber:iq:roster'/></iq>").await;
                c.close().await;
            }
        });
        futures::future::join_all(rounds).await;
        logins += STORM_ACCOUNTS;
    }
    logins
}

/// Logs in as `user` and counts the stored messages delivered after initial presence.
async fn delivered(server: &TestServer, user: &str, expected: usize) -> usize {
    let mut c = server.client(user, "pw").await;
    c.send("<presence/>").await;
    let mut got = 0;
    while got < expected {
        match tokio::time::timeout(Duration::from_secs(10), c.expect(|e| e.name() == "message")).await {
            Ok(m) if m.get_child("body", ns::CLIENT).is_some() => got += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_offline_messages_are_stored_during_a_login_storm() {
    let mut builder = TestServer::builder().durable();
    for i in 0..SENDERS {
        builder = builder.user(&format!("sender{i}"), "pw").user(&format!("offline{i}"), "pw");
    }
    for i in 0..STORM_ACCOUNTS {
        builder = builder.user(&format!("storm{i}"), "pw");
    }
    let server = Arc::new(builder.start().await);
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(server.client(&format!("sender{i}"), "pw").await);
    }
    let done = Arc::new(AtomicBool::new(false));
    let storm = tokio::spawn(login_storm(server.clone(), done.clone()));
    let sending: Vec<_> = senders.into_iter().enumerate().map(|(i, c)| tokio::spawn(send_all(c, i))).collect();
    let mut acked = Vec::new();
    for task in sending {
        let (h, errors) = task.await.unwrap();
        let first = errors.first().map(String::from);
        assert!(errors.is_empty(), "{} messages refused instead of stored, the first: {first:?}", errors.len());
        acked.push(h);
    }
    done.store(true, Ordering::Relaxed);
    let logins = storm.await.unwrap();
    assert!(logins > 0, "the storm ran");
    for (i, h) in acked.into_iter().enumerate() {
        assert_eq!(h, MESSAGES_PER_SENDER, "sender{i}: every message is acknowledged");
        let stored = delivered(&server, &format!("offline{i}"), h).await;
        assert_eq!(stored, h, "offline{i}: stored = acked");
    }
}
