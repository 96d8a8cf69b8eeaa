//! SCRAM-SHA-512 (SASL and SASL2), and XEP-0480 SASL upgrade tasks: an account from before
//! SCRAM-SHA-512 (or made from SCRAM-SHA-1 keys only) logs in with what it has, asks for the
//! upgrade, and logs in with SCRAM-SHA-512 from then on. The mechanisms and tasks offered
//! follow the account the stream header's `from` names.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_sasl::Credentials;
use rhein_testkit::scram::ScramClient;
use rhein_testkit::{Element, TestClient, TestServer, UpgradeAnswer};

const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const SASL2: &str = "urn:xmpp:sasl:2";
const UPGRADE: &str = "urn:xmpp:sasl:upgrade:0";
const UA: &str = "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>Test</software></user-agent>";
const UPGR_512: &str = "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-512</upgrade>";
const UPGR_256: &str = "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade>";

/// The upgrade tasks the SASL2 feature offers.
fn upgrades_offered(c: &TestClient) -> Vec<String> {
    let auth = c.features.as_ref().unwrap().get_child("authentication", SASL2).expect("SASL2 offered");
    auth.children().filter(|e| e.is("upgrade", UPGRADE)).map(Element::text).collect()
}

/// SASL2 mechanisms, as offered.
fn sasl2_mechanisms(c: &TestClient) -> Vec<String> {
    let auth = c.features.as_ref().unwrap().get_child("authentication", SASL2).expect("SASL2 offered");
    auth.children().filter(|e| e.name() == "mechanism").map(Element::text).collect()
}

/// An account created before SCRAM-SHA-512 (`sha512` NULL), or with `sha1_only`, one made
/// from another server's SCRAM-SHA-1 keys (no argon2 hash either).
async fn old_account(server: &TestServer, name: &str, password: &str, sha1_only: bool) -> Credentials {
    let mut creds = Credentials::derive(password);
    creds.sha512 = None;
    if sha1_only {
        creds.sha256 = None;
        creds.argon2 = String::new();
    }
    assert!(server.running().db.accounts().create("localhost", name, &creds).await.unwrap());
    creds
}

async fn stored(server: &TestServer, name: &str) -> Credentials {
    server.running().db.accounts().credentials("localhost", name).await.unwrap().expect("account")
}

/// Runs a SASL2 SCRAM-SHA-256 login by hand up to the server's `<continue/>`; the tasks it
/// offers.
async fn up_to_continue(c: &mut TestClient, user: &str, password: &str, inline: &str) -> Vec<String> {
    let mut client = ScramClient::new("SCRAM-SHA-256", user, password, None);
    let first = B64.encode(client.first());
    c.send(&format!(
        "<authenticate xmlns='{SASL2}' mechanism='SCRAM-SHA-256'><initial-response>{first}</initial-response>{inline}</authenticate>"
    ))
    .await;
    let challenge = c.next().await;
    let response = client.respond(&B64.decode(challenge.text().trim()).unwrap());
    c.send(&format!("<response xmlns='{SASL2}'>{}</response>", B64.encode(response))).await;
    let offer = c.next().await;
    assert!(offer.is("continue", SASL2), "{offer:?}");
    let server_final = offer.get_child("additional-data", SASL2).expect("the server-final in <continue/>").text();
    assert!(client.verify(&B64.decode(server_final.trim()).unwrap()));
    let tasks = offer.get_child("tasks", SASL2).expect("<tasks/>");
    tasks.children().map(Element::text).collect()
}

