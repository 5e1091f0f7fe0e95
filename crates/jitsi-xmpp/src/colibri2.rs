//! Colibri2 (`jitsi:colibri2`), the focus ↔ bridge protocol (jitsi-protocol.md §4.2, §4.3).
//!
//! The focus sends [`ConferenceModify`] in an IQ `set` to the bridge's brewery occupant JID; the
//! bridge answers [`ConferenceModified`] in the `result` (or an IQ `error` carrying a
//! [`Colibri2Error`]). A conference is keyed by the MUC's `meeting-id`; an [`Endpoint`] is a
//! participant (id = MUC nick) with its RTP [`Media`] description, one bundle [`Transport`]
//! (ICE-UDP + optional SCTP), its complete [`Sources`] set, and optional [`ForceMute`].
//!
//! `relay` (multi-bridge), `connects` and any other child we do not model are kept verbatim in
//! the `extra` fields and written back unchanged.

use minidom::Element;

use crate::error::{ParseError, truncated};
use crate::ice::IceUdpTransport;
use crate::ns;
use crate::rtp::{PayloadType, RtpHdrExt};
use crate::sources::{Source, SsrcGroup};
use crate::xml::{self, Builder};

/// Stores `value` in an at-most-once slot.
fn once<T>(
    slot: &mut Option<T>,
    value: T,
    element: &'static str,
    child: &'static str,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::DuplicateChild { element, child });
    }
    *slot = Some(value);
    Ok(())
}

/// `type` of `<media>` and `<media-source>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `audio`
    Audio,
    /// `video`
    Video,
}

impl MediaType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
        }
    }

    /// Parses an attribute value (Jitsi writes lower case; any case is accepted).
    pub fn parse(s: &str) -> Option<MediaType> {
        if s.eq_ignore_ascii_case("audio") {
            Some(MediaType::Audio)
        } else if s.eq_ignore_ascii_case("video") {
            Some(MediaType::Video)
        } else {
            None
        }
    }

    fn required(el: &Element, element: &'static str) -> Result<MediaType, ParseError> {
        let v = xml::required(el, element, "type")?;
        MediaType::parse(v).ok_or_else(|| ParseError::InvalidAttribute {
            element,
            attribute: "type",
            value: truncated(v),
            expected: "audio or video",
        })
    }
}

/// `<conference-modify xmlns='jitsi:colibri2'>`: the focus's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceModify {
    /// `meeting-id` (required): the MUC's meeting id, the conference key.
    pub meeting_id: String,
    /// `name`: the room's bare JID.
    pub name: Option<String>,
    /// `create="true"`: first request for this conference.
    pub create: bool,
    /// `expire="true"`: tear the conference down.
    pub expire: bool,
    /// `rtcstats-enabled` (absent = bridge default).
    pub rtcstats_enabled: Option<bool>,
    /// `callstats-enabled` (absent = bridge default).
    pub callstats_enabled: Option<bool>,
    /// Endpoints to create, update or expire.
    pub endpoints: Vec<Endpoint>,
    /// Conference-level sources.
    pub sources: Option<Sources>,
    /// `relay`, `connects` and other unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl ConferenceModify {
    const ELEMENT: &'static str = "conference-modify";

    /// A request for `meeting_id` with nothing in it.
    pub fn new(meeting_id: &str) -> Self {
        ConferenceModify {
            meeting_id: meeting_id.to_owned(),
            name: None,
            create: false,
            expire: false,
            rtcstats_enabled: None,
            callstats_enabled: None,
            endpoints: Vec::new(),
            sources: None,
            extra: Vec::new(),
        }
    }
}

impl TryFrom<&Element> for ConferenceModify {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = ConferenceModify::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let mut c = ConferenceModify::new(xml::required(el, E, "meeting-id")?);
        c.name = xml::optional(el, "name");
        c.create = xml::boolean(el, E, "create")?.unwrap_or(false);
        c.expire = xml::boolean(el, E, "expire")?.unwrap_or(false);
        c.rtcstats_enabled = xml::boolean(el, E, "rtcstats-enabled")?;
        c.callstats_enabled = xml::boolean(el, E, "callstats-enabled")?;
        for child in el.children() {
            if child.is(Endpoint::ELEMENT, ns::COLIBRI2) {
                c.endpoints.push(Endpoint::try_from(child)?);
            } else if child.is(Sources::ELEMENT, ns::COLIBRI2) {
                once(&mut c.sources, Sources::try_from(child)?, E, "sources")?;
            } else {
                c.extra.push(child.clone());
            }
        }
        Ok(c)
    }
}

