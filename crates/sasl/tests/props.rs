//! Property tests of what SASL parses from a peer: SCRAM's client-first and client-final
//! messages, PLAIN, the hashed-token (FAST) initial response and XEP-0480 upgrade hashes.
//! Arbitrary bytes never panic; well-formed messages parse back to their parts, and a correct
//! SCRAM exchange succeeds while any change to its final message fails. 256 cases a property
//! (proptest's default); `PROPTEST_CASES` raises it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use rhein_sasl::{
    ChannelBinding, ClientBinding, ClientFirst, Credentials, HtMechanism, Mechanism, PlainRequest, SaslError,
    ScramHash, ScramServer, Upgrade,
};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

// The two calls into the SCRAM server, in one place.

fn parse_first(mechanism: Mechanism, msg: &[u8], cb: &ChannelBinding) -> Result<ClientFirst, SaslError> {
    ClientFirst::parse(mechanism, msg, cb, &mut ClientBinding::default())
}

fn start(first: ClientFirst, creds: &Credentials) -> (ScramServer, Vec<u8>) {
    ScramServer::start(first, creds, true, None)
}

/// A TLS connection offering both binding types, and a plain one.
fn bindings() -> [ChannelBinding; 2] {
    [
        ChannelBinding { tls_exporter: Some(vec![1; 32]), tls_server_end_point: Some(vec![2; 32]) },
        ChannelBinding::default(),
    ]
}

/// Cheap credentials: one PBKDF2 iteration is as good as 4096 for parsing.
fn credentials(password: &str) -> Credentials {
    Credentials::derive_scram(password, b"salt-of-the-earth".to_vec(), 1, String::new())
}

// ---- The client side, as RFC 5802 §3 defines it ----

fn hmac(hash: ScramHash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => {
            <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap().chain_update(data).finalize().into_bytes().to_vec()
        }
        ScramHash::Sha256 => {
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap().chain_update(data).finalize().into_bytes().to_vec()
        }
        ScramHash::Sha512 => {
            <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap().chain_update(data).finalize().into_bytes().to_vec()
        }
    }
}

