//! XEP-0313 archives with XEP-0359 stanza ids: every message once, paging both ways,
//! filters, preferences, and nobody reads another's archive.

use crate::named;
use rhein_testkit::{Element, TestClient, TestServer, ns};

const MAM: &str = "urn:xmpp:mam:2";
const RSM: &str = "http://jabber.org/protocol/rsm";
const SID: &str = "urn:xmpp:sid:0";

/// Runs a query; returns (archive ids, bodies, fin).
pub(crate) async fn query(c: &mut TestClient, id: &str, form: &str, rsm: &str) -> (Vec<String>, Vec<String>, Element) {
    let x = if form.is_empty() {
        String::new()
    } else {
        format!(
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>{form}</x>"
        )
    };
    let set = if rsm.is_empty() { String::new() } else { format!("<set xmlns='{RSM}'>{rsm}</set>") };
    c.send(&format!("<iq type='set' id='{id}'><query xmlns='{MAM}' queryid='q-{id}'>{x}{set}</query></iq>")).await;
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    loop {
        let el = c.expect(|e| e.attr("id") == Some(id) || e.get_child("result", MAM).is_some()).await;
        if el.name() == "iq" {
            assert_eq!(el.attr("type"), Some("result"), "{el:?}");
            return (ids, bodies, el.get_child("fin", MAM).expect("fin").clone());
        }
        let result = el.get_child("result", MAM).unwrap();
        assert_eq!(result.attr("queryid"), Some(format!("q-{id}").as_str()));
        let fwd = result.get_child("forwarded", "urn:xmpp:forward:0").unwrap();
        assert!(fwd.get_child("delay", ns::DELAY).is_some());
        let m = fwd.get_child("message", ns::CLIENT).unwrap();
        ids.push(result.attr("id").unwrap().to_owned());
        bodies.push(m.get_child("body", ns::CLIENT).unwrap().text());
    }
}

fn rsm_of(fin: &Element, name: &str) -> Option<String> {
    fin.get_child("set", RSM)?.get_child(name, RSM).map(Element::text)
}

async fn chat(server: &TestServer) -> (TestClient, TestClient) {
    let mut alice = server.connect().resource("a").login("alice", "pw").await;
    let mut bob = server.connect().resource("b").login("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    for i in 0..6 {
        let (from, to) = if i % 2 == 0 { (&mut alice, "bob@localhost") } else { (&mut bob, "alice@localhost") };
        from.send(&format!("<message to='{to}' type='chat'><body>m{i}</body></message>")).await;
        let receiver = if i % 2 == 0 { &mut bob } else { &mut alice };
        let got = receiver.expect(named("message")).await;
        let sid = got.get_child("stanza-id", SID).expect("stanza-id");
        assert_eq!(sid.attr("by"), Some(if i % 2 == 0 { "bob@localhost" } else { "alice@localhost" }));
    }
    (alice, bob)
}

#[tokio::test]
async fn archive_pages_return_every_message_once_in_both_directions() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let (mut alice, _bob) = chat(&server).await;

    let (all, bodies, fin) = query(&mut alice, "all", "", "").await;
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(fin.attr("complete"), Some("true"));
    assert_eq!(rsm_of(&fin, "count").as_deref(), Some("6"));
    assert_eq!(rsm_of(&fin, "first"), all.first().cloned());

    // Forward, two at a time.
    let mut seen = Vec::new();
    let mut after = String::new();
    for page in 0.. {
        let rsm =
            if after.is_empty() { "<max>2</max>".to_owned() } else { format!("<max>2</max><after>{after}</after>") };
        let (ids, _, fin) = query(&mut alice, &format!("f{page}"), "", &rsm).await;
        seen.extend(ids.clone());
        if fin.attr("complete") == Some("true") {
            break;
        }
        after = rsm_of(&fin, "last").unwrap();
        assert!(page < 10);
    }
    assert_eq!(seen, all);

    // Backward from the end, two at a time.
    let mut seen = Vec::new();
    let mut before = String::new();
    for page in 0.. {
        let (ids, _, fin) =
            query(&mut alice, &format!("b{page}"), "", &format!("<max>2</max><before>{before}</before>")).await;
        seen.splice(0..0, ids);
        if fin.attr("complete") == Some("true") {
            break;
        }
        before = rsm_of(&fin, "first").unwrap();
        assert!(page < 10);
    }
    assert_eq!(seen, all);

    let missing = alice
        .iq(&format!("<iq type='set' id='x'><query xmlns='{MAM}'><set xmlns='{RSM}'><after>nonexistent</after></set></query></iq>"))
        .await;
    assert!(missing.get_child("error", ns::CLIENT).unwrap().get_child("item-not-found", ns::STANZAS).is_some());
}

