//! MIX (XEP-0369 with XEP-0405 PAM, XEP-0403 presence, XEP-0404 JID hiding, XEP-0406
//! administration): channels created and joined through the users' own server, messages
//! reflected and archived on both sides, participants and presence, bans, allowed lists,
//! JID-hidden channels, destruction, and channels surviving a restart.

use crate::{error_condition, nothing_from};
use rhein_testkit::{Element, TestClient, TestServer, ns};

const CORE: &str = "urn:xmpp:mix:core:1";
const PAM: &str = "urn:xmpp:mix:pam:2";
const MAM: &str = "urn:xmpp:mam:2";
const SERVICE: &str = "channels.localhost";
const COVEN: &str = "coven@channels.localhost";
const PARTICIPANTS: &str = "urn:xmpp:mix:nodes:participants";

/// A client that has sent its initial presence (MIX traffic goes to available clients).
pub(crate) async fn online(server: &TestServer, user: &str) -> TestClient {
    let mut c = server.client(user, "pw").await;
    c.send("<presence/>").await;
    c
}

pub(crate) async fn create(c: &mut TestClient, name: &str) -> Element {
    c.iq(&format!("<iq type='set' to='{SERVICE}' id='create-{name}'><create xmlns='{CORE}' channel='{name}'/></iq>"))
        .await
}

/// Joins through the user's server (XEP-0405); returns the answer.
pub(crate) async fn client_join(c: &mut TestClient, channel: &str, nick: &str) -> Element {
    let nodes = ["messages", "presence", "participants", "info"]
        .map(|n| format!("<subscribe node='urn:xmpp:mix:nodes:{n}'/>"))
        .concat();
    c.iq(&format!(
        "<iq type='set' id='join-{nick}'><client-join xmlns='{PAM}' channel='{channel}'>\
         <join xmlns='{CORE}'>{nodes}<nick>{nick}</nick></join></client-join></iq>"
    ))
    .await
}

/// The participant id in a client-join answer.
fn participant_id(answer: &Element) -> String {
    assert_eq!(answer.attr("type"), Some("result"), "{answer:?}");
    let join = answer.get_child("client-join", PAM).and_then(|j| j.get_child("join", CORE)).unwrap();
    join.attr("id").unwrap().to_owned()
}

fn pubsub_items(answer: &Element) -> Vec<Element> {
    let list = answer.get_child("pubsub", ns::PUBSUB).and_then(|p| p.get_child("items", ns::PUBSUB));
    list.map(|l| l.children().cloned().collect()).unwrap_or_default()
}

fn publish_form(node: &str, form_type: &str, fields: &str) -> String {
    format!(
        "<pubsub xmlns='{}'><publish node='{node}'><item><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>{fields}</x></item></publish></pubsub>",
        ns::PUBSUB
    )
}

fn is_mix_message(id: Option<&str>) -> impl Fn(&Element) -> bool + '_ {
    move |e| e.name() == "message" && e.get_child("mix", CORE).is_some() && (id.is_none() || e.attr("id") == id)
}

