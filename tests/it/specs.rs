//! Modules alone, through [`ModuleHarness`]: each test states one rule of a specification
//! and checks the module's handlers against it, with a real database and no sockets.

use rhein_server::modules::find;
use rhein_storage::{RosterRow, Subscription};
use rhein_testkit::{Element, Interest, ModuleHarness, Stage, ns};

async fn module(name: &str) -> ModuleHarness {
    ModuleHarness::start(find(name).unwrap(), "").await
}

fn roster_items(query: &Element) -> Vec<(String, String)> {
    let items = query.children().filter(|i| i.is("item", ns::ROSTER));
    items.map(|i| (i.attr("jid").unwrap().to_owned(), i.attr("subscription").unwrap().to_owned())).collect()
}

/// RFC 6121 §2.1.3: an empty roster is an empty `<query/>` with its version (XEP-0237).
#[tokio::test]
async fn an_empty_roster_is_answered_with_its_version() {
    let im = module("im").await;
    im.account("alice").await;
    im.connect("alice@localhost/a", &[]);
    let result = im.iq("<iq type='get' id='1' from='alice@localhost/a'><query xmlns='jabber:iq:roster'/></iq>").await;
    let query = result.unwrap().unwrap();
    assert_eq!((query.attr("ver"), query.children().count()), (Some("0"), 0));
}

/// RFC 6121 §2.1.6 and §2.3.2: a roster set is pushed to every resource that asked for the
/// roster, the sender's included, and to no other.
#[tokio::test]
async fn a_roster_set_is_pushed_to_the_resources_that_fetched_the_roster() {
    let im = module("im").await;
    im.account("alice").await;
    im.connect("alice@localhost/fetched", &[Interest::Roster]);
    im.connect("alice@localhost/not", &[]);
    let set = "<iq type='set' id='s' from='alice@localhost/not'><query xmlns='jabber:iq:roster'>\
               <item jid='bob@localhost' name='Bob'/></query></iq>";
    assert_eq!(im.iq(set).await, Ok(None));
    let sent = im.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let push = &sent[0];
    assert_eq!((push.attr("type"), push.attr("to")), (Some("set"), Some("alice@localhost/fetched")));
    let query = push.get_child("query", ns::ROSTER).unwrap();
    assert_eq!(query.attr("ver"), Some("1"));
    assert_eq!(roster_items(query), [("bob@localhost".to_owned(), "none".to_owned())]);
}

/// RFC 6121 §2.3.3: the subscription state is the server's; `subscription` and `ask` in a
/// client's roster set are ignored.
#[tokio::test]
async fn a_client_cannot_set_its_subscription_state() {
    let im = module("im").await;
    im.account("alice").await;
    im.connect("alice@localhost/a", &[]);
    let set = "<iq type='set' id='s' from='alice@localhost/a'><query xmlns='jabber:iq:roster'>\
               <item jid='bob@localhost' subscription='both' ask='subscribe'/></query></iq>";
    assert_eq!(im.iq(set).await, Ok(None));
    let roster = im.iq("<iq type='get' id='g' from='alice@localhost/a'><query xmlns='jabber:iq:roster'/></iq>").await;
    let query = roster.unwrap().unwrap();
    assert_eq!(roster_items(&query), [("bob@localhost".to_owned(), "none".to_owned())]);
    assert_eq!(query.get_child("item", ns::ROSTER).unwrap().attr("ask"), None);
}

/// RFC 6121 §2.5.3: removing an item that is not there is `item-not-found`.
#[tokio::test]
async fn removing_an_unknown_item_is_item_not_found() {
    let im = module("im").await;
    im.account("alice").await;
    im.connect("alice@localhost/a", &[]);
    let remove = "<iq type='set' id='r' from='alice@localhost/a'><query xmlns='jabber:iq:roster'>\
                  <item jid='nobody@localhost' subscription='remove'/></query></iq>";
    assert_eq!(im.iq(remove).await.unwrap_err().condition, "item-not-found");
}

/// RFC 6121 §2.1.5 (and §8.5.3.1 for IQs): another account's roster is `forbidden`.
#[tokio::test]
async fn another_accounts_roster_is_forbidden() {
    let im = module("im").await;
    im.account("alice").await;
    im.account("bob").await;
    let get =
        "<iq type='get' id='g' from='bob@localhost/b' to='alice@localhost'><query xmlns='jabber:iq:roster'/></iq>";
    assert_eq!(im.iq(get).await.unwrap_err().condition, "forbidden");
}

/// XEP-0191 §3.3 and §3.5: blocking is pushed to the resources that fetched the blocklist,
/// and from then on a message from the blocked JID is refused with `service-unavailable`.
#[tokio::test]
async fn a_blocked_jid_is_pushed_and_then_refused_on_the_way_in() {
    let blocking = module("blocking").await;
    blocking.account("alice").await;
    blocking.connect("alice@localhost/list", &[Interest::Blocklist]);
    blocking.connect("alice@localhost/other", &[]);
    let block = "<iq type='set' id='b' from='alice@localhost/list'><block xmlns='urn:xmpp:blocking'>\
                 <item jid='eve@localhost'/></block></iq>";
    assert_eq!(blocking.iq(block).await, Ok(None));
    let pushes: Vec<_> = blocking.sent().into_iter().filter(|p| p.name() == "iq").collect();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0].attr("to"), Some("alice@localhost/list"));
    assert!(pushes[0].get_child("block", "urn:xmpp:blocking").is_some());
    let from_eve = "<message from='eve@localhost/x' to='alice@localhost' type='chat'><body>hi</body></message>";
    let refused = blocking.stage(Stage::Inbound, from_eve).await.unwrap_err();
    assert_eq!(refused.condition, "service-unavailable");
    let from_bob = "<message from='bob@localhost/x' to='alice@localhost' type='chat'><body>hi</body></message>";
    assert!(blocking.stage(Stage::Inbound, from_bob).await.unwrap().is_some(), "passed on");
}

