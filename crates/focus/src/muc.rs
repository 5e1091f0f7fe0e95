//! The MUC stanzas the focus reads and writes in a conference room
//! (jitsi-protocol.md §2): occupant presences, the owner configuration
//! form, affiliation changes, and the focus's own presence extensions.

use jitsi_xmpp::ns;
use minidom::Element;

use crate::xml::{el, set_attr};

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const NS_DATA: &str = "jabber:x:data";
const NS_REGION: &str = "http://jitsi.org/jitsi-meet";
const NS_USERINFO: &str = "http://jitsi.org/jitmeet/userinfo";

/// What one occupant presence says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub nick: String,
    pub available: bool,
    /// `<item jid>`: the real full JID (non-anonymous rooms).
    pub jid: Option<String>,
    pub affiliation: String,
    pub role: String,
    /// Status code 110: this presence is about us.
    pub is_self: bool,
    pub region: Option<String>,
    pub stats_id: Option<String>,
    pub robot: bool,
}

/// Splits `room@service/nick`.
pub fn split_occupant(jid: &str) -> Option<(&str, &str)> {
    let (bare, nick) = jid.split_once('/')?;
    (!nick.is_empty() && bare.contains('@')).then_some((bare, nick))
}

impl Occupant {
    /// Reads a presence from `room/nick`; `None` when it is not an occupant
    /// presence (no nick) or an error.
    pub fn parse(p: &Element) -> Option<Occupant> {
        let from = p.attr("from")?;
        let (_, nick) = split_occupant(from)?;
        let available = match p.attr("type") {
            None => true,
            Some("unavailable") => false,
            Some(_) => return None,
        };
        let x = p.get_child("x", NS_MUC_USER);
        let item = x.and_then(|x| x.get_child("item", NS_MUC_USER));
        let is_self = x.is_some_and(|x| {
            x.children()
                .any(|c| c.is("status", NS_MUC_USER) && c.attr("code") == Some("110"))
        });
        let child_text = |name: &str| {
            p.children()
                .find(|c| c.name() == name && c.ns() == NS_CLIENT)
                .map(|c| c.text().trim().to_string())
                .filter(|t| !t.is_empty())
        };
        Some(Occupant {
            nick: nick.to_string(),
            available,
            jid: item.and_then(|i| i.attr("jid")).map(str::to_string),
            affiliation: item
                .and_then(|i| i.attr("affiliation"))
                .unwrap_or("none")
                .to_string(),
            role: item
                .and_then(|i| i.attr("role"))
                .unwrap_or("none")
                .to_string(),
            is_self,
            region: p
                .get_child("region", NS_REGION)
                .and_then(|r| r.attr("id"))
                .map(str::to_string),
            stats_id: child_text("stats-id"),
            robot: p
                .get_child("userinfo", NS_USERINFO)
                .is_some_and(|u| u.attr("robot") == Some("true")),
        })
    }

    pub fn is_moderator(&self) -> bool {
        self.role == "moderator" || self.affiliation == "owner" || self.affiliation == "admin"
    }
}

fn stanza(name: &str, attrs: &[(&str, &str)]) -> Element {
    el(name, NS_CLIENT, attrs)
}

/// `<iq type=… to=… id=…>payload</iq>`
pub fn iq(type_: &str, to: &str, id: &str, payload: Element) -> Element {
    let mut i = stanza("iq", &[("type", type_), ("to", to), ("id", id)]);
    i.append_child(payload);
    i
}

/// The join presence (§2.1): `<x xmlns=muc/>`.
pub fn join(occupant: &str) -> Element {
    let mut p = stanza("presence", &[("to", occupant)]);
    p.append_child(Element::bare("x", NS_MUC));
    p
}

pub fn leave(occupant: &str) -> Element {
    stanza("presence", &[("to", occupant), ("type", "unavailable")])
}

/// The focus's presence extensions (§2.1), with `<bridgeNotAvailable/>`
/// while no bridge can be had.
pub fn focus_presence(
    occupant: &str,
    version: &str,
    bridge_count: usize,
    no_bridge: bool,
) -> Element {
    let mut p = stanza("presence", &[("to", occupant)]);
    let mut versions = Element::bare("versions", ns::JITMEET);
    let mut c = el("component", ns::JITMEET, &[("name", "focus")]);
    c.append_text(version);
    versions.append_child(c);
    p.append_child(versions);
    let mut props = Element::bare("conference-properties", ns::FOCUS);
    let count = bridge_count.to_string();
    for (k, v) in [
        ("support-terminate-restart", "true"),
        ("bridge-count", count.as_str()),
    ] {
        props.append_child(el("property", ns::FOCUS, &[("key", k), ("value", v)]));
    }
    p.append_child(props);
    if no_bridge {
        p.append_child(Element::bare("bridgeNotAvailable", ns::FOCUS));
    }
    p
}

