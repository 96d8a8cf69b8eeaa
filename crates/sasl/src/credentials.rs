//! What is stored per account: SCRAM keys for each hash it has (one salt, one iteration
//! count) and an argon2id hash.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// PBKDF2 iterations for new credentials (RFC 7677 recommends at least 4096).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// StoredKey and ServerKey for one hash function (RFC 5802 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// Everything needed to verify a password, without the password.
///
/// Every account has SCRAM-SHA-1 keys. Accounts created (or whose password was set) by
/// Rhein have all three key sets; those from before SCRAM-SHA-512 lack its keys, and a row
/// imported from another server's SCRAM-SHA-1 keys lacks SHA-256 keys and the argon2 hash
/// too, until an XEP-0480 upgrade task or a PLAIN login ([`Credentials::completed`]) adds
/// them (all with this salt and iteration count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub sha1: ScramKeys,
    pub sha256: Option<ScramKeys>,
    pub sha512: Option<ScramKeys>,
    /// PHC string of an argon2id hash, for PLAIN and web logins; empty for a row made from
    /// SCRAM keys only (PLAIN then checks those, see `verify_password`).
    pub argon2: String,
    /// An administrator disabled the account: a login that proves the password is refused
    /// with `account-disabled` (kept with the keys, so checking costs no query).
    pub disabled: bool,
}

impl Credentials {
    /// Derives credentials from a password with a fresh random salt. Costs one argon2 hash and
    /// three PBKDF2 runs: call it off the async runtime (`spawn_blocking`).
    pub fn derive(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        rand::fill(&mut salt[..]);
        let mut argon2_salt = [0u8; 16];
        rand::fill(&mut argon2_salt[..]);
        let argon2 = argon2_phc(password.as_bytes(), &argon2_salt).unwrap_or_default();
        Self::derive_scram(password, salt, SCRAM_ITERATIONS, argon2)
    }

    /// SCRAM keys for a given salt and iteration count (used by tests with RFC vectors).
    pub fn derive_scram(password: &str, salt: Vec<u8>, iterations: u32, argon2: String) -> Self {
        Self {
            sha1: Hash::Sha1.keys(password, &salt, iterations),
            sha256: Some(Hash::Sha256.keys(password, &salt, iterations)),
            sha512: Some(Hash::Sha512.keys(password, &salt, iterations)),
            salt,
            iterations,
            argon2,
            disabled: false,
        }
    }

    /// The account's keys for `hash`, if it has them.
    pub fn keys(&self, hash: Hash) -> Option<&ScramKeys> {
        match hash {
            Hash::Sha1 => Some(&self.sha1),
            Hash::Sha256 => self.sha256.as_ref(),
            Hash::Sha512 => self.sha512.as_ref(),
        }
    }

    /// Sets the keys for `hash` (SHA-1's are always there and never replaced this way).
    pub(crate) fn set_keys(&mut self, hash: Hash, keys: ScramKeys) {
        match hash {
            Hash::Sha1 => {}
            Hash::Sha256 => self.sha256 = Some(keys),
            Hash::Sha512 => self.sha512 = Some(keys),
        }
    }

    /// Checks a password (PLAIN) against the argon2 hash, or for an account without one,
    /// against its strongest SCRAM keys. Slow by design: run it blocking.
    pub fn verify_password(&self, password: &str) -> bool {
        if !self.argon2.is_empty() {
            return argon2_check(password.as_bytes(), &self.argon2);
        }
        let (hash, keys) = [Hash::Sha512, Hash::Sha256, Hash::Sha1]
            .into_iter()
            .find_map(|h| self.keys(h).map(|k| (h, k)))
            .unwrap_or((Hash::Sha1, &self.sha1));
        let computed = hash.keys(password, &self.salt, self.iterations);
        bool::from(computed.stored_key.ct_eq(&keys.stored_key))
    }

    /// What an account imported from another server lacks — the key sets of other hashes,
    /// the argon2 hash — made from its password once a PLAIN login proved it; `None` when it
    /// lacks nothing. Every key set keeps the account's salt and iteration count (so a
    /// client's cached SaltedPassword stays valid), and is computed afresh, SHA-1's too.
    /// Slow (argon2 and PBKDF2): run it blocking.
    pub fn completed(&self, password: &str) -> Option<Self> {
        if self.sha256.is_some() && self.sha512.is_some() && !self.argon2.is_empty() {
            return None;
        }
        let mut argon2_salt = [0u8; 16];
        rand::fill(&mut argon2_salt[..]);
        let argon2 = argon2_phc(password.as_bytes(), &argon2_salt)?;
        let derived = Self::derive_scram(password, self.salt.clone(), self.iterations, argon2);
        Some(Self { disabled: self.disabled, ..derived })
    }
}

