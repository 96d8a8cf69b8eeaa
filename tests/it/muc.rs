//! XEP-0045 multi-user chat: creating and configuring rooms, joining with the exact
//! presences and status codes, messages, subject, history, private messages, nickname
//! changes, leaving, discovery, persistence, and a user from another server in a room.

use crate::{error_condition, nothing_from};
use rhein_testkit::{Element, TestClient, TestServer, ns};

const MUC: &str = "http://jabber.org/protocol/muc";
const USER: &str = "http://jabber.org/protocol/muc#user";
const OWNER: &str = "http://jabber.org/protocol/muc#owner";
const ROOM: &str = "lounge@conference.localhost";

/// The `<x xmlns='…#user'/>` of a room presence: (affiliation, role, jid, status codes).
fn muc_item(p: &Element) -> (String, String, Option<String>, Vec<String>) {
    let x = p.get_child("x", USER).unwrap_or_else(|| panic!("no muc#user in {p:?}"));
    let item = x.get_child("item", USER).unwrap();
    let codes = x.children().filter(|c| c.name() == "status").filter_map(|c| c.attr("code")).map(str::to_owned);
    (
        item.attr("affiliation").unwrap().to_owned(),
        item.attr("role").unwrap().to_owned(),
        item.attr("jid").map(str::to_owned),
        codes.collect(),
    )
}

fn presence_from(from: &str) -> impl Fn(&Element) -> bool + '_ {
    move |e| e.name() == "presence" && e.attr("from") == Some(from)
}

async fn join(c: &mut TestClient, room: &str, nick: &str, extra: &str) {
    c.send(&format!("<presence to='{room}/{nick}'><x xmlns='{MUC}'>{extra}</x></presence>")).await;
}

/// Creates `room` as an instant room (optionally with config fields) and drains the join.
pub(crate) async fn create(c: &mut TestClient, room: &str, nick: &str, fields: &str) {
    join(c, room, nick, "").await;
    let own = c.expect(presence_from(&format!("{room}/{nick}"))).await;
    let (aff, role, _, codes) = muc_item(&own);
    assert_eq!((aff.as_str(), role.as_str()), ("owner", "moderator"));
    assert!(codes.contains(&"110".into()) && codes.contains(&"201".into()), "created: {codes:?}");
    c.expect(|e| e.name() == "message" && e.get_child("subject", ns::CLIENT).is_some()).await;
    let done = c
        .iq(&format!(
            "<iq type='set' to='{room}' id='cfg'><query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'>{fields}</x></query></iq>"
        ))
        .await;
    assert_eq!(done.attr("type"), Some("result"), "{done:?}");
}

fn field(var: &str, value: &str) -> String {
    format!("<field var='muc#roomconfig_{var}'><value>{value}</value></field>")
}

#[tokio::test]
async fn rooms_are_created_joined_and_left_with_the_xep_presences() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;

    // A new room stays locked until its owner configures it.
    join(&mut alice, ROOM, "alice", "").await;
    alice.expect(presence_from(&format!("{ROOM}/alice"))).await;
    alice.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    join(&mut bob, ROOM, "bob", "").await;
    let locked = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&locked).as_deref(), Some("item-not-found"));
    let form = alice.iq(&format!("<iq type='get' to='{ROOM}' id='f1'><query xmlns='{OWNER}'/></iq>")).await;
    let x = form.get_child("query", OWNER).and_then(|q| q.get_child("x", "jabber:x:data")).unwrap();
    assert!(x.children().any(|f| f.attr("var") == Some("muc#roomconfig_whois")));
    let instant = alice
        .iq(&format!("<iq type='set' to='{ROOM}' id='f2'><query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>"))
        .await;
    assert_eq!(instant.attr("type"), Some("result"));
    // Non-owners may not configure.
    let denied = bob.iq(&format!("<iq type='get' to='{ROOM}' id='f3'><query xmlns='{OWNER}'/></iq>")).await;
    assert_eq!(error_condition(&denied).as_deref(), Some("forbidden"));

    // bob joins: first alice's presence (no real JID: semi-anonymous), then his own (110).
    join(&mut bob, ROOM, "bob", "").await;
    let seen = bob.expect(presence_from(&format!("{ROOM}/alice"))).await;
    assert_eq!(muc_item(&seen), ("owner".into(), "moderator".into(), None, vec![]));
    let own = bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    let (aff, role, jid, codes) = muc_item(&own);
    assert_eq!((aff.as_str(), role.as_str(), codes), ("none", "participant", vec!["110".to_owned()]));
    assert_eq!(jid.as_deref(), bob.jid.as_deref(), "one sees one's own JID");
    let subject = bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    assert_eq!(subject.attr("type"), Some("groupchat"));
    // The moderator sees bob's real JID.
    let arrival = alice.expect(presence_from(&format!("{ROOM}/bob"))).await;
    assert_eq!(muc_item(&arrival).2.as_deref(), bob.jid.as_deref());

    // A taken nickname.
    let mut carol = server.client("carol", "pw").await;
    join(&mut carol, ROOM, "bob", "").await;
    let taken = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&taken).as_deref(), Some("conflict"));

    // Group messages reach everyone, from the nick, with the room's stanza id.
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='g1'><body>welcome</body></message>")).await;
    for c in [&mut alice, &mut bob] {
        let m = c.expect(|e| e.name() == "message" && e.attr("id") == Some("g1")).await;
        assert_eq!(m.attr("from"), Some(format!("{ROOM}/alice").as_str()));
        let sid = m.get_child("stanza-id", "urn:xmpp:sid:0").unwrap();
        assert_eq!(sid.attr("by"), Some(ROOM));
    }
    // Outsiders may not post.
    carol.send(&format!("<message to='{ROOM}' type='groupchat' id='g2'><body>hi</body></message>")).await;
    let refused = carol.expect(|e| e.attr("id") == Some("g2")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("not-acceptable"));

    // Private messages go by nickname.
    bob.send(&format!("<message to='{ROOM}/alice' type='chat' id='p1'><body>psst</body></message>")).await;
    let pm = alice.expect(|e| e.attr("id") == Some("p1")).await;
    assert_eq!(pm.attr("from"), Some(format!("{ROOM}/bob").as_str()));
    assert!(pm.get_child("x", USER).is_some());
    bob.send(&format!("<message to='{ROOM}/nobody' type='chat' id='p2'><body>?</body></message>")).await;
    let nobody = bob.expect(|e| e.attr("id") == Some("p2")).await;
    assert_eq!(error_condition(&nobody).as_deref(), Some("item-not-found"));

    // A nickname change: unavailable with 303 and the new nick, then the new presence.
    bob.send(&format!("<presence to='{ROOM}/robert'/>")).await;
    let gone = alice.expect(presence_from(&format!("{ROOM}/bob"))).await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    let (_, _, _, codes) = muc_item(&gone);
    assert_eq!(codes, ["303"]);
    let nick = gone.get_child("x", USER).and_then(|x| x.get_child("item", USER)).and_then(|i| i.attr("nick"));
    assert_eq!(nick, Some("robert"));
    alice.expect(presence_from(&format!("{ROOM}/robert"))).await;
    let own_change = bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    assert!(muc_item(&own_change).3.contains(&"110".into()));

    // Leaving.
    bob.send(&format!("<presence to='{ROOM}/robert' type='unavailable'/>")).await;
    let left = alice.expect(presence_from(&format!("{ROOM}/robert"))).await;
    assert_eq!((left.attr("type"), muc_item(&left).1.as_str()), (Some("unavailable"), "none"));
    let own_leave = bob
        .expect(|e| e.attr("from") == Some(&format!("{ROOM}/robert")) && e.attr("type") == Some("unavailable"))
        .await;
    assert!(muc_item(&own_leave).3.contains(&"110".into()));
}

