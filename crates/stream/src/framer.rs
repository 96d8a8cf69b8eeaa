//! Incremental framing of an XMPP stream into its header, top-level elements and end, over
//! rxml's restricted-XML parser (no DTDs, entities or processing instructions by design).

use minidom::Element;
use minidom::tree_builder::TreeBuilder;
use rhein_proto::{StreamErrorCondition, ns};
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
    #[error("only UTF-8 streams are supported")]
    UnsupportedEncoding,
    #[error("{0}")]
    Limit(Exceeded),
    #[error("text at stream level")]
    BadFormat,
}

/// Which limit a peer went past (RFC 6120 §4.9.3.14 `policy-violation`).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum Exceeded {
    #[error("stanza larger than {0} bytes")]
    Size(usize),
    #[error("elements nested deeper than {0} levels")]
    Depth(usize),
    #[error("more than {0} attributes on one element")]
    Attributes(usize),
    #[error("stream header larger than {0} bytes")]
    HeaderSize(usize),
    #[error("more than {0} namespace declarations on the stream header")]
    HeaderNamespaces(usize),
}

impl FrameError {
    pub fn condition(&self) -> StreamErrorCondition {
        match self {
            Self::NotWellFormed(_) => StreamErrorCondition::NotWellFormed,
            Self::Restricted(_) => StreamErrorCondition::RestrictedXml,
            Self::UnsupportedEncoding => StreamErrorCondition::UnsupportedEncoding,
            Self::Limit(_) => StreamErrorCondition::PolicyViolation,
            Self::BadFormat => StreamErrorCondition::BadFormat,
        }
    }
}

/// What one stream may send, enforced while parsing so that nothing past a limit is ever
/// built: an element tree's depth bounds every recursive walk over it (dropping, cloning,
/// serialising), and the header's namespace declarations are inherited by every stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Bytes of one top-level element, attributes included (RFC 6120 §13.12: at least 10,000).
    pub max_element: usize,
    /// Nesting of one top-level element, which is level 1.
    pub max_depth: usize,
    /// Attributes of one element, namespace declarations included.
    pub max_attributes: usize,
    /// Bytes of the stream header, XML declaration included.
    pub max_header: usize,
    /// Namespace declarations on the stream header.
    pub max_header_namespaces: usize,
}

impl FrameLimits {
    /// Deepest nesting any configuration may allow: a tree this deep is walked recursively
    /// (dropped, cloned, serialised) well within a 2 MiB thread stack (see the tests).
    pub const DEPTH_CEILING: usize = 1000;

    /// Room for what the server itself wraps around a peer's stanza (archive results,
    /// carbons, pubsub notifications), for parsing the server's own output.
    pub fn for_output(self) -> Self {
        Self {
            max_element: self.max_element.saturating_mul(4).max(4 * 1024 * 1024),
            max_depth: self.max_depth + 32,
            max_attributes: self.max_attributes.max(1024),
            max_header: self.max_header.max(16 * 1024),
            max_header_namespaces: self.max_header_namespaces.max(64),
        }
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_element: 256 * 1024,
            max_depth: 128,
            max_attributes: 100,
            max_header: 8 * 1024,
            max_header_namespaces: 10,
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
    /// Bytes of the header or of the current top-level element so far.
    element_bytes: usize,
    /// The element head being read, if any (between `<name` and `>`).
    head: Option<Head>,
    /// Before the header, the lexer is between two tokens: whitespace is skipped, and the
    /// next byte must open a tag (the lexer itself would wait for the end of any text first).
    between_tokens: bool,
    limits: FrameLimits,
}

/// What is counted of one element head while its attributes arrive.
#[derive(Default)]
struct Head {
    attributes: usize,
    /// Attributes other than namespace declarations: if the built element has fewer, two
    /// had the same name (the tree builder keeps the last).
    plain: usize,
    /// Prefixes declared on this head (`None`: the default namespace), to refuse a second
    /// declaration of one.
    declared: Vec<Option<String>>,
}

impl Framer {
    pub fn new(limits: FrameLimits) -> Self {
        let opts =
            rxml::Options { max_token_length: MAX_TOKEN.min(limits.max_element.max(1024)), ..Default::default() };
        Self {
            parser: RawParser::with_options(opts),
            builder: TreeBuilder::new(),
            stream_prefixes: Vec::new(),
            pending: Vec::new(),
            depth: 0,
            element_bytes: 0,
            head: None,
            between_tokens: true,
            limits,
        }
    }

