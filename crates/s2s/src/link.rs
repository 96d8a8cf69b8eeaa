//! The authenticated phase of a stream with another server or a component: what the peer
//! sends goes through a per-stream check into the router, what the router queues for the
//! peer is written out, in the stream's namespace; keepalives, idle timeout and slow-peer
//! protection as for clients.

use rhein_proto::{Element, StreamErrorCondition as Cond, xml};
use rhein_router::Outbound;
use rhein_stream::{Frame, ReadError, StreamIo};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, sleep_until};

/// Why the peer's element ends the stream.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub cond: Cond,
    pub text: String,
}

impl Refusal {
    pub(crate) fn new(cond: Cond, text: impl Into<String>) -> Self {
        Self { cond, text: text.into() }
    }
}

/// Takes what the peer sends on a link: checks it against what the peer authenticated as
/// and routes it, or refuses it (which ends the stream).
pub(crate) trait Receiver: Send {
    fn receive(&mut self, el: Element) -> impl Future<Output = Result<(), Refusal>> + Send;
}

/// Our side of the link: the queue the router fills, if this stream carries our stanzas.
pub(crate) struct Sending<'a> {
    pub rx: &'a mut mpsc::Receiver<Outbound>,
    pub overflow: Arc<Notify>,
}

enum Wake {
    Frame(Result<Frame, ReadError>),
    Deliver(Option<Outbound>),
    Overflow,
    Idle,
    Keepalive,
}

/// Runs the link until either side ends it. `wire_ns` is the stream's content namespace;
/// `receiver` gets every element the peer sends, already in `jabber:client`.
pub(crate) async fn run(
    io: &mut StreamIo,
    wire_ns: &'static str,
    mut sending: Option<Sending<'_>>,
    receiver: &mut impl Receiver,
) {
    let idle = io.limits().idle_timeout;
    let overflow = sending.as_ref().map(|s| s.overflow.clone());
    let mut last_read = Instant::now();
    loop {
        let keepalive_due = io.keepalive_due();
        let wake = tokio::select! {
            frame = io.read_frame() => Wake::Frame(frame),
            out = recv(&mut sending) => Wake::Deliver(out),
            () = overflowed(overflow.as_deref()) => Wake::Overflow,
            () = sleep_until(last_read + idle) => Wake::Idle,
            () = sleep_until(keepalive_due.into()) => Wake::Keepalive,
        };
        match wake {
            Wake::Frame(Ok(Frame::Element(el))) => {
                last_read = Instant::now();
                let el = xml::renamespace(el, wire_ns, rhein_proto::ns::CLIENT);
                if let Err(refusal) = receiver.receive(el).await {
                    tracing::info!(condition = refusal.cond.as_str(), reason = %refusal.text, "closing stream");
                    return io.fail(refusal.cond, Some(&refusal.text)).await;
                }
            }
            Wake::Frame(Ok(Frame::Close)) => {
                let _ = io.write(b"</stream:stream>").await;
                return io.close().await;
            }
            Wake::Frame(Ok(Frame::Open(_))) => {
                return io.fail(Cond::BadFormat, Some("unexpected stream restart")).await;
            }
            Wake::Frame(Err(ReadError::Frame(e))) => return io.fail(e.condition(), Some(&e.to_string())).await,
            Wake::Frame(Err(e)) => return tracing::debug!(error = %e, "stream ended"),
            Wake::Deliver(Some(Outbound::Stanza(el))) => {
                let el = xml::renamespace(el, rhein_proto::ns::CLIENT, wire_ns);
                if let Err(e) = io.send(&el).await {
                    return tracing::debug!(error = %e, "write failed");
                }
            }
            Wake::Deliver(Some(Outbound::Close(cond))) => return io.fail(cond, None).await,
            Wake::Deliver(None) => {
                let _ = io.write(b"</stream:stream>").await;
                return io.close().await;
            }
            Wake::Overflow => return io.fail(Cond::PolicyViolation, Some("too many stanzas queued")).await,
            Wake::Idle => return io.fail(Cond::ConnectionTimeout, None).await,
            Wake::Keepalive => {
                if io.write(b" ").await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn recv(sending: &mut Option<Sending<'_>>) -> Option<Outbound> {
    match sending {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn overflowed(overflow: Option<&Notify>) {
    match overflow {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}
