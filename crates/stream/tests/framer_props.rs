//! Property tests of the framer: however a peer splits, garbles or inflates a stream, framing
//! gives the same frames, never panics, always terminates, and never hands out an element past
//! a limit. 256 cases a property (proptest's default); `PROPTEST_CASES=100000` for a longer run.

use minidom::Element;
use proptest::prelude::*;
use rhein_stream::{Exceeded, Frame, FrameError, FrameLimits, Framer, parse_document, parse_element};

const JABBER_CLIENT: &str = "jabber:client";
const XML_DECL: &str = "<?xml version='1.0'?>";

// ---- A model of well-formed stanzas, written out as bytes ----

/// One generated element. Its attribute names are distinct; the prefix it declares, if any,
/// is used by its own name or by one of its attributes (or by neither).
#[derive(Debug, Clone)]
struct Node {
    name: String,
    /// `xmlns='…'` of its own, else it inherits its parent's namespace.
    ns: Option<String>,
    /// `xmlns:p='…'`, and whether the element's name takes the prefix.
    prefix: Option<(String, String, bool)>,
    attrs: Vec<(String, String)>,
    /// Attributes in the declared prefix's namespace (`p:name`), distinct names.
    prefixed_attrs: Vec<(String, String)>,
    children: Vec<Child>,
}

#[derive(Debug, Clone)]
enum Child {
    Element(Node),
    Text(String),
}

impl Node {
    fn write(&self, out: &mut String) {
        let name = match &self.prefix {
            Some((p, _, true)) => format!("{p}:{}", self.name),
            _ => self.name.clone(),
        };
        out.push('<');
        out.push_str(&name);
        if let Some(ns) = &self.ns {
            out.push_str(&format!(" xmlns='{}'", escape(ns, true)));
        }
        if let Some((p, ns, _)) = &self.prefix {
            out.push_str(&format!(" xmlns:{p}='{}'", escape(ns, true)));
            for (k, v) in &self.prefixed_attrs {
                out.push_str(&format!(" {p}:{k}='{}'", escape(v, true)));
            }
        }
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}='{}'", escape(v, true)));
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Child::Element(el) => el.write(out),
                Child::Text(t) => out.push_str(&escape(t, false)),
            }
        }
        out.push_str(&format!("</{name}>"));
    }

    fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn depth(&self) -> usize {
        1 + self.elements().map(Node::depth).max().unwrap_or(0)
    }

    fn elements(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter_map(|c| match c {
            Child::Element(el) => Some(el),
            Child::Text(_) => None,
        })
    }

    /// Attributes as the framer counts them: namespace declarations included.
    fn most_attributes(&self) -> usize {
        let own = self.attrs.len()
            + self.prefixed_attrs.len()
            + usize::from(self.ns.is_some())
            + usize::from(self.prefix.is_some());
        self.elements().map(Node::most_attributes).fold(own, usize::max)
    }
}

/// Escapes as a peer might: markup always, and in attribute values the quote and the
/// whitespace that attribute-value normalisation would turn into spaces; sometimes by a
/// character reference instead of a named entity.
fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&#62;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\t' | '\n' | '\r' if attribute => out.push_str(&format!("&#x{:X};", u32::from(c))),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_.-]{0,8}"
}

fn prefix_name() -> impl Strategy<Value = String> {
    // Never `xml…`: names starting with it are reserved.
    "[a-wyz][a-z0-9]{0,3}"
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("urn:xmpp:sm:3".to_owned()),
        Just("http://jabber.org/protocol/disco#info".to_owned()),
        Just("urn:a".to_owned()),
        Just("urn:b".to_owned()),
        "urn:[a-z0-9:.#&'<-]{1,12}",
    ]
}

/// Any text XML allows, weighted towards what needs escaping.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        "[ -~\t\n\r]{0,16}",
        "[&<>'\"\\]\u{e9}\u{20ac}\u{1f600}\u{fffd}\u{10ffff} a]{0,8}",
        any::<String>().prop_map(|s| s.chars().filter(|c| allowed_in_xml(*c)).collect()),
    ]
}

fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// Distinct attribute names with values; never `xmlns`, which declares.
fn attributes(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(xml_name().prop_filter("a declaration", |n| n != "xmlns"), text(), 0..=max)
        .prop_map(|m| m.into_iter().collect())
}

