//! What is stored per account: SCRAM keys for both hashes (one salt) and an argon2id hash.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// PBKDF2 iterations for new credentials (RFC 7677 recommends at least 4096).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// StoredKey and ServerKey for one hash function (RFC 5802 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// Everything needed to verify a password, without the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub sha1: ScramKeys,
    pub sha256: ScramKeys,
    /// PHC string of an argon2id hash, for PLAIN and web logins.
    pub argon2: String,
}

impl Credentials {
    /// Derives credentials from a password with a fresh random salt. Costs one argon2 hash and
    /// two PBKDF2 runs: call it off the async runtime (`spawn_blocking`).
    pub fn derive(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        rand::fill(&mut salt[..]);
        let argon2 =
            argon2::Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).unwrap_or_default();
        Self::derive_scram(password, salt, SCRAM_ITERATIONS, argon2)
    }

    /// SCRAM keys for a given salt and iteration count (used by tests with RFC vectors).
    pub fn derive_scram(password: &str, salt: Vec<u8>, iterations: u32, argon2: String) -> Self {
        Self {
            sha1: Hash::Sha1.keys(password, &salt, iterations),
            sha256: Hash::Sha256.keys(password, &salt, iterations),
            salt,
            iterations,
            argon2,
        }
    }

    /// Checks a password against the argon2 hash (PLAIN). Slow by design: run it blocking.
    pub fn verify_password(&self, password: &str) -> bool {
        match PasswordHash::new(&self.argon2) {
            Ok(hash) => argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok(),
            Err(_) => false,
        }
    }
}

/// The two hash functions SCRAM is offered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        match self {
            Self::Sha1 => <Hmac<Sha1> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
            Self::Sha256 => <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
        }
        .unwrap_or_default()
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha1 => pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(password.as_bytes(), salt, iterations).to_vec(),
            Self::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations).to_vec(),
        }
    }

    /// StoredKey and ServerKey (RFC 5802 §3) for a password.
    fn keys(self, password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
        let salted = self.salted_password(password, salt, iterations);
        ScramKeys {
            stored_key: self.digest(&self.hmac(&salted, b"Client Key")),
            server_key: self.hmac(&salted, b"Server Key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let c = Credentials::derive("pencil");
        assert!(c.argon2.starts_with("$argon2id$"));
        assert!(c.verify_password("pencil"));
        assert!(!c.verify_password("pen"));
        assert_ne!(c.salt, Credentials::derive("pencil").salt);
    }
}
