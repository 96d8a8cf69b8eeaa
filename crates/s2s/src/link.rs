//! The stanza phase of a stream with another server or a component, shared by every such
//! stream: elements from the peer go to a [`Peer`] (already moved into `jabber:client`),
//! whatever the peer wants written goes out in the stream's namespace; keepalives, idle
//! timeout and stream errors as for clients.

use rhein_proto::{Element, StreamErrorCondition as Cond, ns, xml};
use rhein_stream::{Frame, ReadError, StreamIo};
use std::future::Future;
use tokio::time::{Instant, sleep_until};

/// Why a stream is being ended by our side.
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

/// What our side of the stream wants next.
pub(crate) enum Local {
    /// Write this element (a `jabber:client` stanza is written in the stream's namespace).
    Send(Element),
    /// End the stream with an error.
    Fail(Refusal),
    /// End the stream cleanly.
    Close,
}

/// One kind of stream's behaviour in the stanza phase.
pub(crate) trait Peer: Send {
    /// The next thing to write; never resolves while there is nothing.
    fn next_local(&mut self) -> impl Future<Output = Local> + Send;
    /// Takes an element from the peer; returns the answers to write, or refuses it (which
    /// ends the stream).
    fn receive(&mut self, el: Element) -> impl Future<Output = Result<Vec<Element>, Refusal>> + Send;
}

enum Wake {
    Frame(Result<Frame, ReadError>),
    Local(Local),
    Idle,
    Keepalive,
}

/// Runs the stream until either side ends it. `wire_ns` is the stream's content namespace.
pub(crate) async fn run(io: &mut StreamIo, wire_ns: &'static str, peer: &mut impl Peer) {
    let idle = io.limits().idle_timeout;
    let mut last_read = Instant::now();
    loop {
        let keepalive_due = io.keepalive_due();
        let wake = tokio::select! {
            frame = io.read_frame() => Wake::Frame(frame),
            local = peer.next_local() => Wake::Local(local),
            () = sleep_until(last_read + idle) => Wake::Idle,
            () = sleep_until(keepalive_due.into()) => Wake::Keepalive,
        };
        let out = match wake {
            Wake::Frame(Ok(Frame::Element(el))) if el.is("error", ns::STREAM) => {
                tracing::info!(error = %describe_stream_error(&el), "the peer ended the stream");
                return io.close_stream().await;
            }
            Wake::Frame(Ok(Frame::Element(el))) => {
                last_read = Instant::now();
                match peer.receive(xml::renamespace(el, wire_ns, ns::CLIENT)).await {
                    Ok(answers) => answers,
                    Err(refusal) => return fail(io, refusal).await,
                }
            }
            Wake::Frame(Ok(Frame::Close)) | Wake::Local(Local::Close) => {
                return io.close_stream().await;
            }
            Wake::Frame(Ok(Frame::Open(_))) => {
                return fail(io, Refusal::new(Cond::BadFormat, "unexpected stream restart")).await;
            }
            Wake::Frame(Err(ReadError::Frame(e))) => return fail(io, Refusal::new(e.condition(), e.to_string())).await,
            Wake::Frame(Err(e)) => return tracing::debug!(error = %e, "stream ended"),
            Wake::Local(Local::Send(el)) => vec![el],
            Wake::Local(Local::Fail(refusal)) => return fail(io, refusal).await,
            Wake::Idle => return fail(io, Refusal::new(Cond::ConnectionTimeout, "idle")).await,
            Wake::Keepalive => {
                if io.write(b" ").await.is_err() {
                    return;
                }
                continue;
            }
        };
        for el in out {
            if let Err(e) = io.send(&xml::renamespace(el, ns::CLIENT, wire_ns)).await {
                return tracing::debug!(error = %e, "write failed");
            }
        }
    }
}

/// `condition: text` of a `<stream:error/>`.
pub(crate) fn describe_stream_error(error: &Element) -> String {
    let parts: Vec<String> =
        error.children().map(|c| if c.name() == "text" { c.text() } else { c.name().to_owned() }).collect();
    parts.join(": ")
}

async fn fail(io: &mut StreamIo, refusal: Refusal) {
    tracing::info!(condition = refusal.cond.as_str(), reason = %refusal.text, "closing stream");
    io.fail(refusal.cond, Some(&refusal.text)).await;
}
