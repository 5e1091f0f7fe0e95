//! Incremental XML for XMPP streams, sans-IO: bytes in, stream events out.
//!
//! [`StreamParser`] turns a TCP byte stream into the stream header, one
//! [`Element`] per top-level child (stanza or nonza) and the stream close,
//! enforcing the stanza size limit while parsing. [`parse_document`] parses a
//! self-contained document (a WebSocket frame or a BOSH body) the same way.
//! Elements are built from namespace-resolved events, so they carry no
//! prefixes and serialise without surprises.

use minidom::Element;
use rxml::{Event, Parse, WithOptions};

pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_CLIENT: &str = "jabber:client";
pub const NS_COMPONENT: &str = "jabber:component:accept";

/// What the parser found.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlEvent {
    /// The stream's root element opened: `<stream:stream ...>`.
    StreamOpen(StreamHeader),
    /// A complete top-level child of the stream.
    Element(Element),
    /// `</stream:stream>`.
    StreamClose,
}

/// Attributes of a stream header (or of a WebSocket `<open/>`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamHeader {
    /// Namespace of the root element.
    pub ns: String,
    /// Local name of the root element.
    pub name: String,
    pub to: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub version: Option<String>,
    pub lang: Option<String>,
}

/// Why the stream must be closed; maps to an RFC 6120 stream error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed: {0}")]
    NotWellFormed(String),
    #[error("stanza exceeds the size limit of {0} bytes")]
    TooBig(usize),
    #[error("element nesting deeper than {0}")]
    TooDeep(usize),
}

impl XmlError {
    /// The RFC 6120 §4.9.3 condition for this error.
    pub fn condition(&self) -> &'static str {
        match self {
            XmlError::NotWellFormed(_) => "not-well-formed",
            XmlError::TooBig(_) => "policy-violation",
            XmlError::TooDeep(_) => "policy-violation",
        }
    }
}

/// Nesting deeper than this is refused: no XMPP payload needs it and deep
/// trees cost stack when dropped or serialised.
pub const MAX_DEPTH: usize = 64;

/// Longest single token (attribute value, name, text chunk before it is
/// split). rxml reserves a buffer of this size per parser, i.e. per
/// connection, so it is kept well below the stanza limit: no XMPP payload
/// needs a 32 KiB attribute value, and long text is split into chunks anyway.
pub const MAX_TOKEN: usize = 32 * 1024;

/// Push parser for one XML stream (create a new one on stream restart).
pub struct StreamParser {
    parser: rxml::Parser,
    /// Open elements below the stream root; the first is the current stanza.
    stack: Vec<Element>,
    root_open: bool,
    closed: bool,
    stanza_bytes: usize,
    max_stanza: usize,
}

impl StreamParser {
    pub fn new(max_stanza: usize) -> Self {
        let options = rxml::Options {
            // A single token (attribute value, text chunk) never needs more than
            // the stanza limit; rxml splits longer text into chunks itself.
            max_token_length: max_stanza.clamp(1024, MAX_TOKEN),
            ..Default::default()
        };
        Self {
            parser: rxml::Parser::with_options(options),
            stack: Vec::new(),
            root_open: false,
            closed: false,
            stanza_bytes: 0,
            max_stanza,
        }
    }