impl From<&ConferenceModify> for Element {
    fn from(c: &ConferenceModify) -> Element {
        Builder::new(ConferenceModify::ELEMENT, ns::COLIBRI2)
            .attr("meeting-id", c.meeting_id.as_str())
            .opt_attr("name", c.name.as_deref())
            .flag("create", c.create)
            .flag("expire", c.expire)
            .opt_attr("rtcstats-enabled", c.rtcstats_enabled)
            .opt_attr("callstats-enabled", c.callstats_enabled)
            .children(c.endpoints.iter().map(Element::from))
            .opt_child(c.sources.as_ref().map(Element::from))
            .children(c.extra.iter().cloned())
            .build()
    }
}

/// `<conference-modified xmlns='jitsi:colibri2'>`: the bridge's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConferenceModified {
    /// `meeting-id`, echoed.
    pub meeting_id: Option<String>,
    /// Endpoints, with their transport when created or ICE-restarted.
    pub endpoints: Vec<Endpoint>,
    /// The bridge's feedback sources (`jvb-a0`, `jvb-v0`), sent on any create.
    pub sources: Option<Sources>,
    /// `relay` and other unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl ConferenceModified {
    const ELEMENT: &'static str = "conference-modified";
}

impl TryFrom<&Element> for ConferenceModified {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = ConferenceModified::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let mut c = ConferenceModified {
            meeting_id: xml::optional(el, "meeting-id"),
            ..Default::default()
        };
        for child in el.children() {
            if child.is(Endpoint::ELEMENT, ns::COLIBRI2) {
                c.endpoints.push(Endpoint::try_from(child)?);
            } else if child.is(Sources::ELEMENT, ns::COLIBRI2) {
                once(&mut c.sources, Sources::try_from(child)?, E, "sources")?;
            } else {
                c.extra.push(child.clone());
            }
        }
        Ok(c)
    }
}

impl From<&ConferenceModified> for Element {
    fn from(c: &ConferenceModified) -> Element {
        Builder::new(ConferenceModified::ELEMENT, ns::COLIBRI2)
            .opt_attr("meeting-id", c.meeting_id.as_deref())
            .children(c.endpoints.iter().map(Element::from))
            .opt_child(c.sources.as_ref().map(Element::from))
            .children(c.extra.iter().cloned())
            .build()
    }
}

/// `<endpoint xmlns='jitsi:colibri2' id=…>`: one participant on the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `id` (required): the endpoint id, i.e. the participant's MUC nick.
    pub id: String,
    /// `create="true"`.
    pub create: bool,
    /// `expire="true"`.
    pub expire: bool,
    /// `stats-id`.
    pub stats_id: Option<String>,
    /// `muc-role`: `moderator`, `participant` or `visitor`.
    pub muc_role: Option<String>,
    /// RTP descriptions per media type.
    pub media: Vec<Media>,
    /// The endpoint's bundle transport.
    pub transport: Option<Transport>,
    /// The endpoint's complete source set.
    pub sources: Option<Sources>,
    /// Moderation mute.
    pub force_mute: Option<ForceMute>,
    /// `<capability name=…/>`s, e.g. `source-names` (mandatory on create), `ssrc-rewriting`.
    pub capabilities: Vec<String>,
    /// `<initial-last-n value=…/>`.
    pub initial_last_n: Option<i32>,
    /// Unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl Endpoint {
    const ELEMENT: &'static str = "endpoint";

    /// An endpoint with only its id.
    pub fn new(id: &str) -> Self {
        Endpoint {
            id: id.to_owned(),
            create: false,
            expire: false,
            stats_id: None,
            muc_role: None,
            media: Vec::new(),
            transport: None,
            sources: None,
            force_mute: None,
            capabilities: Vec::new(),
            initial_last_n: None,
            extra: Vec::new(),
        }
    }

    /// Whether `<capability name=…/>` is present.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }
}

impl TryFrom<&Element> for Endpoint {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = Endpoint::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let mut ep = Endpoint::new(xml::required(el, E, "id")?);
        ep.create = xml::boolean(el, E, "create")?.unwrap_or(false);
        ep.expire = xml::boolean(el, E, "expire")?.unwrap_or(false);
        ep.stats_id = xml::optional(el, "stats-id");
        ep.muc_role = xml::optional(el, "muc-role");
        for child in el.children() {
            if !child.has_ns(ns::COLIBRI2) {
                ep.extra.push(child.clone());
                continue;
            }
            match child.name() {
                "media" => ep.media.push(Media::try_from(child)?),
                "transport" => once(
                    &mut ep.transport,
                    Transport::try_from(child)?,
                    E,
                    "transport",
                )?,
                "sources" => once(&mut ep.sources, Sources::try_from(child)?, E, "sources")?,
                "force-mute" => once(
                    &mut ep.force_mute,
                    ForceMute::try_from(child)?,
                    E,
                    "force-mute",
                )?,
                "capability" => ep
                    .capabilities
                    .push(xml::required(child, "capability", "name")?.to_owned()),
                "initial-last-n" => once(
                    &mut ep.initial_last_n,
                    xml::required_number(child, "initial-last-n", "value")?,
                    E,
                    "initial-last-n",
                )?,
                _ => ep.extra.push(child.clone()),
            }
        }
        Ok(ep)
    }
}

