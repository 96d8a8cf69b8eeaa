//! XEP-0220 server dialback: the keys we hand out and check, and the elements that carry them.
//!
//! A key is HMAC-SHA256 over "receiving originating stream-id" with a secret that lives as long
//! as the process (XEP-0185): only this process ever checks its own keys, so nothing needs to
//! be stored, and a restart merely fails the verifications in flight.

use crate::VerifyRequest;
use hmac::{Hmac, KeyInit, Mac};
use rhein_proto::{Element, ns, xml};
use sha2::Sha256;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

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

/// Our `db:verify` questions to one remote domain, asked over whichever stream we send to it
/// on, and matched to their answers by stream id.
pub(crate) struct Questions {
    requests: mpsc::Receiver<VerifyRequest>,
    pending: HashMap<String, Vec<oneshot::Sender<bool>>>,
}

impl Questions {
    pub(crate) fn new(requests: mpsc::Receiver<VerifyRequest>) -> Self {
        Self { requests, pending: HashMap::new() }
    }

    /// The next question to send, as a `db:verify` from `local` to `remote`; pending while
    /// there is none.
    pub(crate) async fn next(&mut self, local: &str, remote: &str) -> Element {
        let Some(request) = self.requests.recv().await else { return std::future::pending().await };
        let question = element("verify", local, remote, Some(&request.stream_id), Some(&request.key), None);
        self.pending.entry(request.stream_id).or_default().push(request.answer);
        question
    }

    /// Takes a `db:verify` answer (it has a `type`).
    pub(crate) fn answer(&mut self, el: &Element) {
        let valid = el.attr("type") == Some("valid");
        for waiter in el.attr("id").and_then(|id| self.pending.remove(id)).into_iter().flatten() {
            let _ = waiter.send(valid);
        }
    }

    /// No more questions are taken; unanswered ones fail.
    pub(crate) fn close(&mut self) {
        self.requests.close();
        self.pending.clear();
    }
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
