//! XEP-0114 external components: handshake, routing both ways, and the refusals.

use crate::named;
use rhein_testkit::{Element, TestClient, TestServer, ns};

const SECRET: &str = "sesame-open";

async fn server() -> TestServer {
    TestServer::builder().user("alice", "pw").component("echo.localhost", SECRET).start().await
}

async fn attached(server: &TestServer) -> TestClient {
    let (mut c, id) = TestClient::component(server.component_addr(), "echo.localhost").await;
    c.component_handshake(&id, SECRET).await.expect("handshake accepted");
    c
}

fn stanza_error(el: &Element) -> Option<String> {
    let err = el.children().find(|c| c.name() == "error")?;
    err.children().find(|c| c.ns() == ns::STANZAS && c.name() != "text").map(|c| c.name().to_owned())
}

#[tokio::test]
async fn a_component_receives_its_domain_and_sends_from_it() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut comp = attached(&server).await;

    alice.send("<message to='bot@echo.localhost' id='m1' type='chat'><body>ping</body></message>").await;
    let got = comp.expect(named("message")).await;
    assert!(got.is("message", ns::COMPONENT_ACCEPT), "stanzas reach components in their namespace: {got:?}");
    assert_eq!(got.attr("from"), alice.jid.as_deref());
    assert_eq!(got.get_child("body", ns::COMPONENT_ACCEPT).map(|b| b.text()).as_deref(), Some("ping"));

    let alice_jid = alice.jid.clone().unwrap();
    comp.send(&format!(
        "<message from='bot@echo.localhost' to='{alice_jid}' type='chat' id='r1'><body>pong</body></message>"
    ))
    .await;
    let reply = alice.expect(named("message")).await;
    assert!(reply.is("message", ns::CLIENT));
    assert_eq!(reply.attr("from"), Some("bot@echo.localhost"));
    assert_eq!(reply.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(), Some("pong"));

    // IQs to the component's domain go to it; its answer comes back to the client.
    alice.send("<iq to='echo.localhost' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>").await;
    let iq = comp.expect(named("iq")).await;
    assert_eq!(iq.attr("to"), Some("echo.localhost"));
    comp.send(&format!(
        "<iq from='echo.localhost' to='{alice_jid}' type='result' id='v1'><query xmlns='jabber:iq:version'><name>echo</name></query></iq>"
    ))
    .await;
    let answer = alice.expect(|e| e.attr("id") == Some("v1")).await;
    assert_eq!(answer.attr("type"), Some("result"));

    // The component may ask the server itself.
    comp.send("<iq from='echo.localhost' to='localhost' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let pong = comp.expect(|e| e.attr("id") == Some("p1")).await;
    assert_eq!(pong.attr("type"), Some("result"));

    // The host lists the component among its services.
    let items = alice
        .iq("<iq to='localhost' type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await;
    let jids: Vec<_> =
        items.get_child("query", ns::DISCO_ITEMS).unwrap().children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(
        jids,
        ["channels.localhost", "conference.localhost", "echo.localhost", "pubsub.localhost", "upload.localhost"],
        "services and the component"
    );
}

#[tokio::test]
async fn an_absent_component_is_reported_to_the_sender() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<message to='bot@echo.localhost' id='m1'><body>anyone?</body></message>").await;
    let bounce = alice.expect(named("message")).await;
    assert_eq!(bounce.attr("type"), Some("error"));
    assert_eq!(stanza_error(&bounce).as_deref(), Some("service-unavailable"));
    let text = bounce.get_child("error", ns::CLIENT).and_then(|e| e.get_child("text", ns::STANZAS)).map(|t| t.text());
    assert!(text.unwrap_or_default().contains("not connected"));

    // Once it disconnects again, the same holds.
    let comp = attached(&server).await;
    assert!(server.running().router.component_connected("echo.localhost"));
    comp.close().await;
    for _ in 0..250 {
        if !server.running().router.component_connected("echo.localhost") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    alice.send("<message to='bot@echo.localhost' id='m2'><body>gone?</body></message>").await;
    let bounce = alice.expect(|e| e.attr("id") == Some("m2")).await;
    assert_eq!(stanza_error(&bounce).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn components_are_refused_precisely() {
    let server = server().await;

    let (mut wrong, id) = TestClient::component(server.component_addr(), "echo.localhost").await;
    assert_eq!(wrong.component_handshake(&id, "not-the-secret").await.unwrap_err(), "not-authorized");

    let (mut unknown, _) = TestClient::component(server.component_addr(), "nobody.localhost").await;
    assert_eq!(unknown.expect_stream_error().await, "host-unknown");

    let mut first = attached(&server).await;
    let (mut second, id) = TestClient::component(server.component_addr(), "echo.localhost").await;
    assert_eq!(second.component_handshake(&id, SECRET).await.unwrap_err(), "conflict");

    // A component cannot speak for anyone else.
    first.send("<message from='alice@localhost' to='alice@localhost'><body>spoof</body></message>").await;
    assert_eq!(first.expect_stream_error().await, "invalid-from");
    let mut again = attached(&server).await;
    again.send("<message to='alice@localhost'><body>who?</body></message>").await;
    assert_eq!(again.expect_stream_error().await, "improper-addressing");
}

#[tokio::test]
async fn a_component_must_complete_the_handshake_in_time() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::builder()
        .component("echo.localhost", SECRET)
        .configure(|c| c.limits.negotiation_timeout_secs = 1)
        .start()
        .await;
    // After its header, no handshake.
    let (mut silent, _) = TestClient::component(server.component_addr(), "echo.localhost").await;
    assert_eq!(silent.expect_stream_error().await, "connection-timeout");
    // No header at all: the error still comes on a stream of ours.
    let mut tcp = tokio::net::TcpStream::connect(server.component_addr()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("<?xml version='1.0'?><stream:stream"), "{text}");
    assert!(text.contains("<connection-timeout"), "{text}");
}
