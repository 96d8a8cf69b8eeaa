//! Incremental framing of an XMPP stream into its header, top-level elements and end, over
//! rxml's restricted-XML parser (no DTDs, entities or processing instructions by design).

use minidom::Element;
use minidom::tree_builder::TreeBuilder;
use rhein_proto::StreamErrorCondition;
use rxml::{Parse, RawEvent, RawParser, WithOptions};
use std::collections::BTreeMap;

/// One unit of an incoming stream.
#[derive(Debug)]
pub enum Frame {
    /// The `<stream:stream>` header; the element carries its attributes, no children.
    Open(Element),
    /// A complete top-level element (stanza or nonza).
    Element(Element),
    /// `</stream:stream>`.
    Close,
}

/// Why framing stopped; each maps to the stream error the RFC prescribes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("XML not well-formed: {0}")]
    NotWellFormed(String),
    #[error("restricted XML: {0}")]
    Restricted(String),
    #[error("stanza larger than {0} bytes")]
    TooLarge(usize),
    #[error("text at stream level")]
    BadFormat,
}

impl FrameError {
    pub fn condition(&self) -> StreamErrorCondition {
        match self {
            Self::NotWellFormed(_) => StreamErrorCondition::NotWellFormed,
            Self::Restricted(_) => StreamErrorCondition::RestrictedXml,
            Self::TooLarge(_) => StreamErrorCondition::PolicyViolation,
            Self::BadFormat => StreamErrorCondition::BadFormat,
        }
    }
}

/// Longest name or attribute value accepted (longer text is split, not refused). The lexer
/// reserves this much scratch space for every stream that is parsing, so it is kept well
/// below the stanza limit.
const MAX_TOKEN: usize = 16 * 1024;

/// Sans-I/O framer: push bytes in, pull frames out.
pub struct Framer {
    parser: RawParser,
    /// Builds one top-level element at a time. The stream header is not kept in it (a parsed
    /// element with its attribute and prefix maps is kilobytes, held for the stream's life);
    /// its namespace declarations are, in `stream_prefixes`.
    builder: TreeBuilder,
    stream_prefixes: Vec<(Option<String>, String)>,
    /// Bytes received but not yet handed to the parser (kept when a frame ends mid-buffer,
    /// so a stream restart can start exactly after it).
    pending: Vec<u8>,
    /// Element depth: 0 before the header, 1 inside the stream, 2+ inside a stanza.
    depth: usize,
    /// Bytes of the current top-level element so far.
    element_bytes: usize,
    max_element: usize,
}

impl Framer {
    pub fn new(max_element: usize) -> Self {
        let opts = rxml::Options { max_token_length: MAX_TOKEN.min(max_element.max(1024)), ..Default::default() };
        Self {
            parser: RawParser::with_options(opts),
            builder: TreeBuilder::new(),
            stream_prefixes: Vec::new(),
            pending: Vec::new(),
            depth: 0,
            element_bytes: 0,
            max_element,
        }
    }

    /// Starts a new stream (after STARTTLS or SASL success), keeping unparsed bytes.
    pub fn reset(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        *self = Self::new(self.max_element);
        self.pending = pending;
    }

    /// Takes the bytes not parsed yet (data sent before a TLS handshake completed must never
    /// be read as part of the secured stream; a load generator may count the rest raw).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Gives back scratch memory while the stream is idle between stanzas (an idle session's
    /// memory is dominated by such buffers).
    pub fn release_idle_memory(&mut self) {
        if self.pending.is_empty() && self.depth <= 1 {
            self.parser.release_temporaries();
            self.pending = Vec::new();
        }
    }

    pub fn max_element(&self) -> usize {
        self.max_element
    }

