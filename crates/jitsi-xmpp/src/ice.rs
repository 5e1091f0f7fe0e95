//! The Jingle ICE-UDP `<transport>` as Jitsi uses it (jitsi-protocol.md §3.2, §4.2): ufrag/pwd,
//! DTLS fingerprints with `setup`, candidates, plus Jitsi's `<web-socket url>` (colibri-ws) and
//! `<rtcp-mux/>`, which xmpp-parsers' strict struct would drop. Anything else (e.g. `<sctpmap>`)
//! is kept verbatim in [`IceUdpTransport::extra`].

use minidom::Element;

use crate::error::{ParseError, truncated};
use crate::ns;
use crate::xml::{self, Builder};

/// `<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceUdpTransport {
    /// ICE username fragment (`ufrag`). Absent in some requests (e.g. "allocate me one").
    pub ufrag: Option<String>,
    /// ICE password (`pwd`).
    pub pwd: Option<String>,
    /// DTLS fingerprints (`<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0'>`).
    pub fingerprints: Vec<Fingerprint>,
    /// ICE candidates.
    pub candidates: Vec<Candidate>,
    /// URL of the first `<web-socket xmlns='http://jitsi.org/protocol/colibri' url=…/>` (colibri-ws).
    pub web_socket: Option<String>,
    /// Whether `<rtcp-mux/>` is present.
    pub rtcp_mux: bool,
    /// Children not modelled above (e.g. `<sctpmap>`, further `<web-socket>`s), kept verbatim.
    pub extra: Vec<Element>,
}

impl IceUdpTransport {
    const ELEMENT: &'static str = "transport";
}

impl TryFrom<&Element> for IceUdpTransport {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, Self::ELEMENT, ns::JINGLE_ICE_UDP)?;
        let mut t = IceUdpTransport {
            ufrag: xml::optional(el, "ufrag"),
            pwd: xml::optional(el, "pwd"),
            ..Default::default()
        };
        for child in el.children() {
            if child.is(Fingerprint::ELEMENT, ns::JINGLE_DTLS) {
                t.fingerprints.push(Fingerprint::try_from(child)?);
            } else if child.is(Candidate::ELEMENT, ns::JINGLE_ICE_UDP) {
                t.candidates.push(Candidate::try_from(child)?);
            } else if child.is("web-socket", ns::COLIBRI) && t.web_socket.is_none() {
                t.web_socket = Some(xml::required(child, "web-socket", "url")?.to_owned());
            } else if child.name() == "rtcp-mux"
                && (child.has_ns(ns::JINGLE_ICE_UDP) || child.has_ns(ns::JINGLE_RTP))
            {
                t.rtcp_mux = true;
            } else {
                t.extra.push(child.clone());
            }
        }
        Ok(t)
    }
}

impl From<&IceUdpTransport> for Element {
    fn from(t: &IceUdpTransport) -> Element {
        Builder::new(IceUdpTransport::ELEMENT, ns::JINGLE_ICE_UDP)
            .opt_attr("ufrag", t.ufrag.as_deref())
            .opt_attr("pwd", t.pwd.as_deref())
            .children(t.fingerprints.iter().map(Element::from))
            .children(t.candidates.iter().map(Element::from))
            .opt_child(t.web_socket.as_deref().map(|url| {
                Builder::new("web-socket", ns::COLIBRI)
                    .attr("url", url)
                    .build()
            }))
            .opt_child(
                t.rtcp_mux
                    .then(|| Element::bare("rtcp-mux", ns::JINGLE_ICE_UDP)),
            )
            .children(t.extra.iter().cloned())
            .build()
    }
}

/// DTLS role in a fingerprint's `setup` attribute (RFC 4145 / XEP-0320).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `actpass`: the offerer (Jitsi's bridge) can be either.
    Actpass,
    /// `active`: DTLS client (what browsers answer).
    Active,
    /// `passive`: DTLS server.
    Passive,
    /// `holdconn`.
    Holdconn,
}

impl Setup {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Actpass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::Holdconn => "holdconn",
        }
    }

    /// Parses an attribute value.
    pub fn parse(s: &str) -> Option<Setup> {
        match s {
            "actpass" => Some(Setup::Actpass),
            "active" => Some(Setup::Active),
            "passive" => Some(Setup::Passive),
            "holdconn" => Some(Setup::Holdconn),
            _ => None,
        }
    }
}

/// `<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash=… setup=…>AB:CD:…</fingerprint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash function, e.g. `sha-256`.
    pub hash: String,
    /// DTLS role.
    pub setup: Option<Setup>,
    /// The `required` attribute LJM puts in transport-info.
    pub required: Option<bool>,
    /// The fingerprint itself (text, whitespace-trimmed).
    pub value: String,
}

impl Fingerprint {
    const ELEMENT: &'static str = "fingerprint";
}

