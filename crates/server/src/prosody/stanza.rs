//! Stanzas as Prosody stores them (`util.stanza`'s `preserialize`: `{ name = ..., attr =
//! {...}, child, "text", ... }`, a child's namespace in its `xmlns` attribute or its
//! parent's) back to elements.

use super::lua::{Table, Value};
use rhein_proto::{Element, ns, xml};

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
        assert_eq!(
            xml::to_string(&el),
            "<message xmlns='jabber:client' to='bob@migrate.test' type='chat' xml:lang='en'><body>while you were out</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='bob@migrate.test' id='X'/></message>"
        );
    }
}
