//! Cuts a server's stream into its header, top-level elements and end without parsing them.
//!
//! The generator shares the machine with the server it measures, and parsing every byte it
//! receives (roster results, contacts' presence) cost a fifth of its CPU per login. It now
//! finds element boundaries by scanning for tags and parses only the few elements it must
//! understand (stream features, SASL, bind); the rest it judges by their start tags.
//! Servers under test send no DTDs or entities; comments, CDATA and processing instructions
//! are skipped, and anything malformed that the scan meets ends the run with an error.

use anyhow::bail;
use rhein_proto::Element;
use std::collections::BTreeMap;

/// One unit of the stream, cut but not parsed.
#[derive(Debug)]
pub enum Piece {
    /// The `<stream:stream>` header (its namespaces kept for `parse`).
    Open,
    /// A complete top-level element, bytes as received.
    Element(Vec<u8>),
    /// `</stream:stream>`.
    Close,
}

/// Push bytes in, pull pieces out.
#[derive(Default)]
pub struct Skimmer {
    buf: Vec<u8>,
    /// Where the next piece starts in `buf`.
    pos: usize,
    /// Namespace prefixes the stream header declared, for parsing its elements.
    prefixes: BTreeMap<Option<String>, String>,
}

/// How far a scan got.
enum Scan {
    Incomplete,
    /// Bytes to skip: an XML declaration, processing instruction, comment or CDATA.
    Skip(usize),
    Open(usize),
    Close(usize),
    Element(usize),
}

impl Skimmer {
    pub fn push(&mut self, data: &[u8]) {
        // What was cut goes; only a partial piece (usually nothing) moves to the front.
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(data);
    }

    /// Forgets the stream so far but not the bytes after its last piece (a stream restart,
    /// after STARTTLS and SASL, begins right there).
    pub fn reset(&mut self) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.prefixes.clear();
    }

    /// The bytes received but not cut yet; the skimmer is empty afterwards.
    pub fn take_pending(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        rest
    }

    pub fn next_piece(&mut self) -> anyhow::Result<Option<Piece>> {
        loop {
            let rest = &self.buf[self.pos..];
            let lt = rest.iter().position(|&b| b == b'<').unwrap_or(rest.len());
            if !rest[..lt].iter().all(u8::is_ascii_whitespace) {
                bail!("text at stream level");
            }
            self.pos += lt;
            if self.pos == self.buf.len() {
                return Ok(None);
            }
            let at = &self.buf[self.pos..];
            let (len, piece) = match scan(at)? {
                Scan::Incomplete => return Ok(None),
                Scan::Skip(len) => (len, None),
                Scan::Open(len) => {
                    self.prefixes = declared_prefixes(&at[..len]);
                    (len, Some(Piece::Open))
                }
                Scan::Close(len) => (len, Some(Piece::Close)),
                Scan::Element(len) => (len, Some(Piece::Element(at[..len].to_vec()))),
            };
            self.pos += len;
            if piece.is_some() {
                return Ok(piece);
            }
        }
    }

    /// Parses an element cut from this stream, in the namespaces its header declared.
    pub fn parse(&self, element: &[u8]) -> anyhow::Result<Element> {
        Ok(Element::from_reader_with_prefixes(element, self.prefixes.clone())?)
    }
}

/// The `xmlns` and `xmlns:*` declarations of a start tag.
fn declared_prefixes(tag: &[u8]) -> BTreeMap<Option<String>, String> {
    attributes(tag)
        .filter_map(|(name, value)| {
            let value = String::from_utf8_lossy(value).into_owned();
            match name {
                b"xmlns" => Some((None, value)),
                _ => name.strip_prefix(b"xmlns:").map(|p| (Some(String::from_utf8_lossy(p).into_owned()), value)),
            }
        })
        .collect()
}

/// Scans the piece starting at `b[0] == b'<'`: tag by tag, counting depth, until a
/// top-level element closes (or the header, the stream's end, or markup to skip is found).
fn scan(b: &[u8]) -> anyhow::Result<Scan> {
    let mut depth = 0usize;
    let mut i = 0;
    loop {
        let Some(lt) = find(b, b"<", i) else { return Ok(Scan::Incomplete) };
        let tag = &b[lt..];
        match tag.get(1) {
            None => return Ok(Scan::Incomplete),
            Some(b'?' | b'!') => match special(tag)? {
                None => return Ok(Scan::Incomplete),
                Some(len) if depth == 0 => return Ok(Scan::Skip(len)),
                Some(len) => i = lt + len,
            },
            Some(b'/') => {
                let Some(gt) = find(b, b">", lt) else { return Ok(Scan::Incomplete) };
                i = gt + 1;
                match depth {
                    0 => return Ok(Scan::Close(i)),
                    1 => return Ok(Scan::Element(i)),
                    _ => depth -= 1,
                }
            }
            Some(_) => {
                let Some((end, empty)) = tag_end(tag) else { return Ok(Scan::Incomplete) };
                i = lt + end + 1;
                if depth == 0 && matches!(tag_name(tag), b"stream:stream" | b"stream") {
                    return Ok(Scan::Open(i));
                }
                if depth == 0 && empty {
                    return Ok(Scan::Element(i));
                }
                depth += usize::from(!empty);
            }
        }
    }
}

