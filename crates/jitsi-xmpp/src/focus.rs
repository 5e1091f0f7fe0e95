//! Client ↔ focus IQ payloads: the conference request `<conference xmlns='http://jitsi.org/protocol/focus'>`
//! (jitsi-protocol.md §1) and the mute request `<mute xmlns='http://jitsi.org/jitmeet/audio|video'>`
//! (§2.5).

use minidom::Element;

use crate::error::{ParseError, truncated};
use crate::ns;
use crate::xml::{self, Builder};

/// `<conference xmlns='http://jitsi.org/protocol/focus' room=…>`, both the client's request
/// (§1.1: `machine-uid`, `session-id`, properties) and the focus's result (§1.2: `ready`,
/// `focusjid`, `session-id`, `identity`, properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceIq {
    /// `room` (required): bare JID of the MUC room.
    pub room: String,
    /// `machine-uid`: stable per-browser id.
    pub machine_uid: Option<String>,
    /// `session-id`: authentication session.
    pub session_id: Option<String>,
    /// `ready` (result): whether the focus is in the room.
    pub ready: Option<bool>,
    /// `focusjid` (result): the focus's bare JID.
    pub focusjid: Option<String>,
    /// `identity` (result, after authentication).
    pub identity: Option<String>,
    /// `<property name value/>`s in order.
    pub properties: Vec<(String, String)>,
    /// Unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl ConferenceIq {
    const ELEMENT: &'static str = "conference";

    /// A request or result for `room` with nothing else set.
    pub fn new(room: &str) -> Self {
        ConferenceIq {
            room: room.to_owned(),
            machine_uid: None,
            session_id: None,
            ready: None,
            focusjid: None,
            identity: None,
            properties: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Value of the first property called `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl TryFrom<&Element> for ConferenceIq {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = ConferenceIq::ELEMENT;
        xml::check(el, E, ns::FOCUS)?;
        let mut c = ConferenceIq::new(xml::required(el, E, "room")?);
        c.machine_uid = xml::optional(el, "machine-uid");
        c.session_id = xml::optional(el, "session-id");
        c.ready = xml::boolean(el, E, "ready")?;
        c.focusjid = xml::optional(el, "focusjid");
        c.identity = xml::optional(el, "identity");
        for child in el.children() {
            if child.is("property", ns::FOCUS) {
                c.properties.push((
                    xml::required(child, "property", "name")?.to_owned(),
                    child.attr("value").unwrap_or_default().to_owned(),
                ));
            } else {
                c.extra.push(child.clone());
            }
        }
        Ok(c)
    }
}

impl From<&ConferenceIq> for Element {
    fn from(c: &ConferenceIq) -> Element {
        Builder::new(ConferenceIq::ELEMENT, ns::FOCUS)
            .attr("room", c.room.as_str())
            .opt_attr("machine-uid", c.machine_uid.as_deref())
            .opt_attr("session-id", c.session_id.as_deref())
            .opt_attr("ready", c.ready)
            .opt_attr("focusjid", c.focusjid.as_deref())
            .opt_attr("identity", c.identity.as_deref())
            .children(c.properties.iter().map(|(n, v)| {
                Builder::new("property", ns::FOCUS)
                    .attr("name", n.as_str())
                    .attr("value", v.as_str())
                    .build()
            }))
            .children(c.extra.iter().cloned())
            .build()
    }
}

/// Which media a [`MuteIq`] is about; it selects the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MuteMedia {
    /// `http://jitsi.org/jitmeet/audio`
    Audio,
    /// `http://jitsi.org/jitmeet/video`
    Video,
    /// `http://jitsi.org/jitmeet/desktop` (newer jicofo)
    Desktop,
}

impl MuteMedia {
    /// The namespace of `<mute>` for this media.
    pub fn namespace(self) -> &'static str {
        match self {
            MuteMedia::Audio => ns::JITMEET_AUDIO,
            MuteMedia::Video => ns::JITMEET_VIDEO,
            MuteMedia::Desktop => ns::JITMEET_DESKTOP,
        }
    }
}

/// `<mute xmlns='http://jitsi.org/jitmeet/audio' jid=… actor=…>true</mute>` (§2.5): a moderator's
/// request to the focus (`jid` = target occupant) or the focus's order to the target (`actor` =
/// the moderator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteIq {
    /// Audio, video or desktop (from the namespace).
    pub media: MuteMedia,
    /// `jid`: the occupant to mute.
    pub jid: Option<String>,
    /// `actor`: who asked.
    pub actor: Option<String>,
    /// The text: `true` = mute, `false` = unmute.
    pub mute: bool,
}

impl TryFrom<&Element> for MuteIq {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let media = [MuteMedia::Audio, MuteMedia::Video, MuteMedia::Desktop]
            .into_iter()
            .find(|m| el.is("mute", m.namespace()));
        let Some(media) = media else {
            // Reported against the audio form, the most common one.
            return Err(ParseError::WrongElement {
                expected: "mute",
                expected_ns: ns::JITMEET_AUDIO,
                found: truncated(el.name()),
                found_ns: truncated(&el.ns()),
            });
        };
        let text = el.text();
        let mute = xml::parse_bool(&text).ok_or_else(|| ParseError::InvalidText {
            element: "mute",
            value: truncated(&text),
            expected: "\"true\" or \"false\"",
        })?;
        Ok(MuteIq {
            media,
            jid: xml::optional(el, "jid"),
            actor: xml::optional(el, "actor"),
            mute,
        })
    }
}

impl From<&MuteIq> for Element {
    fn from(m: &MuteIq) -> Element {
        Builder::new("mute", m.media.namespace())
            .opt_attr("jid", m.jid.as_deref())
            .opt_attr("actor", m.actor.as_deref())
            .text(if m.mute { "true" } else { "false" })
            .build()
    }
}

xml::owned_conversions!(ConferenceIq, MuteIq);
