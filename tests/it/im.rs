//! RFC 6121: messages, roster, subscriptions, presence, offline storage; and the small XEPs.

use crate::{befriend, error_condition, error_text, named, nothing_from, online_friends};
use rhein_testkit::{Element, TestServer, ns};

fn body(e: &Element) -> Option<String> {
    e.get_child("body", ns::CLIENT).map(Element::text)
}

#[tokio::test]
async fn chat_between_two_online_users_with_stamped_from() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.connect().resource("laptop").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    alice.send("<message to='bob@localhost' type='chat' from='mallory@localhost/x' id='m1'><body>hello bob</body></message>").await;
    let m = bob.expect(named("message")).await;
    assert_eq!(body(&m).as_deref(), Some("hello bob"));
    assert_eq!(m.attr("from"), Some("alice@localhost/laptop"), "the server stamps from");
    assert_eq!(m.attr("id"), Some("m1"));
    let bob_jid = bob.jid.clone().unwrap();
    bob.send(&format!("<message to='{}' type='chat'><body>hi alice</body></message>", "alice@localhost/laptop")).await;
    let m = alice.expect(named("message")).await;
    assert_eq!(m.attr("from"), Some(bob_jid.as_str()));
}

#[tokio::test]
async fn messages_to_unknown_accounts_and_remote_domains_bounce() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<message to='nobody@localhost' id='x1'><body>?</body></message>").await;
    let e = alice.expect(|e| e.attr("id") == Some("x1")).await;
    assert_eq!(e.attr("type"), Some("error"));
    assert!(e.get_child("error", ns::CLIENT).unwrap().get_child("service-unavailable", ns::STANZAS).is_some());
    alice.send("<message to='someone@remote.example' id='x2'><body>?</body></message>").await;
    let e = alice.expect(|e| e.attr("id") == Some("x2")).await;
    assert!(e.get_child("error", ns::CLIENT).unwrap().get_child("remote-server-not-found", ns::STANZAS).is_some());
    alice.send("<message to='bad@@jid' id='x3'><body>?</body></message>").await;
    let e = alice.expect(|e| e.attr("id") == Some("x3")).await;
    assert!(e.get_child("error", ns::CLIENT).unwrap().get_child("jid-malformed", ns::STANZAS).is_some());
}

#[tokio::test]
async fn bare_jid_messages_go_to_the_highest_priority_resources() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut high = server.connect().resource("high").login("bob", "pw").await;
    let mut low = server.connect().resource("low").login("bob", "pw").await;
    high.send("<presence><priority>5</priority></presence>").await;
    low.send("<presence><priority>1</priority></presence>").await;
    let mut alice = server.client("alice", "pw").await;
    // Both resources are available before the message goes out.
    high.expect(|e| e.name() == "presence" && e.attr("from") == Some("bob@localhost/low")).await;
    alice.send("<message to='bob@localhost' type='chat'><body>to the best</body></message>").await;
    assert_eq!(body(&high.expect(named("message")).await).as_deref(), Some("to the best"));
    nothing_from(&mut alice, &mut low, named("message")).await;
    // A full JID reaches exactly that resource.
    alice.send("<message to='bob@localhost/low' type='chat'><body>just you</body></message>").await;
    assert_eq!(body(&low.expect(named("message")).await).as_deref(), Some("just you"));
}

#[tokio::test]
async fn offline_messages_are_stored_and_delivered_with_delay() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<message to='bob@localhost' type='chat'><body>first</body></message>").await;
    alice.send("<message to='bob@localhost'><body>second</body></message>").await;
    alice.send("<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>").await;
    // Let the stores finish: a ping's answer comes after the messages were processed.
    alice.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;
    let first = bob.expect(named("message")).await;
    let second = bob.expect(named("message")).await;
    assert_eq!(body(&first).as_deref(), Some("first"));
    assert_eq!(body(&second).as_deref(), Some("second"));
    let delay = first.get_child("delay", ns::DELAY).expect("XEP-0203 delay");
    assert_eq!(delay.attr("from"), Some("localhost"));
    assert!(delay.attr("stamp").unwrap().ends_with('Z'));
    bob.expect_none_now(named("message")).await;
    // Delivered once: a second login gets nothing.
    let mut again = server.client("bob", "pw").await;
    again.send("<presence/>").await;
    again.expect_none_now(named("message")).await;
}