impl From<&Endpoint> for Element {
    fn from(ep: &Endpoint) -> Element {
        Builder::new(Endpoint::ELEMENT, ns::COLIBRI2)
            .attr("id", ep.id.as_str())
            .flag("create", ep.create)
            .flag("expire", ep.expire)
            .opt_attr("stats-id", ep.stats_id.as_deref())
            .opt_attr("muc-role", ep.muc_role.as_deref())
            .children(ep.media.iter().map(Element::from))
            .opt_child(ep.transport.as_ref().map(Element::from))
            .opt_child(ep.sources.as_ref().map(Element::from))
            .opt_child(ep.force_mute.as_ref().map(Element::from))
            .children(ep.capabilities.iter().map(|c| {
                Builder::new("capability", ns::COLIBRI2)
                    .attr("name", c.as_str())
                    .build()
            }))
            .opt_child(ep.initial_last_n.map(|n| {
                Builder::new("initial-last-n", ns::COLIBRI2)
                    .attr("value", n.to_string())
                    .build()
            }))
            .children(ep.extra.iter().cloned())
            .build()
    }
}

/// `<media xmlns='jitsi:colibri2' type=…>`: an endpoint's RTP description for one media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `type` (required).
    pub kind: MediaType,
    /// Jingle `<payload-type>`s.
    pub payload_types: Vec<PayloadType>,
    /// Jingle `<rtp-hdrext>`s.
    pub hdrexts: Vec<RtpHdrExt>,
    /// `<extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/>` present.
    pub extmap_allow_mixed: bool,
    /// Unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl Media {
    const ELEMENT: &'static str = "media";

    /// An empty description for `kind`.
    pub fn new(kind: MediaType) -> Self {
        Media {
            kind,
            payload_types: Vec::new(),
            hdrexts: Vec::new(),
            extmap_allow_mixed: false,
            extra: Vec::new(),
        }
    }
}

impl TryFrom<&Element> for Media {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = Media::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let mut m = Media::new(MediaType::required(el, E)?);
        for child in el.children() {
            if child.is("payload-type", ns::JINGLE_RTP) {
                m.payload_types.push(PayloadType::try_from(child)?);
            } else if child.is("rtp-hdrext", ns::JINGLE_RTP_HDREXT) {
                m.hdrexts.push(RtpHdrExt::try_from(child)?);
            } else if child.is("extmap-allow-mixed", ns::JINGLE_RTP_HDREXT) {
                m.extmap_allow_mixed = true;
            } else {
                m.extra.push(child.clone());
            }
        }
        Ok(m)
    }
}

impl From<&Media> for Element {
    fn from(m: &Media) -> Element {
        Builder::new(Media::ELEMENT, ns::COLIBRI2)
            .attr("type", m.kind.as_str())
            .children(m.payload_types.iter().map(Element::from))
            .children(m.hdrexts.iter().map(Element::from))
            .opt_child(
                m.extmap_allow_mixed
                    .then(|| Element::bare("extmap-allow-mixed", ns::JINGLE_RTP_HDREXT)),
            )
            .children(m.extra.iter().cloned())
            .build()
    }
}

/// `<transport xmlns='jitsi:colibri2'>`: an endpoint's bundle transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// `ice-controlling`: the bridge's ICE role (jicofo sends `true`; absent = bridge default).
    pub ice_controlling: Option<bool>,
    /// `use-unique-port="true"`.
    pub use_unique_port: bool,
    /// `ice-restart="true"` (newer Jitsi).
    pub ice_restart: bool,
    /// The embedded Jingle ICE-UDP transport.
    pub ice: Option<IceUdpTransport>,
    /// `<sctp>` (present = the endpoint wants / has an SCTP data channel).
    pub sctp: Option<Sctp>,
    /// Unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl Transport {
    const ELEMENT: &'static str = "transport";
}

