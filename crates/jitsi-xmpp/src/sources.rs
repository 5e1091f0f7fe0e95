//! XEP-0339 `<source>` and `<ssrc-group>` with Jitsi's additions (jitsi-protocol.md §3.2, §3.5):
//! the `name` (source name) and `videoType` attributes, the `msid` parameter and the
//! `<ssrc-info xmlns='http://jitsi.org/jitmeet' owner=…/>` child. Colibri2 `<media-source>` embeds
//! these (§4.2).

use minidom::Element;

use crate::error::{ParseError, truncated};
use crate::ns;
use crate::xml::{self, Builder};

/// `<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc=… name=…>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The SSRC.
    pub ssrc: u32,
    /// Source name (`name`, e.g. `6a8c1f2e-v0`, `jvb-a0`).
    pub name: Option<String>,
    /// Value of `<parameter name='msid' value=…/>`.
    pub msid: Option<String>,
    /// `owner` of `<ssrc-info xmlns='http://jitsi.org/jitmeet'/>`: occupant JID or endpoint id
    /// (`jvb` for the bridge's own sources). Other `ssrc-info` attributes are not kept.
    pub owner: Option<String>,
    /// The `videoType` attribute (`camera` / `desktop`).
    pub video_type: Option<String>,
    /// The `rid` attribute (RID-based simulcast; Jitsi uses SSRCs).
    pub rid: Option<String>,
    /// Other `<parameter>`s (e.g. `cname`), in order; the value may be absent.
    pub parameters: Vec<(String, Option<String>)>,
    /// Children not modelled above, kept verbatim.
    pub extra: Vec<Element>,
}

impl Source {
    const ELEMENT: &'static str = "source";

    /// A source with only an SSRC.
    pub fn new(ssrc: u32) -> Self {
        Source {
            ssrc,
            name: None,
            msid: None,
            owner: None,
            video_type: None,
            rid: None,
            parameters: Vec::new(),
            extra: Vec::new(),
        }
    }
}

impl TryFrom<&Element> for Source {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = Source::ELEMENT;
        xml::check(el, E, ns::JINGLE_SSMA)?;
        let mut s = Source::new(xml::required_number(el, E, "ssrc")?);
        s.name = xml::optional(el, "name");
        s.video_type = xml::optional(el, "videoType");
        s.rid = xml::optional(el, "rid");
        for child in el.children() {
            if child.is("parameter", ns::JINGLE_SSMA) {
                let name = xml::required(child, "parameter", "name")?;
                let value = xml::optional(child, "value");
                if name == "msid" && s.msid.is_none() && value.is_some() {
                    s.msid = value;
                } else {
                    s.parameters.push((name.to_owned(), value));
                }
            } else if child.is("ssrc-info", ns::JITMEET)
                && s.owner.is_none()
                && child.attr("owner").is_some()
            {
                s.owner = xml::optional(child, "owner");
            } else {
                s.extra.push(child.clone());
            }
        }
        Ok(s)
    }
}

impl From<&Source> for Element {
    fn from(s: &Source) -> Element {
        let param = |name: &str, value: Option<&str>| {
            Builder::new("parameter", ns::JINGLE_SSMA)
                .attr("name", name)
                .opt_attr("value", value)
                .build()
        };
        Builder::new(Source::ELEMENT, ns::JINGLE_SSMA)
            .attr("ssrc", s.ssrc.to_string())
            .opt_attr("name", s.name.as_deref())
            .opt_attr("videoType", s.video_type.as_deref())
            .opt_attr("rid", s.rid.as_deref())
            .opt_child(s.msid.as_deref().map(|m| param("msid", Some(m))))
            .children(
                s.parameters
                    .iter()
                    .map(|(n, v)| param(n.as_str(), v.as_deref())),
            )
            .opt_child(s.owner.as_deref().map(|o| {
                Builder::new("ssrc-info", ns::JITMEET)
                    .attr("owner", o)
                    .build()
            }))
            .children(s.extra.iter().cloned())
            .build()
    }
}

/// `semantics` of an `<ssrc-group>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// `SIM`: simulcast layers, lowest first.
    Sim,
    /// `FID`: primary SSRC and its RTX SSRC.
    Fid,
    /// Anything else (e.g. `FEC-FR`), kept as written.
    Other(String),
}

impl Semantics {
    /// The attribute value.
    pub fn as_str(&self) -> &str {
        match self {
            Semantics::Sim => "SIM",
            Semantics::Fid => "FID",
            Semantics::Other(s) => s,
        }
    }

    /// Parses an attribute value.
    pub fn parse(s: &str) -> Semantics {
        match s {
            "SIM" => Semantics::Sim,
            "FID" => Semantics::Fid,
            other => Semantics::Other(other.to_owned()),
        }
    }
}

/// `<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics=…><source ssrc=…/>…</ssrc-group>`.
///
/// Children other than `<source>` are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// Group semantics.
    pub semantics: Semantics,
    /// Member SSRCs, in order.
    pub ssrcs: Vec<u32>,
}

impl SsrcGroup {
    const ELEMENT: &'static str = "ssrc-group";
}

impl TryFrom<&Element> for SsrcGroup {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = SsrcGroup::ELEMENT;
        xml::check(el, E, ns::JINGLE_SSMA)?;
        let semantics = xml::required(el, E, "semantics")?;
        if semantics.is_empty() {
            return Err(ParseError::InvalidAttribute {
                element: E,
                attribute: "semantics",
                value: truncated(semantics),
                expected: "a non-empty group semantics such as SIM or FID",
            });
        }
        let mut ssrcs = Vec::new();
        for child in el.children() {
            if child.is("source", ns::JINGLE_SSMA) {
                ssrcs.push(xml::required_number(child, "source", "ssrc")?);
            }
        }
        Ok(SsrcGroup {
            semantics: Semantics::parse(semantics),
            ssrcs,
        })
    }
}

impl From<&SsrcGroup> for Element {
    fn from(g: &SsrcGroup) -> Element {
        Builder::new(SsrcGroup::ELEMENT, ns::JINGLE_SSMA)
            .attr("semantics", g.semantics.as_str())
            .children(g.ssrcs.iter().map(|ssrc| {
                Builder::new("source", ns::JINGLE_SSMA)
                    .attr("ssrc", ssrc.to_string())
                    .build()
            }))
            .build()
    }
}

xml::owned_conversions!(Source, SsrcGroup);
