//! XEP-0220 server dialback: the keys we hand out and check, and the elements that carry them.
//!
//! A key is HMAC-SHA256 over "receiving originating stream-id" with a secret that lives as long
//! as the process (XEP-0185): only this process ever checks its own keys, so nothing needs to
//! be stored, and a restart merely fails the verifications in flight.

use hmac::{Hmac, KeyInit, Mac};
use rhein_proto::{Element, ns, xml};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The process's dialback secret.
pub(crate) struct Secret([u8; 32]);

impl Secret {
    pub(crate) fn random() -> Self {
        let mut b = [0u8; 32];
        rand::fill(&mut b[..]);
        Self(b)
    }

    /// The key `originating` presents to `receiving` on the stream `receiving` named `stream_id`.
    pub(crate) fn key(&self, receiving: &str, originating: &str, stream_id: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else { return String::new() };
        mac.update(format!("{receiving} {originating} {stream_id}").as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `key` is the one we would have made (constant time).
    pub(crate) fn check(&self, receiving: &str, originating: &str, stream_id: &str, key: &str) -> bool {
        let expected = self.key(receiving, originating, stream_id);
        !key.is_empty() && bool::from(expected.as_bytes().ct_eq(key.trim().as_bytes()))
    }
}

/// `<db:result/>` or `<db:verify/>`: a request when `verdict` is `None`, else its answer.
pub(crate) fn element(
    name: &str,
    from: &str,
    to: &str,
    id: Option<&str>,
    key: Option<&str>,
    verdict: Option<bool>,
) -> Element {
    let mut el = Element::bare(name, ns::DIALBACK);
    xml::set_attr(&mut el, "from", from);
    xml::set_attr(&mut el, "to", to);
    if let Some(id) = id {
        xml::set_attr(&mut el, "id", id);
    }
    if let Some(valid) = verdict {
        xml::set_attr(&mut el, "type", if valid { "valid" } else { "invalid" });
    }
    if let Some(key) = key {
        el.append_text(key);
    }
    el
}

/// A `<db:result type='error'/>` refusing to authenticate `remote` at all (XEP-0220 §2.4).
pub(crate) fn refusal(local: &str, remote: &str, text: &str) -> Element {
    let mut el = element("result", local, remote, None, None, None);
    xml::set_attr(&mut el, "type", "error");
    let error = rhein_proto::StanzaError::not_authorized().with_text(text).to_element();
    // The <error/> inherits the stream's default namespace.
    el.append_child(xml::renamespace(error, ns::CLIENT, ns::SERVER));
    el
}

/// The stream feature a receiving server offers (XEP-0220 §2.4; `<errors/>`: we send
/// dialback errors rather than closing the stream).
pub(crate) fn feature() -> Element {
    let mut f = Element::bare("dialback", ns::DIALBACK_FEATURE);
    f.append_child(Element::bare("errors", ns::DIALBACK_FEATURE));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bind_both_domains_and_the_stream() {
        let s = Secret::random();
        let k = s.key("b.example", "a.example", "s1");
        assert_eq!(k.len(), 64);
        assert!(s.check("b.example", "a.example", "s1", &k));
        assert!(!s.check("b.example", "a.example", "s2", &k));
        assert!(!s.check("a.example", "b.example", "s1", &k));
        assert!(!s.check("b.example", "a.example", "s1", ""));
        assert!(!Secret::random().check("b.example", "a.example", "s1", &k), "another process's secret");
    }
}