    pub fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    /// The next complete frame, or `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let mut pending = std::mem::take(&mut self.pending);
        let mut input: &[u8] = &pending;
        let result = self.run(&mut input);
        let consumed = pending.len() - input.len();
        pending.drain(..consumed);
        // `run` never pushes, so nothing arrived meanwhile.
        self.pending = pending;
        result
    }

    fn run(&mut self, input: &mut &[u8]) -> Result<Option<Frame>, FrameError> {
        loop {
            let event = match self.parser.parse(input, false) {
                Ok(Some(ev)) => ev,
                Ok(None) => return Ok(None),
                Err(rxml::error::EndOrError::NeedMoreData) => return Ok(None),
                Err(rxml::error::EndOrError::Error(e)) => return Err(classify(e)),
            };
            if self.depth >= 1 {
                let len = event_len(&event);
                if self.depth >= 2 || matches!(event, RawEvent::ElementHeadOpen(..)) {
                    self.element_bytes += len;
                    if self.element_bytes > self.max_element {
                        return Err(FrameError::TooLarge(self.max_element));
                    }
                }
            }
            match &event {
                RawEvent::Text(_, text) if self.depth == 1 => {
                    // Whitespace between stanzas is keepalive; anything else has no place here.
                    if text.as_str().chars().all(|c| c.is_ascii_whitespace()) {
                        continue;
                    }
                    return Err(FrameError::BadFormat);
                }
                RawEvent::ElementFoot(_) if self.depth == 1 => {
                    self.depth = 0;
                    return Ok(Some(Frame::Close));
                }
                _ => {}
            }
            if self.depth == 1 && matches!(event, RawEvent::ElementHeadOpen(..)) {
                // A top-level element starts: its builder knows the stream's declarations.
                let inherited = self.stream_prefixes.iter().cloned().collect::<BTreeMap<_, _>>();
                self.builder = TreeBuilder::new().with_prefixes_stack(vec![inherited.into()]);
            }
            let opens = matches!(event, RawEvent::ElementHeadClose(_));
            let closes = matches!(event, RawEvent::ElementFoot(_));
            self.builder.process_event(event).map_err(|e| FrameError::NotWellFormed(e.to_string()))?;
            if opens {
                self.depth += 1;
                if self.depth == 1 {
                    let header = self.builder.root.take().or_else(|| self.builder.top().cloned());
                    self.builder = TreeBuilder::new();
                    let Some(header) = header else { return Ok(None) };
                    self.stream_prefixes =
                        header.prefixes.declared_prefixes().iter().map(|(p, ns)| (p.clone(), ns.clone())).collect();
                    return Ok(Some(Frame::Open(header)));
                }
            } else if closes {
                self.depth -= 1;
                if self.depth == 1 {
                    self.element_bytes = 0;
                    if let Some(mut el) = self.builder.root.take() {
                        self.drop_inherited_prefixes(&mut el);
                        return Ok(Some(Frame::Element(el)));
                    }
                }
            }
        }
    }
}

impl Framer {
    /// The element took the stream's declarations as its own when it was built; only those
    /// it made itself stay (serialising it elsewhere must not repeat the stream's).
    fn drop_inherited_prefixes(&self, el: &mut Element) {
        let own: BTreeMap<_, _> = el
            .prefixes
            .declared_prefixes()
            .iter()
            .filter(|(p, ns)| !self.stream_prefixes.iter().any(|(sp, sns)| sp == *p && sns == *ns))
            .map(|(p, ns)| (p.clone(), ns.clone()))
            .collect();
        el.prefixes = own.into();
    }
}

fn event_len(ev: &RawEvent) -> usize {
    match ev {
        RawEvent::XmlDeclaration(m, _)
        | RawEvent::ElementHeadOpen(m, _)
        | RawEvent::Attribute(m, _, _)
        | RawEvent::ElementHeadClose(m)
        | RawEvent::ElementFoot(m)
        | RawEvent::Text(m, _) => m.len(),
    }
}

