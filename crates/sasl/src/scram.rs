//! SCRAM server side (RFC 5802, RFC 7677), with channel binding for the -PLUS variants.

use crate::credentials::Hash;
use crate::{ChannelBinding, ClientBinding, Credentials, Mechanism, SaslError, ScramKeys};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use subtle::ConstantTimeEq;

/// What the server advertised before the exchange, which XEP-0474 lets the client check
/// was not trimmed on the way: the mechanisms, and the channel-binding types when XEP-0440
/// advertised them.
#[derive(Debug, Clone, Copy)]
pub struct Advertised<'a> {
    pub mechanisms: &'a [Mechanism],
    pub binding: &'a ChannelBinding,
}

impl Advertised<'_> {
    /// XEP-0474 §3.1: the mechanisms sorted and joined by 0x1E, then 0x1F and the binding
    /// types likewise; hashed with the exchange's hash, in base64.
    fn hash(&self, hash: Hash) -> String {
        let mut mechanisms: Vec<&str> = self.mechanisms.iter().map(|m| m.name()).collect();
        mechanisms.sort_unstable();
        let mut s = mechanisms.join("\x1e");
        if self.binding.any() {
            let mut types = self.binding.types();
            types.sort_unstable();
            s.push('\x1f');
            s.push_str(&types.join("\x1e"));
        }
        B64.encode(hash.digest(s.as_bytes()))
    }
}

/// A parsed client-first-message.
#[derive(Debug, Clone)]
pub struct ClientFirst {
    mechanism: Mechanism,
    /// The authentication identity (SASL username, already unescaped).
    pub username: String,
    /// The authorization identity, if the client sent one.
    pub authzid: Option<String>,
    gs2_header: String,
    client_first_bare: String,
    client_nonce: String,
    cb_type: Option<String>,
}

impl ClientFirst {
    /// Parses `gs2-header client-first-message-bare` and checks the channel-binding flag
    /// against what this connection can offer and what the client showed of its own binding
    /// earlier on this stream (`client`, updated here): a `y` flag can mean a downgrade
    /// (RFC 5802 §6; see [`ClientBinding`] for when it does).
    pub fn parse(
        mechanism: Mechanism,
        msg: &[u8],
        cb: &ChannelBinding,
        client: &mut ClientBinding,
    ) -> Result<Self, SaslError> {
        if mechanism.scram_hash().is_none() {
            return Err(SaslError::InvalidMechanism);
        }
        let text = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let (flag, rest) = text.split_once(',').ok_or(SaslError::MalformedRequest)?;
        let (authz, bare) = rest.split_once(',').ok_or(SaslError::MalformedRequest)?;
        let cb_type = match (flag, mechanism.is_plus()) {
            ("n", false) => None,
            ("y", false) if cb.any() && *client != ClientBinding::Foreign => return Err(SaslError::NotAuthorized),
            ("y", false) => None,
            (p, true) if p.starts_with("p=") => {
                let kind = &p[2..];
                if cb.data(kind).is_none() {
                    *client = ClientBinding::Foreign;
                    return Err(SaslError::NotAuthorized);
                }
                Some(kind.to_owned())
            }
            _ => return Err(SaslError::MalformedRequest),
        };
        let authzid = match authz {
            "" => None,
            a if a.starts_with("a=") => Some(unescape_saslname(&a[2..])?),
            _ => return Err(SaslError::MalformedRequest),
        };
        let mut username = None;
        let mut nonce = None;
        for (i, attr) in bare.split(',').enumerate() {
            match (i, attr.split_at_checked(2)) {
                (0, Some(("n=", v))) => username = Some(unescape_saslname(v)?),
                (1, Some(("r=", v))) if !v.is_empty() && v.chars().all(is_printable) => nonce = Some(v.to_owned()),
                (0 | 1, _) => return Err(SaslError::MalformedRequest),
                // Mandatory extensions are not supported (RFC 5802 §5.1, "m").
                (_, Some(("m=", _))) => return Err(SaslError::MalformedRequest),
                _ => {}
            }
        }
        let (Some(username), Some(client_nonce)) = (username, nonce) else {
            return Err(SaslError::MalformedRequest);
        };
        if username.is_empty() {
            return Err(SaslError::MalformedRequest);
        }
        Ok(Self {
            mechanism,
            username,
            authzid,
            gs2_header: format!("{flag},{authz},"),
            client_first_bare: bare.to_owned(),
            client_nonce,
            cb_type,
        })
    }
}

