//! `rhein export` and `rhein import` (XEP-0227 with Rhein's additions) on the real binary: a
//! server populated by real clients is exported, imported into a fresh one (twice: the same
//! state) and exported again, identical; the accounts log in there with their passwords and
//! find their data; a malformed file is refused with its line, and nothing is written.

use crate::cli::{Server, free_port, run, serve_config, temp_dir, write_config};
use rhein_testkit::{ClientBuilder, Element, TestClient, ns};
use std::net::SocketAddr;
use std::path::Path;

const HOST: &str = "cli.example";
const ROOM: &str = "lounge@conference.cli.example";
const CHANNEL: &str = "coven@channels.cli.example";
const MIX_CORE: &str = "urn:xmpp:mix:core:1";
const MIX_PAM: &str = "urn:xmpp:mix:pam:2";
const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
const MAM: &str = "urn:xmpp:mam:2";

fn addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

async fn login(port: u16, user: &str) -> TestClient {
    let mut c = ClientBuilder::new(addr(port), HOST).login(user, &format!("{user}'s password")).await;
    c.send("<presence/>").await;
    c
}

fn ok(reply: &Element) {
    assert_eq!(reply.attr("type"), Some("result"), "{}", rhein_proto::xml::to_string(reply));
}

/// What alice, bob and carol do: contacts, a vCard, private XML, PEP nodes (bookmarks, an
/// avatar, an OMEMO device list), a blocklist, archiving preferences, chats (archived),
/// messages and a subscription request waiting for bob, a room and a channel.
async fn populate(port: u16) {
    let mut alice = login(port, "alice").await;
    let mut bob = login(port, "bob").await;
    crate::befriend(&mut alice, &mut bob, "alice@cli.example", "bob@cli.example").await;
    ok(&alice
        .iq("<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='bob@cli.example' name='Bob'>\
             <group>Friends</group><group>Work</group></item></query></iq>")
        .await);
    ok(&alice
        .iq("<iq type='set' id='v'><vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME>\
             <PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard></iq>")
        .await);
    ok(&alice
        .iq("<iq type='set' id='p'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'>\
             <theme>dark &amp; quiet</theme></prefs></query></iq>")
        .await);
    let publish = |node: &str, id: &str, payload: &str, access: &str| {
        format!(
            "<iq type='set' id='pub-{id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{node}'>\
             <item id='{id}'>{payload}</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='pubsub#access_model'><value>{access}</value></field></x></publish-options></pubsub></iq>"
        )
    };
    ok(&alice
        .iq(&publish(
            "urn:xmpp:bookmarks:1",
            ROOM,
            "<conference xmlns='urn:xmpp:bookmarks:1' name='The Lounge' autojoin='true'><nick>alice</nick></conference>",
            "whitelist",
        ))
        .await);
    ok(&alice
        .iq(&publish(
            "urn:xmpp:avatar:data",
            "hash1",
            "<data xmlns='urn:xmpp:avatar:data'>iVBORw0KGgo=</data>",
            "presence",
        ))
        .await);
    ok(&alice
        .iq(&publish(
            "urn:xmpp:avatar:metadata",
            "hash1",
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='hash1' bytes='8' type='image/png'/></metadata>",
            "presence",
        ))
        .await);
    ok(&alice
        .iq(&publish(
            "eu.siacs.conversations.axolotl.devicelist",
            "current",
            "<list xmlns='eu.siacs.conversations.axolotl'><device id='1234'/></list>",
            "open",
        ))
        .await);
    ok(&alice
        .iq("<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='spam@elsewhere.example'/></block></iq>")
        .await);
    ok(&alice
        .iq("<iq type='set' id='mp'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@cli.example</jid></always>\
             <never/></prefs></iq>")
        .await);
    for i in 0..3 {
        alice
            .send(&format!("<message to='bob@cli.example' type='chat' id='c{i}'><body>chat {i}</body></message>"))
            .await;
        bob.expect(|e| e.attr("id") == Some(&format!("c{i}"))).await;
    }

    // A room: persistent, bob a member, a subject and a message.
    alice.send(&format!("<presence to='{ROOM}/alice'><x xmlns='{MUC}'/></presence>")).await;
    alice.expect(|e| e.name() == "message" && e.get_child("subject", ns::CLIENT).is_some()).await;
    ok(&alice
        .iq(&format!(
            "<iq type='set' to='{ROOM}' id='cfg'><query xmlns='{MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'>\
             <field var='muc#roomconfig_persistentroom'><value>1</value></field>\
             <field var='muc#roomconfig_roomname'><value>The Lounge</value></field></x></query></iq>"
        ))
        .await);
    ok(&alice
        .iq(&format!(
            "<iq type='set' to='{ROOM}' id='aff'><query xmlns='{MUC_ADMIN}'><item jid='bob@cli.example' affiliation='member' nick='bobby'/></query></iq>"
        ))
        .await);
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='s'><subject>Tea time</subject></message>")).await;
    alice.expect(|e| e.attr("id") == Some("s")).await;
    alice.send(&format!("<message to='{ROOM}' type='groupchat' id='g'><body>in the room</body></message>")).await;
    alice.expect(|e| e.attr("id") == Some("g")).await;

    // A channel alice and bob are in, with a message.
    ok(&alice
        .iq(&format!(
            "<iq type='set' to='channels.cli.example' id='mc'><create xmlns='{MIX_CORE}' channel='coven'/></iq>"
        ))
        .await);
    for (c, nick) in [(&mut alice, "hecate"), (&mut bob, "thirdwitch")] {
        ok(&c
            .iq(&format!(
                "<iq type='set' id='join-{nick}'><client-join xmlns='{MIX_PAM}' channel='{CHANNEL}'><join xmlns='{MIX_CORE}'>\
                 <subscribe node='urn:xmpp:mix:nodes:messages'/><subscribe node='urn:xmpp:mix:nodes:participants'/>\
                 <nick>{nick}</nick></join></client-join></iq>"
            ))
            .await);
    }
    alice
        .send(&format!("<message to='{CHANNEL}' type='groupchat' id='mix1'><body>in the channel</body></message>"))
        .await;
    bob.expect(|e| e.name() == "message" && e.get_child("mix", MIX_CORE).is_some()).await;

    // bob goes away: a message and carol's subscription request wait for him.
    bob.close().await;
    let mut carol = login(port, "carol").await;
    carol.send("<presence to='bob@cli.example' type='subscribe'><nick xmlns='http://jabber.org/protocol/nick'>Carol</nick></presence>").await;
    alice.send("<message to='bob@cli.example' type='chat' id='off'><body>while you were out</body></message>").await;
    for c in [&mut alice, &mut carol] {
        ok(&c.iq("<iq type='get' id='sync' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await);
    }
}

/// `rhein export` of the storage `config` names, into `file`.
fn export(config: &Path, file: &Path) -> String {
    let (ok, out, err) = run(&["export", "--config", config.to_str().unwrap()], config.parent().unwrap(), "");
    assert!(ok, "{err}");
    assert!(err.contains("exported 3 users, 1 rooms, 1 other entities"), "{err}");
    std::fs::write(file, &out).unwrap();
    out
}

fn import(config: &Path, file: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["import", file.to_str().unwrap(), "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args, config.parent().unwrap(), "")
}

/// A fresh data directory (or PostgreSQL database) with its config.
async fn fresh(tag: &str) -> (std::path::PathBuf, std::path::PathBuf, u16) {
    let dir = temp_dir(tag);
    let port = free_port();
    let config = write_config(&dir, port).await;
    (dir, config, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_a_fresh_server_exports_the_same_and_logs_in() {
    let (dir, config, port) = fresh("export").await;
    for user in ["alice", "bob", "carol"] {
        let password = format!("{user}'s password\n");
        assert!(run(&["user", "add", user, "--config", config.to_str().unwrap()], &dir, &password).0);
    }
    let server = serve_config(&config, port);
    populate(port).await;
    // An export while the server runs works (it only reads).
    export(&config, &dir.join("live.xml"));
    drop(server);
    let first = export(&config, &dir.join("dump.xml"));
    assert!(first.contains("<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-256'>"), "{first}");

    // Into a fresh server: checked (dry), imported twice, exported again: the same.
    let (fresh_dir, fresh_config, fresh_port) = fresh("import").await;
    let (ok, out, err) = import(&fresh_config, &dir.join("dump.xml"), &["--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("would import 3 users, 1 rooms, 1 other entities"), "{out} {err}");
    let (_, listed, _) = run(&["user", "list", "--config", fresh_config.to_str().unwrap()], &fresh_dir, "");
    assert_eq!(listed, "", "a dry run writes nothing");
    for _ in 0..2 {
        let (ok, out, err) = import(&fresh_config, &dir.join("dump.xml"), &[]);
        assert!(ok, "{err}");
        assert!(out.starts_with("imported 3 users, 1 rooms, 1 other entities"), "{out}");
        assert_eq!(err, "", "nothing left out");
    }
    let again = export(&fresh_config, &fresh_dir.join("again.xml"));
    assert_eq!(again, first, "export → import → export is the identity");

    let _server = serve_config(&fresh_config, fresh_port);
    // The same passwords, by every mechanism.
    for mechanism in ["SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"] {
        let _ =
            ClientBuilder::new(addr(fresh_port), HOST).mechanism(mechanism).login("alice", "alice's password").await;
    }
    let mut wrong = ClientBuilder::new(addr(fresh_port), HOST).open().await;
    assert_eq!(wrong.authenticate("SCRAM-SHA-256", "alice", "not it").await, Err("not-authorized".into()));
    check_data(fresh_port).await;
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(fresh_dir);
}

/// Alice's roster holds `bob` (named Bob, both ways), her vCard her name, and her private XML
/// her preferences; her roster.
async fn check_roster_vcard_private(alice: &mut TestClient, bob: &str) -> Element {
    let roster = alice.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let item = roster.get_child("query", ns::ROSTER).unwrap().get_child("item", ns::ROSTER).unwrap();
    assert_eq!(
        (item.attr("jid"), item.attr("name"), item.attr("subscription")),
        (Some(bob), Some("Bob"), Some("both"))
    );
    let vcard = alice.iq("<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(
        vcard.get_child("vCard", ns::VCARD).unwrap().get_child("FN", ns::VCARD).unwrap().text(),
        "Alice Liddell"
    );
    let private = alice
        .iq("<iq type='get' id='p'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>")
        .await;
    assert!(rhein_proto::xml::to_string(&private).contains("dark &amp; quiet"), "{private:?}");
    roster
}

/// What the clients put there is served by the server the export was imported into.
async fn check_data(port: u16) {
    let mut alice = login(port, "alice").await;
    check_roster_vcard_private(&mut alice, "bob@cli.example").await;
    let bookmarks = alice
        .iq("<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
        .await;
    assert!(rhein_proto::xml::to_string(&bookmarks).contains("The Lounge"), "{bookmarks:?}");
    let blocked = alice.iq("<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>").await;
    assert!(rhein_proto::xml::to_string(&blocked).contains("spam@elsewhere.example"));
    alice.send("<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>").await;
    let first = alice.expect(|e| e.get_child("result", MAM).is_some()).await;
    assert!(rhein_proto::xml::to_string(&first).contains("chat 0"), "{first:?}");
    // Imported history counts as read: the unread overview starts after the move.
    let overview = alice.iq("<iq type='get' id='ov'><unread xmlns='https://rhein.chat/protocol/unread:0'/></iq>").await;
    let unread = overview.get_child("unread", "https://rhein.chat/protocol/unread:0").expect("an overview");
    assert!(unread.children().count() > 0, "{overview:?}");
    assert!(unread.children().all(|c| c.attr("unread") == Some("0")), "{overview:?}");
    let affiliations = alice
        .iq(&format!(
            "<iq type='get' to='{ROOM}' id='m'><query xmlns='{MUC_ADMIN}'><item affiliation='member'/></query></iq>"
        ))
        .await;
    assert!(rhein_proto::xml::to_string(&affiliations).contains("bob@cli.example"), "{affiliations:?}");

    let mut bob = login(port, "bob").await;
    let waiting = bob.expect(|e| e.name() == "message" && e.attr("id") == Some("off")).await;
    assert!(waiting.get_child("delay", "urn:xmpp:delay").is_some());
    bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    let roster = bob.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'><annotate xmlns='urn:xmpp:mix:roster:0'/></query></iq>").await;
    assert!(rhein_proto::xml::to_string(&roster).contains(CHANNEL), "bob is still in the channel: {roster:?}");
    alice
        .send(&format!("<message to='{CHANNEL}' type='groupchat' id='mix2'><body>after the move</body></message>"))
        .await;
    bob.expect(|e| e.name() == "message" && e.get_child("mix", MIX_CORE).is_some()).await;
}

/// A file that does not read, or holds something Rhein cannot take, is refused whole with
/// the line and the reason: nothing of it is written.
#[tokio::test]
async fn a_malformed_file_is_refused_with_its_line_and_nothing_is_written() {
    let (dir, config, port) = fresh("malformed").await;
    let good = "<user name='first'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>\
        <iter-count>4096</iter-count><salt>c2FsdHNhbHQ=</salt><server-key>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</server-key>\
        <stored-key>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</stored-key></scram-credentials></user>";
    let cases = [
        (
            format!(
                "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='cli.example'>\n{good}\n<user name='x'><query xmlns='jabber:iq:roster'>\n</host></server-data>\n"
            ),
            "line 5: not well-formed XML",
        ),
        (
            format!(
                "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='cli.example'>\n{good}\n\n<user name='second' password='pw'>\
                <query xmlns='jabber:iq:roster'><item jid='a@b' subscription='sideways'/></query></user>\n</host></server-data>\n"
            ),
            "line 5: <user/>:",
        ),
        (
            format!(
                "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='cli.example'>\n{good}\n<user name='second'/>\n</host></server-data>\n"
            ),
            "line 4: user second: no SCRAM-SHA-1 credentials and no password",
        ),
        (
            format!(
                "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='cli.example'>\n{good}\n</host>\n<host jid='other.example'>\n{good}</host></server-data>\n"
            ),
            "line 6: host other.example is not configured here",
        ),
        (
            format!(
                "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='cli.example'>\n{good}\n{good}\n</host></server-data>\n"
            ),
            "line 4: first@cli.example appears twice",
        ),
    ];
    for (doc, expected) in cases {
        let file = dir.join("bad.xml");
        std::fs::write(&file, &doc).unwrap();
        let (ok, _, err) = import(&config, &file, &[]);
        assert!(!ok, "{doc}");
        assert!(err.contains(expected), "{expected:?} in {err}");
        let (_, listed, _) = run(&["user", "list", "--config", config.to_str().unwrap()], &dir, "");
        assert_eq!(listed, "", "nothing written for {doc}");
    }
    // The good part alone imports; a password in plain text (which XEP-0227 allows) becomes
    // credentials.
    let file = dir.join("good.xml");
    let plain = "<user name='Second' password='in plain text'/>";
    std::fs::write(
        &file,
        format!("<server-data xmlns='urn:xmpp:pie:0'><host jid='cli.example'>{good}{plain}</host></server-data>"),
    )
    .unwrap();
    let (ok, _, err) = import(&config, &file, &[]);
    assert!(ok, "{err}");
    let (_, listed, _) = run(&["user", "list", "--config", config.to_str().unwrap()], &dir, "");
    assert_eq!(listed, "first@cli.example\nsecond@cli.example\n");
    let _server = serve_config(&config, port);
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let _ = ClientBuilder::new(addr(port), HOST).mechanism(mechanism).login("second", "in plain text").await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Import refuses to run under a server (it would replace what the server holds in memory);
/// `--user` exports one account.
#[tokio::test]
async fn import_waits_for_the_server_to_stop_and_export_takes_one_user() {
    let (dir, config, port) = fresh("running").await;
    let cfg = config.to_str().unwrap();
    assert!(run(&["user", "add", "alice", "--config", cfg], &dir, "pw\n").0);
    assert!(run(&["user", "add", "bob", "--config", cfg], &dir, "pw\n").0);
    let (ok, out, err) = run(&["export", "--user", "alice", "--config", cfg], &dir, "");
    assert!(ok, "{err}");
    assert!(out.contains("<user xmlns='urn:xmpp:pie:0' name='alice'>") && !out.contains("name='bob'"), "{out}");
    let (ok, _, err) = run(&["export", "--user", "nobody", "--config", cfg], &dir, "");
    assert!(!ok && err.contains("no account nobody@cli.example"), "{err}");
    let file = dir.join("alice.xml");
    std::fs::write(&file, out).unwrap();
    let _server: Server = serve_config(&config, port);
    let (ok, _, err) = import(&config, &file, &[]);
    assert!(!ok && err.contains("a server is running"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// An account that arrives with SCRAM-SHA-1 keys only (as from Prosody) logs in with them
/// and with PLAIN at once; that PLAIN login gives it the SCRAM-SHA-256 keys it lacked.
#[tokio::test]
async fn sha1_keys_alone_log_in_and_a_plain_login_completes_them() {
    use base64::Engine;
    let (dir, config, port) = fresh("sha1only").await;
    let creds =
        rhein_sasl::Credentials::derive_scram("old secret", b"a salt of Prosody's".to_vec(), 10_000, String::new());
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let doc = format!(
        "<server-data xmlns='urn:xmpp:pie:0'><host jid='cli.example'><user name='legacy'>\
         <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>10000</iter-count>\
         <salt>{}</salt><server-key>{}</server-key><stored-key>{}</stored-key></scram-credentials></user></host></server-data>",
        b64(&creds.salt),
        b64(&creds.sha1.server_key),
        b64(&creds.sha1.stored_key)
    );
    let file = dir.join("legacy.xml");
    std::fs::write(&file, doc).unwrap();
    let (ok, _, err) = import(&config, &file, &[]);
    assert!(ok, "{err}");
    let _server = serve_config(&config, port);
    let mut early = ClientBuilder::new(addr(port), HOST).open().await;
    assert_eq!(early.authenticate("SCRAM-SHA-256", "legacy", "old secret").await, Err("not-authorized".into()));
    let _ = ClientBuilder::new(addr(port), HOST).mechanism("SCRAM-SHA-1").login("legacy", "old secret").await;
    let _ = ClientBuilder::new(addr(port), HOST).mechanism("PLAIN").login("legacy", "old secret").await;
    let _ = ClientBuilder::new(addr(port), HOST).mechanism("SCRAM-SHA-256").login("legacy", "old secret").await;
    let _ = ClientBuilder::new(addr(port), HOST).mechanism("SCRAM-SHA-1").login("legacy", "old secret").await;
    let _ = std::fs::remove_dir_all(dir);
}

/// ejabberd's `export_piefxis` (a real one, from Debian's ejabberd 23.01, committed under
/// tests/it/fixtures/ejabberd): a main file including one per host, SCRAM values encoded
/// twice, blocking as a privacy list. Imported with --from-ejabberd, the accounts log in
/// with their passwords and find their data.
#[tokio::test]
async fn ejabberds_export_imports_with_its_quirks() {
    let dir = temp_dir("ejabberd");
    let port = free_port();
    let config = crate::cli::write_config_for(&dir, port, "migrate.test").await;
    let export = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/it/fixtures/ejabberd/export.xml");
    let (ok, _, err) = import(&config, &export, &[]);
    assert!(!ok && err.contains("import with --from-ejabberd"), "{err}");
    let (ok, out, err) = import(&config, &export, &["--from-ejabberd"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("imported 3 users"), "{out}");
    let _server = serve_config(&config, port);
    let at = addr(port);
    let _ = ClientBuilder::new(at, "migrate.test").mechanism("PLAIN").login("bob", "bob's secret").await;
    let mut alice =
        ClientBuilder::new(at, "migrate.test").mechanism("SCRAM-SHA-1").login("alice", "alice's secret").await;
    let roster = alice.iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>").await;
    let text = rhein_proto::xml::to_string(&roster);
    assert!(text.contains("name='Bob'") && text.contains("<group>Work</group>"), "{text}");
    let vcard = alice.iq("<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>").await;
    assert!(rhein_proto::xml::to_string(&vcard).contains("Alice Liddell"));
    let blocked = alice.iq("<iq type='get' id='b'><blocklist xmlns='urn:xmpp:blocking'/></iq>").await;
    assert!(rhein_proto::xml::to_string(&blocked).contains("spam@elsewhere.example"), "the privacy list's block");
    let mut bob = ClientBuilder::new(at, "migrate.test").mechanism("SCRAM-SHA-256").login("bob", "bob's secret").await;
    bob.send("<presence/>").await;
    let m = bob.expect(|e| e.name() == "message").await;
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "while you were out");
    bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// On either backend, an owner is written in one transaction: a write that fails part way
/// (a duplicate roster row) leaves the account exactly as it was.
#[tokio::test]
async fn a_failed_write_leaves_the_account_as_it_was() {
    use rhein_storage::{AccountImage, Db, OwnerImage, RosterRow};
    let (url, _) = rhein_testkit::fresh_storage().await;
    let db = Db::connect(&url).await.unwrap();
    let mut before = OwnerImage::new("alice@cli.example");
    before.account = Some(AccountImage {
        host: HOST.into(),
        username: "alice".into(),
        credentials: rhein_sasl::Credentials::derive_scram("pw", vec![1; 16], 1, String::new()),
        admin: false,
        created_at: 1,
    });
    before.roster = vec![RosterRow::new("bob@cli.example")];
    before.offline =
        vec![rhein_storage::OfflineMessage { stamp: 5, stanza: "<message xmlns='jabber:client'/>".into() }];
    db.images().replace(&before).await.unwrap();
    let mut broken = before.clone();
    broken.offline.clear();
    broken.roster.push(RosterRow::new("bob@cli.example"));
    assert!(db.images().replace(&broken).await.is_err());
    assert_eq!(db.images().read("alice@cli.example", Some((HOST, "alice"))).await.unwrap(), before);
    db.close().await;
}

/// Prosody's SQL storage in SQLite, laid out row by row as Debian's Prosody 0.12 writes it
/// (`storage = "sql"`): keyval stores a row per key (util.json's `__hash` for a roster's
/// `[false]`, a vCard split into its name, attributes and children), archives a row per
/// stanza as XML text.
mod prosody_sqlite {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    use std::path::Path;

    pub const HOST: &str = "migrate.test";

    /// An account's rows: SCRAM-SHA-1 keys of `password` as Prosody derives them (a UUID
    /// salt, hex keys).
    fn account(user: &str, password: &str) -> Vec<[String; 4]> {
        let salt = format!("5c0e7adb-9642-4694-b886-{user:0>12}");
        let keys = rhein_sasl::Credentials::derive_scram(password, salt.clone().into_bytes(), 10_000, String::new());
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        vec![
            ["accounts".into(), "salt".into(), "string".into(), salt],
            ["accounts".into(), "iteration_count".into(), "number".into(), "10000".into()],
            ["accounts".into(), "stored_key".into(), "string".into(), hex(&keys.sha1.stored_key)],
            ["accounts".into(), "server_key".into(), "string".into(), hex(&keys.sha1.server_key)],
        ]
    }

    pub async fn keyval(db: &SqlitePool, host: &str, user: &str, [store, key, kind, value]: [&str; 4]) {
        sqlx::query(r#"INSERT INTO "prosody" ("host","user","store","key","type","value") VALUES (?,?,?,?,?,?)"#)
            .bind(host)
            .bind(user)
            .bind(store)
            .bind(key)
            .bind(kind)
            .bind(value)
            .execute(db)
            .await
            .unwrap();
    }

    async fn archive(db: &SqlitePool, host: &str, user: &str, [store, key, with, xml]: [&str; 4]) {
        sqlx::query(
            r#"INSERT INTO "prosodyarchive" ("host","user","store","when","with","key","type","value")
               VALUES (?,?,?,1796656744,?,?,'xml',?)"#,
        )
        .bind(host)
        .bind(user)
        .bind(store)
        .bind(with)
        .bind(key)
        .bind(xml)
        .execute(db)
        .await
        .unwrap();
    }

    pub async fn open(path: &Path) -> SqlitePool {
        SqlitePool::connect_with(SqliteConnectOptions::new().filename(path).create_if_missing(true)).await.unwrap()
    }

    /// alice (contacts, vCard, private XML, bookmarks, blocklist, archive) and bob (an
    /// offline message, a subscription request from carol), and a room of the MUC
    /// component at chat.migrate.test.
    pub async fn create(path: &Path) {
        let _ = std::fs::remove_file(path);
        let db = open(path).await;
        sqlx::raw_sql(rhein_server::prosody::SQL_SCHEMA).execute(&db).await.unwrap();
        for (user, password) in [("alice", "alice's secret"), ("bob", "bob's s3cret")] {
            for [store, key, kind, value] in account(user, password) {
                keyval(&db, HOST, user, [&store, &key, &kind, &value]).await;
            }
        }
        for row in [
            ["roster", "", "json", r#"{"__hash":[false,{"version":5,"pending":{}}]}"#],
            [
                "roster",
                "bob@migrate.test",
                "json",
                r#"{"subscription":"both","name":"Bob","groups":{"Friends":true,"Work":true}}"#,
            ],
            ["vcard", "name", "string", "vCard"],
            ["vcard", "attr", "json", r#"{"xmlns":"vcard-temp"}"#],
            ["vcard", "", "json", r#"[{"attr":{"xmlns":"vcard-temp"},"name":"FN","__array":["Alice Liddell"]}]"#],
            [
                "private",
                "prefs:urn:example:prefs",
                "json",
                r#"{"attr":{"xmlns":"urn:example:prefs"},"name":"prefs","__array":[{"attr":{"xmlns":"urn:example:prefs"},"name":"theme","__array":["dark & quiet"]}]}"#,
            ],
            [
                "pep",
                "urn:xmpp:bookmarks:1",
                "json",
                r#"{"config":{"max_items":"max","access_model":"whitelist"},"name":"urn:xmpp:bookmarks:1","affiliations":{},"subscribers":{}}"#,
            ],
            ["blocklist", "", "json", r#"{"__hash":[false,{"created":1796656743,"modified":1796656744}]}"#],
            ["blocklist", "spam@elsewhere.example", "number", "1796656744"],
            ["lastlog2", "login", "json", r#"{"timestamp":1796656744}"#],
        ] {
            keyval(&db, HOST, "alice", row).await;
        }
        for row in [
            ["roster", "alice@migrate.test", "json", r#"{"groups":{},"subscription":"both"}"#],
            [
                "roster",
                "",
                "json",
                r#"{"__hash":[false,{"version":5,"pending":{"carol@migrate.test":{"attr":{"to":"bob@migrate.test","type":"subscribe"},"name":"presence"}}}]}"#,
            ],
        ] {
            keyval(&db, HOST, "bob", row).await;
        }
        let room = "chat.migrate.test";
        for row in [
            ["config", "_jid", "string", "lounge@chat.migrate.test"],
            [
                "config",
                "_data",
                "json",
                r#"{"persistent":true,"name":"The Lounge","subject":"Tea time","subject_from":"lounge@chat.migrate.test/alice","members_only":true}"#,
            ],
            ["config", "alice@migrate.test", "string", "owner"],
            ["config", "bob@migrate.test", "string", "member"],
        ] {
            keyval(&db, room, "lounge", row).await;
        }
        keyval(&db, room, "", ["persistent", "lounge@chat.migrate.test", "boolean", "true"]).await;
        for row in [
            [
                "pep_urn:xmpp:bookmarks:1",
                "orchard@conference.migrate.test",
                "alice@migrate.test",
                "<conference name='The Orchard' xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>alice</nick></conference>",
            ],
            [
                "archive",
                "b82567d5-47d6-4902-b644-ae4851fd297d",
                "bob@migrate.test",
                "<message to='bob@migrate.test' type='chat' xml:lang='en' id='c1' from='alice@migrate.test/py'><body>an archived chat</body></message>",
            ],
        ] {
            archive(&db, HOST, "alice", row).await;
        }
        archive(
            &db,
            HOST,
            "bob",
            [
                "offline",
                "3692f7f9-d7fd-4f4f-9f01-da22eb98b9dc",
                "",
                "<message to='bob@migrate.test' type='chat' id='off' from='alice@migrate.test/py'><body>while you were out</body></message>",
            ],
        )
        .await;
        archive(
            &db,
            room,
            "lounge",
            [
                "muc_log",
                "afc1e28e-dee8-4f10-bb36-be4260375026",
                "message<groupchat",
                "<message from='lounge@chat.migrate.test/alice' type='groupchat' to='lounge@chat.migrate.test'><body>hello room</body></message>",
            ],
        )
        .await;
        db.close().await;
    }
}

/// `--from-prosody` with Prosody's SQLite database, found in its data directory: the
/// accounts log in with their SCRAM-SHA-1 keys, then PLAIN, and find every item; the room
/// moves to Rhein's MUC service. A database that is not Prosody's, or a row that does not
/// decode, is refused with the host, user and store, and nothing is written.
#[tokio::test]
async fn prosodys_sqlite_storage_imports_and_logs_in() {
    let dir = temp_dir("prosody-sql");
    let port = free_port();
    let config = crate::cli::write_config_for(&dir, port, prosody_sqlite::HOST).await;
    let data = dir.join("prosody-data");
    std::fs::create_dir_all(&data).unwrap();
    let database = data.join("prosody.sqlite");
    let users = || run(&["user", "list", "--config", config.to_str().unwrap()], &dir, "").1;

    // Damaged input first: nothing of it is written.
    let other = prosody_sqlite::open(&dir.join("other.sqlite")).await;
    sqlx::raw_sql("CREATE TABLE accounts (name TEXT);").execute(&other).await.unwrap();
    other.close().await;
    let (ok, _, err) = import(&config, &dir.join("other.sqlite"), &["--from-prosody"]);
    assert!(!ok && err.contains("not Prosody's SQL storage: no table prosody, prosodyarchive"), "{err}");
    prosody_sqlite::create(&database).await;
    let db = prosody_sqlite::open(&database).await;
    prosody_sqlite::keyval(&db, prosody_sqlite::HOST, "bob", ["vcard", "attr", "json", "{\"xmlns\":"]).await;
    db.close().await;
    let (ok, _, err) = import(&config, &data, &["--from-prosody"]);
    assert!(!ok && err.contains("bob@migrate.test: store vcard, key \"attr\": JSON that does not parse"), "{err}");
    assert!(!err.contains("alice@"), "alice's data reads: {err}");
    assert_eq!(users(), "", "nothing written");

    prosody_sqlite::create(&database).await;
    let before = std::fs::read(&database).unwrap();
    let (ok, out, err) = import(&config, &data, &["--from-prosody", "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("would import 2 users, 1 rooms"), "{out}");
    assert!(err.contains("chat.migrate.test: its rooms move to conference.migrate.test"), "{err}");
    let (ok, out, err) = import(&config, &database, &["--from-prosody"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("imported 2 users, 1 rooms"), "{out}");
    assert_eq!(std::fs::read(&database).unwrap(), before, "Prosody's database is only read");

    let _server = serve_config(&config, port);
    let at = addr(port);
    let mut alice =
        ClientBuilder::new(at, prosody_sqlite::HOST).mechanism("SCRAM-SHA-1").login("alice", "alice's secret").await;
    alice.send("<presence/>").await;
    let shown = |e: &Element| rhein_proto::xml::to_string(e);
    let roster = check_roster_vcard_private(&mut alice, "bob@migrate.test").await;
    assert!(shown(&roster).contains("<group>Friends</group><group>Work</group>"), "{}", shown(&roster));
    let bookmarks = alice
        .iq("<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
        .await;
    assert!(shown(&bookmarks).contains("The Orchard"), "{}", shown(&bookmarks));
    let blocked = alice.iq("<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>").await;
    assert!(shown(&blocked).contains("spam@elsewhere.example"), "{}", shown(&blocked));
    alice.send("<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>").await;
    let first = alice.expect(|e| e.get_child("result", MAM).is_some()).await;
    assert!(shown(&first).contains("an archived chat"), "{}", shown(&first));
    let room = "lounge@conference.migrate.test";
    let members = alice
        .iq(&format!(
            "<iq type='get' to='{room}' id='m'><query xmlns='{MUC_ADMIN}'><item affiliation='member'/></query></iq>"
        ))
        .await;
    assert!(shown(&members).contains("bob@migrate.test"), "{}", shown(&members));

    let mut bob = ClientBuilder::new(at, prosody_sqlite::HOST).mechanism("PLAIN").login("bob", "bob's s3cret").await;
    bob.send("<presence/>").await;
    let waiting = bob.expect(|e| e.name() == "message" && e.attr("id") == Some("off")).await;
    assert!(waiting.get_child("delay", "urn:xmpp:delay").is_some());
    bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")).await;
    let _ = ClientBuilder::new(at, prosody_sqlite::HOST).mechanism("SCRAM-SHA-256").login("bob", "bob's s3cret").await;
    let _ = std::fs::remove_dir_all(dir);
}