impl TryFrom<&Element> for Fingerprint {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, Self::ELEMENT, ns::JINGLE_DTLS)?;
        let setup = match el.attr("setup") {
            None => None,
            Some(v) => Some(Setup::parse(v).ok_or_else(|| ParseError::InvalidAttribute {
                element: Self::ELEMENT,
                attribute: "setup",
                value: truncated(v),
                expected: "actpass, active, passive or holdconn",
            })?),
        };
        Ok(Fingerprint {
            hash: xml::required(el, Self::ELEMENT, "hash")?.to_owned(),
            setup,
            required: xml::boolean(el, Self::ELEMENT, "required")?,
            value: el.text().trim().to_owned(),
        })
    }
}

impl From<&Fingerprint> for Element {
    fn from(f: &Fingerprint) -> Element {
        Builder::new(Fingerprint::ELEMENT, ns::JINGLE_DTLS)
            .attr("hash", f.hash.as_str())
            .opt_attr("setup", f.setup.map(Setup::as_str))
            .opt_attr("required", f.required)
            .text(&f.value)
            .build()
    }
}

/// ICE candidate type (`type` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType {
    /// `host`
    Host,
    /// `srflx`
    Srflx,
    /// `prflx`
    Prflx,
    /// `relay`
    Relay,
}

impl CandidateType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    /// Parses an attribute value.
    pub fn parse(s: &str) -> Option<CandidateType> {
        match s {
            "host" => Some(CandidateType::Host),
            "srflx" => Some(CandidateType::Srflx),
            "prflx" => Some(CandidateType::Prflx),
            "relay" => Some(CandidateType::Relay),
            _ => None,
        }
    }
}

/// `<candidate component foundation generation id network priority protocol ip port type
/// [rel-addr rel-port] [tcptype]/>`.
///
/// `ip` stays a string: browsers put mDNS host names (`….local`) there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// ICE component (1 = RTP; Jitsi always bundles with rtcp-mux).
    pub component: u8,
    /// Foundation.
    pub foundation: String,
    /// ICE generation.
    pub generation: Option<u32>,
    /// Candidate id (random, per XEP-0176).
    pub id: Option<String>,
    /// Address (IP literal or mDNS name).
    pub ip: String,
    /// Port.
    pub port: u16,
    /// ICE priority.
    pub priority: u32,
    /// Transport protocol, `udp` or `tcp`.
    pub protocol: String,
    /// Candidate type.
    pub typ: CandidateType,
    /// Related address (srflx/relay).
    pub rel_addr: Option<String>,
    /// Related port.
    pub rel_port: Option<u16>,
    /// Network index.
    pub network: Option<u32>,
    /// TCP candidate type (`active`/`passive`/`so`).
    pub tcptype: Option<String>,
}

impl Candidate {
    const ELEMENT: &'static str = "candidate";
}

impl TryFrom<&Element> for Candidate {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = Candidate::ELEMENT;
        xml::check(el, E, ns::JINGLE_ICE_UDP)?;
        let typ_str = xml::required(el, E, "type")?;
        let typ = CandidateType::parse(typ_str).ok_or_else(|| ParseError::InvalidAttribute {
            element: E,
            attribute: "type",
            value: truncated(typ_str),
            expected: "host, srflx, prflx or relay",
        })?;
        Ok(Candidate {
            component: xml::required_number(el, E, "component")?,
            foundation: xml::required(el, E, "foundation")?.to_owned(),
            generation: xml::number(el, E, "generation")?,
            id: xml::optional(el, "id"),
            ip: xml::required(el, E, "ip")?.to_owned(),
            port: xml::required_number(el, E, "port")?,
            priority: xml::required_number(el, E, "priority")?,
            protocol: xml::required(el, E, "protocol")?.to_owned(),
            typ,
            rel_addr: xml::optional(el, "rel-addr"),
            rel_port: xml::number(el, E, "rel-port")?,
            network: xml::number(el, E, "network")?,
            tcptype: xml::optional(el, "tcptype"),
        })
    }
}

impl From<&Candidate> for Element {
    fn from(c: &Candidate) -> Element {
        Builder::new(Candidate::ELEMENT, ns::JINGLE_ICE_UDP)
            .attr("component", c.component.to_string())
            .attr("foundation", c.foundation.as_str())
            .opt_attr("generation", c.generation)
            .opt_attr("id", c.id.as_deref())
            .opt_attr("network", c.network)
            .attr("priority", c.priority.to_string())
            .attr("protocol", c.protocol.as_str())
            .attr("ip", c.ip.as_str())
            .attr("port", c.port.to_string())
            .attr("type", c.typ.as_str())
            .opt_attr("rel-addr", c.rel_addr.as_deref())
            .opt_attr("rel-port", c.rel_port)
            .opt_attr("tcptype", c.tcptype.as_deref())
            .build()
    }
}

xml::owned_conversions!(IceUdpTransport, Fingerprint, Candidate);
