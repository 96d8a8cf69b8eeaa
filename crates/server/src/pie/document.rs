//! Reads an XEP-0227 document as a stream: `<server-data/>`, then for each `<host/>` its
//! children one at a time (users, and Rhein's rooms and entities), each with the line it
//! starts on. One entry is in memory at a time, however large the file.
//!
//! Bytes go to the parser one line at a time, so every error names the line it is on.

use rhein_proto::minidom::tree_builder::TreeBuilder;
use rhein_proto::{Element, ns};
use rxml::{Parse, RawEvent, RawParser, WithOptions};
use std::io::BufRead;

/// Nesting deeper than this is refused: dropping or serialising an element walks it
/// recursively.
const MAX_DEPTH: usize = 256;

/// One child of a `<host/>`, with the line its start tag is on.
#[derive(Debug)]
pub struct Entry {
    pub line: usize,
    pub host: String,
    pub element: Element,
}

/// Where and why the document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ReadError {
    pub line: usize,
    pub reason: String,
}

/// The stream of entries of one document.
pub struct Reader<R> {
    source: R,
    parser: RawParser,
    builder: TreeBuilder,
    /// The line being parsed (1-based) and what of it is left.
    line: usize,
    pending: Vec<u8>,
    consumed: usize,
    eof: bool,
    /// Before the root element, and right after the XML declaration: whitespace there is
    /// XML's, which the parser takes no text at all for.
    before_root: bool,
    /// Inside a comment before the root.
    prolog_comment: bool,
    depth: usize,
    host: Option<String>,
    entry_line: usize,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(source: R) -> Self {
        let options = rxml::Options {
            max_token_length: 1 << 20,
            comments: rxml::parser::CommentMode::Discard,
            ..Default::default()
        };
        Self {
            source,
            parser: RawParser::with_options(options),
            builder: TreeBuilder::new(),
            line: 0,
            pending: Vec::new(),
            consumed: 0,
            eof: false,
            before_root: true,
            prolog_comment: false,
            depth: 0,
            host: None,
            entry_line: 0,
            done: false,
        }
    }

    fn error(&self, reason: impl Into<String>) -> ReadError {
        ReadError { line: self.line.max(1), reason: reason.into() }
    }