#[tokio::test]
async fn offline_store_limit_bounces_with_service_unavailable() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .configure(|c| {
            let mut im = rhein_server::config::ModulesConfig::default().settings;
            let mut t = toml_table();
            t.insert("offline_limit".into(), 1.into());
            im.insert("im".into(), t.into());
            c.modules.settings = im;
        })
        .start()
        .await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<message to='bob@localhost' id='o1'><body>kept</body></message>").await;
    alice.send("<message to='bob@localhost' id='o2'><body>too many</body></message>").await;
    let e = alice.expect(|e| e.attr("id") == Some("o2")).await;
    assert_eq!(e.attr("type"), Some("error"));
}

fn toml_table() -> rhein_server::config::Table {
    rhein_server::config::Table::new()
}

// The roster get/set/push/versioning/removal round trips: transcripts/roster_get_set_push_and_remove.xmpp.
// The subscription handshake, presence both ways, probes and last activity:
// transcripts/subscription_handshake_then_presence.xmpp.

/// RFC 6121 §3.1.3: a request to a user who is offline is kept (the requester's roster shows
/// it pending) and delivered, with its status, when the user comes online.
#[tokio::test]
async fn a_subscription_request_waits_for_an_offline_user() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<presence/>").await;
    alice.send("<presence to='bob@localhost' type='subscribe'><status>it is me</status></presence>").await;
    alice.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let r = alice.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let item = r.get_child("query", ns::ROSTER).unwrap().get_child("item", ns::ROSTER).unwrap().clone();
    assert_eq!(item.attr("ask"), Some("subscribe"));

    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;
    let req = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    assert_eq!(req.attr("from"), Some("alice@localhost"));
    assert_eq!(req.get_child("status", ns::CLIENT).unwrap().text(), "it is me");
}

/// RFC 6121 §3.4: carol pre-approves alice; alice's request is then answered without carol
/// seeing it.
#[tokio::test]
async fn a_pre_approved_request_is_answered_without_asking_the_contact() {
    let server = TestServer::builder().user("alice", "pw").user("carol", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<presence/>").await;
    let mut carol = server.client("carol", "pw").await;
    carol.send("<presence/>").await;
    carol.send("<presence to='alice@localhost' type='subscribed'/>").await;
    carol.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    alice.iq("<iq type='get' id='g2'><query xmlns='jabber:iq:roster'/></iq>").await;
    alice.send("<presence to='carol@localhost' type='subscribe'/>").await;
    alice
        .expect(|e| {
            e.name() == "presence" && e.attr("type") == Some("subscribed") && e.attr("from") == Some("carol@localhost")
        })
        .await;
    nothing_from(&mut alice, &mut carol, |e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
}

// Ping, version, uptime and the errors for unknown and empty IQs: transcripts/server_queries.xmpp.

/// XEP-0030: the server's disco#info names it an IM server and lists the features its
/// modules serve.
#[tokio::test]
async fn the_servers_disco_info_lists_its_identity_and_features() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let info = alice
        .iq("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let q = info.get_child("query", ns::DISCO_INFO).unwrap();
    let features: Vec<_> = q.children().filter_map(|c| c.attr("var")).collect();
    for f in [ns::PING, ns::VERSION, ns::LAST, ns::DISCO_INFO, ns::DISCO_ITEMS, ns::OFFLINE] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }
    let identity = q.get_child("identity", ns::DISCO_INFO).unwrap();
    assert_eq!((identity.attr("category"), identity.attr("type")), (Some("server"), Some("im")));
}

/// XEP-0030: an account answers disco#info to its owner; a stranger's account is not disclosed.
#[tokio::test]
async fn an_accounts_disco_info_answers_its_owner_but_not_a_stranger() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let own = alice.iq("<iq type='get' id='o'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>").await;
    assert_eq!(own.attr("type"), Some("result"));
    let bob = alice
        .iq("<iq type='get' id='b' to='bob@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    assert_eq!(bob.attr("type"), Some("error"));
}

#[tokio::test]
async fn directed_presence_recipients_learn_of_the_disconnect() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut bob = server.connect().resource("b").login("bob", "pw").await;
    bob.send("<presence/>").await;
    let alice = server.connect().resource("a").login("alice", "pw").await;
    let mut alice = alice;
    alice.send("<presence to='bob@localhost/b'><status>just for you</status></presence>").await;
    let p = bob.expect(|e| e.name() == "presence" && e.attr("from") == Some("alice@localhost/a")).await;
    assert_eq!(p.attr("type"), None);
    alice.kill();
    let gone = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("unavailable")).await;
    assert_eq!(gone.attr("from"), Some("alice@localhost/a"));
}

