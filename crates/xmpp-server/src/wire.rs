//! Serialising stream-level output. Elements of the streams namespace
//! (`features`, `error`) are written with the conventional `stream:` prefix,
//! which some clients look up by qualified name (BOSH bodies in particular).

use minidom::Element;

use crate::xml::{NS_STREAMS, escape, to_string};

/// One element as it goes on the wire.
pub fn element(el: &Element) -> String {
    if el.ns() != NS_STREAMS {
        return to_string(el);
    }
    let mut s = format!("<stream:{} xmlns:stream='{}'", el.name(), NS_STREAMS);
    for ((ns, key), value) in el.attrs().iter() {
        if ns.is_none() {
            s.push_str(&format!(" {}='{}'", key.as_str(), escape(value)));
        }
    }
    s.push('>');
    for child in el.children() {
        s.push_str(&element(child));
    }
    s.push_str(&format!("</stream:{}>", el.name()));
    s
}

/// The TCP stream header we send (RFC 6120 §4.7).
pub fn stream_header(default_ns: &str, id: &str, from: &str) -> String {
    let from_attr = if from.is_empty() {
        String::new()
    } else {
        format!(" from='{}'", escape(from))
    };
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{default_ns}' xmlns:stream='{NS_STREAMS}' id='{}'{from_attr} version='1.0' xml:lang='en'>",
        escape(id)
    )
}

pub const STREAM_CLOSE: &str = "</stream:stream>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::stream_error;
    use crate::xml::parse_document;

    #[test]
    fn stream_elements_get_the_prefix_and_stay_parseable() {
        let e = stream_error("not-authorized", Some("bad <secret>"));
        let text = element(&e);
        assert!(
            text.starts_with("<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"),
            "{text}"
        );
        let back = parse_document(text.as_bytes(), 10_000).expect("parse");
        assert_eq!(back.ns(), NS_STREAMS);
        assert!(back.has_child("not-authorized", crate::stanza::NS_STREAM_ERRORS));
    }

    #[test]
    fn header_escapes() {
        let h = stream_header("jabber:client", "a'b", "x.test");
        assert!(h.contains("id='a&apos;b'"));
        assert!(h.contains("from='x.test'"));
    }
}