#[tokio::test]
async fn newcomers_get_history_and_the_subject() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    alice
        .send(&format!("<message to='{ROOM}' type='groupchat' id='s'><subject>Rust and XMPP</subject></message>"))
        .await;
    alice.expect(|e| e.attr("id") == Some("s")).await;
    for i in 1..=3 {
        alice
            .send(&format!("<message to='{ROOM}' type='groupchat' id='m{i}'><body>message {i}</body></message>"))
            .await;
        alice.expect(|e| e.attr("id") == Some(format!("m{i}").as_str())).await;
    }
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "<history maxstanzas='2'/>").await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    let first = bob.expect(|e| e.name() == "message").await;
    let second = bob.expect(|e| e.name() == "message").await;
    let body = |m: &Element| m.get_child("body", ns::CLIENT).map(|b| b.text());
    assert_eq!((body(&first).as_deref(), body(&second).as_deref()), (Some("message 2"), Some("message 3")));
    assert!(first.get_child("delay", ns::DELAY).is_some());
    let subject = bob.expect(|e| e.name() == "message").await;
    assert_eq!(subject.get_child("subject", ns::CLIENT).map(|s| s.text()).as_deref(), Some("Rust and XMPP"));
    assert_eq!(subject.attr("from"), Some(format!("{ROOM}/alice").as_str()));
    // Participants may not change the subject by default.
    bob.send(&format!("<message to='{ROOM}' type='groupchat' id='s2'><subject>mine</subject></message>")).await;
    let refused = bob.expect(|e| e.attr("id") == Some("s2")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn room_kinds_are_enforced_and_discoverable() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let secret = "vault@conference.localhost";
    let fields = format!(
        "{}{}{}{}",
        field("roomname", "The Vault"),
        field("passwordprotectedroom", "1"),
        field("roomsecret", "sesame"),
        field("whois", "anyone")
    );
    create(&mut alice, secret, "alice", &fields).await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, secret, "bob", "").await;
    let refused = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("not-authorized"));
    join(&mut bob, secret, "bob", "<password>sesame</password>").await;
    let own = bob.expect(presence_from(&format!("{secret}/bob"))).await;
    assert!(muc_item(&own).3.contains(&"100".into()), "non-anonymous rooms say so");
    let alice_seen = bob.expect(|e| e.attr("from") == Some(&format!("{secret}/alice"))).await;
    assert!(muc_item(&alice_seen).2.is_some(), "everyone sees real JIDs in a non-anonymous room");

    let info = bob.iq(&format!("<iq type='get' to='{secret}' id='i1'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let q = info.get_child("query", ns::DISCO_INFO).unwrap();
    let features: Vec<&str> = q.children().filter_map(|f| f.attr("var")).collect();
    for f in ["http://jabber.org/protocol/muc", "muc_passwordprotected", "muc_nonanonymous", "muc_temporary"] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }
    assert_eq!(q.get_child("identity", ns::DISCO_INFO).and_then(|i| i.attr("name")), Some("The Vault"));

    let items = bob
        .iq(&format!("<iq type='get' to='conference.localhost' id='i2'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS))
        .await;
    let rooms: Vec<&str> =
        items.get_child("query", ns::DISCO_ITEMS).unwrap().children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(rooms, [secret]);
    let host_items =
        bob.iq(&format!("<iq type='get' to='localhost' id='i3'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS)).await;
    let services: Vec<&str> =
        host_items.get_child("query", ns::DISCO_ITEMS).unwrap().children().filter_map(|i| i.attr("jid")).collect();
    assert!(services.contains(&"conference.localhost"), "{services:?}");

    // Destruction sends everyone out with the alternate venue.
    let destroyed = alice
        .iq(&format!("<iq type='set' to='{secret}' id='d1'><query xmlns='{OWNER}'><destroy jid='{ROOM}'><reason>moved</reason></destroy></query></iq>"))
        .await;
    assert_eq!(destroyed.attr("type"), Some("result"));
    let out = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("unavailable")).await;
    let destroy = out.get_child("x", USER).and_then(|x| x.get_child("destroy", USER)).unwrap();
    assert_eq!(destroy.attr("jid"), Some(ROOM));
}

#[tokio::test]
async fn persistent_rooms_survive_a_restart() {
    let mut server = TestServer::builder().user("alice", "pw").user("bob", "pw").durable().start().await;
    {
        let mut alice = server.client("alice", "pw").await;
        create(&mut alice, ROOM, "alice", &format!("{}{}", field("persistentroom", "1"), field("roomname", "Lounge")))
            .await;
        alice.send(&format!("<message to='{ROOM}' type='groupchat' id='s'><subject>kept</subject></message>")).await;
        alice.expect(|e| e.attr("id") == Some("s")).await;
        alice
            .send(&format!("<message to='{ROOM}' type='groupchat' id='m'><body>before the restart</body></message>"))
            .await;
        alice.expect(|e| e.attr("id") == Some("m")).await;
    }
    server.restart().await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    let history = bob.expect(|e| e.name() == "message" && e.get_child("body", ns::CLIENT).is_some()).await;
    assert_eq!(history.get_child("body", ns::CLIENT).unwrap().text(), "before the restart");
    let subject = bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    assert_eq!(subject.get_child("subject", ns::CLIENT).unwrap().text(), "kept");
    // alice is still the owner.
    let mut alice = server.client("alice", "pw").await;
    let form = alice.iq(&format!("<iq type='get' to='{ROOM}' id='f'><query xmlns='{OWNER}'/></iq>")).await;
    assert_eq!(form.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_user_of_another_server_joins_and_chats() {
    let (alpha, beta) = crate::s2s::pair().await;
    let room = "lounge@conference.alpha.test";
    let mut alice = alpha.client("alice", "pw").await;
    create(&mut alice, room, "alice", "").await;
    let mut bob = beta.client("bob", "pw").await;
    join(&mut bob, room, "bob", "").await;
    bob.expect(presence_from(&format!("{room}/alice"))).await;
    let own = bob.expect(presence_from(&format!("{room}/bob"))).await;
    assert!(muc_item(&own).3.contains(&"110".into()));
    alice.expect(presence_from(&format!("{room}/bob"))).await;
    bob.send(&format!("<message to='{room}' type='groupchat' id='x1'><body>hello from beta</body></message>")).await;
    let got = alice.expect(|e| e.attr("id") == Some("x1")).await;
    assert_eq!(got.attr("from"), Some(format!("{room}/bob").as_str()));
    bob.expect(|e| e.attr("id") == Some("x1")).await;
    // Remote users cannot create rooms here.
    join(&mut bob, "new@conference.alpha.test", "bob", "").await;
    let refused = bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("not-allowed"));
}

const ADMIN: &str = "http://jabber.org/protocol/muc#admin";

fn admin_set(id: &str, room: &str, item: &str) -> String {
    format!("<iq type='set' to='{room}' id='{id}'><query xmlns='{ADMIN}'>{item}</query></iq>")
}

fn reason_of(p: &Element) -> Option<String> {
    p.get_child("x", USER)?.get_child("item", USER)?.get_child("reason", USER).map(|r| r.text())
}

#[tokio::test]
async fn moderators_kick_ban_and_give_voice() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", &field("moderatedroom", "1")).await;
    let mut bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    let own = bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    assert_eq!(muc_item(&own).1, "visitor", "a moderated room admits newcomers as visitors");
    join(&mut carol, ROOM, "carol", "").await;
    carol.expect(presence_from(&format!("{ROOM}/carol"))).await;
    bob.expect(presence_from(&format!("{ROOM}/carol"))).await;

    // Visitors cannot speak; voice lets them.
    bob.send(&format!("<message to='{ROOM}' type='groupchat' id='v1'><body>hello?</body></message>")).await;
    let muted = bob.expect(|e| e.attr("id") == Some("v1")).await;
    assert_eq!(error_condition(&muted).as_deref(), Some("forbidden"));
    let voiced = alice.iq(&admin_set("a1", ROOM, "<item nick='bob' role='participant'/>")).await;
    assert_eq!(voiced.attr("type"), Some("result"));
    let now = bob.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && e.attr("type").is_none()).await;
    assert_eq!(muc_item(&now).1, "participant");
    bob.send(&format!("<message to='{ROOM}' type='groupchat' id='v2'><body>thanks</body></message>")).await;
    bob.expect(|e| e.attr("id") == Some("v2") && e.attr("type") == Some("groupchat")).await;

    // Participants cannot kick.
    let denied = bob.iq(&admin_set("b1", ROOM, "<item nick='carol' role='none'/>")).await;
    assert_eq!(error_condition(&denied).as_deref(), Some("forbidden"));

    // A kick with a reason: everyone sees 307, the kicked one 110 too.
    let kicked = alice.iq(&admin_set("a2", ROOM, "<item nick='carol' role='none'><reason>spam</reason></item>")).await;
    assert_eq!(kicked.attr("type"), Some("result"));
    let out = carol
        .expect(|e| e.attr("from") == Some(&format!("{ROOM}/carol")) && e.attr("type") == Some("unavailable"))
        .await;
    assert_eq!(muc_item(&out).3, ["110", "307"]);
    assert_eq!(reason_of(&out).as_deref(), Some("spam"));
    let seen =
        bob.expect(|e| e.attr("from") == Some(&format!("{ROOM}/carol")) && e.attr("type") == Some("unavailable")).await;
    assert_eq!(muc_item(&seen).3, ["307"]);

    // A ban by JID keeps carol out, and shows on the outcast list.
    let banned = alice
        .iq(&admin_set("a3", ROOM, "<item jid='carol@localhost' affiliation='outcast'><reason>really</reason></item>"))
        .await;
    assert_eq!(banned.attr("type"), Some("result"));
    join(&mut carol, ROOM, "carol", "").await;
    let refused = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    let list = alice
        .iq(&format!(
            "<iq type='get' to='{ROOM}' id='l1'><query xmlns='{ADMIN}'><item affiliation='outcast'/></query></iq>"
        ))
        .await;
    let jids: Vec<&str> = list.get_child("query", ADMIN).unwrap().children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(jids, ["carol@localhost"]);

    // Promotion to admin makes bob a moderator; the last owner cannot step down.
    alice.iq(&admin_set("a4", ROOM, "<item jid='bob@localhost' affiliation='admin'/>")).await;
    let promoted = bob.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && muc_item(e).0 == "admin").await;
    assert_eq!(muc_item(&promoted).1, "moderator");
    let alone = alice.iq(&admin_set("a5", ROOM, "<item jid='alice@localhost' affiliation='member'/>")).await;
    assert_eq!(error_condition(&alone).as_deref(), Some("conflict"));
    // Admins cannot touch owners.
    let up = bob.iq(&admin_set("b2", ROOM, "<item jid='alice@localhost' affiliation='none'/>")).await;
    assert_eq!(error_condition(&up).as_deref(), Some("not-allowed"));
}

/// XEP-0045 §7.13 and §8.5: a visitor's voice request reaches the moderators, an approval
/// gives voice, and the participant list shows it (affiliation `none` written); admin items
/// that do not read are refused, naming why.
#[tokio::test]
async fn voice_requests_approvals_role_lists_and_unreadable_admin_items() {
    const REQUEST: &str = "http://jabber.org/protocol/muc#request";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", &field("moderatedroom", "1")).await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    alice.expect(presence_from(&format!("{ROOM}/bob"))).await;

    let form_type = format!("<field var='FORM_TYPE'><value>{REQUEST}</value></field>");
    bob.send(&format!(
        "<message to='{ROOM}'><x xmlns='jabber:x:data' type='submit'>{form_type}\
         <field var='muc#role' type='list-single'><value>participant</value></field></x></message>"
    ))
    .await;
    let request = alice.expect(|e| e.name() == "message" && e.get_child("x", "jabber:x:data").is_some()).await;
    let nick = request
        .get_child("x", "jabber:x:data")
        .and_then(|x| x.children().find(|f| f.attr("var") == Some("muc#roomnick")))
        .map(|f| f.children().map(|v| v.text()).collect::<String>());
    assert_eq!(nick.as_deref(), Some("bob"));

    alice
        .send(&format!(
            "<message to='{ROOM}'><x xmlns='jabber:x:data' type='submit'>{form_type}\
             <field var='muc#roomnick'><value>bob</value></field>\
             <field var='muc#request_allow'><value>true</value></field></x></message>"
        ))
        .await;
    let voiced = bob.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && e.attr("type").is_none()).await;
    assert_eq!(muc_item(&voiced).1, "participant");

    let list = alice
        .iq(&format!(
            "<iq type='get' to='{ROOM}' id='r1'><query xmlns='{ADMIN}'><item role='participant'/></query></iq>"
        ))
        .await;
    let items: Vec<_> = list
        .get_child("query", ADMIN)
        .unwrap()
        .children()
        .map(|i| (i.attr("jid"), i.attr("affiliation"), i.attr("role"), i.attr("nick")))
        .collect();
    assert_eq!(items, [(Some("bob@localhost"), Some("none"), Some("participant"), Some("bob"))]);

    let unknown = alice.iq(&admin_set("u1", ROOM, "<item jid='bob@localhost' affiliation='king'/>")).await;
    assert_eq!(error_condition(&unknown).as_deref(), Some("bad-request"));
    assert_eq!(crate::error_text(&unknown), "Unknown value for 'affiliation' attribute.");
    let malformed = alice.iq(&admin_set("u2", ROOM, "<item jid='@localhost' affiliation='member'/>")).await;
    assert_eq!(error_condition(&malformed).as_deref(), Some("jid-malformed"));
    let neither = alice.iq(&admin_set("u3", ROOM, "<item jid='bob@localhost'/>")).await;
    assert_eq!(crate::error_text(&neither), "an item changes a role or an affiliation");
}