fn leaf(max_attrs: usize) -> impl Strategy<Value = Node> {
    (
        xml_name(),
        prop::option::weighted(0.2, namespace()),
        prop::option::weighted(0.2, (prefix_name(), namespace(), any::<bool>())),
        attributes(max_attrs),
        attributes(2),
    )
        .prop_map(|(name, ns, prefix, attrs, prefixed)| Node {
            name,
            ns,
            prefixed_attrs: if prefix.is_some() { prefixed } else { Vec::new() },
            prefix,
            attrs,
            children: Vec::new(),
        })
}

/// Elements at most `depth` levels deep with at most `max_attrs` attributes each (plus up to
/// two prefixed ones and two declarations).
fn element(depth: u32, max_attrs: usize) -> impl Strategy<Value = Node> {
    leaf(max_attrs).prop_recursive(depth.saturating_sub(1), 64, 4, move |inner| {
        (
            leaf(max_attrs),
            prop::collection::vec(
                prop_oneof![3 => inner.prop_map(Child::Element), 1 => text().prop_map(Child::Text)],
                0..4,
            ),
        )
            .prop_map(|(mut node, children)| {
                node.children = children;
                node
            })
    })
}

/// A stanza: a top-level element of the stream, usually in the stream's namespace.
fn stanza() -> impl Strategy<Value = Node> {
    (prop_oneof![Just("message"), Just("presence"), Just("iq"), Just("r"), Just("a")], element(5, 4)).prop_map(
        |(name, mut node)| {
            node.name = name.to_owned();
            if let Some((_, _, prefixed_name)) = &mut node.prefix {
                *prefixed_name = false;
            }
            node
        },
    )
}

fn header() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::option::of("[a-z.]{1,12}"), "[ \n]{0,2}").prop_map(|(decl, to, ws)| {
        let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
        format!(
            "{}{ws}<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'{to} version='1.0'>",
            if decl { XML_DECL } else { "" }
        )
    })
}

/// A whole stream: header, stanzas with keepalive whitespace between them, maybe the close.
#[derive(Debug, Clone)]
struct Stream {
    header: String,
    stanzas: Vec<Node>,
    gaps: Vec<String>,
    closed: bool,
}

impl Stream {
    fn bytes(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        for (stanza, gap) in self.stanzas.iter().zip(&self.gaps) {
            out.push_str(gap);
            stanza.write(&mut out);
        }
        if self.closed {
            out.push_str("</stream:stream>");
        }
        out.into_bytes()
    }
}

fn stream() -> impl Strategy<Value = Stream> {
    (header(), prop::collection::vec((stanza(), "[ \t\r\n]{0,3}"), 0..6), any::<bool>()).prop_map(
        |(header, stanzas, closed)| {
            let (stanzas, gaps) = stanzas.into_iter().unzip();
            Stream { header, stanzas, gaps, closed }
        },
    )
}

/// What minidom's own (namespace-aware) parser makes of a stanza alone: the oracle.
fn oracle(stanza: &Node) -> Element {
    let xml = stanza.to_xml();
    let xml = if stanza.ns.is_none() {
        xml.replacen(&format!("<{}", stanza.name), &format!("<{} xmlns='{JABBER_CLIENT}'", stanza.name), 1)
    } else {
        xml
    };
    xml.parse().unwrap_or_else(|e| panic!("the model wrote bad XML: {xml}: {e}"))
}

// ---- Driving the framer ----

/// A frame, comparable.
#[derive(Debug, PartialEq)]
enum Got {
    Open(Element),
    Element(Element),
    Close,
    Error(FrameError),
}

/// Feeds `chunks` one by one, taking every frame after each, until the first error.
/// Checks on the way that each call ends (a frame consumes at least one byte) and that no
/// frame was made of more bytes than its limit: those the framer consumed for it, less the
/// whitespace before it.
fn feed<'a>(framer: &mut Framer, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Got> {
    let limits = framer.limits();
    let mut got = Vec::new();
    let mut sent = Vec::new();
    let mut framed_up_to = 0;
    for chunk in chunks {
        framer.push(chunk);
        sent.extend_from_slice(chunk);
        // Bounded: every frame consumes at least one byte, and an error ends the stream.
        for _ in 0..=sent.len() + 1 {
            let frame = match framer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    got.push(Got::Error(e));
                    return got;
                }
            };
            let pending = framer.take_pending();
            framer.push(&pending);
            let end = sent.len() - pending.len();
            let counted = counted(&sent[framed_up_to..end]);
            framed_up_to = end;
            got.push(match frame {
                Frame::Open(h) => {
                    assert!(counted <= limits.max_header, "a header of {counted} bytes");
                    Got::Open(h)
                }
                Frame::Element(el) => {
                    assert!(counted <= limits.max_element, "a stanza of {counted} bytes");
                    Got::Element(el)
                }
                Frame::Close => Got::Close,
            });
            assert!(got.len() <= sent.len(), "{} frames out of {} bytes", got.len(), sent.len());
        }
    }
    got
}

