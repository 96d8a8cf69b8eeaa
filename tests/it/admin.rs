//! XEP-0133 service administration over XEP-0050, as an administrator's client runs it.

use crate::{error_condition, error_text};
use rhein_testkit::{Element, TestClient, TestServer, ns};

const ADMIN: &str = "http://jabber.org/protocol/admin";

/// alice administers localhost (named in the configuration); bob and carol do not.
async fn server() -> TestServer {
    TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .user("carol", "pw")
        .configure(|c| c.server.admins = vec!["alice@localhost".into()])
        .start()
        .await
}

/// Runs `#name` with `fields` submitted (none: its first step), returning the whole reply.
async fn run(c: &mut TestClient, name: &str, fields: &[(&str, &[&str])]) -> Element {
    let form = submit(fields);
    let action = if fields.is_empty() { "execute" } else { "complete" };
    c.iq(&format!(
        "<iq type='set' id='{name}' to='localhost'><command xmlns='{}' node='{ADMIN}#{name}' action='{action}'>{form}</command></iq>",
        ns::COMMANDS
    ))
    .await
}

/// A submitted form with `fields` (none: no form).
fn submit(fields: &[(&str, &[&str])]) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let fields: String = fields
        .iter()
        .map(|(var, values)| {
            let values: String = values.iter().map(|v| format!("<value>{v}</value>")).collect();
            format!("<field var='{var}'>{values}</field>")
        })
        .collect();
    format!("<x xmlns='jabber:x:data' type='submit'>{fields}</x>")
}

fn command(reply: &Element) -> &Element {
    reply.get_child("command", ns::COMMANDS).unwrap_or_else(|| panic!("a command in {reply:?}"))
}

/// The values of a field of the command's form.
fn values(reply: &Element, var: &str) -> Vec<String> {
    let form = command(reply).get_child("x", ns::DATA).expect("a form");
    let field = form.children().find(|f| f.attr("var") == Some(var)).expect("the field");
    field.children().filter(|v| v.name() == "value").map(Element::text).collect()
}

fn note(reply: &Element) -> String {
    command(reply).get_child("note", ns::COMMANDS).map(Element::text).unwrap_or_default()
}

#[tokio::test]
async fn only_administrators_see_and_run_the_commands() {
    let server = server().await;
    for (user, expected) in [("bob", 0), ("alice", 23)] {
        let mut c = server.client(user, "pw").await;
        let items = c
            .iq(&format!(
                "<iq type='get' id='i' to='localhost'><query xmlns='{}' node='{}'/></iq>",
                ns::DISCO_ITEMS,
                ns::COMMANDS
            ))
            .await;
        let admin = items
            .get_child("query", ns::DISCO_ITEMS)
            .unwrap()
            .children()
            .filter(|i| i.attr("node").is_some_and(|n| n.starts_with(ADMIN)))
            .count();
        assert_eq!(admin, expected, "{user}");
    }
    let mut bob = server.client("bob", "pw").await;
    let refused = run(&mut bob, "get-registered-users-num", &[]).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn administrators_add_list_and_delete_accounts() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;

    let form = run(&mut alice, "add-user", &[]).await;
    assert_eq!(command(&form).attr("status"), Some("executing"), "the form comes first");
    let vars: Vec<_> =
        command(&form).get_child("x", ns::DATA).unwrap().children().filter_map(|f| f.attr("var")).collect();
    assert!(vars.contains(&"accountjid") && vars.contains(&"password-verify"), "{vars:?}");
    let differ = run(
        &mut alice,
        "add-user",
        &[("accountjid", &["dave@localhost"]), ("password", &["a"]), ("password-verify", &["b"])],
    )
    .await;
    assert_eq!(error_condition(&differ).as_deref(), Some("bad-request"));
    let missing = run(&mut alice, "add-user", &[("password", &["a"]), ("password-verify", &["a"])]).await;
    assert_eq!(error_text(&missing), "the field accountjid is required");
    let added = run(
        &mut alice,
        "add-user",
        &[("accountjid", &["dave@localhost"]), ("password", &["secret"]), ("password-verify", &["secret"])],
    )
    .await;
    assert_eq!(command(&added).attr("status"), Some("completed"));
    assert_eq!(note(&added), "dave@localhost was added");
    let again = run(
        &mut alice,
        "add-user",
        &[("accountjid", &["dave@localhost"]), ("password", &["secret"]), ("password-verify", &["secret"])],
    )
    .await;
    assert_eq!(error_condition(&again).as_deref(), Some("conflict"));
    let elsewhere = run(
        &mut alice,
        "add-user",
        &[("accountjid", &["eve@other.example"]), ("password", &["x"]), ("password-verify", &["x"])],
    )
    .await;
    assert_eq!(error_condition(&elsewhere).as_deref(), Some("bad-request"));
    let _dave = server.client("dave", "secret").await;

    assert_eq!(values(&run(&mut alice, "get-registered-users-num", &[]).await, "registeredusersnum"), ["4"]);
    let list = values(&run(&mut alice, "get-registered-users-list", &[]).await, "registereduserjids");
    assert_eq!(list, ["alice@localhost", "bob@localhost", "carol@localhost", "dave@localhost"]);

    let unknown = run(&mut alice, "delete-user", &[("accountjids", &["dave@localhost", "nobody@localhost"])]).await;
    assert_eq!(error_condition(&unknown).as_deref(), Some("item-not-found"));
    assert!(server.running().db.accounts().exists("localhost", "dave").await.unwrap(), "none deleted");
    let mut carol = server.client("carol", "pw").await;
    // bob and carol are mutual contacts; bob has fetched his roster (he gets pushes).
    let mut bob = server.client("bob", "pw").await;
    bob.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    carol.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    bob.send("<presence/>").await;
    carol.send("<presence/>").await;
    crate::befriend(&mut bob, &mut carol, "bob@localhost", "carol@localhost").await;
    let carol_jid = carol.jid.clone().unwrap();
    bob.expect(|e| e.name() == "presence" && e.attr("from") == Some(&carol_jid) && e.attr("type").is_none()).await;
    let deleted = run(&mut alice, "delete-user", &[("accountjids", &["dave@localhost", "carol@localhost"])]).await;
    assert_eq!(note(&deleted), "dave@localhost, carol@localhost deleted");
    assert_eq!(carol.expect_stream_error().await, "not-authorized", "a deleted account's sessions end");
    // Her contacts are told she is gone: offline, and no subscription either way.
    let presence_of = |kind: &'static str, from: String| {
        move |e: &Element| e.name() == "presence" && e.attr("type") == Some(kind) && e.attr("from") == Some(&from)
    };
    bob.expect(presence_of("unavailable", carol_jid.clone())).await;
    bob.expect(presence_of("unsubscribed", "carol@localhost".into())).await;
    let none = |e: &Element| {
        let item = e.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER));
        item.is_some_and(|i| i.attr("jid") == Some("carol@localhost") && i.attr("subscription") == Some("none"))
    };
    bob.expect(none).await;
    assert_eq!(values(&run(&mut alice, "get-registered-users-num", &[]).await, "registeredusersnum"), ["2"]);
}

