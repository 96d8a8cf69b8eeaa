//! SASL for XMPP (RFC 6120 §6) without I/O: the c2s session feeds it the client's messages and
//! sends back what it returns. Mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512 and their
//! -PLUS variants (RFC 5802, RFC 7677; channel bindings `tls-exporter` and
//! `tls-server-end-point`), and PLAIN; XEP-0480 upgrade tasks add the SCRAM keys an account
//! lacks.
//!
//! Credentials are stored as SCRAM keys (StoredKey/ServerKey, never the SaltedPassword, which
//! would let a thief log in) plus an argon2id hash for PLAIN. Depends on nothing else in Rhein.

mod credentials;
mod ht;
mod mechanism;
mod plain;
mod scram;
mod secret;
mod upgrade;

pub use credentials::{Credentials, Hash as ScramHash, SCRAM_ITERATIONS, ScramKeys};
pub use ht::HtMechanism;
pub use mechanism::{ChannelBinding, ClientBinding, Mechanism};
pub use plain::PlainRequest;
pub use scram::{Advertised, ClientFirst, ScramServer};
pub use secret::ServerSecret;
pub use upgrade::Upgrade;

/// SASL failure conditions (RFC 6120 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("aborted")]
    Aborted,
    #[error("encryption-required")]
    EncryptionRequired,
    #[error("incorrect-encoding")]
    IncorrectEncoding,
    #[error("invalid-authzid")]
    InvalidAuthzid,
    #[error("invalid-mechanism")]
    InvalidMechanism,
    #[error("malformed-request")]
    MalformedRequest,
    #[error("not-authorized")]
    NotAuthorized,
    #[error("temporary-auth-failure")]
    TemporaryAuthFailure,
    #[error("credentials-expired")]
    CredentialsExpired,
    #[error("account-disabled")]
    AccountDisabled,
}

impl SaslError {
    /// The element name of the condition inside `<failure/>`.
    pub fn condition(self) -> &'static str {
        match self {
            Self::Aborted => "aborted",
            Self::EncryptionRequired => "encryption-required",
            Self::IncorrectEncoding => "incorrect-encoding",
            Self::InvalidAuthzid => "invalid-authzid",
            Self::InvalidMechanism => "invalid-mechanism",
            Self::MalformedRequest => "malformed-request",
            Self::NotAuthorized => "not-authorized",
            Self::TemporaryAuthFailure => "temporary-auth-failure",
            Self::CredentialsExpired => "credentials-expired",
            Self::AccountDisabled => "account-disabled",
        }
    }
}
