//! XEP-0059 Result Set Management: the request and result `<set/>` that archive queries and
//! pubsub item retrieval share.

use crate::{Element, StanzaError, ns, xml};

/// What a request's `<set/>` asks for. `before` is `Some("")` for "the last page".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub max: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
}

impl Request {
    /// The `<set/>` among `parent`'s children, if there is one.
    pub fn parse(parent: &Element) -> Result<Option<Self>, StanzaError> {
        let Some(set) = parent.get_child("set", ns::RSM) else { return Ok(None) };
        let text = |name: &str| set.get_child(name, ns::RSM).map(Element::text);
        let max = text("max")
            .map(|m| m.trim().parse().map_err(|_| StanzaError::bad_request().with_text("max must be a number")))
            .transpose()?;
        Ok(Some(Self { max, after: text("after"), before: text("before") }))
    }
}

/// The `<set/>` of a result: the ids of its first and last entries (if any), and the count.
pub fn result(bounds: Option<(&str, &str)>, count: i64) -> Element {
    let mut set = Element::bare("set", ns::RSM);
    if let Some((first, last)) = bounds {
        set.append_child(xml::text_el("first", ns::RSM, first));
        set.append_child(xml::text_el("last", ns::RSM, last));
    }
    set.append_child(xml::text_el("count", ns::RSM, count.to_string()));
    set
}