#[tokio::test]
async fn two_resources_approving_at_once_leave_one_consistent_subscription() {
    // Both of alice's clients answer each request at the same moment (as clients that approve on
    // their own do); neither answer may overwrite the other's change.
    const CONTACTS: usize = 12;
    let mut builder = TestServer::builder().user("alice", "pw");
    for i in 0..CONTACTS {
        builder = builder.user(&format!("c{i}"), "pw");
    }
    let server = builder.start().await;
    let mut phone = server.connect().resource("phone").login("alice", "pw").await;
    let mut laptop = server.connect().resource("laptop").login("alice", "pw").await;
    phone.send("<presence/>").await;
    laptop.send("<presence/>").await;
    for i in 0..CONTACTS {
        let mut contact = server.client(&format!("c{i}"), "pw").await;
        contact.send("<presence/>").await;
        contact.send("<presence to='alice@localhost' type='subscribe'/>").await;
        let asked = |e: &Element| e.name() == "presence" && e.attr("type") == Some("subscribe");
        phone.expect(asked).await;
        laptop.expect(asked).await;
        let answer = format!("<presence to='c{i}@localhost' type='subscribed'/>");
        tokio::join!(phone.send(&answer), laptop.send(&answer));
        contact.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribed")).await;
    }
    let roster = phone.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let query = roster.get_child("query", ns::ROSTER).unwrap();
    for i in 0..CONTACTS {
        let jid = format!("c{i}@localhost");
        let item = query.children().find(|c| c.attr("jid") == Some(jid.as_str())).unwrap();
        assert_eq!(item.attr("subscription"), Some("from"), "{jid}: {item:?}");
    }
}

