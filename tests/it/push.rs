//! XEP-0357 push: sent while the account's only client hibernates or is offline, not while
//! it is online; retried, then disabled when the app server keeps failing.

use crate::named;
use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::time::Duration;

const PUSH: &str = "urn:xmpp:push:0";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";

fn is_push(e: &Element) -> bool {
    e.name() == "iq" && e.get_child("pubsub", PUBSUB).is_some()
}

fn summary_field(push: &Element, var: &str) -> Option<String> {
    let form = push
        .get_child("pubsub", PUBSUB)?
        .get_child("publish", PUBSUB)?
        .get_child("item", PUBSUB)?
        .get_child("notification", PUSH)?
        .get_child("x", "jabber:x:data")?;
    form.children().find(|f| f.attr("var") == Some(var)).map(|f| f.children().map(Element::text).collect())
}

async fn answer(app: &mut TestClient, push: &Element, ok: bool) {
    let id = push.attr("id").unwrap();
    if ok {
        app.send(&format!("<iq type='result' id='{id}' to='localhost'/>")).await;
    } else {
        app.send(&format!("<iq type='error' id='{id}' to='localhost'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")).await;
    }
}

#[tokio::test]
async fn pushes_go_out_only_while_nobody_is_online_and_stop_for_failing_app_servers() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("pusher", "pw").start().await;
    let mut app = server.connect().resource("app").login("pusher", "pw").await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    alice.send("<presence/>").await;
    let enable = alice
        .iq(&format!(
            "<iq type='set' id='e'><enable xmlns='{PUSH}' jid='pusher@localhost/app' node='n1'>\
             <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='secret'><value>eruio234vzxc2kla-91</value></field></x></enable></iq>"
        ))
        .await;
    assert_eq!(enable.attr("type"), Some("result"), "{enable:?}");
    let mut bob = server.connect().resource("b").login("bob", "pw").await;

    // Online: no push.
    bob.send("<message to='alice@localhost' type='chat'><body>you there?</body></message>").await;
    alice.expect(named("message")).await;
    app.expect_none(Duration::from_millis(300), is_push).await;

    // Hibernating (XEP-0198): pushed, with count and sender but no body.
    alice.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>").await;
    alice.expect(|e| e.name() == "enabled").await;
    alice.kill();
    server.wait_for_detached("alice@localhost/phone").await;
    bob.send("<message to='alice@localhost' type='chat'><body>secret words</body></message>").await;
    let push = app.expect(is_push).await;
    assert_eq!(push.attr("from"), Some("localhost"));
    let publish = push.get_child("pubsub", PUBSUB).unwrap().get_child("publish", PUBSUB).unwrap();
    assert_eq!(publish.attr("node"), Some("n1"));
    assert_eq!(summary_field(&push, "message-count").as_deref(), Some("1"));
    assert_eq!(summary_field(&push, "last-message-sender").as_deref(), Some("bob@localhost/b"));
    assert_eq!(summary_field(&push, "last-message-body"), None, "bodies stay out unless the user asked for them");
    let options =
        push.get_child("pubsub", PUBSUB).unwrap().get_child("publish-options", PUBSUB).expect("publish-options");
    assert!(xml_contains(options, "eruio234vzxc2kla-91"));
    answer(&mut app, &push, true).await;

    bob.send("<message to='alice@localhost' type='chat'><body>hello?</body></message>").await;
    let push = app.expect(is_push).await;
    assert_eq!(summary_field(&push, "message-count").as_deref(), Some("2"));

    // The app server fails every attempt: after the retries the registration is gone.
    answer(&mut app, &push, false).await;
    for _ in 0..2 {
        let retry = app.expect(is_push).await;
        answer(&mut app, &retry, false).await;
    }
    bob.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    // Disabling is one database write after the last failed answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.send("<message to='alice@localhost' type='chat'><body>anyone?</body></message>").await;
    app.expect_none(Duration::from_millis(400), is_push).await;
}

fn xml_contains(el: &Element, text: &str) -> bool {
    el.text().contains(text) || el.children().any(|c| xml_contains(c, text))
}

