//! What the payload tests of this crate share: XML written in a test, and the reason a
//! payload is refused.

use minidom::Element;
use xso::error::FromElementError;

pub(crate) fn el(xml: &str) -> Element {
    xml.parse().unwrap()
}

/// Why `xml` does not read as a `T`; panics if it does.
pub(crate) fn invalid<T: TryFrom<Element, Error = FromElementError> + std::fmt::Debug>(xml: &str) -> String {
    match T::try_from(el(xml)) {
        Err(FromElementError::Invalid(e)) => e.to_string(),
        other => panic!("{xml} should be invalid, got {other:?}"),
    }
}
