//! Invitations and in-band registration: XEP-0401 commands, XEP-0445 tokens before XEP-0077
//! registration, XEP-0379 pre-authenticated subscriptions, password change and removal.

use crate::{error_condition, error_text};
use rhein_storage::{InviteKind, NewInvite};
use rhein_testkit::{Element, TestClient, TestServer, ns};

const PW: &str = "a long password";

/// A server where alice is an administrator (named in the configuration) and bob is not.
async fn server_with(registration: &str) -> TestServer {
    builder_with(registration).start().await
}

fn builder_with(registration: &str) -> rhein_testkit::TestServerBuilder {
    TestServer::builder().user("alice", PW).user("bob", PW).configure(|c| {
        c.server.admins = vec!["alice@localhost".into()];
        let mut t = rhein_server::config::Table::new();
        t.insert("registration".into(), registration.into());
        c.modules.settings.insert("invites".into(), t.into());
    })
}

/// The value of a field of the form in a command answer.
fn field(command: &Element, var: &str) -> Option<String> {
    let form = command.get_child("x", ns::DATA)?;
    let field = form.children().find(|f| f.attr("var") == Some(var))?;
    field.get_child("value", ns::DATA).map(Element::text)
}

/// The `preauth` token in an `xmpp:` URI.
fn token_of(uri: &str) -> String {
    let (_, rest) = uri.split_once("preauth=").expect("a token in the URI");
    rest.split(';').next().unwrap().to_owned()
}

/// Runs a command to completion on the server (one step), returning `<command/>`.
async fn run_command(client: &mut TestClient, node: &str, form: &str) -> Element {
    let reply = client
        .iq(&format!(
            "<iq type='set' id='cmd' to='localhost'><command xmlns='{}' node='{node}' action='execute'>{form}</command></iq>",
            ns::COMMANDS
        ))
        .await;
    assert_eq!(reply.attr("type"), Some("result"), "{node}: {reply:?}");
    reply.get_child("command", ns::COMMANDS).unwrap().clone()
}

/// A stream that has not authenticated, with its features read.
async fn newcomer(server: &TestServer) -> TestClient {
    server.connect().open().await
}

async fn preauth(c: &mut TestClient, token: &str) -> Element {
    c.iq(&format!("<iq type='set' id='pa' to='localhost'><preauth xmlns='urn:xmpp:pars:0' token='{token}'/></iq>"))
        .await
}

async fn register(c: &mut TestClient, user: &str, password: &str) -> Element {
    c.iq(&format!(
        "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username>\
         <password>{password}</password></query></iq>"
    ))
    .await
}

#[tokio::test]
async fn an_invited_newcomer_registers_and_has_the_inviter_as_a_contact() {
    let server = server_with("invite").await;
    let mut alice = server.client("alice", PW).await;
    alice.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let command = run_command(&mut alice, ns::INVITE_COMMAND, "").await;
    assert_eq!(command.attr("status"), Some("completed"));
    let uri = field(&command, "uri").unwrap();
    assert!(uri.starts_with("xmpp:alice@localhost?roster;preauth=") && uri.ends_with(";ibr=y"), "{uri}");
    assert!(field(&command, "expire").is_some());
    let token = token_of(&uri);

    let mut carol = newcomer(&server).await;
    let features = carol.features.clone().unwrap();
    assert!(features.has_child("register", "http://jabber.org/features/iq-register"));
    assert!(features.has_child("register", "urn:xmpp:ibr-token:0"), "XEP-0445 feature");
    assert_eq!(preauth(&mut carol, &token).await.attr("type"), Some("result"));
    let fields = carol.iq("<iq type='get' id='f'><query xmlns='jabber:iq:register'/></iq>").await;
    let query = fields.get_child("query", ns::REGISTER).expect("the fields");
    assert!(query.has_child("username", ns::REGISTER) && query.has_child("password", ns::REGISTER));
    assert_eq!(register(&mut carol, "carol", PW).await.attr("type"), Some("result"));

    // XEP-0401 §3.7: the inviter's clients learn of the new contact at once.
    let push = alice.expect(|e| e.name() == "iq" && e.attr("type") == Some("set")).await;
    let item = push.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER)).unwrap();
    assert_eq!((item.attr("jid"), item.attr("subscription")), (Some("carol@localhost"), Some("both")));

    // The newcomer logs in on the same stream, and has alice as a contact both ways.
    carol.authenticate("SCRAM-SHA-256", "carol", PW).await.unwrap();
    carol.bind(None).await;
    let roster = carol.iq("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>").await;
    let item = roster.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER)).unwrap();
    assert_eq!((item.attr("jid"), item.attr("subscription")), (Some("alice@localhost"), Some("both")));

    // Single use: the token is spent.
    let mut dave = newcomer(&server).await;
    let spent = preauth(&mut dave, &token).await;
    assert_eq!(error_condition(&spent).as_deref(), Some("item-not-found"));
    assert_eq!(error_text(&spent), "the invitation has been used up");
}