/// An argon2 hash with the parameters of real accounts, of a random 32-byte password nobody
/// kept: checking a password for a name without an account costs what checking a real one
/// costs. A constant, so no request pays for making it (a test keeps its parameters those
/// of new accounts).
pub(crate) const DECOY_ARGON2: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$0IygS1NXof0yfSck03DlDQ$mJcBKaquJpqlMHlELMiaQ0lsjCtUMQze94IZuXvBHhk";

/// argon2 work memory (19 MiB each with the default parameters), kept for the next hash.
/// Freed, such blocks stay with the allocator anyway (glibc raises its mmap threshold after
/// the first one and keeps them in per-thread arenas), so a server that hashed in many
/// threads kept hundreds of MB; reused, memory is bounded by the hashes run at once.
static WORK: std::sync::Mutex<Vec<Vec<Block>>> = std::sync::Mutex::new(Vec::new());

/// Work buffers kept at most (c2s runs as many argon2 checks at once as there are cores).
fn work_kept() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn with_work<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let lock = || WORK.lock().unwrap_or_else(|e| e.into_inner());
    let reused = lock().pop().filter(|b| b.len() == blocks);
    let mut work = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
    let result = f(&mut work);
    let mut kept = lock();
    if kept.len() < work_kept() {
        kept.push(work);
    }
    result
}

/// The PHC string of an argon2id hash (default parameters) of `password` with `salt`.
fn argon2_phc(password: &[u8], salt: &[u8]) -> Option<String> {
    let argon = Argon2::default();
    let params = argon.params().clone();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_work(params.block_count(), |m| argon.hash_password_into_with_memory(password, salt, &mut out, m)).ok()?;
    let hash = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(Salt::new(salt).ok()?),
        hash: Some(Output::new(&out).ok()?),
    };
    Some(hash.to_string())
}

/// Whether `password` matches a PHC argon2 string (any argon2 variant and parameters).
fn argon2_check(password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(hash.algorithm.as_str()), Params::try_from(&hash)) else {
        return false;
    };
    let Ok(version) = hash.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed =
        with_work(params.block_count(), |m| argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out, m));
    // `Output` compares in constant time.
    computed.is_ok() && Output::new(&out).is_ok_and(|o| &o == expected)
}

/// The hash functions SCRAM is offered with (exported as `ScramHash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha512,
}

impl Hash {
    /// Output length in bytes: of the keys, and of the SaltedPassword.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        match self {
            Self::Sha1 => <Hmac<Sha1> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
            Self::Sha256 => <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
            Self::Sha512 => <Hmac<Sha512> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
        }
        .unwrap_or_default()
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// SaltedPassword (RFC 5802 §3: PBKDF2 with this hash's HMAC).
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let p = password.as_bytes();
        match self {
            Self::Sha1 => pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(p, salt, iterations).to_vec(),
            Self::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(p, salt, iterations).to_vec(),
            Self::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(p, salt, iterations).to_vec(),
        }
    }

    /// StoredKey and ServerKey (RFC 5802 §3) for a password.
    fn keys(self, password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
        self.keys_from_salted(&self.salted_password(password, salt, iterations))
    }

    /// StoredKey and ServerKey from a SaltedPassword (what an XEP-0480 upgrade sends).
    pub(crate) fn keys_from_salted(self, salted: &[u8]) -> ScramKeys {
        ScramKeys {
            stored_key: self.digest(&self.hmac(salted, b"Client Key")),
            server_key: self.hmac(salted, b"Server Key"),
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

    #[test]
    fn argon2_hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Hashes stored before the work buffers were reused still verify, and ours verify there.
        let theirs = Argon2::default().hash_password(b"pencil").unwrap().to_string();
        assert!(argon2_check(b"pencil", &theirs));
        assert!(!argon2_check(b"pen", &theirs));
        let ours = argon2_phc(b"pencil", b"0123456789abcdef").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pencil", &parsed).is_ok());
        assert!(!argon2_check(b"pencil", "not a hash"));
        assert!(WORK.lock().unwrap().len() <= work_kept());
    }

    #[test]
    fn an_account_imported_without_argon2_checks_plain_against_its_scram_keys() {
        let mut imported = Credentials::derive_scram("pencil", vec![5; 16], 16, String::new());
        imported.sha256 = None;
        imported.sha512 = None;
        assert!(imported.verify_password("pencil"));
        assert!(!imported.verify_password("pen"));
        let full = Credentials::derive_scram("pencil", vec![5; 16], 16, String::new());
        assert!(full.verify_password("pencil") && !full.verify_password("Pencil"));

        // Completed after a PLAIN login: every key set, with the same salt and count.
        let completed = imported.completed("pencil").unwrap();
        assert_eq!(
            (completed.sha1.clone(), completed.sha256.clone(), completed.sha512.clone()),
            (full.sha1, full.sha256, full.sha512)
        );
        assert!(completed.verify_password("pencil") && !completed.argon2.is_empty());
        assert_eq!(completed.completed("pencil"), None, "nothing left to add");
    }
}