/// The bytes of a frame that count towards its limit: not the whitespace before it (nor
/// after an XML declaration).
fn counted(span: &[u8]) -> usize {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let span = &span[span.iter().take_while(|b| blank(b)).count()..];
    match span.windows(2).position(|w| w == b"?>") {
        Some(end) if span.starts_with(b"<?xml") => end + 2 + counted(&span[end + 2..]),
        _ => span.len(),
    }
}

/// `bytes` cut at `cuts` (positions, any order, duplicates allowed).
fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks
}

fn depth(el: &Element) -> usize {
    1 + el.children().map(depth).max().unwrap_or(0)
}

/// Attributes of `el` and of every element in it, declarations included, the most on one.
fn most_attributes(el: &Element) -> usize {
    let own = el.attrs().len() + el.prefixes.declared_prefixes().len();
    el.children().map(most_attributes).fold(own, usize::max)
}

/// Every element handed out keeps within `limits`, and what the server writes of it reads
/// back as the same element within the limits for its own output.
fn assert_within(got: &[Got], limits: FrameLimits) {
    for frame in got {
        let Got::Element(el) = frame else { continue };
        assert!(depth(el) <= limits.max_depth, "depth {} > {}: {el:?}", depth(el), limits.max_depth);
        let attrs = most_attributes(el);
        assert!(attrs <= limits.max_attributes, "{attrs} attributes > {}: {el:?}", limits.max_attributes);
        let wire = rhein_proto::xml::to_bytes(el);
        // Escaping may lengthen what was sent: `>` in text is written `&gt;`, at most 6 bytes
        // for one (`"` in a value), and the stream's namespace is declared on the element.
        let bound = 6 * limits.max_element + 64;
        assert!(wire.len() <= bound, "{} bytes written > {bound}", wire.len());
        let back = parse_element(&wire, limits.for_output())
            .unwrap_or_else(|e| panic!("written as {} and refused: {e}", String::from_utf8_lossy(&wire)));
        assert_eq!(&back, el, "written as {}", String::from_utf8_lossy(&wire));
    }
}

/// Limits small enough that generated streams run into them.
fn small_limits() -> impl Strategy<Value = FrameLimits> {
    (16usize..2048, 1usize..8, 0usize..8, 64usize..400, 2usize..5).prop_map(
        |(max_element, max_depth, max_attributes, max_header, max_header_namespaces)| FrameLimits {
            max_element,
            max_depth,
            max_attributes,
            max_header,
            max_header_namespaces,
        },
    )
}

// ---- Properties ----

proptest! {
    /// However the stream is cut into reads, the frames are those of the whole stream, and
    /// they are the stanzas that were sent.
    #[test]
    fn any_split_gives_the_frames_of_the_whole(stream in stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let bytes = stream.bytes();
        let whole = feed(&mut Framer::new(FrameLimits::default()), [&bytes[..]]);
        let pieces = feed(&mut Framer::new(FrameLimits::default()), split(&bytes, &cuts));
        prop_assert_eq!(&pieces, &whole);

        let mut expected: Vec<&Node> = stream.stanzas.iter().collect();
        prop_assert!(matches!(whole.first(), Some(Got::Open(h)) if h.attr("version") == Some("1.0")), "{:?}", whole.first());
        for got in &whole[1..] {
            match got {
                Got::Element(el) => {
                    let sent = expected.remove(0);
                    prop_assert_eq!(el, &oracle(sent), "{}", sent.to_xml());
                }
                Got::Close => prop_assert!(stream.closed && expected.is_empty()),
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        prop_assert!(expected.is_empty(), "{} stanzas not framed", expected.len());
        prop_assert_eq!(whole.last().is_some_and(|g| matches!(g, Got::Close)), stream.closed);
        assert_within(&whole, FrameLimits::default());
    }

    /// Byte by byte, too (the slowest way a peer can send).
    #[test]
    fn byte_by_byte_gives_the_frames_of_the_whole(stream in stream()) {
        let bytes = stream.bytes();
        let whole = feed(&mut Framer::new(FrameLimits::default()), [&bytes[..]]);
        let bytewise = feed(&mut Framer::new(FrameLimits::default()), bytes.chunks(1));
        prop_assert_eq!(bytewise, whole);
    }

    /// Any bytes at all: no panic, every call ends, nothing past a limit comes out.
    #[test]
    fn byte_soup_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), cuts in prop::collection::vec(any::<usize>(), 0..8), limits in small_limits()) {
        let got = feed(&mut Framer::new(limits), split(&bytes, &cuts));
        assert_within(&got, limits);
        let _ = parse_document(&bytes, limits);
        let _ = parse_element(&bytes, limits);
    }

    /// Soup of XML's own tokens after a valid header, which gets much further into the
    /// parser than random bytes.
    #[test]
    fn token_soup_never_panics(head in header(), tokens in prop::collection::vec(token(), 0..64), cuts in prop::collection::vec(any::<usize>(), 0..8), limits in small_limits()) {
        let bytes = [head.as_bytes(), tokens.concat().as_bytes()].concat();
        let got = feed(&mut Framer::new(limits), split(&bytes, &cuts));
        assert_within(&got, limits);
        let body = tokens.concat();
        let _ = parse_element(body.as_bytes(), limits);
        let _ = parse_document(format!("<body xmlns='urn:b'>{body}</body>").as_bytes(), limits);
    }

    /// A valid stream with a few bytes changed, inserted or removed.
    #[test]
    fn mutated_streams_never_panic(stream in stream(), edits in prop::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..6), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut bytes = stream.bytes();
        for (at, kind, byte) in edits {
            let at = at % (bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 if at < bytes.len() => { bytes.remove(at); }
                _ => { let tail = bytes[at..].to_vec(); bytes.extend_from_slice(&tail[..tail.len().min(16)]); }
            }
        }
        let limits = FrameLimits::default();
        let got = feed(&mut Framer::new(limits), split(&bytes, &cuts));
        assert_within(&got, limits);
    }
}