#[tokio::test]
async fn invitations_occupant_ids_self_ping_and_relayed_iqs() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<presence/>").await;
    create(&mut alice, ROOM, "alice", &field("membersonly", "1")).await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;

    // A mediated invitation to a members-only room makes bob a member.
    alice
        .send(&format!("<message to='{ROOM}'><x xmlns='{USER}'><invite to='bob@localhost'><reason>join us</reason></invite></x></message>"))
        .await;
    let invitation = bob.expect(|e| e.name() == "message" && e.get_child("x", USER).is_some()).await;
    assert_eq!(invitation.attr("from"), Some(ROOM));
    let invite = invitation.get_child("x", USER).and_then(|x| x.get_child("invite", USER)).unwrap();
    assert_eq!(invite.attr("from"), Some("alice@localhost"));
    assert_eq!(invite.get_child("reason", USER).map(|r| r.text()).as_deref(), Some("join us"));
    join(&mut bob, ROOM, "bob", "").await;
    let own = bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    assert_eq!(muc_item(&own).0, "member");
    // carol was not invited.
    let mut carol = server.client("carol", "pw").await;
    carol.send("<presence/>").await;
    join(&mut carol, ROOM, "carol", "").await;
    let refused = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("registration-required"));
    // carol declines an invitation; alice hears of it.
    carol
        .send(&format!("<message to='{ROOM}'><x xmlns='{USER}'><decline to='alice@localhost'><reason>busy</reason></decline></x></message>"))
        .await;
    let declined = alice
        .expect(|e| {
            e.name() == "message" && e.get_child("x", USER).is_some_and(|x| x.get_child("decline", USER).is_some())
        })
        .await;
    assert_eq!(
        declined.get_child("x", USER).unwrap().get_child("decline", USER).unwrap().attr("from"),
        Some("carol@localhost")
    );

    // XEP-0421: the same stable occupant id on presence and messages, different per user.
    let alice_presence = bob.expect(presence_from(&format!("{ROOM}/alice"))).await;
    let id_of = |e: &Element| {
        e.get_child("occupant-id", "urn:xmpp:occupant-id:0").and_then(|o| o.attr("id")).map(str::to_owned)
    };
    let alice_id = id_of(&alice_presence).expect("occupant id on presence");
    assert_ne!(id_of(&own), Some(alice_id.clone()));
    alice
        .send(&format!("<message to='{ROOM}' type='groupchat' id='o1'><body>hi</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>"))
        .await;
    let m = bob.expect(|e| e.attr("id") == Some("o1")).await;
    assert_eq!(id_of(&m), Some(alice_id));

    // XEP-0410 self-ping: joined answers result, not joined not-acceptable.
    let pong = bob.iq(&format!("<iq type='get' to='{ROOM}/bob' id='sp1'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    assert_eq!(pong.attr("type"), Some("result"));
    let outside =
        carol.iq(&format!("<iq type='get' to='{ROOM}/carol' id='sp2'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    assert_eq!(error_condition(&outside).as_deref(), Some("not-acceptable"));

    // A vCard request to an occupant is answered by its account, through the room.
    alice.iq("<iq type='set' id='vc'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>").await;
    let card = bob.iq(&format!("<iq type='get' to='{ROOM}/alice' id='vc2'><vCard xmlns='vcard-temp'/></iq>")).await;
    assert_eq!(card.attr("from"), Some(format!("{ROOM}/alice").as_str()));
    let fname = card.get_child("vCard", "vcard-temp").and_then(|v| v.get_child("FN", "vcard-temp")).map(|f| f.text());
    assert_eq!(fname.as_deref(), Some("Alice"));
}

#[tokio::test]
async fn room_archives_are_queried_with_mam() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    for i in 1..=3 {
        alice
            .send(&format!("<message to='{ROOM}' type='groupchat' id='m{i}'><body>message {i}</body></message>"))
            .await;
        alice.expect(|e| e.attr("id") == Some(format!("m{i}").as_str())).await;
    }
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "<history maxstanzas='0'/>").await;
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    bob.send(&format!(
        "<iq type='set' to='{ROOM}' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='r'>\
         <set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query></iq>"
    ))
    .await;
    let mut bodies = Vec::new();
    loop {
        let el = bob.expect(|e| e.attr("id") == Some("q1") || e.get_child("result", "urn:xmpp:mam:2").is_some()).await;
        if el.name() == "iq" {
            assert_eq!(el.attr("type"), Some("result"));
            let fin = el.get_child("fin", "urn:xmpp:mam:2").unwrap();
            let count = fin
                .get_child("set", "http://jabber.org/protocol/rsm")
                .and_then(|s| s.get_child("count", "http://jabber.org/protocol/rsm"))
                .map(|c| c.text());
            assert_eq!(count.as_deref(), Some("3"));
            break;
        }
        assert_eq!(el.attr("from"), Some(ROOM));
        let fwd = el
            .get_child("result", "urn:xmpp:mam:2")
            .and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
            .unwrap();
        let m = fwd.get_child("message", ns::CLIENT).unwrap();
        assert_eq!(m.attr("from"), Some(format!("{ROOM}/alice").as_str()));
        bodies.push(m.get_child("body", ns::CLIENT).unwrap().text());
    }
    assert_eq!(bodies, ["message 2", "message 3"]);
    let info = bob.iq(&format!("<iq type='get' to='{ROOM}' id='i'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let features: Vec<&str> =
        info.get_child("query", ns::DISCO_INFO).unwrap().children().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&"urn:xmpp:mam:2") && features.contains(&"urn:xmpp:occupant-id:0"), "{features:?}");
}

#[tokio::test]
async fn registered_nicknames_are_reserved_and_survive_restarts() {
    let mut server =
        TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").durable().start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", &field("persistentroom", "1")).await;
    let mut bob = server.client("bob", "pw").await;
    let form = bob.iq(&format!("<iq type='get' to='{ROOM}' id='r1'><query xmlns='jabber:iq:register'/></iq>")).await;
    assert!(form.get_child("query", "jabber:iq:register").and_then(|q| q.get_child("x", "jabber:x:data")).is_some());
    let submit = |nick: &str, id: &str| {
        format!(
            "<iq type='set' to='{ROOM}' id='{id}'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>\
             <field var='muc#register_roomnick'><value>{nick}</value></field></x></query></iq>"
        )
    };
    assert_eq!(bob.iq(&submit("bobby", "r2")).await.attr("type"), Some("result"));
    let mut carol = server.client("carol", "pw").await;
    let taken = carol.iq(&submit("bobby", "r3")).await;
    assert_eq!(error_condition(&taken).as_deref(), Some("conflict"));

    server.restart().await;
    let mut carol = server.client("carol", "pw").await;
    join(&mut carol, ROOM, "bobby", "").await;
    let refused = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("conflict"));
    let mut bob = server.client("bob", "pw").await;
    let mine = bob
        .iq(&format!(
            "<iq type='get' to='{ROOM}' id='n1'><query xmlns='{}' node='x-roomuser-item'/></iq>",
            ns::DISCO_INFO
        ))
        .await;
    let name = mine
        .get_child("query", ns::DISCO_INFO)
        .and_then(|q| q.get_child("identity", ns::DISCO_INFO))
        .and_then(|i| i.attr("name"));
    assert_eq!(name, Some("bobby"));
    join(&mut bob, ROOM, "bobby", "").await;
    let own = bob.expect(presence_from(&format!("{ROOM}/bobby"))).await;
    assert_eq!(muc_item(&own).0, "member", "registration made bob a member");
}

