//! Jingle RTP pieces Colibri2 `<media>` embeds (jitsi-protocol.md §3.2, §4.2): XEP-0167
//! `<payload-type>` with its `<parameter>`s and XEP-0293 `<rtcp-fb>`s, and XEP-0294 `<rtp-hdrext>`.

use minidom::Element;

use crate::error::{ParseError, truncated};
use crate::ns;
use crate::xml::{self, Builder};

/// `<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type=… subtype=…/>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtcpFb {
    /// `type`, e.g. `nack`, `ccm`, `transport-cc`, `goog-remb`.
    pub typ: String,
    /// `subtype`, e.g. `pli`, `fir`.
    pub subtype: Option<String>,
}

impl RtcpFb {
    /// An rtcp-fb with a type and an optional subtype.
    pub fn new(typ: &str, subtype: Option<&str>) -> Self {
        RtcpFb {
            typ: typ.to_owned(),
            subtype: subtype.map(str::to_owned),
        }
    }
}

impl TryFrom<&Element> for RtcpFb {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, "rtcp-fb", ns::JINGLE_RTCP_FB)?;
        Ok(RtcpFb {
            typ: xml::required(el, "rtcp-fb", "type")?.to_owned(),
            subtype: xml::optional(el, "subtype"),
        })
    }
}

impl From<&RtcpFb> for Element {
    fn from(fb: &RtcpFb) -> Element {
        Builder::new("rtcp-fb", ns::JINGLE_RTCP_FB)
            .attr("type", fb.typ.as_str())
            .opt_attr("subtype", fb.subtype.as_deref())
            .build()
    }
}

/// `<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id name clockrate channels>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadType {
    /// RTP payload type number, 0..=127.
    pub id: u8,
    /// Encoding name (`opus`, `VP8`, `rtx`, …); may be absent for static payload types.
    pub name: Option<String>,
    /// Clock rate in Hz.
    pub clockrate: Option<u32>,
    /// Audio channels.
    pub channels: Option<u16>,
    /// `ptime`.
    pub ptime: Option<u32>,
    /// `maxptime`.
    pub maxptime: Option<u32>,
    /// fmtp `<parameter name value/>`s in order. An absent name is the empty string
    /// (LJM writes a bare `value` for fmtp lines without `=`, e.g. RED's `111/111`).
    pub parameters: Vec<(String, String)>,
    /// `<rtcp-fb>`s in order.
    pub rtcp_fbs: Vec<RtcpFb>,
    /// Children not modelled above (e.g. `<rtcp-fb-trr-int>`), kept verbatim.
    pub extra: Vec<Element>,
}

impl PayloadType {
    const ELEMENT: &'static str = "payload-type";

    /// A payload type with id, name and clock rate and nothing else.
    pub fn new(id: u8, name: &str, clockrate: u32) -> Self {
        PayloadType {
            id,
            name: Some(name.to_owned()),
            clockrate: Some(clockrate),
            channels: None,
            ptime: None,
            maxptime: None,
            parameters: Vec::new(),
            rtcp_fbs: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Value of the first parameter called `name`.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl TryFrom<&Element> for PayloadType {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = PayloadType::ELEMENT;
        xml::check(el, E, ns::JINGLE_RTP)?;
        let id: u8 = xml::required_number(el, E, "id")?;
        if id > 127 {
            return Err(ParseError::InvalidAttribute {
                element: E,
                attribute: "id",
                value: truncated(&id.to_string()),
                expected: "an RTP payload type in 0..=127",
            });
        }
        let mut pt = PayloadType {
            id,
            name: xml::optional(el, "name"),
            clockrate: xml::number(el, E, "clockrate")?,
            channels: xml::number(el, E, "channels")?,
            ptime: xml::number(el, E, "ptime")?,
            maxptime: xml::number(el, E, "maxptime")?,
            parameters: Vec::new(),
            rtcp_fbs: Vec::new(),
            extra: Vec::new(),
        };
        for child in el.children() {
            if child.is("parameter", ns::JINGLE_RTP) {
                pt.parameters.push((
                    child.attr("name").unwrap_or_default().to_owned(),
                    child.attr("value").unwrap_or_default().to_owned(),
                ));
            } else if child.is("rtcp-fb", ns::JINGLE_RTCP_FB) {
                pt.rtcp_fbs.push(RtcpFb::try_from(child)?);
            } else {
                pt.extra.push(child.clone());
            }
        }
        Ok(pt)
    }
}

impl From<&PayloadType> for Element {
    fn from(pt: &PayloadType) -> Element {
        Builder::new(PayloadType::ELEMENT, ns::JINGLE_RTP)
            .attr("id", pt.id.to_string())
            .opt_attr("name", pt.name.as_deref())
            .opt_attr("clockrate", pt.clockrate)
            .opt_attr("channels", pt.channels)
            .opt_attr("ptime", pt.ptime)
            .opt_attr("maxptime", pt.maxptime)
            .children(pt.parameters.iter().map(|(n, v)| {
                Builder::new("parameter", ns::JINGLE_RTP)
                    .opt_attr("name", (!n.is_empty()).then_some(n.as_str()))
                    .attr("value", v.as_str())
                    .build()
            }))
            .children(pt.rtcp_fbs.iter().map(Element::from))
            .children(pt.extra.iter().cloned())
            .build()
    }
}

/// `<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id uri/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHdrExt {
    /// Extension id (1..=255; one-byte headers use 1..=14).
    pub id: u8,
    /// Extension URI.
    pub uri: String,
    /// XEP-0294 `senders`, rarely used by Jitsi.
    pub senders: Option<String>,
    /// Children (XEP-0294 `<parameter>`s), kept verbatim.
    pub extra: Vec<Element>,
}

impl RtpHdrExt {
    const ELEMENT: &'static str = "rtp-hdrext";

    /// A header extension with id and URI.
    pub fn new(id: u8, uri: &str) -> Self {
        RtpHdrExt {
            id,
            uri: uri.to_owned(),
            senders: None,
            extra: Vec::new(),
        }
    }
}

impl TryFrom<&Element> for RtpHdrExt {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = RtpHdrExt::ELEMENT;
        xml::check(el, E, ns::JINGLE_RTP_HDREXT)?;
        let id: u8 = xml::required_number(el, E, "id")?;
        if id == 0 {
            return Err(ParseError::InvalidAttribute {
                element: E,
                attribute: "id",
                value: "0".to_owned(),
                expected: "an extension id in 1..=255",
            });
        }
        Ok(RtpHdrExt {
            id,
            uri: xml::required(el, E, "uri")?.to_owned(),
            senders: xml::optional(el, "senders"),
            extra: el.children().cloned().collect(),
        })
    }
}

impl From<&RtpHdrExt> for Element {
    fn from(h: &RtpHdrExt) -> Element {
        Builder::new(RtpHdrExt::ELEMENT, ns::JINGLE_RTP_HDREXT)
            .attr("id", h.id.to_string())
            .attr("uri", h.uri.as_str())
            .opt_attr("senders", h.senders.as_deref())
            .children(h.extra.iter().cloned())
            .build()
    }
}

xml::owned_conversions!(RtcpFb, PayloadType, RtpHdrExt);
