//! The serialiser for stanzas on their way out. minidom's own writer goes through rxml's
//! namespace-tracking encoder, which was a third of the server's CPU when a room fans a
//! message out to a thousand occupants. Stanzas need little of it: this writer declares the
//! default namespace where it changes and escapes attribute values and text. An element it
//! does not handle simply (declared prefixes, attributes in a namespace other than `xml:`) is
//! written by minidom, which declares everything it needs itself.

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
    if !simple(el) {
        let start = out.len();
        if el.write_to(out).is_err() {
            out.truncate(start);
        }
        return;
    }
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
    for ((attr_ns, name), value) in el.attrs() {
        out.push(b' ');
        if !attr_ns.is_none() {
            out.extend_from_slice(b"xml:");
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

/// No prefix declarations and no attribute in a namespace other than `xml:`.
fn simple(el: &Element) -> bool {
    el.prefixes.declared_prefixes().is_empty()
        && el.attrs().iter().all(|((ns, _), _)| ns.is_none() || *ns == *Namespace::xml())
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
