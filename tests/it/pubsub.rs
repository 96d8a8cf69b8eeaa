//! The publish-subscribe service at `pubsub.localhost` (XEP-0060): discovery, the node
//! lifecycle with notifications, subscriptions pending an owner's approval, subscription
//! options, affiliations, and the errors XEP-0060 names.

use crate::error_condition;
use rhein_testkit::{Element, TestClient, TestServer, ns};

const PS: &str = "http://jabber.org/protocol/pubsub";
const OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
const SERVICE: &str = "pubsub.localhost";

async fn server() -> TestServer {
    TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .configure(|c| {
            let settings: toml::Table = toml::from_str("max_payload_bytes = 2048\nmax_nodes_per_owner = 4").unwrap();
            c.modules.settings.insert("pubsub".into(), settings.into());
        })
        .start()
        .await
}

fn jid(c: &TestClient) -> String {
    c.jid.clone().unwrap()
}

async fn set(c: &mut TestClient, ns_: &str, inner: &str) -> Element {
    c.iq(&format!("<iq type='set' id='s' to='{SERVICE}'><pubsub xmlns='{ns_}'>{inner}</pubsub></iq>")).await
}

async fn get(c: &mut TestClient, ns_: &str, inner: &str) -> Element {
    c.iq(&format!("<iq type='get' id='g' to='{SERVICE}'><pubsub xmlns='{ns_}'>{inner}</pubsub></iq>")).await
}

fn ok(reply: &Element) {
    assert_eq!(reply.attr("type"), Some("result"), "{}", String::from(reply));
}

/// The pubsub-specific condition of an error reply.
fn app_condition(reply: &Element) -> Option<String> {
    let err = reply.get_child("error", ns::CLIENT)?;
    err.children().find(|c| c.ns() == ERRORS).map(|c| c.name().to_owned())
}

fn form(form_type: &str, fields: &[(&str, &str)]) -> String {
    let mut x = format!(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"
    );
    for (var, value) in fields {
        x.push_str(&format!("<field var='{var}'><value>{value}</value></field>"));
    }
    x + "</x>"
}

fn node_config(fields: &[(&str, &str)]) -> String {
    form("http://jabber.org/protocol/pubsub#node_config", fields)
}

async fn publish(c: &mut TestClient, node: &str, id: &str, text: &str) -> Element {
    set(
        c,
        PS,
        &format!("<publish node='{node}'><item id='{id}'><entry xmlns='urn:test'>{text}</entry></item></publish>"),
    )
    .await
}

/// The next notification of `node` for this client.
async fn event(c: &mut TestClient, node: &str) -> Element {
    let node = node.to_owned();
    c.expect(move |m| {
        m.name() == "message"
            && m.get_child("event", EVENT).is_some_and(|e| e.children().any(|c| c.attr("node") == Some(&node)))
    })
    .await
}

fn event_child(message: &Element) -> &Element {
    message.get_child("event", EVENT).unwrap().children().next().unwrap()
}