fn digest(hash: ScramHash, data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => Sha1::digest(data).to_vec(),
        ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        ScramHash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

fn salted(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let p = password.as_bytes();
    match hash {
        ScramHash::Sha1 => pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(p, salt, iterations).to_vec(),
        ScramHash::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(p, salt, iterations).to_vec(),
        ScramHash::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(p, salt, iterations).to_vec(),
    }
}

/// `saslname` escaping (RFC 5802 §5.1).
fn escape(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// A client-first message's parts.
#[derive(Debug, Clone)]
struct First {
    mechanism: Mechanism,
    /// `n`, `y`, or `p=<type>`.
    flag: String,
    authzid: Option<String>,
    username: String,
    nonce: String,
    /// Optional extensions after the nonce (never the mandatory `m=`).
    extensions: Vec<String>,
}

impl First {
    fn gs2_header(&self) -> String {
        format!("{},{},", self.flag, self.authzid.as_deref().map(|a| format!("a={}", escape(a))).unwrap_or_default())
    }

    fn bare(&self) -> String {
        let mut bare = format!("n={},r={}", escape(&self.username), self.nonce);
        for e in &self.extensions {
            bare.push(',');
            bare.push_str(e);
        }
        bare
    }

    fn message(&self) -> String {
        format!("{}{}", self.gs2_header(), self.bare())
    }

    /// The client-final message answering `server_first`, with the proof `password` makes.
    fn last(&self, password: &str, server_first: &str, cb: &ChannelBinding) -> String {
        let hash = self.mechanism.scram_hash().expect("a SCRAM mechanism");
        let field = |name: &str| {
            server_first.split(',').find_map(|a| a.strip_prefix(name)).expect("server-first has r, s and i")
        };
        let (nonce, salt, iterations) = (field("r="), B64.decode(field("s=")).unwrap(), field("i=").parse().unwrap());
        let mut binding = self.gs2_header().into_bytes();
        if let Some(kind) = self.flag.strip_prefix("p=") {
            binding.extend(match kind {
                "tls-exporter" => cb.tls_exporter.clone().unwrap(),
                _ => cb.tls_server_end_point.clone().unwrap(),
            });
        }
        let without_proof = format!("c={},r={nonce}", B64.encode(binding));
        let salted = salted(hash, password, &salt, iterations);
        let client_key = hmac(hash, &salted, b"Client Key");
        let auth_message = format!("{},{server_first},{without_proof}", self.bare());
        let signature = hmac(hash, &digest(hash, &client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }
}

fn mechanism() -> impl Strategy<Value = Mechanism> {
    prop::sample::select(Mechanism::ALL.iter().copied().filter(|m| *m != Mechanism::Plain).collect::<Vec<_>>())
}

/// A well-formed client-first message for a connection with both bindings: -PLUS binds to
/// one of them, plain SCRAM says `n`.
fn first() -> impl Strategy<Value = First> {
    let name = any::<String>().prop_filter("a name", |n| !n.is_empty());
    let nonce = "[!-+\\--~]{1,32}";
    let extension = "[a-ln-z]=[!-+\\--~]{0,8}";
    let plus_binding = prop::sample::select(vec!["tls-exporter", "tls-server-end-point"]);
    (mechanism(), plus_binding, prop::option::of(name.clone()), name, nonce, prop::collection::vec(extension, 0..3))
        .prop_map(|(mechanism, binding, authzid, username, nonce, extensions)| First {
            flag: if mechanism.is_plus() { format!("p={binding}") } else { "n".to_owned() },
            mechanism,
            authzid,
            username,
            nonce,
            extensions,
        })
}

proptest! {
    /// Any bytes as a client-first message, then any bytes as the client-final one: an
    /// answer, never a panic.
    #[test]
    fn scram_takes_any_bytes(first in prop::collection::vec(any::<u8>(), 0..96), last in prop::collection::vec(any::<u8>(), 0..128), mechanism in mechanism()) {
        for cb in bindings() {
            if let Ok(parsed) = parse_first(mechanism, &first, &cb) {
                let (server, _) = start(parsed, &credentials("pencil"));
                prop_assert!(server.finish(&last, &cb).is_err());
            }
        }
    }

    /// Text shaped like SCRAM's, with its separators and prefixes in any order.
    #[test]
    fn scram_takes_any_attribute_soup(parts in prop::collection::vec(prop_oneof![
        Just("n".to_owned()), Just("y".to_owned()), Just("p=tls-exporter".to_owned()), Just("p=".to_owned()),
        Just("a=".to_owned()), Just("n=".to_owned()), Just("r=".to_owned()), Just("m=".to_owned()),
        Just("=2C".to_owned()), Just("=3D".to_owned()), Just("=".to_owned()), Just("=2".to_owned()),
        Just("c=biws".to_owned()), Just("p=AAAA".to_owned()), Just("\u{e9}".to_owned()),
        "[ -~]{0,4}",
    ], 0..12), seps in prop::collection::vec(prop::bool::ANY, 12), mechanism in mechanism()) {
        let msg: String = parts.iter().zip(seps).map(|(p, comma)| if comma { format!("{p},") } else { p.clone() }).collect();
        for cb in bindings() {
            if let Ok(parsed) = parse_first(mechanism, msg.as_bytes(), &cb) {
                let (server, server_first) = start(parsed, &credentials("pencil"));
                let nonce = String::from_utf8(server_first).unwrap();
                let last = msg.replace("r=", &format!("{},", nonce.split(',').next().unwrap()));
                let _ = server.finish(last.as_bytes(), &cb);
            }
        }
    }

    /// A well-formed client-first message parses back to its parts, and the server's
    /// nonce extends the client's.
    #[test]
    fn client_first_parses_back(first in first()) {
        let [tls, _] = bindings();
        let parsed = parse_first(first.mechanism, first.message().as_bytes(), &tls)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", first.message())))?;
        prop_assert_eq!(&parsed.username, &first.username);
        prop_assert_eq!(&parsed.authzid, &first.authzid);
        let (_, server_first) = start(parsed, &credentials("pencil"));
        let server_first = String::from_utf8(server_first).unwrap();
        let prefix = format!("r={}", first.nonce);
        prop_assert!(server_first.starts_with(&prefix), "{}", server_first);
    }

    /// The whole exchange: the right password succeeds with the server's signature; a
    /// wrong one, or any byte of the final message changed, fails without a panic.
    #[test]
    fn an_exchange_succeeds_exactly_with_the_right_proof(first in first(), password in "[ -~]{1,12}", flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let [tls, _] = bindings();
        let creds = credentials(&password);
        let run = |last: &dyn Fn(&str) -> String| {
            let parsed = parse_first(first.mechanism, first.message().as_bytes(), &tls).unwrap();
            let (server, server_first) = start(parsed, &creds);
            let last = last(&String::from_utf8(server_first).unwrap());
            server.finish(last.as_bytes(), &tls)
        };
        let verdict = run(&|sf: &str| first.last(&password, sf, &tls));
        let signature = verdict.map_err(|e| TestCaseError::fail(format!("{}: {e}", first.message())))?;
        prop_assert!(signature.starts_with(b"v="));
        let wrong = format!("{password}!");
        prop_assert!(run(&|sf: &str| first.last(&wrong, sf, &tls)).is_err());
        let changed = run(&|sf: &str| {
            let mut last = first.last(&password, sf, &tls).into_bytes();
            let at = flip.index(last.len());
            last[at] = if last[at] == byte { byte.wrapping_add(1) } else { byte };
            String::from_utf8_lossy(&last).into_owned()
        });
        prop_assert!(changed.is_err());
    }

    /// XEP-0480: any text as an upgrade's `<hash/>` gets an answer, and changes the
    /// credentials only when it is base64 of a SaltedPassword's length.
    #[test]
    fn an_upgrade_hash_changes_credentials_only_when_it_reads(text in prop_oneof![
        "\\PC{0,100}",
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| B64.encode(b)),
        prop::collection::vec(any::<u8>(), 64).prop_map(|b| format!(" \n{}\n", B64.encode(b))),
    ], upgrade in prop::sample::select(Upgrade::ALL.to_vec())) {
        let mut creds = credentials("pencil");
        (creds.sha256, creds.sha512) = (None, None);
        let before = creds.clone();
        match upgrade.apply(&mut creds, &text) {
            Ok(keys) => {
                let decoded = B64.decode(text.trim()).unwrap();
                prop_assert_eq!(decoded.len(), upgrade.hash().output_len());
                prop_assert_eq!(creds.keys(upgrade.hash()), Some(&keys));
                prop_assert_eq!(Upgrade::missing(&creds).len(), 1);
            }
            Err(_) => prop_assert_eq!(creds, before),
        }
    }

    /// An account with SCRAM-SHA-1 keys only, upgraded with the SaltedPassword a client
    /// computes from the salt and iteration count it was sent, logs in with every mechanism.
    #[test]
    fn upgraded_keys_log_in(first in first(), password in "[ -~]{1,12}") {
        let [tls, _] = bindings();
        let mut creds = credentials(&password);
        (creds.sha256, creds.sha512) = (None, None);
        for upgrade in Upgrade::missing(&creds) {
            let hash = B64.encode(salted(upgrade.hash(), &password, &creds.salt, creds.iterations));
            upgrade.apply(&mut creds, &hash).unwrap();
        }
        prop_assert_eq!(&creds, &credentials(&password));
        let parsed = parse_first(first.mechanism, first.message().as_bytes(), &tls).unwrap();
        let (server, server_first) = start(parsed, &creds);
        let last = first.last(&password, &String::from_utf8(server_first).unwrap(), &tls);
        prop_assert!(server.finish(last.as_bytes(), &tls).is_ok());
    }

    /// PLAIN: any bytes get an answer; `authzid NUL username NUL password` parses back.
    #[test]
    fn plain_parses_back(bytes in prop::collection::vec(any::<u8>(), 0..64), authzid in "[^\u{0}]{0,8}", username in "[^\u{0}]{1,8}", password in "[^\u{0}]{1,8}") {
        let _ = PlainRequest::parse(&bytes);
        let parsed = PlainRequest::parse(format!("{authzid}\0{username}\0{password}").as_bytes());
        let expected = PlainRequest { authzid: (!authzid.is_empty()).then_some(authzid), username, password };
        prop_assert_eq!(parsed, Ok(expected));
    }

    /// Hashed tokens (XEP-0484 FAST): any bytes get an answer; what a client sends parses
    /// back to its user and proof, and verifies with the token and channel it was made for.
    #[test]
    fn hashed_token_initial_response_parses_back(bytes in prop::collection::vec(any::<u8>(), 0..64), user in "[^\u{0}]{1,12}", token in prop::collection::vec(any::<u8>(), 1..32)) {
        let _ = HtMechanism::parse(&bytes);
        let [tls, _] = bindings();
        for mechanism in HtMechanism::ALL {
            let msg = mechanism.client_initial(&user, &token, &tls).unwrap();
            let (parsed_user, proof) = HtMechanism::parse(&msg).unwrap();
            prop_assert_eq!(&parsed_user, &user);
            prop_assert!(mechanism.verify(&token, &proof, &tls).is_some());
        }
    }
}
