//! XEP-0317 hats as an occupant's presence carries them (xmpp-parsers 0.23 has no XEP-0317).

// The derives convert extracted text into the field's own type, String to String included.
#![allow(clippy::useless_conversion)]

use crate::ns;
use xso::{AsXml, FromXml};

/// `<hats xmlns='urn:xmpp:hats:0'>`: the hats an occupant wears (§3.1).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = ns::HATS, name = "hats")]
pub struct Hats {
    #[xml(child(n = ..))]
    pub hats: Vec<Hat>,
}

/// `<hat uri title hue/>`: one hat, identified by its URI.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = ns::HATS, name = "hat")]
pub struct Hat {
    #[xml(attribute)]
    pub uri: String,
    #[xml(attribute)]
    pub title: String,
    #[xml(attribute(default))]
    pub hue: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{el, invalid};
    use minidom::Element;

    #[test]
    fn hats_read_the_xep_example_and_round_trip() {
        let hats = Hats::try_from(el("<hats xmlns='urn:xmpp:hats:0'>\
            <hat title='Host' uri='http://schemas.example.com/hats#host' hue='327.255249' xml:lang='en-us'/>\
            <hat title='Presenter' uri='http://schemas.example.com/hats#presenter'/></hats>"))
        .unwrap();
        assert_eq!(hats.hats.len(), 2);
        assert_eq!((hats.hats[0].title.as_str(), hats.hats[0].hue.as_deref()), ("Host", Some("327.255249")));
        assert_eq!(Hats::try_from(Element::from(hats.clone())).unwrap(), hats);
        let missing = invalid::<Hats>("<hats xmlns='urn:xmpp:hats:0'><hat title='x'/></hats>");
        assert!(missing.contains("uri"), "{missing}");
    }
}
