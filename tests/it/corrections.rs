//! XEP-0308 last message correction: a correction travels as sent (its `<replace/>` kept) in
//! chats, rooms and channels, and is archived as sent, so a client reading the archive
//! applies it as a live client does.

use crate::named;
use rhein_testkit::{Element, TestClient, TestServer, ns};

const CORRECT: &str = "urn:xmpp:message-correct:0";
const MAM: &str = "urn:xmpp:mam:2";

/// The messages of an archive (`to`: the account's own when `None`), as archived.
pub(crate) async fn archived(c: &mut TestClient, to: Option<&str>) -> Vec<Element> {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    c.send(&format!("<iq type='set' id='mam'{to}><query xmlns='{MAM}' queryid='q'/></iq>")).await;
    let mut messages = Vec::new();
    loop {
        let el = c.expect(|e| e.attr("id") == Some("mam") || e.get_child("result", MAM).is_some()).await;
        if el.name() == "iq" {
            assert_eq!(el.attr("type"), Some("result"), "{el:?}");
            return messages;
        }
        let fwd = el.get_child("result", MAM).and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0")).unwrap();
        messages.push(fwd.get_child("message", ns::CLIENT).unwrap().clone());
    }
}

/// The id a message corrects, if it is a correction.
fn corrects(m: &Element) -> Option<&str> {
    m.get_child("replace", CORRECT).and_then(|r| r.attr("id"))
}

fn body(m: &Element) -> String {
    m.get_child("body", ns::CLIENT).map(Element::text).unwrap_or_default()
}

#[tokio::test]
async fn corrections_travel_and_are_archived_as_sent() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let (mut alice, mut bob) = crate::online_friends(&server).await;

    // A chat.
    alice.send("<message to='bob@localhost' type='chat' id='c1'><body>helo</body></message>").await;
    bob.expect(|e| e.attr("id") == Some("c1")).await;
    let fix = format!(
        "<message to='bob@localhost' type='chat' id='c2'><body>hello</body><replace xmlns='{CORRECT}' id='c1'/></message>"
    );
    alice.send(&fix).await;
    let got = bob.expect(|e| e.attr("id") == Some("c2")).await;
    assert_eq!((corrects(&got), body(&got).as_str()), (Some("c1"), "hello"));
    for c in [&mut alice, &mut bob] {
        let chat: Vec<Element> =
            archived(c, None).await.into_iter().filter(|m| m.has_child("body", ns::CLIENT)).collect();
        let last = chat.last().unwrap();
        assert_eq!((corrects(last), body(last).as_str()), (Some("c1"), "hello"), "archived as sent");
    }

    // A room.
    let room = "fixes@conference.localhost";
    crate::muc::create(&mut alice, room, "alice", "").await;
    bob.send(&format!("<presence to='{room}/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")).await;
    bob.expect(|e| e.name() == "message" && e.has_child("subject", ns::CLIENT)).await;
    alice.send(&format!("<message to='{room}' type='groupchat' id='g1'><body>teh</body></message>")).await;
    bob.expect(|e| e.attr("id") == Some("g1")).await;
    alice
        .send(&format!(
            "<message to='{room}' type='groupchat' id='g2'><body>the</body><replace xmlns='{CORRECT}' id='g1'/></message>"
        ))
        .await;
    let got = bob.expect(|e| e.attr("id") == Some("g2")).await;
    assert_eq!((corrects(&got), body(&got).as_str()), (Some("g1"), "the"));
    let history = archived(&mut bob, Some(room)).await;
    let last = history.last().unwrap();
    assert_eq!((corrects(last), body(last).as_str()), (Some("g1"), "the"), "the room archives it as sent");

    // A channel.
    let channel = "fixes@channels.localhost";
    assert_eq!(crate::mix::create(&mut alice, "fixes").await.attr("type"), Some("result"));
    crate::mix::client_join(&mut alice, channel, "alice").await;
    crate::mix::client_join(&mut bob, channel, "bob").await;
    alice.send(&format!("<message to='{channel}' type='groupchat' id='x1'><body>spel</body></message>")).await;
    bob.expect(|e| e.attr("id") == Some("x1") || (named("message")(e) && body(e) == "spel")).await;
    alice
        .send(&format!(
            "<message to='{channel}' type='groupchat' id='x2'><body>spell</body><replace xmlns='{CORRECT}' id='x1'/></message>"
        ))
        .await;
    let got = bob.expect(|e| named("message")(e) && body(e) == "spell").await;
    assert_eq!(corrects(&got), Some("x1"), "{got:?}");
    let history = archived(&mut bob, Some(channel)).await;
    let last = history.last().unwrap();
    assert_eq!((corrects(last), body(last).as_str()), (Some("x1"), "spell"), "the channel archives it as sent");
}