/// The server's half of one SCRAM exchange, between server-first and server-final.
pub struct ScramServer {
    first: ClientFirst,
    nonce: String,
    server_first: String,
    keys: ScramKeys,
    /// `keys` belong to an account (not a decoy).
    known: bool,
}

impl ScramServer {
    /// Builds the server-first-message from `creds`: the account's, or for a name without one
    /// (`known == false`) the server's decoy (`ServerSecret::decoy`). A decoy exchange takes
    /// the same steps with the same shapes and fails only at the very end, so the replies do
    /// not tell which accounts exist. An account without keys for the mechanism's hash (one
    /// from before SCRAM-SHA-512, which was not offered it) is answered the same way: its
    /// salt and iteration count, random keys of the right length, and a refusal at the end.
    /// With `advertised`, the message carries XEP-0474's `h` attribute.
    pub fn start(
        first: ClientFirst,
        creds: &Credentials,
        known: bool,
        advertised: Option<Advertised<'_>>,
    ) -> (Self, Vec<u8>) {
        let mut rnd = [0u8; 18];
        rand::fill(&mut rnd[..]);
        Self::start_with_nonce(first, creds, known, &B64.encode(rnd), advertised)
    }

    fn start_with_nonce(
        first: ClientFirst,
        creds: &Credentials,
        known: bool,
        server_nonce: &str,
        advertised: Option<Advertised<'_>>,
    ) -> (Self, Vec<u8>) {
        let nonce = format!("{}{}", first.client_nonce, server_nonce);
        let hash = first.mechanism.hash();
        let (keys, known) = match creds.keys(hash) {
            Some(keys) => (keys.clone(), known),
            None => (random_keys(hash), false),
        };
        let mut server_first = format!("r={nonce},s={},i={}", B64.encode(&creds.salt), creds.iterations);
        if let Some(advertised) = advertised {
            server_first.push_str(",h=");
            server_first.push_str(&advertised.hash(first.mechanism.hash()));
        }
        let out = server_first.clone().into_bytes();
        (Self { first, nonce, server_first, keys, known }, out)
    }