#[tokio::test]
async fn filters_select_by_peer_time_and_id() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").user("carol", "pw").start().await;
    let (mut alice, _bob) = chat(&server).await;
    let mut carol = server.client("carol", "pw").await;
    carol.send("<message to='alice@localhost' type='chat'><body>from carol</body></message>").await;
    alice.expect(named("message")).await;

    let (_, bodies, fin) = query(&mut alice, "w", "<field var='with'><value>carol@localhost</value></field>", "").await;
    assert_eq!((bodies, rsm_of(&fin, "count").as_deref()), (vec!["from carol".to_owned()], Some("1")));
    let (all, _, _) = query(&mut alice, "a", "", "").await;
    let between = format!(
        "<field var='after-id'><value>{}</value></field><field var='before-id'><value>{}</value></field>",
        all[1], all[4]
    );
    let (_, bodies, _) = query(&mut alice, "ab", &between, "").await;
    assert_eq!(bodies, ["m2", "m3"]);
    let ids = format!("<field var='ids'><value>{}</value><value>{}</value></field>", all[5], all[0]);
    let (_, bodies, _) = query(&mut alice, "ids", &ids, "").await;
    assert_eq!(bodies, ["m0", "m5"]);
    let (_, bodies, _) =
        query(&mut alice, "t", "<field var='start'><value>2999-01-01T00:00:00Z</value></field>", "").await;
    assert!(bodies.is_empty());
    let (_, bodies, _) =
        query(&mut alice, "t2", "<field var='end'><value>2999-01-01T00:00:00Z</value></field>", "").await;
    assert_eq!(bodies.len(), 7);
    let bad = alice
        .iq(&format!("<iq type='set' id='bad'><query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'><field var='start'><value>yesterday</value></field></x></query></iq>"))
        .await;
    assert!(bad.get_child("error", ns::CLIENT).unwrap().get_child("bad-request", ns::STANZAS).is_some());
}

#[tokio::test]
async fn preferences_form_forgery_and_privacy() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    bob.send("<presence/>").await;

    let form = alice.iq(&format!("<iq type='get' id='f'><query xmlns='{MAM}'/></iq>")).await;
    let vars: Vec<_> = form
        .get_child("query", MAM)
        .unwrap()
        .get_child("x", "jabber:x:data")
        .unwrap()
        .children()
        .filter_map(|f| f.attr("var"))
        .collect();
    assert!(vars.contains(&"with") && vars.contains(&"before-id") && vars.contains(&"ids"), "{vars:?}");

    // A sender cannot plant a stanza id in the recipient's name.
    alice.send("<message to='bob@localhost' type='chat'><body>x</body><stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='forged'/></message>").await;
    let got = bob.expect(named("message")).await;
    let sids: Vec<_> = got.children().filter(|c| c.is("stanza-id", SID)).collect();
    assert_eq!(sids.len(), 1);
    assert_ne!(sids[0].attr("id"), Some("forged"));

    let prefs = bob.iq(&format!("<iq type='set' id='p'><prefs xmlns='{MAM}' default='never'><always><jid>carol@localhost</jid></always></prefs></iq>")).await;
    assert_eq!(prefs.get_child("prefs", MAM).unwrap().attr("default"), Some("never"));
    alice.send("<message to='bob@localhost' type='chat'><body>not kept</body></message>").await;
    bob.expect(named("message")).await;
    let (_, bodies, _) = query(&mut bob, "q", "", "").await;
    assert_eq!(bodies, ["x"]);
    let got = bob.iq(&format!("<iq type='get' id='pg'><prefs xmlns='{MAM}'/></iq>")).await;
    let always = got.get_child("prefs", MAM).unwrap().get_child("always", MAM).unwrap();
    assert_eq!(always.children().next().unwrap().text(), "carol@localhost");

    let other = alice.iq(&format!("<iq type='set' id='o' to='bob@localhost'><query xmlns='{MAM}'/></iq>")).await;
    assert!(other.get_child("error", ns::CLIENT).unwrap().get_child("forbidden", ns::STANZAS).is_some());
}

/// XEP-0082 dates are checked strictly: a year beyond four digits, an offset beyond a day,
/// an impossible day, or an empty value is `bad-request`, never a crash or a filter quietly
/// dropped; the session carries on, and a date at the edge of the format still works.
#[tokio::test]
async fn dates_outside_xep_0082_are_bad_requests() {
    let server = TestServer::builder().user("alice", "pw").user("bob", "pw").start().await;
    let (mut alice, _bob) = chat(&server).await;
    let bad_dates = [
        "<value>1000000000000000000-01-01T00:00:00Z</value>",
        "<value>2020-01-01T00:00:00+99999:00</value>",
        "<value>2020-01-01T00:00:00-24:00</value>",
        "<value>2021-02-29T00:00:00Z</value>",
        "<value>+2020-01-01T00:00:00Z</value>",
        "<value>2020-1-01T00:00:00Z</value>",
        "<value>2020-01-01T00:00:00.Z</value>",
        "<value></value>",
        "",
    ];
    for (i, value) in bad_dates.iter().enumerate() {
        for var in ["start", "end"] {
            let id = format!("bad{i}{var}");
            let answer = alice
                .iq(&format!("<iq type='set' id='{id}'><query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'><field var='{var}'>{value}</field></x></query></iq>"))
                .await;
            let error = answer.get_child("error", ns::CLIENT).unwrap_or_else(|| panic!("{var} {value}: {answer:?}"));
            assert!(error.get_child("bad-request", ns::STANZAS).is_some(), "{var} {value}: {answer:?}");
        }
    }
    let (_, bodies, _) = query(
        &mut alice,
        "edge",
        "<field var='start'><value>1970-01-01T00:00:00.123456789+14:00</value></field>\
         <field var='end'><value>9999-12-31T23:59:59-00:30</value></field>",
        "",
    )
    .await;
    assert_eq!(bodies.len(), 6, "the session survived every bad date");
}
