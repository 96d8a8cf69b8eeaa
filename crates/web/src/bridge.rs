//! Running a c2s session over a transport that is not a byte stream (WebSocket, BOSH): the
//! session gets one end of an in-process duplex (`Conn::Bridged`), the transport the other,
//! writing stream bytes in and parsing what comes out back into elements.

use crate::WebShared;
use rhein_proto::{Element, ns, xml};
use rhein_stream::{Conn, Frame, FrameLimits, Framer};
use std::net::SocketAddr;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;

/// Starts a c2s session; returns the transport's end of its stream and the session's task.
pub(crate) fn start(
    shared: &WebShared,
    peer: SocketAddr,
    transport: rhein_c2s::Transport,
) -> (DuplexStream, JoinHandle<()>) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let conn = Conn::Bridged { io: theirs, secure: shared.tls.is_some() };
    (ours, tokio::spawn(rhein_c2s::serve_bridged(shared.c2s.clone(), conn, peer, transport)))
}

/// The stream header a client would send, as bytes for the c2s engine.
pub(crate) fn stream_header(to: Option<&str>) -> String {
    let to = to.map(|t| format!(" to='{}'", xml::escape(t))).unwrap_or_default();
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}'{to} version='1.0'>",
        ns::CLIENT,
        ns::STREAM
    )
}

/// What the c2s engine wrote, as units a transport sends on.
#[derive(Debug)]
pub(crate) enum Out {
    /// The server's stream header (a new one after each restart).
    Open(Element),
    Element(Element),
    /// The server ended the stream (or wrote something unparsable).
    Close,
}

/// Parses the c2s engine's output. Each stream header starts a new document, so the parser
/// starts over at every `<?xml` (which cannot occur unescaped anywhere else).
pub(crate) struct Output {
    framer: Framer,
}

impl Output {
    /// `limits`: what clients may send; the server's own output wraps it in a few levels more.
    pub(crate) fn new(limits: FrameLimits) -> Self {
        Self { framer: Framer::new(limits.for_output()) }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Out> {
        let mut out = Vec::new();
        for segment in split_before_headers(bytes) {
            if segment.starts_with(b"<?xml") {
                self.framer = Framer::new(self.framer.limits());
            }
            self.framer.push(segment);
            loop {
                match self.framer.next_frame() {
                    Ok(Some(Frame::Open(header))) => out.push(Out::Open(header)),
                    Ok(Some(Frame::Element(el))) => out.push(Out::Element(el)),
                    Ok(Some(Frame::Close)) => {
                        out.push(Out::Close);
                        return out;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "unparsable output from the c2s engine");
                        out.push(Out::Close);
                        return out;
                    }
                }
            }
        }
        out
    }
}

/// `bytes` cut before each `<?xml`.
fn split_before_headers(bytes: &[u8]) -> Vec<&[u8]> {
    const MARK: &[u8] = b"<?xml";
    let mut out = Vec::new();
    let mut from = 0;
    for (i, w) in bytes.windows(MARK.len()).enumerate() {
        if w == MARK && i > from {
            out.push(&bytes[from..i]);
            from = i;
        }
    }
    out.push(&bytes[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_and_elements_are_recognised() {
        let mut o = Output::new(FrameLimits::default());
        let header = |id: &str| {
            format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='{id}' version='1.0'>"
            )
        };
        let first = format!(
            "{}<stream:features/><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{}",
            header("a"),
            header("b")
        );
        let got = o.feed(first.as_bytes());
        assert!(matches!(&got[0], Out::Open(h) if h.attr("id") == Some("a")));
        assert!(matches!(&got[1], Out::Element(e) if e.is("features", ns::STREAM)));
        assert!(matches!(&got[2], Out::Element(e) if e.name() == "success"));
        assert!(matches!(&got[3], Out::Open(h) if h.attr("id") == Some("b")));
        let got = o.feed(b"<message/></stream:stream>");
        assert!(matches!(&got[0], Out::Element(e) if e.is("message", ns::CLIENT)));
        assert!(matches!(got[1], Out::Close));
    }
}
