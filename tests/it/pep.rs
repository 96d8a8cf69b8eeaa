//! XEP-0163 personal eventing: notifications filtered by capabilities, retraction and deletion
//! notifications, access models, publish-options, paging, XEP-0411 bookmarks compatibility and
//! XEP-0283 account moves.

use crate::{befriend, nothing_from, online_friends};
use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::time::Duration;

const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const NS_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const NS_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";

/// Sends available presence whose capabilities ask for `+notify` on `nodes`, and answers the
/// server's disco#info question about them.
async fn announce(c: &mut TestClient, ver: &str, nodes: &[&str]) {
    let notify: Vec<String> = nodes.iter().map(|n| format!("{n}+notify")).collect();
    crate::with_caps(c, ver, &notify.iter().map(String::as_str).collect::<Vec<_>>()).await;
}

fn publish(node: &str, id: &str, payload: &str, options: &str) -> String {
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(
            "<publish-options><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             {options}</x></publish-options>"
        )
    };
    format!(
        "<iq type='set' id='pub-{id}'><pubsub xmlns='{NS_PUBSUB}'><publish node='{node}'><item id='{id}'>{payload}</item>\
         </publish>{options}</pubsub></iq>"
    )
}

fn field(var: &str, value: &str) -> String {
    format!("<field var='{var}'><value>{value}</value></field>")
}

/// The `<items/>` of a pubsub event message for `node`.
fn event_items<'a>(m: &'a Element, node: &str) -> Option<&'a Element> {
    m.get_child("event", NS_EVENT)?.get_child("items", NS_EVENT).filter(|i| i.attr("node") == Some(node))
}

fn is_event(node: &'static str, child: &'static str) -> impl Fn(&Element) -> bool {
    move |m| m.name() == "message" && event_items(m, node).is_some_and(|i| i.children().any(|c| c.name() == child))
}

fn error_of(reply: &Element) -> (String, Option<String>) {
    assert_eq!(reply.attr("type"), Some("error"), "expected an error: {reply:?}");
    let e = reply.get_child("error", ns::CLIENT).unwrap();
    let condition = e.children().find(|c| c.ns() == ns::STANZAS).unwrap().name().to_owned();
    let app = e.children().find(|c| c.ns() == NS_ERRORS).map(|c| c.name().to_owned());
    (condition, app)
}

fn item_ids(reply: &Element) -> Vec<String> {
    reply
        .get_child("pubsub", NS_PUBSUB)
        .and_then(|p| p.get_child("items", NS_PUBSUB))
        .map(|i| i.children().filter_map(|c| c.attr("id")).map(str::to_owned).collect())
        .unwrap_or_default()
}

const LIST: &str = "urn:example:list";