/// Length of a processing instruction, comment or CDATA section at `b`; `None` when
/// incomplete. Anything else starting with `<!` (a DTD) is refused.
fn special(b: &[u8]) -> anyhow::Result<Option<usize>> {
    let terminator: &[u8] = if b.starts_with(b"<?") {
        b"?>"
    } else if b.starts_with(b"<!--") {
        b"-->"
    } else if b.starts_with(b"<![CDATA[") {
        b"]]>"
    } else if b.len() < 9 && (b"<![CDATA[".starts_with(b) || b"<!--".starts_with(b)) {
        return Ok(None);
    } else {
        bail!("unexpected markup: {}", String::from_utf8_lossy(&b[..b.len().min(20)]));
    };
    Ok(find(b, terminator, 2).map(|at| at + terminator.len()))
}

/// The index of the `>` closing the start tag at `b`, outside quoted attribute values, and
/// whether the tag is empty (`/>`).
fn tag_end(b: &[u8]) -> Option<(usize, bool)> {
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match (quote, c) {
            (None, b'\'' | b'"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some((i, b[i - 1] == b'/')),
            _ => {}
        }
    }
    None
}

fn tag_name(tag: &[u8]) -> &[u8] {
    let end = tag.iter().skip(1).position(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>');
    &tag[1..end.map_or(tag.len(), |e| e + 1)]
}

/// Where `needle` first occurs in `haystack` at or after `from`.
pub fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|at| at + from)
}

/// The decimal number `bytes` start with (the generator's send stamps in bodies and items).
pub fn number_at(bytes: &[u8]) -> Option<u64> {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&bytes[..len]).ok()?.parse().ok()
}

/// The attributes of a start tag, values as written (not unescaped).
fn attributes(tag: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = &tag[tag_name(tag).len() + 1..];
    std::iter::from_fn(move || {
        let start = rest.iter().position(|c| !c.is_ascii_whitespace())?;
        let eq = start + rest[start..].iter().position(|&c| c == b'=')?;
        let name = rest[start..eq].trim_ascii_end();
        let open = eq + 1 + rest[eq + 1..].iter().position(|&c| c == b'\'' || c == b'"')?;
        let len = rest[open + 1..].iter().position(|&c| c == rest[open])?;
        let value = &rest[open + 1..open + 1 + len];
        rest = &rest[open + len + 2..];
        Some((name, value))
    })
}

/// The value of attribute `name` of the element starting at `element`.
pub fn attribute<'a>(element: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let end = tag_end(element).map_or(element.len(), |(end, _)| end);
    attributes(&element[..end]).find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(input: &[u8], step: usize) -> Vec<String> {
        let mut s = Skimmer::default();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            s.push(chunk);
            while let Some(p) = s.next_piece().unwrap() {
                out.push(match p {
                    Piece::Open => "open".to_string(),
                    Piece::Element(e) => String::from_utf8(e).unwrap(),
                    Piece::Close => "close".to_string(),
                });
            }
        }
        out
    }

    #[test]
    fn cuts_a_stream_in_any_chunking() {
        let stream = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' id='a>b'>\
            <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features> \
            <iq id='r' type=\"result\"><query a='/>'><!-- c <x> --><item jid='x@y'/><![CDATA[<]]></query></iq>\
            <presence/></stream:stream>";
        for step in [1, 2, 7, stream.len()] {
            let got = pieces(stream, step);
            assert_eq!(got.len(), 5, "{got:?}");
            assert_eq!(got[0], "open");
            assert!(got[1].starts_with("<stream:features>") && got[1].ends_with("</stream:features>"));
            assert!(got[2].starts_with("<iq id='r'") && got[2].ends_with("</iq>"));
            assert_eq!(got[3], "<presence/>");
            assert_eq!(got[4], "close");
        }
    }

    #[test]
    fn parses_in_the_header_namespaces_and_reads_start_tags() {
        let mut s = Skimmer::default();
        s.push(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
        s.push(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>");
        assert!(matches!(s.next_piece().unwrap(), Some(Piece::Open)));
        let Some(Piece::Element(features)) = s.next_piece().unwrap() else { panic!("no features") };
        let el = s.parse(&features).unwrap();
        assert!(el.is("features", "http://etherx.jabber.org/streams"));
        let iq = b"<iq type = 'result' id=\"r\" to='a@b/c'><query/></iq>";
        assert_eq!(attribute(iq, "id"), Some(&b"r"[..]));
        assert_eq!(attribute(iq, "type"), Some(&b"result"[..]));
        assert_eq!(attribute(iq, "from"), None);
    }

    #[test]
    fn refuses_text_between_elements() {
        let mut s = Skimmer::default();
        s.push(b"<presence/> \n");
        assert!(matches!(s.next_piece().unwrap(), Some(Piece::Element(_))));
        assert!(s.next_piece().unwrap().is_none());
        s.push(b"oops");
        assert!(s.next_piece().is_err());
    }

    #[test]
    fn refuses_a_doctype() {
        let mut s = Skimmer::default();
        s.push(b"<!DOCTYPE x>");
        assert!(s.next_piece().is_err());
    }
}
