//! The client side of SCRAM (RFC 5802), for tests and the load generator.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// The hash of a SCRAM mechanism, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha512,
}

impl Hash {
    /// `SCRAM-SHA-1…`, `SCRAM-SHA-256…`, `SCRAM-SHA-512…`, or an XEP-0480 task `UPGR-SCRAM-…`.
    pub fn of(mechanism: &str) -> Self {
        let name = mechanism.strip_prefix("UPGR-").unwrap_or(mechanism);
        if name.starts_with("SCRAM-SHA-512") {
            Self::Sha512
        } else if name.starts_with("SCRAM-SHA-256") {
            Self::Sha256
        } else {
            Self::Sha1
        }
    }

    /// SaltedPassword (RFC 5802 §3), what an XEP-0480 SCRAM upgrade task sends.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let p = password.as_bytes();
        match self {
            Self::Sha1 => pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(p, salt, iterations).to_vec(),
            Self::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(p, salt, iterations).to_vec(),
            Self::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(p, salt, iterations).to_vec(),
        }
    }
}

/// One client-side SCRAM exchange.
pub struct ScramClient {
    hash: Hash,
    password: String,
    gs2: String,
    cb_data: Vec<u8>,
    client_first_bare: String,
    nonce: String,
    expected_server_signature: Option<Vec<u8>>,
}

fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => {
            <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap().chain_update(data).finalize().into_bytes().to_vec()
        }
        Hash::Sha256 => {
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap().chain_update(data).finalize().into_bytes().to_vec()
        }
        Hash::Sha512 => {
            <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap().chain_update(data).finalize().into_bytes().to_vec()
        }
    }
}

fn h(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

impl ScramClient {
    /// `cb`: `None` for plain SCRAM (flag `n`), `Some((type, data))` for -PLUS.
    pub fn new(mechanism: &str, user: &str, password: &str, cb: Option<(&str, Vec<u8>)>) -> Self {
        let mut b = [0u8; 12];
        rand::fill(&mut b[..]);
        let nonce = B64.encode(b);
        let (gs2, cb_data) = match cb {
            Some((kind, data)) => (format!("p={kind},,"), data),
            None => ("n,,".to_owned(), Vec::new()),
        };
        Self {
            hash: Hash::of(mechanism),
            password: password.into(),
            client_first_bare: format!("n={},r={nonce}", user.replace('=', "=3D").replace(',', "=2C")),
            gs2,
            cb_data,
            nonce,
            expected_server_signature: None,
        }
    }

    /// Sends the `y` flag instead of `n`: "I can bind, but I believe you cannot" (RFC 5802
    /// §6), as a client whose only binding the server refused does.
    pub fn claiming_binding(mut self) -> Self {
        self.gs2 = "y,,".into();
        self
    }

    pub fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2, self.client_first_bare).into_bytes()
    }

    pub fn respond(&mut self, server_first: &[u8]) -> Vec<u8> {
        self.respond_cached(server_first, &mut std::collections::HashMap::new())
    }

    /// Like [`ScramClient::respond`], reusing salted passwords by (salt, iterations): PBKDF2 is
    /// the client's dearest step, and a load generator must not be its own bottleneck.
    pub fn respond_cached(
        &mut self,
        server_first: &[u8],
        cache: &mut std::collections::HashMap<(Vec<u8>, u32), Vec<u8>>,
    ) -> Vec<u8> {
        let sf = String::from_utf8(server_first.to_vec()).unwrap();
        let mut r = "";
        let mut s = "";
        let mut i = 0u32;
        for part in sf.split(',') {
            match part.split_at(2) {
                ("r=", v) => r = v,
                ("s=", v) => s = v,
                ("i=", v) => i = v.parse().unwrap(),
                _ => {}
            }
        }
        assert!(r.starts_with(&self.nonce), "server nonce extends ours");
        let salt = B64.decode(s).unwrap();
        let (hash, password) = (self.hash, &self.password);
        let salted = cache.entry((salt.clone(), i)).or_insert_with(|| hash.salted_password(password, &salt, i)).clone();
        let mut cbind = self.gs2.as_bytes().to_vec();
        cbind.extend_from_slice(&self.cb_data);
        let without_proof = format!("c={},r={r}", B64.encode(cbind));
        let auth = format!("{},{sf},{without_proof}", self.client_first_bare);
        let client_key = hmac(self.hash, &salted, b"Client Key");
        let stored = h(self.hash, &client_key);
        let sig = hmac(self.hash, &stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        let server_key = hmac(self.hash, &salted, b"Server Key");
        self.expected_server_signature = Some(hmac(self.hash, &server_key, auth.as_bytes()));
        format!("{without_proof},p={}", B64.encode(proof)).into_bytes()
    }

    /// Whether the server proved it knows the credentials too.
    pub fn verify(&self, server_final: &[u8]) -> bool {
        let text = String::from_utf8_lossy(server_final);
        let Some(v) = text.strip_prefix("v=") else { return false };
        B64.decode(v).ok() == self.expected_server_signature
    }
}
