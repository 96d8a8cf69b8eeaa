//! The SOCKS5 bytestreams proxy (XEP-0065): discovery, its address, a relayed transfer byte
//! for byte, and the refusals: a hash already taken, activation by someone else or too
//! early, too many transfers, and an idle transfer ending.

use crate::error_condition;
use rhein_testkit::{Element, TestClient, TestServer, ns};
use sha1::Digest;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BYTESTREAMS: &str = "http://jabber.org/protocol/bytestreams";

async fn server() -> TestServer {
    server_with("max_transfers_per_account = 1\nidle_timeout_secs = 1").await
}

/// A server with the proxy on loopback and `settings` for it.
async fn server_with(settings: &str) -> TestServer {
    let settings: toml::Table =
        toml::from_str(&format!("listen = '127.0.0.1:0'\nhost = '127.0.0.1'\n{settings}")).unwrap();
    TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .configure(|c| {
            c.modules.enabled.push("proxy65".into());
            c.modules.settings.insert("proxy65".into(), settings.into());
        })
        .start()
        .await
}

fn hash(sid: &str, requester: &str, target: &str) -> String {
    let digest = sha1::Sha1::digest(format!("{sid}{requester}{target}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Connects to the proxy with SOCKS5 and asks for `hash`; the reply code.
async fn socks5(addr: SocketAddr, hash: &str) -> (TcpStream, u8) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut method = [0u8; 2];
    s.read_exact(&mut method).await.unwrap();
    assert_eq!(method, [5, 0], "no authentication");
    let mut request = vec![5, 1, 0, 3, hash.len() as u8];
    request.extend_from_slice(hash.as_bytes());
    request.extend_from_slice(&[0, 0]);
    s.write_all(&request).await.unwrap();
    let mut reply = [0u8; 5];
    s.read_exact(&mut reply).await.unwrap();
    let mut rest = vec![0u8; usize::from(reply[4]) + 2];
    if reply[3] == 1 {
        rest.truncate(5); // an IPv4 address (4) and the port (2), one byte already read
    }
    s.read_exact(&mut rest).await.unwrap();
    (s, reply[1])
}

/// The proxy's streamhost as `requester` is told it.
async fn streamhost(requester: &mut TestClient) -> (String, SocketAddr) {
    let answer =
        requester.iq(&format!("<iq type='get' id='sh' to='proxy.localhost'><query xmlns='{BYTESTREAMS}'/></iq>")).await;
    let host = answer.get_child("query", BYTESTREAMS).and_then(|q| q.get_child("streamhost", BYTESTREAMS)).unwrap();
    let addr = format!("{}:{}", host.attr("host").unwrap(), host.attr("port").unwrap()).parse().unwrap();
    (host.attr("jid").unwrap().to_owned(), addr)
}

async fn activate(c: &mut TestClient, sid: &str, target: &str) -> Element {
    c.iq(&format!(
        "<iq type='set' id='act' to='proxy.localhost'><query xmlns='{BYTESTREAMS}' sid='{sid}'><activate>{target}</activate></query></iq>"
    ))
    .await
}

#[tokio::test]
async fn a_transfer_is_relayed_byte_for_byte_and_only_its_requester_activates_it() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;

    // Discovery: the host lists the proxy, which says what it is.
    let items = alice
        .iq("<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await;
    let listed =
        items.get_child("query", ns::DISCO_ITEMS).unwrap().children().any(|i| i.attr("jid") == Some("proxy.localhost"));
    assert!(listed, "{items:?}");
    let info = alice
        .iq("<iq type='get' id='d' to='proxy.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let identity = info.get_child("query", ns::DISCO_INFO).unwrap().get_child("identity", ns::DISCO_INFO).unwrap();
    assert_eq!((identity.attr("category"), identity.attr("type")), (Some("proxy"), Some("bytestreams")));

    let (jid, addr) = streamhost(&mut alice).await;
    assert_eq!(jid, "proxy.localhost");
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let (alice_jid, bob_jid) = (alice.jid.clone().unwrap(), bob.jid.clone().unwrap());
    let dst = hash("s1", &alice_jid, &bob_jid);
    let (mut target, code) = socks5(addr, &dst).await;
    assert_eq!(code, 0);
    // Activating with only the target connected is too early.
    let early = activate(&mut alice, "s1", &bob_jid).await;
    assert_eq!(error_condition(&early).as_deref(), Some("not-allowed"));
    let (mut requester, code) = socks5(addr, &dst).await;
    assert_eq!(code, 0);
    // A third connection for the same hash is refused.
    let (_third, code) = socks5(addr, &dst).await;
    assert_eq!(code, 2, "not allowed");
    // Someone else cannot activate it: the hash has the requester's JID in it.
    let hijack = activate(&mut carol, "s1", &bob_jid).await;
    assert_eq!(error_condition(&hijack).as_deref(), Some("not-authorized"));
    let wrong_sid = activate(&mut alice, "s2", &bob_jid).await;
    assert_eq!(error_condition(&wrong_sid).as_deref(), Some("not-authorized"));
    let done = activate(&mut alice, "s1", &bob_jid).await;
    assert_eq!(done.attr("type"), Some("result"), "{done:?}");

    // A megabyte one way, an answer the other, byte for byte.
    let sent: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let sent = sent.clone();
        tokio::spawn(async move {
            requester.write_all(&sent).await.unwrap();
            requester.shutdown().await.unwrap();
            let mut answer = Vec::new();
            requester.read_to_end(&mut answer).await.unwrap();
            answer
        })
    };
    let mut received = vec![0u8; sent.len()];
    target.read_exact(&mut received).await.unwrap();
    assert!(received == sent, "the bytes arrive as sent");
    let mut end = [0u8; 1];
    assert_eq!(target.read(&mut end).await.unwrap(), 0, "the requester's end of stream is passed on");
    target.write_all(b"thanks").await.unwrap();
    target.shutdown().await.unwrap();
    assert_eq!(writer.await.unwrap(), b"thanks");

    // One transfer at a time for alice here; the next, once connected, is refused.
    let dst2 = hash("s3", &alice_jid, &bob_jid);
    let (_t, _) = socks5(addr, &dst2).await;
    let (_r, _) = socks5(addr, &dst2).await;
    let dst3 = hash("s4", &alice_jid, &bob_jid);
    let (mut idle_target, _) = socks5(addr, &dst3).await;
    let (_idle_requester, _) = socks5(addr, &dst3).await;
    assert_eq!(activate(&mut alice, "s4", &bob_jid).await.attr("type"), Some("result"));
    let busy = activate(&mut alice, "s3", &bob_jid).await;
    assert_eq!(error_condition(&busy).as_deref(), Some("resource-constraint"));
    // An idle transfer ends (idle_timeout_secs = 1), and makes room for the next.
    let mut nothing = [0u8; 1];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), idle_target.read(&mut nothing)).await;
    assert_eq!(read.expect("closed when idle").unwrap(), 0);
    let mut next = activate(&mut alice, "s3", &bob_jid).await;
    for _ in 0..50 {
        if next.attr("type") == Some("result") {
            break;
        }
        // The relay task counts its end just after closing; ask again until it has.
        tokio::task::yield_now().await;
        next = activate(&mut alice, "s3", &bob_jid).await;
    }
    assert_eq!(next.attr("type"), Some("result"), "{next:?}");
}

/// One address gets a few places before activation; beyond them, connections are closed at
/// once (so one host cannot keep everyone else's transfers out).
#[tokio::test]
async fn one_address_cannot_take_every_place() {
    let server = server_with("max_waiting_per_address = 2").await;
    let mut alice = server.client("alice", "pw").await;
    let (_, addr) = streamhost(&mut alice).await;
    let (_a, code) = socks5(addr, &hash("w1", "a", "b")).await;
    assert_eq!(code, 0);
    let (_b, code) = socks5(addr, &hash("w2", "a", "b")).await;
    assert_eq!(code, 0);
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(&[5, 1, 0]).await;
    let mut answer = [0u8; 2];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), third.read(&mut answer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed without an answer: {read:?}");
}
