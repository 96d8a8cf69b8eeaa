//! vcard-temp (XEP-0054) pieces shared by accounts and rooms: the photo hash that XEP-0153
//! (account presence) and XEP-0486 (room info) advertise.

use crate::{Element, ns};
use base64::Engine;
use sha1::{Digest, Sha1};

/// SHA-1 (hex) of the decoded PHOTO/BINVAL, as XEP-0153 §3.1 defines the hash; `None`
/// without a photo.
pub fn photo_hash(vcard: &Element) -> Option<String> {
    let binval = vcard.get_child("PHOTO", ns::VCARD)?.get_child("BINVAL", ns::VCARD)?.text();
    let compact: String = binval.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    Some(Sha1::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_hash_is_sha1_of_the_decoded_image() {
        let v: Element =
            "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>aGVs\nbG8=</BINVAL></PHOTO></vCard>"
                .parse()
                .unwrap();
        assert_eq!(photo_hash(&v).as_deref(), Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"));
        assert_eq!(photo_hash(&Element::bare("vCard", ns::VCARD)), None);
    }
}