/// Pieces of XML, valid and not, that a token soup is made of.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("/>".to_owned()),
        Just("</".to_owned()),
        Just("<a>".to_owned()),
        Just("</a>".to_owned()),
        Just("<message>".to_owned()),
        Just("</message>".to_owned()),
        Just("<iq type='get' id='1'/>".to_owned()),
        Just(" x='1'".to_owned()),
        Just(" x='2'".to_owned()),
        Just(" xmlns='urn:a'".to_owned()),
        Just(" xmlns:p='urn:p'".to_owned()),
        Just(" xmlns:p='urn:q'".to_owned()),
        Just(" xmlns:xml='http://www.w3.org/XML/1998/namespace'".to_owned()),
        Just(" xml:lang='en'".to_owned()),
        Just(" p:y='1'".to_owned()),
        Just("<p:b>".to_owned()),
        Just("</p:b>".to_owned()),
        Just("<stream:error/>".to_owned()),
        Just("</stream:stream>".to_owned()),
        Just("&amp;".to_owned()),
        Just("&#x10FFFF;".to_owned()),
        Just("&#0;".to_owned()),
        Just("&unknown;".to_owned()),
        Just("<![CDATA[x]]>".to_owned()),
        Just("<!--".to_owned()),
        Just("<?pi?>".to_owned()),
        Just("<!DOCTYPE a>".to_owned()),
        Just("'".to_owned()),
        Just("=".to_owned()),
        Just(" ".to_owned()),
        xml_name(),
        text(),
    ]
}

// ---- Each limit, exceeded alone, refused with its own error ----

/// A stanza `levels` deep.
fn nested(levels: usize) -> String {
    format!("<message>{}{}</message>", "<a>".repeat(levels - 1), "</a>".repeat(levels - 1))
}

/// The frames after a default header, with `limits`.
fn framed(limits: FrameLimits, doc: &str) -> Vec<Got> {
    let header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    let got = feed(&mut Framer::new(limits), [format!("{header}{doc}").as_bytes()]);
    assert!(matches!(got.first(), Some(Got::Open(_))), "{got:?}");
    got.into_iter().skip(1).collect()
}

fn roomy() -> FrameLimits {
    FrameLimits {
        max_element: 1 << 20,
        max_depth: 64,
        max_attributes: 64,
        max_header: 1 << 16,
        max_header_namespaces: 64,
    }
}

