//! Stanza helpers over `minidom::Element`: kinds, addressing, error and
//! result replies (RFC 6120 §8).

use minidom::Element;

use crate::xml::NS_CLIENT;

pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Presence,
    Iq,
}

/// The stanza kind of a `jabber:client` element, or None for anything else.
pub fn kind(el: &Element) -> Option<Kind> {
    if el.ns() != NS_CLIENT {
        return None;
    }
    match el.name() {
        "message" => Some(Kind::Message),
        "presence" => Some(Kind::Presence),
        "iq" => Some(Kind::Iq),
        _ => None,
    }
}

pub fn stanza_type(el: &Element) -> Option<&str> {
    el.attr("type")
}

pub fn is_error(el: &Element) -> bool {
    el.attr("type") == Some("error")
}

/// Set (or replace) an attribute.
pub fn set_attr(el: &mut Element, name: &str, value: &str) {
    match rxml::NcName::try_from(name) {
        Ok(n) => el.set_attr(rxml::Namespace::NONE, n, value.to_string()),
        Err(_) => tracing::error!(name, "invalid attribute name"),
    }
}

/// Remove an attribute if present.
pub fn remove_attr(el: &mut Element, name: &str) {
    if let Ok(n) = rxml::NcName::try_from(name) {
        el.attrs_mut().remove(&rxml::Namespace::NONE, &n);
    }
}

/// Element builder shortcut with attributes.
pub fn el(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut e = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut e, k, v);
    }
    e
}

/// Error type of RFC 6120 §8.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

/// Build the `<error/>` child.
pub fn error_element(etype: ErrorType, condition: &str, text: Option<&str>) -> Element {
    let mut err = el("error", NS_CLIENT, &[("type", etype.as_str())]);
    err.append_child(Element::bare(condition, NS_STANZAS));
    if let Some(t) = text {
        let mut te = Element::bare("text", NS_STANZAS);
        te.append_text(t.to_string());
        err.append_child(te);
    }
    err
}

/// The error reply to `stanza` (to/from swapped, same id), or None when the
/// stanza is itself an error (errors are never answered, to avoid loops).
pub fn error_reply(
    stanza: &Element,
    etype: ErrorType,
    condition: &str,
    text: Option<&str>,
) -> Option<Element> {
    if is_error(stanza) {
        return None;
    }
    let mut reply = Element::bare(stanza.name(), NS_CLIENT);
    if let Some(id) = stanza.attr("id") {
        set_attr(&mut reply, "id", id);
    }
    if let Some(from) = stanza.attr("from") {
        set_attr(&mut reply, "to", from);
    }
    if let Some(to) = stanza.attr("to") {
        set_attr(&mut reply, "from", to);
    }
    set_attr(&mut reply, "type", "error");
    // Echo the IQ payload as RFC 6120 §8.3.1 allows; it helps clients match.
    if let Some(payload) = stanza.children().next().filter(|_| stanza.name() == "iq") {
        reply.append_child(payload.clone());
    }
    reply.append_child(error_element(etype, condition, text));
    Some(reply)
}

/// An IQ result for `iq`, with an optional payload.
pub fn iq_result(iq: &Element, payload: Option<Element>) -> Element {
    let mut reply = el("iq", NS_CLIENT, &[("type", "result")]);
    if let Some(id) = iq.attr("id") {
        set_attr(&mut reply, "id", id);
    }
    if let Some(from) = iq.attr("from") {
        set_attr(&mut reply, "to", from);
    }
    if let Some(to) = iq.attr("to") {
        set_attr(&mut reply, "from", to);
    }
    if let Some(p) = payload {
        reply.append_child(p);
    }
    reply
}

/// The first child element of an IQ (its payload).
pub fn iq_payload(iq: &Element) -> Option<&Element> {
    iq.children().next()
}

/// A `<stream:error>` element with its condition and optional text.
pub fn stream_error(condition: &str, text: Option<&str>) -> Element {
    let mut e = Element::bare("error", crate::xml::NS_STREAMS);
    e.append_child(Element::bare(condition, NS_STREAM_ERRORS));
    if let Some(t) = text {
        let mut te = Element::bare("text", NS_STREAM_ERRORS);
        te.append_text(t.to_string());
        e.append_child(te);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_document;

    #[test]
    fn error_reply_swaps_addresses_and_never_answers_errors() {
        let iq = parse_document(
            b"<iq xmlns='jabber:client' type='get' id='7' from='a@x/r' to='x'><query xmlns='q'/></iq>",
            1000,
        )
        .expect("iq");
        let err = error_reply(&iq, ErrorType::Cancel, "service-unavailable", Some("nope"))
            .expect("reply");
        assert_eq!(err.attr("to"), Some("a@x/r"));
        assert_eq!(err.attr("from"), Some("x"));
        assert_eq!(err.attr("id"), Some("7"));
        assert_eq!(err.attr("type"), Some("error"));
        let e = err.get_child("error", NS_CLIENT).expect("error child");
        assert!(e.has_child("service-unavailable", NS_STANZAS));
        assert!(error_reply(&err, ErrorType::Cancel, "x", None).is_none());
        let res = iq_result(&iq, None);
        assert_eq!(res.attr("type"), Some("result"));
        assert_eq!(res.attr("to"), Some("a@x/r"));
    }
}