/// RFC 6121 §4.3: a client may probe a contact itself. A subscriber gets the contact's
/// current presence (only the probed resource for a full JID, unavailable when the contact
/// is offline); anyone else gets nothing, and no error.
#[tokio::test]
async fn a_clients_presence_probe_is_answered_for_subscribers_only() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = server.connect().resource("a").login("alice", "pw").await;
    let mut bob = server.connect().resource("b").login("bob", "pw").await;
    let mut bob2 = server.connect().resource("b2").login("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    befriend(&mut alice, &mut bob, "alice@localhost", "bob@localhost").await;
    bob.send("<presence><show>away</show><status>lunch</status></presence>").await;
    bob2.send("<presence><status>desk</status></presence>").await;
    for status in ["lunch", "desk"] {
        alice.expect(|e| e.get_child("status", ns::CLIENT).is_some_and(|s| s.text() == status)).await;
    }
    alice.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    alice.drain_backlog();

    let from_bob =
        |e: &Element| e.name() == "presence" && e.attr("from").is_some_and(|f| f.starts_with("bob@localhost"));
    alice.send("<presence to='bob@localhost' type='probe' id='p1'/>").await;
    let mut answers = [alice.expect(from_bob).await, alice.expect(from_bob).await];
    answers.sort_by_key(|p| p.attr("from").map(str::to_owned));
    assert_eq!(answers[0].attr("from"), Some("bob@localhost/b"));
    assert_eq!(answers[0].get_child("status", ns::CLIENT).map(Element::text).as_deref(), Some("lunch"));
    assert_eq!(answers[1].attr("from"), Some("bob@localhost/b2"));
    assert!(answers.iter().all(|p| p.attr("type").is_none() && p.attr("to") == alice.jid.as_deref()));

    // A full JID: that resource only, and only that it is available.
    alice.send("<presence to='bob@localhost/b2' type='probe'/>").await;
    let only = alice.expect(from_bob).await;
    assert_eq!((only.attr("from"), only.attr("type")), (Some("bob@localhost/b2"), None));
    assert!(only.get_child("status", ns::CLIENT).is_none(), "{only:?}");
    alice.expect_none_now(from_bob).await;

    // Not subscribed: nothing, and no error either (RFC 6121 §4.3).
    carol.send("<presence to='bob@localhost' type='probe'/>").await;
    carol.expect_none_now(|e| e.name() == "presence").await;

    // Offline: unavailable, from the bare JID.
    bob.kill();
    bob2.kill();
    for _ in 0..2 {
        alice.expect(|e| from_bob(e) && e.attr("type") == Some("unavailable")).await;
    }
    alice.send("<presence to='bob@localhost' type='probe'/>").await;
    let offline = alice.expect(from_bob).await;
    assert_eq!((offline.attr("from"), offline.attr("type")), (Some("bob@localhost"), Some("unavailable")));
}