    /// Reads the next line into `pending`; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool, ReadError> {
        self.pending.clear();
        self.consumed = 0;
        let n = self.source.read_until(b'\n', &mut self.pending).map_err(|e| self.error(e.to_string()))?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.line += 1;
        Ok(true)
    }

    /// The next raw event; `None` once the root element has ended.
    fn event(&mut self) -> Result<Option<RawEvent>, ReadError> {
        loop {
            if self.before_root {
                // Whitespace and comments before the root are the prolog's; the parser
                // takes no text at all there, so both are skipped here.
                if self.prolog_comment {
                    match find(&self.pending[self.consumed..], b"-->") {
                        Some(end) => {
                            self.consumed += end + 3;
                            self.prolog_comment = false;
                        }
                        None if self.eof => return Err(self.error("the document ends early")),
                        None => {
                            self.fill()?;
                        }
                    }
                    continue;
                }
                let rest = &self.pending[self.consumed..];
                let blank = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
                self.consumed += blank;
                let rest = &self.pending[self.consumed..];
                if rest.starts_with(b"<!--") {
                    self.consumed += 4;
                    self.prolog_comment = true;
                    continue;
                }
                match rest.first() {
                    None if self.eof => return Err(self.error("the file has no XEP-0227 document")),
                    None => {
                        self.fill()?;
                        continue;
                    }
                    // A comment may be cut at the line's end after `<!`: wait for more.
                    Some(b'<') if rest.len() < 4 && b"<!--".starts_with(rest) && !self.eof => {
                        let kept = rest.to_vec();
                        self.fill()?;
                        let mut joined = kept;
                        joined.extend_from_slice(&self.pending);
                        self.pending = joined;
                        continue;
                    }
                    Some(b'<') => self.before_root = false,
                    Some(_) => return Err(self.error("text before the document's root element")),
                }
            }
            let mut input = &self.pending[self.consumed..];
            let before = input.len();
            let result = self.parser.parse(&mut input, self.eof);
            self.consumed += before - input.len();
            match result {
                Ok(Some(event)) => {
                    if matches!(event, RawEvent::XmlDeclaration(..)) {
                        self.before_root = true;
                    }
                    return Ok(Some(event));
                }
                Ok(None) => return Ok(None),
                Err(rxml::error::EndOrError::NeedMoreData) if self.eof => {
                    return Err(self.error("the document ends early"));
                }
                Err(rxml::error::EndOrError::NeedMoreData) => {
                    // At the end of the input the parser is told so, and reports what is missing.
                    self.fill()?;
                }
                Err(rxml::error::EndOrError::Error(e)) => return Err(self.error(format!("not well-formed XML: {e}"))),
            }
        }
    }

    /// The next child of a host; `None` after the document's end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let Some(event) = self.event()? else {
                return Err(self.error("the document ends early"));
            };
            match &event {
                RawEvent::Text(_, text) if self.depth <= 2 => {
                    if !text.as_str().chars().all(|c| c.is_ascii_whitespace()) {
                        return Err(self.error("text where only elements belong"));
                    }
                    continue;
                }
                RawEvent::ElementHeadOpen(..) => {
                    if self.depth >= MAX_DEPTH {
                        return Err(self.error(format!("elements nested deeper than {MAX_DEPTH} levels")));
                    }
                    if self.depth == 2 {
                        self.entry_line = self.line;
                    }
                }
                _ => {}
            }
            let opens = matches!(event, RawEvent::ElementHeadClose(_));
            let closes = matches!(event, RawEvent::ElementFoot(_));
            self.builder.process_event(event).map_err(|e| self.error(format!("not well-formed XML: {e}")))?;
            if opens {
                self.depth += 1;
                self.opened()?;
            } else if closes {
                self.depth -= 1;
                match self.depth {
                    2 => {
                        let element =
                            self.builder.unshift_child().ok_or_else(|| self.error("an element went missing"))?;
                        let host = self.host.clone().unwrap_or_default();
                        return Ok(Some(Entry { line: self.entry_line, host, element }));
                    }
                    1 => {
                        self.host = None;
                        let _ = self.builder.unshift_child();
                    }
                    0 => {
                        self.finish()?;
                        return Ok(None);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Checks the root and host elements as they open.
    fn opened(&mut self) -> Result<(), ReadError> {
        if self.depth > 3 {
            return Ok(());
        }
        let Some(el) = self.builder.top() else { return Ok(()) };
        let (name, namespace, jid) = (el.name().to_owned(), el.ns(), el.attr("jid").map(str::to_owned));
        let is = |n: &str, ns: &str| name == n && namespace == ns;
        match self.depth {
            1 if !is("server-data", ns::PIE) => Err(self.error(format!(
                "the root element is {{{namespace}}}{name}, not XEP-0227's <server-data xmlns='{}'/>",
                ns::PIE
            ))),
            2 | 3 if is("include", XINCLUDE) => {
                Err(self.error("XInclude is not supported: merge the files into one first"))
            }
            2 if !is("host", ns::PIE) => Err(self.error(format!("<{name}/> where a <host/> belongs"))),
            2 => match jid {
                Some(jid) if !jid.is_empty() => {
                    self.host = Some(jid);
                    Ok(())
                }
                _ => Err(self.error("a <host/> without a jid")),
            },
            _ => Ok(()),
        }
    }

    /// After the root's end: nothing but whitespace may follow.
    fn finish(&mut self) -> Result<(), ReadError> {
        self.done = true;
        loop {
            if !self.pending[self.consumed..].iter().all(u8::is_ascii_whitespace) {
                return Err(self.error("content after the document's end"));
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

const XINCLUDE: &str = "http://www.w3.org/2001/XInclude";

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(doc: &str) -> Result<Vec<(usize, String, String)>, ReadError> {
        let mut reader = Reader::new(doc.as_bytes());
        let mut found = Vec::new();
        while let Some(e) = reader.next_entry()? {
            found.push((e.line, e.host, e.element.attr("name").unwrap_or_default().to_owned()));
        }
        Ok(found)
    }

    #[test]
    fn users_come_one_at_a_time_with_their_lines() {
        let doc = "<?xml version='1.0' encoding='UTF-8'?>\n<!-- an export -->\n<server-data xmlns='urn:xmpp:pie:0'>\n\
            <host jid='a.example'>\n  <user name='one'/>\n  <user\n name='two'><query xmlns='jabber:iq:roster'/></user>\n\
            </host>\n<host jid='b.example'/>\n<host jid='c.example'><user name='three'/></host>\n</server-data>\n\n";
        assert_eq!(
            entries(doc).unwrap(),
            vec![
                (5, "a.example".into(), "one".into()),
                (6, "a.example".into(), "two".into()),
                (10, "c.example".into(), "three".into()),
            ]
        );
    }

    #[test]
    fn errors_name_their_line() {
        let cases = [
            (
                "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'>\n</usr></host></server-data>",
                4,
                "not well-formed",
            ),
            ("<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'/>\n", 3, "eof"),
            ("<server-data xmlns='urn:x'/>", 1, "root element"),
            ("<server-data xmlns='urn:xmpp:pie:0'>\n\n<hosts/></server-data>", 3, "where a <host/> belongs"),
            ("<server-data xmlns='urn:xmpp:pie:0'>\n<host/></server-data>", 2, "without a jid"),
            ("<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>oops</host></server-data>", 2, "text where"),
            ("<server-data xmlns='urn:xmpp:pie:0'/>\n<more/>", 2, "after the document"),
            ("", 1, "no XEP-0227 document"),
            (
                "<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>\n<xi:include href='a.xml'/></server-data>",
                2,
                "XInclude",
            ),
        ];
        for (doc, line, reason) in cases {
            let e = entries(doc).unwrap_err();
            assert_eq!(e.line, line, "{doc}: {e}");
            assert!(e.reason.contains(reason), "{doc}: {e}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "<server-data xmlns='urn:xmpp:pie:0'><host jid='a'><user name='x'>{}{}</user></host></server-data>",
            "<a>".repeat(300),
            "</a>".repeat(300)
        );
        assert!(entries(&deep).unwrap_err().reason.contains("nested deeper"));
    }
}