const PUSH: &str = "https://rhein.chat/protocol/muc-push:0";

/// The push notification a component receives: (token, mentioned, forwarded body).
async fn notification(push: &mut TestClient) -> (String, String, String) {
    let m = push.expect(|e| e.name() == "message" && e.get_child("notification", PUSH).is_some()).await;
    assert_eq!(m.attr("from"), Some(ROOM));
    let n = m.get_child("notification", PUSH).unwrap();
    let inner = n.get_child("forwarded", "urn:xmpp:forward:0").and_then(|f| f.children().next()).unwrap();
    let body = inner.children().find(|c| c.name() == "body").map(|b| b.text()).unwrap_or_default();
    (n.attr("token").unwrap().to_owned(), n.attr("mentioned").unwrap().to_owned(), body)
}

async fn push_service(server: &TestServer) -> TestClient {
    let (mut c, id) = TestClient::component(server.component_addr(), "push.localhost").await;
    c.component_handshake(&id, "push-secret").await.unwrap();
    c
}

#[tokio::test]
async fn token_push_registrations_notify_while_away_with_mentions() {
    let mut server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .component("push.localhost", "push-secret")
        .durable()
        .start()
        .await;
    let mut push = push_service(&server).await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", &field("persistentroom", "1")).await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    let enable = format!(
        "<iq type='set' to='{ROOM}' id='e1'><enable xmlns='{PUSH}' service='push.localhost' token='tok-1'/></iq>"
    );
    assert_eq!(bob.iq(&enable).await.attr("type"), Some("result"));

    // While bob is in the room, nothing is pushed.
    alice
        .send(&format!("<message to='{ROOM}' type='groupchat' id='a1'><body>while you are here</body></message>"))
        .await;
    bob.expect(|e| e.attr("id") == Some("a1")).await;
    push.expect_none(std::time::Duration::from_millis(200), |e| e.get_child("notification", PUSH).is_some()).await;

    // bob leaves: every message is pushed, flagged when it mentions him.
    bob.send(&format!("<presence to='{ROOM}/bob' type='unavailable'/>")).await;
    alice.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && e.attr("type") == Some("unavailable")).await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='a2'><body>small talk</body></message>")).await;
    assert_eq!(notification(&mut push).await, ("tok-1".into(), "false".into(), "small talk".into()));
    alice
        .send(&format!("<message to='{ROOM}' type='groupchat' id='a3'><body>bob: are you there?</body></message>"))
        .await;
    assert_eq!(notification(&mut push).await.1, "true", "the nickname counts as a mention");
    alice
        .send(&format!(
            "<message to='{ROOM}' type='groupchat' id='a4'><body>ping</body>\
             <reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:bob@localhost'/></message>"
        ))
        .await;
    assert_eq!(notification(&mut push).await.1, "true", "an XEP-0372 mention of the account counts");

    // Registrations survive a restart.
    drop(push);
    server.restart().await;
    let mut push = push_service(&server).await;
    let mut alice = server.client("alice", "pw").await;
    join(&mut alice, ROOM, "alice", "").await;
    alice.expect(presence_from(&format!("{ROOM}/alice"))).await;
    alice
        .send(&format!("<message to='{ROOM}' type='groupchat' id='a5'><body>after the restart</body></message>"))
        .await;
    assert_eq!(notification(&mut push).await.2, "after the restart");

    // Unregistering stops them (the token is all it takes).
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    let disable = format!("<iq type='set' to='{ROOM}' id='d1'><disable xmlns='{PUSH}' token='tok-1'/></iq>");
    assert_eq!(bob.iq(&disable).await.attr("type"), Some("result"));
    bob.send(&format!("<presence to='{ROOM}/bob' type='unavailable'/>")).await;
    alice.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && e.attr("type") == Some("unavailable")).await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='a6'><body>bob?</body></message>")).await;
    alice.expect(|e| e.attr("id") == Some("a6")).await;
    push.expect_none(std::time::Duration::from_millis(300), |e| e.get_child("notification", PUSH).is_some()).await;
}

