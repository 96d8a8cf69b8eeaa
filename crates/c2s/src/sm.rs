//! XEP-0198 Stream Management: stanza counters, the queue of stanzas the client has not
//! acknowledged, and the registry of sessions a new connection may resume.

use crate::queued::Queued;
use rhein_proto::{BareJid, Element, xml};
use rhein_stream::StreamIo;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::mpsc;

pub(crate) const NS: &str = "urn:xmpp:sm:3";

/// A new connection asking to take over a session (sent to the session's task).
pub(crate) struct ResumeRequest {
    pub io: StreamIo,
    /// How many stanzas the client says it handled.
    pub h: u32,
    /// Resumption inside a SASL2 `<authenticate/>`: the `<success/>` to put `<resumed/>` into,
    /// and the stream features that follow it.
    pub sasl2: Option<(Element, Element)>,
}

/// Resumption requests travel boxed: the request holds a whole stream, and a channel keeps a
/// block of slots per session.
pub(crate) type ResumeTx = mpsc::Sender<Box<ResumeRequest>>;
pub(crate) type ResumeRx = mpsc::Receiver<Box<ResumeRequest>>;

/// Sessions that may be resumed, by their (unguessable) SM id.
#[derive(Default)]
pub struct Resumable {
    map: Mutex<HashMap<String, (BareJid, ResumeTx)>>,
}

impl Resumable {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (BareJid, ResumeTx)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(&self, owner: BareJid) -> (String, ResumeRx) {
        let mut b = [0u8; 18];
        rand::fill(&mut b[..]);
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let (tx, rx) = mpsc::channel(1);
        self.map().insert(id.clone(), (owner, tx));
        (id, rx)
    }

    pub(crate) fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    /// The session `id`, if it exists and belongs to `owner` (nobody resumes another's session).
    pub(crate) fn find(&self, id: &str, owner: &BareJid) -> Option<ResumeTx> {
        self.map().get(id).filter(|(o, _)| o == owner).map(|(_, tx)| tx.clone())
    }
}

/// Counters and unacknowledged stanzas of one session.
pub(crate) struct Sm {
    /// Set when the client asked for resumption.
    pub resume_id: Option<String>,
    /// Stanzas received from the client (the `h` we report).
    pub inbound: u32,
    /// The last `h` the client reported.
    acked: u32,
    unacked: VecDeque<Queued>,
    /// An `<r/>` is outstanding.
    pub ack_requested: bool,
}

/// The client acknowledged more stanzas than were sent (XEP-0198 §4).
pub(crate) struct TooHigh;

impl Sm {
    /// Starts stream management on `<enable/>`; returns the state, the `<enabled/>` answer and,
    /// with resumption, the channel resumptions arrive on.
    pub(crate) fn enable(
        el: &Element,
        owner: BareJid,
        resumable: &Resumable,
        resume_timeout: std::time::Duration,
    ) -> (Self, Element, Option<ResumeRx>) {
        if !matches!(el.attr("resume"), Some("true" | "1")) {
            return (Self::new(None), self::el("enabled", &[]), None);
        }
        let (id, rx) = resumable.register(owner);
        let enabled = self::el(
            "enabled",
            &[("id", id.clone()), ("resume", "true".to_owned()), ("max", resume_timeout.as_secs().to_string())],
        );
        (Self::new(Some(id)), enabled, Some(rx))
    }

    pub(crate) fn new(resume_id: Option<String>) -> Self {
        Self { resume_id, inbound: 0, acked: 0, unacked: VecDeque::new(), ack_requested: false }
    }

    /// Records a stanza written (or queued while hibernating).
    pub(crate) fn sent(&mut self, stanza: Queued) {
        self.unacked.push_back(stanza);
    }

    /// Applies an acknowledgement `h`.
    pub(crate) fn ack(&mut self, h: u32) -> Result<(), TooHigh> {
        let newly = h.wrapping_sub(self.acked) as usize;
        if newly > self.unacked.len() {
            return Err(TooHigh);
        }
        self.unacked.drain(..newly);
        self.acked = h;
        Ok(())
    }

    pub(crate) fn unacked(&self) -> impl Iterator<Item = &Queued> {
        self.unacked.iter()
    }

    pub(crate) fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    pub(crate) fn take_unacked(&mut self) -> Vec<Queued> {
        self.unacked.drain(..).collect()
    }
}

/// `<a h='N'/>`, `<r/>` and friends.
pub(crate) fn el(name: &str, attrs: &[(&str, String)]) -> Element {
    let mut e = Element::bare(name, NS);
    for (k, v) in attrs {
        xml::set_attr(&mut e, k, v.clone());
    }
    e
}

/// `<failed><condition/></failed>`.
pub(crate) fn failed(condition: &str, h: Option<u32>) -> Element {
    let mut f = el("failed", &h.map(|h| vec![("h", h.to_string())]).unwrap_or_default());
    f.append_child(Element::bare(condition, rhein_proto::ns::STANZAS));
    f
}

/// The `h` attribute of an `<a/>` or `<resume/>`.
pub(crate) fn h_of(e: &Element) -> Option<u32> {
    e.attr("h")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_drop_exactly_the_handled_stanzas() {
        let mut sm = Sm::new(None);
        for i in 0..3 {
            sm.sent(Queued::Own(xml::with_attr(Element::bare("message", "jabber:client"), "id", i.to_string())));
        }
        assert!(sm.ack(1).is_ok());
        assert_eq!(sm.unacked().map(|q| q.element().attr("id").unwrap().to_owned()).collect::<Vec<_>>(), ["1", "2"]);
        assert!(sm.ack(1).is_ok(), "repeating an ack is harmless");
        assert!(sm.ack(4).is_err(), "more than was sent");
        assert!(sm.ack(3).is_ok());
        assert_eq!(sm.unacked_len(), 0);
    }

    #[test]
    fn counters_wrap_around() {
        let mut sm = Sm::new(None);
        sm.acked = u32::MAX;
        sm.sent(Queued::Own(Element::bare("message", "jabber:client")));
        assert!(sm.ack(0).is_ok());
        assert_eq!(sm.unacked_len(), 0);
    }
}
