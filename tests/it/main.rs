//! Rhein integration tests: one binary, a module per feature, real sockets throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod auth;
mod backup;
mod certificates;
mod chaos;
mod cli;
mod component;
mod corrections;
mod ctl;
mod durability;
mod essentials;
mod im;
mod invites;
mod limits;
mod mam;
mod metrics;
mod mix;
mod muc;
mod pep;
mod pie;
mod proxy65;
mod pubsub;
mod push;
mod reload;
mod retraction;
mod reverse_proxy;
mod s2s;
mod sasl2;
mod sasl_upgrade;
mod sm;
mod specs;
mod stream;
mod transcript;
mod transcripts;
mod unread;
mod web;

use rhein_testkit::{Element, ns};

/// The defined condition of a stanza error reply.
pub fn error_condition(reply: &Element) -> Option<String> {
    let err = reply.get_child("error", ns::CLIENT)?;
    err.children().find(|c| c.ns() == ns::STANZAS && c.name() != "text").map(|c| c.name().to_owned())
}

/// The `<text/>` of a stanza error reply, empty without one.
pub fn error_text(reply: &Element) -> String {
    let err = reply.get_child("error", ns::CLIENT);
    err.and_then(|e| e.get_child("text", ns::STANZAS)).map(Element::text).unwrap_or_default()
}

/// Predicate: an element with this name.
pub fn named(name: &'static str) -> impl Fn(&Element) -> bool {
    move |e| e.name() == name
}

/// Asserts that `to` got nothing matching `pred` of what `from` sent so far (a marker from
/// `from` arrives after all of it), without waiting for a while.
pub async fn nothing_from(
    from: &mut rhein_testkit::TestClient,
    to: &mut rhein_testkit::TestClient,
    pred: impl Fn(&Element) -> bool,
) {
    let id = from.barrier_to(to.jid.as_deref().expect("bound")).await;
    to.expect_none_before(&id, pred).await;
}

/// alice and bob (password `pw`), online and mutual contacts.
pub async fn online_friends(
    server: &rhein_testkit::TestServer,
) -> (rhein_testkit::TestClient, rhein_testkit::TestClient) {
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    befriend(&mut alice, &mut bob, "alice@localhost", "bob@localhost").await;
    (alice, bob)
}

/// Makes alice and bob mutual contacts through the real subscription flow.
pub async fn befriend(
    a: &mut rhein_testkit::TestClient,
    b: &mut rhein_testkit::TestClient,
    a_bare: &str,
    b_bare: &str,
) {
    a.send(&format!("<presence to='{b_bare}' type='subscribe'/>")).await;
    b.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    b.send(&format!("<presence to='{a_bare}' type='subscribed'/>")).await;
    a.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribed")).await;
    b.send(&format!("<presence to='{a_bare}' type='subscribe'/>")).await;
    a.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    a.send(&format!("<presence to='{b_bare}' type='subscribed'/>")).await;
    b.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribed")).await;
}

/// Sends available presence with capabilities `ver` and answers the server's question about
/// them with `features`.
pub async fn with_caps(c: &mut rhein_testkit::TestClient, ver: &str, features: &[&str]) {
    c.send(&format!(
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://tests' ver='{ver}'/></presence>"
    ))
    .await;
    let q = c.expect(|e| e.name() == "iq" && e.get_child("query", ns::DISCO_INFO).is_some()).await;
    let node = format!("https://tests#{ver}");
    assert_eq!(
        q.get_child("query", ns::DISCO_INFO).unwrap().attr("node"),
        Some(node.as_str()),
        "the server asks about ver"
    );
    answer_caps_query(c, &q, ver, features).await;
}

/// Answers the server's disco#info question `q` about capabilities `ver` with `features`.
pub async fn answer_caps_query(c: &mut rhein_testkit::TestClient, q: &Element, ver: &str, features: &[&str]) {
    let features: String = features.iter().map(|f| format!("<feature var='{f}'/>")).collect();
    c.send(&format!(
        "<iq type='result' id='{}' to='{}'><query xmlns='{}' node='https://tests#{ver}'>\
         <identity category='client' type='pc'/>{features}</query></iq>",
        q.attr("id").unwrap(),
        q.attr("from").unwrap(),
        ns::DISCO_INFO
    ))
    .await;
}
