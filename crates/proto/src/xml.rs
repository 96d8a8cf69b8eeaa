//! Helpers over `minidom::Element` for the few things routing does to every stanza: read and
//! rewrite addressing attributes, serialise, and build small elements.

use minidom::Element;
use rxml::{Namespace, NcName};

/// Sets (or replaces) an attribute without a namespace. Names are our own literals, so an
/// invalid one is a programming error caught by tests; it is skipped rather than panicking.
pub fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    if let Ok(name) = NcName::try_from(name) {
        el.attrs_mut().insert(Namespace::NONE, name, value.into());
    }
}

/// Sets an attribute in a namespace (written with a prefix the serializer declares).
pub fn set_attr_ns(el: &mut Element, ns: &str, name: &str, value: impl Into<String>) {
    if let Ok(name) = NcName::try_from(name) {
        el.attrs_mut().insert(Namespace::from(ns.to_owned()), name, value.into());
    }
}

/// Removes an attribute without a namespace.
pub fn remove_attr(el: &mut Element, name: &str) {
    el.attrs_mut().remove(&Namespace::NONE, name);
}

/// Builder-style variant of [`set_attr`].
pub fn with_attr(mut el: Element, name: &str, value: impl Into<String>) -> Element {
    set_attr(&mut el, name, value);
    el
}

/// A childless element `<name xmlns='ns'/>`.
pub fn empty(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

/// An element with one text child.
pub fn text_el(name: &str, ns: &str, text: impl Into<String>) -> Element {
    Element::builder(name, ns).append(text.into()).build()
}

/// Serialises an element (and its subtree) as it goes on the wire.
pub fn to_bytes(el: &Element) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    append_bytes(el, &mut out);
    out
}

/// Serialises an element onto the end of `out` (batches of stanzas share one buffer).
pub fn append_bytes(el: &Element, out: &mut Vec<u8>) {
    crate::wire::append(el, out);
}

/// Serialises an element to a `String` (for storage and logs).
pub fn to_string(el: &Element) -> String {
    String::from_utf8(to_bytes(el)).unwrap_or_default()
}

/// Escapes text for hand-written XML (stream headers only; everything else goes through minidom).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The kind of a routed stanza, from its element name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StanzaKind {
    Message,
    Presence,
    Iq,
}

impl StanzaKind {
    /// `None` for anything that is not a stanza in `jabber:client`.
    pub fn of(el: &Element) -> Option<Self> {
        if el.ns() != crate::ns::CLIENT {
            return None;
        }
        match el.name() {
            "message" => Some(Self::Message),
            "presence" => Some(Self::Presence),
            "iq" => Some(Self::Iq),
            _ => None,
        }
    }
}

/// Moves a stanza between stream namespaces (`jabber:client` inside the server,
/// `jabber:server` or `jabber:component:accept` on the wire): the top element and every
/// descendant that inherited the stream's default namespace. Other elements are left alone.
pub fn renamespace(el: Element, from_ns: &str, to_ns: &str) -> Element {
    if el.ns() != from_ns {
        return el;
    }
    rebuild(el, from_ns, to_ns)
}

fn rebuild(mut el: Element, from_ns: &str, to_ns: &str) -> Element {
    let mut out = Element::bare(el.name(), to_ns);
    *out.attrs_mut() = el.attrs().clone();
    for node in el.take_nodes() {
        match node {
            minidom::Node::Element(child) => {
                let child = if child.ns() == from_ns { rebuild(child, from_ns, to_ns) } else { child };
                out.append_child(child);
            }
            minidom::Node::Text(text) => out.append_text_node(text),
        }
    }
    out
}

/// Swaps `to` and `from` and sets `type`, turning a request into the shell of a reply.
pub fn reply_shell(req: &Element, kind: &str) -> Element {
    let mut el = Element::bare(req.name(), req.ns());
    if let Some(id) = req.attr("id") {
        set_attr(&mut el, "id", id);
    }
    if let Some(from) = req.attr("from") {
        set_attr(&mut el, "to", from);
    }
    if let Some(to) = req.attr("to") {
        set_attr(&mut el, "from", to);
    }
    set_attr(&mut el, "type", kind);
    el
}

/// `el` without its children: what a reply to it needs (addresses, id, type).
pub fn header(el: &Element) -> Element {
    let mut header = Element::bare(el.name(), el.ns());
    *header.attrs_mut() = el.attrs().clone();
    header
}

/// An IQ result for `req`, optionally carrying a payload.
pub fn iq_result(req: &Element, payload: Option<Element>) -> Element {
    let mut el = reply_shell(req, "result");
    if let Some(p) = payload {
        el.append_child(p);
    }
    el
}

/// A fresh unguessable identifier (96 random bits, hex) for stanza ids, archive ids and items.
pub fn random_id() -> String {
    let mut b = [0u8; 12];
    rand::fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_swaps_addresses_and_keeps_id() {
        let req: Element = "<iq xmlns='jabber:client' id='a1' from='a@x/r' to='x' type='get'/>".parse().unwrap();
        let r = iq_result(&req, None);
        assert_eq!(r.attr("to"), Some("a@x/r"));
        assert_eq!(r.attr("from"), Some("x"));
        assert_eq!(r.attr("id"), Some("a1"));
        assert_eq!(r.attr("type"), Some("result"));
    }

    #[test]
    fn renamespace_moves_inherited_children_only() {
        let el: Element = "<message xmlns='jabber:component:accept' to='a@b' id='1'><body>hi &amp; x</body>\
            <x xmlns='urn:x'><y/></x></message>"
            .parse()
            .unwrap();
        let moved = renamespace(el, crate::ns::COMPONENT_ACCEPT, crate::ns::CLIENT);
        assert!(moved.is("message", crate::ns::CLIENT));
        assert_eq!(moved.attr("to"), Some("a@b"));
        assert_eq!(moved.get_child("body", crate::ns::CLIENT).unwrap().text(), "hi & x");
        let x = moved.get_child("x", "urn:x").unwrap();
        assert!(x.get_child("y", "urn:x").is_some());
        let back = renamespace(moved.clone(), crate::ns::SERVER, crate::ns::CLIENT);
        assert_eq!(back, moved, "an element in another namespace is untouched");
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(escape("<a b='c'>&"), "&lt;a b=&apos;c&apos;&gt;&amp;");
    }
}
