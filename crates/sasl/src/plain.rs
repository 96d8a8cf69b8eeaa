//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`. Only offered over TLS.

use crate::SaslError;

/// A decoded PLAIN message.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainRequest {
    pub authzid: Option<String>,
    pub username: String,
    pub password: String,
}

impl PlainRequest {
    pub fn parse(msg: &[u8]) -> Result<Self, SaslError> {
        let text = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let mut parts = text.split('\0');
        let (Some(authzid), Some(username), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SaslError::MalformedRequest);
        };
        if username.is_empty() || password.is_empty() {
            return Err(SaslError::MalformedRequest);
        }
        Ok(Self {
            authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = PlainRequest::parse(b"\0juliet\0secret").unwrap();
        assert_eq!(p.username, "juliet");
        assert_eq!(p.authzid, None);
        assert_eq!(PlainRequest::parse(b"juliet\0secret"), Err(SaslError::MalformedRequest));
        assert_eq!(PlainRequest::parse(b"\0\0x"), Err(SaslError::MalformedRequest));
    }
}
