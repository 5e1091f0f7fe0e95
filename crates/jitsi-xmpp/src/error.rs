//! The one error type of this crate: why an element could not be turned into a typed value.
//!
//! Every variant names the element (and the attribute or child) and what is wrong with it, so a
//! caller can answer the stanza with a useful `bad-request` text. Values copied from the input are
//! truncated (see [`MAX_VALUE_CHARS`]), so a hostile peer cannot make error messages huge.

use thiserror::Error;

/// How many characters of an offending value an error keeps.
pub const MAX_VALUE_CHARS: usize = 64;

/// Why an element could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The element has another name or namespace than the type expects.
    #[error("expected <{expected} xmlns='{expected_ns}'>, found <{found} xmlns='{found_ns}'>")]
    WrongElement {
        /// Element name the type parses.
        expected: &'static str,
        /// Namespace the type parses.
        expected_ns: &'static str,
        /// Element name found (truncated).
        found: String,
        /// Namespace found (truncated).
        found_ns: String,
    },
    /// A required attribute is absent.
    #[error("<{element}> is missing required attribute '{attribute}'")]
    MissingAttribute {
        /// Element being parsed.
        element: &'static str,
        /// The missing attribute.
        attribute: &'static str,
    },
    /// An attribute is present but its value is not acceptable.
    #[error(
        "<{element}> attribute '{attribute}' has invalid value \"{value}\": expected {expected}"
    )]
    InvalidAttribute {
        /// Element being parsed.
        element: &'static str,
        /// The offending attribute.
        attribute: &'static str,
        /// The value found (truncated).
        value: String,
        /// What would have been acceptable.
        expected: &'static str,
    },
    /// The text content of an element is not acceptable.
    #[error("<{element}> has invalid text \"{value}\": expected {expected}")]
    InvalidText {
        /// Element being parsed.
        element: &'static str,
        /// The text found (truncated).
        value: String,
        /// What would have been acceptable.
        expected: &'static str,
    },
    /// A child that may appear at most once appears more than once.
    #[error("<{element}> has more than one <{child}> child")]
    DuplicateChild {
        /// Element being parsed.
        element: &'static str,
        /// The repeated child.
        child: &'static str,
    },
}

/// `s` cut to at most [`MAX_VALUE_CHARS`] characters (with `…` when cut).
pub(crate) fn truncated(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_char_safe() {
        let long = "é".repeat(200);
        let t = truncated(&long);
        assert_eq!(t.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(truncated("short"), "short");
    }
}
