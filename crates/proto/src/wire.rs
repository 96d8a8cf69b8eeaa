//! The serialiser for stanzas on their way out. minidom's own writer goes through rxml's
//! namespace-tracking encoder, which was a third of the server's CPU when a room fans a
//! message out to a thousand occupants, and which panics on trees a peer can send (a prefix
//! declared again on a child, `xmlns:xml` declared). Stanzas need little of it: this writer
//! names every element's namespace as the default where it changes, never by a prefix, so
//! prefixes only serve attributes: those an element declares are kept, and an attribute in a
//! namespace no prefix of its element names gets one declared beside it.

use crate::ns;
use minidom::{Element, Node};
use rxml::Namespace;

/// Appends `el` and its subtree to `out`.
pub(crate) fn append(el: &Element, out: &mut Vec<u8>) {
    write_element(el, None, out);
}

/// A stanza for many recipients whose copies differ only in `to` (a room's message to its
/// occupants): serialised once, each copy written as that one serialisation with its `to`.
#[derive(Debug)]
pub struct Broadcast {
    /// The stanza without `to`.
    element: Element,
    bytes: Box<[u8]>,
    /// Where the start tag's name ends: `to` goes right after it.
    name_end: usize,
}

impl Broadcast {
    /// `element`'s `to`, if it has one, is dropped: every copy gets its own.
    pub fn new(mut element: Element) -> Self {
        crate::xml::remove_attr(&mut element, "to");
        let mut bytes = Vec::with_capacity(256);
        append(&element, &mut bytes);
        let name_end = 1 + bytes[1..].iter().position(|b| matches!(b, b' ' | b'/' | b'>')).unwrap_or(0);
        Self { element, bytes: bytes.into_boxed_slice(), name_end }
    }

    /// The stanza as every recipient gets it, without `to`.
    pub fn element(&self) -> &Element {
        &self.element
    }

    /// The copy for `to`, as an element of its own.
    pub fn to_element(&self, to: &str) -> Element {
        crate::xml::with_attr(self.element.clone(), "to", to)
    }

    /// Appends the copy for `to`.
    pub fn append_to(&self, to: &str, out: &mut Vec<u8>) {
        let (start, rest) = self.bytes.split_at(self.name_end);
        out.extend_from_slice(start);
        out.extend_from_slice(b" to='");
        escape(to.as_bytes(), true, out);
        out.push(b'\'');
        out.extend_from_slice(rest);
    }
}