#[tokio::test]
async fn scram_sha512_logs_in_over_sasl_and_sasl2_and_no_upgrade_is_offered_to_an_account_that_has_it() {
    let server = TestServer::builder().user("alice", "secret").start().await;
    let mut c = server.connect().from("alice@localhost").open().await;
    assert_eq!(
        c.mechanisms(),
        [
            "SCRAM-SHA-512-PLUS",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-512",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "PLAIN"
        ]
    );
    assert_eq!(sasl2_mechanisms(&c), c.mechanisms());
    assert_eq!(upgrades_offered(&c), Vec::<String>::new(), "alice lacks nothing");
    // Asked for anyway: nothing to do, straight to <success/>.
    let success = c.authenticate2("SCRAM-SHA-512-PLUS", "alice", "secret", &format!("{UA}{UPGR_512}")).await.unwrap();
    assert!(c.tasks.is_empty());
    assert_eq!(success.get_child("authorization-identifier", SASL2).unwrap().text(), "alice@localhost");

    let mut c = server.connect().from("alice@localhost").open().await;
    assert_eq!(c.authenticate2("SCRAM-SHA-512", "alice", "wrong", UA).await, Err("not-authorized".into()));
    c.authenticate2("SCRAM-SHA-512", "alice", "secret", UA).await.unwrap();
    for mech in ["SCRAM-SHA-512-PLUS", "SCRAM-SHA-512"] {
        let c = server.connect().from("alice@localhost").mechanism(mech).login("alice", "secret").await;
        assert!(c.jid.as_deref().unwrap().starts_with("alice@localhost/"), "{mech}");
    }
    let mut c = server.connect().from("alice@localhost").open().await;
    c.authenticate_with_binding("SCRAM-SHA-512-PLUS", "alice", "secret", "tls-server-end-point").await.unwrap();

    // Without `from`, SCRAM-SHA-512 is not offered (an older account would fail it), and a
    // client that picks it anyway is told so; both upgrades are offered.
    let mut c = server.connect().open().await;
    assert!(!c.mechanisms().iter().any(|m| m.starts_with("SCRAM-SHA-512")), "{:?}", c.mechanisms());
    assert_eq!(upgrades_offered(&c), ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"]);
    assert_eq!(c.authenticate("SCRAM-SHA-512", "alice", "secret").await, Err("invalid-mechanism".into()));
    // A name without an account is offered what an account with every key is.
    let c = server.connect().from("nobody@localhost").open().await;
    assert!(c.mechanisms().contains(&"SCRAM-SHA-512".to_owned()));
    assert_eq!(upgrades_offered(&c), Vec::<String>::new());
}

#[tokio::test]
async fn an_old_account_upgrades_to_scram_sha512_at_a_sasl2_login_then_logs_in_with_it() {
    let server = TestServer::builder().start().await;
    let before = old_account(&server, "old", "pencil", false).await;
    let mut c = server.connect().from("old@localhost").open().await;
    assert!(!c.mechanisms().iter().any(|m| m.starts_with("SCRAM-SHA-512")), "{:?}", c.mechanisms());
    assert_eq!(upgrades_offered(&c), ["UPGR-SCRAM-SHA-512"]);
    // It asks for both; SHA-256 keys it has, so only SHA-512's task runs.
    let inline = format!("{UA}{UPGR_256}{UPGR_512}");
    let success = c.authenticate2("SCRAM-SHA-256-PLUS", "old", "pencil", &inline).await.unwrap();
    assert_eq!(c.tasks, ["UPGR-SCRAM-SHA-512"]);
    assert_eq!(success.get_child("authorization-identifier", SASL2).unwrap().text(), "old@localhost");
    assert!(success.get_child("additional-data", SASL2).is_none(), "the server-final went in <continue/>");
    assert!(c.bind(None).await.starts_with("old@localhost/"), "authenticated");

    // The keys are those the password derives with the account's salt, beside the old ones.
    let after = stored(&server, "old").await;
    let expected = Credentials::derive_scram("pencil", before.salt.clone(), before.iterations, String::new());
    assert_eq!(after.sha512, expected.sha512);
    assert_eq!((&after.sha1, &after.sha256, &after.argon2), (&before.sha1, &before.sha256, &before.argon2));

    let mut c = server.connect().from("old@localhost").open().await;
    assert!(c.mechanisms().contains(&"SCRAM-SHA-512-PLUS".to_owned()));
    assert_eq!(upgrades_offered(&c), Vec::<String>::new(), "nothing left to upgrade");
    c.authenticate2("SCRAM-SHA-512-PLUS", "old", "pencil", UA).await.unwrap();
    assert!(c.tasks.is_empty());
    let c = server.connect().from("old@localhost").mechanism("SCRAM-SHA-512").login("old", "pencil").await;
    assert!(c.jid.is_some());
}

#[tokio::test]
async fn a_malformed_upgrade_hash_fails_the_login_and_stores_nothing() {
    let server = TestServer::builder().start().await;
    old_account(&server, "old", "pencil", false).await;
    let inline = format!("{UA}{UPGR_512}");
    let answers: [(UpgradeAnswer<'_>, &str); 3] = [
        (&|_, _, _| B64.encode([7u8; 32]), "malformed-request"),
        (&|_, _, _| "not base64!".to_owned(), "incorrect-encoding"),
        (&|_, _, _| String::new(), "malformed-request"),
    ];
    for (answer, condition) in answers {
        let mut c = server.connect().from("old@localhost").open().await;
        let result = c.authenticate2_answering("SCRAM-SHA-256", "old", "pencil", &inline, answer).await;
        assert_eq!(result, Err(condition.to_owned()));
        assert_eq!(c.tasks, ["UPGR-SCRAM-SHA-512"]);
        assert_eq!(stored(&server, "old").await.sha512, None, "nothing stored");
        // No <authenticate/> may follow a <continue/> (XEP-0388 §4.8): the stream ends.
        assert_eq!(c.expect_stream_error().await, "not-authorized");
    }

    // The client's side of a task that goes astray, each failed with a precise condition and
    // text; no stream carries on after it, and nothing is stored.
    let upgrade = "urn:xmpp:scram-upgrade:0";
    let wrong_length =
        format!("<task-data xmlns='{SASL2}'><hash xmlns='{upgrade}'>{}</hash></task-data>", B64.encode([7u8; 32]));
    let astray = [
        (
            None,
            format!("<next xmlns='{SASL2}' task='UPGR-SCRAM-SHA-256'/>"),
            "invalid-mechanism",
            Some("not the task offered"),
        ),
        (None, format!("<next xmlns='{SASL2}'/>"), "invalid-mechanism", Some("not the task offered")),
        (
            None,
            format!("<response xmlns='{SASL2}'>=</response>"),
            "malformed-request",
            Some("expected <next/> for the upgrade task"),
        ),
        (
            Some("UPGR-SCRAM-SHA-512"),
            wrong_length,
            "malformed-request",
            Some("the hash is not a SaltedPassword of this task's hash"),
        ),
        (
            Some("UPGR-SCRAM-SHA-512"),
            format!("<task-data xmlns='{SASL2}'><salt xmlns='{upgrade}' iterations='4096'>AAAA</salt></task-data>"),
            "malformed-request",
            Some("expected <task-data/> with the SCRAM upgrade hash"),
        ),
        (
            Some("UPGR-SCRAM-SHA-512"),
            format!("<next xmlns='{SASL2}' task='UPGR-SCRAM-SHA-512'/>"),
            "malformed-request",
            Some("expected <task-data/> with the SCRAM upgrade hash"),
        ),
        (Some("UPGR-SCRAM-SHA-512"), format!("<abort xmlns='{SASL2}'/>"), "aborted", None),
    ];
    for (next, answer, condition, text) in astray {
        let mut c = server.connect().from("old@localhost").open().await;
        let offered = up_to_continue(&mut c, "old", "pencil", &inline).await;
        assert_eq!(offered, ["UPGR-SCRAM-SHA-512"]);
        if let Some(task) = next {
            c.send(&format!("<next xmlns='{SASL2}' task='{task}'/>")).await;
            let data = c.next().await;
            let salt = data.get_child("salt", upgrade).expect("the task's salt");
            assert_eq!(salt.attr("iterations"), Some("4096"));
        }
        c.send(&answer).await;
        let failure = c.next().await;
        assert!(failure.is("failure", SASL2), "{answer}: {failure:?}");
        assert!(failure.get_child(condition, SASL).is_some(), "{answer}: {failure:?}");
        assert_eq!(failure.get_child("text", SASL2).map(Element::text).as_deref(), text, "{answer}");
        assert_eq!(c.expect_stream_error().await, "not-authorized");
        assert_eq!(stored(&server, "old").await.sha512, None, "{answer}");
    }

    // A new stream logs in again, and this time the upgrade goes through.
    let mut c = server.connect().from("old@localhost").open().await;
    c.authenticate2("SCRAM-SHA-256", "old", "pencil", &inline).await.unwrap();
    assert!(stored(&server, "old").await.sha512.is_some());
}

#[tokio::test]
async fn an_account_with_scram_sha1_keys_only_upgrades_to_both() {
    let server = TestServer::builder().start().await;
    old_account(&server, "sha1only", "pencil", true).await;
    let mut c = server.connect().from("sha1only@localhost").open().await;
    assert_eq!(c.mechanisms(), ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"]);
    assert_eq!(upgrades_offered(&c), ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"]);
    // PLAIN checks its SCRAM keys (it has no argon2 hash); a wrong password fails.
    assert_eq!(c.authenticate2("PLAIN", "sha1only", "wrong", UA).await, Err("not-authorized".into()));
    c.authenticate2("SCRAM-SHA-1-PLUS", "sha1only", "pencil", &format!("{UA}{UPGR_512}{UPGR_256}")).await.unwrap();
    assert_eq!(c.tasks, ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"], "in the server's order");
    let creds = stored(&server, "sha1only").await;
    assert!(creds.sha256.is_some() && creds.sha512.is_some());
    for mech in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "PLAIN"] {
        let c = server.connect().from("sha1only@localhost").mechanism(mech).login("sha1only", "pencil").await;
        assert!(c.jid.is_some(), "{mech}");
    }
}

/// A FAST token proves no password: a token login that asks for an upgrade gets `<success/>`
/// without the task, and the keys wait for a password login.
#[tokio::test]
async fn a_token_login_performs_no_upgrade() {
    let server = TestServer::builder().start().await;
    old_account(&server, "old", "pencil", false).await;
    let expiry = rhein_storage::now_ms() + 24 * 3_600_000;
    let ua_id = "d4565fa7-4d72-4749-b3d3-740edbf87770";
    let tokens = server.running().db.fast_tokens();
    tokens.issue("old@localhost", ua_id, "HT-SHA-256-EXPR", "a-token", expiry).await.unwrap();
    let mut c = server.connect().from("old@localhost").open().await;
    assert_eq!(upgrades_offered(&c), ["UPGR-SCRAM-SHA-512"]);
    let answer: UpgradeAnswer<'_> = &|_, _, _| panic!("no task after a token login");
    let inline = format!("{UA}{UPGR_512}");
    c.authenticate2_answering("HT-SHA-256-EXPR", "old", "a-token", &inline, answer).await.unwrap();
    assert!(c.tasks.is_empty());
    assert_eq!(stored(&server, "old").await.sha512, None);
}

/// XEP-0474: the hash in the server-first-message covers the mechanisms this stream offered,
/// SCRAM-SHA-512 among them when the `from` account has its keys, and is made with the
/// exchange's hash (SHA-512 for SCRAM-SHA-512).
#[tokio::test]
async fn the_downgrade_protection_hash_covers_scram_sha512() {
    use sha2::Digest;
    let server = TestServer::builder().user("alice", "secret").start().await;
    old_account(&server, "old", "pencil", false).await;
    let cases = [
        ("alice", "SCRAM-SHA-512", true),
        ("alice", "SCRAM-SHA-512-PLUS", true),
        ("alice", "SCRAM-SHA-256", true),
        ("old", "SCRAM-SHA-256", false),
    ];
    for (user, mechanism, lists_512) in cases {
        let digest = |s: &[u8]| match mechanism.starts_with("SCRAM-SHA-512") {
            true => sha2::Sha512::digest(s).to_vec(),
            false => sha2::Sha256::digest(s).to_vec(),
        };
        let mut c = server.connect().from(&format!("{user}@localhost")).open().await;
        let mut mechanisms = c.mechanisms();
        assert_eq!(mechanisms.contains(&"SCRAM-SHA-512".to_owned()), lists_512, "{user}: {mechanisms:?}");
        assert_eq!(mechanisms.contains(&"SCRAM-SHA-512-PLUS".to_owned()), lists_512, "{user}: {mechanisms:?}");
        mechanisms.sort();
        let mut advertised = mechanisms.join("\x1e");
        let features = c.features.clone().unwrap();
        let cb = features.get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0").expect("XEP-0440 list");
        let mut types: Vec<String> = cb.children().filter_map(|t| t.attr("type")).map(str::to_owned).collect();
        types.sort();
        advertised.push('\x1f');
        advertised.push_str(&types.join("\x1e"));
        let binding = mechanism.ends_with("-PLUS").then(|| ("tls-exporter", c.channel_binding().tls_exporter.unwrap()));
        let client = ScramClient::new(mechanism, user, "secret", binding);
        let auth = format!("<auth xmlns='{SASL}' mechanism='{mechanism}'>{}</auth>", B64.encode(client.first()));
        c.send(&auth).await;
        let challenge = String::from_utf8(B64.decode(c.next().await.text().trim()).unwrap()).unwrap();
        let h = challenge.split(',').find_map(|a| a.strip_prefix("h=")).expect("an h attribute");
        assert_eq!(h, B64.encode(digest(advertised.as_bytes())), "{user} {mechanism}: {advertised:?}");
    }
}
