//! One XML stream over one connection: framed reads under byte-rate and size limits, writes
//! under a timeout, restarts after STARTTLS and SASL, and stream errors.

use crate::tls::TlsSettings;
use crate::{Conn, Frame, FrameError, FrameLimits, Framer};
use minidom::Element;
use rhein_metrics::{Direction, DirectionLabel, metrics};
use rhein_proto::{StreamErrorCondition, ns, xml};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

/// Per-stream limits; every one is configurable and has a default suited to c2s.
#[derive(Debug, Clone)]
pub struct Limits {
    /// What one stanza and the stream header may hold (size, depth, attributes).
    pub frame: FrameLimits,
    /// Sustained inbound bytes per second; reads pause when a client goes faster.
    pub bytes_per_second: u64,
    /// Seconds of inbound silence after which the stream is closed (`connection-timeout`).
    pub idle_timeout: Duration,
    /// Longest a single write may block on a client that does not read.
    pub write_timeout: Duration,
    /// Silence on the outbound side after which a whitespace keepalive is sent.
    pub keepalive: Duration,
}

impl Limits {
    /// XEP-0478 `<limits/>` for stream features: the largest stanza taken, and the silence
    /// after which the stream is closed.
    pub fn advertisement(&self) -> Element {
        let clamp = |n: u64| std::num::NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX));
        rhein_proto::parsers::stream_limits::Limits {
            max_bytes: clamp(self.frame.max_element as u64),
            idle_seconds: clamp(self.idle_timeout.as_secs()),
        }
        .into()
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frame: FrameLimits::default(),
            bytes_per_second: 256 * 1024,
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(60),
        }
    }
}

/// The opening `<stream:stream>` of one side of a stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamHeader<'a> {
    /// The content namespace: `jabber:client`, `jabber:server` or `jabber:component:accept`.
    pub ns: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub id: Option<&'a str>,
    /// `version='1.0'` (stream features follow); XEP-0114 component streams have none.
    pub version: bool,
    /// Declares the XEP-0220 `db:` prefix (server streams).
    pub dialback: bool,
}

impl<'a> StreamHeader<'a> {
    pub fn new(ns: &'a str) -> Self {
        Self { ns, from: None, to: None, id: None, version: true, dialback: false }
    }

    pub fn to_wire(&self) -> String {
        let attr = |name: &str, value: Option<&str>| {
            value.map(|v| format!(" {name}='{}'", xml::escape(v))).unwrap_or_default()
        };
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}'{}{}{}{}{} xml:lang='en'>",
            self.ns,
            ns::STREAM,
            if self.dialback { format!(" xmlns:db='{}'", ns::DIALBACK) } else { String::new() },
            attr("from", self.from),
            attr("to", self.to),
            attr("id", self.id),
            if self.version { " version='1.0'" } else { "" },
        )
    }
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed by peer")]
    Closed,
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream's deadline passed (see [`StreamIo::set_deadline`]).
    #[error("deadline passed")]
    TimedOut,
}

/// Token bucket over inbound bytes; allows a burst of two seconds' worth.
struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.max(1) as f64;
        Self { rate, tokens: rate * 2.0, last: Instant::now() }
    }

    /// How long to pause after receiving `n` bytes.
    fn consume(&mut self, n: usize) -> Option<Duration> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate * 2.0);
        self.last = now;
        self.tokens -= n as f64;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

/// Bytes read from the socket at a time, into a buffer of the worker thread's: an idle
/// connection holds no read buffer of its own.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    static READ_SCRATCH: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// A framed XML stream on a connection.
pub struct StreamIo {
    conn: Conn,
    /// Boxed: the parser state is most of a stream's size, and streams move by value through
    /// negotiation into the session.
    framer: Box<Framer>,
    limits: Limits,
    rate: RateLimit,
    last_write: Instant,
    /// Bytes that go out in front of the next write: a stream header waits for the features
    /// (or the error) that always follow it, so both leave in one TLS record and one segment.
    queued: Vec<u8>,
    /// The client sent TLS 0-RTT early data (replayable: see XEP-0484 §3.3).
    early_data: bool,
    /// While the stream negotiates: when it must be done (see [`StreamIo::set_deadline`]).
    deadline: Option<tokio::time::Instant>,
}

