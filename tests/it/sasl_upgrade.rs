//! SCRAM-SHA-512 (SASL and SASL2) beside the older mechanisms: the SCRAM mechanisms offered
//! follow the key sets of the account the stream header's `from` names, so an account from
//! before SCRAM-SHA-512 (or made from SCRAM-SHA-1 keys only) is offered only what it can use.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_sasl::Credentials;
use rhein_testkit::scram::ScramClient;
use rhein_testkit::{Element, TestClient, TestServer};

const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const SASL2: &str = "urn:xmpp:sasl:2";
const UA: &str = "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>Test</software></user-agent>";

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

#[tokio::test]
async fn scram_sha512_logs_in_over_sasl_and_sasl2() {
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
    let success = c.authenticate2("SCRAM-SHA-512-PLUS", "alice", "secret", UA).await.unwrap();
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
    // client that picks it anyway is told so.
    let mut c = server.connect().open().await;
    assert!(!c.mechanisms().iter().any(|m| m.starts_with("SCRAM-SHA-512")), "{:?}", c.mechanisms());
    assert_eq!(c.authenticate("SCRAM-SHA-512", "alice", "secret").await, Err("invalid-mechanism".into()));
    // A name without an account is offered what an account with every key is.
    let c = server.connect().from("nobody@localhost").open().await;
    assert!(c.mechanisms().contains(&"SCRAM-SHA-512".to_owned()));
}

#[tokio::test]
async fn accounts_without_some_keys_are_offered_what_they_have() {
    let server = TestServer::builder().start().await;
    old_account(&server, "old", "pencil", false).await;
    let mut c = server.connect().from("old@localhost").open().await;
    assert!(!c.mechanisms().iter().any(|m| m.starts_with("SCRAM-SHA-512")), "{:?}", c.mechanisms());
    c.authenticate2("SCRAM-SHA-256-PLUS", "old", "pencil", UA).await.unwrap();

    old_account(&server, "sha1only", "pencil", true).await;
    let mut c = server.connect().from("sha1only@localhost").open().await;
    assert_eq!(c.mechanisms(), ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"]);
    // PLAIN checks its SCRAM keys (it has no argon2 hash); a wrong password fails.
    assert_eq!(c.authenticate2("PLAIN", "sha1only", "wrong", UA).await, Err("not-authorized".into()));
    c.authenticate2("PLAIN", "sha1only", "pencil", UA).await.unwrap();
    let c = server.connect().from("sha1only@localhost").mechanism("SCRAM-SHA-1").login("sha1only", "pencil").await;
    assert!(c.jid.is_some());
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
