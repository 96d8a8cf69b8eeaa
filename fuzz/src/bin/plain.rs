//! PLAIN's message and the hashed-token (XEP-0484 FAST) initial response, both split at
//! NULs: what parses is made of the input's own parts.
use rhein_sasl::{HtMechanism, PlainRequest};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(p) = PlainRequest::parse(data) {
            let again = format!("{}\0{}\0{}", p.authzid.as_deref().unwrap_or_default(), p.username, p.password);
            assert_eq!(again.as_bytes(), data);
        }
        if let Ok((user, proof)) = HtMechanism::parse(data) {
            assert_eq!([user.as_bytes(), b"\0", &proof].concat(), data);
        }
    });
}