    /// Feed bytes; complete events are appended to `out`. After an error the
    /// parser must not be fed again.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<XmlEvent>) -> Result<(), XmlError> {
        loop {
            if self.closed {
                // Anything but whitespace after the stream closed is an error;
                // whitespace is ignored.
                if data.iter().all(|b| b.is_ascii_whitespace()) {
                    return Ok(());
                }
                return Err(XmlError::NotWellFormed("data after stream end".into()));
            }
            match self.parser.parse(&mut data, false) {
                Ok(Some(ev)) => self.handle(ev, out)?,
                Ok(None) => {
                    self.closed = true;
                }
                Err(rxml::error::EndOrError::NeedMoreData) => return Ok(()),
                Err(rxml::error::EndOrError::Error(e)) => {
                    return Err(XmlError::NotWellFormed(e.to_string()));
                }
            }
        }
    }

    fn handle(&mut self, ev: Event, out: &mut Vec<XmlEvent>) -> Result<(), XmlError> {
        let len = ev.metrics().len();
        if !self.stack.is_empty() {
            self.stanza_bytes += len;
            if self.stanza_bytes > self.max_stanza {
                return Err(XmlError::TooBig(self.max_stanza));
            }
        }
        match ev {
            Event::XmlDeclaration(..) => {}
            Event::StartElement(_, (ns, name), attrs) => {
                if !self.root_open {
                    self.root_open = true;
                    out.push(XmlEvent::StreamOpen(header_from(
                        ns.as_str(),
                        name.as_str(),
                        &attrs,
                    )));
                    return Ok(());
                }
                if self.stack.is_empty() {
                    self.stanza_bytes = len;
                    if self.stanza_bytes > self.max_stanza {
                        return Err(XmlError::TooBig(self.max_stanza));
                    }
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep(MAX_DEPTH));
                }
                let mut el = Element::bare(name.as_str(), ns.as_str());
                *el.attrs_mut() = attrs;
                self.stack.push(el);
            }
            Event::EndElement(_) => match self.stack.pop() {
                None => out.push(XmlEvent::StreamClose),
                Some(el) => match self.stack.last_mut() {
                    Some(parent) => {
                        parent.append_child(el);
                    }
                    None => out.push(XmlEvent::Element(el)),
                },
            },
            Event::Text(_, text) => {
                // Text directly inside the stream root is whitespace keep-alive
                // (anything else there is not allowed but harmless to drop).
                if let Some(top) = self.stack.last_mut() {
                    top.append_text(text);
                }
            }
        }
        Ok(())
    }
}

fn header_from(ns: &str, name: &str, attrs: &rxml::AttrMap) -> StreamHeader {
    let mut h = StreamHeader {
        ns: ns.to_string(),
        name: name.to_string(),
        ..Default::default()
    };
    for ((ans, key), value) in attrs.iter() {
        if ans.is_none() {
            match key.as_str() {
                "to" => h.to = Some(value.clone()),
                "from" => h.from = Some(value.clone()),
                "id" => h.id = Some(value.clone()),
                "version" => h.version = Some(value.clone()),
                _ => {}
            }
        } else if ans.as_str() == "http://www.w3.org/XML/1998/namespace" && key.as_str() == "lang" {
            h.lang = Some(value.clone());
        }
    }
    h
}

/// Parse one complete XML document (a WebSocket frame, a BOSH body) into an
/// element, with the same limits as the stream parser.
pub fn parse_document(data: &[u8], max_size: usize) -> Result<Element, XmlError> {
    if data.len() > max_size {
        return Err(XmlError::TooBig(max_size));
    }
    // Wrap the document in a synthetic root so the stream parser's
    // "top-level child" logic yields exactly the document element.
    let mut p = StreamParser::new(max_size);
    let mut out = Vec::new();
    p.feed(b"<r>", &mut out)?;
    if data.starts_with(b"<?xml") {
        // An XML declaration cannot appear inside our wrapper: skip it.
        let end = data
            .windows(2)
            .position(|w| w == b"?>")
            .ok_or_else(|| XmlError::NotWellFormed("unterminated XML declaration".into()))?;
        p.feed(&data[end + 2..], &mut out)?;
    } else {
        p.feed(data, &mut out)?;
    }
    p.feed(b"</r>", &mut out)?;
    let mut found = None;
    for ev in out {
        match ev {
            XmlEvent::Element(el) => {
                if found.is_some() {
                    return Err(XmlError::NotWellFormed("more than one root element".into()));
                }
                found = Some(el);
            }
            XmlEvent::StreamOpen(_) | XmlEvent::StreamClose => {}
        }
    }
    found.ok_or_else(|| XmlError::NotWellFormed("no element".into()))
}

