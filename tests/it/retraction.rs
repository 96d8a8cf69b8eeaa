//! XEP-0424 message retraction in chats and rooms, and XEP-0425 moderation in rooms: the
//! retracted message leaves a tombstone in every archive that held it, the retraction
//! reaches those who saw the message, and only its author (or a room's moderator) may.

use crate::{error_condition, named};
use rhein_testkit::{Element, TestClient, TestServer, ns};

const MAM: &str = "urn:xmpp:mam:2";
const SID: &str = "urn:xmpp:sid:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const MODERATE: &str = "urn:xmpp:message-moderate:1";
const CARBONS: &str = "urn:xmpp:carbons:2";
const MUC: &str = "http://jabber.org/protocol/muc";
const OWNER: &str = "http://jabber.org/protocol/muc#owner";
const ROOM: &str = "lounge@conference.localhost";

/// The messages of an archive (the client's own, or a room's), oldest first, with their
/// archive ids.
async fn archive(c: &mut TestClient, to: Option<&str>, id: &str) -> Vec<(String, Element)> {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    c.send(&format!("<iq type='set' id='{id}'{to}><query xmlns='{MAM}' queryid='{id}'/></iq>")).await;
    let mut messages = Vec::new();
    loop {
        let el = c.expect(|e| e.attr("id") == Some(id) || e.get_child("result", MAM).is_some()).await;
        if el.name() == "iq" {
            assert_eq!(el.attr("type"), Some("result"), "{el:?}");
            return messages;
        }
        let result = el.get_child("result", MAM).unwrap();
        let fwd = result.get_child("forwarded", "urn:xmpp:forward:0").unwrap();
        let m = fwd.get_child("message", ns::CLIENT).unwrap().clone();
        messages.push((result.attr("id").unwrap().to_owned(), m));
    }
}

fn body(m: &Element) -> Option<String> {
    m.get_child("body", ns::CLIENT).map(Element::text)
}

/// The `<retracted/>` tombstone marker of an archived message.
fn tombstone(m: &Element) -> Option<&Element> {
    m.get_child("retracted", RETRACT)
}

fn retraction(to: &str, kind: &str, id: &str, of: &str) -> String {
    format!(
        "<message to='{to}' type='{kind}' id='{id}'><retract id='{of}' xmlns='{RETRACT}'/>\
         <fallback xmlns='urn:xmpp:fallback:0' for='{RETRACT}'/><body>/me retracted a message</body>\
         <store xmlns='urn:xmpp:hints'/></message>"
    )
}

fn retracts(of: &str) -> impl Fn(&Element) -> bool + '_ {
    move |e| e.name() == "message" && e.get_child("retract", RETRACT).and_then(|r| r.attr("id")) == Some(of)
}

#[tokio::test]
async fn a_chat_retraction_tombstones_both_archives_and_reaches_the_recipient_and_own_clients() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    let mut alice2 = server.connect().resource("laptop").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    for c in [&mut alice, &mut alice2, &mut bob] {
        c.send("<presence/>").await;
    }
    let enabled = alice2.iq(&format!("<iq type='set' id='carbons'><enable xmlns='{CARBONS}'/></iq>")).await;
    assert_eq!(enabled.attr("type"), Some("result"));
    let info =
        alice.iq(&format!("<iq type='get' id='i' to='alice@localhost'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let features: Vec<&str> =
        info.get_child("query", ns::DISCO_INFO).unwrap().children().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&RETRACT) && features.contains(&"urn:xmpp:message-retract:1#tombstone"), "{features:?}");

    alice
        .send(&format!(
            "<message to='bob@localhost' type='chat' id='orig-1'><body>wrong window</body>\
             <origin-id xmlns='{SID}' id='orig-1'/></message>"
        ))
        .await;
    bob.expect(|e| e.attr("id") == Some("orig-1")).await;
    alice2.expect(|e| e.get_child("sent", CARBONS).is_some()).await;
    alice.send(&retraction("bob@localhost", "chat", "retract-1", "orig-1")).await;

    // The recipient is told, and so is the sender's other client.
    bob.expect(retracts("orig-1")).await;
    let carbon = alice2.expect(|e| e.get_child("sent", CARBONS).is_some()).await;
    let copied = carbon.get_child("sent", CARBONS).unwrap().get_child("forwarded", "urn:xmpp:forward:0").unwrap();
    assert!(retracts("orig-1")(copied.get_child("message", ns::CLIENT).unwrap()), "{carbon:?}");

    // Both archives keep a tombstone in the message's place, and the retraction after it.
    for (c, owner) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let messages = archive(c, None, &format!("mam-{owner}")).await;
        assert_eq!(messages.len(), 2, "{owner}: {messages:?}");
        let (stone, retraction) = (&messages[0].1, &messages[1].1);
        assert_eq!(body(stone), None, "{owner}: {stone:?}");
        assert_eq!(stone.attr("id"), Some("orig-1"));
        let marker = tombstone(stone).unwrap_or_else(|| panic!("{owner}: no tombstone in {stone:?}"));
        assert_eq!(marker.attr("id"), Some("retract-1"));
        assert!(marker.attr("stamp").is_some());
        assert!(retracts("orig-1")(retraction));
    }
}