#[tokio::test]
async fn the_service_is_discovered_and_lists_its_nodes_and_their_items() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let host_items = alice
        .iq("<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await;
    let listed =
        host_items.get_child("query", ns::DISCO_ITEMS).unwrap().children().any(|i| i.attr("jid") == Some(SERVICE));
    assert!(listed, "{}", String::from(&host_items));
    let info =
        alice.iq(&format!("<iq type='get' id='i' to='{SERVICE}'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let query = info.get_child("query", ns::DISCO_INFO).unwrap();
    let identity = query.get_child("identity", ns::DISCO_INFO).unwrap();
    assert_eq!((identity.attr("category"), identity.attr("type")), (Some("pubsub"), Some("service")));
    let features: Vec<&str> = query.children().filter_map(|f| f.attr("var")).collect();
    for f in ["#create-nodes", "#subscribe", "#access-authorize", "#subscription-options", "#instant-nodes"] {
        assert!(features.contains(&format!("{PS}{f}").as_str()), "{f} missing: {features:?}");
    }

    ok(&set(
        &mut alice,
        PS,
        &format!("<create node='news'/><configure>{}</configure>", node_config(&[("pubsub#title", "News")])),
    )
    .await);
    ok(&publish(&mut alice, "news", "first", "hello").await);
    // An instant node: the service names it.
    let instant = set(&mut alice, PS, "<create/>").await;
    let named = instant.get_child("pubsub", PS).and_then(|p| p.get_child("create", PS)).and_then(|c| c.attr("node"));
    assert!(named.is_some_and(|n| !n.is_empty()), "{}", String::from(&instant));

    let mut bob = server.client("bob", "pw").await;
    let nodes =
        bob.iq(&format!("<iq type='get' id='n' to='{SERVICE}'><query xmlns='{}'/></iq>", ns::DISCO_ITEMS)).await;
    let news = nodes.get_child("query", ns::DISCO_ITEMS).unwrap().children().find(|i| i.attr("node") == Some("news"));
    assert_eq!(news.and_then(|n| n.attr("name")), Some("News"));
    let meta = bob
        .iq(&format!("<iq type='get' id='m' to='{SERVICE}'><query xmlns='{}' node='news'/></iq>", ns::DISCO_INFO))
        .await;
    let meta = String::from(&meta);
    assert!(
        meta.contains("type='leaf'") && meta.contains("pubsub#meta-data") && meta.contains("alice@localhost"),
        "{meta}"
    );
    let items = bob
        .iq(&format!("<iq type='get' id='it' to='{SERVICE}'><query xmlns='{}' node='news'/></iq>", ns::DISCO_ITEMS))
        .await;
    let names: Vec<&str> =
        items.get_child("query", ns::DISCO_ITEMS).unwrap().children().filter_map(|i| i.attr("name")).collect();
    assert_eq!(names, vec!["first"]);
    let missing = bob
        .iq(&format!("<iq type='get' id='x' to='{SERVICE}'><query xmlns='{}' node='nope'/></iq>", ns::DISCO_INFO))
        .await;
    assert_eq!(error_condition(&missing).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn subscribers_hear_of_publications_retractions_purges_and_deletion() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    ok(&set(&mut alice, PS, "<create node='feed'/>").await);
    assert_eq!(error_condition(&set(&mut alice, PS, "<create node='feed'/>").await).as_deref(), Some("conflict"));

    let bob_jid = jid(&bob);
    let subscribed = set(&mut bob, PS, &format!("<subscribe node='feed' jid='{bob_jid}'/>")).await;
    let sub = subscribed.get_child("pubsub", PS).and_then(|p| p.get_child("subscription", PS)).unwrap();
    assert_eq!(sub.attr("subscription"), Some("subscribed"));
    let subid = sub.attr("subid").unwrap().to_owned();
    // Only one's own JID may be subscribed.
    let other = set(&mut bob, PS, "<subscribe node='feed' jid='carol@localhost'/>").await;
    assert_eq!(
        (error_condition(&other).as_deref(), app_condition(&other).as_deref()),
        (Some("bad-request"), Some("invalid-jid"))
    );

    for i in 1..=3 {
        ok(&publish(&mut alice, "feed", &format!("i{i}"), &format!("entry {i}")).await);
        let note = event(&mut bob, "feed").await;
        assert_eq!(note.attr("type"), Some("headline"));
        assert_eq!(note.attr("from"), Some(SERVICE));
        assert_eq!(
            event_child(&note).get_child("item", EVENT).and_then(|i| i.attr("id")),
            Some(format!("i{i}").as_str())
        );
    }
    // Bob may read but not publish.
    let refused = publish(&mut bob, "feed", "b1", "mine").await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
    let newest = get(&mut bob, PS, "<items node='feed' max_items='1'/>").await;
    let ids: Vec<&str> = newest
        .get_child("pubsub", PS)
        .unwrap()
        .get_child("items", PS)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("id"))
        .collect();
    assert_eq!(ids, vec!["i3"]);
    let page = bob.iq(&format!("<iq type='get' id='p' to='{SERVICE}'><pubsub xmlns='{PS}'><items node='feed'/><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></pubsub></iq>")).await;
    let page = String::from(&page);
    assert!(
        page.contains("i1") && page.contains("i2") && !page.contains("i3") && page.contains("<count>3</count>"),
        "{page}"
    );
    let subs = get(&mut bob, PS, "<subscriptions/>").await;
    let listed = subs
        .get_child("pubsub", PS)
        .unwrap()
        .get_child("subscriptions", PS)
        .unwrap()
        .get_child("subscription", PS)
        .unwrap();
    assert_eq!((listed.attr("node"), listed.attr("subid")), (Some("feed"), Some(subid.as_str())));

    ok(&set(&mut alice, PS, "<retract node='feed' notify='true'><item id='i1'/></retract>").await);
    let note = event(&mut bob, "feed").await;
    assert_eq!(event_child(&note).get_child("retract", EVENT).and_then(|r| r.attr("id")), Some("i1"));
    ok(&set(&mut alice, OWNER, "<purge node='feed'/>").await);
    assert_eq!(event_child(&event(&mut bob, "feed").await).name(), "purge");
    ok(&set(&mut alice, OWNER, "<delete node='feed'><redirect uri='xmpp:pubsub.localhost?;node=elsewhere'/></delete>")
        .await);
    let deleted = event(&mut bob, "feed").await;
    let redirect = event_child(&deleted).get_child("redirect", EVENT).and_then(|r| r.attr("uri"));
    assert_eq!(redirect, Some("xmpp:pubsub.localhost?;node=elsewhere"));
    let gone = get(&mut bob, PS, "<items node='feed'/>").await;
    assert_eq!(error_condition(&gone).as_deref(), Some("item-not-found"));
    let unsubscribed = set(&mut bob, PS, &format!("<unsubscribe node='feed' jid='{bob_jid}'/>")).await;
    assert_eq!(error_condition(&unsubscribed).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn an_authorize_node_holds_subscriptions_until_its_owner_answers_the_form() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    // Approval forms go to the owner's bare JID: to available resources, or offline.
    alice.send("<presence/>").await;
    let config = node_config(&[("pubsub#access_model", "authorize")]);
    ok(&set(&mut alice, PS, &format!("<create node='club'/><configure>{config}</configure>")).await);
    ok(&publish(&mut alice, "club", "secret", "members only").await);

    let bob_jid = jid(&bob);
    let pending = set(&mut bob, PS, &format!("<subscribe node='club' jid='{bob_jid}'/>")).await;
    let state = pending
        .get_child("pubsub", PS)
        .and_then(|p| p.get_child("subscription", PS))
        .and_then(|s| s.attr("subscription"));
    assert_eq!(state, Some("pending"));
    let refused = get(&mut bob, PS, "<items node='club'/>").await;
    assert_eq!(
        (error_condition(&refused).as_deref(), app_condition(&refused).as_deref()),
        (Some("not-authorized"), Some("not-subscribed"))
    );

    // Alice gets the approval form and allows Bob.
    let asked = alice.expect(|m| m.name() == "message" && m.get_child("x", "jabber:x:data").is_some()).await;
    assert!(String::from(&asked).contains(&bob_jid));
    assert_eq!(asked.attr("type").unwrap_or("normal"), "normal", "a form to fill in, not a chat");
    let pending_list = get(&mut alice, OWNER, "<subscriptions node='club'/>").await;
    assert!(String::from(&pending_list).contains("subscription='pending'"));
    let answer = form(
        "http://jabber.org/protocol/pubsub#subscribe_authorization",
        &[("pubsub#node", "club"), ("pubsub#subscriber_jid", &bob_jid), ("pubsub#allow", "true")],
    );
    // Bob may not decide for himself.
    bob.send(&format!("<message to='{SERVICE}' id='a0'>{answer}</message>")).await;
    let error = bob.expect(|m| m.name() == "message" && m.attr("type") == Some("error")).await;
    assert_eq!(error_condition(&error).as_deref(), Some("forbidden"));
    alice.send(&format!("<message to='{SERVICE}' id='a1'>{answer}</message>")).await;
    let told = event(&mut bob, "club").await;
    assert_eq!(event_child(&told).attr("subscription"), Some("subscribed"));
    ok(&get(&mut bob, PS, "<items node='club'/>").await);

    // Carol is denied: her request is gone.
    let carol_jid = jid(&carol);
    set(&mut carol, PS, &format!("<subscribe node='club' jid='{carol_jid}'/>")).await;
    alice.expect(|m| m.name() == "message" && String::from(m).contains("carol@localhost")).await;
    let deny = form(
        "http://jabber.org/protocol/pubsub#subscribe_authorization",
        &[("pubsub#node", "club"), ("pubsub#subscriber_jid", &carol_jid), ("pubsub#allow", "false")],
    );
    alice.send(&format!("<message to='{SERVICE}' id='a2'>{deny}</message>")).await;
    assert_eq!(event_child(&event(&mut carol, "club").await).attr("subscription"), Some("none"));
    let list = String::from(&get(&mut alice, OWNER, "<subscriptions node='club'/>").await);
    assert!(!list.contains("carol@localhost"), "{list}");
}

#[tokio::test]
async fn subscription_options_hold_back_notifications_or_add_a_body() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    ok(&set(&mut alice, PS, "<create node='quiet'/>").await);
    let bob_jid = jid(&bob);
    let off = form("http://jabber.org/protocol/pubsub#subscribe_options", &[("pubsub#deliver", "false")]);
    let subscribed =
        set(&mut bob, PS, &format!("<subscribe node='quiet' jid='{bob_jid}'/><options>{off}</options>")).await;
    ok(&subscribed);
    ok(&publish(&mut alice, "quiet", "1", "unheard").await);
    let barrier = alice.barrier_to(&bob_jid).await;
    bob.expect_none_before(&barrier, |m| m.get_child("event", EVENT).is_some()).await;

    let options = get(&mut bob, PS, &format!("<options node='quiet' jid='{bob_jid}'/>")).await;
    assert!(String::from(&options).contains("pubsub#subscribe_options"), "{}", String::from(&options));
    let on = form(
        "http://jabber.org/protocol/pubsub#subscribe_options",
        &[("pubsub#deliver", "1"), ("pubsub#include_body", "1")],
    );
    ok(&set(&mut bob, PS, &format!("<options node='quiet' jid='{bob_jid}'>{on}</options>")).await);
    ok(&publish(&mut alice, "quiet", "2", "now heard").await);
    let note = event(&mut bob, "quiet").await;
    assert_eq!(note.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("now heard"));
    let digest = form("http://jabber.org/protocol/pubsub#subscribe_options", &[("pubsub#digest", "1")]);
    let refused = set(&mut bob, PS, &format!("<options node='quiet' jid='{bob_jid}'>{digest}</options>")).await;
    assert_eq!(app_condition(&refused).as_deref(), Some("invalid-options"));
    let default = get(&mut bob, PS, "<default/>").await;
    ok(&default);
}

#[tokio::test]
async fn affiliations_make_publishers_and_outcasts_and_a_node_keeps_an_owner() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    let config = node_config(&[("pubsub#notification_type", "normal")]);
    ok(&set(&mut alice, PS, &format!("<create node='team'/><configure>{config}</configure>")).await);
    ok(&set(&mut alice, OWNER, "<affiliations node='team'><affiliation jid='bob@localhost' affiliation='publisher'/><affiliation jid='carol@localhost' affiliation='outcast'/></affiliations>").await);
    let alice_jid = jid(&alice);
    ok(&set(&mut alice, PS, &format!("<subscribe node='team' jid='{alice_jid}'/>")).await);
    ok(&publish(&mut bob, "team", "b1", "from bob").await);
    assert_eq!(event(&mut alice, "team").await.attr("type"), Some("normal"));
    let carol_jid = jid(&carol);
    let banned = set(&mut carol, PS, &format!("<subscribe node='team' jid='{carol_jid}'/>")).await;
    assert_eq!(error_condition(&banned).as_deref(), Some("forbidden"));
    let mine = get(&mut bob, PS, "<affiliations/>").await;
    let a = mine
        .get_child("pubsub", PS)
        .unwrap()
        .get_child("affiliations", PS)
        .unwrap()
        .get_child("affiliation", PS)
        .unwrap();
    assert_eq!((a.attr("node"), a.attr("affiliation")), (Some("team"), Some("publisher")));
    // Only owners manage; the last owner stays.
    let not_owner = get(&mut bob, OWNER, "<affiliations node='team'/>").await;
    assert_eq!(error_condition(&not_owner).as_deref(), Some("forbidden"));
    let ownerless = set(
        &mut alice,
        OWNER,
        "<affiliations node='team'><affiliation jid='alice@localhost' affiliation='none'/></affiliations>",
    )
    .await;
    assert_eq!(error_condition(&ownerless).as_deref(), Some("not-acceptable"));
    let listed = String::from(&get(&mut alice, OWNER, "<affiliations node='team'/>").await);
    assert!(
        listed.contains("alice@localhost") && listed.contains("publisher") && listed.contains("outcast"),
        "{listed}"
    );
    // Publish-only: may publish, may not read.
    ok(&set(
        &mut alice,
        OWNER,
        "<affiliations node='team'><affiliation jid='carol@localhost' affiliation='publish-only'/></affiliations>",
    )
    .await);
    ok(&publish(&mut carol, "team", "c1", "from carol").await);
    assert_eq!(error_condition(&get(&mut carol, PS, "<items node='team'/>").await).as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn limits_and_missing_things_get_the_errors_xep_0060_names() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let too_big = publish(&mut alice, "big", "1", &"x".repeat(4096)).await;
    assert_eq!(
        (error_condition(&too_big).as_deref(), app_condition(&too_big).as_deref()),
        (Some("not-acceptable"), Some("payload-too-big"))
    );
    // Publishing creates the node for those who may create nodes (auto-create).
    ok(&publish(&mut alice, "auto", "1", "made").await);
    let owners = String::from(&get(&mut alice, OWNER, "<affiliations node='auto'/>").await);
    assert!(owners.contains("owner"), "{owners}");
    // One account owns a bounded number of nodes, however it creates them.
    for node in ["n1", "n2", "n3"] {
        ok(&set(&mut alice, PS, &format!("<create node='{node}'/>")).await);
    }
    let fifth = set(&mut alice, PS, "<create node='n4'/>").await;
    assert_eq!(error_condition(&fifth).as_deref(), Some("policy-violation"));
    let by_publishing = publish(&mut alice, "n5", "1", "made").await;
    assert_eq!(error_condition(&by_publishing).as_deref(), Some("policy-violation"));
    let no_node = get(&mut alice, PS, "<items/>").await;
    assert_eq!(app_condition(&no_node).as_deref(), Some("nodeid-required"));
    let missing = set(&mut alice, OWNER, "<purge node='nope'/>").await;
    assert_eq!(error_condition(&missing).as_deref(), Some("item-not-found"));
    let alice_jid = jid(&alice);
    let not_subscribed = set(&mut alice, PS, &format!("<unsubscribe node='auto' jid='{alice_jid}'/>")).await;
    assert_eq!(
        (error_condition(&not_subscribed).as_deref(), app_condition(&not_subscribed).as_deref()),
        (Some("unexpected-request"), Some("not-subscribed"))
    );
    // Items expire as the node says.
    ok(&set(
        &mut alice,
        OWNER,
        &format!("<configure node='auto'>{}</configure>", node_config(&[("pubsub#item_expire", "1")])),
    )
    .await);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = get(&mut alice, PS, "<items node='auto'/>").await;
    assert_eq!(expired.get_child("pubsub", PS).unwrap().get_child("items", PS).unwrap().children().count(), 0);
}

#[tokio::test]
async fn access_models_let_in_contacts_roster_groups_and_the_whitelist() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let mut carol = server.client("carol", "pw").await;
    for c in [&mut alice, &mut bob] {
        c.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
        c.send("<presence/>").await;
    }
    crate::befriend(&mut alice, &mut bob, "alice@localhost", "bob@localhost").await;
    for (node, fields) in [
        ("contacts", vec![("pubsub#access_model", "presence")]),
        ("team", vec![("pubsub#access_model", "roster"), ("pubsub#roster_groups_allowed", "Team")]),
        ("club", vec![("pubsub#access_model", "whitelist")]),
    ] {
        ok(&set(&mut alice, PS, &format!("<create node='{node}'/><configure>{}</configure>", node_config(&fields)))
            .await);
        ok(&publish(&mut alice, node, "1", "inside").await);
    }
    let refusal = |reply: &Element| (error_condition(reply), app_condition(reply));
    let items = |node: &str| format!("<items node='{node}'/>");

    // Presence: a contact reads, a stranger is told why not.
    ok(&get(&mut bob, PS, &items("contacts")).await);
    let stranger = get(&mut carol, PS, &items("contacts")).await;
    assert_eq!(refusal(&stranger), (Some("not-authorized".into()), Some("presence-subscription-required".into())));

    // Roster: only the contacts in an allowed group; putting Bob in it lets him in.
    let outside = get(&mut bob, PS, &items("team")).await;
    assert_eq!(refusal(&outside), (Some("not-authorized".into()), Some("not-in-roster-group".into())));
    ok(&alice
        .iq("<iq type='set' id='g'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'><group>Team</group></item></query></iq>")
        .await);
    ok(&get(&mut bob, PS, &items("team")).await);
    let bob_jid = jid(&bob);
    ok(&set(&mut bob, PS, &format!("<subscribe node='team' jid='{bob_jid}'/>")).await);

    // Whitelist: closed until an owner makes Bob a member.
    let closed = get(&mut bob, PS, &items("club")).await;
    assert_eq!(refusal(&closed), (Some("not-allowed".into()), Some("closed-node".into())));
    ok(&set(
        &mut alice,
        OWNER,
        "<affiliations node='club'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>",
    )
    .await);
    ok(&get(&mut bob, PS, &items("club")).await);
    let still_closed = get(&mut carol, PS, &items("club")).await;
    assert_eq!(refusal(&still_closed), (Some("not-allowed".into()), Some("closed-node".into())));
}