#[tokio::test]
async fn registered_users_away_get_their_mentions() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", &field("forwardmentions", "1")).await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;
    let register = format!(
        "<iq type='set' to='{ROOM}' id='r'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
         <field var='muc#register_roomnick'><value>bob</value></field></x></query></iq>"
    );
    assert_eq!(bob.iq(&register).await.attr("type"), Some("result"));
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='n1'><body>no mention</body></message>")).await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='n2'><body>hi bob</body></message>")).await;
    let m = bob.expect(|e| e.get_child("mentions", "urn:xmpp:mmn:0").is_some()).await;
    assert_eq!(m.attr("from"), Some(ROOM));
    let inner = m
        .get_child("mentions", "urn:xmpp:mmn:0")
        .and_then(|x| x.get_child("forwarded", "urn:xmpp:forward:0"))
        .and_then(|f| f.children().next())
        .unwrap();
    assert_eq!(inner.attr("id"), Some("n2"));
    assert!(inner.get_child("stanza-id", "urn:xmpp:sid:0").is_some());
    bob.expect_none(std::time::Duration::from_millis(200), |e| e.get_child("mentions", "urn:xmpp:mmn:0").is_some())
        .await;
}

#[tokio::test]
async fn owners_set_a_room_avatar() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    let card = "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard>";
    let set = alice.iq(&format!("<iq type='set' to='{ROOM}' id='v1'>{card}</iq>")).await;
    assert_eq!(set.attr("type"), Some("result"));
    let update = bob.expect(|e| e.name() == "presence" && e.attr("from") == Some(ROOM)).await;
    let photo = update
        .get_child("x", "vcard-temp:x:update")
        .and_then(|x| x.get_child("photo", "vcard-temp:x:update"))
        .map(|p| p.text());
    assert_eq!(photo.as_deref(), Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"));
    let info = bob.iq(&format!("<iq type='get' to='{ROOM}' id='i'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let form = info.get_child("query", ns::DISCO_INFO).and_then(|q| q.get_child("x", "jabber:x:data")).unwrap();
    let hash = form
        .children()
        .find(|f| f.attr("var") == Some("muc#roominfo_avatarhash"))
        .map(|f| f.children().next().unwrap().text());
    assert_eq!(hash.as_deref(), Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"));
    let got = bob.iq(&format!("<iq type='get' to='{ROOM}' id='v2'><vCard xmlns='vcard-temp'/></iq>")).await;
    assert!(got.get_child("vCard", "vcard-temp").and_then(|v| v.get_child("PHOTO", "vcard-temp")).is_some());
    let denied = bob.iq(&format!("<iq type='set' to='{ROOM}' id='v3'>{card}</iq>")).await;
    assert_eq!(error_condition(&denied).as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn configuration_changes_are_announced_and_every_standard_field_applies() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .configure(|c| {
            let t: toml::Table = toml::from_str("webchat_url = 'https://chat.example.org/#/room?jid={room}'").unwrap();
            c.modules.settings.insert("muc".into(), toml::Value::Table(t));
        })
        .start()
        .await;
    let mut alice = server.client("alice", "pw").await;
    let fields = format!(
        "{}{}{}",
        field("presencebroadcast", "moderator"),
        field("lang", "de"),
        "<field var='muc#roomconfig_roomadmins'><value>carol@localhost</value></field>"
    );
    create(&mut alice, ROOM, "alice", &fields).await;
    let form = alice.iq(&format!("<iq type='get' to='{ROOM}' id='f'><query xmlns='{OWNER}'/></iq>")).await;
    let x = form.get_child("query", OWNER).unwrap().get_child("x", "jabber:x:data").unwrap();
    let values = |var: &str| -> Vec<String> {
        x.children()
            .find(|f| f.attr("var") == Some(var))
            .map(|f| f.children().filter(|v| v.name() == "value").map(|v| v.text()).collect())
            .unwrap_or_default()
    };
    assert_eq!(values("muc#roomconfig_roomowners"), ["alice@localhost"]);
    assert_eq!(values("muc#roomconfig_roomadmins"), ["carol@localhost"]);
    assert_eq!(values("muc#roomconfig_presencebroadcast"), ["moderator"]);
    for var in ["muc#roomconfig_getmemberlist", "muc#maxhistoryfetch", "muc#roomconfig_pubsub", "muc#roomconfig_lang"] {
        assert!(x.children().any(|f| f.attr("var") == Some(var)), "{var} in the form");
    }

    // Only moderators' presence is broadcast: bob (participant) sees alice, alice does not see bob.
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(presence_from(&format!("{ROOM}/alice"))).await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
    nothing_from(&mut bob, &mut alice, presence_from(&format!("{ROOM}/bob"))).await;

    // Room info: language and webchat URL.
    let info = bob.iq(&format!("<iq type='get' to='{ROOM}' id='i'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let info_form = info.get_child("query", ns::DISCO_INFO).unwrap().get_child("x", "jabber:x:data").unwrap();
    let info_value = |var: &str| {
        info_form.children().find(|f| f.attr("var") == Some(var)).map(|f| f.children().next().unwrap().text())
    };
    assert_eq!(info_value("muc#roominfo_lang").as_deref(), Some("de"));
    assert_eq!(
        info_value("muc#roominfo_webchat_url").as_deref(),
        Some(format!("https://chat.example.org/#/room?jid={ROOM}").as_str())
    );

    // A change is announced (104, 172 for becoming non-anonymous); members-only removes bob (322).
    let change = alice
        .iq(&format!(
            "<iq type='set' to='{ROOM}' id='c'><query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'>{}{}</x></query></iq>",
            field("whois", "anyone"),
            field("membersonly", "1")
        ))
        .await;
    assert_eq!(change.attr("type"), Some("result"));
    let notice = bob
        .expect(|e| {
            e.name() == "message"
                && e.get_child("x", USER).is_some_and(|x| x.children().any(|s| s.attr("code") == Some("104")))
        })
        .await;
    let codes: Vec<&str> = notice.get_child("x", USER).unwrap().children().filter_map(|s| s.attr("code")).collect();
    assert_eq!(codes, ["104", "172"]);
    let out =
        bob.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && e.attr("type") == Some("unavailable")).await;
    assert!(muc_item(&out).3.contains(&"322".to_owned()));
}

/// A group message is written once for all occupants (the router shares one serialisation
/// among sessions): every copy still carries its own `to`, an occupant's blocklist still
/// applies, and copies awaiting an ack are resent to a resumed session.
#[tokio::test]
async fn shared_copies_are_addressed_blocked_and_resent_per_occupant() {
    const SM: &str = "urn:xmpp:sm:3";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    let mut carol = server.client("carol", "pw").await;
    carol.send(&format!("<enable xmlns='{SM}' resume='true'/>")).await;
    let enabled = carol.expect(|e| e.ns() == SM).await;
    let resume_id = enabled.attr("id").unwrap().to_owned();
    let blocked = carol
        .iq(&format!("<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'><item jid='{ROOM}/bob'/></block></iq>"))
        .await;
    assert_eq!(blocked.attr("type"), Some("result"), "{blocked:?}");
    join(&mut carol, ROOM, "carol", "").await;
    carol.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;

    let is_msg = |id: &'static str| move |e: &Element| e.name() == "message" && e.attr("id") == Some(id);
    bob.send(&format!("<message to='{ROOM}' type='groupchat' id='b1'><body>from bob</body></message>")).await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='a1'><body>from alice</body></message>")).await;
    for c in [&mut alice, &mut bob] {
        let b1 = c.expect(is_msg("b1")).await;
        assert_eq!(b1.attr("to"), c.jid.as_deref());
        let a1 = c.expect(is_msg("a1")).await;
        assert_eq!(a1.attr("to"), c.jid.as_deref());
    }
    // carol blocked bob's occupant JID: her first group message is alice's.
    let first = carol.expect(|e| e.name() == "message" && e.attr("type") == Some("groupchat")).await;
    assert_eq!(first.attr("id"), Some("a1"), "{first:?}");
    assert_eq!(first.attr("to"), carol.jid.as_deref());

    // carol's connection dies without acking; what she missed comes back on resumption,
    // addressed to her.
    let carol_jid = carol.jid.clone();
    carol.kill();
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='a2'><body>again</body></message>")).await;
    alice.expect(is_msg("a2")).await;
    let mut back = server.connect().open().await;
    back.authenticate("SCRAM-SHA-256", "carol", "pw").await.unwrap();
    back.send(&format!("<resume xmlns='{SM}' previd='{resume_id}' h='0'/>")).await;
    assert_eq!(back.expect(|e| e.ns() == SM && e.name() != "r").await.name(), "resumed");
    for id in ["a1", "a2"] {
        let m = back.expect(is_msg(id)).await;
        assert_eq!(m.attr("to"), carol_jid.as_deref(), "{m:?}");
    }
    back.expect_none(std::time::Duration::from_millis(200), is_msg("b1")).await;
}

/// The status codes of a configuration notice (a message from the room itself).
async fn config_notice(c: &mut TestClient, room: &str) -> Vec<String> {
    let notice = c.expect(is_config_notice(room)).await;
    assert_eq!(notice.attr("type"), Some("groupchat"));
    notice.get_child("x", USER).unwrap().children().filter_map(|s| s.attr("code")).map(str::to_owned).collect()
}

fn is_config_notice(room: &str) -> impl Fn(&Element) -> bool + '_ {
    move |e| e.name() == "message" && e.attr("from") == Some(room) && e.get_child("x", USER).is_some()
}

/// XEP-0045 §10.2.1: every configuration change is announced, the first one (which unlocks
/// a new room) too: 170/171 for logging, 172/173 for anonymity, 104 for anything else, and
/// nothing when nothing changed.
#[tokio::test]
async fn each_configuration_change_is_announced_with_its_status_codes() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", &field("whois", "anyone")).await;
    assert_eq!(config_notice(&mut alice, ROOM).await, ["172"]);
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;

    let configure = |id: &str, fields: &str| {
        format!(
            "<iq type='set' to='{ROOM}' id='{id}'><query xmlns='{OWNER}'><x xmlns='jabber:x:data' type='submit'>{fields}</x></query></iq>"
        )
    };
    for (id, fields, codes) in [
        ("c1", field("roomname", "Lounge"), vec!["104"]),
        ("c2", field("enablelogging", "0"), vec!["171"]),
        ("c3", format!("{}{}", field("enablelogging", "1"), field("whois", "moderators")), vec!["170", "173"]),
        ("c4", format!("{}{}", field("roomdesc", "Chat"), field("whois", "anyone")), vec!["104", "172"]),
    ] {
        assert_eq!(alice.iq(&configure(id, &fields)).await.attr("type"), Some("result"), "{id}");
        for c in [&mut alice, &mut bob] {
            assert_eq!(config_notice(c, ROOM).await, codes, "{id}");
        }
    }
    // The same values again: nothing changed, nothing to announce.
    assert_eq!(alice.iq(&configure("c5", &field("roomname", "Lounge"))).await.attr("type"), Some("result"));
    nothing_from(&mut alice, &mut bob, is_config_notice(ROOM)).await;
}

/// A nickname that is not a valid resourceprep string (an emoji outside the profile, one of
/// 5,000 characters) is refused with a presence error, not met with silence.
#[tokio::test]
async fn a_nickname_failing_resourceprep_gets_jid_malformed() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    let mut bob = server.client("bob", "pw").await;
    let long = "n".repeat(5000);
    for nick in ["\u{1F916}\u{FE0F}", long.as_str()] {
        join(&mut bob, ROOM, nick, "").await;
        let refused = bob.expect(|e| e.name() == "presence").await;
        assert_eq!(refused.attr("type"), Some("error"), "{refused:?}");
        assert_eq!(error_condition(&refused).as_deref(), Some("jid-malformed"));
    }
    nothing_from(&mut bob, &mut alice, |e| e.name() == "presence").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
}

/// XEP-0045 §7.2 / §17.3: a join presence from a client that is already in the room asks for
/// everything a join sends again (occupants, own presence, history, subject); the others
/// hear of it only if the presence changed.
#[tokio::test]
async fn a_second_join_presence_resynchronises_the_client() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='s'><subject>Topic</subject></message>")).await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='m'><body>hello</body></message>")).await;
    alice.expect(|e| e.attr("id") == Some("m")).await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    alice.expect(presence_from(&format!("{ROOM}/bob"))).await;
    bob.drain_backlog();

    for round in 0..2 {
        join(&mut bob, ROOM, "bob", "").await;
        bob.expect(presence_from(&format!("{ROOM}/alice"))).await;
        let own = bob.expect(presence_from(&format!("{ROOM}/bob"))).await;
        assert!(muc_item(&own).3.contains(&"110".to_owned()), "{round}: {own:?}");
        let history = bob.expect(|e| e.name() == "message").await;
        assert_eq!(history.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("hello"), "{round}");
        assert!(history.get_child("delay", ns::DELAY).is_some());
        let subject = bob.expect(|e| e.name() == "message").await;
        assert_eq!(subject.get_child("subject", ns::CLIENT).map(Element::text).as_deref(), Some("Topic"));
    }
    nothing_from(&mut bob, &mut alice, presence_from(&format!("{ROOM}/bob"))).await;
    // A join presence that changes something is also an update for everyone.
    bob.send(&format!("<presence to='{ROOM}/bob'><x xmlns='{MUC}'/><show>away</show></presence>")).await;
    let update = alice.expect(presence_from(&format!("{ROOM}/bob"))).await;
    assert_eq!(update.get_child("show", ns::CLIENT).map(Element::text).as_deref(), Some("away"));
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
}

