//! XEP-0198 Stream Management: stanza counters, the queue of stanzas the client has not
//! acknowledged, and the registry of sessions a new connection may resume.

use crate::C2sShared;
use crate::queued::Queued;
use rhein_proto::{BareJid, Element, ns, xml};
use rhein_stream::StreamIo;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::mpsc;

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

/// How much a session may hold for its client before the client acknowledges it.
#[derive(Clone, Copy, Debug)]
pub struct UnackedLimit {
    pub stanzas: usize,
    /// Bytes as written: a few big stanzas weigh more than thousands of small ones.
    pub bytes: usize,
}

/// Counters and unacknowledged stanzas of one session.
pub(crate) struct Sm {
    /// Set when the client asked for resumption.
    pub resume_id: Option<String>,
    /// Stanzas received from the client (the `h` we report).
    pub inbound: u32,
    /// The last `h` the client reported.
    acked: u32,
    /// Each with its size as written.
    unacked: VecDeque<(Queued, usize)>,
    unacked_bytes: usize,
    limit: UnackedLimit,
    /// An `<r/>` is outstanding.
    pub ack_requested: bool,
}

/// The client acknowledged more stanzas than were sent (XEP-0198 §4).
pub(crate) struct TooHigh;

impl Sm {
    /// Starts stream management on `<enable/>`; returns the state, the `<enabled/>` answer and,
    /// with resumption, the channel resumptions arrive on.
    pub(crate) fn enable(el: &Element, owner: BareJid, shared: &C2sShared) -> (Self, Element, Option<ResumeRx>) {
        let limit = shared.config.unacked;
        if !matches!(el.attr("resume"), Some("true" | "1")) {
            return (Self::new(None, limit), self::el("enabled", &[]), None);
        }
        let (id, rx) = shared.resumable.register(owner);
        let max = shared.config.resume_timeout.as_secs().to_string();
        let enabled = self::el("enabled", &[("id", id.clone()), ("resume", "true".to_owned()), ("max", max)]);
        (Self::new(Some(id), limit), enabled, Some(rx))
    }

    pub(crate) fn new(resume_id: Option<String>, limit: UnackedLimit) -> Self {
        Self {
            resume_id,
            inbound: 0,
            acked: 0,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            limit,
            ack_requested: false,
        }
    }

    /// Records a stanza written (or queued while hibernating) and its size as written.
    pub(crate) fn sent(&mut self, stanza: Queued, bytes: usize) {
        self.unacked.push_back((stanza, bytes));
        self.unacked_bytes += bytes;
    }

    /// Applies an acknowledgement `h`.
    pub(crate) fn ack(&mut self, h: u32) -> Result<(), TooHigh> {
        let newly = h.wrapping_sub(self.acked) as usize;
        if newly > self.unacked.len() {
            return Err(TooHigh);
        }
        for (_, bytes) in self.unacked.drain(..newly) {
            self.unacked_bytes -= bytes;
        }
        self.acked = h;
        Ok(())
    }

    /// The session holds all it may for this client: nothing more is sent until it acknowledges.
    pub(crate) fn is_full(&self) -> bool {
        self.unacked.len() >= self.limit.stanzas || self.unacked_bytes >= self.limit.bytes
    }

    pub(crate) fn unacked(&self) -> impl Iterator<Item = &Queued> {
        self.unacked.iter().map(|(stanza, _)| stanza)
    }

    pub(crate) fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    pub(crate) fn take_unacked(&mut self) -> Vec<Queued> {
        self.unacked_bytes = 0;
        self.unacked.drain(..).map(|(stanza, _)| stanza).collect()
    }
}

/// `<a h='N'/>`, `<r/>` and friends.
pub(crate) fn el(name: &str, attrs: &[(&str, String)]) -> Element {
    let mut e = Element::bare(name, ns::SM);
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

    const ROOMY: UnackedLimit = UnackedLimit { stanzas: 100, bytes: 100_000 };

    fn message(id: usize) -> Queued {
        Queued::Own(xml::with_attr(Element::bare("message", "jabber:client"), "id", id.to_string()))
    }

    #[test]
    fn acks_drop_exactly_the_handled_stanzas() {
        let mut sm = Sm::new(None, ROOMY);
        for i in 0..3 {
            sm.sent(message(i), 10);
        }
        assert!(sm.ack(1).is_ok());
        assert_eq!(sm.unacked().map(|q| q.element().attr("id").unwrap().to_owned()).collect::<Vec<_>>(), ["1", "2"]);
        assert!(sm.ack(1).is_ok(), "repeating an ack is harmless");
        assert!(sm.ack(4).is_err(), "more than was sent");
        assert!(sm.ack(3).is_ok());
        assert_eq!(sm.unacked_len(), 0);
        assert_eq!(sm.unacked_bytes, 0);
    }

    #[test]
    fn counters_wrap_around() {
        let mut sm = Sm::new(None, ROOMY);
        sm.acked = u32::MAX;
        sm.sent(message(0), 10);
        assert!(sm.ack(0).is_ok());
        assert_eq!(sm.unacked_len(), 0);
    }

    #[test]
    fn the_queue_is_full_at_either_limit_until_acks_make_room() {
        let mut sm = Sm::new(None, UnackedLimit { stanzas: 3, bytes: 1000 });
        sm.sent(message(0), 10);
        sm.sent(message(1), 10);
        assert!(!sm.is_full());
        sm.sent(message(2), 10);
        assert!(sm.is_full(), "three stanzas");
        assert!(sm.ack(1).is_ok());
        assert!(!sm.is_full());
        sm.sent(message(3), 990);
        assert!(sm.is_full(), "1010 bytes in two stanzas");
        assert!(sm.ack(3).is_ok());
        assert!(!sm.is_full(), "the big one is still held, under the byte limit");
        assert_eq!(sm.take_unacked().len(), 1);
        assert_eq!(sm.unacked_bytes, 0);
    }
}
