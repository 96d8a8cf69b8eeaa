//! Reads an XEP-0227 document as a stream: `<server-data/>`, then for each `<host/>` its
//! children one at a time (users, and Rhein's rooms and entities), each with the line it
//! starts on. One entry is in memory at a time, however large the file.
//!
//! Bytes go to the parser one line at a time, so every error names the line it is on.
//! XInclude (XEP-0227 §3) is followed where the XEP says an importer must: an `<include/>`
//! with a relative `href` in place of a host or of a host's child, as ejabberd's
//! `export_piefxis` writes them.

use rhein_proto::minidom::tree_builder::TreeBuilder;
use rhein_proto::{Element, ns};
use rxml::{Parse, RawEvent, RawParser, WithOptions};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};

/// Nesting deeper than this is refused: dropping or serialising an element walks it
/// recursively.
const MAX_DEPTH: usize = 256;

/// Documents included from included documents, at most.
const MAX_INCLUDES: usize = 8;

const XINCLUDE: &str = "http://www.w3.org/2001/XInclude";

/// One child of a `<host/>`, with where its start tag is.
#[derive(Debug)]
pub struct Entry {
    /// The included file it was read from (`None`: the document itself).
    pub file: Option<PathBuf>,
    pub line: usize,
    pub host: String,
    pub element: Element,
}

impl Entry {
    /// `line N`, or `FILE: line N` for an entry of an included file.
    pub fn location(&self) -> String {
        location(self.file.as_deref(), self.line)
    }
}

fn location(file: Option<&Path>, line: usize) -> String {
    match file {
        Some(f) => format!("{}: line {line}", f.display()),
        None => format!("line {line}"),
    }
}

/// Where and why the document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", location(file.as_deref(), *line))]
pub struct ReadError {
    /// The included file the error is in (`None`: the document itself).
    pub file: Option<PathBuf>,
    pub line: usize,
    pub reason: String,
}

/// What a document's root element is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    /// `<server-data/>`: hosts at depth 2, their entries at depth 3.
    ServerData,
    /// An included `<host/>`: its entries at depth 2.
    Host,
    /// An included entry of this host: the root itself.
    Entry(String),
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
    root: Root,
    /// The file read, for includes relative to it, and whether errors name it.
    path: Option<PathBuf>,
    included_file: bool,
    /// An included document being read: its entries come first.
    included: Option<Box<Reader<BufReader<File>>>>,
    nesting: usize,
}