/// `muc#owner` query: get the configuration form.
pub fn owner_query() -> Element {
    Element::bare("query", NS_MUC_OWNER)
}

/// A form field's first value.
pub fn form_value(query: &Element, var: &str) -> Option<String> {
    query
        .get_child("x", NS_DATA)?
        .children()
        .find(|f| f.is("field", NS_DATA) && f.attr("var") == Some(var))?
        .get_child("value", NS_DATA)
        .map(|v| v.text())
}

/// Submit `muc#roomconfig_whois = anyone` (non-anonymous room), leaving
/// every other field as it is.
pub fn owner_submit_whois() -> Element {
    let mut q = Element::bare("query", NS_MUC_OWNER);
    let mut x = el("x", NS_DATA, &[("type", "submit")]);
    for (var, value) in [
        ("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"),
        ("muc#roomconfig_whois", "anyone"),
    ] {
        let mut f = el("field", NS_DATA, &[("var", var)]);
        let mut v = Element::bare("value", NS_DATA);
        v.append_text(value);
        f.append_child(v);
        x.append_child(f);
    }
    q.append_child(x);
    q
}

/// `muc#admin` grant of `owner` to a real JID (§2.4). Affiliations belong
/// to bare JIDs (XEP-0045 §5.2): the resource is dropped, as Prosody
/// refuses a full JID (`modify/jid-malformed`).
pub fn grant_owner(real_jid: &str) -> Element {
    let bare = real_jid.split_once('/').map_or(real_jid, |(bare, _)| bare);
    let mut q = Element::bare("query", NS_MUC_ADMIN);
    q.append_child(el(
        "item",
        NS_MUC_ADMIN,
        &[("affiliation", "owner"), ("jid", bare)],
    ));
    q
}

/// An IQ error reply to `req` with a stanza error condition, an optional
/// text and optional application-specific children.
pub fn error_reply(
    req: &Element,
    type_: &str,
    condition: &str,
    text: &str,
    app: Option<Element>,
) -> Element {
    let mut r = crate::xml::error_reply(req, type_, condition, text);
    if let (Some(app), Some(e)) = (app, r.children_mut().find(|c| c.name() == "error")) {
        e.append_child(app);
    }
    r
}

/// Sets `from` (the IO edge normally leaves it to the server).
pub fn with_from(mut e: Element, from: &str) -> Element {
    set_attr(&mut e, "from", from);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupant_presences() {
        let p: Element = "<presence xmlns='jabber:client' from='r@c.x/abcd1234'>\
            <x xmlns='http://jabber.org/protocol/muc#user'><item jid='u@x/res' affiliation='owner' role='moderator'/></x>\
            <stats-id>Elmer</stats-id><region xmlns='http://jitsi.org/jitsi-meet' id='eu'/></presence>"
            .parse()
            .expect("xml");
        let o = Occupant::parse(&p).expect("occupant");
        assert_eq!(o.nick, "abcd1234");
        assert_eq!(o.jid.as_deref(), Some("u@x/res"));
        assert!(o.available && o.is_moderator() && !o.is_self && !o.robot);
        assert_eq!(o.region.as_deref(), Some("eu"));
        assert_eq!(o.stats_id.as_deref(), Some("Elmer"));
        let gone: Element = "<presence xmlns='jabber:client' type='unavailable' from='r@c.x/abcd1234'>\
            <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='307'/></x></presence>"
            .parse()
            .expect("xml");
        let o = Occupant::parse(&gone).expect("occupant");
        assert!(!o.available && o.jid.is_none());
        for bad in [
            "<presence xmlns='jabber:client' from='r@c.x'/>",
            "<presence xmlns='jabber:client' from='r@c.x/n' type='error'/>",
            "<presence xmlns='jabber:client'/>",
        ] {
            let p: Element = bad.parse().expect("xml");
            assert!(Occupant::parse(&p).is_none(), "{bad}");
        }
    }

    #[test]
    fn forms() {
        let q: Element = "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'>\
            <field var='muc#roominfo_meetingId'><value>m-1</value></field></x></query>"
            .parse()
            .expect("xml");
        assert_eq!(
            form_value(&q, "muc#roominfo_meetingId").as_deref(),
            Some("m-1")
        );
        assert_eq!(form_value(&q, "nope"), None);
        let s = String::from(&owner_submit_whois());
        assert!(s.contains("anyone") && s.contains("submit"));
    }

    #[test]
    fn owner_grants_name_the_bare_jid() {
        for jid in ["u@meet.test/res", "u@meet.test/a/b", "u@meet.test"] {
            let q = grant_owner(jid);
            let item = q.get_child("item", NS_MUC_ADMIN).expect("item");
            assert_eq!(item.attr("jid"), Some("u@meet.test"), "{jid}");
            assert_eq!(item.attr("affiliation"), Some("owner"));
        }
    }
}
