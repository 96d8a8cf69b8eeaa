//! The unread overview (a Rhein extension, `https://rhein.chat/protocol/unread:0`): two
//! devices of one account sync where they read up to (XEP-0490, and XEP-0333 markers) and
//! read the unread and mention counts of every open conversation, by IQ and inline in Bind2.

use crate::muc::create;
use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::time::Duration;

const UNREAD: &str = "https://rhein.chat/protocol/unread:0";
const MDS: &str = "urn:xmpp:mds:displayed:0";
const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const ROOM: &str = "lounge@conference.localhost";

/// `(jid, type, unread, mentions)` of each conversation of an `<unread/>` answer.
fn counts(unread: &Element) -> Vec<(String, String, u64, u64)> {
    unread
        .children()
        .map(|c| {
            let n = |a: &str| c.attr(a).unwrap().parse().unwrap();
            (c.attr("jid").unwrap().to_owned(), c.attr("type").unwrap().to_owned(), n("unread"), n("mentions"))
        })
        .collect()
}

async fn overview(c: &mut TestClient, extra: &str) -> Element {
    let reply = c.iq(&format!("<iq type='get' id='ov'><unread xmlns='{UNREAD}'{extra}/></iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply:?}");
    reply.get_child("unread", UNREAD).expect("an overview").clone()
}

/// The `<stanza-id/>` the account's server gave a message it received.
fn stanza_id(m: &Element, by: &str) -> String {
    let sid = m.children().find(|c| c.is("stanza-id", "urn:xmpp:sid:0") && c.attr("by") == Some(by)).unwrap();
    sid.attr("id").unwrap().to_owned()
}

fn publish(node: &str, id: &str, payload: &str) -> String {
    format!(
        "<iq type='set' id='pub-{id}'><pubsub xmlns='{NS_PUBSUB}'><publish node='{node}'>\
         <item id='{id}'>{payload}</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='pubsub#persist_items'><value>true</value></field>\
         <field var='pubsub#max_items'><value>max</value></field>\
         <field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>"
    )
}

/// Bob writes three messages (the last mentions alice); one device of alice's marks the
/// second displayed through XEP-0490, the other reads the counts move; an XEP-0333 marker and
/// an answer read the rest; an open chat stays listed when read.
#[tokio::test]
async fn two_devices_sync_displayed_markers_and_read_the_unread_overview() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut phone = server.connect().resource("phone").login("alice", "pw").await;
    let mut laptop = server.connect().resource("laptop").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;
    crate::with_caps(&mut laptop, "l", &[&format!("{MDS}+notify")]).await;
    phone.send("<presence/>").await;

    let info = laptop
        .iq(&format!("<iq type='get' id='d' to='alice@localhost'><query xmlns='{}'/></iq>", ns::DISCO_INFO))
        .await;
    let features: Vec<&str> =
        info.get_child("query", ns::DISCO_INFO).unwrap().children().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&UNREAD), "the account advertises the overview: {features:?}");
    assert!(counts(&overview(&mut laptop, "").await).is_empty(), "nothing to report yet");

    let mention =
        "<reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:alice@localhost' begin='0' end='5'/>";
    for (i, extra) in [(1, ""), (2, ""), (3, mention)] {
        bob.send(&format!(
            "<message to='alice@localhost' type='chat' id='b{i}'><body>alice, message {i}</body>\
             <markable xmlns='urn:xmpp:chat-markers:0'/>{extra}</message>"
        ))
        .await;
    }
    let mut ids = Vec::new();
    for i in 1..=3 {
        let m = phone.expect(|e| e.name() == "message" && e.attr("id") == Some(format!("b{i}").as_str())).await;
        ids.push(stanza_id(&m, "alice@localhost"));
    }
    let all = overview(&mut laptop, " preview='true'").await;
    assert_eq!(counts(&all), [("bob@localhost".into(), "chat".into(), 3, 1)]);
    let last = all.children().next().unwrap().get_child("last", UNREAD).expect("the newest message");
    assert_eq!(last.attr("id"), Some(ids[2].as_str()));
    assert_eq!(last.attr("by"), Some("alice@localhost"));
    assert!(last.attr("from").unwrap().starts_with("bob@localhost/"), "{last:?}");
    assert_eq!(last.get_child("body", UNREAD).map(Element::text).as_deref(), Some("alice, message 3"));
    let plain = overview(&mut laptop, "").await;
    assert!(plain.children().next().unwrap().get_child("last", UNREAD).unwrap().get_child("body", UNREAD).is_none());

    // The phone displayed message 2 (XEP-0490): the laptop is told, and two remain.
    let state = format!(
        "<displayed xmlns='{MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{}'/></displayed>",
        ids[1]
    );
    let published = phone.iq(&publish(MDS, "bob@localhost", &state)).await;
    assert_eq!(published.attr("type"), Some("result"), "{published:?}");
    laptop
        .expect(|m| m.name() == "message" && m.get_child("event", "http://jabber.org/protocol/pubsub#event").is_some())
        .await;
    assert_eq!(counts(&overview(&mut laptop, "").await), [("bob@localhost".into(), "chat".into(), 1, 1)]);
    // Marking an older message changes nothing.
    let older = state.replace(&ids[1], &ids[0]);
    phone.iq(&publish(MDS, "bob@localhost", &older)).await;
    assert_eq!(counts(&overview(&mut laptop, "").await), [("bob@localhost".into(), "chat".into(), 1, 1)]);

    // The phone shows message 3 and tells bob with an XEP-0333 marker (by bob's message id).
    phone
        .send("<message to='bob@localhost' id='mk3'><displayed xmlns='urn:xmpp:chat-markers:0' id='b3'/></message>")
        .await;
    bob.expect(|e| e.attr("id") == Some("mk3")).await;
    assert!(counts(&overview(&mut laptop, "").await).is_empty(), "all read; the chat is not open");

    // An open chat (Rhein's open-conversations node) is listed, read or not.
    let open =
        "<conversation xmlns='https://rhein.chat/protocol/open-conversations:0' jid='bob@localhost' type='chat'/>";
    let done = laptop.iq(&publish("https://rhein.chat/protocol/open-conversations:0", "bob@localhost", open)).await;
    assert_eq!(done.attr("type"), Some("result"), "{done:?}");
    assert_eq!(counts(&overview(&mut phone, "").await), [("bob@localhost".into(), "chat".into(), 0, 0)]);
    bob.send("<message to='alice@localhost' type='chat' id='b4'><body>still there?</body></message>").await;
    phone.expect(|e| e.attr("id") == Some("b4")).await;
    assert_eq!(counts(&overview(&mut phone, "").await), [("bob@localhost".into(), "chat".into(), 1, 0)]);
    // Answering reads the chat.
    laptop.send("<message to='bob@localhost' type='chat' id='a1'><body>yes</body></message>").await;
    bob.expect(|e| e.attr("id") == Some("a1")).await;
    assert_eq!(counts(&overview(&mut phone, "").await), [("bob@localhost".into(), "chat".into(), 0, 0)]);
    // Only the account itself may ask.
    let foreign = bob.iq(&format!("<iq type='get' id='x' to='alice@localhost'><unread xmlns='{UNREAD}'/></iq>")).await;
    assert_eq!(crate::error_condition(&foreign).as_deref(), Some("forbidden"));
}

