//! XEP-0480 SCRAM upgrade tasks: after a SASL2 login, the client sends the SaltedPassword
//! for a hash whose keys the account lacks, computed with the account's salt and iteration
//! count (XEP-0480 §3), and the server keeps the keys derived from it.
//!
//! The server cannot check that SaltedPassword against the password (it holds no key of that
//! hash, which is why it asks): an authenticated client could give keys of another password,
//! as it could by changing its password. What is checked is its form: base64 of exactly the
//! hash's output length.

use crate::credentials::Hash;
use crate::{Credentials, SaslError, ScramKeys};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// An upgrade task Rhein performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    ScramSha256,
    ScramSha512,
}

impl Upgrade {
    /// Every upgrade, in the order they are advertised and performed.
    pub const ALL: [Upgrade; 2] = [Self::ScramSha256, Self::ScramSha512];

    /// The task name: "UPGR-" and the mechanism without -PLUS (XEP-0480 §2.1, §3).
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha256 => "UPGR-SCRAM-SHA-256",
            Self::ScramSha512 => "UPGR-SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == name.trim())
    }

    /// The hash whose keys the task adds.
    pub fn hash(self) -> Hash {
        match self {
            Self::ScramSha256 => Hash::Sha256,
            Self::ScramSha512 => Hash::Sha512,
        }
    }

    /// The upgrades an account lacks, in [`Upgrade::ALL`]'s order.
    pub fn missing(creds: &Credentials) -> Vec<Upgrade> {
        Self::ALL.into_iter().filter(|u| creds.keys(u.hash()).is_none()).collect()
    }

    /// Reads the client's `<hash/>` (base64 of the SaltedPassword; whitespace around it is
    /// allowed) and adds the keys it gives to `creds`, which it returns.
    pub fn apply(self, creds: &mut Credentials, hash_b64: &str) -> Result<ScramKeys, SaslError> {
        let text = hash_b64.trim();
        if text.is_empty() {
            return Err(SaslError::MalformedRequest);
        }
        let salted = B64.decode(text).map_err(|_| SaslError::IncorrectEncoding)?;
        if salted.len() != self.hash().output_len() {
            return Err(SaslError::MalformedRequest);
        }
        let keys = self.hash().keys_from_salted(&salted);
        creds.set_keys(self.hash(), keys.clone());
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_xeps() {
        assert_eq!(Upgrade::ALL.map(Upgrade::name), ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"]);
        assert_eq!(Upgrade::from_name(" UPGR-SCRAM-SHA-512\n"), Some(Upgrade::ScramSha512));
        assert_eq!(Upgrade::from_name("UPGR-SCRAM-SHA-512-PLUS"), None);
        assert_eq!(Upgrade::from_name("UPG-SCRAM-SHA-512"), None);
    }

    #[test]
    fn an_upgrade_adds_the_keys_a_password_derives() {
        let full = Credentials::derive_scram("pencil", vec![3; 16], 16, String::new());
        let mut old = full.clone();
        old.sha512 = None;
        assert_eq!(Upgrade::missing(&full), []);
        assert_eq!(Upgrade::missing(&old), [Upgrade::ScramSha512]);
        let salted = Hash::Sha512.salted_password("pencil", &old.salt, old.iterations);
        let keys = Upgrade::ScramSha512.apply(&mut old, &format!("\n  {}\n", B64.encode(salted))).unwrap();
        assert_eq!(Some(&keys), full.sha512.as_ref());
        assert_eq!(old, full);

        // Imported with SHA-1 keys only: both upgrades are missing.
        let mut imported = full.clone();
        imported.sha256 = None;
        imported.sha512 = None;
        assert_eq!(Upgrade::missing(&imported), Upgrade::ALL);
    }

    #[test]
    fn a_malformed_hash_changes_nothing() {
        let mut old = Credentials::derive_scram("pencil", vec![3; 16], 16, String::new());
        old.sha512 = None;
        let before = old.clone();
        let up = Upgrade::ScramSha512;
        assert_eq!(up.apply(&mut old, ""), Err(SaslError::MalformedRequest));
        assert_eq!(up.apply(&mut old, "not base64!"), Err(SaslError::IncorrectEncoding));
        assert_eq!(up.apply(&mut old, &B64.encode([1u8; 32])), Err(SaslError::MalformedRequest), "SHA-256's length");
        assert_eq!(old, before);
    }
}