#[tokio::test]
async fn nobody_retracts_a_message_they_did_not_send() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    alice.send("<message to='bob@localhost' type='chat' id='a-1'><body>mine</body></message>").await;
    bob.expect(|e| e.attr("id") == Some("a-1")).await;

    // bob names alice's message: it is delivered (alice's client makes the same check), and
    // neither archive changes.
    bob.send(&retraction("alice@localhost", "chat", "b-retract", "a-1")).await;
    alice.expect(retracts("a-1")).await;
    for (c, owner) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let messages = archive(c, None, &format!("mam-{owner}")).await;
        assert_eq!(body(&messages[0].1).as_deref(), Some("mine"), "{owner}: {messages:?}");
        assert!(messages.iter().all(|(_, m)| tombstone(m).is_none()), "{owner}: {messages:?}");
    }
}

async fn join(c: &mut TestClient, nick: &str, history: &str) {
    c.send(&format!("<presence to='{ROOM}/{nick}'><x xmlns='{MUC}'>{history}</x></presence>")).await;
    c.expect(|e| e.name() == "message" && e.get_child("subject", ns::CLIENT).is_some()).await;
}

/// alice creates and owns the room (a moderator); bob and carol join as participants.
async fn room(server: &TestServer) -> (TestClient, TestClient, TestClient) {
    let mut alice = server.client("alice", "pw").await;
    join(&mut alice, "alice", "").await;
    let done = alice
        .iq(&format!(
            "<iq type='set' to='{ROOM}' id='cfg'><query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>"
        ))
        .await;
    assert_eq!(done.attr("type"), Some("result"), "{done:?}");
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, "bob", "").await;
    let mut carol = server.client("carol", "pw").await;
    join(&mut carol, "carol", "").await;
    (alice, bob, carol)
}

/// Sends a group message and returns the room's stanza id for it, as `others` saw it.
async fn say(from: &mut TestClient, others: &mut [&mut TestClient], id: &str, text: &str) -> String {
    from.send(&format!(
        "<message to='{ROOM}' type='groupchat' id='{id}'><body>{text}</body><origin-id xmlns='{SID}' id='{id}'/></message>"
    ))
    .await;
    let echo = from.expect(|e| e.attr("id") == Some(id)).await;
    for other in others {
        other.expect(|e| e.attr("id") == Some(id)).await;
    }
    echo.get_child("stanza-id", SID).and_then(|s| s.attr("id")).expect("stanza-id").to_owned()
}

/// The history a newcomer gets, as bodies.
async fn history_of(server: &TestServer, user: &str) -> Vec<Option<String>> {
    let mut c = server.client(user, "pw").await;
    c.send(&format!("<presence to='{ROOM}/{user}'><x xmlns='{MUC}'/></presence>")).await;
    let mut bodies = Vec::new();
    loop {
        let m = c.expect(named("message")).await;
        if m.get_child("subject", ns::CLIENT).is_some() {
            return bodies;
        }
        bodies.push(body(&m));
    }
}

#[tokio::test]
async fn occupants_retract_their_own_room_messages_only() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .user("dave", "pw")
        .start()
        .await;
    let (mut alice, mut bob, mut carol) = room(&server).await;
    let oops = say(&mut bob, &mut [&mut alice, &mut carol], "b-1", "oops").await;
    say(&mut bob, &mut [&mut alice, &mut carol], "b-2", "second thoughts").await;
    let kept = say(&mut alice, &mut [&mut bob, &mut carol], "a-1", "hello").await;

    // carol may not retract alice's message.
    carol.send(&retraction(ROOM, "groupchat", "c-r", &kept)).await;
    let refused = carol.expect(|e| e.attr("id") == Some("c-r")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"), "{refused:?}");

    // bob retracts his first message by the room's stanza id (as the XEP says) and his
    // second by his own id for it (as Converse.js does); everyone is told.
    bob.send(&retraction(ROOM, "groupchat", "b-r1", &oops)).await;
    bob.send(&retraction(ROOM, "groupchat", "b-r2", "b-2")).await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.expect(retracts(&oops)).await;
        c.expect(retracts("b-2")).await;
    }

    let messages = archive(&mut alice, Some(ROOM), "room-mam").await;
    let bodies: Vec<Option<String>> = messages.iter().map(|(_, m)| body(m)).collect();
    assert_eq!(bodies[..3], [None, None, Some("hello".into())], "{messages:?}");
    assert_eq!(messages[0].0, oops);
    assert_eq!(tombstone(&messages[0].1).and_then(|t| t.attr("id")), Some("b-r1"));
    assert_eq!(tombstone(&messages[1].1).and_then(|t| t.attr("id")), Some("b-r2"));
    assert!(tombstone(&messages[2].1).is_none());

    // A newcomer gets neither the retracted messages nor the retractions.
    assert_eq!(history_of(&server, "dave").await, [Some("hello".to_owned())]);
}