/// `[modules.im] max_roster_items`: a roster set, a subscription request or an approval that
/// would add an item to a full roster is refused with `not-allowed` and a text naming the
/// limit; items already in it still change, and a removal makes room again. A contact's
/// request to a full roster is refused to the contact, not kept.
#[tokio::test]
async fn a_full_roster_refuses_new_items_with_not_allowed() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("carol", "pw")
        .configure(|c| {
            let mut im = toml_table();
            im.insert("max_roster_items".into(), 3.into());
            c.modules.settings.insert("im".into(), im.into());
        })
        .start()
        .await;
    let mut alice = server.client("alice", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    alice.send("<presence/>").await;
    carol.send("<presence/>").await;
    let set =
        |id: &str, item: &str| format!("<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'>{item}</query></iq>");
    let refusal = |e: &Element| -> (Option<String>, String) {
        let error = e.get_child("error", ns::CLIENT).unwrap_or_else(|| panic!("not an error: {e:?}"));
        let condition =
            error.children().find(|c| c.ns() == ns::STANZAS && c.name() != "text").map(|c| c.name().to_owned());
        (condition, error.get_child("text", ns::STANZAS).map(Element::text).unwrap_or_default())
    };
    for i in 1..=3 {
        let ok = alice.iq(&set(&format!("s{i}"), &format!("<item jid='x{i}@localhost'/>"))).await;
        assert_eq!(ok.attr("type"), Some("result"), "{ok:?}");
    }
    let full = alice.iq(&set("s4", "<item jid='x4@localhost'/>")).await;
    let (condition, text) = refusal(&full);
    assert_eq!(condition.as_deref(), Some("not-allowed"));
    assert!(text.contains("at most 3"), "{text}");
    let rename = alice.iq(&set("s5", "<item jid='x1@localhost' name='One'/>")).await;
    assert_eq!(rename.attr("type"), Some("result"), "an item in the roster still changes");

    // Subscribing to someone new, or approving them in advance, would add an item.
    for kind in ["subscribe", "subscribed"] {
        alice.send(&format!("<presence to='carol@localhost' type='{kind}' id='p-{kind}'/>")).await;
        let refused = alice.expect(|e| e.attr("id") == Some(&format!("p-{kind}"))).await;
        assert_eq!((refused.name(), refused.attr("type")), ("presence", Some("error")));
        assert_eq!(refusal(&refused).0.as_deref(), Some("not-allowed"), "{kind}");
    }
    // carol's request could never be approved: carol is told, alice is not bothered.
    carol.send("<presence to='alice@localhost' type='subscribe' id='c1'/>").await;
    let refused = carol.expect(|e| e.attr("id") == Some("c1")).await;
    assert_eq!((refused.attr("type"), refused.attr("from")), (Some("error"), Some("alice@localhost")));
    assert_eq!(refusal(&refused).0.as_deref(), Some("not-allowed"));
    nothing_from(&mut carol, &mut alice, |e| e.attr("type") == Some("subscribe")).await;
    let r = alice.iq("<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert_eq!(r.get_child("query", ns::ROSTER).unwrap().children().count(), 3);

    // A removal makes room.
    let removed = alice.iq(&set("s6", "<item jid='x2@localhost' subscription='remove'/>")).await;
    assert_eq!(removed.attr("type"), Some("result"));
    alice.send("<presence to='carol@localhost' type='subscribe'/>").await;
    carol.expect(|e| e.attr("type") == Some("subscribe") && e.attr("from") == Some("alice@localhost")).await;
}

/// A roster set is read before it is handled: one that does not parse is refused with what
/// was wrong, and changes nothing.
#[tokio::test]
async fn roster_sets_that_do_not_parse_are_refused_with_the_reason() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    for (items, condition, says) in [
        ("<item name='nobody'/>", "bad-request", "'jid'"),
        ("<item jid='bob@localhost' subscription='friends'/>", "bad-request", "'subscription'"),
        ("<item jid='@localhost'/>", "jid-malformed", "nodepart"),
        ("<item jid='bob@localhost'/><item jid='carol@localhost'/>", "bad-request", "exactly one item"),
        ("<item jid='bob@localhost'><group></group></item>", "not-acceptable", "group names"),
    ] {
        let reply =
            alice.iq(&format!("<iq type='set' id='r'><query xmlns='jabber:iq:roster'>{items}</query></iq>")).await;
        assert_eq!(error_condition(&reply).as_deref(), Some(condition), "{items}");
        assert!(error_text(&reply).contains(says), "{items}: {reply:?}");
    }
    let roster = alice.iq("<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert_eq!(roster.get_child("query", ns::ROSTER).unwrap().children().count(), 0);
}

/// An account deleted on the running server (as the admin commands will): its sessions end
/// with `not-authorized`, it leaves nothing behind (not even the last activity its closing
/// session would record), and an account created again under its name starts empty.
#[tokio::test]
async fn a_deleted_account_leaves_nothing_behind() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let (mut alice, _bob) = online_friends(&server).await;
    let block = alice
        .iq("<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='eve@localhost'/></block></iq>")
        .await;
    assert_eq!(block.attr("type"), Some("result"));

    let db = &server.running().db;
    assert!(db.accounts().delete("localhost", "alice").await.unwrap());
    assert_eq!(alice.expect_stream_error().await, "not-authorized");
    server.wait_for_sessions(1).await;
    // Nothing of alice was written back by her closing session.
    assert_eq!(db.last_activity().get("alice@localhost").await.unwrap(), None);

    let creds = rhein_sasl::Credentials::derive_scram("new", vec![7; 16], 4096, String::new());
    assert!(db.accounts().create("localhost", "alice", &creds).await.unwrap());
    let mut again = server.client("alice", "new").await;
    let roster = again.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert_eq!(roster.get_child("query", ns::ROSTER).unwrap().children().count(), 0);
    let list = again.iq("<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>").await;
    assert_eq!(list.get_child("blocklist", "urn:xmpp:blocking").unwrap().children().count(), 0);
}