#[tokio::test]
async fn registration_is_refused_with_the_reason() {
    let server = server_with("invite").await;
    let db = &server.running().db;
    let mut c = newcomer(&server).await;
    let fields = c.iq("<iq type='get' id='f'><query xmlns='jabber:iq:register'/></iq>").await;
    let instructions = fields.get_child("query", ns::REGISTER).and_then(|q| q.get_child("instructions", ns::REGISTER));
    assert!(instructions.unwrap().text().contains("needs an invitation"), "invite-only by default: {fields:?}");
    let uninvited = register(&mut c, "eve", PW).await;
    assert_eq!(error_condition(&uninvited).as_deref(), Some("not-allowed"));
    assert_eq!(error_text(&uninvited), "registration needs an invitation (a XEP-0445 token)");
    assert!(uninvited.get_child("query", ns::REGISTER).is_none(), "the password is not echoed");

    let unknown = preauth(&mut c, "0123456789abcdef").await;
    assert_eq!(
        (error_condition(&unknown).as_deref(), error_text(&unknown).as_str()),
        (Some("item-not-found"), "the invitation is not known")
    );
    let expired = NewInvite { valid_for_ms: -1, ..NewInvite::new("localhost", InviteKind::Account) };
    let (_, token) = db.invites().create(&expired).await.unwrap();
    assert_eq!(error_text(&preauth(&mut c, &token).await), "the invitation has expired");
    let (revoked, token) = db.invites().create(&NewInvite::new("localhost", InviteKind::Account)).await.unwrap();
    db.invites().revoke(&revoked.id).await.unwrap();
    assert_eq!(error_text(&preauth(&mut c, &token).await), "the invitation has been revoked");

    let (_, token) = db.invites().create(&NewInvite::new("localhost", InviteKind::Account)).await.unwrap();
    assert_eq!(preauth(&mut c, &token).await.attr("type"), Some("result"));
    let bad_name = register(&mut c, "e@ve", PW).await;
    assert_eq!(error_condition(&bad_name).as_deref(), Some("not-acceptable"));
    let short = register(&mut c, "eve", "short").await;
    assert_eq!(error_condition(&short).as_deref(), Some("not-acceptable"));
    assert_eq!(error_text(&short), "the password needs at least 8 characters");
    let taken = register(&mut c, "bob", PW).await;
    assert_eq!(error_condition(&taken).as_deref(), Some("conflict"));
    // None of these used the token.
    assert_eq!(register(&mut c, "eve", PW).await.attr("type"), Some("result"));
    assert!(db.accounts().exists("localhost", "eve").await.unwrap());
}

/// Two registrations racing for the last use of an invite: exactly one account is made.
#[tokio::test]
async fn the_last_use_of_an_invite_goes_to_one_registration() {
    let server = server_with("invite").await;
    let (_, token) =
        server.running().db.invites().create(&NewInvite::new("localhost", InviteKind::Account)).await.unwrap();
    let (mut one, mut two) = (newcomer(&server).await, newcomer(&server).await);
    assert_eq!(preauth(&mut one, &token).await.attr("type"), Some("result"));
    assert_eq!(preauth(&mut two, &token).await.attr("type"), Some("result"), "checked, not used, until registering");
    let (a, b) = tokio::join!(register(&mut one, "first", PW), register(&mut two, "second", PW));
    let mut outcomes = [a.attr("type").unwrap().to_owned(), b.attr("type").unwrap().to_owned()];
    outcomes.sort();
    assert_eq!(outcomes, ["error", "result"]);
    let loser = if a.attr("type") == Some("error") { &a } else { &b };
    assert_eq!(error_condition(loser).as_deref(), Some("not-authorized"));
    assert_eq!(error_text(loser), "the invitation has been used up");
    let db = &server.running().db;
    let made = [
        db.accounts().exists("localhost", "first").await.unwrap(),
        db.accounts().exists("localhost", "second").await.unwrap(),
    ];
    assert_eq!(made.iter().filter(|m| **m).count(), 1);
}

