//! The Hashed Token mechanisms (draft-schmaus-kitten-sasl-ht-09) that XEP-0484 FAST uses:
//! the client proves it holds a token in one message, the server answers with its own proof.
//! `HT-SHA-256-EXPR` binds to `tls-exporter`, `-ENDP` to `tls-server-end-point`, `-NONE` to
//! nothing.

use crate::credentials::Hash;
use crate::{ChannelBinding, SaslError};
use subtle::ConstantTimeEq;

/// A hashed-token mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HtMechanism {
    Exporter,
    EndPoint,
    None,
}

impl HtMechanism {
    pub const ALL: [HtMechanism; 3] = [Self::Exporter, Self::EndPoint, Self::None];

    pub fn name(self) -> &'static str {
        match self {
            Self::Exporter => "HT-SHA-256-EXPR",
            Self::EndPoint => "HT-SHA-256-ENDP",
            Self::None => "HT-SHA-256-NONE",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this connection can use the mechanism.
    pub fn available(self, cb: &ChannelBinding) -> bool {
        self.binding(cb).is_some()
    }

    fn binding(self, cb: &ChannelBinding) -> Option<Vec<u8>> {
        match self {
            Self::Exporter => cb.tls_exporter.clone(),
            Self::EndPoint => cb.tls_server_end_point.clone(),
            Self::None => Some(Vec::new()),
        }
    }

    /// Splits the initial response into the username and the client's proof.
    pub fn parse(msg: &[u8]) -> Result<(String, Vec<u8>), SaslError> {
        let pos = msg.iter().position(|b| *b == 0).ok_or(SaslError::MalformedRequest)?;
        let user = std::str::from_utf8(&msg[..pos]).map_err(|_| SaslError::MalformedRequest)?;
        if user.is_empty() {
            return Err(SaslError::MalformedRequest);
        }
        Ok((user.to_owned(), msg[pos + 1..].to_vec()))
    }

    fn proof(self, token: &[u8], label: &[u8], cb: &ChannelBinding) -> Option<Vec<u8>> {
        let mut data = label.to_vec();
        data.extend_from_slice(&self.binding(cb)?);
        Some(Hash::Sha256.hmac(token, &data))
    }

    /// Checks the client's proof against `token`; on success returns the server's proof.
    pub fn verify(self, token: &[u8], client_proof: &[u8], cb: &ChannelBinding) -> Option<Vec<u8>> {
        let expected = self.proof(token, b"Initiator", cb)?;
        if !bool::from(expected.ct_eq(client_proof)) {
            return None;
        }
        self.proof(token, b"Responder", cb)
    }

    /// The client side, for tests: the initial response for `user` and `token`.
    pub fn client_initial(self, user: &str, token: &[u8], cb: &ChannelBinding) -> Option<Vec<u8>> {
        let mut msg = user.as_bytes().to_vec();
        msg.push(0);
        msg.extend(self.proof(token, b"Initiator", cb)?);
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_round_trip_and_bind_to_the_channel() {
        let cb = ChannelBinding { tls_exporter: Some(vec![7; 32]), tls_server_end_point: Some(vec![9; 32]) };
        for m in HtMechanism::ALL {
            let msg = m.client_initial("alice", b"token", &cb).unwrap();
            let (user, proof) = HtMechanism::parse(&msg).unwrap();
            assert_eq!(user, "alice");
            assert!(m.verify(b"token", &proof, &cb).is_some(), "{}", m.name());
            assert!(m.verify(b"other", &proof, &cb).is_none());
        }
        let msg = HtMechanism::Exporter.client_initial("alice", b"token", &cb).unwrap();
        let (_, proof) = HtMechanism::parse(&msg).unwrap();
        let other_channel = ChannelBinding { tls_exporter: Some(vec![8; 32]), ..cb.clone() };
        assert!(HtMechanism::Exporter.verify(b"token", &proof, &other_channel).is_none());
        assert!(!HtMechanism::Exporter.available(&ChannelBinding::default()));
        assert_eq!(HtMechanism::parse(b"no-separator"), Err(SaslError::MalformedRequest));
    }
}
