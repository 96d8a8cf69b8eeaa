//! The server secret behind the answers for names that have no account: SCRAM must answer
//! them with a salt, an iteration count and a final verdict that look like a real account's,
//! or comparing answers tells anyone which accounts exist (RFC 5802 §9, "user enumeration").

use crate::credentials::{DECOY_ARGON2, Hash};
use crate::{Credentials, SCRAM_ITERATIONS, ScramKeys};

/// Random bytes known only to this server (kept in its data folder, so a name's answers stay
/// the same across restarts). Decoys are HMACs of the name under it: stable for one server,
/// unpredictable without the secret.
#[derive(Clone)]
pub struct ServerSecret([u8; ServerSecret::LEN]);

impl ServerSecret {
    /// Length in bytes (of the secret and of the file that keeps it).
    pub const LEN: usize = 32;

    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::LEN];
        rand::fill(&mut bytes[..]);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// Credentials for a name without an account, shaped like a real account's (salt
    /// length, iteration count, key sizes, argon2 parameters), so that authenticating
    /// against them takes the same steps and fails only at the end. Nobody knows a password
    /// for them: the keys are not derived from one.
    pub fn decoy(&self, username: &str) -> Credentials {
        let derive = |label: &str, hash: Hash| hash.hmac(&self.0, format!("{label}\0{username}").as_bytes());
        let keys = |hash: Hash, name: &str| ScramKeys {
            stored_key: derive(&format!("{name} stored key"), hash),
            server_key: derive(&format!("{name} server key"), hash),
        };
        let mut salt = derive("salt", Hash::Sha256);
        salt.truncate(16);
        Credentials {
            salt,
            iterations: SCRAM_ITERATIONS,
            sha1: keys(Hash::Sha1, "sha1"),
            sha256: Some(keys(Hash::Sha256, "sha256")),
            sha512: Some(keys(Hash::Sha512, "sha512")),
            argon2: DECOY_ARGON2.to_owned(),
            disabled: false,
        }
    }
}

/// Never prints the secret.
impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoys_are_stable_per_secret_and_shaped_like_accounts() {
        let secret = ServerSecret::from_bytes([7; 32]);
        let a = secret.decoy("nobody");
        assert_eq!(a, ServerSecret::from_bytes([7; 32]).decoy("nobody"), "same secret, same answers");
        assert_ne!(a.salt, ServerSecret::from_bytes([8; 32]).decoy("nobody").salt, "another secret, another salt");
        assert_ne!(a.salt, secret.decoy("somebody").salt, "another name, another salt");
        let real = Credentials::derive("pencil");
        assert_eq!((a.salt.len(), a.iterations), (real.salt.len(), real.iterations));
        assert_eq!(a.sha1.stored_key.len(), real.sha1.stored_key.len());
        assert_eq!(a.sha256.as_ref().unwrap().server_key.len(), real.sha256.as_ref().unwrap().server_key.len());
        assert_eq!(a.sha512.as_ref().unwrap().stored_key.len(), real.sha512.as_ref().unwrap().stored_key.len());
        assert_eq!(a.argon2.rsplitn(3, '$').nth(2), real.argon2.rsplitn(3, '$').nth(2), "same argon2 parameters");
        assert!(!a.verify_password("pencil") && !a.verify_password(""));
        assert_eq!(format!("{secret:?}"), "ServerSecret(..)");
    }
}