#[tokio::test]
async fn an_account_invite_reserves_its_username_and_only_admins_make_one() {
    let server = server_with("invite").await;
    let mut bob = server.client("bob", PW).await;
    let items = bob
        .iq(&format!(
            "<iq type='get' id='c' to='localhost'><query xmlns='{}' node='{}'/></iq>",
            ns::DISCO_ITEMS,
            ns::COMMANDS
        ))
        .await;
    let nodes: Vec<_> =
        items.get_child("query", ns::DISCO_ITEMS).unwrap().children().filter_map(|i| i.attr("node")).collect();
    assert_eq!(nodes, [ns::INVITE_COMMAND], "bob sees only what he may run");
    let refused = bob
        .iq(&format!(
            "<iq type='set' id='x' to='localhost'><command xmlns='{}' node='{}' action='execute'/></iq>",
            ns::COMMANDS,
            ns::CREATE_ACCOUNT_COMMAND
        ))
        .await;
    assert_eq!(error_condition(&refused).as_deref(), Some("forbidden"));

    let mut alice = server.client("alice", PW).await;
    let first = run_command(&mut alice, ns::CREATE_ACCOUNT_COMMAND, "").await;
    assert_eq!(first.attr("status"), Some("executing"), "the form comes first");
    let session = first.attr("sessionid").unwrap().to_owned();
    assert!(first.get_child("x", ns::DATA).is_some_and(|x| x.attr("type") == Some("form")));
    let dropped = run_command(&mut alice, ns::CREATE_ACCOUNT_COMMAND, "").await;
    let cancel = alice
        .iq(&format!(
            "<iq type='set' id='cancel' to='localhost'><command xmlns='{}' node='{}' sessionid='{}' action='cancel'/></iq>",
            ns::COMMANDS,
            ns::CREATE_ACCOUNT_COMMAND,
            dropped.attr("sessionid").unwrap()
        ))
        .await;
    assert_eq!(cancel.get_child("command", ns::COMMANDS).unwrap().attr("status"), Some("canceled"));
    let done = alice
        .iq(&format!(
            "<iq type='set' id='c2' to='localhost'><command xmlns='{}' node='{}' sessionid='{session}' action='complete'>\
             <x xmlns='jabber:x:data' type='submit'><field var='username'><value>juliet</value></field>\
             <field var='roster-subscription'><value>0</value></field></x></command></iq>",
            ns::COMMANDS,
            ns::CREATE_ACCOUNT_COMMAND
        ))
        .await;
    let command = done.get_child("command", ns::COMMANDS).unwrap();
    assert_eq!(command.attr("status"), Some("completed"));
    let uri = field(command, "uri").unwrap();
    assert!(uri.starts_with("xmpp:juliet@localhost?register;preauth="), "{uri}");
    let token = token_of(&uri);

    let mut c = newcomer(&server).await;
    assert_eq!(preauth(&mut c, &token).await.attr("type"), Some("result"));
    let other = register(&mut c, "romeo", PW).await;
    assert_eq!(error_text(&other), "this invitation is for the username juliet");
    assert_eq!(register(&mut c, "juliet", PW).await.attr("type"), Some("result"));
    let roster = server.running().db.roster().items("juliet@localhost").await.unwrap();
    assert!(roster.is_empty(), "roster-subscription was off");
}