impl TryFrom<&Element> for Transport {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = Transport::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let mut t = Transport {
            ice_controlling: xml::boolean(el, E, "ice-controlling")?,
            use_unique_port: xml::boolean(el, E, "use-unique-port")?.unwrap_or(false),
            ice_restart: xml::boolean(el, E, "ice-restart")?.unwrap_or(false),
            ..Default::default()
        };
        for child in el.children() {
            if child.is("transport", ns::JINGLE_ICE_UDP) {
                once(
                    &mut t.ice,
                    IceUdpTransport::try_from(child)?,
                    E,
                    "transport",
                )?;
            } else if child.is(Sctp::ELEMENT, ns::COLIBRI2) {
                once(&mut t.sctp, Sctp::try_from(child)?, E, "sctp")?;
            } else {
                t.extra.push(child.clone());
            }
        }
        Ok(t)
    }
}

impl From<&Transport> for Element {
    fn from(t: &Transport) -> Element {
        Builder::new(Transport::ELEMENT, ns::COLIBRI2)
            .opt_attr("ice-controlling", t.ice_controlling)
            .flag("use-unique-port", t.use_unique_port)
            .flag("ice-restart", t.ice_restart)
            .opt_child(t.ice.as_ref().map(Element::from))
            .opt_child(t.sctp.as_ref().map(Element::from))
            .children(t.extra.iter().cloned())
            .build()
    }
}

/// SCTP role of the bridge (`role` of `<sctp>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SctpRole {
    /// `server`
    Server,
    /// `client`
    Client,
}

impl SctpRole {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SctpRole::Server => "server",
            SctpRole::Client => "client",
        }
    }

    /// Parses an attribute value (any case).
    pub fn parse(s: &str) -> Option<SctpRole> {
        if s.eq_ignore_ascii_case("server") {
            Some(SctpRole::Server)
        } else if s.eq_ignore_ascii_case("client") {
            Some(SctpRole::Client)
        } else {
            None
        }
    }
}

/// `<sctp xmlns='jitsi:colibri2' port=… role=…/>` (empty in requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sctp {
    /// SCTP port (5000).
    pub port: Option<u16>,
    /// The bridge's SCTP role.
    pub role: Option<SctpRole>,
}

impl Sctp {
    const ELEMENT: &'static str = "sctp";
}

impl TryFrom<&Element> for Sctp {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = Sctp::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let role = match el.attr("role") {
            None => None,
            Some(v) => Some(
                SctpRole::parse(v).ok_or_else(|| ParseError::InvalidAttribute {
                    element: E,
                    attribute: "role",
                    value: truncated(v),
                    expected: "server or client",
                })?,
            ),
        };
        Ok(Sctp {
            port: xml::number(el, E, "port")?,
            role,
        })
    }
}

impl From<&Sctp> for Element {
    fn from(s: &Sctp) -> Element {
        Builder::new(Sctp::ELEMENT, ns::COLIBRI2)
            .opt_attr("port", s.port)
            .opt_attr("role", s.role.map(SctpRole::as_str))
            .build()
    }
}

/// `<sources xmlns='jitsi:colibri2'>`: a complete source set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// `<media-source>`s in order.
    pub media_sources: Vec<MediaSource>,
}

impl Sources {
    const ELEMENT: &'static str = "sources";
}

impl TryFrom<&Element> for Sources {
    type Error = ParseError;

    /// Children other than `<media-source>` are ignored.
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, Sources::ELEMENT, ns::COLIBRI2)?;
        let media_sources = el
            .children()
            .filter(|c| c.is(MediaSource::ELEMENT, ns::COLIBRI2))
            .map(MediaSource::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Sources { media_sources })
    }
}

impl From<&Sources> for Element {
    fn from(s: &Sources) -> Element {
        Builder::new(Sources::ELEMENT, ns::COLIBRI2)
            .children(s.media_sources.iter().map(Element::from))
            .build()
    }
}

/// `<media-source xmlns='jitsi:colibri2' type=… id=…>`: one named source (e.g. `6a8c1f2e-v0`,
/// `jvb-a0`) with its SSRCs and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSource {
    /// `type` (required).
    pub kind: MediaType,
    /// `id` (required): the source name.
    pub id: String,
    /// Jingle `<source>`s.
    pub sources: Vec<Source>,
    /// Jingle `<ssrc-group>`s.
    pub ssrc_groups: Vec<SsrcGroup>,
    /// Unmodelled children, verbatim.
    pub extra: Vec<Element>,
}

impl MediaSource {
    const ELEMENT: &'static str = "media-source";