/// XEP-0045 §7.14: the status text of a leaving occupant reaches everyone.
#[tokio::test]
async fn a_leaving_occupants_status_text_reaches_the_room() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    let mut bob = server.client("bob", "pw").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
    bob.send(&format!("<presence to='{ROOM}/bob' type='unavailable'><status>gone fishing</status></presence>")).await;
    for c in [&mut alice, &mut bob] {
        let left =
            c.expect(|e| e.attr("from") == Some(&format!("{ROOM}/bob")) && e.attr("type") == Some("unavailable")).await;
        assert_eq!(left.get_child("status", ns::CLIENT).map(Element::text).as_deref(), Some("gone fishing"));
        assert_eq!(muc_item(&left).1, "none");
    }
}

/// A history request's `since` goes through the strict XEP-0082 parser: one it cannot read
/// (a year of 19 digits once overflowed the date arithmetic) asks for no particular start.
#[tokio::test]
async fn a_malformed_history_since_is_ignored() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='m'><body>hello</body></message>")).await;
    alice.expect(|e| e.attr("id") == Some("m")).await;
    let mut bob = server.client("bob", "pw").await;
    for (nick, since) in [("b1", "1000000000000000000-01-01T00:00:00Z"), ("b2", "2020-01-01T00:00:00+99999:00")] {
        join(&mut bob, ROOM, nick, &format!("<history since='{since}'/>")).await;
        bob.expect(presence_from(&format!("{ROOM}/{nick}"))).await;
        let history = bob.expect(|e| e.name() == "message").await;
        assert_eq!(history.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("hello"), "{since}");
        bob.expect(|e| e.get_child("subject", ns::CLIENT).is_some()).await;
        bob.send(&format!("<presence to='{ROOM}/{nick}' type='unavailable'/>")).await;
        bob.expect(|e| e.attr("from") == Some(&format!("{ROOM}/{nick}")) && e.attr("type") == Some("unavailable"))
            .await;
    }
}