#[tokio::test]
async fn moderators_retract_any_message_with_a_reason_and_others_may_not() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .user("dave", "pw")
        .start()
        .await;
    let (mut alice, mut bob, mut carol) = room(&server).await;
    let info = alice.iq(&format!("<iq type='get' to='{ROOM}' id='i'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let features: Vec<&str> =
        info.get_child("query", ns::DISCO_INFO).unwrap().children().filter_map(|f| f.attr("var")).collect();
    for f in [RETRACT, MODERATE, "urn:xmpp:message-retract:1#tombstone"] {
        assert!(features.contains(&f), "{f} missing from {features:?}");
    }
    say(&mut carol, &mut [&mut alice, &mut bob], "c-1", "welcome").await;
    let spam = say(&mut bob, &mut [&mut alice, &mut carol], "b-1", "DM me for free magic potions!").await;
    let moderate = |id: &str, of: &str| {
        format!(
            "<iq type='set' to='{ROOM}' id='{id}'><moderate id='{of}' xmlns='{MODERATE}'>\
             <retract xmlns='{RETRACT}'/><reason>Spam</reason></moderate></iq>"
        )
    };

    // A participant is no moderator; an unknown id is no message.
    let refused = carol.iq(&moderate("m0", &spam)).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"), "{refused:?}");
    let unknown = alice.iq(&moderate("m1", "no-such-id")).await;
    assert_eq!(error_condition(&unknown).as_deref(), Some("item-not-found"), "{unknown:?}");

    let done = alice.iq(&moderate("m2", &spam)).await;
    assert_eq!(done.attr("type"), Some("result"), "{done:?}");
    for c in [&mut alice, &mut bob, &mut carol] {
        let notice = c.expect(retracts(&spam)).await;
        assert_eq!(notice.attr("from"), Some(ROOM), "{notice:?}");
        let retract = notice.get_child("retract", RETRACT).unwrap();
        let moderated = retract.get_child("moderated", MODERATE).expect("moderated");
        assert_eq!(moderated.attr("by"), Some(format!("{ROOM}/alice").as_str()));
        assert_eq!(retract.get_child("reason", RETRACT).map(Element::text).as_deref(), Some("Spam"));
    }

    // The room's archive keeps a tombstone saying who and why.
    let messages = archive(&mut carol, Some(ROOM), "room-mam").await;
    let (id, stone) = &messages[1];
    assert_eq!((id, body(stone)), (&spam, None), "{messages:?}");
    let marker = tombstone(stone).expect("tombstone");
    let moderated = marker.get_child("moderated", MODERATE).expect("moderated");
    assert_eq!(moderated.attr("by"), Some(format!("{ROOM}/alice").as_str()));
    assert!(moderated.get_child("occupant-id", "urn:xmpp:occupant-id:0").is_some());
    assert_eq!(marker.get_child("reason", RETRACT).map(Element::text).as_deref(), Some("Spam"));
    assert!(!format!("{messages:?}").contains("potions"));

    assert_eq!(history_of(&server, "dave").await, [Some("welcome".to_owned())]);
}

/// XEP-0424 §7 for MUC private messages: the room's JID is everyone's bare JID there, so a
/// retraction counts only from the same occupant JID that sent the message.
#[tokio::test]
async fn in_private_room_messages_only_the_occupant_who_wrote_retracts() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let (mut alice, mut bob, mut carol) = room(&server).await;
    let to_alice = format!("{ROOM}/alice");
    let pm = |id: &str, inner: &str| {
        format!(
            "<message to='{to_alice}' type='chat' id='{id}'>{inner}<x xmlns='http://jabber.org/protocol/muc#user'/></message>"
        )
    };
    bob.send(&pm("pm-1", "<body>just between us</body>")).await;
    alice.expect(|e| e.attr("id") == Some("pm-1")).await;
    let retract = format!(
        "<retract id='pm-1' xmlns='{RETRACT}'/><fallback xmlns='urn:xmpp:fallback:0' for='{RETRACT}'/>\
         <body>/me retracted a message</body><store xmlns='urn:xmpp:hints'/>"
    );
    // carol, another occupant of the same room, names bob's message: nothing changes.
    carol.send(&pm("c-r", &retract)).await;
    alice.expect(|e| e.attr("id") == Some("c-r")).await;
    let kept = archive(&mut alice, None, "a1").await;
    let original = kept.iter().find(|(_, m)| body(m).as_deref() == Some("just between us"));
    assert!(original.is_some_and(|(_, m)| tombstone(m).is_none()), "untouched: {kept:?}");
    // bob himself retracts it.
    bob.send(&pm("b-r", &retract)).await;
    alice.expect(|e| e.attr("id") == Some("b-r")).await;
    let after = archive(&mut alice, None, "a2").await;
    assert!(after.iter().all(|(_, m)| body(m).as_deref() != Some("just between us")), "{after:?}");
    assert!(after.iter().any(|(_, m)| tombstone(m).is_some()), "a tombstone: {after:?}");
}