impl Reader<BufReader<File>> {
    /// Reads the file at `path` (XIncludes in it are relative to its directory).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut reader = Reader::new(BufReader::new(File::open(path)?));
        reader.path = Some(path.to_owned());
        Ok(reader)
    }
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
            root: Root::ServerData,
            path: None,
            included_file: false,
            included: None,
            nesting: 0,
        }
    }

    fn error(&self, reason: impl Into<String>) -> ReadError {
        let file = self.included_file.then(|| self.path.clone()).flatten();
        ReadError { file, line: self.line.max(1), reason: reason.into() }
    }

    /// The depth of hosts' elements, if this document has any.
    fn host_depth(&self) -> Option<usize> {
        match self.root {
            Root::ServerData => Some(2),
            Root::Host => Some(1),
            Root::Entry(_) => None,
        }
    }

    /// The depth of entries.
    fn entry_depth(&self) -> usize {
        self.host_depth().map_or(1, |d| d + 1)
    }

    /// Reads the document an `<include/>` names next, as a host's document or an entry's.
    fn include(&mut self, el: &Element, root: Root) -> Result<(), ReadError> {
        let href = el.attr("href").ok_or_else(|| self.error("an XInclude without href"))?;
        if el.attr("parse").is_some_and(|p| p != "xml") || el.attr("xpointer").is_some() {
            return Err(self.error("only XIncludes of whole XML documents (no parse='text', no xpointer) are read"));
        }
        if self.nesting >= MAX_INCLUDES {
            return Err(self.error(format!("XIncludes nested deeper than {MAX_INCLUDES} documents")));
        }
        let relative = Path::new(href);
        let plain = relative.components().all(|c| matches!(c, Component::Normal(_))) && !href.contains("://");
        if !plain {
            return Err(
                self.error(format!("XInclude href {href:?}: only a path relative to this file's directory is read"))
            );
        }
        let Some(base) = self.path.as_deref().map(|p| p.parent().unwrap_or(Path::new("."))) else {
            return Err(self.error("an XInclude in a document that is not a file"));
        };
        let path = base.join(relative);
        let mut reader = Reader::open(&path).map_err(|e| self.error(format!("XInclude of {}: {e}", path.display())))?;
        reader.included_file = true;
        reader.nesting = self.nesting + 1;
        if let Root::Entry(host) = &root {
            reader.host = Some(host.clone());
        }
        reader.root = root;
        self.included = Some(Box::new(reader));
        Ok(())
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
        loop {
            if let Some(included) = &mut self.included {
                match included.next_entry()? {
                    Some(entry) => return Ok(Some(entry)),
                    None => self.included = None,
                }
            }
            if self.done {
                return Ok(None);
            }
            let Some(event) = self.event()? else {
                return Err(self.error("the document ends early"));
            };
            let entry_depth = self.entry_depth();
            match &event {
                RawEvent::Text(_, text) if self.depth < entry_depth => {
                    if !text.as_str().chars().all(|c| c.is_ascii_whitespace()) {
                        return Err(self.error("text where only elements belong"));
                    }
                    continue;
                }
                RawEvent::ElementHeadOpen(..) => {
                    if self.depth >= MAX_DEPTH {
                        return Err(self.error(format!("elements nested deeper than {MAX_DEPTH} levels")));
                    }
                    if self.depth + 1 == entry_depth {
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
                continue;
            }
            if !closes {
                continue;
            }
            self.depth -= 1;
            if self.depth + 1 == entry_depth {
                // An entry (or an include of one) is complete.
                let element = if self.depth == 0 { self.builder.root.take() } else { self.builder.unshift_child() };
                let element = element.ok_or_else(|| self.error("an element went missing"))?;
                if self.depth == 0 {
                    self.finish()?;
                }
                let host = self.host.clone().unwrap_or_default();
                if element.is("include", XINCLUDE) {
                    self.include(&element, Root::Entry(host))?;
                    continue;
                }
                let file = self.included_file.then(|| self.path.clone()).flatten();
                return Ok(Some(Entry { file, line: self.entry_line, host, element }));
            }
            if Some(self.depth + 1) == self.host_depth() {
                // A host (or an include of one) is complete.
                self.host = None;
                if self.depth == 0 {
                    self.finish()?;
                    continue;
                }
                if let Some(el) = self.builder.unshift_child().filter(|el| el.is("include", XINCLUDE)) {
                    self.include(&el, Root::Host)?;
                }
                continue;
            }
            if self.depth == 0 {
                self.finish()?;
            }
        }
    }

    /// Checks the root and host elements as they open.
    fn opened(&mut self) -> Result<(), ReadError> {
        if self.depth > self.entry_depth() {
            return Ok(());
        }
        let Some(el) = self.builder.top() else { return Ok(()) };
        let (name, namespace, jid) = (el.name().to_owned(), el.ns(), el.attr("jid").map(str::to_owned));
        let is = |n: &str, ns: &str| name == n && namespace == ns;
        if self.depth == 1 && self.root == Root::ServerData && !is("server-data", ns::PIE) {
            return Err(self.error(format!(
                "the root element is {{{namespace}}}{name}, not XEP-0227's <server-data xmlns='{}'/>",
                ns::PIE
            )));
        }
        if is("include", XINCLUDE) {
            return match (self.depth, &self.root) {
                (1, _) => Err(self.error("an included document that is an XInclude itself")),
                _ => Ok(()),
            };
        }
        if Some(self.depth) != self.host_depth() {
            return Ok(());
        }
        if !is("host", ns::PIE) {
            return Err(self.error(format!("<{name}/> where a <host/> belongs")));
        }
        match jid {
            Some(jid) if !jid.is_empty() => {
                self.host = Some(jid);
                Ok(())
            }
            _ => Err(self.error("a <host/> without a jid")),
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
                "not a file",
            ),
        ];
        for (doc, line, reason) in cases {
            let e = entries(doc).unwrap_err();
            assert_eq!(e.line, line, "{doc}: {e}");
            assert!(e.reason.contains(reason), "{doc}: {e}");
        }
    }

    /// ejabberd's `export_piefxis`: a main file including one file per host (which could
    /// include one per user).
    #[test]
    fn included_hosts_and_users_are_read_in_place() {
        let dir = std::env::temp_dir().join(format!("rhein-xinclude-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a.example")).unwrap();
        let write = |name: &str, content: &str| std::fs::write(dir.join(name), content).unwrap();
        write(
            "main.xml",
            "<?xml version='1.0'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>\
            <xi:include href='a.example.xml'/>\n<host jid='b.example'><user name='inline'/></host></server-data>",
        );
        write(
            "a.example.xml",
            "<host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='a.example'>\n\
            <user name='one'/>\n<xi:include href='a.example/two.xml'/></host>",
        );
        write("a.example/two.xml", "<?xml version='1.0'?>\n<user xmlns='urn:xmpp:pie:0' name='two'/>\n");
        write(
            "bad.xml",
            "<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>\
            <xi:include href='../etc/passwd'/></server-data>",
        );
        write(
            "broken.xml",
            "<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>\
            <xi:include href='broken-host.xml'/></server-data>",
        );
        write("broken-host.xml", "<host xmlns='urn:xmpp:pie:0' jid='a.example'>\n\n<user name='x'></host>");

        let mut reader = Reader::open(&dir.join("main.xml")).unwrap();
        let mut found = Vec::new();
        while let Some(e) = reader.next_entry().unwrap() {
            found.push((e.location(), e.host, e.element.attr("name").unwrap().to_owned()));
        }
        let two = dir.join("a.example/two.xml");
        assert_eq!(
            found,
            vec![
                (format!("{}: line 2", dir.join("a.example.xml").display()), "a.example".into(), "one".into()),
                (format!("{}: line 2", two.display()), "a.example".into(), "two".into()),
                ("line 2".into(), "b.example".into(), "inline".into()),
            ]
        );
        let e = Reader::open(&dir.join("bad.xml")).unwrap().next_entry().unwrap_err();
        assert!(e.reason.contains("only a path relative"), "{e}");
        let e = Reader::open(&dir.join("broken.xml")).unwrap().next_entry().unwrap_err();
        assert_eq!((e.file, e.line), (Some(dir.join("broken-host.xml")), 3), "{}", e.reason);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A damaged file is refused, never a panic: every prefix of a real one.
    #[test]
    fn every_prefix_is_read_or_refused() {
        let doc = "<?xml version='1.0'?>\n<!-- x -->\n<server-data xmlns='urn:xmpp:pie:0'><host jid='a'>\n<user name='u'>\
            <query xmlns='jabber:iq:roster'><item jid='b@a'/></query></user></host></server-data>\n";
        for end in 0..doc.len() {
            let _ = entries(&doc[..end]);
        }
        assert_eq!(entries(doc).unwrap().len(), 1);
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