/// A stored room whose configuration does not read is not served with a default (public,
/// open) one: joining it fails and the service does not list it; rooms beside it are fine.
#[tokio::test]
async fn a_room_with_a_damaged_configuration_fails_closed() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let damaged = rhein_storage::RoomRow {
        jid: "vault@conference.localhost".into(),
        config: "{\"public\": true, \"members_only\": ".into(),
        subject: String::new(),
        subject_by: String::new(),
    };
    let owner = rhein_storage::AffiliationRow {
        jid: "someone@localhost".into(),
        affiliation: rhein_storage::RoomAffiliation::Owner,
        nick: String::new(),
        reason: String::new(),
    };
    server.running().db.muc().save_room(&damaged, &[owner]).await.unwrap();
    let mut alice = server.client("alice", "pw").await;
    join(&mut alice, "vault@conference.localhost", "alice", "").await;
    let refused = alice.expect(presence_from("vault@conference.localhost/alice")).await;
    assert_eq!(refused.attr("type"), Some("error"));
    assert_eq!(error_condition(&refused).as_deref(), Some("internal-server-error"));
    let items = alice.iq("<iq type='get' id='i' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>").await;
    let listed: Vec<_> =
        items.get_child("query", ns::DISCO_ITEMS).unwrap().children().filter_map(|i| i.attr("jid")).collect();
    assert!(!listed.contains(&"vault@conference.localhost"), "{listed:?}");
    create(&mut alice, ROOM, "alice", "").await;
}

/// The sprint's easy joining: the invite command on a room gives its link; in a members-only
/// room its XEP-0488 token makes whoever joins with it a member, as often as it allows; the
/// room's landing page shows what the room says of itself.
#[tokio::test]
async fn room_invite_links_and_tokens_let_newcomers_in() {
    const TOKENS: &str = "urn:xmpp:muc-token-invite:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").web().start().await;
    let room = "tea@conference.localhost";
    let mut alice = server.client("alice", "pw").await;
    let fields = [
        field("membersonly", "1"),
        field("persistentroom", "1"),
        field("publicroom", "1"),
        field("roomname", "Tea time"),
    ];
    create(&mut alice, room, "alice", &fields.concat()).await;
    let command = |id: &str| {
        format!(
            "<iq type='set' id='{id}' to='{room}'><command xmlns='{}' node='{}' action='execute'/></iq>",
            ns::COMMANDS,
            ns::INVITE_COMMAND
        )
    };

    let mut bob = server.client("bob", "pw").await;
    let items = bob
        .iq(&format!(
            "<iq type='get' id='i' to='{room}'><query xmlns='{}' node='{}'/></iq>",
            ns::DISCO_ITEMS,
            ns::COMMANDS
        ))
        .await;
    assert_eq!(items.get_child("query", ns::DISCO_ITEMS).unwrap().children().count(), 0, "bob may not invite");
    assert_eq!(error_condition(&bob.iq(&command("c0")).await).as_deref(), Some("forbidden"));

    let done = alice.iq(&command("c1")).await;
    let form = done.get_child("command", ns::COMMANDS).and_then(|c| c.get_child("x", ns::DATA)).expect("a result form");
    let value = |var: &str| {
        form.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.get_child("value", ns::DATA))
            .map(Element::text)
    };
    let uri = value("uri").unwrap();
    let token =
        uri.strip_prefix(&format!("xmpp:{room}?join;password=")).expect("a token for a members-only room").to_owned();
    assert!(value("landing-url").unwrap().ends_with(&format!("/join/{room}?token={token}")));
    assert!(value("expire").is_some());

    // The token makes bob a member as he joins.
    join(&mut bob, room, "bob", &format!("<password>{token}</password>")).await;
    let own = bob.expect(presence_from(&format!("{room}/bob"))).await;
    assert_eq!(muc_item(&own).0, "member");
    // Used once: carol is turned away.
    let mut carol = server.client("carol", "pw").await;
    join(&mut carol, room, "carol", &format!("<password>{token}</password>")).await;
    let refused = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("registration-required"));

    // XEP-0488 by hand: a token for two, listed by id, revoked by value.
    let made = alice
        .iq(&format!("<iq type='set' id='t1' to='{room}'><request xmlns='{TOKENS}' counter='2' delay='3600'/></iq>"))
        .await;
    let made = made.get_child("token", TOKENS).expect("a token").clone();
    assert_eq!((made.attr("counter"), made.attr("delay")), (Some("2"), Some("3600")));
    let list = alice.iq(&format!("<iq type='get' id='t2' to='{room}'><tokens xmlns='{TOKENS}'/></iq>")).await;
    let listed: Vec<_> =
        list.get_child("tokens", TOKENS).unwrap().children().map(|t| t.attr("counter").map(str::to_owned)).collect();
    assert!(listed.contains(&Some("2".into())), "{list:?}");
    let revoke = format!("<iq type='set' id='t3' to='{room}'><revoke xmlns='{TOKENS}'>{}</revoke></iq>", made.text());
    assert_eq!(alice.iq(&revoke).await.attr("type"), Some("result"));
    assert_eq!(error_condition(&alice.iq(&revoke.replace("t3", "t4")).await).as_deref(), Some("item-not-found"));
    join(&mut carol, room, "carol", &format!("<password>{}</password>", made.text())).await;
    let refused = carol.expect(|e| e.name() == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("registration-required"), "revoked");

    // In an open room a token grants nothing: membership there would give back the voice a
    // moderator can take away.
    let open_room = "garden@conference.localhost";
    create(&mut alice, open_room, "alice", "").await;
    let open_token =
        alice.iq(&format!("<iq type='set' id='t5' to='{open_room}'><request xmlns='{TOKENS}'/></iq>")).await;
    let open_token = open_token.get_child("token", TOKENS).unwrap().text();
    join(&mut carol, open_room, "carol", &format!("<password>{open_token}</password>")).await;
    let own = carol.expect(presence_from(&format!("{open_room}/carol"))).await;
    assert_eq!(muc_item(&own).0, "none");

    // The landing page.
    let (status, _, page) =
        crate::web::https(&server, "GET", &format!("https://localhost/join/{room}?token={token}"), "", b"").await;
    assert!(status.contains("200"), "{status}");
    assert!(page.contains("Join the room Tea time"), "{page}");
    assert!(page.contains("People in the room now: 2."), "a public room shows its occupants: {page}");
    assert!(page.contains(&format!("xmpp:{room}?join;password={token}")));
    let (status, _, _) =
        crate::web::https(&server, "GET", "https://localhost/join/nothing@conference.localhost", "", b"").await;
    assert!(status.contains("404"), "{status}");

    // An account invite naming the room makes the new account a member.
    let invite = rhein_storage::NewInvite {
        rooms: vec![room.into()],
        ..rhein_storage::NewInvite::new("localhost", rhein_storage::InviteKind::Account)
    };
    let (_, account_token) = server.running().db.invites().create(&invite).await.unwrap();
    let mut dave = server.connect().open().await;
    let pa = dave
        .iq(&format!("<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='{account_token}'/></iq>"))
        .await;
    assert_eq!(pa.attr("type"), Some("result"));
    let reg = dave
        .iq("<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>dave</username><password>a long password</password></query></iq>")
        .await;
    assert_eq!(reg.attr("type"), Some("result"), "{reg:?}");
    let mut dave = server.client("dave", "a long password").await;
    // The room is bookmarked for him, to be joined automatically (XEP-0402).
    let bookmarks = dave
        .iq("<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
        .await;
    let items = bookmarks.get_child("pubsub", ns::PUBSUB).and_then(|p| p.get_child("items", ns::PUBSUB)).unwrap();
    let item = items.get_child("item", ns::PUBSUB).expect("a bookmark");
    let conference = item.get_child("conference", "urn:xmpp:bookmarks:1").unwrap();
    assert_eq!((item.attr("id"), conference.attr("autojoin")), (Some(room), Some("true")));
    join(&mut dave, room, "dave", "").await;
    let own = dave.expect(presence_from(&format!("{room}/dave"))).await;
    assert_eq!(muc_item(&own).0, "member");
}