proptest! {
    /// A stanza deeper than `max_depth` is refused as such; one as deep is framed.
    #[test]
    fn depth_past_the_limit_is_refused(max_depth in 1usize..40, over in 0usize..40) {
        let limits = FrameLimits { max_depth, ..roomy() };
        let got = framed(limits, &nested(max_depth + 1 + over));
        prop_assert_eq!(got, vec![Got::Error(FrameError::Limit(Exceeded::Depth(max_depth)))]);
        let got = framed(limits, &nested(max_depth));
        prop_assert!(matches!(&got[..], [Got::Element(el)] if depth(el) == max_depth), "{got:?}");
    }

    /// Generated stanzas: framed exactly when they keep within the depth and attribute
    /// limits, refused with the error of the limit they break otherwise.
    #[test]
    fn generated_stanzas_meet_depth_and_attribute_limits(stanza in stanza(), max_depth in 1usize..6, max_attributes in 2usize..8) {
        let limits = FrameLimits { max_depth, max_attributes, ..roomy() };
        let got = framed(limits, &stanza.to_xml());
        let expected = if stanza.depth() > max_depth {
            // Depth is checked at each element's start, attributes as they come: which limit
            // is met first depends on the order; both are policy violations.
            if stanza.most_attributes() > max_attributes {
                prop_assert!(matches!(&got[..], [Got::Error(FrameError::Limit(Exceeded::Depth(_) | Exceeded::Attributes(_)))]), "{got:?}");
                return Ok(());
            }
            Got::Error(FrameError::Limit(Exceeded::Depth(max_depth)))
        } else if stanza.most_attributes() > max_attributes {
            Got::Error(FrameError::Limit(Exceeded::Attributes(max_attributes)))
        } else {
            Got::Element(oracle(&stanza))
        };
        prop_assert_eq!(got, vec![expected]);
    }

    /// The size limit counts every byte of a stanza, from its `<` to its last `>`, and
    /// nothing between stanzas: a stanza is framed exactly when it has at most
    /// `max_element` bytes.
    #[test]
    fn a_stanza_is_framed_exactly_when_it_fits(stanza in stanza(), slack in -40isize..40, gap in "[ \n]{0,3}") {
        let xml = stanza.to_xml();
        let max_element = xml.len().saturating_add_signed(slack).max(1);
        let limits = FrameLimits { max_element, ..roomy() };
        let got = framed(limits, &format!("{gap}{xml}{gap}"));
        if xml.len() <= max_element {
            prop_assert_eq!(got, vec![Got::Element(oracle(&stanza))]);
        } else {
            prop_assert_eq!(got, vec![Got::Error(FrameError::Limit(Exceeded::Size(max_element)))]);
        }
    }

    /// The header: refused past its byte limit (XML declaration included), its namespace
    /// declarations limit or the attributes limit, with the error of the limit met first
    /// as it is read; framed when within all three.
    #[test]
    fn header_limits_hold(attrs in attributes(12), decls in 0usize..8, decl in any::<bool>(), max_header in 60usize..600, max_header_namespaces in 0usize..8, max_attributes in 0usize..16) {
        let limits = FrameLimits { max_header, max_header_namespaces, max_attributes, ..roomy() };
        // The header as the framer reads it: its name, then each attribute, then `>`.
        enum Piece { Start, Declaration, Attribute, End }
        let mut pieces = vec![(Piece::Start, format!("{}<stream:stream", if decl { XML_DECL } else { "" }))];
        pieces.push((Piece::Declaration, " xmlns:stream='http://etherx.jabber.org/streams'".to_owned()));
        pieces.extend((0..decls).map(|i| (Piece::Declaration, format!(" xmlns:n{i}='urn:{i}'"))));
        pieces.extend(attrs.iter().map(|(k, v)| (Piece::Attribute, format!(" {k}='{}'", escape(v, true)))));
        pieces.push((Piece::End, ">".to_owned()));
        let header: String = pieces.iter().map(|(_, p)| p.as_str()).collect();

        let (mut read, mut attributes, mut namespaces) = (0, 0, 0);
        let mut expected = None;
        for (kind, piece) in &pieces {
            read += piece.len();
            if read > max_header {
                expected = Some(Exceeded::HeaderSize(max_header));
                break;
            }
            if matches!(kind, Piece::Declaration | Piece::Attribute) {
                attributes += 1;
                if attributes > max_attributes {
                    expected = Some(Exceeded::Attributes(max_attributes));
                    break;
                }
            }
            if matches!(kind, Piece::Declaration) {
                namespaces += 1;
                if namespaces > max_header_namespaces {
                    expected = Some(Exceeded::HeaderNamespaces(max_header_namespaces));
                    break;
                }
            }
        }
        let got = feed(&mut Framer::new(limits), [header.as_bytes()]);
        match expected {
            Some(e) => prop_assert_eq!(got, vec![Got::Error(FrameError::Limit(e))], "{}", header),
            None => prop_assert!(matches!(&got[..], [Got::Open(_)]), "{header}: {got:?}"),
        }
    }
}
