//! Modern-client essentials: XEP-0049 private storage, XEP-0054 vCards, XEP-0191 blocking,
//! XEP-0280 carbons.

use crate::{error_condition, error_text, named};
use rhein_testkit::{Element, TestServer, ns};
use std::time::Duration;

// Private XML storage: transcripts/private_xml_storage.xmpp.

#[tokio::test]
async fn vcards_are_public_to_read_and_private_to_write() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let none = bob.iq("<iq type='get' id='v0' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(none.get_child("vCard", "vcard-temp").unwrap().children().count(), 0);
    alice.iq("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard></iq>").await;
    let got = bob.iq("<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(
        got.get_child("vCard", "vcard-temp").unwrap().get_child("FN", "vcard-temp").unwrap().text(),
        "Alice Liddell"
    );
    let own = alice.iq("<iq type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>").await;
    assert!(own.get_child("vCard", "vcard-temp").unwrap().get_child("NICKNAME", "vcard-temp").is_some());
    let forged = bob
        .iq("<iq type='set' id='v4' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>")
        .await;
    assert_eq!(error_condition(&forged).as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn a_pep_avatar_becomes_the_vcard_photo_and_its_hash_goes_into_presence() {
    const DATA: &str = "urn:xmpp:avatar:data";
    const METADATA: &str = "urn:xmpp:avatar:metadata";
    // "hello", and its SHA-1.
    const IMAGE: &str = "aGVsbG8=";
    const HASH: &str = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let features =
        alice.iq(&format!("<iq type='get' id='d' to='alice@localhost'><query xmlns='{}'/></iq>", ns::DISCO_INFO)).await;
    let features = features.get_child("query", ns::DISCO_INFO).unwrap();
    assert!(features.children().any(|f| f.attr("var") == Some("urn:xmpp:pep-vcard-conversion:0")));
    alice.iq("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>").await;

    // XEP-0084: data first, then the metadata pointing at it.
    let data = alice
        .iq(&format!(
            "<iq type='set' id='p1'><pubsub xmlns='{}'><publish node='{DATA}'><item id='{HASH}'><data xmlns='{DATA}'>{IMAGE}</data></item></publish></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    assert_eq!(data.attr("type"), Some("result"));
    let meta = alice
        .iq(&format!(
            "<iq type='set' id='p2'><pubsub xmlns='{}'><publish node='{METADATA}'><item id='{HASH}'><metadata xmlns='{METADATA}'>\
             <info id='{HASH}' type='image/png' bytes='5'/></metadata></item></publish></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    assert_eq!(meta.attr("type"), Some("result"));
    let vcard = bob.iq("<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    let vcard = vcard.get_child("vCard", "vcard-temp").unwrap();
    assert_eq!(vcard.get_child("FN", "vcard-temp").unwrap().text(), "Alice", "the rest of the vCard stays");
    let photo = vcard.get_child("PHOTO", "vcard-temp").expect("the avatar became the photo");
    assert_eq!(photo.get_child("BINVAL", "vcard-temp").unwrap().text(), IMAGE);
    assert_eq!(photo.get_child("TYPE", "vcard-temp").unwrap().text(), "image/png");

    // The hash goes into directed presence too (a MUC join, say).
    alice
        .send("<presence to='room@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        .await;
    let own =
        alice.expect(|e| e.name() == "presence" && e.attr("from") == Some("room@conference.localhost/alice")).await;
    let update = own.get_child("x", "vcard-temp:x:update").expect("hash injected into the MUC join");
    assert_eq!(update.get_child("photo", "vcard-temp:x:update").unwrap().text(), HASH);

    // Disabling the avatar (empty metadata) removes the photo.
    alice
        .iq(&format!(
            "<iq type='set' id='p3'><pubsub xmlns='{}'><publish node='{METADATA}'><item id='off'><metadata xmlns='{METADATA}'/></item></publish></pubsub></iq>",
            ns::PUBSUB
        ))
        .await;
    let vcard = bob.iq("<iq type='get' id='v3' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert!(vcard.get_child("vCard", "vcard-temp").unwrap().get_child("PHOTO", "vcard-temp").is_none());
}

// The blocking command and carbons: transcripts/blocking_command.xmpp and transcripts/carbons.xmpp.

#[tokio::test]
async fn inactive_clients_get_presence_and_chat_states_only_with_something_that_matters() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.connect().resource("phone").login("alice", "pw").await;
    let mut bob = server.connect().resource("b").login("bob", "pw").await;
    assert!(alice.features.as_ref().unwrap().get_child("csi", "urn:xmpp:csi:0").is_some());
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    crate::befriend(&mut alice, &mut bob, "alice@localhost", "bob@localhost").await;
    alice.expect(|e| e.name() == "presence" && e.attr("from") == Some("bob@localhost/b")).await;

    alice.send("<inactive xmlns='urn:xmpp:csi:0'/>").await;
    alice.iq("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    alice.drain_backlog();
    bob.send("<presence><show>away</show></presence>").await;
    bob.send("<presence><show>xa</show></presence>").await;
    bob.send("<message to='alice@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>").await;
    alice.expect_none(Duration::from_millis(300), |e| e.name() != "iq").await;

    bob.send("<message to='alice@localhost' type='chat' id='wake'><body>wake up</body></message>").await;
    let p = alice.next().await;
    assert_eq!(p.name(), "presence");
    assert_eq!(p.get_child("show", ns::CLIENT).unwrap().text(), "xa", "only the newest presence");
    let cs = alice.next().await;
    assert!(cs.get_child("composing", "http://jabber.org/protocol/chatstates").is_some());
    assert_eq!(alice.next().await.attr("id"), Some("wake"));

    // Back to active: held stanzas flush at once and new ones flow.
    bob.send("<presence><show>dnd</show></presence>").await;
    alice.expect_none(Duration::from_millis(200), named("presence")).await;
    alice.send("<active xmlns='urn:xmpp:csi:0'/>").await;
    let p = alice.expect(named("presence")).await;
    assert_eq!(p.get_child("show", ns::CLIENT).unwrap().text(), "dnd");
    bob.send("<presence/>").await;
    alice.expect(named("presence")).await;
}

#[tokio::test]
async fn server_caps_contact_addresses_and_external_services() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .configure(|c| {
            let table: toml::Table = toml::from_str(
                r#"
                enabled = ["disco", "ping", "contact", "extdisco"]
                [contact]
                abuse = ["mailto:abuse@localhost"]
                security = ["xmpp:security@localhost", "https://localhost/security"]
                [extdisco]
                secret = "s3cret"
                [[extdisco.services]]
                type = "stun"
                host = "stun.localhost"
                port = 3478
                [[extdisco.services]]
                type = "turn"
                host = "turn.localhost"
                port = 3478
                transport = "udp"
                restricted = true
                "#,
            )
            .unwrap();
            c.modules = toml::Value::Table(table).try_into().unwrap();
        })
        .start()
        .await;
    let mut alice = server.client("alice", "pw").await;

    // XEP-0115: the server's caps are a stream feature, and the caps node answers disco.
    let c = alice.features.as_ref().unwrap().get_child("c", "http://jabber.org/protocol/caps").expect("caps").clone();
    let node = format!("{}#{}", c.attr("node").unwrap(), c.attr("ver").unwrap());
    let info = alice
        .iq(&format!("<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='{node}'/></iq>"))
        .await;
    assert_eq!(info.attr("type"), Some("result"));
    let q = info.get_child("query", ns::DISCO_INFO).unwrap();
    assert_eq!(q.attr("node"), Some(node.as_str()));

    // XEP-0157 form in disco#info.
    let form = q.get_child("x", "jabber:x:data").expect("serverinfo form");
    let values = |var: &str| -> Vec<String> {
        form.children().filter(|f| f.attr("var") == Some(var)).flat_map(|f| f.children().map(Element::text)).collect()
    };
    assert_eq!(values("FORM_TYPE"), ["http://jabber.org/network/serverinfo"]);
    assert_eq!(values("abuse-addresses"), ["mailto:abuse@localhost"]);
    assert_eq!(values("security-addresses").len(), 2);

    // XEP-0215 services with TURN REST credentials.
    let services = alice.iq("<iq type='get' id='s' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>").await;
    let list: Vec<Element> =
        services.get_child("services", "urn:xmpp:extdisco:2").unwrap().children().cloned().collect();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].attr("username"), None, "STUN is not restricted");
    let turn = &list[1];
    let username = turn.attr("username").unwrap();
    assert!(username.ends_with(":alice@localhost"), "{username}");
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(b"s3cret").unwrap().chain_update(username.as_bytes());
    assert_eq!(
        turn.attr("password").unwrap(),
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(turn.attr("expires").unwrap().ends_with('Z'));
    let only_turn =
        alice.iq("<iq type='get' id='t' to='localhost'><services xmlns='urn:xmpp:extdisco:2' type='turn'/></iq>").await;
    assert_eq!(only_turn.get_child("services", "urn:xmpp:extdisco:2").unwrap().children().count(), 1);
    let creds = alice
        .iq("<iq type='get' id='c' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='turn.localhost'/></credentials></iq>")
        .await;
    assert!(
        creds
            .get_child("credentials", "urn:xmpp:extdisco:2")
            .unwrap()
            .get_child("service", "urn:xmpp:extdisco:2")
            .unwrap()
            .attr("password")
            .is_some()
    );
}

#[tokio::test]
async fn presence_carries_the_vcard_photo_hash() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.connect().resource("a").login("alice", "pw").await;
    let mut bob = server.connect().resource("b").login("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    crate::befriend(&mut alice, &mut bob, "alice@localhost", "bob@localhost").await;
    let update = |p: &Element| {
        p.get_child("x", "vcard-temp:x:update").map(|x| x.get_child("photo", "vcard-temp:x:update").unwrap().text())
    };
    let p = bob.expect(|e| e.name() == "presence" && e.attr("from") == Some("alice@localhost/a")).await;
    assert_eq!(update(&p).as_deref(), Some(""), "no photo yet");

    alice.iq("<iq type='set' id='v'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard></iq>").await;
    alice.send("<presence><status>new avatar</status></presence>").await;
    let p = bob.expect(|e| e.name() == "presence" && e.get_child("status", ns::CLIENT).is_some()).await;
    assert_eq!(update(&p).as_deref(), Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"));
    // A client that sends its own update element keeps it.
    alice.send("<presence><status>mine</status><x xmlns='vcard-temp:x:update'/></presence>").await;
    let p = bob
        .expect(|e| e.name() == "presence" && e.get_child("status", ns::CLIENT).is_some_and(|s| s.text() == "mine"))
        .await;
    assert!(p.get_child("x", "vcard-temp:x:update").unwrap().get_child("photo", "vcard-temp:x:update").is_none());
}

/// A typed payload that does not parse is refused before any handler runs, with what was
/// wrong: `bad-request` with the parser's text, `jid-malformed` for a JID that is none.
#[tokio::test]
async fn payloads_that_do_not_parse_are_refused_with_the_reason() {
    let server = TestServer::builder().user("alice", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let no_jid = alice.iq("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item/></block></iq>").await;
    assert_eq!(error_condition(&no_jid).as_deref(), Some("bad-request"));
    assert!(error_text(&no_jid).contains("attribute"), "{no_jid:?}");
    let bad_jid =
        alice.iq("<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'><item jid='@localhost'/></block></iq>").await;
    assert_eq!(error_condition(&bad_jid).as_deref(), Some("jid-malformed"));
    // Nothing was blocked by either.
    let list = alice.iq("<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>").await;
    assert_eq!(list.get_child("blocklist", "urn:xmpp:blocking").unwrap().children().count(), 0);
    // An unknown extension inside a known payload is ignored, not refused.
    let ping = alice.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'><x xmlns='urn:example'/></ping></iq>").await;
    assert_eq!(ping.attr("type"), Some("result"));
}

/// Routing passes what it does not know through as it came: an unknown payload with its
/// attributes, children, text and `xml:lang`, in a message and in an IQ and its answer.
#[tokio::test]
async fn unknown_payloads_survive_a_round_trip() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let payload = "<x xmlns='urn:example:unknown' a='1' xml:lang='de'><y z='2'>Text &amp; mehr</y><w:v xmlns:w='urn:example:w'/></x>";
    let sent: Element = payload.parse().unwrap();
    let bob_jid = bob.jid.clone().unwrap();
    alice.send(&format!("<message to='{bob_jid}' id='u1' xml:lang='de'><body>hallo</body>{payload}</message>")).await;
    let got = bob.expect(|e| e.attr("id") == Some("u1")).await;
    assert_eq!(got.get_child("x", "urn:example:unknown"), Some(&sent));
    assert_eq!(got.attr_ns(ns::XML, "lang"), Some("de"), "{got:?}");

    alice.send(&format!("<iq type='get' id='u2' to='{bob_jid}'>{payload}</iq>")).await;
    let request = bob.expect(|e| e.attr("id") == Some("u2")).await;
    assert_eq!(request.get_child("x", "urn:example:unknown"), Some(&sent));
    let alice_jid = request.attr("from").unwrap().to_owned();
    bob.send(&format!("<iq type='result' id='u2' to='{alice_jid}'>{payload}</iq>")).await;
    let answer = alice.expect(|e| e.attr("id") == Some("u2")).await;
    assert_eq!(answer.get_child("x", "urn:example:unknown"), Some(&sent));
}