fn classify(e: rxml::Error) -> FrameError {
    match e {
        // rxml's word for a name or attribute value over MAX_TOKEN: a size limit, not a feature.
        rxml::Error::RestrictedXml("long name or reference") => FrameError::TooLarge(MAX_TOKEN),
        rxml::Error::RestrictedXml(what) => FrameError::Restricted(what.to_owned()),
        rxml::Error::UndeclaredEntity => FrameError::Restricted("entity references".into()),
        // rxml rejects `<!DOCTYPE` and comments as a malformed `<!` section.
        rxml::Error::InvalidSyntax(what) if what.contains("cdata or comment") => {
            FrameError::Restricted(format!("DTDs and comments ({what})"))
        }
        other => FrameError::NotWellFormed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

    fn frames(f: &mut Framer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(fr) = f.next_frame().unwrap() {
            out.push(fr);
        }
        out
    }

    #[test]
    fn frames_header_stanzas_and_close_byte_by_byte() {
        let mut f = Framer::new(10_000);
        let doc = format!(
            "{HEADER} <message to='a@b'><body>hi &amp; bye</body></message>\n<iq type='get' id='1'/></stream:stream>"
        );
        let mut got = Vec::new();
        for b in doc.as_bytes() {
            f.push(&[*b]);
            got.extend(frames(&mut f));
        }
        assert_eq!(got.len(), 4, "{got:?}");
        let Frame::Open(h) = &got[0] else { panic!() };
        assert_eq!(h.attr("to"), Some("localhost"));
        let Frame::Element(m) = &got[1] else { panic!() };
        assert!(m.is("message", "jabber:client"));
        assert_eq!(m.get_child("body", "jabber:client").unwrap().text(), "hi & bye");
        assert!(matches!(&got[2], Frame::Element(iq) if iq.attr("id") == Some("1")));
        assert!(matches!(got[3], Frame::Close));
    }

    #[test]
    fn reset_keeps_bytes_after_the_frame() {
        let mut f = Framer::new(10_000);
        f.push(format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}").as_bytes());
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Open(_))));
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Element(_))));
        f.reset();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Open(_))));
    }

    #[test]
    fn stanzas_know_the_stream_namespaces_but_do_not_repeat_them() {
        let mut f = Framer::new(10_000);
        let stanzas = "<message to='a@b'><body>1</body></message>\
            <iq xmlns:x='urn:x' type='get' id='q'><x:query/></iq><stream:error/>";
        f.push(format!("{HEADER}{stanzas}").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        let mut els = Vec::new();
        while let Ok(Some(Frame::Element(el))) = f.next_frame() {
            els.push(el);
        }
        assert_eq!(els.len(), 3);
        assert!(els[0].is("message", "jabber:client") && els[0].get_child("body", "jabber:client").is_some());
        assert!(els[1].get_child("query", "urn:x").is_some());
        assert!(els[2].is("error", "http://etherx.jabber.org/streams"));
        let wire = String::from(&els[0]);
        assert!(!wire.contains("xmlns:stream"), "{wire}");
        assert_eq!(els[1].prefixes.declared_prefixes().len(), 1, "the stanza's own declaration stays");
    }

    #[test]
    fn long_text_is_whole_and_long_attributes_are_refused() {
        let text = "y".repeat(3 * MAX_TOKEN);
        let mut f = Framer::new(256 * 1024);
        f.push(format!("{HEADER}<message><body>{text}</body></message>").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        let Ok(Some(Frame::Element(el))) = f.next_frame() else { panic!("no element") };
        assert_eq!(el.get_child("body", "jabber:client").unwrap().text(), text);

        let mut f = Framer::new(256 * 1024);
        f.push(format!("{HEADER}<message id='{}'/>", "z".repeat(MAX_TOKEN + 1)).as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        assert_eq!(f.next_frame().unwrap_err().condition(), StreamErrorCondition::PolicyViolation);
    }

    #[test]
    fn rejects_dtd_oversize_and_garbage() {
        let mut f = Framer::new(10_000);
        f.push(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>");
        let e = f.next_frame().unwrap_err();
        assert_eq!(e.condition(), StreamErrorCondition::RestrictedXml);

        let mut f = Framer::new(200);
        f.push(format!("{HEADER}<message><body>{}</body></message>", "x".repeat(300)).as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        assert_eq!(f.next_frame().unwrap_err(), FrameError::TooLarge(200));

        let mut f = Framer::new(10_000);
        f.push(format!("{HEADER}<a></b>").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        assert_eq!(f.next_frame().unwrap_err().condition(), StreamErrorCondition::NotWellFormed);

        for restricted in ["<?pi x?>", "<!-- c -->", "<a>&custom;</a>"] {
            let mut f = Framer::new(10_000);
            f.push(format!("{HEADER}{restricted}").as_bytes());
            assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
            let e = f.next_frame().unwrap_err();
            assert_eq!(e.condition(), StreamErrorCondition::RestrictedXml, "{restricted}");
        }
    }
}
