//! Mechanism names and the channel-binding data the TLS layer hands to SCRAM-PLUS.

use crate::credentials::Hash;

/// A SASL mechanism Rhein offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    ScramSha512Plus,
    ScramSha256Plus,
    ScramSha1Plus,
    ScramSha512,
    ScramSha256,
    ScramSha1,
    Plain,
}

impl Mechanism {
    /// All mechanisms, strongest first (the order they are advertised in).
    pub const ALL: [Mechanism; 7] = [
        Self::ScramSha512Plus,
        Self::ScramSha256Plus,
        Self::ScramSha1Plus,
        Self::ScramSha512,
        Self::ScramSha256,
        Self::ScramSha1,
        Self::Plain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha512Plus => "SCRAM-SHA-512-PLUS",
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::Plain => "PLAIN",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The SCRAM hash of this mechanism; `None` for PLAIN.
    pub fn scram_hash(self) -> Option<Hash> {
        match self {
            Self::ScramSha1 | Self::ScramSha1Plus => Some(Hash::Sha1),
            Self::ScramSha256 | Self::ScramSha256Plus => Some(Hash::Sha256),
            Self::ScramSha512 | Self::ScramSha512Plus => Some(Hash::Sha512),
            Self::Plain => None,
        }
    }

    /// The SCRAM hash of this mechanism (PLAIN never reaches SCRAM code: `ClientFirst::parse`
    /// refuses it).
    pub(crate) fn hash(self) -> Hash {
        self.scram_hash().unwrap_or(Hash::Sha256)
    }

    /// Whether the mechanism needs channel binding (and therefore TLS).
    pub fn is_plus(self) -> bool {
        matches!(self, Self::ScramSha512Plus | Self::ScramSha256Plus | Self::ScramSha1Plus)
    }
}

/// Channel-binding data of the current TLS connection (RFC 9266, RFC 5929).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelBinding {
    /// `tls-exporter`: 32 bytes exported with label "EXPORTER-Channel-Binding" (TLS 1.3).
    pub tls_exporter: Option<Vec<u8>>,
    /// `tls-server-end-point`: hash of the server certificate.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBinding {
    /// Whether any binding type is available, i.e. whether -PLUS can be offered.
    pub fn any(&self) -> bool {
        self.tls_exporter.is_some() || self.tls_server_end_point.is_some()
    }

    /// Binding types to advertise (XEP-0440).
    pub fn types(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.tls_exporter.is_some() {
            v.push("tls-exporter");
        }
        if self.tls_server_end_point.is_some() {
            v.push("tls-server-end-point");
        }
        v
    }

    pub(crate) fn data(&self, kind: &str) -> Option<&[u8]> {
        match kind {
            "tls-exporter" => self.tls_exporter.as_deref(),
            "tls-server-end-point" => self.tls_server_end_point.as_deref(),
            _ => None,
        }
    }
}

/// What one stream has shown of the client's channel binding, for the downgrade check of
/// SCRAM's `y` flag.
///
/// RFC 5802 §6: a client sends `y` when it can bind but believes the server cannot; if the
/// server can, someone removed -PLUS from what the client saw (a downgrade), and the
/// exchange must fail. "The server can" has to mean: with a binding type the client has.
/// A client that predates XEP-0440 knows only `tls-unique`, RFC 5802 §6.1's default, which
/// TLS 1.3 does not have (RFC 9266) and Rhein never offers. Such a client (slixmpp 1.8,
/// older Smack, libpurple) tries `p=tls-unique` on seeing -PLUS, is refused, and retries
/// the plain mechanism with `y`: truthfully, as Rhein has no binding it supports. So:
///
/// - `y` after the client asked, on this stream, for a binding type this connection does
///   not have ([`ClientBinding::Foreign`]) is no downgrade: nothing it supports was
///   advertised, and it cannot know another flag.
/// - `y` otherwise, while -PLUS is offered, is refused. A client that sees -PLUS and a type
///   it has uses `p`; one that read the XEP-0440 list and found none of its types sends `n`
///   (XEP-0440 §3); only a client that saw no -PLUS at all sends `y` first.
///
/// The exception's price: an attacker who can strip -PLUS could also send a failed
/// `p=tls-unique` attempt of its own before relaying the client's `y`. The check still
/// stops every downgrade that does not go that far; a client that must never log in
/// without channel binding refuses to, which is the protection that holds either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientBinding {
    /// Nothing shown yet.
    #[default]
    Unknown,
    /// The client asked for a binding type this connection does not have.
    Foreign,
}