#[tokio::test]
async fn administrators_see_online_users_announce_end_sessions_and_change_passwords() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.connect().resource("phone").login("bob", "pw").await;

    assert_eq!(values(&run(&mut alice, "get-online-users-num", &[]).await, "onlineusersnum"), ["2"]);
    let online = values(&run(&mut alice, "get-online-users-list", &[]).await, "onlineuserjids");
    assert!(online.contains(&"bob@localhost/phone".to_owned()), "{online:?}");

    // Active: available and looked at; alice sent no presence, so she is idle.
    bob.send("<presence/>").await;
    bob.iq("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(values(&run(&mut alice, "get-active-users", &[]).await, "activeuserjids"), ["bob@localhost"]);
    assert_eq!(values(&run(&mut alice, "get-idle-users", &[]).await, "idleuserjids"), ["alice@localhost"]);
    bob.send("<inactive xmlns='urn:xmpp:csi:0'/>").await;
    bob.iq("<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(values(&run(&mut alice, "get-active-users-num", &[]).await, "activeusersnum"), ["0"]);
    assert_eq!(values(&run(&mut alice, "get-idle-users-num", &[]).await, "idleusersnum"), ["2"]);

    let sent =
        run(&mut alice, "announce", &[("subject", &["Maintenance"]), ("announcement", &["Back at 10:00."])]).await;
    assert_eq!(note(&sent), "sent to 2 sessions");
    let headline = bob.expect(|e| e.name() == "message" && e.attr("type") == Some("headline")).await;
    assert_eq!(headline.attr("from"), Some("localhost"));
    assert_eq!(headline.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("Back at 10:00."));
    assert_eq!(headline.get_child("subject", ns::CLIENT).map(Element::text).as_deref(), Some("Maintenance"));

    run(&mut alice, "end-user-session", &[("accountjids", &["bob@localhost"])]).await;
    assert_eq!(bob.expect_stream_error().await, "policy-violation");

    let mut bob = server.client("bob", "pw").await;
    let changed =
        run(&mut alice, "change-user-password", &[("accountjid", &["bob@localhost"]), ("password", &["new one"])])
            .await;
    assert_eq!(note(&changed), "the password of bob@localhost was changed");
    assert_eq!(bob.expect_stream_error().await, "policy-violation", "sessions with the old password end");
    let mut old = server.connect().open().await;
    assert!(old.authenticate("SCRAM-SHA-256", "bob", "pw").await.is_err());
    let _ = server.client("bob", "new one").await;
}

#[tokio::test]
async fn the_message_of_the_day_reaches_every_login_and_last_logins_are_told() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let form = run(&mut alice, "set-motd", &[]).await;
    assert_eq!(command(&form).attr("status"), Some("executing"));
    run(&mut alice, "set-motd", &[("motd", &["Welcome to the sprint!", "Coffee at 10."])]).await;
    let mut bob = server.client("bob", "pw").await;
    let motd = bob.expect(|e| e.name() == "message" && e.attr("from") == Some("localhost")).await;
    assert_eq!(
        motd.get_child("body", ns::CLIENT).map(Element::text).as_deref(),
        Some("Welcome to the sprint!\nCoffee at 10.")
    );
    let edit = run(&mut alice, "edit-motd", &[]).await;
    assert_eq!(values(&edit, "motd"), ["Welcome to the sprint!", "Coffee at 10."], "the form shows the current one");
    run(&mut alice, "delete-motd", &[]).await;
    let mut carol = server.client("carol", "pw").await;
    crate::nothing_from(&mut alice, &mut carol, |e| e.name() == "message").await;

    bob.send("<presence/>").await;
    carol.send("<presence/>").await;
    crate::befriend(&mut bob, &mut carol, "bob@localhost", "carol@localhost").await;
    let roster = run(&mut alice, "get-user-roster", &[("accountjid", &["bob@localhost"])]).await;
    assert_eq!(values(&roster, "accountjid"), ["bob@localhost"]);
    let query = command(&roster).get_child("query", ns::ROSTER).expect("the roster beside the form");
    let item = query.get_child("item", ns::ROSTER).unwrap();
    assert_eq!((item.attr("jid"), item.attr("subscription")), (Some("carol@localhost"), Some("both")));

    let stats = run(&mut alice, "user-stats", &[("accountjid", &["bob@localhost"])]).await;
    assert_eq!(values(&stats, "rostersize"), ["1"]);
    let bob_resource = bob.jid.as_deref().unwrap().split('/').nth(1).unwrap().to_owned();
    assert_eq!(values(&stats, "onlineresources"), [bob_resource]);
    let unknown = run(&mut alice, "user-stats", &[("accountjid", &["nobody@localhost"])]).await;
    assert_eq!(error_condition(&unknown).as_deref(), Some("item-not-found"));

    let online = run(&mut alice, "get-user-lastlogin", &[("accountjid", &["bob@localhost"])]).await;
    assert_eq!(values(&online, "lastlogin").len(), 1, "bob is online: now");
    let never = run(&mut alice, "get-user-lastlogin", &[("accountjid", &["nobody@localhost"])]).await;
    assert_eq!(error_condition(&never).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_until_enabled_again() {
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;
    let mut bob = server.client("bob", "pw").await;
    let disabled = run(&mut alice, "disable-user", &[("accountjids", &["bob@localhost"])]).await;
    assert_eq!(note(&disabled), "bob@localhost disabled");
    assert_eq!(bob.expect_stream_error().await, "policy-violation", "its sessions end");
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let mut c = server.connect().open().await;
        assert_eq!(c.authenticate(mechanism, "bob", "pw").await, Err("account-disabled".into()), "{mechanism}");
        let mut c = server.connect().open().await;
        assert_eq!(
            c.authenticate(mechanism, "bob", "wrong").await,
            Err("not-authorized".into()),
            "only the password tells"
        );
    }
    assert_eq!(values(&run(&mut alice, "get-disabled-users-num", &[]).await, "disabledusersnum"), ["1"]);
    assert_eq!(values(&run(&mut alice, "get-disabled-users-list", &[]).await, "disableduserjids"), ["bob@localhost"]);
    let unknown = run(&mut alice, "disable-user", &[("accountjids", &["nobody@localhost"])]).await;
    assert_eq!(error_condition(&unknown).as_deref(), Some("item-not-found"));

    let enabled = run(&mut alice, "reenable-user", &[("accountjids", &["bob@localhost"])]).await;
    assert_eq!(note(&enabled), "bob@localhost enabled again");
    let _bob = server.client("bob", "pw").await;
    assert_eq!(values(&run(&mut alice, "get-disabled-users-num", &[]).await, "disabledusersnum"), ["0"]);
}

/// One step of a command in stages: `action` on `node`'s session `session` (none: a new
/// run), with `fields` submitted if any.
async fn step(
    c: &mut TestClient,
    node: &str,
    session: Option<&str>,
    action: &str,
    fields: &[(&str, &[&str])],
) -> Element {
    let form = submit(fields);
    let session = session.map(|s| format!(" sessionid='{s}'")).unwrap_or_default();
    c.iq(&format!(
        "<iq type='set' id='step' to='localhost'><command xmlns='{}' node='{node}' action='{action}'{session}>{form}</command></iq>",
        ns::COMMANDS
    ))
    .await
}

/// The actions a stage offers, as `prev next complete / execute`.
fn actions(reply: &Element) -> String {
    let actions = command(reply).get_child("actions", ns::COMMANDS).expect("actions");
    let mut offered: Vec<&str> =
        ["prev", "next", "complete"].into_iter().filter(|a| actions.has_child(a, ns::COMMANDS)).collect();
    offered.push("/");
    offered.push(actions.attr("execute").unwrap_or_default());
    offered.join(" ")
}

fn fields_of(reply: &Element) -> Vec<String> {
    let form = command(reply).get_child("x", ns::DATA).expect("a form");
    form.children().filter_map(|f| f.attr("var")).filter(|v| *v != "FORM_TYPE").map(str::to_owned).collect()
}

fn app_condition(reply: &Element) -> Option<String> {
    let error = reply.get_child("error", ns::CLIENT)?;
    error.children().find(|c| c.ns() == ns::COMMANDS).map(|c| c.name().to_owned())
}

#[tokio::test]
async fn a_command_in_stages_goes_next_back_and_completes_in_its_session() {
    const NODE: &str = "urn:rhein:admin#add-users";
    let server = server().await;
    let mut alice = server.client("alice", "pw").await;

    let first = step(&mut alice, NODE, None, "execute", &[]).await;
    assert_eq!(command(&first).attr("status"), Some("executing"));
    assert_eq!(actions(&first), "next / next");
    assert_eq!(fields_of(&first), ["accountjids"]);
    let session = command(&first).attr("sessionid").unwrap().to_owned();
    let session = Some(session.as_str());

    // Stage two is made from stage one's answer.
    let two = ["dave@localhost", "erin@localhost"];
    let second = step(&mut alice, NODE, session, "next", &[("accountjids", &two)]).await;
    assert_eq!(actions(&second), "prev complete / complete");
    assert_eq!(fields_of(&second), two);
    // Back: stage one again, with what was answered there.
    let back = step(&mut alice, NODE, session, "prev", &[]).await;
    assert_eq!(values(&back, "accountjids"), two);
    assert_eq!(actions(&back), "next / next");
    // A refused answer leaves the session where it was.
    let taken = step(&mut alice, NODE, session, "next", &[("accountjids", &["dave@localhost", "bob@localhost"])]).await;
    assert_eq!(error_condition(&taken).as_deref(), Some("conflict"), "bob exists");
    let early = step(&mut alice, NODE, session, "complete", &[("accountjids", &two)]).await;
    assert_eq!(app_condition(&early).as_deref(), Some("bad-action"), "complete only at the last stage");
    step(&mut alice, NODE, session, "next", &[("accountjids", &two)]).await;
    let done = step(&mut alice, NODE, session, "complete", &[("dave@localhost", &["dave's"])]).await;
    assert_eq!(command(&done).attr("status"), Some("completed"));
    assert_eq!(note(&done), "2 accounts added");
    let made_up = values(&done, "erin@localhost");
    assert_eq!(fields_of(&done), ["erin@localhost"], "only made-up passwords are shown");
    server.client("dave", "dave's").await;
    server.client("erin", &made_up[0]).await;

    // The session is over; a canceled one too; nobody else's session is anyone's.
    let over = step(&mut alice, NODE, session, "complete", &[("x", &["y"])]).await;
    assert_eq!(
        (error_condition(&over).as_deref(), app_condition(&over).as_deref()),
        (Some("bad-request"), Some("bad-sessionid"))
    );
    let started = step(&mut alice, NODE, None, "execute", &[]).await;
    let other = command(&started).attr("sessionid").unwrap().to_owned();
    let mut alice2 = server.connect().resource("other").login("alice", "pw").await;
    let stolen = step(&mut alice2, NODE, Some(&other), "next", &[("accountjids", &["frank@localhost"])]).await;
    assert_eq!(app_condition(&stolen).as_deref(), Some("bad-sessionid"), "a session is its requester's");
    let canceled = step(&mut alice, NODE, Some(&other), "cancel", &[]).await;
    assert_eq!(command(&canceled).attr("status"), Some("canceled"));
    let gone = step(&mut alice, NODE, Some(&other), "next", &[("accountjids", &["frank@localhost"])]).await;
    assert_eq!(app_condition(&gone).as_deref(), Some("bad-sessionid"));

    let mut bob = server.client("bob", "pw").await;
    let refused = step(&mut bob, NODE, None, "execute", &[]).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));
}
