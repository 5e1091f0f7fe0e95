//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::fmt::Debug;

use jitsi_xmpp::ParseError;
use minidom::Element;

/// Parses test XML (a failure is a bug in the test itself).
pub fn el(xml: &str) -> Element {
    xml.trim().parse().expect("test XML must be well-formed")
}

/// Serialises and parses again, as the wire would.
pub fn over_the_wire(e: &Element) -> Element {
    String::from(e)
        .parse()
        .expect("our own output must be well-formed")
}

/// XML → T → Element → bytes → Element → T; asserts both typed values are equal and that
/// serialising is stable. Returns the first typed value and the re-serialised element.
pub fn round_trip<T>(xml: &str) -> (T, Element)
where
    T: for<'a> TryFrom<&'a Element, Error = ParseError> + PartialEq + Debug,
    for<'a> Element: From<&'a T>,
{
    let first = T::try_from(&el(xml)).expect("fixture must parse");
    let wire = over_the_wire(&Element::from(&first));
    let second = T::try_from(&wire).expect("our own output must parse");
    assert_eq!(first, second, "typed value changed over a round trip");
    assert_eq!(
        Element::from(&second),
        Element::from(&first),
        "serialisation is not stable"
    );
    (first, wire)
}

/// Parses `xml` as T and returns the error (panics if it parsed).
pub fn parse_err<T>(xml: &str) -> ParseError
where
    T: for<'a> TryFrom<&'a Element, Error = ParseError> + Debug,
{
    match T::try_from(&el(xml)) {
        Ok(v) => panic!("expected a ParseError, parsed {v:?}"),
        Err(e) => e,
    }
}

/// First descendant (depth-first, including `e`) called `name` in namespace `ns`.
pub fn find<'a>(e: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    if e.is(name, ns) {
        return Some(e);
    }
    e.children().find_map(|c| find(c, name, ns))
}