#[tokio::test]
async fn offline_accounts_are_pushed_until_they_disable_it() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("pusher", "pw").start().await;
    let mut app = server.connect().resource("app").login("pusher", "pw").await;
    // A message before alice registers: she is known to have no registrations from then on,
    // until she enables one.
    let mut bob = server.client("bob", "pw").await;
    bob.send("<message to='alice@localhost' type='chat'><body>before</body></message>").await;
    bob.iq("<iq type='get' id='after' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    app.expect_none(Duration::from_millis(100), is_push).await;
    let mut alice = server.client("alice", "pw").await;
    // This client asks for bodies (the default policy lets users opt in).
    let features = alice
        .iq("<iq type='get' id='f' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let features = features.get_child("query", "http://jabber.org/protocol/disco#info").unwrap();
    assert!(features.children().any(|f| f.attr("var") == Some("https://rhein.chat/protocol/push:0")));
    alice
        .iq(&format!(
            "<iq type='set' id='e'><enable xmlns='{PUSH}' jid='pusher@localhost/app' node='n2'>\
             <include-body xmlns='https://rhein.chat/protocol/push:0'/></enable></iq>"
        ))
        .await;
    alice.close().await;
    bob.send("<message to='alice@localhost' type='chat'><body>while you sleep</body></message>").await;
    let push = app.expect(is_push).await;
    assert_eq!(summary_field(&push, "last-message-body").as_deref(), Some("while you sleep"));
    answer(&mut app, &push, true).await;

    let mut alice = server.client("alice", "pw").await;
    let off = alice
        .iq(&format!("<iq type='set' id='d'><disable xmlns='{PUSH}' jid='pusher@localhost/app' node='n2'/></iq>"))
        .await;
    assert_eq!(off.attr("type"), Some("result"));
    alice.close().await;
    bob.send("<message to='alice@localhost' type='chat'><body>quiet now</body></message>").await;
    app.expect_none(Duration::from_millis(300), is_push).await;
    let _ = ns::CLIENT;
}

/// App servers elsewhere: one on another server (through federation) and one as a component.
#[tokio::test]
async fn pushes_reach_remote_and_component_app_servers() {
    let alpha = TestServer::builder()
        .domain("alpha.test")
        .user("alice", "pw")
        .user("carol", "pw")
        .component("push.alpha.test", "component-secret")
        .federation("127.0.0.2:0")
        .start()
        .await;
    let beta = TestServer::builder().domain("beta.test").user("pusher", "pw").federation("127.0.0.3:0").start().await;
    alpha.pin("beta.test", beta.s2s_addr());
    beta.pin("alpha.test", alpha.s2s_addr());
    let mut remote_app = beta.connect().resource("app").login("pusher", "pw").await;
    let (mut component_app, id) = TestClient::component(alpha.component_addr(), "push.alpha.test").await;
    component_app.component_handshake(&id, "component-secret").await.unwrap();

    let mut alice = alpha.client("alice", "pw").await;
    for (jid, node) in [("pusher@beta.test/app", "remote"), ("push.alpha.test", "component")] {
        let enable = alice
            .iq(&format!("<iq type='set' id='e-{node}'><enable xmlns='{PUSH}' jid='{jid}' node='{node}'/></iq>"))
            .await;
        assert_eq!(enable.attr("type"), Some("result"));
    }
    alice.close().await;
    let mut carol = alpha.client("carol", "pw").await;
    carol.send("<message to='alice@alpha.test' type='chat'><body>wake up</body></message>").await;

    let push = remote_app.expect(is_push).await;
    assert_eq!(push.attr("from"), Some("alpha.test"));
    let node =
        push.get_child("pubsub", PUBSUB).and_then(|p| p.get_child("publish", PUBSUB)).and_then(|p| p.attr("node"));
    assert_eq!(node, Some("remote"));
    remote_app.send(&format!("<iq type='result' id='{}' to='alpha.test'/>", push.attr("id").unwrap())).await;

    let push = component_app.expect(|e| e.name() == "iq" && e.get_child("pubsub", PUBSUB).is_some()).await;
    let node =
        push.get_child("pubsub", PUBSUB).and_then(|p| p.get_child("publish", PUBSUB)).and_then(|p| p.attr("node"));
    assert_eq!(node, Some("component"));
    component_app
        .send(&format!("<iq type='result' id='{}' from='push.alpha.test' to='alpha.test'/>", push.attr("id").unwrap()))
        .await;
}

#[tokio::test]
async fn inactive_clients_are_pushed_too() {
    // XEP-0352: a client that said it is inactive is connected but nobody is looking at it.
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("pusher", "pw").start().await;
    let mut app = server.connect().resource("app").login("pusher", "pw").await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    alice.send("<presence/>").await;
    alice
        .iq(&format!("<iq type='set' id='e'><enable xmlns='{PUSH}' jid='pusher@localhost/app' node='n3'/></iq>"))
        .await;
    let mut bob = server.client("bob", "pw").await;
    alice.send("<inactive xmlns='urn:xmpp:csi:0'/>").await;
    bob.iq("<iq type='get' id='sync1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    alice.iq("<iq type='get' id='sync2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    bob.send("<message to='alice@localhost' type='chat'><body>are you asleep?</body></message>").await;
    let push = app.expect(is_push).await;
    answer(&mut app, &push, true).await;
    alice.expect(named("message")).await;
    alice.send("<active xmlns='urn:xmpp:csi:0'/>").await;
    alice.iq("<iq type='get' id='sync3' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    bob.send("<message to='alice@localhost' type='chat'><body>awake now</body></message>").await;
    alice
        .expect(|e| e.name() == "message" && e.get_child("body", ns::CLIENT).is_some_and(|b| b.text() == "awake now"))
        .await;
    app.expect_none(Duration::from_millis(300), is_push).await;
}