/// Serialise an element (no XML declaration). Elements built by this crate
/// carry no prefixes, which keeps the writer's namespace bookkeeping simple.
pub fn to_string(el: &Element) -> String {
    let mut buf = Vec::with_capacity(256);
    if let Err(e) = el.write_to(&mut buf) {
        tracing::error!(error = %e, element = el.name(), "cannot serialise element");
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Escape text for an attribute value or text node.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Move an element and its descendants from namespace `from` to `to`
/// (stanzas are kept in `jabber:client` inside the server; components speak
/// `jabber:component:accept`).
pub fn rename_ns(el: Element, from: &str, to: &str) -> Element {
    if el.ns() != from && !el.children().any(|c| c.ns() == from) {
        return el;
    }
    let ns = if el.ns() == from {
        to.to_string()
    } else {
        el.ns()
    };
    let mut new = Element::bare(el.name(), ns);
    *new.attrs_mut() = el.attrs().clone();
    for node in el.nodes() {
        match node {
            minidom::Node::Element(child) => {
                new.append_child(rename_ns(child.clone(), from, to));
            }
            minidom::Node::Text(t) => new.append_text(t.clone()),
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(p: &mut StreamParser, chunks: &[&[u8]]) -> Result<Vec<XmlEvent>, XmlError> {
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out)?;
        }
        Ok(out)
    }

    const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

    #[test]
    fn header_stanzas_and_close() {
        let mut p = StreamParser::new(10_000);
        let ev = feed_all(
            &mut p,
            &[
                HEADER,
                b" <message to='a@b'><body>hi &amp; bye</body></message>",
                b"</stream:stream>",
            ],
        )
        .expect("parse");
        assert_eq!(ev.len(), 3);
        match &ev[0] {
            XmlEvent::StreamOpen(h) => {
                assert_eq!(h.ns, NS_STREAMS);
                assert_eq!(h.name, "stream");
                assert_eq!(h.to.as_deref(), Some("example.com"));
                assert_eq!(h.version.as_deref(), Some("1.0"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match &ev[1] {
            XmlEvent::Element(el) => {
                assert_eq!(el.name(), "message");
                assert_eq!(el.ns(), NS_CLIENT);
                assert_eq!(el.attr("to"), Some("a@b"));
                let body = el.get_child("body", NS_CLIENT).expect("body");
                assert_eq!(body.text(), "hi & bye");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(ev[2], XmlEvent::StreamClose);
    }

    #[test]
    fn byte_at_a_time() {
        let mut p = StreamParser::new(10_000);
        let mut out = Vec::new();
        let data = [
            HEADER,
            b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        ]
        .concat();
        for b in data.iter() {
            p.feed(std::slice::from_ref(b), &mut out).expect("feed");
        }
        assert_eq!(out.len(), 2);
        let XmlEvent::Element(iq) = &out[1] else {
            panic!("no iq")
        };
        assert!(iq.has_child("ping", "urn:xmpp:ping"));
    }

    #[test]
    fn oversized_stanza_is_refused() {
        let mut p = StreamParser::new(1024);
        let big = format!("<message><body>{}</body></message>", "x".repeat(5000));
        let err = feed_all(&mut p, &[HEADER, big.as_bytes()]).expect_err("too big");
        assert_eq!(err, XmlError::TooBig(1024));
        assert_eq!(err.condition(), "policy-violation");
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        for bad in [
            &b"<message><body></message>"[..],
            b"<message a='1' a='2'/>",
            b"<x:message/>",
            b"<message>&bogus;</message>",
            b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
            b"<a>\xff\xfe</a>",
        ] {
            let mut p = StreamParser::new(10_000);
            let r = feed_all(&mut p, &[HEADER, bad]);
            assert!(
                matches!(r, Err(XmlError::NotWellFormed(_))),
                "{:?} -> {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p = StreamParser::new(1 << 20);
        let deep = "<a>".repeat(MAX_DEPTH + 5);
        let err = feed_all(&mut p, &[HEADER, deep.as_bytes()]).expect_err("deep");
        assert_eq!(err, XmlError::TooDeep(MAX_DEPTH));
    }

    #[test]
    fn document_parse_and_round_trip() {
        let el = parse_document(
            b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
            1000,
        )
        .expect("doc");
        assert_eq!(el.name(), "open");
        assert_eq!(el.attr("to"), Some("example.com"));
        let msg = parse_document(
            b"<message xmlns='jabber:client' to='x@y'><body>a&lt;b</body></message>",
            1000,
        )
        .expect("msg");
        let text = to_string(&msg);
        let again = parse_document(text.as_bytes(), 1000).expect("again");
        assert_eq!(msg, again);
        assert!(parse_document(b"<a/><b/>", 1000).is_err());
        assert!(parse_document(b"", 1000).is_err());
        assert!(parse_document(b"<a>", 1000).is_err());
    }

    #[test]
    fn rename_namespace_recursively() {
        let msg = parse_document(
            b"<message xmlns='jabber:client'><body>x</body><x xmlns='other'/></message>",
            1000,
        )
        .expect("msg");
        let comp = rename_ns(msg, NS_CLIENT, NS_COMPONENT);
        assert_eq!(comp.ns(), NS_COMPONENT);
        assert!(comp.has_child("body", NS_COMPONENT));
        assert!(comp.has_child("x", "other"));
    }
}