impl StreamIo {
    /// Frames `conn`, starting with whatever the client sent as TLS early data.
    pub fn new(mut conn: Conn, limits: Limits) -> Self {
        let mut framer = Box::new(Framer::new(limits.frame));
        let early = conn.take_early_data();
        framer.push(&early);
        Self {
            conn,
            framer,
            rate: RateLimit::new(limits.bytes_per_second),
            limits,
            last_write: Instant::now(),
            queued: Vec::new(),
            early_data: !early.is_empty(),
            deadline: None,
        }
    }

    /// Bounds everything the stream waits for until `deadline`: reads fail with
    /// [`ReadError::TimedOut`], writes and a STARTTLS handshake with `TimedOut` I/O errors.
    /// Negotiation sets it at accept, so a peer that stops in any state (mid-SASL, after
    /// `<proceed/>`, not reading) is dropped in time; the bound session clears it. Ending
    /// the stream (`fail`, `close_stream`) is not bounded by it, so the peer can still be
    /// told why.
    pub fn set_deadline(&mut self, deadline: Option<tokio::time::Instant>) {
        self.deadline = deadline;
    }

    /// Whether part of this stream came as TLS 0-RTT early data, which an attacker can
    /// replay: what it carries must be safe to receive twice.
    pub fn received_early_data(&self) -> bool {
        self.early_data
    }

    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The next frame. Cancel-safe: the only await points are a socket read (which loses no
    /// data when dropped) and a rate-limit pause.
    pub async fn read_frame(&mut self) -> Result<Frame, ReadError> {
        match self.deadline {
            Some(deadline) => {
                tokio::time::timeout_at(deadline, self.read_frame_now()).await.unwrap_or(Err(ReadError::TimedOut))
            }
            None => self.read_frame_now().await,
        }
    }

    async fn read_frame_now(&mut self) -> Result<Frame, ReadError> {
        loop {
            if let Some(frame) = self.framer.next_frame()? {
                return Ok(frame);
            }
            self.framer.release_idle_memory();
            let n = std::future::poll_fn(|cx| poll_read_into(&mut self.conn, &mut self.framer, cx)).await?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            count_bytes(Direction::In, n);
            if let Some(pause) = self.rate.consume(n) {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Writes bytes (after any queued ones), failing with `TimedOut` if the peer does not
    /// read for `write_timeout`.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let joined;
        let data = if self.queued.is_empty() {
            data
        } else {
            joined = [std::mem::take(&mut self.queued).as_slice(), data].concat();
            &joined
        };
        let mut until = tokio::time::Instant::now() + self.limits.write_timeout;
        if let Some(deadline) = self.deadline {
            until = until.min(deadline);
        }
        let fut = async {
            self.conn.write_all(data).await?;
            self.conn.flush().await
        };
        match tokio::time::timeout_at(until, fut).await {
            Ok(r) => {
                self.last_write = Instant::now();
                count_bytes(Direction::Out, data.len());
                r
            }
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "peer does not read")),
        }
    }

    pub async fn send(&mut self, el: &Element) -> io::Result<()> {
        self.write(&xml::to_bytes(el)).await
    }

    /// When the next whitespace keepalive is due.
    pub fn keepalive_due(&self) -> Instant {
        self.last_write + self.limits.keepalive
    }

    /// Queues a c2s response stream header (RFC 6120 §4.7) for the next write.
    pub fn queue_header(&mut self, from: &str, id: &str, to: Option<&str>) {
        let header = StreamHeader { from: Some(from), id: Some(id), to, ..StreamHeader::new(ns::CLIENT) };
        self.queue_stream_header(&header);
    }

    /// Queues a stream header for the next write: for a side whose features (or error)
    /// always follow its header.
    pub fn queue_stream_header(&mut self, header: &StreamHeader<'_>) {
        self.queued.extend_from_slice(header.to_wire().as_bytes());
    }

    /// Writes a stream header now: for a side that waits for its peer after the header
    /// (XEP-0114 components, outbound s2s).
    pub async fn send_stream_header(&mut self, header: &StreamHeader<'_>) -> io::Result<()> {
        self.write(header.to_wire().as_bytes()).await
    }

    /// Sends a stream error and closes the stream (RFC 6120 §4.9.1.1). Errors while doing so
    /// are ignored: the peer is being dropped either way.
    pub async fn fail(&mut self, condition: StreamErrorCondition, text: Option<&str>) {
        self.end(condition.to_wire(text).as_bytes()).await;
    }

    /// Ends our side of the stream with `</stream:stream>` and closes the connection.
    pub async fn close_stream(&mut self) {
        self.end(b"").await;
    }

    /// Writes `last` (after any queued bytes) and `</stream:stream>`, then closes the
    /// connection: over TLS the close_notify leaves in the same flush. The last bytes get
    /// the time any write gets (`write_timeout`).
    async fn end(&mut self, last: &[u8]) {
        let mut out = std::mem::take(&mut self.queued);
        out.extend_from_slice(last);
        out.extend_from_slice(b"</stream:stream>");
        let _ = tokio::time::timeout(self.limits.write_timeout, self.conn.finish(&out)).await;
    }

    /// Closes our side of the stream and the connection.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.shutdown()).await;
    }

