//! Small helpers shared by the parsers and serialisers: checking an element's name and namespace,
//! reading and validating attributes, and building elements. Crate-internal.

use std::str::FromStr;

use minidom::Element;
use minidom::rxml::{Namespace, NcName};

use crate::error::{ParseError, truncated};

/// Fails unless `el` is `<name xmlns=ns>`.
pub(crate) fn check(el: &Element, name: &'static str, ns: &'static str) -> Result<(), ParseError> {
    if el.is(name, ns) {
        Ok(())
    } else {
        Err(ParseError::WrongElement {
            expected: name,
            expected_ns: ns,
            found: truncated(el.name()),
            found_ns: truncated(&el.ns()),
        })
    }
}

/// A required attribute.
pub(crate) fn required<'a>(
    el: &'a Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<&'a str, ParseError> {
    el.attr(attribute)
        .ok_or(ParseError::MissingAttribute { element, attribute })
}

/// An optional attribute, owned.
pub(crate) fn optional(el: &Element, attribute: &str) -> Option<String> {
    el.attr(attribute).map(str::to_owned)
}

/// Numbers this crate reads from attributes, with a description for error messages.
pub(crate) trait Number: FromStr {
    const WHAT: &'static str;
}

impl Number for u8 {
    const WHAT: &'static str = "an integer in 0..=255";
}
impl Number for u16 {
    const WHAT: &'static str = "an integer in 0..=65535";
}
impl Number for u32 {
    const WHAT: &'static str = "an integer in 0..=4294967295";
}
impl Number for u64 {
    const WHAT: &'static str = "a non-negative 64-bit integer";
}
impl Number for i32 {
    const WHAT: &'static str = "a 32-bit signed integer";
}

/// An optional numeric attribute; present but not a number of type `T` is an error.
pub(crate) fn number<T: Number>(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<T>, ParseError> {
    match el.attr(attribute) {
        None => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|_| ParseError::InvalidAttribute {
                element,
                attribute,
                value: truncated(v),
                expected: T::WHAT,
            }),
    }
}

/// A required numeric attribute.
pub(crate) fn required_number<T: Number>(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<T, ParseError> {
    number(el, element, attribute)?.ok_or(ParseError::MissingAttribute { element, attribute })
}

/// XML-schema style booleans as Jitsi writes them: `true`/`false` (any case) or `1`/`0`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// An optional boolean attribute.
pub(crate) fn boolean(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<bool>, ParseError> {
    match el.attr(attribute) {
        None => Ok(None),
        Some(v) => parse_bool(v)
            .map(Some)
            .ok_or_else(|| ParseError::InvalidAttribute {
                element,
                attribute,
                value: truncated(v),
                expected: "\"true\" or \"false\"",
            }),
    }
}

/// Builds an element attribute by attribute, child by child.
pub(crate) struct Builder(Element);

impl Builder {
    pub(crate) fn new(name: &str, ns: &str) -> Self {
        Builder(Element::bare(name, ns))
    }

    /// Sets an attribute. Names are this crate's constants, always valid NCNames; an invalid one
    /// would be skipped rather than panic.
    pub(crate) fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        if let Ok(n) = NcName::try_from(name) {
            self.0.set_attr(Namespace::NONE, n, value.into());
        }
        self
    }

    /// Sets an attribute when `value` is `Some`.
    pub(crate) fn opt_attr<V: ToString>(self, name: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.attr(name, v.to_string()),
            None => self,
        }
    }

    /// Sets `name="true"` when `value` is true, nothing otherwise (Jitsi's flag style).
    pub(crate) fn flag(self, name: &str, value: bool) -> Self {
        if value { self.attr(name, "true") } else { self }
    }

    /// Appends a child element.
    pub(crate) fn child(mut self, child: Element) -> Self {
        self.0.append_child(child);
        self
    }

    /// Appends a child element when `Some`.
    pub(crate) fn opt_child(self, child: Option<Element>) -> Self {
        match child {
            Some(c) => self.child(c),
            None => self,
        }
    }

    /// Appends child elements.
    pub(crate) fn children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        for c in children {
            self.0.append_child(c);
        }
        self
    }

    /// Appends a text node.
    pub(crate) fn text(mut self, text: &str) -> Self {
        if !text.is_empty() {
            self.0.append_text_node(text);
        }
        self
    }

    pub(crate) fn build(self) -> Element {
        self.0
    }
}

/// Implements the owned-value conversions (`TryFrom<Element>`, `From<T> for Element`) in terms of
/// the borrowed ones every type implements by hand.
macro_rules! owned_conversions {
    ($($t:ty),* $(,)?) => {$(
        impl TryFrom<minidom::Element> for $t {
            type Error = $crate::ParseError;
            fn try_from(el: minidom::Element) -> Result<Self, Self::Error> {
                <$t>::try_from(&el)
            }
        }
        impl From<$t> for minidom::Element {
            fn from(value: $t) -> minidom::Element {
                minidom::Element::from(&value)
            }
        }
    )*};
}
pub(crate) use owned_conversions;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool(""), None);
    }
}
