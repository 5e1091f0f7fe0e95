//! XEP-0030 for the service and its rooms (XEP-0045 §6), with the
//! `muc#roominfo` extended form LJM and Jicofo read (jitsi-protocol §2.9).

use minidom::Element;

use super::room::{Room, text_el};
use super::{NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_PING};
use crate::stanza::el;

/// Rooms listed in one service disco#items answer: keeps the reply under
/// any sane stanza size limit.
pub(crate) const MAX_DISCO_ITEMS: usize = 1000;

const ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";

fn feature(var: &str) -> Element {
    el("feature", NS_DISCO_INFO, &[("var", var)])
}

fn form_field(var: &str, label: &str, value: &str) -> Element {
    let mut f = el("field", NS_DATA, &[("var", var)]);
    if !label.is_empty() {
        crate::stanza::set_attr(&mut f, "label", label);
    }
    f.append_child(text_el("value", NS_DATA, value));
    f
}

/// The service's disco#info.
pub(crate) fn service_info() -> Element {
    let mut q = Element::bare("query", NS_DISCO_INFO);
    q.append_child(el(
        "identity",
        NS_DISCO_INFO,
        &[
            ("category", "conference"),
            ("type", "text"),
            ("name", "Chatrooms"),
        ],
    ));
    for f in [NS_MUC, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING] {
        q.append_child(feature(f));
    }
    q
}

/// The service's disco#items: public, unlocked rooms, sorted by JID.
/// `rooms` yields (JID to show, room).
pub(crate) fn service_items<'a>(rooms: impl Iterator<Item = (String, &'a Room)>) -> Element {
    let mut listed: Vec<(String, &Room)> = rooms
        .filter(|(_, r)| r.config.public && !r.locked && !r.destroyed)
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut q = Element::bare("query", NS_DISCO_ITEMS);
    for (jid, room) in listed.into_iter().take(MAX_DISCO_ITEMS) {
        q.append_child(el(
            "item",
            NS_DISCO_ITEMS,
            &[("jid", &jid), ("name", &room_name(room))],
        ));
    }
    q
}

/// The configured name, or the room's node as Prosody shows it.
fn room_name(room: &Room) -> String {
    if !room.config.name.is_empty() {
        return room.config.name.clone();
    }
    room.jid.split('@').next().unwrap_or_default().to_string()
}

/// A room's disco#info: identity, the muc_* features, and the roominfo form.
pub(crate) fn room_info(room: &Room) -> Element {
    let c = &room.config;
    let mut q = Element::bare("query", NS_DISCO_INFO);
    q.append_child(el(
        "identity",
        NS_DISCO_INFO,
        &[
            ("category", "conference"),
            ("type", "text"),
            ("name", &room_name(room)),
        ],
    ));
    let pick = |on: bool, yes: &'static str, no: &'static str| if on { yes } else { no };
    for f in [
        NS_MUC,
        // XEP-0410: we answer pings to one's own occupant JID.
        "http://jabber.org/protocol/muc#self-ping-optimization",
        pick(c.public, "muc_public", "muc_hidden"),
        pick(c.persistent, "muc_persistent", "muc_temporary"),
        pick(c.members_only, "muc_membersonly", "muc_open"),
        pick(c.moderated, "muc_moderated", "muc_unmoderated"),
        pick(c.whois_anyone, "muc_nonanonymous", "muc_semianonymous"),
        pick(
            c.password().is_some(),
            "muc_passwordprotected",
            "muc_unsecured",
        ),
    ] {
        q.append_child(feature(f));
    }
    let mut x = el("x", NS_DATA, &[("type", "result")]);
    let mut ft = el(
        "field",
        NS_DATA,
        &[("var", "FORM_TYPE"), ("type", "hidden")],
    );
    ft.append_child(text_el("value", NS_DATA, ROOMINFO));
    x.append_child(ft);
    x.append_child(form_field(
        "muc#roominfo_description",
        "Description",
        &c.description,
    ));
    x.append_child(form_field(
        "muc#roominfo_occupants",
        "Number of occupants",
        &room.occupants.len().to_string(),
    ));
    let subject = room.subject.as_ref().map(|s| s.text.as_str()).unwrap_or("");
    x.append_child(form_field("muc#roominfo_subject", "Subject", subject));
    if let Some(id) = &room.meeting_id {
        x.append_child(form_field("muc#roominfo_meetingId", "Meeting ID", id));
    }
    q.append_child(x);
    q
}