    /// Starts a new stream on the same connection (after SASL success).
    pub fn restart(&mut self) {
        self.framer.reset();
    }

    /// The client side of STARTTLS (s2s outbound), after the peer's `<proceed/>`.
    pub async fn starttls_client(self, connector: &tokio_rustls::TlsConnector, domain: &str) -> io::Result<Self> {
        self.upgrade(|conn| conn.into_client_tls(connector, domain)).await
    }

    /// Upgrades to TLS after `<proceed/>` (c2s).
    pub async fn starttls(self, tls: &TlsSettings) -> io::Result<Self> {
        self.starttls_with(&tls.acceptor).await
    }

    /// Upgrades to TLS after `<proceed/>` with a given acceptor (s2s asks for certificates).
    pub async fn starttls_with(self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<Self> {
        self.upgrade(|conn| conn.accept_tls(acceptor)).await
    }

    /// Bytes the peer sent before the handshake are a protocol violation (and a known
    /// injection attack), so they fail the upgrade.
    async fn upgrade<F>(self, handshake: impl FnOnce(Conn) -> F) -> io::Result<Self>
    where
        F: Future<Output = io::Result<Conn>>,
    {
        let Self { conn, mut framer, limits, rate, last_write, queued, deadline, .. } = self;
        debug_assert!(queued.is_empty(), "a queued header never meets a TLS upgrade");
        if !framer.take_pending().is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "data before TLS handshake"));
        }
        framer.reset();
        let conn = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, handshake(conn))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake not done in time"))??,
            None => handshake(conn).await?,
        };
        // No early data after STARTTLS: the handshake starts after plaintext.
        Ok(Self { conn, framer, limits, rate, last_write, queued: Vec::new(), early_data: false, deadline })
    }
}

/// One read from `conn` through the thread's scratch buffer, appended to `framer`; the byte
/// count (0 at end of stream). A pending poll leaves nothing in the buffer, so reusing it
/// across tasks is sound.
fn poll_read_into(conn: &mut Conn, framer: &mut Framer, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    READ_SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(scratch);
        ready!(Pin::new(conn).poll_read(cx, &mut buf))?;
        framer.push(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    })
}

/// Bytes of XMPP streams (client, server and component), for the metrics.
fn count_bytes(direction: Direction, n: usize) {
    metrics().stream_bytes.get_or_create(&DirectionLabel { direction }).inc_by(n as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_burst_then_pauses() {
        let mut r = RateLimit::new(1000);
        assert_eq!(r.consume(1500), None);
        let pause = r.consume(1000).unwrap();
        assert!(pause > Duration::from_millis(400) && pause < Duration::from_millis(600), "{pause:?}");
    }
}