#[tokio::test]
async fn retraction_purge_and_deletion_reach_every_device_and_contact() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut a1 = server.connect().resource("one").login("alice", "pw").await;
    let mut a2 = server.connect().resource("two").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    for (c, ver) in [(&mut a1, "v1"), (&mut a2, "v2"), (&mut bob, "v3"), (&mut carol, "v4")] {
        announce(c, ver, &[LIST]).await;
    }
    befriend(&mut a1, &mut bob, "alice@localhost", "bob@localhost").await;
    // The capabilities must be learnt before the first publication.
    a2.expect(|e| e.name() == "presence" && e.attr("from") == Some("alice@localhost/one")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let r = a1.iq(&publish(LIST, "x", "<entry xmlns='urn:example'>one</entry>", "")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    for c in [&mut a1, &mut a2, &mut bob] {
        let m = c.expect(is_event(LIST, "item")).await;
        assert_eq!(m.attr("from"), Some("alice@localhost"));
        let item = event_items(&m, LIST).unwrap().get_child("item", NS_EVENT).unwrap();
        assert_eq!(item.attr("id"), Some("x"));
        assert_eq!(item.get_child("entry", "urn:example").unwrap().text(), "one");
    }
    nothing_from(&mut a1, &mut carol, is_event(LIST, "item")).await;

    // Retraction without notify='true' still notifies: notify_retract is on by default.
    let r = a1
        .iq(&format!("<iq type='set' id='r1'><pubsub xmlns='{NS_PUBSUB}'><retract node='{LIST}'><item id='x'/></retract></pubsub></iq>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    for c in [&mut a2, &mut bob] {
        let m = c.expect(is_event(LIST, "retract")).await;
        assert_eq!(event_items(&m, LIST).unwrap().get_child("retract", NS_EVENT).unwrap().attr("id"), Some("x"));
    }
    let r = a2
        .iq(&format!("<iq type='get' id='g1'><pubsub xmlns='{NS_PUBSUB}'><items node='{LIST}'/></pubsub></iq>"))
        .await;
    assert!(item_ids(&r).is_empty(), "the retracted item is gone: {r:?}");
    // Retracting it again is an error.
    let r = a1
        .iq(&format!("<iq type='set' id='r2'><pubsub xmlns='{NS_PUBSUB}'><retract node='{LIST}'><item id='x'/></retract></pubsub></iq>"))
        .await;
    assert_eq!(error_of(&r).0, "item-not-found");

    // Purge and delete notify too.
    a1.iq(&publish(LIST, "y", "<entry xmlns='urn:example'>two</entry>", "")).await;
    bob.expect(is_event(LIST, "item")).await;
    let r = a1
        .iq(&format!("<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><purge node='{LIST}'/></pubsub></iq>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    let purged = |m: &Element| m.get_child("event", NS_EVENT).and_then(|e| e.get_child("purge", NS_EVENT)).is_some();
    a2.expect(purged).await;
    bob.expect(purged).await;
    let r = bob
        .iq(&format!("<iq type='get' id='g3' to='alice@localhost'><pubsub xmlns='{NS_PUBSUB}'><items node='{LIST}'/></pubsub></iq>"))
        .await;
    assert!(item_ids(&r).is_empty(), "a purged node is empty for everyone: {r:?}");
    let r = a1
        .iq(&format!("<iq type='set' id='d1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='{LIST}'/></pubsub></iq>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    let deleted = |m: &Element| m.get_child("event", NS_EVENT).and_then(|e| e.get_child("delete", NS_EVENT)).is_some();
    a2.expect(deleted).await;
    bob.expect(deleted).await;
    let r = bob
        .iq(&format!("<iq type='get' id='g2' to='alice@localhost'><pubsub xmlns='{NS_PUBSUB}'><items node='{LIST}'/></pubsub></iq>"))
        .await;
    assert_eq!(error_of(&r).0, "item-not-found");
    nothing_from(&mut a1, &mut carol, |m| m.get_child("event", NS_EVENT).is_some()).await;
}

#[tokio::test]
async fn access_models_keep_strangers_out_and_preconditions_hold() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    befriend(&mut alice, &mut bob, "alice@localhost", "bob@localhost").await;
    let get = |node: &str, id: &str| {
        format!(
            "<iq type='get' id='{id}' to='alice@localhost'><pubsub xmlns='{NS_PUBSUB}'><items node='{node}'/></pubsub></iq>"
        )
    };

    // presence (the default): contacts yes, strangers no.
    alice.iq(&publish("urn:example:mood", "m", "<mood xmlns='urn:example'/>", "")).await;
    assert_eq!(item_ids(&bob.iq(&get("urn:example:mood", "b1")).await), ["m"]);
    assert_eq!(
        error_of(&carol.iq(&get("urn:example:mood", "c1")).await),
        ("not-authorized".into(), Some("presence-subscription-required".into()))
    );

    // whitelist: nobody but the owner until the owner lets someone in.
    let r = alice
        .iq(&publish(
            "urn:example:private",
            "p",
            "<secret xmlns='urn:example'/>",
            &field("pubsub#access_model", "whitelist"),
        ))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    assert_eq!(
        error_of(&bob.iq(&get("urn:example:private", "b2")).await),
        ("not-allowed".into(), Some("closed-node".into()))
    );
    let r = alice
        .iq("<iq type='set' id='aff'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\
             <affiliations node='urn:example:private'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>\
             </pubsub></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    assert_eq!(item_ids(&bob.iq(&get("urn:example:private", "b3")).await), ["p"]);

    // Publishing with options that contradict the node fails, and changes nothing.
    let r = alice
        .iq(&publish(
            "urn:example:private",
            "q",
            "<secret xmlns='urn:example'/>",
            &field("pubsub#access_model", "open"),
        ))
        .await;
    assert_eq!(error_of(&r), ("conflict".into(), Some("precondition-not-met".into())));
    assert_eq!(item_ids(&alice.iq(&get("urn:example:private", "a1")).await), ["p"]);

    // open: anyone, strangers included (OMEMO bundles).
    alice
        .iq(&publish("urn:example:bundle", "1", "<bundle xmlns='urn:example'/>", &field("pubsub#access_model", "open")))
        .await;
    assert_eq!(item_ids(&carol.iq(&get("urn:example:bundle", "c2")).await), ["1"]);

    // roster: only contacts in the allowed groups.
    alice.iq("<iq type='set' id='grp'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'><group>Friends</group></item></query></iq>").await;
    alice
        .iq(&publish(
            "urn:example:friends",
            "f",
            "<x xmlns='urn:example'/>",
            &(field("pubsub#access_model", "roster") + &field("pubsub#roster_groups_allowed", "Family")),
        ))
        .await;
    assert_eq!(
        error_of(&bob.iq(&get("urn:example:friends", "b4")).await),
        ("not-authorized".into(), Some("not-in-roster-group".into()))
    );
    let r = alice
        .iq("<iq type='set' id='cfg'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:example:friends'>\
             <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>\
             <value>http://jabber.org/protocol/pubsub#node_config</value></field>\
             <field var='pubsub#roster_groups_allowed'><value>Family</value><value>Friends</value></field></x>\
             </configure></pubsub></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    assert_eq!(item_ids(&bob.iq(&get("urn:example:friends", "b5")).await), ["f"]);

    // Only the owner publishes.
    let r = bob
        .iq(&publish("urn:example:mood", "z", "<mood xmlns='urn:example'/>", "")
            .replace("<iq ", "<iq to='alice@localhost' "))
        .await;
    assert_eq!(error_of(&r).0, "forbidden");
}

#[tokio::test]
async fn items_come_back_by_id_newest_and_paged_in_order() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    for id in ["a", "b", "c", "d", "e"] {
        let r = alice.iq(&publish(LIST, id, &format!("<entry xmlns='urn:example'>{id}</entry>"), "")).await;
        assert_eq!(r.attr("type"), Some("result"));
    }
    let items = |inner: &str, id: &str| {
        format!("<iq type='get' id='{id}'><pubsub xmlns='{NS_PUBSUB}'>{inner}</pubsub></iq>").replace("NODE", LIST)
    };
    assert_eq!(item_ids(&alice.iq(&items("<items node='NODE'/>", "all")).await), ["a", "b", "c", "d", "e"]);
    assert_eq!(item_ids(&alice.iq(&items("<items node='NODE' max_items='2'/>", "last")).await), ["d", "e"]);
    let by_id = alice.iq(&items("<items node='NODE'><item id='c'/><item id='a'/></items>", "ids")).await;
    assert_eq!(item_ids(&by_id), ["c", "a"]);
    // RSM forward, then backward from the end.
    let rsm = |inner: &str| format!("<items node='NODE'/><set xmlns='http://jabber.org/protocol/rsm'>{inner}</set>");
    let page1 = alice.iq(&items(&rsm("<max>2</max>"), "p1")).await;
    assert_eq!(item_ids(&page1), ["a", "b"]);
    let set = page1.get_child("pubsub", NS_PUBSUB).unwrap().get_child("set", "http://jabber.org/protocol/rsm").unwrap();
    assert_eq!(set.get_child("count", "http://jabber.org/protocol/rsm").unwrap().text(), "5");
    assert_eq!(item_ids(&alice.iq(&items(&rsm("<max>2</max><after>b</after>"), "p2")).await), ["c", "d"]);
    assert_eq!(item_ids(&alice.iq(&items(&rsm("<max>2</max><after>d</after>"), "p3")).await), ["e"]);
    assert_eq!(item_ids(&alice.iq(&items(&rsm("<max>2</max><before/>"), "p4")).await), ["d", "e"]);
    assert_eq!(item_ids(&alice.iq(&items(&rsm("<max>2</max><before>d</before>"), "p5")).await), ["b", "c"]);
    // Re-publishing an item makes it the newest, once.
    alice.iq(&publish(LIST, "b", "<entry xmlns='urn:example'>b2</entry>", "")).await;
    assert_eq!(item_ids(&alice.iq(&items("<items node='NODE'/>", "again")).await), ["a", "c", "d", "e", "b"]);
    // max_items is kept on publish.
    let cfg = "<iq type='set' id='cfg'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='NODE'>\
         <x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>3</value></field></x>\
         </configure></pubsub></iq>"
        .replace("NODE", LIST);
    assert_eq!(alice.iq(&cfg).await.attr("type"), Some("result"));
    assert_eq!(item_ids(&alice.iq(&items("<items node='NODE'/>", "trimmed")).await), ["d", "e", "b"]);
    // Bad requests get precise errors.
    let r = alice.iq(&items("<items/>", "nonode")).await;
    assert_eq!(error_of(&r), ("bad-request".into(), Some("nodeid-required".into())));
    let r = alice.iq(&items(&rsm("<after>zzz</after>"), "nocursor")).await;
    assert_eq!(error_of(&r).0, "item-not-found");
}

#[tokio::test]
async fn a_contact_coming_online_gets_the_last_item_and_disco_announces_pep() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let (mut alice, bob) = online_friends(&server).await;
    bob.close().await;
    alice.iq(&publish("urn:example:avatar", "old", "<meta xmlns='urn:example'>1</meta>", "")).await;
    alice.iq(&publish("urn:example:avatar", "new", "<meta xmlns='urn:example'>2</meta>", "")).await;
    let mut bob = server.client("bob", "pw").await;
    announce(&mut bob, "later", &["urn:example:avatar"]).await;
    let m = bob.expect(is_event("urn:example:avatar", "item")).await;
    let items = event_items(&m, "urn:example:avatar").unwrap();
    assert_eq!(items.children().filter_map(|i| i.attr("id")).collect::<Vec<_>>(), ["new"]);

    let info = bob
        .iq("<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let q = info.get_child("query", ns::DISCO_INFO).unwrap();
    assert!(
        q.children()
            .any(|i| i.name() == "identity" && i.attr("category") == Some("pubsub") && i.attr("type") == Some("pep"))
    );
    for f in ["http://jabber.org/protocol/pubsub#publish-options", "urn:xmpp:bookmarks:1#compat"] {
        assert!(q.children().any(|c| c.attr("var") == Some(f)), "{f} announced");
    }
}

#[tokio::test]
async fn private_xml_bookmarks_and_pep_bookmarks_are_the_same_list() {
    const BM: &str = "urn:xmpp:bookmarks:1";
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut legacy = server.connect().resource("legacy").login("alice", "pw").await;
    let mut modern = server.connect().resource("modern").login("alice", "pw").await;
    legacy.send("<presence/>").await;
    announce(&mut modern, "m", &[BM]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let r = legacy
        .iq("<iq type='set' id='s1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
             <conference jid='room@conference.localhost' name='The Room' autojoin='true'><nick>al</nick></conference>\
             <url name='Site' url='https://example.org'/></storage></query></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    let m = modern.expect(is_event(BM, "item")).await;
    let item = event_items(&m, BM).unwrap().get_child("item", NS_EVENT).unwrap();
    assert_eq!(item.attr("id"), Some("room@conference.localhost"));
    let conf = item.get_child("conference", BM).unwrap();
    assert_eq!((conf.attr("autojoin"), conf.attr("name")), (Some("true"), Some("The Room")));
    assert_eq!(conf.get_child("nick", BM).unwrap().text(), "al");

    // The bookmarks node is private even though nobody asked.
    let cfg = modern
        .iq(&format!("<iq type='get' id='c'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='{BM}'/></pubsub></iq>"))
        .await;
    let form = cfg
        .get_child("pubsub", "http://jabber.org/protocol/pubsub#owner")
        .unwrap()
        .get_child("configure", "http://jabber.org/protocol/pubsub#owner")
        .unwrap();
    let access = form
        .get_child("x", "jabber:x:data")
        .unwrap()
        .children()
        .find(|f| f.attr("var") == Some("pubsub#access_model"))
        .unwrap();
    assert_eq!(access.get_child("value", "jabber:x:data").unwrap().text(), "whitelist");

    // A bookmark added through PEP shows up in private XML, next to the URL.
    modern
        .iq(&publish(BM, "other@conference.localhost", &format!("<conference xmlns='{BM}' autojoin='false'/>"), ""))
        .await;
    let r = legacy
        .iq("<iq type='get' id='g1' to='alice@localhost'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")
        .await;
    assert_eq!(r.attr("from"), Some("alice@localhost"), "answered from the address asked");
    let storage = r.get_child("query", "jabber:iq:private").unwrap().get_child("storage", "storage:bookmarks").unwrap();
    let rooms: Vec<_> = storage.children().filter(|c| c.name() == "conference").filter_map(|c| c.attr("jid")).collect();
    assert_eq!(rooms, ["room@conference.localhost", "other@conference.localhost"]);
    assert!(storage.children().any(|c| c.name() == "url"));

    // Removing a room in private XML retracts its item.
    legacy
        .iq("<iq type='set' id='s2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
             <conference jid='other@conference.localhost' autojoin='false'/></storage></query></iq>")
        .await;
    let m = modern.expect(is_event(BM, "retract")).await;
    assert_eq!(
        event_items(&m, BM).unwrap().get_child("retract", NS_EVENT).unwrap().attr("id"),
        Some("room@conference.localhost")
    );
}

#[tokio::test]
async fn a_verified_move_carries_the_roster_entry_and_a_forged_one_changes_nothing() {
    let server = TestServer::builder()
        .user("old", "pw")
        .user("new", "pw")
        .user("carol", "pw")
        .user("mallory", "pw")
        .start()
        .await;
    let mut old = server.client("old", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    old.send("<presence/>").await;
    carol.send("<presence/>").await;
    befriend(&mut old, &mut carol, "old@localhost", "carol@localhost").await;
    carol
        .iq("<iq type='set' id='n'><query xmlns='jabber:iq:roster'><item jid='old@localhost' name='Juliet'><group>Friends</group></item></query></iq>")
        .await;
    carol.iq("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>").await;
    carol.drain_backlog();

    // A forged move: mallory claims to be old, but old published no statement.
    let mut mallory = server.client("mallory", "pw").await;
    mallory
        .send("<presence type='subscribe' to='carol@localhost'><moved xmlns='urn:xmpp:moved:1'><old-jid>old@localhost</old-jid></moved></presence>")
        .await;
    let req = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    assert_eq!(req.attr("from"), Some("mallory@localhost"), "an unverified move is an ordinary request");
    assert!(req.get_child("moved", "urn:xmpp:moved:1").is_some(), "and keeps its <moved/>");
    let roster = carol.iq("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>").await;
    let items = roster.get_child("query", "jabber:iq:roster").unwrap();
    assert!(
        !items.children().any(|i| i.attr("jid") == Some("mallory@localhost") && i.attr("subscription") == Some("from"))
    );

    // The real move: old states it, new asks carol.
    let r = old
        .iq(
            "<iq type='set' id='mv'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:moved:1'>\
             <item id='current'><moved xmlns='urn:xmpp:moved:1'><new-jid>new@localhost</new-jid></moved></item>\
             </publish></pubsub></iq>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    let mut new = server.client("new", "pw").await;
    new.send("<presence/>").await;
    new.send("<presence type='subscribe' to='carol@localhost'><moved xmlns='urn:xmpp:moved:1'><old-jid>old@localhost</old-jid></moved></presence>")
        .await;
    let approved = new.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribed")).await;
    assert_eq!(approved.attr("from"), Some("carol@localhost"));
    // Carol's clients see roster pushes, not a prompt.
    let push = carol
        .expect(|e| {
            e.name() == "iq"
                && e.get_child("query", "jabber:iq:roster")
                    .and_then(|q| q.get_child("item", "jabber:iq:roster"))
                    .is_some_and(|i| i.attr("jid") == Some("new@localhost"))
        })
        .await;
    let item = push.get_child("query", "jabber:iq:roster").unwrap().get_child("item", "jabber:iq:roster").unwrap();
    assert_eq!((item.attr("subscription"), item.attr("name")), (Some("from"), Some("Juliet")));
    assert_eq!(item.get_child("group", "jabber:iq:roster").unwrap().text(), "Friends");
    carol
        .expect_none(Duration::from_millis(300), |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe") && e.attr("from") == Some("new@localhost")
        })
        .await;
    // The old account loses its subscription; the mutual one is sought for the new account.
    old.expect(|e| e.name() == "presence" && e.attr("type") == Some("unsubscribed")).await;
    let ask = new.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    assert_eq!(ask.attr("from"), Some("carol@localhost"));
    let roster = carol.iq("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>").await;
    let items = roster.get_child("query", "jabber:iq:roster").unwrap();
    let sub = |jid: &str| items.children().find(|i| i.attr("jid") == Some(jid)).and_then(|i| i.attr("subscription"));
    assert_eq!(sub("old@localhost"), Some("to"));
    assert_eq!(sub("new@localhost"), Some("from"));
}

#[tokio::test]
async fn open_conversations_follow_the_user_across_devices_and_stay_private() {
    const OC: &str = "https://rhein.chat/protocol/open-conversations:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut phone = server.connect().resource("phone").login("alice", "pw").await;
    let mut laptop = server.connect().resource("laptop").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    announce(&mut phone, "p", &[OC]).await;
    announce(&mut laptop, "l", &[OC]).await;
    announce(&mut bob, "b", &[OC]).await;
    befriend(&mut phone, &mut bob, "alice@localhost", "bob@localhost").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let chat = format!("<conversation xmlns='{OC}' jid='bob@localhost' type='chat'/>");
    assert_eq!(phone.iq(&publish(OC, "bob@localhost", &chat, "")).await.attr("type"), Some("result"));
    let m = laptop.expect(is_event(OC, "item")).await;
    assert_eq!(event_items(&m, OC).unwrap().get_child("item", NS_EVENT).unwrap().attr("id"), Some("bob@localhost"));
    // Contacts do not see which chats are open.
    nothing_from(&mut phone, &mut bob, is_event(OC, "item")).await;
    let r = bob
        .iq(&format!("<iq type='get' id='peek' to='alice@localhost'><pubsub xmlns='{NS_PUBSUB}'><items node='{OC}'/></pubsub></iq>"))
        .await;
    assert_eq!(error_of(&r).0, "not-allowed");

    let close = format!(
        "<iq type='set' id='close'><pubsub xmlns='{NS_PUBSUB}'><retract node='{OC}'><item id='bob@localhost'/></retract></pubsub></iq>"
    );
    assert_eq!(laptop.iq(&close).await.attr("type"), Some("result"));
    phone.expect(is_event(OC, "retract")).await;
    let r = phone
        .iq(&format!("<iq type='get' id='list'><pubsub xmlns='{NS_PUBSUB}'><items node='{OC}'/></pubsub></iq>"))
        .await;
    assert!(item_ids(&r).is_empty());
}

/// Answers the disco#info questions about `ver` that arrive (the own server's and, for
/// contacts elsewhere, their servers'), `n` of them.
async fn answer_caps_queries(c: &mut TestClient, ver: &str, nodes: &[&str], n: usize) -> Vec<String> {
    let mut askers = Vec::new();
    for _ in 0..n {
        let q = c.expect(|e| e.name() == "iq" && e.get_child("query", ns::DISCO_INFO).is_some()).await;
        let notify: Vec<String> = nodes.iter().map(|n| format!("{n}+notify")).collect();
        crate::answer_caps_query(c, &q, ver, &notify.iter().map(String::as_str).collect::<Vec<_>>()).await;
        askers.push(q.attr("from").unwrap().to_owned());
    }
    askers
}

#[tokio::test]
async fn notifications_reach_contacts_on_other_servers() {
    let (alpha, beta) = crate::s2s::pair().await;
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    befriend(&mut alice, &mut bob, "alice@alpha.test", "bob@beta.test").await;
    let first =
        alice.iq(&publish("urn:xmpp:tune", "t1", "<tune xmlns='urn:xmpp:tune'><title>One</title></tune>", "")).await;
    assert_eq!(first.attr("type"), Some("result"));

    // bob's client says it wants tunes: alpha learns his capabilities over federation and
    // sends him alice's last tune.
    bob.send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://tests' ver='fed1'/></presence>")
        .await;
    let mut askers = answer_caps_queries(&mut bob, "fed1", &["urn:xmpp:tune"], 2).await;
    askers.sort();
    assert_eq!(askers, ["alpha.test", "beta.test"], "both servers ask bob");
    let last = bob.expect(is_event("urn:xmpp:tune", "item")).await;
    assert_eq!(last.attr("from"), Some("alice@alpha.test"));

    // New items and retractions cross too.
    alice.iq(&publish("urn:xmpp:tune", "t2", "<tune xmlns='urn:xmpp:tune'><title>Two</title></tune>", "")).await;
    let next = bob.expect(is_event("urn:xmpp:tune", "item")).await;
    let item = event_items(&next, "urn:xmpp:tune").unwrap().children().next().unwrap();
    assert_eq!(item.attr("id"), Some("t2"));
    alice
        .iq(&format!(
            "<iq type='set' id='r1'><pubsub xmlns='{NS_PUBSUB}'><retract node='urn:xmpp:tune' notify='true'><item id='t2'/></retract></pubsub></iq>"
        ))
        .await;
    bob.expect(is_event("urn:xmpp:tune", "retract")).await;

    // alpha forgets bob's resource when he leaves; publishing goes on.
    bob.close().await;
    alice.expect(|e| e.name() == "presence" && e.attr("type") == Some("unavailable")).await;
    let mut alice_too = alpha.client("alice", "pw").await;
    alice_too.iq(&publish("urn:xmpp:tune", "t3", "<tune xmlns='urn:xmpp:tune'/>", "")).await;
    drop(beta);
}

/// XEP-0490: a device publishes where it read up to, with the XEP's publish-options; the
/// user's other devices are told and can catch up, contacts cannot look. With server assist,
/// the displayed state rides in the chat marker sent to the contact: the server publishes it
/// and the contact gets the marker without it.
#[tokio::test]
async fn displayed_states_sync_across_devices_with_and_without_server_assist() {
    const MDS: &str = "urn:xmpp:mds:displayed:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut phone = server.connect().resource("phone").login("alice", "pw").await;
    let mut laptop = server.connect().resource("laptop").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    announce(&mut phone, "p", &[MDS]).await;
    announce(&mut laptop, "l", &[MDS]).await;
    announce(&mut bob, "b", &[MDS]).await;
    befriend(&mut phone, &mut bob, "alice@localhost", "bob@localhost").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let displayed = |id: &str| {
        format!(
            "<displayed xmlns='{MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{id}'/></displayed>"
        )
    };
    let options = [
        field("pubsub#persist_items", "true"),
        field("pubsub#max_items", "max"),
        field("pubsub#send_last_published_item", "never"),
        field("pubsub#access_model", "whitelist"),
    ]
    .concat();
    let published = phone.iq(&publish(MDS, "bob@localhost", &displayed("s-1"), &options)).await;
    assert_eq!(published.attr("type"), Some("result"), "{published:?}");
    let seen_id = |m: &Element| {
        let item = event_items(m, MDS)?.get_child("item", NS_EVENT)?;
        let sid = item.get_child("displayed", MDS)?.get_child("stanza-id", "urn:xmpp:sid:0")?;
        Some((item.attr("id")?.to_owned(), sid.attr("id")?.to_owned()))
    };
    let m = laptop.expect(|m| seen_id(m).is_some()).await;
    assert_eq!(seen_id(&m), Some(("bob@localhost".into(), "s-1".into())));
    nothing_from(&mut phone, &mut bob, is_event(MDS, "item")).await;
    let peek = bob
        .iq(&format!("<iq type='get' id='peek' to='alice@localhost'><pubsub xmlns='{NS_PUBSUB}'><items node='{MDS}'/></pubsub></iq>"))
        .await;
    assert_eq!(peek.attr("type"), Some("error"), "whitelist: contacts cannot read it");

    // Server assist: advertised, and the marker to bob carries the state for alice's devices.
    let info = laptop
        .iq("<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let features: Vec<&str> =
        info.get_child("query", ns::DISCO_INFO).unwrap().children().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&"urn:xmpp:mds:server-assist:0"), "{features:?}");
    phone
        .send(&format!(
            "<message to='bob@localhost' id='mk'><displayed xmlns='urn:xmpp:chat-markers:0' id='the-msg-1'/>{}</message>",
            displayed("s-2")
        ))
        .await;
    let marker = bob.expect(|e| e.name() == "message" && e.attr("id") == Some("mk")).await;
    assert!(marker.has_child("displayed", "urn:xmpp:chat-markers:0"), "{marker:?}");
    assert!(!marker.has_child("displayed", MDS), "the state for alice's devices is taken out: {marker:?}");
    let m = laptop.expect(|m| seen_id(m).is_some_and(|(_, sid)| sid == "s-2")).await;
    assert_eq!(seen_id(&m).unwrap().0, "bob@localhost");
    let catchup = laptop
        .iq(&format!("<iq type='get' id='catchup'><pubsub xmlns='{NS_PUBSUB}'><items node='{MDS}'/></pubsub></iq>"))
        .await;
    assert_eq!(item_ids(&catchup), ["bob@localhost"], "one item per chat, the newest state");
}

/// XEP-0398 §3.2: a vCard published with a photo becomes the PEP avatar (data, then
/// metadata with the photo's SHA-1 and type), which devices and contacts are told of; the
/// same photo again publishes nothing new.
#[tokio::test]
async fn a_vcard_photo_becomes_the_pep_avatar() {
    use sha1::Digest;
    const META: &str = "urn:xmpp:avatar:metadata";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut phone = server.connect().resource("phone").login("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    announce(&mut phone, "p", &[META]).await;
    announce(&mut bob, "b", &[META]).await;
    befriend(&mut phone, &mut bob, "alice@localhost", "bob@localhost").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let image = b"\x89PNG\r\n\x1a\n not really a picture";
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, image);
    let sha1: String = sha1::Sha1::digest(image).iter().map(|b| format!("{b:02x}")).collect();
    let set = format!(
        "<iq type='set' id='v'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{b64}</BINVAL></PHOTO></vCard></iq>"
    );
    assert_eq!(phone.iq(&set).await.attr("type"), Some("result"));
    let info_of = |m: &Element| {
        let item = event_items(m, META)?.get_child("item", NS_EVENT)?;
        let info = item.get_child("metadata", META)?.get_child("info", META)?;
        Some((item.attr("id")?.to_owned(), info.attr("bytes")?.to_owned(), info.attr("type")?.to_owned()))
    };
    let expected = Some((sha1.clone(), image.len().to_string(), "image/png".to_owned()));
    for c in [&mut phone, &mut bob] {
        let m = c.expect(|m| info_of(m).is_some()).await;
        assert_eq!(info_of(&m), expected);
    }
    let data = bob
        .iq(&format!(
            "<iq type='get' id='d' to='alice@localhost'><pubsub xmlns='{NS_PUBSUB}'><items node='urn:xmpp:avatar:data'><item id='{sha1}'/></items></pubsub></iq>"
        ))
        .await;
    let item = data.get_child("pubsub", NS_PUBSUB).and_then(|p| p.get_child("items", NS_PUBSUB)).unwrap();
    let stored = item.get_child("item", NS_PUBSUB).and_then(|i| i.get_child("data", "urn:xmpp:avatar:data")).unwrap();
    assert_eq!(stored.text().trim(), b64);
    // The vCard is stored as written, and the same photo again publishes nothing.
    let vcard = phone.iq("<iq type='get' id='g'><vCard xmlns='vcard-temp'/></iq>").await;
    assert!(vcard.get_child("vCard", "vcard-temp").unwrap().has_child("FN", "vcard-temp"));
    assert_eq!(phone.iq(&set.replace("id='v'", "id='v2'")).await.attr("type"), Some("result"));
    nothing_from(&mut phone, &mut bob, |m| info_of(m).is_some()).await;
}

/// XEP-0060 §5.2 and §5.4 on an account: its disco#items list the nodes the requester may
/// see, and disco#info on one gives the node's metadata; a private node stays hidden.
#[tokio::test]
async fn an_accounts_nodes_are_discovered_by_those_who_may_see_them() {
    const OC: &str = "https://rhein.chat/protocol/open-conversations:0";
    const MOOD: &str = "http://jabber.org/protocol/mood";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let (mut alice, mut bob) = online_friends(&server).await;
    let mood = format!("<mood xmlns='{MOOD}'><happy/></mood>");
    assert_eq!(alice.iq(&publish(MOOD, "current", &mood, "")).await.attr("type"), Some("result"));
    let chat = format!("<conversation xmlns='{OC}' jid='bob@localhost' type='chat'/>");
    assert_eq!(alice.iq(&publish(OC, "bob@localhost", &chat, "")).await.attr("type"), Some("result"));

    let items =
        |c: &str| format!("<iq type='get' id='i-{c}' to='alice@localhost'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS);
    let nodes = |r: &Element| -> Vec<String> {
        let mut n: Vec<String> = r
            .get_child("query", ns::DISCO_ITEMS)
            .unwrap()
            .children()
            .filter_map(|i| i.attr("node"))
            .map(str::to_owned)
            .collect();
        n.sort();
        n
    };
    assert_eq!(nodes(&alice.iq(&items("a")).await), [MOOD, OC], "the owner sees every node");
    assert_eq!(nodes(&bob.iq(&items("b")).await), [MOOD], "a contact sees the presence-access node only");

    let info = |node: &str| {
        format!("<iq type='get' id='n' to='alice@localhost'><query xmlns='{}' node='{node}'/></iq>", ns::DISCO_INFO)
    };
    let meta = bob.iq(&info(MOOD)).await;
    let query = meta.get_child("query", ns::DISCO_INFO).unwrap();
    assert_eq!(query.get_child("identity", ns::DISCO_INFO).and_then(|i| i.attr("type")), Some("leaf"));
    let form = query.get_child("x", ns::DATA).unwrap();
    let field = |var: &str| {
        form.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.get_child("value", ns::DATA))
            .map(Element::text)
    };
    assert_eq!(field("FORM_TYPE").as_deref(), Some("http://jabber.org/protocol/pubsub#meta-data"));
    assert_eq!(field("pubsub#access_model").as_deref(), Some("presence"));
    assert_eq!(field("pubsub#owner").as_deref(), Some("alice@localhost"));
    let hidden = bob.iq(&info(OC)).await;
    assert_eq!(error_of(&hidden).0, "item-not-found", "a private node is not there for others");
}

/// XEP-0060 §7.1.2 with max_items: an item pushed out by a newer one is retracted as far as
/// the owner's devices know, so a list kept in sync item by item stays right.
#[tokio::test]
async fn items_pushed_out_by_max_items_are_retracted_for_subscribers() {
    const NODE: &str = "urn:example:recent";
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut phone = server.connect().resource("phone").login("alice", "pw").await;
    let mut laptop = server.connect().resource("laptop").login("alice", "pw").await;
    announce(&mut phone, "p", &[NODE]).await;
    announce(&mut laptop, "l", &[NODE]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let two = field("pubsub#max_items", "2");
    for id in ["one", "two", "three"] {
        let done = phone.iq(&publish(NODE, id, "<entry xmlns='urn:example'/>", &two)).await;
        assert_eq!(done.attr("type"), Some("result"), "{done:?}");
    }
    let retracted = laptop.expect(is_event(NODE, "retract")).await;
    let ids: Vec<&str> = event_items(&retracted, NODE).unwrap().children().filter_map(|r| r.attr("id")).collect();
    assert_eq!(ids, ["one"]);
    let left = laptop
        .iq(&format!("<iq type='get' id='l'><pubsub xmlns='{NS_PUBSUB}'><items node='{NODE}'/></pubsub></iq>"))
        .await;
    let mut kept = item_ids(&left);
    kept.sort();
    assert_eq!(kept, ["three", "two"]);
}
