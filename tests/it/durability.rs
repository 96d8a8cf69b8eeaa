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

/// The archive writer's batches so far, from the metrics of the server at `metrics`.
async fn archive_batches(metrics: u16) -> f64 {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", metrics)).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let (_, _, body) = crate::web::http(tcp, request).await;
    crate::metrics::sample(&body, "rhein_archive_batch_size_count").unwrap_or(0.0)
}

/// One client's messages share archive commits: the session reads the next message while
/// the last one's rows are being committed, so a burst's 2 rows per message go to disk in
/// far fewer batches than rows; still `h` covers a message only once both rows are
/// committed, an IQ after the burst (a MAM query) sees every row, and the recipient gets the
/// messages in order. (The server runs as its own process: the metrics are its alone.)
#[tokio::test]
async fn a_clients_messages_share_archive_commits_and_stay_in_order() {
    const BURST: usize = 200;
    let dir = crate::cli::temp_dir("pipeline");
    let (port, metrics) = (crate::cli::free_port(), crate::cli::free_port());
    let config = crate::reload::config_text(&dir, port, None, "", 10, "warn");
    let config = format!("{config}\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n");
    let (_server, addr, _) = crate::reload::serve(&dir, &config, &["alice", "bob"]).await;
    let mut bob = rhein_testkit::ClientBuilder::new(addr, "cli.example").login("bob", "pw").await;
    bob.send("<presence/>").await;
    bob.iq("<iq type='get' id='ready' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let mut alice = rhein_testkit::ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    alice.send(&format!("<enable xmlns='{SM}'/>")).await;
    alice.expect(|e| e.is("enabled", SM)).await;

    let before = archive_batches(metrics).await;
    let burst: String = (0..BURST)
        .map(|i| format!("<message to='bob@cli.example' type='chat' id='p{i}'><body>{i}</body></message>"))
        .collect();
    let count = "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query>";
    alice.send(&format!("{burst}<iq type='set' id='count'>{count}</iq><r xmlns='{SM}'/>")).await;
    let fin = alice.expect(|e| e.attr("id") == Some("count")).await;
    let fin = rhein_proto::xml::to_string(&fin);
    assert!(fin.contains(&format!("<count>{BURST}</count>")), "the query sees every message before it: {fin}");
    let a = alice.expect(|e| e.is("a", SM)).await;
    assert_eq!(a.attr("h"), Some((BURST + 1).to_string().as_str()), "the messages and the query");
    let batches = archive_batches(metrics).await - before;
    eprintln!("{} archive rows in {batches} commits", 2 * BURST);
    assert!(batches <= (BURST as f64), "{} rows took {batches} commits", 2 * BURST);

    for i in 0..BURST {
        let m = bob.expect(|e| e.name() == "message").await;
        assert_eq!(m.attr("id"), Some(format!("p{i}").as_str()), "in the order sent");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
