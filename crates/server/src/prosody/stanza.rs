//! Stanzas as Prosody stores them (`util.stanza`'s `preserialize`: `{ name = ..., attr =
//! {...}, child, "text", ... }`, a child's namespace in its `xmlns` attribute or its
//! parent's) back to elements; and stanzas its SQL storage keeps as XML text into that
//! same stored form, so both storages reach the mapping alike.

use super::lua::{Table, Value};
use rhein_proto::minidom::Node;
use rhein_proto::{Element, ns, xml};

/// The namespace an element without `xmlns` is parsed in, so that [`table`] leaves it
/// without, as `preserialize` would: whoever reads it gives the default.
const UNDECLARED: &str = "urn:rhein:prosody:undeclared";

/// The element a stored stanza table stands for; `default_ns` is the namespace of an
/// element without `xmlns` at the top (`jabber:client` for stanzas).
pub fn element(t: &Table, default_ns: &str) -> Result<Element, String> {
    element_at(t, default_ns, 0)
}

fn element_at(t: &Table, parent_ns: &str, depth: usize) -> Result<Element, String> {
    let name = t.str("name").ok_or("a stored element without a name")?;
    let attrs = t.table("attr");
    let namespace = attrs.and_then(|a| a.str("xmlns")).unwrap_or(parent_ns).to_owned();
    let mut el = Element::bare(name, namespace.clone());
    for (key, value) in attrs.map(|a| a.string_fields().collect::<Vec<_>>()).unwrap_or_default() {
        let Some(value) = value.as_str() else { continue };
        match key {
            "xmlns" => {}
            "xml:lang" => xml::set_attr_ns(&mut el, ns::XML, "lang", value),
            // A namespaced attribute, written `NS|name` (or with a \1 in older versions).
            _ => match key.split_once(['|', '\u{1}']) {
                Some((ns_uri, local)) if ns_uri == ns::XML => xml::set_attr_ns(&mut el, ns::XML, local, value),
                Some((ns_uri, local)) => xml::set_attr_ns(&mut el, ns_uri, local, value),
                None => xml::set_attr(&mut el, key, value),
            },
        }
    }
    for child in &t.items {
        match child {
            Value::Str(_) => el.append_text(child.as_str().ok_or("text that is not UTF-8")?),
            Value::Table(c) if depth < 100 => {
                el.append_child(element_at(c, &namespace, depth + 1)?);
            }
            Value::Table(_) => return Err("elements nested too deep".into()),
            _ => return Err(format!("<{name}/> holds something that is neither text nor an element")),
        }
    }
    Ok(el)
}

/// A stanza Prosody's SQL storage kept as XML text (`tostring(stanza)`, the top element
/// often without `xmlns`), in its stored form.
pub fn parse(text: &str) -> Result<Table, String> {
    let el = Element::from_reader_with_prefixes(text.as_bytes(), Some(UNDECLARED.to_owned()))
        .map_err(|e| format!("XML that does not parse: {e}"))?;
    Ok(table(&el, UNDECLARED))
}

/// The stored form of `el` (the inverse of [`element`]), `xmlns` given where its namespace
/// is not `parent_ns`.
fn table(el: &Element, parent_ns: &str) -> Table {
    let own_ns = el.ns();
    let mut attrs = Table::default();
    let mut attr = |k: String, v: &str| attrs.fields.push((Value::Str(k.into_bytes()), Value::Str(v.into())));
    if own_ns != parent_ns {
        attr("xmlns".into(), &own_ns);
    }
    for ((attr_ns, name), value) in el.attrs().iter() {
        let key = match attr_ns.as_str() {
            "" => name.to_string(),
            ns::XML if name.as_str() == "lang" => "xml:lang".into(),
            other => format!("{other}|{name}"),
        };
        attr(key, value);
    }
    let mut t = Table::default();
    t.fields.push((Value::Str(b"name".to_vec()), Value::Str(el.name().into())));
    t.fields.push((Value::Str(b"attr".to_vec()), Value::Table(attrs)));
    for node in el.nodes() {
        t.items.push(match node {
            Node::Element(child) => Value::Table(table(child, &own_ns)),
            Node::Text(text) => Value::Str(text.as_bytes().to_vec()),
        });
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prosody::lua::parse_return;

    #[test]
    fn stored_stanzas_become_the_elements_they_were() {
        let src = br#"return {
	{ "while you were out"; ["attr"] = {}; ["name"] = "body"; };
	{ ["attr"] = { ["id"] = "X"; ["xmlns"] = "urn:xmpp:sid:0"; ["by"] = "bob@migrate.test"; }; ["name"] = "stanza-id"; };
	["attr"] = { ["to"] = "bob@migrate.test"; ["xml:lang"] = "en"; ["type"] = "chat"; };
	["name"] = "message";
};"#;
        let Value::Table(t) = parse_return(src).unwrap() else { panic!() };
        let el = element(&t, ns::CLIENT).unwrap();
        let text = "<message xmlns='jabber:client' to='bob@migrate.test' type='chat' xml:lang='en'><body>while you were out</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='bob@migrate.test' id='X'/></message>";
        assert_eq!(xml::to_string(&el), text);
        // As the SQL storage keeps it: the same stored form, the same element.
        assert_eq!(element(&parse(text).unwrap(), "urn:other").unwrap(), el);
    }

    #[test]
    fn xml_text_takes_the_default_namespace_where_it_declares_none() {
        let stored = parse(
            "<message to='a@b' xmlns:ns1='urn:x' ns1:flag='1'><body>hi &amp; bye</body><x xmlns='urn:y'><z/></x></message>",
        )
        .unwrap();
        let el = element(&stored, ns::CLIENT).unwrap();
        assert_eq!(
            xml::to_string(&el),
            "<message xmlns='jabber:client' to='a@b' xmlns:tns0='urn:x' tns0:flag='1'><body>hi &amp; bye</body>\
             <x xmlns='urn:y'><z/></x></message>"
        );
        assert!(parse("<message><body></message>").unwrap_err().contains("does not parse"));
    }
}
