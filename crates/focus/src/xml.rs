//! Small helpers for building stanzas as minidom elements.

use minidom::Element;

pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_PING: &str = "urn:xmpp:ping";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// Sets an attribute; names are this crate's constants (valid XML names),
/// so an invalid one is a bug that merely drops the attribute.
pub fn set_attr(el: &mut Element, name: &str, value: &str) {
    if let Ok(n) = minidom::rxml::NcName::try_from(name) {
        el.set_attr(minidom::rxml::Namespace::NONE, n, value);
    }
}

/// `<name xmlns=ns a=v …/>`
pub fn el(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut e = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut e, k, v);
    }
    e
}

/// The reply to `iq` (addresses swapped, same id), in the stanza's namespace.
pub fn reply(iq: &Element, type_: &str) -> Element {
    let mut r = el("iq", &iq.ns(), &[("type", type_)]);
    if let Some(id) = iq.attr("id") {
        set_attr(&mut r, "id", id);
    }
    if let Some(from) = iq.attr("from") {
        set_attr(&mut r, "to", from);
    }
    if let Some(to) = iq.attr("to") {
        set_attr(&mut r, "from", to);
    }
    r
}

/// An error reply: `<error type=…><condition/><text>…</text></error>`.
pub fn error_reply(iq: &Element, type_: &str, condition: &str, text: &str) -> Element {
    let ns = iq.ns();
    let mut r = reply(iq, "error");
    let mut e = el("error", &ns, &[("type", type_)]);
    e.append_child(Element::bare(condition, NS_STANZAS));
    if !text.is_empty() {
        let mut t = Element::bare("text", NS_STANZAS);
        t.append_text(text);
        e.append_child(t);
    }
    r.append_child(e);
    r
}

/// The disco#info query with our identity and features.
pub fn disco_info(category: &str, type_: &str, name: &str, features: &[&str]) -> Element {
    let mut q = Element::bare("query", NS_DISCO_INFO);
    q.append_child(el(
        "identity",
        NS_DISCO_INFO,
        &[("category", category), ("type", type_), ("name", name)],
    ));
    for f in features {
        q.append_child(el("feature", NS_DISCO_INFO, &[("var", f)]));
    }
    q
}