/// A bookmarked room counts from its bookmark: messages, mentions of the nickname, a
/// groupchat marker naming the room's stanza id, and the account's own message. A phone that
/// logs in with SASL2 gets the overview inline in Bind2's `<bound/>`.
#[tokio::test]
async fn rooms_count_unread_and_mentions_and_bind2_brings_the_overview() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut bob = server.client("bob", "pw").await;
    create(&mut bob, ROOM, "bob", "").await;
    bob.send(&format!("<message to='{ROOM}' type='groupchat' id='g0'><body>before the bookmark</body></message>"))
        .await;
    bob.expect(|e| e.attr("id") == Some("g0")).await;
    let mut laptop = server.client("alice", "pw").await;
    let bookmark = "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>alice</nick></conference>";
    let done = laptop.iq(&publish("urn:xmpp:bookmarks:1", ROOM, bookmark)).await;
    assert_eq!(done.attr("type"), Some("result"), "{done:?}");
    laptop.send(&format!("<presence to='{ROOM}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")).await;
    laptop.expect(|e| e.name() == "message" && e.get_child("subject", ns::CLIENT).is_some()).await;

    let mut ids = Vec::new();
    for (i, body) in [(1, "hello all"), (2, "Alice: lunch?"), (3, "anyone?")] {
        bob.send(&format!("<message to='{ROOM}' type='groupchat' id='g{i}'><body>{body}</body></message>")).await;
        let m = laptop.expect(|e| e.attr("id") == Some(format!("g{i}").as_str())).await;
        ids.push(stanza_id(&m, ROOM));
    }
    assert_eq!(counts(&overview(&mut laptop, "").await), [(ROOM.into(), "groupchat".into(), 3, 1)]);

    // A phone logs in with SASL2 and asks for the overview inline.
    let mut phone = server.connect().open().await;
    let inline_features = {
        let auth = phone.features.as_ref().unwrap().get_child("authentication", "urn:xmpp:sasl:2").unwrap();
        let bind = auth.get_child("inline", "urn:xmpp:sasl:2").unwrap().get_child("bind", "urn:xmpp:bind:0").unwrap();
        let inline = bind.get_child("inline", "urn:xmpp:bind:0").unwrap();
        inline.children().filter_map(|f| f.attr("var")).map(str::to_owned).collect::<Vec<_>>()
    };
    assert!(inline_features.iter().any(|f| f == UNREAD), "{inline_features:?}");
    let inline = format!(
        "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>Test</software></user-agent>\
         <bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag><unread xmlns='{UNREAD}' preview='true'/></bind>"
    );
    let success = phone.authenticate2("SCRAM-SHA-256", "alice", "pw", &inline).await.unwrap();
    let bound = success.get_child("bound", "urn:xmpp:bind:0").expect("bound");
    let inline_overview = bound.get_child("unread", UNREAD).expect("the overview in <bound/>");
    assert_eq!(counts(inline_overview), [(ROOM.into(), "groupchat".into(), 3, 1)]);
    let last = inline_overview.children().next().unwrap().get_child("last", UNREAD).unwrap();
    assert_eq!((last.attr("id"), last.attr("by")), (Some(ids[2].as_str()), Some(ROOM)));
    assert_eq!(last.get_child("body", UNREAD).map(Element::text).as_deref(), Some("anyone?"));

    // The laptop marks the first displayed with a groupchat marker: the mention is after it.
    laptop
        .send(&format!(
            "<message to='{ROOM}' type='groupchat' id='mk1'><displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>",
            ids[0]
        ))
        .await;
    laptop.expect(|e| e.attr("id") == Some("mk1")).await;
    assert_eq!(counts(&overview(&mut laptop, "").await), [(ROOM.into(), "groupchat".into(), 2, 1)]);
    // Alice speaks: everything before is read.
    laptop.send(&format!("<message to='{ROOM}' type='groupchat' id='a1'><body>coming</body></message>")).await;
    laptop.expect(|e| e.attr("id") == Some("a1")).await;
    assert_eq!(counts(&overview(&mut laptop, "").await), [(ROOM.into(), "groupchat".into(), 0, 0)]);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A MIX channel (XEP-0405 archives it in the account's archive) counts from the join: its
/// messages, a mention of the account, an XEP-0333 marker naming the channel's id, an
/// XEP-0490 state given by the channel, and the account's own message.
#[tokio::test]
async fn channels_count_in_the_account_archive_and_follow_channel_ids() {
    const COVEN: &str = "coven@channels.localhost";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = crate::mix::online(&server, "alice").await;
    let mut bob = crate::mix::online(&server, "bob").await;
    assert_eq!(crate::mix::create(&mut alice, "coven").await.attr("type"), Some("result"));
    for (c, nick) in [(&mut alice, "hecate"), (&mut bob, "thirdwitch")] {
        let joined = crate::mix::client_join(c, COVEN, nick).await;
        assert_eq!(joined.attr("type"), Some("result"), "{joined:?}");
    }
    let is_mix = |e: &Element| e.name() == "message" && e.get_child("mix", "urn:xmpp:mix:core:1").is_some();
    let mention = "<reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:alice@localhost'/>";
    let mut ids = Vec::new();
    for (i, extra) in [(1, ""), (2, mention), (3, "")] {
        bob.send(&format!("<message to='{COVEN}' type='groupchat' id='m{i}'><body>brew {i}</body>{extra}</message>"))
            .await;
        // The channel's id for the message is the id it reflects it with.
        let m = alice.expect(is_mix).await;
        ids.push(m.attr("id").unwrap().to_owned());
    }
    assert_eq!(counts(&overview(&mut alice, "").await), [(COVEN.into(), "channel".into(), 3, 1)]);

    // An XEP-0333 marker for the first message (by the channel's id).
    alice
        .send(&format!(
            "<message to='{COVEN}' type='groupchat' id='mk'><displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>",
            ids[0]
        ))
        .await;
    assert_eq!(counts(&overview(&mut alice, "").await), [(COVEN.into(), "channel".into(), 2, 1)]);
    // An XEP-0490 state for the second, its stanza id given by the channel.
    let state = format!(
        "<displayed xmlns='{MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='{COVEN}' id='{}'/></displayed>",
        ids[1]
    );
    let published = alice.iq(&publish(MDS, COVEN, &state)).await;
    assert_eq!(published.attr("type"), Some("result"), "{published:?}");
    assert_eq!(counts(&overview(&mut alice, "").await), [(COVEN.into(), "channel".into(), 1, 0)]);
    // alice writes: the channel is read.
    alice
        .send(&format!(
            "<message to='{COVEN}' type='groupchat' id='a1'><body>by the pricking of my thumbs</body></message>"
        ))
        .await;
    alice
        .expect(|e| {
            e.name() == "message" && e.get_child("body", ns::CLIENT).is_some_and(|b| b.text().starts_with("by the"))
        })
        .await;
    assert_eq!(counts(&overview(&mut alice, "").await), [(COVEN.into(), "channel".into(), 0, 0)]);
}