/// XEP-0191 §3.3: blocking makes the user appear unavailable to the blocked contacts that
/// could see her presence, and to nobody else (a stranger learns nothing of the block); §3.5:
/// what she then sends them is refused with `<blocked/>`, type `cancel`.
#[tokio::test]
async fn a_block_shows_unavailable_only_to_subscribers_and_refuses_outbound_with_cancel() {
    let blocking = module("blocking").await;
    let alice = blocking.account("alice").await;
    let phone = blocking.connect("alice@localhost/phone", &[]);
    let available = "<presence xmlns='jabber:client'/>".parse().unwrap();
    blocking.ctx().router.set_presence(&phone, Some(available), 0);
    let subscriber = RosterRow { subscription: Subscription::From, ..RosterRow::new("bob@localhost") };
    blocking.db.roster().upsert(alice.as_str(), &subscriber).await.unwrap();
    let block = "<iq type='set' id='b' from='alice@localhost/phone'><block xmlns='urn:xmpp:blocking'>\
                 <item jid='bob@localhost'/><item jid='stranger@elsewhere.example'/></block></iq>";
    assert_eq!(blocking.iq(block).await, Ok(None));
    let unavailable: Vec<_> = blocking.sent().into_iter().filter(|p| p.name() == "presence").collect();
    assert_eq!(unavailable.len(), 1, "{unavailable:?}");
    assert_eq!(unavailable[0].attr("to"), Some("bob@localhost"));
    assert_eq!(unavailable[0].attr("type"), Some("unavailable"));
    let to_bob = "<message from='alice@localhost/phone' to='bob@localhost' type='chat'><body>hi</body></message>";
    let refused = blocking.stage(Stage::Outbound, to_bob).await.unwrap_err();
    assert_eq!((refused.condition, refused.kind), ("not-acceptable", rhein_proto::ErrorType::Cancel));
    assert!(refused.app.as_ref().is_some_and(|a| a.is("blocked", "urn:xmpp:blocking:errors")));
}

/// XEP-0313 §6: preferences set are the preferences read back, JIDs as bare JIDs.
#[tokio::test]
async fn archive_preferences_read_back_as_set() {
    let mam = module("mam").await;
    mam.account("alice").await;
    let set = "<iq type='set' id='p' from='alice@localhost/a'><prefs xmlns='urn:xmpp:mam:2' default='roster'>\
               <always><jid>romeo@montague.lit/balcony</jid></always><never><jid>tybalt@capulet.lit</jid></never>\
               </prefs></iq>";
    let answer = mam.iq(set).await.unwrap().unwrap();
    let read = mam.iq("<iq type='get' id='g' from='alice@localhost/a'><prefs xmlns='urn:xmpp:mam:2'/></iq>").await;
    let read = read.unwrap().unwrap();
    assert_eq!(read, answer);
    assert_eq!(read.attr("default"), Some("roster"));
    let always = read.get_child("always", "urn:xmpp:mam:2").unwrap();
    assert_eq!(always.children().map(Element::text).collect::<Vec<_>>(), ["romeo@montague.lit"]);
}

/// XEP-0357 §7 (and Rhein's `[modules.push] attempts`): an app server that does not answer is
/// tried `attempts` times, with growing pauses (0.2 s, 0.4 s), then the registration is
/// disabled. (Real time: paused time would also fire the database pool's timeouts.)
#[tokio::test]
async fn an_app_server_that_never_answers_is_tried_then_disabled() {
    let push = ModuleHarness::start(find("push").unwrap(), "attempts = 3").await;
    let alice = push.account("alice").await;
    push.iq("<iq type='set' id='e' from='alice@localhost/phone'><enable xmlns='urn:xmpp:push:0' \
         jid='push.example' node='n1'/></iq>")
        .await
        .unwrap();
    let message = "<message from='bob@localhost/b' to='alice@localhost' type='chat'><body>hi</body></message>";
    assert!(push.stage(Stage::InboundMessage, message).await.unwrap().is_some(), "the message goes on");
    // The pushes run beside the message; wait until they gave up.
    for _ in 0..100 {
        if push.db.push().list(alice.as_str()).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(push.db.push().list(alice.as_str()).await.unwrap().is_empty(), "disabled");
    let attempts: Vec<_> = push.sent().into_iter().filter(|iq| iq.attr("to") == Some("push.example")).collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    let publish = attempts[0].get_child("pubsub", ns::PUBSUB).and_then(|p| p.get_child("publish", ns::PUBSUB));
    assert_eq!(publish.and_then(|p| p.attr("node")), Some("n1"));
}