/// The host's administrators own every room of its service: they see hidden rooms in the
/// list, configure them and destroy them; anyone else is refused as before.
#[tokio::test]
async fn server_administrators_own_every_room() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .configure(|c| c.server.admins = vec!["bob@localhost".into()])
        .start()
        .await;
    let room = "hideout@conference.localhost";
    let mut alice = server.client("alice", "pw").await;
    create(&mut alice, room, "alice", &[field("publicroom", "0"), field("persistentroom", "1")].concat()).await;
    let items = |id: &str| {
        format!("<iq type='get' id='{id}' to='conference.localhost'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS)
    };
    let listed = |reply: &Element| {
        reply
            .get_child("query", ns::DISCO_ITEMS)
            .unwrap()
            .children()
            .filter_map(|i| i.attr("jid").map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let mut carol = server.client("carol", "pw").await;
    assert!(listed(&carol.iq(&items("l1")).await).is_empty(), "a hidden room is hidden");
    let config = format!("<iq type='get' id='c1' to='{room}'><query xmlns='{OWNER}'/></iq>");
    assert_eq!(error_condition(&carol.iq(&config).await).as_deref(), Some("forbidden"));

    let mut bob = server.client("bob", "pw").await;
    assert_eq!(listed(&bob.iq(&items("l2")).await), [room], "an administrator sees every room");
    let form = bob.iq(&config).await;
    assert!(form.get_child("query", OWNER).and_then(|q| q.get_child("x", ns::DATA)).is_some(), "{form:?}");
    let destroy = format!(
        "<iq type='set' id='d1' to='{room}'><query xmlns='{OWNER}'><destroy><reason>spam</reason></destroy></query></iq>"
    );
    assert_eq!(bob.iq(&destroy).await.attr("type"), Some("result"));
    let gone = alice.expect(|e| e.name() == "presence" && e.attr("type") == Some("unavailable")).await;
    assert!(gone.get_child("x", USER).and_then(|x| x.get_child("destroy", USER)).is_some(), "alice is told");
    assert!(server.running().db.muc().room(room).await.unwrap().is_none(), "gone from storage");
}

/// XEP-0317: owners define hats and give them to users, who wear them in every presence in
/// the room; everyone in the room may list them, only owners manage them.
#[tokio::test]
async fn owners_give_hats_that_show_in_presence() {
    const HATS: &str = "urn:xmpp:hats:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    create(&mut alice, ROOM, "alice", "").await;
    join(&mut bob, ROOM, "bob", "").await;
    bob.expect(|e| e.name() == "message" && e.get_child("subject", ns::CLIENT).is_some()).await;

    let command = |node: &str, id: &str, fields: &str| {
        let form = match fields {
            "" => String::new(),
            f => format!("<x xmlns='jabber:x:data' type='submit'>{f}</x>"),
        };
        format!(
            "<iq type='set' to='{ROOM}' id='{id}'><command xmlns='{}' node='urn:xmpp:hats:commands:{node}' action='execute'>{form}</command></iq>",
            ns::COMMANDS
        )
    };
    let value = |var: &str, v: &str| format!("<field var='{var}'><value>{v}</value></field>");
    let note = |r: &Element| {
        r.get_child("command", ns::COMMANDS).and_then(|c| c.get_child("note", ns::COMMANDS)).map(Element::text)
    };

    // A client cannot dress itself: hats it puts in its own presence are not passed on.
    alice.expect(|e| e.name() == "presence" && e.attr("from") == Some(&format!("{ROOM}/bob"))).await;
    bob.send(&format!(
        "<presence to='{ROOM}/bob'><hats xmlns='{HATS}'><hat uri='urn:forged' title='Boss'/></hats></presence>"
    ))
    .await;
    let seen = alice.expect(|e| e.name() == "presence" && e.attr("from") == Some(&format!("{ROOM}/bob"))).await;
    assert!(seen.get_child("hats", HATS).is_none(), "{seen:?}");

    // What each may run: occupants list, owners manage.
    let listed = |r: &Element| -> Vec<String> {
        let q = r.get_child("query", ns::DISCO_ITEMS).unwrap();
        q.children().filter_map(|i| i.attr("node")).filter(|n| n.contains("hats")).map(str::to_owned).collect()
    };
    let items =
        format!("<iq type='get' to='{ROOM}' id='ci'><query xmlns='{}' node='{}'/></iq>", ns::DISCO_ITEMS, ns::COMMANDS);
    assert_eq!(listed(&alice.iq(&items).await).len(), 6);
    assert_eq!(listed(&bob.iq(&items).await), ["urn:xmpp:hats:commands:list", "urn:xmpp:hats:commands:list-assigned"]);
    let info = bob.iq(&format!("<iq type='get' to='{ROOM}' id='di'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    assert!(info.get_child("query", ns::DISCO_INFO).unwrap().children().any(|f| f.attr("var") == Some(HATS)));

    // Create: the form, then the hat.
    let form = alice.iq(&command("create", "c1", "")).await;
    assert_eq!(form.get_child("command", ns::COMMANDS).unwrap().attr("status"), Some("executing"));
    let host =
        [value("hats#title", "Host"), value("hats#uri", "urn:example:hats#host"), value("hats#hue", "327.25")].concat();
    assert_eq!(
        note(&alice.iq(&command("create", "c2", &host)).await).as_deref(),
        Some("urn:example:hats#host created")
    );
    let refused = bob.iq(&command("create", "c3", &host)).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    let bad_hue = [value("hats#title", "X"), value("hats#uri", "urn:x"), value("hats#hue", "400")].concat();
    assert_eq!(error_condition(&alice.iq(&command("create", "c4", &bad_hue)).await).as_deref(), Some("bad-request"));

    // Assign: bob's presence in the room carries it, for everyone.
    let give = [value("hats#jid", "bob@localhost"), value("hats#uri", "urn:example:hats#host")].concat();
    assert_eq!(alice.iq(&command("assign", "a1", &give)).await.attr("type"), Some("result"));
    let hat_of = |p: &Element| {
        let hat = p.get_child("hats", HATS)?.get_child("hat", HATS)?;
        Some((hat.attr("uri")?.to_owned(), hat.attr("title")?.to_owned()))
    };
    let bob_in_room = format!("{ROOM}/bob");
    for c in [&mut alice, &mut bob] {
        let p = c.expect(|e| presence_from(&bob_in_room)(e) && hat_of(e).is_some()).await;
        assert_eq!(hat_of(&p), Some(("urn:example:hats#host".into(), "Host".into())));
    }
    let unknown = [value("hats#jid", "bob@localhost"), value("hats#uri", "urn:nope")].concat();
    assert_eq!(error_condition(&alice.iq(&command("assign", "a2", &unknown)).await).as_deref(), Some("item-not-found"));

    // Lists, for anyone in the room.
    let reported_values = |r: &Element, var: &str| -> Vec<String> {
        let x = r.get_child("command", ns::COMMANDS).and_then(|c| c.get_child("x", ns::DATA)).unwrap();
        x.children()
            .filter(|i| i.name() == "item")
            .flat_map(|i| {
                i.children()
                    .filter(|f| f.attr("var") == Some(var))
                    .map(|f| f.get_child("value", ns::DATA).unwrap().text())
            })
            .collect()
    };
    assert_eq!(reported_values(&bob.iq(&command("list", "l1", "")).await, "hats#title"), ["Host"]);
    assert_eq!(reported_values(&bob.iq(&command("list-assigned", "l2", "")).await, "hats#jid"), ["bob@localhost"]);

    // Unassign and destroy: the hat is gone from bob's presence and from the lists.
    assert_eq!(alice.iq(&command("unassign", "u1", &give)).await.attr("type"), Some("result"));
    let p = bob.expect(|e| presence_from(&bob_in_room)(e) && e.get_child("hats", HATS).is_none()).await;
    assert!(hat_of(&p).is_none());
    let gone = value("hats#uri", "urn:example:hats#host");
    assert_eq!(alice.iq(&command("destroy", "d1", &gone)).await.attr("type"), Some("result"));
    assert!(reported_values(&bob.iq(&command("list", "l3", "")).await, "hats#title").is_empty());
}