    /// An empty media source.
    pub fn new(kind: MediaType, id: &str) -> Self {
        MediaSource {
            kind,
            id: id.to_owned(),
            sources: Vec::new(),
            ssrc_groups: Vec::new(),
            extra: Vec::new(),
        }
    }
}

impl TryFrom<&Element> for MediaSource {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = MediaSource::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        let kind = MediaType::required(el, E)?;
        let mut ms = MediaSource::new(kind, xml::required(el, E, "id")?);
        for child in el.children() {
            if child.is("source", ns::JINGLE_SSMA) {
                ms.sources.push(Source::try_from(child)?);
            } else if child.is("ssrc-group", ns::JINGLE_SSMA) {
                ms.ssrc_groups.push(SsrcGroup::try_from(child)?);
            } else {
                ms.extra.push(child.clone());
            }
        }
        Ok(ms)
    }
}

impl From<&MediaSource> for Element {
    fn from(ms: &MediaSource) -> Element {
        Builder::new(MediaSource::ELEMENT, ns::COLIBRI2)
            .attr("type", ms.kind.as_str())
            .attr("id", ms.id.as_str())
            .children(ms.sources.iter().map(Element::from))
            .children(ms.ssrc_groups.iter().map(Element::from))
            .children(ms.extra.iter().cloned())
            .build()
    }
}

/// `<force-mute xmlns='jitsi:colibri2' audio=… video=…/>`: the bridge drops this media from the
/// endpoint (moderation, §2.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForceMute {
    /// Drop the endpoint's audio.
    pub audio: bool,
    /// Drop the endpoint's video.
    pub video: bool,
}

impl ForceMute {
    const ELEMENT: &'static str = "force-mute";
}

impl TryFrom<&Element> for ForceMute {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = ForceMute::ELEMENT;
        xml::check(el, E, ns::COLIBRI2)?;
        Ok(ForceMute {
            audio: xml::boolean(el, E, "audio")?.unwrap_or(false),
            video: xml::boolean(el, E, "video")?.unwrap_or(false),
        })
    }
}

impl From<&ForceMute> for Element {
    fn from(f: &ForceMute) -> Element {
        Builder::new(ForceMute::ELEMENT, ns::COLIBRI2)
            .attr("audio", f.audio.to_string())
            .attr("video", f.video.to_string())
            .build()
    }
}

/// `reason` of a [`Colibri2Error`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// `conference_not_found`: the focus must re-create the conference (possibly elsewhere).
    ConferenceNotFound,
    /// `conference_already_exists`: duplicate `create`.
    ConferenceAlreadyExists,
    /// `graceful_shutdown`: the bridge accepts no new conferences.
    GracefulShutdown,
    /// `unspecified` (also what an absent `reason` means).
    Unspecified,
    /// Any other value, kept as written (lower-cased).
    Other(String),
}

impl ErrorReason {
    /// The attribute value.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorReason::ConferenceNotFound => "conference_not_found",
            ErrorReason::ConferenceAlreadyExists => "conference_already_exists",
            ErrorReason::GracefulShutdown => "graceful_shutdown",
            ErrorReason::Unspecified => "unspecified",
            ErrorReason::Other(s) => s,
        }
    }

    /// Parses an attribute value (any case, as Jitsi does).
    pub fn parse(s: &str) -> ErrorReason {
        match s.to_ascii_lowercase().as_str() {
            "conference_not_found" => ErrorReason::ConferenceNotFound,
            "conference_already_exists" => ErrorReason::ConferenceAlreadyExists,
            "graceful_shutdown" => ErrorReason::GracefulShutdown,
            "unspecified" | "" => ErrorReason::Unspecified,
            other => ErrorReason::Other(other.to_owned()),
        }
    }
}

/// `<error xmlns='jitsi:colibri2' reason=…/>`, carried inside an IQ `<error>` next to the
/// stanza error condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colibri2Error {
    /// Why the request failed.
    pub reason: ErrorReason,
}

impl TryFrom<&Element> for Colibri2Error {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, "error", ns::COLIBRI2)?;
        Ok(Colibri2Error {
            reason: el
                .attr("reason")
                .map_or(ErrorReason::Unspecified, ErrorReason::parse),
        })
    }
}

impl From<&Colibri2Error> for Element {
    fn from(e: &Colibri2Error) -> Element {
        Builder::new("error", ns::COLIBRI2)
            .attr("reason", e.reason.as_str())
            .build()
    }
}

xml::owned_conversions!(
    ConferenceModify,
    ConferenceModified,
    Endpoint,
    Media,
    Transport,
    Sctp,
    Sources,
    MediaSource,
    ForceMute,
    Colibri2Error,
);
