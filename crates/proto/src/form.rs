//! XEP-0004 data forms: the few pieces every configuration form needs.

use crate::{Element, StanzaError, ns, xml};

/// `<field var type><value/>…</field>`.
pub fn field(var: &str, kind: &str, vals: &[&str]) -> Element {
    let mut f = xml::with_attr(Element::bare("field", ns::DATA), "var", var);
    xml::set_attr(&mut f, "type", kind);
    for v in vals {
        f.append_child(xml::text_el("value", ns::DATA, *v));
    }
    f
}

/// Adds `<option>`s to a list field.
pub fn options(mut f: Element, choices: &[&str]) -> Element {
    for c in choices {
        let mut o = Element::bare("option", ns::DATA);
        o.append_child(xml::text_el("value", ns::DATA, *c));
        f.append_child(o);
    }
    f
}

/// A form `<x type>` with its hidden `FORM_TYPE`.
pub fn form(kind: &str, form_type: &str) -> Element {
    let mut x = xml::with_attr(Element::bare("x", ns::DATA), "type", kind);
    x.append_child(field("FORM_TYPE", "hidden", &[form_type]));
    x
}

/// The values of a field.
pub fn values(field: &Element) -> Vec<String> {
    field.children().filter(|c| c.is("value", ns::DATA)).map(Element::text).collect()
}

/// The fields of a submitted form, as (var, values).
pub fn submitted(form: &Element) -> impl Iterator<Item = (&str, Vec<String>)> {
    form.children().filter(|c| c.is("field", ns::DATA)).map(|f| (f.attr("var").unwrap_or_default(), values(f)))
}

/// A boolean field's value (`1`/`true`, `0`/`false`), `not-acceptable` otherwise.
pub fn boolean(v: &str) -> Result<bool, StanzaError> {
    match v.trim() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(StanzaError::not_acceptable().with_text("expected a boolean")),
    }
}

/// A boolean as forms write it.
pub fn bit(v: bool) -> &'static str {
    if v { "1" } else { "0" }
}