#[tokio::test]
async fn users_join_chat_and_leave_through_their_server() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;

    // Discovery: the server lists the service, the service says what it is.
    let items = alice
        .iq("<iq type='get' to='localhost' id='d1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await;
    assert!(items.get_child("query", ns::DISCO_ITEMS).unwrap().children().any(|i| i.attr("jid") == Some(SERVICE)));
    let info =
        alice.iq(&format!("<iq type='get' to='{SERVICE}' id='d2'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let q = info.get_child("query", ns::DISCO_INFO).unwrap();
    let identity = q.get_child("identity", ns::DISCO_INFO).unwrap();
    assert_eq!((identity.attr("category"), identity.attr("type")), (Some("conference"), Some("mix")));
    let features: Vec<&str> = q.children().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&CORE) && features.contains(&"urn:xmpp:mix:core:1#create-channel"), "{features:?}");
    let account = alice.iq(&format!("<iq type='get' id='d3'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let account_features: Vec<&str> =
        account.get_child("query", ns::DISCO_INFO).unwrap().children().filter_map(|f| f.attr("var")).collect();
    assert!(account_features.contains(&PAM) && account_features.contains(&"urn:xmpp:mix:pam:2#archive"));

    // alice creates the channel; a second create of the same name conflicts.
    assert_eq!(create(&mut alice, "coven").await.attr("type"), Some("result"));
    assert_eq!(error_condition(&create(&mut bob, "coven").await).as_deref(), Some("conflict"));
    let listed =
        bob.iq(&format!("<iq type='get' to='{SERVICE}' id='d4'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS)).await;
    assert!(listed.get_child("query", ns::DISCO_ITEMS).unwrap().children().any(|i| i.attr("jid") == Some(COVEN)));

    // Both join through their server; the channel lands in the roster, annotated on request.
    alice.iq("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'><annotate xmlns='urn:xmpp:mix:roster:0'/></query></iq>").await;
    let alice_id = participant_id(&client_join(&mut alice, COVEN, "hecate").await);
    let push = alice.expect(|e| e.name() == "iq" && e.get_child("query", "jabber:iq:roster").is_some()).await;
    let item = push.get_child("query", "jabber:iq:roster").unwrap().get_child("item", "jabber:iq:roster").unwrap();
    assert_eq!(item.attr("jid"), Some(COVEN));
    let channel = item.get_child("channel", "urn:xmpp:mix:roster:0").expect("annotated push");
    assert_eq!(channel.attr("participant-id"), Some(alice_id.as_str()));
    let bob_id = participant_id(&client_join(&mut bob, COVEN, "thirdwitch").await);
    assert_ne!(alice_id, bob_id);
    // alice, subscribed to participants, hears of bob.
    let news = alice
        .expect(|e| {
            e.get_child("event", ns::PUBSUB_EVENT)
                .is_some_and(|ev| ev.children().any(|i| i.attr("node") == Some(PARTICIPANTS)))
                && xml_text(e).contains(&bob_id)
        })
        .await;
    let joined =
        news.get_child("event", ns::PUBSUB_EVENT).unwrap().children().next().unwrap().children().next().unwrap();
    assert_eq!(joined.attr("id"), Some(bob_id.as_str()));
    assert!(xml_text(joined).contains("thirdwitch") && xml_text(joined).contains("bob@localhost"));
    // A taken nick.
    let taken = bob
        .iq(&format!(
            "<iq type='set' to='{COVEN}' id='nick'><setnick xmlns='{CORE}'><nick>hecate</nick></setnick></iq>"
        ))
        .await;
    assert_eq!(error_condition(&taken).as_deref(), Some("conflict"));

    // The roster without annotations does not mark channels.
    let plain = bob.iq("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>").await;
    let bob_item = plain
        .get_child("query", "jabber:iq:roster")
        .unwrap()
        .children()
        .find(|i| i.attr("jid") == Some(COVEN))
        .unwrap();
    assert!(bob_item.get_child("channel", "urn:xmpp:mix:roster:0").is_none());

    // A message is reflected to both users, on every online client, from the sender's
    // participant address, with the same id.
    let mut bob_phone = online(&server, "bob").await;
    // Coming online, the new client shares its presence with the channel and learns alice's.
    let alice_there = bob_phone
        .expect(|e| {
            e.name() == "presence" && e.attr("from").is_some_and(|f| f.starts_with(&format!("{alice_id}#coven@")))
        })
        .await;
    assert_eq!(alice_there.attr("to"), bob_phone.jid.as_deref());
    bob.send(&format!("<message to='{COVEN}' type='groupchat' id='m1'><body>when shall we three meet again</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>")).await;
    let mut ids = Vec::new();
    for c in [&mut alice, &mut bob, &mut bob_phone] {
        let m = c.expect(is_mix_message(None)).await;
        assert_eq!(m.attr("from"), Some(format!("{COVEN}/{bob_id}").as_str()));
        assert_eq!(m.attr("type"), Some("groupchat"));
        let mix = m.get_child("mix", CORE).unwrap();
        assert_eq!(mix.get_child("nick", CORE).unwrap().text(), "thirdwitch");
        assert_eq!(mix.get_child("jid", CORE).unwrap().text(), "bob@localhost");
        assert!(m.get_child("origin-id", "urn:xmpp:sid:0").is_some(), "origin-id kept for correlation");
        // The user's server stamped and archived it.
        let own = m.children().find(|s| s.is("stanza-id", "urn:xmpp:sid:0") && s.attr("by") != Some(COVEN));
        assert!(own.is_some(), "{m:?}");
        ids.push(m.attr("id").unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
    // History: from the channel's archive, and from alice's own.
    let q = alice.iq(&format!("<iq type='set' to='{COVEN}' id='h1'><query xmlns='{MAM}' queryid='q1'/></iq>")).await;
    assert_eq!(q.attr("type"), Some("result"), "{q:?}");
    let result = alice.expect(|e| e.get_child("result", MAM).is_some_and(|r| r.attr("queryid") == Some("q1"))).await;
    assert_eq!(result.get_child("result", MAM).unwrap().attr("id"), Some(ids[0].as_str()));
    let q = alice
        .iq(&format!("<iq type='set' id='h2'><query xmlns='{MAM}' queryid='q2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field><field var='with'><value>{COVEN}</value></field></x></query></iq>"))
        .await;
    assert_eq!(q.attr("type"), Some("result"));
    let own = alice.expect(|e| e.get_child("result", MAM).is_some_and(|r| r.attr("queryid") == Some("q2"))).await;
    let body = own.get_child("result", MAM).unwrap().get_child("forwarded", "urn:xmpp:forward:0").unwrap();
    assert!(xml_text(body).contains("when shall we three meet again"));

    // Participants through pubsub.
    let list = alice
        .iq(&format!(
            "<iq type='get' to='{COVEN}' id='p'><pubsub xmlns='{}'><items node='{PARTICIPANTS}'/></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    let listed = pubsub_items(&list);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|i| i.attr("id") == Some(bob_id.as_str())));

    // Presence: alice's next presence goes to the channel, which passes it to bob.
    alice.send("<presence><show>dnd</show><status>Making a Brew</status></presence>").await;
    let p = bob
        .expect(|e| {
            e.name() == "presence"
                && e.attr("from").is_some_and(|f| f.starts_with(&format!("{alice_id}#coven@")))
                && e.get_child("show", ns::CLIENT).is_some()
        })
        .await;
    let mix = p.get_child("mix", "urn:xmpp:mix:presence:0").unwrap();
    assert_eq!(mix.get_child("nick", "urn:xmpp:mix:presence:0").unwrap().text(), "hecate");
    assert!(mix.get_child("jid", "urn:xmpp:mix:presence:0").unwrap().text().starts_with("alice@localhost/"));

    // bob leaves: alice hears of it, bob's roster loses the channel, he gets no more messages.
    let left = bob.iq(&format!("<iq type='set' id='leave'><client-leave xmlns='{PAM}' channel='{COVEN}'><leave xmlns='{CORE}'/></client-leave></iq>")).await;
    assert_eq!(left.attr("type"), Some("result"), "{left:?}");
    alice
        .expect(|e| {
            e.get_child("event", ns::PUBSUB_EVENT).is_some_and(|ev| {
                xml_text(ev).contains(&format!("retract id=\"{bob_id}\""))
                    || xml_text(ev).contains(&format!("retract id='{bob_id}'"))
            })
        })
        .await;
    let roster = bob.iq("<iq type='get' id='r3'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert!(!roster.get_child("query", "jabber:iq:roster").unwrap().children().any(|i| i.attr("jid") == Some(COVEN)));
    bob.send(&format!("<message to='{COVEN}' type='groupchat' id='m2'><body>still here?</body></message>")).await;
    let refused = bob.expect(|e| e.attr("id") == Some("m2")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    alice.send(&format!("<message to='{COVEN}' type='groupchat' id='m3'><body>gone</body></message>")).await;
    alice.expect(is_mix_message(None)).await;
    nothing_from(&mut alice, &mut bob, is_mix_message(None)).await;
    nothing_from(&mut alice, &mut bob_phone, is_mix_message(None)).await;
}

fn xml_text(el: &Element) -> String {
    String::from(el)
}

#[tokio::test]
async fn owners_administer_and_jid_hidden_channels_hide_jids() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;
    let mut carol = online(&server, "carol").await;
    assert_eq!(create(&mut alice, "coven").await.attr("type"), Some("result"));

    // Only owners read and change the configuration; an owner must remain.
    let denied = bob.iq(&format!("<iq type='get' to='{COVEN}' id='c0'><pubsub xmlns='{}'><items node='urn:xmpp:mix:nodes:config'/></pubsub></iq>", ns::PUBSUB)).await;
    assert_eq!(error_condition(&denied).as_deref(), Some("forbidden"));
    let config = alice.iq(&format!("<iq type='get' to='{COVEN}' id='c1'><pubsub xmlns='{}'><items node='urn:xmpp:mix:nodes:config'/></pubsub></iq>", ns::PUBSUB)).await;
    let form = pubsub_items(&config).remove(0);
    assert!(xml_text(&form).contains("alice@localhost"), "alice owns it: {form:?}");
    let hide = publish_form(
        "urn:xmpp:mix:nodes:config",
        "urn:xmpp:mix:admin:0",
        "<field var='JID Visibility'><value>jid-hidden</value></field><field var='Administrator'><value>carol@localhost</value></field>",
    );
    let set = alice.iq(&format!("<iq type='set' to='{COVEN}' id='c2'>{hide}</iq>")).await;
    assert_eq!(set.attr("type"), Some("result"), "{set:?}");
    let no_owner = publish_form("urn:xmpp:mix:nodes:config", "urn:xmpp:mix:admin:0", "<field var='Owner'/>");
    let refused = alice.iq(&format!("<iq type='set' to='{COVEN}' id='c3'>{no_owner}</iq>")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("not-acceptable"));
    let info = publish_form("urn:xmpp:mix:nodes:info", CORE, "<field var='Name'><value>Witches Coven</value></field>");
    let by_bob = bob.iq(&format!("<iq type='set' to='{COVEN}' id='i1'>{info}</iq>")).await;
    assert_eq!(error_condition(&by_bob).as_deref(), Some("forbidden"));
    assert_eq!(
        alice.iq(&format!("<iq type='set' to='{COVEN}' id='i2'>{info}</iq>")).await.attr("type"),
        Some("result")
    );

    // In a JID-hidden channel bob sees nicks only; carol (administrator) sees JIDs.
    participant_id(&client_join(&mut alice, COVEN, "hecate").await);
    let bob_id = participant_id(&client_join(&mut bob, COVEN, "thirdwitch").await);
    participant_id(&client_join(&mut carol, COVEN, "greymalkin").await);
    alice
        .send(&format!(
            "<message to='{COVEN}' type='groupchat' id='h'><body>by the pricking of my thumbs</body></message>"
        ))
        .await;
    let to_bob = bob.expect(is_mix_message(None)).await;
    assert!(to_bob.get_child("mix", CORE).unwrap().get_child("jid", CORE).is_none(), "{to_bob:?}");
    assert!(!xml_text(&to_bob).contains("alice@localhost"));
    let to_carol = carol.expect(is_mix_message(None)).await;
    assert_eq!(to_carol.get_child("mix", CORE).unwrap().get_child("jid", CORE).unwrap().text(), "alice@localhost");
    let seen_by_bob = bob
        .iq(&format!(
            "<iq type='get' to='{COVEN}' id='p1'><pubsub xmlns='{}'><items node='{PARTICIPANTS}'/></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    assert!(!xml_text(seen_by_bob.get_child("pubsub", ns::PUBSUB).unwrap()).contains("@localhost"), "{seen_by_bob:?}");
    let jidmap = bob.iq(&format!("<iq type='get' to='{COVEN}' id='p2'><pubsub xmlns='{}'><items node='urn:xmpp:mix:nodes:jidmap'/></pubsub></iq>", ns::PUBSUB)).await;
    assert_eq!(error_condition(&jidmap).as_deref(), Some("forbidden"));
    let jidmap = carol.iq(&format!("<iq type='get' to='{COVEN}' id='p3'><pubsub xmlns='{}'><items node='urn:xmpp:mix:nodes:jidmap'/></pubsub></iq>", ns::PUBSUB)).await;
    assert!(xml_text(&jidmap).contains("bob@localhost"));
    // The channel's archive holds the variant without JIDs.
    alice.iq(&format!("<iq type='set' to='{COVEN}' id='h1'><query xmlns='{MAM}' queryid='q'/></iq>")).await;
    let archived = alice.expect(|e| e.get_child("result", MAM).is_some()).await;
    assert!(!xml_text(archived.get_child("result", MAM).unwrap()).contains("alice@localhost"), "{archived:?}");

    // carol bans bob: he is out at once, and may not come back.
    let ban = format!(
        "<pubsub xmlns='{}'><publish node='urn:xmpp:mix:nodes:banned'><item id='bob@localhost'/></publish></pubsub>",
        ns::PUBSUB
    );
    let banned = carol.iq(&format!("<iq type='set' to='{COVEN}' id='b1'>{ban}</iq>")).await;
    assert_eq!(banned.attr("type"), Some("result"), "{banned:?}");
    alice
        .expect(|e| {
            e.get_child("event", ns::PUBSUB_EVENT)
                .is_some_and(|ev| xml_text(ev).contains(&bob_id) && xml_text(ev).contains("retract"))
        })
        .await;
    let again = client_join(&mut bob, COVEN, "thirdwitch").await;
    assert_eq!(error_condition(&again).as_deref(), Some("forbidden"));
    let by_bob = bob.iq(&format!("<iq type='set' to='{COVEN}' id='b2'>{}</iq>", ban.replace("bob@", "carol@"))).await;
    assert_eq!(error_condition(&by_bob).as_deref(), Some("forbidden"));

    // An allowed list keeps everyone else out.
    let allow = format!(
        "<pubsub xmlns='{}'><publish node='urn:xmpp:mix:nodes:allowed'><item id='alice@localhost'/></publish></pubsub>",
        ns::PUBSUB
    );
    assert_eq!(
        alice.iq(&format!("<iq type='set' to='{COVEN}' id='a1'>{allow}</iq>")).await.attr("type"),
        Some("result")
    );
    assert_eq!(
        alice
            .iq(&format!("<iq type='set' to='{COVEN}' id='a2'>{}</iq>", ban.replace("publish", "retract")))
            .await
            .attr("type"),
        Some("result")
    );
    let not_allowed = client_join(&mut bob, COVEN, "thirdwitch").await;
    assert_eq!(error_condition(&not_allowed).as_deref(), Some("forbidden"));

    // Ad hoc channels get a name from the service and are not listed.
    let adhoc = bob.iq(&format!("<iq type='set' to='{SERVICE}' id='ah'><create xmlns='{CORE}'/></iq>")).await;
    let name = adhoc.get_child("create", CORE).unwrap().attr("channel").unwrap().to_owned();
    let listed =
        bob.iq(&format!("<iq type='get' to='{SERVICE}' id='l'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS)).await;
    assert!(!xml_text(&listed).contains(&name));

    // Only owners destroy; afterwards the channel is gone, and its participants' servers
    // take it out of their rosters.
    let roster = carol.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert!(xml_text(&roster).contains(COVEN), "carol is in the channel: {roster:?}");
    let destroy = format!("<iq type='set' to='{SERVICE}' id='x1'><destroy xmlns='{CORE}' channel='coven'/></iq>");
    assert_eq!(error_condition(&bob.iq(&destroy).await).as_deref(), Some("forbidden"));
    assert_eq!(alice.iq(&destroy.replace("x1", "x2")).await.attr("type"), Some("result"));
    let removed = |e: &Element| {
        let item = e.get_child("query", "jabber:iq:roster").and_then(|q| q.get_child("item", "jabber:iq:roster"));
        item.is_some_and(|i| i.attr("jid") == Some(COVEN) && i.attr("subscription") == Some("remove"))
    };
    carol.expect(removed).await;
    let gone = alice.iq(&format!("<iq type='get' to='{COVEN}' id='g'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    assert_eq!(error_condition(&gone).as_deref(), Some("item-not-found"));
    // Leaving a destroyed channel still cleans up the roster.
    let left = carol.iq(&format!("<iq type='set' id='cl'><client-leave xmlns='{PAM}' channel='{COVEN}'><leave xmlns='{CORE}'/></client-leave></iq>")).await;
    assert_eq!(left.attr("type"), Some("result"), "{left:?}");
}

#[tokio::test]
async fn channels_and_participants_survive_a_restart() {
    let mut server = TestServer::builder().user("alice", "pw").user("bob", "pw").durable().start().await;
    let bob_id = {
        let mut alice = online(&server, "alice").await;
        let mut bob = online(&server, "bob").await;
        create(&mut alice, "coven").await;
        client_join(&mut alice, COVEN, "hecate").await;
        let id = participant_id(&client_join(&mut bob, COVEN, "thirdwitch").await);
        alice
            .send(&format!("<message to='{COVEN}' type='groupchat' id='m'><body>before the restart</body></message>"))
            .await;
        bob.expect(is_mix_message(None)).await;
        id
    };
    server.restart().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;
    // Still participants, still subscribed: a message reaches bob.
    alice
        .send(&format!("<message to='{COVEN}' type='groupchat' id='n'><body>after the restart</body></message>"))
        .await;
    let m = bob.expect(is_mix_message(None)).await;
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "after the restart");
    let list = bob
        .iq(&format!(
            "<iq type='get' to='{COVEN}' id='p'><pubsub xmlns='{}'><items node='{PARTICIPANTS}'/></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    assert!(pubsub_items(&list).iter().any(|i| i.attr("id") == Some(bob_id.as_str())));
    // The history kept both messages.
    bob.iq(&format!("<iq type='set' to='{COVEN}' id='h'><query xmlns='{MAM}' queryid='q'/></iq>")).await;
    let first = bob.expect(|e| e.get_child("result", MAM).is_some()).await;
    assert!(xml_text(&first).contains("before the restart"));
    // bob's roster still holds the channel, annotated.
    let roster = bob.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'><annotate xmlns='urn:xmpp:mix:roster:0'/></query></iq>").await;
    let item = roster
        .get_child("query", "jabber:iq:roster")
        .unwrap()
        .children()
        .find(|i| i.attr("jid") == Some(COVEN))
        .unwrap();
    assert_eq!(
        item.get_child("channel", "urn:xmpp:mix:roster:0").unwrap().attr("participant-id"),
        Some(bob_id.as_str())
    );
}

#[tokio::test]
async fn nicks_are_registered_invitations_let_people_in_and_messages_are_retracted() {
    const MISC: &str = "urn:xmpp:mix:misc:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;
    let mut carol = online(&server, "carol").await;
    create(&mut alice, "coven").await;
    participant_id(&client_join(&mut alice, COVEN, "hecate").await);

    // bob registers a nick with the service: it is his in every channel, and no one else's.
    let register = |nick: &str| {
        format!(
            "<iq type='set' to='{SERVICE}' id='reg-{nick}'><register xmlns='{MISC}'><nick>{nick}</nick></register></iq>"
        )
    };
    let taken = bob.iq(&register("hecate")).await;
    assert_eq!(error_condition(&taken).as_deref(), Some("conflict"), "hecate is in use in the channel");
    let ok = bob.iq(&register("thirdwitch")).await;
    assert_eq!(ok.get_child("register", MISC).unwrap().get_child("nick", MISC).unwrap().text(), "thirdwitch");
    let by_carol = carol.iq(&register("thirdwitch")).await;
    assert_eq!(error_condition(&by_carol).as_deref(), Some("conflict"));
    let joined = client_join(&mut bob, COVEN, "anything").await;
    let join = joined.get_child("client-join", PAM).unwrap().get_child("join", CORE).unwrap();
    assert_eq!(join.get_child("nick", CORE).unwrap().text(), "thirdwitch", "the registered nick wins");
    let reserved = carol
        .iq(&format!(
            "<iq type='set' id='cj'><client-join xmlns='{PAM}' channel='{COVEN}'><join xmlns='{CORE}'><nick>thirdwitch</nick></join></client-join></iq>"
        ))
        .await;
    assert_eq!(error_condition(&reserved).as_deref(), Some("conflict"));

    // With an allowed list, carol is out, until a participant with the right invites her.
    let allow = format!(
        "<pubsub xmlns='{}'><publish node='urn:xmpp:mix:nodes:allowed'><item id='alice@localhost'/></publish></pubsub>",
        ns::PUBSUB
    );
    alice.iq(&format!("<iq type='set' to='{COVEN}' id='a'>{allow}</iq>")).await;
    assert_eq!(error_condition(&client_join(&mut carol, COVEN, "greymalkin").await).as_deref(), Some("forbidden"));
    let ask = format!(
        "<iq type='get' to='{COVEN}' id='inv'><invite xmlns='{MISC}'><invitee>carol@localhost</invitee></invite></iq>"
    );
    let refused = bob.iq(&ask).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"), "participants may not invite by default");
    let granted = alice.iq(&ask).await;
    let invitation = granted.get_child("invite", MISC).unwrap().get_child("invitation", MISC).unwrap().clone();
    assert_eq!(invitation.get_child("invitee", MISC).unwrap().text(), "carol@localhost");
    let invitation = String::from(&invitation);
    // A forged token does not work; the real one does, and puts carol on the allowed list.
    let join_with = |inv: &str| {
        format!(
            "<iq type='set' id='cj2'><client-join xmlns='{PAM}' channel='{COVEN}'><join xmlns='{CORE}'>\
             <subscribe node='urn:xmpp:mix:nodes:messages'/><nick>greymalkin</nick>{inv}</join></client-join></iq>"
        )
    };
    let token_start = invitation.find("<token>").unwrap() + "<token>".len();
    let forged = format!("{}x{}", &invitation[..token_start], &invitation[token_start..]);
    assert_eq!(error_condition(&carol.iq(&join_with(&forged)).await).as_deref(), Some("forbidden"));
    let joined = carol.iq(&join_with(&invitation)).await;
    assert_eq!(joined.attr("type"), Some("result"), "{joined:?}");
    let allowed = alice
        .iq(&format!(
            "<iq type='get' to='{COVEN}' id='al'><pubsub xmlns='{}'><items node='urn:xmpp:mix:nodes:allowed'/></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    assert!(pubsub_items(&allowed).iter().any(|i| i.attr("id") == Some("carol@localhost")));

    // Retraction: not by bob unless the channel allows it; the owner may; a tombstone stays.
    bob.send(&format!(
        "<message to='{COVEN}' type='groupchat' id='oops'><body>a message I did not mean to send</body></message>"
    ))
    .await;
    let sent = alice.expect(is_mix_message(None)).await;
    let sent_id = sent.attr("id").unwrap().to_owned();
    carol.expect(is_mix_message(Some(&sent_id))).await;
    bob.send(&format!("<message to='{COVEN}' id='r1'><retract xmlns='{MISC}' id='{sent_id}'/></message>")).await;
    let refused = bob.expect(|e| e.attr("id") == Some("r1") && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    alice.send(&format!("<message to='{COVEN}' id='r2'><retract xmlns='{MISC}' id='{sent_id}'/></message>")).await;
    let note = carol.expect(|e| e.get_child("retract", MISC).is_some()).await;
    assert_eq!(note.get_child("retract", MISC).unwrap().attr("id"), Some(sent_id.as_str()));
    alice.iq(&format!("<iq type='set' to='{COVEN}' id='h'><query xmlns='{MAM}' queryid='q'/></iq>")).await;
    let archived = alice.expect(|e| e.get_child("result", MAM).is_some()).await;
    let text = xml_text(&archived);
    assert!(text.contains("retracted") && !text.contains("did not mean"), "{text}");
}

#[tokio::test]
async fn a_user_of_another_server_joins_through_its_own_server() {
    let (alpha, beta) = crate::s2s::pair().await;
    let channel = "coven@channels.alpha.test";
    let mut alice = online(&alpha, "alice").await;
    let create = alice
        .iq(&format!("<iq type='set' to='channels.alpha.test' id='c'><create xmlns='{CORE}' channel='coven'/></iq>"))
        .await;
    assert_eq!(create.attr("type"), Some("result"));
    client_join(&mut alice, channel, "hecate").await;
    // bob's server (beta) joins for him over federation and keeps the channel in his roster.
    let mut bob = online(&beta, "bob").await;
    let bob_id = participant_id(&client_join(&mut bob, channel, "thirdwitch").await);
    let roster = bob.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert!(roster.get_child("query", "jabber:iq:roster").unwrap().children().any(|i| i.attr("jid") == Some(channel)));
    // Messages both ways; bob's copy is stamped and archived by beta.
    bob.send(&format!("<message to='{channel}' type='groupchat' id='x1'><body>hello from beta</body></message>")).await;
    let got = alice.expect(is_mix_message(None)).await;
    assert_eq!(got.attr("from"), Some(format!("{channel}/{bob_id}").as_str()));
    let own = bob.expect(is_mix_message(None)).await;
    assert!(own.children().any(|s| s.is("stanza-id", "urn:xmpp:sid:0") && s.attr("by") == Some("bob@beta.test")));
    alice.send(&format!("<message to='{channel}' type='groupchat' id='x2'><body>welcome</body></message>")).await;
    let welcome = bob.expect(is_mix_message(None)).await;
    assert_eq!(welcome.get_child("body", ns::CLIENT).unwrap().text(), "welcome");
    // Remote users cannot create channels here.
    let refused = bob
        .iq(&format!("<iq type='set' to='channels.alpha.test' id='c2'><create xmlns='{CORE}' channel='mine'/></iq>"))
        .await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    // Leaving goes over federation too.
    let left = bob
        .iq(&format!("<iq type='set' id='l'><client-leave xmlns='{PAM}' channel='{channel}'><leave xmlns='{CORE}'/></client-leave></iq>"))
        .await;
    assert_eq!(left.attr("type"), Some("result"), "{left:?}");
}

/// A channel whose stored configuration does not read is not served with a default (open)
/// one after a restart: joining it fails.
#[tokio::test]
async fn a_channel_with_a_damaged_configuration_fails_closed() {
    let mut server = TestServer::builder().user("alice", "pw").user("bob", "pw").durable().start().await;
    {
        let mut alice = online(&server, "alice").await;
        assert_eq!(create(&mut alice, "coven").await.attr("type"), Some("result"));
    }
    let pubsub = server.running().db.pubsub();
    assert!(pubsub.configure(COVEN, "urn:xmpp:mix:nodes:config", "{\"messages_subscription\": ", None).await.unwrap());
    server.restart().await;
    let mut bob = online(&server, "bob").await;
    let answer = client_join(&mut bob, COVEN, "thirdwitch").await;
    assert_eq!(error_condition(&answer).as_deref(), Some("internal-server-error"), "{answer:?}");
}

/// XEP-0405 §4.2: channel traffic goes to the user's clients that speak MIX, not to one
/// whose capabilities say it does not (nor does that client's presence reach the channel).
#[tokio::test]
async fn channel_traffic_reaches_only_the_clients_that_speak_mix() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut modern = server.connect().resource("modern").login("alice", "pw").await;
    let mut legacy = server.connect().resource("legacy").login("alice", "pw").await;
    crate::with_caps(&mut modern, "m", &[CORE]).await;
    crate::with_caps(&mut legacy, "l", &["http://jabber.org/protocol/muc"]).await;
    let mut bob = online(&server, "bob").await;
    // Learning capabilities has no observable end for the client.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    assert_eq!(create(&mut bob, "modern").await.attr("type"), Some("result"));
    let channel = "modern@channels.localhost";
    participant_id(&client_join(&mut modern, channel, "alice").await);
    participant_id(&client_join(&mut bob, channel, "bob").await);
    bob.send(&format!("<message to='{channel}' type='groupchat' id='hi'><body>hello MIX</body></message>")).await;
    let got = modern.expect(|e| e.name() == "message" && e.get_child("mix", CORE).is_some()).await;
    assert_eq!(got.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("hello MIX"));
    crate::nothing_from(&mut bob, &mut legacy, |e| e.name() == "message" && e.get_child("mix", CORE).is_some()).await;
}

/// XEP-0404 §7: private messages go through the channel between participants' encoded
/// JIDs, both ways, where the channel allows them; the channel keeps no copy.
#[tokio::test]
async fn private_messages_pass_through_the_channel_between_encoded_jids() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;
    let mut carol = online(&server, "carol").await;
    assert_eq!(create(&mut alice, "coven").await.attr("type"), Some("result"));
    let alice_id = participant_id(&client_join(&mut alice, COVEN, "alice").await);
    let bob_id = participant_id(&client_join(&mut bob, COVEN, "bob").await);

    let to_bob = format!("{bob_id}#{COVEN}");
    alice.send(&format!("<message to='{to_bob}' type='chat' id='p1'><body>psst</body></message>")).await;
    let got = bob.expect(|e| e.name() == "message" && e.attr("id") == Some("p1")).await;
    assert_eq!(got.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("psst"));
    let from = got.attr("from").unwrap().to_owned();
    assert!(from.starts_with(&format!("{alice_id}#{COVEN}")), "from alice's encoded JID: {from}");
    assert!(!xml_text(&got).contains("alice@localhost"), "alice's real JID stays hidden: {got:?}");
    bob.send(&format!("<message to='{from}' type='chat' id='p2'><body>what?</body></message>")).await;
    let back = alice.expect(|e| e.name() == "message" && e.attr("id") == Some("p2")).await;
    assert!(back.attr("from").unwrap().starts_with(&to_bob), "{back:?}");

    // IQs too, to a client the channel shows: the answer comes back under the request's id,
    // from the same encoded JID. The account itself is not asked (its server would answer
    // with what names it).
    assert!(from.contains('/'), "alice shares her presence, so her client is shown: {from}");
    bob.send(&format!("<iq type='get' id='v1' to='{from}'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    let asked = alice.expect(|e| e.name() == "iq" && e.attr("type") == Some("get")).await;
    assert!(asked.attr("from").unwrap().starts_with(&to_bob), "from bob's encoded JID: {asked:?}");
    alice
        .send(&format!("<iq type='result' id='{}' to='{}'/>", asked.attr("id").unwrap(), asked.attr("from").unwrap()))
        .await;
    let answer = bob.expect(|e| e.name() == "iq" && e.attr("id") == Some("v1")).await;
    assert_eq!((answer.attr("type"), answer.attr("from")), (Some("result"), Some(from.as_str())), "{answer:?}");
    let alice_encoded = format!("{alice_id}#{COVEN}");
    let account =
        bob.iq(&format!("<iq type='get' id='v2' to='{alice_encoded}'><vCard xmlns='vcard-temp'/></iq>")).await;
    assert_eq!(error_condition(&account).as_deref(), Some("service-unavailable"));
    let refused = carol.iq(&format!("<iq type='get' id='v3' to='{from}'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));

    // Only participants, never groupchat, and not kept in the channel's archive.
    carol.send(&format!("<message to='{to_bob}' type='chat' id='p3'><body>hi</body></message>")).await;
    let refused = carol.expect(|e| e.attr("id") == Some("p3")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    alice.send(&format!("<message to='{to_bob}' type='groupchat' id='p4'><body>x</body></message>")).await;
    let refused = alice.expect(|e| e.attr("id") == Some("p4") && e.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("bad-request"));
    let kept = crate::corrections::archived(&mut alice, Some(COVEN)).await;
    assert!(kept.iter().all(|m| !xml_text(m).contains("psst")), "{kept:?}");
}

/// XEP-0404 §5: a participant's preferences, given with the join or set later; a channel
/// whose JID visibility they rule out does not keep them, and a participant who blocks
/// private messages gets none.
#[tokio::test]
async fn participants_preferences_decide_visibility_and_private_messages() {
    const ANON: &str = "urn:xmpp:mix:anon:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;
    assert_eq!(create(&mut alice, "coven").await.attr("type"), Some("result"));
    participant_id(&client_join(&mut alice, COVEN, "alice").await);

    let template = bob.iq(&format!("<iq type='get' to='{COVEN}' id='t'><user-preference xmlns='{ANON}'/></iq>")).await;
    let form = template.get_child("user-preference", ANON).and_then(|p| p.get_child("x", ns::DATA)).unwrap();
    let vars: Vec<&str> = form.children().filter_map(|f| f.attr("var")).filter(|v| *v != "FORM_TYPE").collect();
    assert_eq!(vars, ["JID Visibility", "Private Messages", "vCard", "Presence"]);

    let prefs = |fields: &str| {
        format!(
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{ANON}</value></field>{fields}</x>"
        )
    };
    let join_with = |fields: &str| {
        format!(
            "<iq type='set' id='j'><client-join xmlns='{PAM}' channel='{COVEN}'><join xmlns='{CORE}'>\
             <subscribe node='urn:xmpp:mix:nodes:participants'/><nick>bob</nick>{}</join></client-join></iq>",
            prefs(fields)
        )
    };
    // The channel shows JIDs: 'never' rules it out.
    let never = bob.iq(&join_with("<field var='JID Visibility'><value>never</value></field>")).await;
    assert_eq!(error_condition(&never).as_deref(), Some("not-allowed"), "{never:?}");
    let joined = bob.iq(&join_with("<field var='Private Messages'><value>block</value></field>")).await;
    let bob_id = participant_id(&joined);
    let answered = joined
        .get_child("client-join", PAM)
        .and_then(|j| j.get_child("join", CORE))
        .and_then(|j| j.get_child("x", ns::DATA))
        .unwrap();
    let value = |var: &str| {
        answered
            .children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.get_child("value", ns::DATA))
            .map(Element::text)
    };
    assert_eq!(
        (value("Private Messages").as_deref(), value("JID Visibility").as_deref()),
        (Some("block"), Some("default"))
    );

    // bob takes no private messages.
    alice.send(&format!("<message to='{bob_id}#{COVEN}' type='chat' id='pm'><body>psst</body></message>")).await;
    let refused = alice.expect(|e| e.attr("id") == Some("pm")).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("not-allowed"));

    // bob wants his JID always shown; the channel then hides JIDs, and bob is out.
    let set = bob
        .iq(&format!(
            "<iq type='set' to='{COVEN}' id='s'><user-preference xmlns='{ANON}'>{}</user-preference></iq>",
            prefs("<field var='JID Visibility'><value>always</value></field>")
        ))
        .await;
    assert_eq!(set.attr("type"), Some("result"), "{set:?}");
    bob.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let hide = publish_form(
        "urn:xmpp:mix:nodes:config",
        "urn:xmpp:mix:admin:0",
        "<field var='JID Visibility'><value>jid-hidden</value></field>",
    );
    assert_eq!(alice.iq(&format!("<iq type='set' to='{COVEN}' id='h'>{hide}</iq>")).await.attr("type"), Some("result"));
    let removed = |e: &Element| {
        let item = e.get_child("query", "jabber:iq:roster").and_then(|q| q.get_child("item", "jabber:iq:roster"));
        item.is_some_and(|i| i.attr("jid") == Some(COVEN) && i.attr("subscription") == Some("remove"))
    };
    bob.expect(removed).await;
}

/// XEP-0404: in a channel that may show JIDs, a participant's is shown if it asked for it
/// (`always`), and hidden otherwise.
#[tokio::test]
async fn a_maybe_visible_channel_shows_the_jids_of_those_who_ask() {
    const ANON: &str = "urn:xmpp:mix:anon:0";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let mut alice = online(&server, "alice").await;
    let mut bob = online(&server, "bob").await;
    let mut carol = online(&server, "carol").await;
    assert_eq!(create(&mut alice, "coven").await.attr("type"), Some("result"));
    let maybe = publish_form(
        "urn:xmpp:mix:nodes:config",
        "urn:xmpp:mix:admin:0",
        "<field var='JID Visibility'><value>jid-optionally-visible</value></field>",
    );
    assert_eq!(
        alice.iq(&format!("<iq type='set' to='{COVEN}' id='m'>{maybe}</iq>")).await.attr("type"),
        Some("result")
    );
    let always = format!(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{ANON}</value></field>\
         <field var='JID Visibility'><value>always</value></field></x>"
    );
    let join = |nick: &str, prefs: &str| {
        format!(
            "<iq type='set' id='j-{nick}'><client-join xmlns='{PAM}' channel='{COVEN}'><join xmlns='{CORE}'>\
             <subscribe node='urn:xmpp:mix:nodes:participants'/><nick>{nick}</nick>{prefs}</join></client-join></iq>"
        )
    };
    let carol_id = participant_id(&carol.iq(&join("carol", &always)).await);
    let bob_id = participant_id(&bob.iq(&join("bob", "")).await);
    let items = bob
        .iq(&format!(
            "<iq type='get' to='{COVEN}' id='p'><pubsub xmlns='{}'><items node='{PARTICIPANTS}'/></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    let jid_of = |id: &str| {
        pubsub_items(&items)
            .into_iter()
            .find(|i| i.attr("id") == Some(id))
            .and_then(|i| i.get_child("participant", CORE).and_then(|p| p.get_child("jid", CORE)).map(Element::text))
    };
    assert_eq!(jid_of(&carol_id).as_deref(), Some("carol@localhost"), "carol asked for hers to be shown");
    assert_eq!(jid_of(&bob_id), None, "bob's stays hidden");
}