#[tokio::test]
async fn open_registration_is_throttled_per_address() {
    let server = server_with("open").await;
    let mut c = newcomer(&server).await;
    let fields = c.iq("<iq type='get' id='f'><query xmlns='jabber:iq:register'/></iq>").await;
    assert_eq!(fields.attr("type"), Some("result"));
    assert_eq!(register(&mut c, "walkin", PW).await.attr("type"), Some("result"));
    let mut again = newcomer(&server).await;
    let throttled = register(&mut again, "walkin2", PW).await;
    assert_eq!(error_condition(&throttled).as_deref(), Some("resource-constraint"));
    assert!(!server.running().db.accounts().exists("localhost", "walkin2").await.unwrap());
}

#[tokio::test]
async fn closed_registration_offers_nothing() {
    let server = server_with("closed").await;
    let mut c = newcomer(&server).await;
    assert!(!c.features.as_ref().unwrap().has_child("register", "http://jabber.org/features/iq-register"));
    c.send("<iq type='get' id='f'><query xmlns='jabber:iq:register'/></iq>").await;
    assert_eq!(c.expect_stream_error().await, "not-authorized", "RFC 6120 §6.4: nothing before authentication");
}

#[tokio::test]
async fn a_logged_in_user_changes_the_password_and_removes_the_account() {
    let server = server_with("invite").await;
    let mut bob = server.client("bob", PW).await;
    // Clients send these to their domain (Conversations, Gajim) or to no one: both are theirs.
    let info = bob.iq("<iq type='get' id='i' to='localhost'><query xmlns='jabber:iq:register'/></iq>").await;
    let query = info.get_child("query", ns::REGISTER).unwrap();
    assert!(query.has_child("registered", ns::REGISTER));
    assert_eq!(query.get_child("username", ns::REGISTER).map(Element::text).as_deref(), Some("bob"));
    let other = register(&mut bob, "alice", "another long one").await;
    assert_eq!(error_condition(&other).as_deref(), Some("not-authorized"));
    assert_eq!(register(&mut bob, "bob", "another long one").await.attr("type"), Some("result"));
    let mut old = server.connect().open().await;
    assert!(old.authenticate("SCRAM-SHA-256", "bob", PW).await.is_err(), "the old password is gone");
    let mut bob2 = server.connect().login("bob", "another long one").await;

    bob2.send("<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>").await;
    // XEP-0077 §3.2: the result (if it is written before the sessions end), then not-authorized.
    assert_eq!(bob2.expect_stream_error().await, "not-authorized");
    if let Some(result) = bob2.drain_backlog().into_iter().find(|e| e.attr("id") == Some("rm")) {
        assert_eq!(result.attr("type"), Some("result"));
    }
    assert_eq!(bob.expect_stream_error().await, "not-authorized", "every session of the account ends");
    assert!(!server.running().db.accounts().exists("localhost", "bob").await.unwrap());
}

/// XEP-0379: a subscription request with a token of the contact's invite is approved at once,
/// and the contact asks back.
#[tokio::test]
async fn a_preauthenticated_subscription_is_approved_and_asked_back() {
    let server = server_with("invite").await;
    let mut bob = server.client("bob", PW).await;
    bob.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    bob.send("<presence/>").await;
    let command = run_command(&mut bob, ns::INVITE_COMMAND, "").await;
    let uri = field(&command, "uri").unwrap();
    assert!(
        uri.starts_with("xmpp:bob@localhost?roster;preauth=") && !uri.contains("ibr=y"),
        "bob may not bring accounts: {uri}"
    );
    let token = token_of(&uri);

    let mut alice = server.client("alice", PW).await;
    alice.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    alice.send("<presence/>").await;
    alice.send(&format!("<presence to='bob@localhost' type='subscribe'><preauth xmlns='urn:xmpp:pars:0' token='{token}'/></presence>")).await;
    alice.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribed")).await;
    alice.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    alice.send("<presence to='bob@localhost' type='subscribed'/>").await;
    // bob was never asked; his roster shows alice both ways once she approved.
    let both = bob
        .expect(|e| {
            e.get_child("query", ns::ROSTER)
                .and_then(|q| q.get_child("item", ns::ROSTER))
                .is_some_and(|i| i.attr("subscription") == Some("both"))
        })
        .await;
    assert!(both.attr("type") == Some("set"));
    for seen in bob.drain_backlog() {
        assert!(!(seen.name() == "presence" && seen.attr("type") == Some("subscribe")), "no request reached bob");
    }
    let spent = server.running().db.invites().find(&token).await.unwrap().unwrap();
    assert_eq!(spent.uses_left, 0, "the token is spent");
}