fn write_element(el: &Element, parent_ns: Option<&str>, out: &mut Vec<u8>) {
    out.push(b'<');
    out.extend_from_slice(el.name().as_bytes());
    // The namespace is only copied out of the element when it differs from the parent's.
    let own_ns;
    let ns = match parent_ns {
        Some(p) if el.has_ns(p) => p,
        _ => {
            own_ns = el.ns();
            out.extend_from_slice(b" xmlns='");
            escape(own_ns.as_bytes(), true, out);
            out.push(b'\'');
            own_ns.as_str()
        }
    };
    for (prefix, uri) in el.prefixes.declared_prefixes() {
        if let Some(prefix) = prefix.as_deref().filter(|p| declarable(p, uri)) {
            declare(prefix, uri, out);
        }
    }
    let mut fresh = Vec::new();
    for ((attr_ns, name), value) in el.attrs() {
        if (attr_ns.is_none() && name.as_str() == "xmlns") || *attr_ns == *Namespace::xmlns() {
            // Declarations are the writer's to make.
            continue;
        }
        if *attr_ns == *Namespace::xml() {
            out.extend_from_slice(b" xml:");
        } else if attr_ns.is_none() {
            out.push(b' ');
        } else {
            let prefix = attribute_prefix(el, attr_ns, &mut fresh, out);
            out.push(b' ');
            out.extend_from_slice(prefix.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"='");
        escape(value.as_bytes(), true, out);
        out.push(b'\'');
    }
    let mut nodes = el.nodes().peekable();
    if nodes.peek().is_none() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for node in nodes {
        match node {
            Node::Element(child) => write_element(child, Some(ns), out),
            Node::Text(text) => escape(text.as_bytes(), false, out),
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(el.name().as_bytes());
    out.push(b'>');
}

/// Whether `prefix` may be declared for `uri` (Namespaces in XML 1.0 §3): `xml` is bound
/// already and `xmlns` never is, neither namespace goes to another prefix, and no prefix is
/// bound to no namespace.
fn declarable(prefix: &str, uri: &str) -> bool {
    !matches!(prefix, "xml" | "xmlns") && !uri.is_empty() && uri != ns::XML && uri != ns::XMLNS
}

fn declare(prefix: &str, uri: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b" xmlns:");
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(b"='");
    escape(uri.as_bytes(), true, out);
    out.push(b'\'');
}

/// The prefix of an attribute in namespace `uri` (neither none nor `xml`): one the element
/// declares for it, else one declared now, just before the attribute: `tns0`, `tns1`… as
/// minidom names them, skipping any the element declares itself.
fn attribute_prefix(el: &Element, uri: &str, fresh: &mut Vec<(String, String)>, out: &mut Vec<u8>) -> String {
    let declared = el.prefixes.declared_prefixes();
    if let Some(prefix) = declared.iter().find_map(|(p, u)| p.as_deref().filter(|p| u == uri && declarable(p, u))) {
        return prefix.to_owned();
    }
    if let Some((_, prefix)) = fresh.iter().find(|(u, _)| u == uri) {
        return prefix.clone();
    }
    let taken = |p: &str| declared.keys().any(|d| d.as_deref() == Some(p)) || fresh.iter().any(|(_, f)| f == p);
    let mut n = fresh.len();
    let prefix = loop {
        let candidate = format!("tns{n}");
        if !taken(&candidate) {
            break candidate;
        }
        n += 1;
    };
    declare(&prefix, uri, out);
    fresh.push((uri.to_owned(), prefix.clone()));
    prefix
}

/// Escapes markup characters; in attribute values also the quote and the whitespace that
/// attribute-value normalisation would otherwise turn into spaces.
fn escape(s: &[u8], attribute: bool, out: &mut Vec<u8>) {
    let mut plain = 0;
    for (i, &b) in s.iter().enumerate() {
        let entity: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\r' => b"&#xD;",
            b'\'' if attribute => b"&apos;",
            b'"' if attribute => b"&quot;",
            b'\n' if attribute => b"&#xA;",
            b'\t' if attribute => b"&#x9;",
            _ => continue,
        };
        out.extend_from_slice(&s[plain..i]);
        out.extend_from_slice(entity);
        plain = i + 1;
    }
    out.extend_from_slice(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::{Broadcast, append};
    use minidom::Element;

    fn wire(el: &Element) -> String {
        let mut out = Vec::new();
        append(el, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// What this writer produces parses back to the same element.
    #[test]
    fn round_trips() {
        let cases = [
            "<message xmlns='jabber:client' to='a@b/c' type='chat' id='x&apos;&quot;&lt;1'><body>a &lt; b &amp; c &gt; d\r\n\te</body></message>",
            "<iq xmlns='jabber:client' type='result' id='1'><query xmlns='jabber:iq:roster' ver='3'><item jid='x@y' name='tab&#x9;nl&#xA;'><group>G</group></item></query></iq>",
            "<presence xmlns='jabber:client' xml:lang='de'><status xml:lang='en'>hi</status><x xmlns=''><y/></x></presence>",
            "<message xmlns='jabber:client'><x:data xmlns:x='urn:x' x:attr='1'>t</x:data><body/></message>",
            "<message xmlns='jabber:client' xmlns:e='urn:e'><e:a/></message>",
        ];
        for case in cases {
            let el: Element = case.parse().unwrap();
            let text = wire(&el);
            let back: Element = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, el, "{text}");
        }
    }

    /// Trees a peer can send that minidom's writer panicked on (a prefix declared again on
    /// a child; `xml` declared) or wrote with prefixes out of scope: written, and read back
    /// as the same tree.
    #[test]
    fn any_parsed_prefixes_are_written_back() {
        let cases = [
            "<message xmlns='jabber:client' xmlns:a='urn:a'><a:b xmlns:a='urn:b' a:x='1'/></message>",
            "<message xmlns='jabber:client' xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>",
            "<message xmlns='jabber:client' xmlns:a='urn:a' a:x='1'><a:b a:y='2'><c a:z='3'/></a:b></message>",
            "<message xmlns='jabber:client' xmlns:tns0='urn:t' xmlns:a='urn:a' tns0:x='1' a:y='2'><b xmlns:tns0='urn:u' a:z='3' tns0:w='4'/></message>",
            "<message xmlns='jabber:client' xmlns:p='urn:p' xmlns:q='urn:p' p:x='1'><p:a xmlns='urn:d'><b/></p:a></message>",
            "<message xmlns='jabber:client' xmlns:a='urn:a' xmlns:b='urn:b' xmlns:c='urn:c'><x xmlns:tns0='urn:t' a:x='1' b:y='2' c:z='3'/></message>",
        ];
        for case in cases {
            let el: Element = case.parse().unwrap();
            let text = wire(&el);
            let back: Element = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, el, "{text}");
        }
    }

    /// Declarations are the writer's: attributes that would be one are not written.
    #[test]
    fn never_writes_a_declaration_as_an_attribute() {
        let mut el = Element::bare("message", "jabber:client");
        crate::xml::set_attr(&mut el, "xmlns", "urn:evil");
        crate::xml::set_attr_ns(&mut el, "http://www.w3.org/2000/xmlns/", "p", "urn:evil");
        crate::xml::set_attr(&mut el, "id", "1");
        assert_eq!(wire(&el), "<message xmlns='jabber:client' id='1'/>");
    }

    #[test]
    fn declares_only_namespace_changes() {
        let el: Element =
            "<message xmlns='jabber:client' to='a@b'><body>hi</body><x xmlns='urn:x'/></message>".parse().unwrap();
        assert_eq!(wire(&el), "<message xmlns='jabber:client' to='a@b'><body>hi</body><x xmlns='urn:x'/></message>");
    }

    /// Each copy of a broadcast parses to the stanza with that recipient's `to`, whatever
    /// `to` the template had and however its start tag is written.
    #[test]
    fn broadcast_copies_carry_their_own_to() {
        let cases = [
            "<message xmlns='jabber:client' to='old@x' from='r@muc/n' type='groupchat'><body>a</body></message>",
            "<presence xmlns='jabber:client'/>",
            "<message xmlns='jabber:client' xmlns:e='urn:e' to='a@b'><e:a/></message>",
        ];
        for case in cases {
            let template: Element = case.parse().unwrap();
            let b = Broadcast::new(template.clone());
            assert_eq!(b.element().attr("to"), None);
            for to in ["u@h/r", "o'dd@h/<&>"] {
                let mut out = Vec::new();
                b.append_to(to, &mut out);
                let text = String::from_utf8(out).unwrap();
                let copy: Element = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
                let expected = crate::xml::with_attr(template.clone(), "to", to);
                assert_eq!(copy, expected, "{text}");
                assert_eq!(b.to_element(to), expected);
            }
        }
    }
}