    /// Starts a new stream (after STARTTLS or SASL success), keeping unparsed bytes.
    pub fn reset(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        *self = Self::new(self.limits);
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

    pub fn limits(&self) -> FrameLimits {
        self.limits
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
            if self.between_tokens {
                // XML allows whitespace before the root (`Misc`, XML 1.0 §2.8); rxml takes
                // no text at all before the first tag, so it is dropped here.
                let blank = input.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count();
                *input = &input[blank..];
                match input.first() {
                    Some(b'<') => self.between_tokens = false,
                    Some(_) => return Err(FrameError::NotWellFormed("text before the stream header".into())),
                    None => return Ok(None),
                }
            }
            let event = match self.parser.parse(input, false) {
                Ok(Some(ev)) => ev,
                Ok(None) => return Ok(None),
                Err(rxml::error::EndOrError::NeedMoreData) => return Ok(None),
                Err(rxml::error::EndOrError::Error(e)) => return Err(classify(e)),
            };
            self.count(&event)?;
            // After the XML declaration, the header's tag is next.
            self.between_tokens = matches!(event, RawEvent::XmlDeclaration(..));
            match &event {
                RawEvent::Text(_, text) if self.depth <= 1 => {
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
                self.check_head()?;
                self.depth += 1;
                if self.depth == 1 {
                    let header = self.builder.root.take().or_else(|| self.builder.top().cloned());
                    self.builder = TreeBuilder::new();
                    self.element_bytes = 0;
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

    /// Holds an event against the limits before anything is built from it: bytes of the
    /// header and of each top-level element (its attributes included), depth, attributes.
    fn count(&mut self, event: &RawEvent) -> Result<(), FrameError> {
        let in_header = self.depth == 0;
        if in_header || self.depth >= 2 || self.head.is_some() || matches!(event, RawEvent::ElementHeadOpen(..)) {
            self.element_bytes += event_len(event);
            let (limit, exceeded) = if in_header {
                (self.limits.max_header, Exceeded::HeaderSize(self.limits.max_header))
            } else {
                (self.limits.max_element, Exceeded::Size(self.limits.max_element))
            };
            if self.element_bytes > limit {
                return Err(FrameError::Limit(exceeded));
            }
        }
        match event {
            RawEvent::ElementHeadOpen(..) => {
                // The new element's level within its stanza (the header and the stanza's own
                // head are levels 0 and 1).
                if self.depth > self.limits.max_depth {
                    return Err(FrameError::Limit(Exceeded::Depth(self.limits.max_depth)));
                }
                self.head = Some(Head::default());
            }
            RawEvent::Attribute(_, (prefix, name), value) => {
                let Some(head) = self.head.as_mut() else { return Ok(()) };
                head.attributes += 1;
                if head.attributes > self.limits.max_attributes {
                    return Err(FrameError::Limit(Exceeded::Attributes(self.limits.max_attributes)));
                }
                let declared = match (prefix, name.as_str()) {
                    (None, "xmlns") => Some(None),
                    (Some(p), local) if p.as_str() == "xmlns" => Some(Some(local.to_owned())),
                    _ => None,
                };
                match declared {
                    // Namespaces in XML 1.0 §3: no prefix may be bound to the xmlns namespace, nor may
                    // it be the default. rxml refuses a prefix bound to the XML namespace, not this one.
                    Some(_) if value == ns::XMLNS => return Err(reserved_namespace()),
                    Some(_) if in_header && head.declared.len() >= self.limits.max_header_namespaces => {
                        return Err(FrameError::Limit(Exceeded::HeaderNamespaces(self.limits.max_header_namespaces)));
                    }
                    Some(p) if head.declared.contains(&p) => return Err(duplicate_attribute()),
                    Some(p) => head.declared.push(p),
                    None => head.plain += 1,
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// After an element head: its attributes all had distinct names (XML 1.0 §3.1, "Unique
    /// Att Spec"), and it is not in the XML namespace, which only the `xml` prefix may name
    /// (no writer could write it back). Called once the builder holds the element, which
    /// keeps one value per name.
    fn check_head(&mut self) -> Result<(), FrameError> {
        let Some(head) = self.head.take() else { return Ok(()) };
        let Some(el) = self.builder.top() else { return Ok(()) };
        if el.attrs().len() < head.plain {
            return Err(duplicate_attribute());
        }
        if el.has_ns(ns::XML) {
            return Err(reserved_namespace());
        }
        Ok(())
    }

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

/// Parses a whole document whose root plays the stream header's part (a BOSH `<body/>`):
/// the root, and its children each under the limits of a stanza.
pub fn parse_document(bytes: &[u8], limits: FrameLimits) -> Result<(Element, Vec<Element>), FrameError> {
    let incomplete = || FrameError::NotWellFormed("the document ends early".into());
    let mut framer = Framer::new(limits);
    framer.push(bytes);
    let Some(Frame::Open(root)) = framer.next_frame()? else { return Err(incomplete()) };
    let mut children = Vec::new();
    loop {
        match framer.next_frame()?.ok_or_else(incomplete)? {
            Frame::Element(el) => children.push(el),
            Frame::Close => break,
            Frame::Open(_) => return Err(incomplete()),
        }
    }
    if !framer.pending.iter().all(u8::is_ascii_whitespace) {
        return Err(FrameError::NotWellFormed("content after the document's end".into()));
    }
    Ok((root, children))
}

/// Parses one element on its own (a WebSocket message) under the limits of a stanza.
pub fn parse_element(bytes: &[u8], limits: FrameLimits) -> Result<Element, FrameError> {
    let (_, children) = parse_document(&[b"<x xmlns='urn:x'>", bytes, b"</x>"].concat(), limits)?;
    let mut children = children.into_iter();
    match (children.next(), children.next()) {
        (Some(el), None) => Ok(el),
        _ => Err(FrameError::NotWellFormed("expected exactly one element".into())),
    }
}

fn reserved_namespace() -> FrameError {
    FrameError::NotWellFormed("reserved namespace URI".into())
}

fn duplicate_attribute() -> FrameError {
    FrameError::NotWellFormed("an attribute appears twice on one element".into())
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
        rxml::Error::RestrictedXml("long name or reference") => FrameError::Limit(Exceeded::Size(MAX_TOKEN)),
        rxml::Error::RestrictedXml("only utf-8 encoding is allowed") => FrameError::UnsupportedEncoding,
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

    fn sized(max_element: usize) -> Framer {
        Framer::new(FrameLimits { max_element, ..FrameLimits::default() })
    }

    fn frames(f: &mut Framer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(fr) = f.next_frame().unwrap() {
            out.push(fr);
        }
        out
    }

    #[test]
    fn frames_header_stanzas_and_close_byte_by_byte() {
        let mut f = sized(10_000);
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
        let mut f = sized(10_000);
        f.push(format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}").as_bytes());
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Open(_))));
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Element(_))));
        f.reset();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Open(_))));
    }

    #[test]
    fn stanzas_know_the_stream_namespaces_but_do_not_repeat_them() {
        let mut f = sized(10_000);
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
        let mut f = sized(256 * 1024);
        f.push(format!("{HEADER}<message><body>{text}</body></message>").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        let Ok(Some(Frame::Element(el))) = f.next_frame() else { panic!("no element") };
        assert_eq!(el.get_child("body", "jabber:client").unwrap().text(), text);

        let mut f = sized(256 * 1024);
        f.push(format!("{HEADER}<message id='{}'/>", "z".repeat(MAX_TOKEN + 1)).as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        assert_eq!(f.next_frame().unwrap_err().condition(), StreamErrorCondition::PolicyViolation);
    }

    #[test]
    fn rejects_dtd_oversize_and_garbage() {
        let mut f = sized(10_000);
        f.push(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>");
        let e = f.next_frame().unwrap_err();
        assert_eq!(e.condition(), StreamErrorCondition::RestrictedXml);

        let mut f = sized(200);
        f.push(format!("{HEADER}<message><body>{}</body></message>", "x".repeat(300)).as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        assert_eq!(f.next_frame().unwrap_err(), FrameError::Limit(Exceeded::Size(200)));

        let mut f = sized(10_000);
        f.push(format!("{HEADER}<a></b>").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
        assert_eq!(f.next_frame().unwrap_err().condition(), StreamErrorCondition::NotWellFormed);

        for restricted in ["<?pi x?>", "<!-- c -->", "<a>&custom;</a>"] {
            let mut f = sized(10_000);
            f.push(format!("{HEADER}{restricted}").as_bytes());
            assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
            let e = f.next_frame().unwrap_err();
            assert_eq!(e.condition(), StreamErrorCondition::RestrictedXml, "{restricted}");
        }
    }

    /// Frames `doc` after a header; the first error, if any.
    fn first_error(f: &mut Framer, doc: &str) -> Option<FrameError> {
        f.push(format!("{HEADER}{doc}").as_bytes());
        loop {
            match f.next_frame() {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    fn nested(levels: usize) -> String {
        let mut doc = "<message>".to_owned();
        doc += &"<a>".repeat(levels - 1);
        doc += &"</a>".repeat(levels - 1);
        doc + "</message>"
    }

    #[test]
    fn depth_is_limited_before_the_tree_is_built() {
        let limits = FrameLimits { max_depth: 20, ..FrameLimits::default() };
        assert_eq!(first_error(&mut Framer::new(limits), &nested(20)), None);
        let e = first_error(&mut Framer::new(limits), &nested(21)).unwrap();
        assert_eq!(e, FrameError::Limit(Exceeded::Depth(20)));
        assert_eq!(e.condition(), StreamErrorCondition::PolicyViolation);
        // The 70 KB body of 10,000 levels that used to abort the process.
        let e = first_error(&mut Framer::new(FrameLimits::default()), &nested(10_000)).unwrap();
        assert_eq!(e, FrameError::Limit(Exceeded::Depth(128)));
    }

    #[test]
    fn attribute_bytes_count_towards_the_stanza_size() {
        let attrs: String = (0..2_000).map(|i| format!(" a{i}='xxxxxxxx'")).collect();
        let limits = FrameLimits { max_element: 10_000, max_attributes: 10_000, ..FrameLimits::default() };
        let e = first_error(&mut Framer::new(limits), &format!("<message{attrs}/>")).unwrap();
        assert_eq!(e, FrameError::Limit(Exceeded::Size(10_000)));
    }

    #[test]
    fn attributes_per_element_are_capped() {
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i}='x'")).collect::<String>();
        let limits = FrameLimits { max_attributes: 10, ..FrameLimits::default() };
        assert_eq!(
            first_error(&mut Framer::new(limits), &format!("<message{}><b{}/></message>", attrs(10), attrs(10))),
            None
        );
        let e = first_error(&mut Framer::new(limits), &format!("<message><b{}/></message>", attrs(11))).unwrap();
        assert_eq!(e, FrameError::Limit(Exceeded::Attributes(10)));
        // Namespace declarations are attributes too.
        let decls: String = (0..11).map(|i| format!(" xmlns:p{i}='urn:{i}'")).collect();
        let e = first_error(&mut Framer::new(limits), &format!("<message{decls}/>")).unwrap();
        assert_eq!(e, FrameError::Limit(Exceeded::Attributes(10)));
    }

    #[test]
    fn the_header_is_limited_like_a_stanza() {
        let open = |extra: &str| {
            format!("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'{extra}>")
        };
        let header_error = |limits: FrameLimits, header: String| {
            let mut f = Framer::new(limits);
            f.push(header.as_bytes());
            f.next_frame().err()
        };
        let limits = FrameLimits::default();
        assert_eq!(header_error(limits, open(" to='localhost' version='1.0'")), None);
        let long = format!(" to='{}'", "a".repeat(limits.max_header));
        assert_eq!(header_error(limits, open(&long)), Some(FrameError::Limit(Exceeded::HeaderSize(limits.max_header))));
        let decls: String = (0..9).map(|i| format!(" xmlns:p{i}='urn:{i}'")).collect();
        assert_eq!(header_error(limits, open(&decls)), Some(FrameError::Limit(Exceeded::HeaderNamespaces(10))));
        let attrs: String = (0..200).map(|i| format!(" a{i}='x'")).collect();
        assert_eq!(header_error(limits, open(&attrs)), Some(FrameError::Limit(Exceeded::Attributes(100))));
        // A header that never ends is cut at the limit, not buffered.
        let mut f = Framer::new(limits);
        f.push(b"<stream:stream xmlns='jabber:client' ");
        f.push(" ".repeat(limits.max_header).as_bytes());
        f.push(b"to='x'");
        assert_eq!(f.next_frame().err(), Some(FrameError::Limit(Exceeded::HeaderSize(limits.max_header))));
    }

    #[test]
    fn duplicate_attributes_are_not_well_formed() {
        for doc in [
            "<message to='a@b' to='c@d'/>",
            "<message><body xml:lang='en' xml:lang='de'/></message>",
            "<message xmlns:x='urn:x' xmlns:y='urn:x'><a x:k='1' y:k='2'/></message>",
            "<message><a xmlns='urn:a' xmlns='urn:b'/></message>",
        ] {
            let e = first_error(&mut sized(10_000), doc);
            assert!(matches!(e, Some(FrameError::NotWellFormed(_))), "{doc}: {e:?}");
        }
        let mut f = sized(10_000);
        f.push(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a' to='b'>");
        assert!(matches!(f.next_frame(), Err(FrameError::NotWellFormed(_))));
    }

    /// Namespaces in XML 1.0 §3: the `xmlns` namespace is bound to no prefix and is never the
    /// default; the XML namespace belongs to the `xml` prefix, which names attributes only.
    /// Such elements could not be written back (the writer refuses to, or panicked).
    #[test]
    fn reserved_namespaces_are_not_well_formed() {
        for doc in [
            "<message xmlns:a='http://www.w3.org/2000/xmlns/'/>",
            "<message><a xmlns='http://www.w3.org/2000/xmlns/'/></message>",
            "<message><xml:a xmlns:xml='http://www.w3.org/XML/1998/namespace'/></message>",
            "<message xmlns:a='http://www.w3.org/XML/1998/namespace'/>",
        ] {
            let e = first_error(&mut sized(10_000), doc);
            assert_eq!(e, Some(FrameError::NotWellFormed("reserved namespace URI".into())), "{doc}");
        }
        // Declaring `xml` for what it always is, and using it on attributes, is fine.
        let doc = "<message xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>";
        assert_eq!(first_error(&mut sized(10_000), doc), None);
    }

    #[test]
    fn only_utf8_is_accepted() {
        let mut f = sized(10_000);
        f.push(b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>");
        let e = f.next_frame().unwrap_err();
        assert_eq!(e.condition(), StreamErrorCondition::UnsupportedEncoding);
        let mut f = sized(10_000);
        f.push(b"<?xml version='1.0' encoding='UTF-8'?>");
        f.push(HEADER.trim_start_matches("<?xml version='1.0'?>").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))));
    }

    #[test]
    fn garbage_before_the_header_fails_at_once() {
        for garbage in ["hello", "GET / HTTP/1.1\r\n", "\u{0}", "x<stream:stream>", "]]>"] {
            let mut f = sized(10_000);
            f.push(garbage.as_bytes());
            assert!(f.next_frame().is_err(), "{garbage:?} was not refused at once");
            let mut f = sized(10_000);
            f.push(format!("<?xml version='1.0'?>{garbage}").as_bytes());
            assert!(f.next_frame().is_err(), "{garbage:?} after the declaration was not refused at once");
        }
        let mut f = sized(10_000);
        f.push(b"  \r\n");
        assert!(matches!(f.next_frame(), Ok(None)), "whitespace may precede the header");
        f.push(HEADER.trim_start_matches("<?xml version='1.0'?>").as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))), "and the header follows");
        for blank_first in [format!("\n{HEADER}"), HEADER.replace("?><", "?>\r\n\t <")] {
            let mut f = sized(10_000);
            f.push(blank_first.as_bytes());
            assert!(matches!(f.next_frame(), Ok(Some(Frame::Open(_)))), "{blank_first:?}");
        }
        let mut f = sized(10_000);
        f.push(b" \x0c<stream:stream>");
        assert!(f.next_frame().is_err(), "form feed is not XML whitespace");
    }

    #[test]
    fn documents_and_single_elements_parse_under_stanza_limits() {
        let limits = FrameLimits { max_depth: 5, ..FrameLimits::default() };
        let body = "<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><message xmlns='jabber:client'/><iq xmlns='jabber:client' id='x'/></body> ";
        let (root, children) = parse_document(body.as_bytes(), limits).unwrap();
        assert_eq!(root.attr("rid"), Some("1"));
        assert_eq!(children.len(), 2);
        let deep = format!("<body xmlns='http://jabber.org/protocol/httpbind'>{}</body>", nested(6));
        assert_eq!(parse_document(deep.as_bytes(), limits).unwrap_err(), FrameError::Limit(Exceeded::Depth(5)));
        assert!(parse_document(b"<body xmlns='urn:b'><a/>", limits).is_err(), "incomplete");
        assert!(parse_document(b"<body xmlns='urn:b'/><more/>", limits).is_err(), "trailing content");

        let open = parse_element(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='a'/>", limits).unwrap();
        assert!(open.is("open", "urn:ietf:params:xml:ns:xmpp-framing"));
        assert!(parse_element(b"<a xmlns='urn:a'/><b xmlns='urn:a'/>", limits).is_err());
        assert!(parse_element(b"<a xmlns='urn:a'></x><x>", limits).is_err());
        assert_eq!(parse_element(nested(6).as_bytes(), limits).unwrap_err(), FrameError::Limit(Exceeded::Depth(5)));
    }

    /// The deepest tree any configuration admits is parsed, cloned, serialised and dropped
    /// within the 2 MiB stack of a runtime worker thread.
    #[test]
    fn the_deepest_admitted_tree_is_walked_safely() {
        let run = || {
            let limits = FrameLimits { max_depth: FrameLimits::DEPTH_CEILING, ..FrameLimits::default() };
            let mut f = Framer::new(limits);
            assert_eq!(first_error(&mut f, ""), None);
            f.push(nested(FrameLimits::DEPTH_CEILING).as_bytes());
            let Ok(Some(Frame::Element(el))) = f.next_frame() else { panic!("not framed") };
            let copy = el.clone();
            let wire = String::from(&copy);
            assert_eq!(wire.matches("<a>").count() + wire.matches("<a/>").count(), FrameLimits::DEPTH_CEILING - 1);
            drop((el, copy));
            let reparsed = parse_element(wire.as_bytes(), limits).unwrap();
            drop(reparsed);
        };
        std::thread::Builder::new().stack_size(2 * 1024 * 1024).spawn(run).unwrap().join().unwrap();
    }
}