/// The landing page: who invites, the link and its QR code, apps, and a form that creates the
/// account (CSRF-checked) the way in-band registration does.
#[tokio::test]
async fn the_landing_page_shows_the_invite_and_registers_through_its_form() {
    use crate::web::{header, https};
    let server = builder_with("invite").web().start().await;
    let alice_invite = NewInvite {
        creator: Some("alice@localhost".into()),
        subscribe: true,
        ..NewInvite::new("localhost", InviteKind::User)
    };
    let (_, token) = server.running().db.invites().create(&alice_invite).await.unwrap();
    let url = format!("https://localhost/invite/{token}");

    let (status, headers, page) = https(&server, "GET", &url, "Accept-Language: fr, en;q=0.5\r\n", b"").await;
    assert!(status.contains("200"), "{status}");
    assert!(page.contains("<html lang=\"en\">"), "English when no other language is shipped");
    assert!(page.contains("alice@localhost invites you to chat"), "{page}");
    assert!(page.contains(&format!("href=\"xmpp:alice@localhost?roster;preauth={token};ibr=y\"")), "{page}");
    assert!(page.contains("<svg"), "a QR code, inline");
    assert!(page.contains("Conversations") && page.contains("Monal"), "apps to install");
    assert!(!page.contains("<script"), "no script needed");
    let policy = header(&headers, "content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    let cookie = header(&headers, "set-cookie").unwrap();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly") && cookie.contains("Secure"), "{cookie}");
    let secret = cookie.trim_start_matches("rhein_form=").split(';').next().unwrap().to_owned();
    assert!(page.contains(&format!("name=\"csrf\" value=\"{secret}\"")), "the same secret in the form");

    let post = |cookie: String, body: String| {
        let url = url.clone();
        let server = &server;
        async move {
            let head = format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nCookie: {cookie}\r\n",
                body.len()
            );
            https(server, "POST", &url, &head, body.as_bytes()).await
        }
    };
    let form = |csrf: &str, p2: &str| format!("csrf={csrf}&username=carol&password=a+long+password&password2={p2}");
    let (_, _, forged) = post("rhein_form=other".into(), form(&secret, "a+long+password")).await;
    assert!(forged.contains("This form has expired"), "a cookie that does not match: {forged}");
    let (_, _, differ) = post(format!("rhein_form={secret}"), form(&secret, "another")).await;
    assert!(differ.contains("The two passwords differ."));
    assert!(!server.running().db.accounts().exists("localhost", "carol").await.unwrap());

    let (status, _, welcome) = post(format!("rhein_form={secret}"), form(&secret, "a+long+password")).await;
    assert!(status.contains("201"), "{status}: {welcome}");
    assert!(
        welcome.contains("carol@localhost") && welcome.contains("alice@localhost is in your contacts"),
        "{welcome}"
    );
    let mut carol = server.client("carol", "a long password").await;
    let roster = carol.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let item = roster.get_child("query", ns::ROSTER).and_then(|q| q.get_child("item", ns::ROSTER)).unwrap();
    assert_eq!((item.attr("jid"), item.attr("subscription")), (Some("alice@localhost"), Some("both")));

    // A contact invitation (XEP-0379 only) offers apps, not an account.
    let contact =
        NewInvite { creator: Some("alice@localhost".into()), ..NewInvite::new("localhost", InviteKind::Contact) };
    let (_, contact_token) = server.running().db.invites().create(&contact).await.unwrap();
    let (status, _, page) = https(&server, "GET", &format!("https://localhost/invite/{contact_token}"), "", b"").await;
    assert!(status.contains("200") && page.contains("xmpp:alice@localhost?roster;preauth="), "{page}");
    assert!(!page.contains("<form"), "no account to create with a contact invitation");

    let (status, _, used) = https(&server, "GET", &url, "", b"").await;
    assert!(status.contains("410") && used.contains("has been used already"), "{status}: {used}");
    let (status, _, unknown) = https(&server, "GET", "https://localhost/invite/not-a-token%3Cscript%3E", "", b"").await;
    assert!(status.contains("404") && !unknown.contains("not-a-token"), "{status}: {unknown}");
}