    /// Verifies the client-final-message and returns the server-final-message (`v=...`).
    pub fn finish(self, msg: &[u8], cb: &ChannelBinding) -> Result<Vec<u8>, SaslError> {
        let text = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(SaslError::MalformedRequest)?;
        let proof = B64.decode(proof).map_err(|_| SaslError::IncorrectEncoding)?;
        let mut parts = without_proof.split(',');
        let c = parts.next().and_then(|p| p.strip_prefix("c=")).ok_or(SaslError::MalformedRequest)?;
        let r = parts.next().and_then(|p| p.strip_prefix("r=")).ok_or(SaslError::MalformedRequest)?;
        if r != self.nonce {
            return Err(SaslError::NotAuthorized);
        }
        let mut expected_cb = self.first.gs2_header.as_bytes().to_vec();
        if let Some(kind) = &self.first.cb_type {
            expected_cb.extend_from_slice(cb.data(kind).ok_or(SaslError::NotAuthorized)?);
        }
        let got_cb = B64.decode(c).map_err(|_| SaslError::IncorrectEncoding)?;
        if !bool::from(got_cb.ct_eq(&expected_cb)) {
            return Err(SaslError::NotAuthorized);
        }
        let keys = &self.keys;
        let auth_message = format!("{},{},{}", self.first.client_first_bare, self.server_first, without_proof);
        let hash = self.first.mechanism.hash();
        let signature = hash.hmac(&keys.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(SaslError::NotAuthorized);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        // A decoy is checked all the same (no earlier return to time), then refused.
        if !bool::from(hash.digest(&client_key).ct_eq(&keys.stored_key)) || !self.known {
            return Err(SaslError::NotAuthorized);
        }
        let server_signature = hash.hmac(&keys.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }

    /// The username this exchange authenticates.
    pub fn username(&self) -> &str {
        &self.first.username
    }

    /// The authorization identity the client asked for, if any.
    pub fn authzid(&self) -> Option<&str> {
        self.first.authzid.as_deref()
    }
}

/// Keys nobody has a password for, shaped like `hash`'s.
fn random_keys(hash: Hash) -> ScramKeys {
    let mut stored_key = vec![0u8; hash.output_len()];
    let mut server_key = vec![0u8; hash.output_len()];
    rand::fill(&mut stored_key[..]);
    rand::fill(&mut server_key[..]);
    ScramKeys { stored_key, server_key }
}

fn is_printable(c: char) -> bool {
    ('\x21'..='\x7e').contains(&c) && c != ','
}

/// Decodes `=2C` and `=3D` (RFC 5802 §5.1); any other `=` sequence is malformed.
fn unescape_saslname(s: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::MalformedRequest),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_downgrade_hash_is_the_xeps_example() {
        // XEP-0474 §3.3: SCRAM-SHA-1 and -PLUS with both binding types, hashed with SHA-1.
        let binding = ChannelBinding { tls_exporter: Some(vec![1; 32]), tls_server_end_point: Some(vec![2; 32]) };
        let advertised =
            Advertised { mechanisms: &[Mechanism::ScramSha1Plus, Mechanism::ScramSha1], binding: &binding };
        assert_eq!(advertised.hash(Hash::Sha1), "G6k/rBLDqgOhRRaCuuatSDFkJ08=");
        // Without XEP-0440's list, only the mechanisms count.
        let plain = ChannelBinding::default();
        let advertised = Advertised { mechanisms: &[Mechanism::ScramSha1], binding: &plain };
        assert_eq!(advertised.hash(Hash::Sha1), B64.encode(Hash::Sha1.digest(b"SCRAM-SHA-1")));
    }

    fn rfc_creds() -> Credentials {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let mut c = Credentials::derive_scram("pencil", salt.clone(), 4096, String::new());
        // RFC 5802's SHA-1 vector uses a different salt; derive it separately below.
        c.sha1 = Credentials::derive_scram("pencil", B64.decode("QSXCR+Q6sek8bf92").unwrap(), 4096, String::new()).sha1;
        c
    }

    #[test]
    fn rfc7677_sha256_vector() {
        let cb = ChannelBinding::default();
        let first = ClientFirst::parse(
            Mechanism::ScramSha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            &cb,
            &mut ClientBinding::default(),
        )
        .unwrap();
        let (server, sf) =
            ScramServer::start_with_nonce(first, &rfc_creds(), true, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", None);
        assert_eq!(
            String::from_utf8(sf).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let fin = server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &cb)
            .unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    /// SCRAM-SHA-512 has no RFC vector: this is RFC 7677's exchange with SHA-512, checked
    /// against an independent computation with Python's standard library (3.11):
    ///
    /// ```text
    /// salted = hashlib.pbkdf2_hmac("sha512", b"pencil", b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
    /// client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    /// stored_key = hashlib.sha512(client_key).digest()
    /// server_key = hmac.new(salted, b"Server Key", "sha512").digest()
    /// auth = b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    ///        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    /// proof = xor(client_key, hmac.new(stored_key, auth, "sha512").digest())
    /// v = hmac.new(server_key, auth, "sha512").digest()
    /// ```
    #[test]
    fn sha512_vector() {
        let cb = ChannelBinding::default();
        let creds = rfc_creds();
        let salted = Hash::Sha512.salted_password("pencil", &creds.salt, 4096);
        assert_eq!(
            B64.encode(&salted),
            "8W7+G+Z/HQlQLr1e2SYv3f+6Wjd6tPC2h+XtW6D1Boa4pK4WZHbairO5UdL6kji2OZj0VGG8M6RkgUlJzsljHQ=="
        );
        let keys = creds.sha512.as_ref().unwrap();
        assert_eq!(
            B64.encode(&keys.stored_key),
            "6AAub3065EYRmyFpM2RNwqK+eGnrkYuEWbXn19LsEmBqzu8QaCXNc1FwpnX9NhH2hK/60dzj9DoO5DvVkOHbvg=="
        );
        assert_eq!(
            B64.encode(&keys.server_key),
            "jZHbYjC1aHh0/hKbxyBuGFjDrgjgKTT1esA7awWiKcRZ0o/0b1yWEebBeSVkkCFewf91nLDfKF24mvD5nmE6rA=="
        );
        let first = ClientFirst::parse(
            Mechanism::ScramSha512,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            &cb,
            &mut ClientBinding::default(),
        )
        .unwrap();
        let (server, _) = ScramServer::start_with_nonce(first, &creds, true, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", None);
        let fin = server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==", &cb)
            .unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw=="
        );
    }

    #[test]
    fn an_account_without_the_hashs_keys_fails_only_at_the_end() {
        let cb = ChannelBinding::default();
        let mut creds = rfc_creds();
        creds.sha512 = None;
        let first = ClientFirst::parse(
            Mechanism::ScramSha512,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            &cb,
            &mut ClientBinding::default(),
        )
        .unwrap();
        let (server, sf) = ScramServer::start_with_nonce(first, &creds, true, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", None);
        assert!(String::from_utf8(sf).unwrap().ends_with(",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"), "its own salt");
        let fin = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==";
        assert_eq!(server.finish(fin, &cb).err(), Some(SaslError::NotAuthorized));
        assert_eq!(
            ClientFirst::parse(Mechanism::Plain, b"n,,n=user,r=x", &cb, &mut ClientBinding::default()).err(),
            Some(SaslError::InvalidMechanism)
        );
    }

    #[test]
    fn rfc5802_sha1_vector() {
        let cb = ChannelBinding::default();
        let first = ClientFirst::parse(
            Mechanism::ScramSha1,
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            &cb,
            &mut ClientBinding::default(),
        )
        .unwrap();
        let mut creds = rfc_creds();
        creds.salt = B64.decode("QSXCR+Q6sek8bf92").unwrap();
        let (server, _) = ScramServer::start_with_nonce(first, &creds, true, "3rfcNHYJY1ZVvWVs7j", None);
        let fin = server
            .finish(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &cb)
            .unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    }

    #[test]
    fn a_decoy_fails_only_at_the_end_even_with_the_right_proof() {
        let cb = ChannelBinding::default();
        let creds = rfc_creds();
        let first = ClientFirst::parse(
            Mechanism::ScramSha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            &cb,
            &mut ClientBinding::default(),
        )
        .unwrap();
        let (_, known_first) = ScramServer::start(first.clone(), &creds, true, None);
        let (decoy, decoy_first) = ScramServer::start(first, &creds, false, None);
        let shape = |m: &[u8]| String::from_utf8_lossy(m).split(',').map(|a| a[..2].to_owned()).collect::<Vec<_>>();
        assert_eq!(shape(&known_first), shape(&decoy_first));
        assert_eq!(known_first.len(), decoy_first.len());
        // The RFC 7677 proof fits these keys, but a decoy never authenticates anybody.
        let (decoy, _) =
            ScramServer::start_with_nonce(decoy.first, &creds, false, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", None);
        let fin = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(decoy.finish(fin, &cb).err(), Some(SaslError::NotAuthorized));
    }

    #[test]
    fn a_client_without_our_binding_types_may_say_y_once_it_showed_that() {
        let tls = ChannelBinding { tls_exporter: Some(vec![1; 32]), tls_server_end_point: Some(vec![2; 32]) };
        let parse = |mech, msg: &[u8], client: &mut ClientBinding| ClientFirst::parse(mech, msg, &tls, client).err();
        // A tls-unique-only client (slixmpp 1.8): -PLUS with its binding, then plain with `y`.
        let mut client = ClientBinding::default();
        assert_eq!(
            parse(Mechanism::ScramSha256Plus, b"p=tls-unique,,n=u,r=x", &mut client),
            Some(SaslError::NotAuthorized)
        );
        assert_eq!(client, ClientBinding::Foreign);
        assert_eq!(parse(Mechanism::ScramSha256, b"y,,n=u,r=x", &mut client), None);
        // `y` from a client that showed nothing is a downgrade, and so is `y` from one that
        // bound with a type we have (and failed for another reason).
        assert_eq!(
            parse(Mechanism::ScramSha256, b"y,,n=u,r=x", &mut ClientBinding::default()),
            Some(SaslError::NotAuthorized)
        );
        let mut ours = ClientBinding::default();
        assert_eq!(parse(Mechanism::ScramSha256Plus, b"p=tls-exporter,,n=u,r=x", &mut ours), None);
        assert_eq!(parse(Mechanism::ScramSha256, b"y,,n=u,r=x", &mut ours), Some(SaslError::NotAuthorized));
        // The accepted `y` exchange binds its flag: the client-final's c= must carry it.
        let mut client = ClientBinding::Foreign;
        let first =
            ClientFirst::parse(Mechanism::ScramSha256, b"y,,n=user,r=rOprNGfwEbeRWgbNEkqO", &tls, &mut client).unwrap();
        let (server, _) =
            ScramServer::start_with_nonce(first, &rfc_creds(), true, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", None);
        let biws = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(server.finish(biws, &tls).err(), Some(SaslError::NotAuthorized), "c= says n, the header said y");
    }

    #[test]
    fn wrong_proof_is_not_authorized() {
        let cb = ChannelBinding::default();
        let first =
            ClientFirst::parse(Mechanism::ScramSha256, b"n,,n=user,r=abc", &cb, &mut ClientBinding::default()).unwrap();
        let (server, _) = ScramServer::start_with_nonce(first, &rfc_creds(), true, "def", None);
        let bad = format!("c=biws,r=abcdef,p={}", B64.encode([0u8; 32]));
        assert_eq!(server.finish(bad.as_bytes(), &cb).err(), Some(SaslError::NotAuthorized));
    }

    #[test]
    fn downgrade_and_binding_checks() {
        let tls = ChannelBinding { tls_exporter: Some(vec![1; 32]), tls_server_end_point: None };
        assert_eq!(
            ClientFirst::parse(Mechanism::ScramSha256, b"y,,n=u,r=x", &tls, &mut ClientBinding::default()).err(),
            Some(SaslError::NotAuthorized)
        );
        assert!(
            ClientFirst::parse(
                Mechanism::ScramSha256,
                b"y,,n=u,r=x",
                &ChannelBinding::default(),
                &mut ClientBinding::default()
            )
            .is_ok()
        );
        assert_eq!(
            ClientFirst::parse(
                Mechanism::ScramSha256Plus,
                b"p=tls-unique,,n=u,r=x",
                &tls,
                &mut ClientBinding::default()
            )
            .err(),
            Some(SaslError::NotAuthorized)
        );
        assert!(
            ClientFirst::parse(
                Mechanism::ScramSha256Plus,
                b"p=tls-exporter,,n=u,r=x",
                &tls,
                &mut ClientBinding::default()
            )
            .is_ok()
        );
        assert_eq!(
            ClientFirst::parse(Mechanism::ScramSha256, b"n,,n=u=2x,r=x", &tls, &mut ClientBinding::default()).err(),
            Some(SaslError::MalformedRequest)
        );
        let f = ClientFirst::parse(Mechanism::ScramSha1, b"n,a=a=3Db,n=u=2Cv,r=x", &tls, &mut ClientBinding::default())
            .unwrap();
        assert_eq!((f.username.as_str(), f.authzid.as_deref()), ("u,v", Some("a=b")));
    }
}
