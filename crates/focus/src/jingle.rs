//! Jingle between the focus and a participant (jitsi-protocol.md §3):
//! building the offer (session-initiate, transport-replace), source-add /
//! source-remove and session-terminate, and reading what participants send.
//!
//! Works on minidom elements: xmpp-parsers' Jingle structs drop the Jitsi
//! additions (`<web-socket>`, `ssrc-info`, `json-message`,
//! `bridge-session`), see dependencies.md §2.

use jitsi_xmpp::{IceUdpTransport, Media, MediaType, ns};
use minidom::Element;

use crate::sources::{EndpointSources, JVB_OWNER, json_message};
use crate::xml::{el, set_attr};

pub const NS_JINGLE_ERRORS: &str = "urn:xmpp:jingle:errors:1";

/// The Jingle actions the focus understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SessionInitiate,
    SessionAccept,
    SessionTerminate,
    SessionInfo,
    TransportInfo,
    TransportReplace,
    TransportAccept,
    TransportReject,
    SourceAdd,
    SourceRemove,
    ContentModify,
    Other,
}

impl Action {
    pub fn parse(s: &str) -> Action {
        match s {
            "session-initiate" => Action::SessionInitiate,
            "session-accept" => Action::SessionAccept,
            "session-terminate" => Action::SessionTerminate,
            "session-info" => Action::SessionInfo,
            "transport-info" => Action::TransportInfo,
            "transport-replace" => Action::TransportReplace,
            "transport-accept" => Action::TransportAccept,
            "transport-reject" => Action::TransportReject,
            // jicofo accepts the legacy names too.
            "source-add" | "addsource" => Action::SourceAdd,
            "source-remove" | "removesource" => Action::SourceRemove,
            "content-modify" => Action::ContentModify,
            _ => Action::Other,
        }
    }
}

/// A Jingle element received from a participant, read once.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub action: Action,
    pub action_name: String,
    pub sid: String,
    /// The first ICE-UDP transport of any content (bundle: they are equal).
    pub transport: Option<IceUdpTransport>,
    /// Sources in the contents' descriptions.
    pub sources: EndpointSources,
    /// `<bridge-session id>` and its `restart` flag.
    pub bridge_session: Option<(String, bool)>,
    /// `session-info`'s `<ice-state>` text.
    pub ice_state: Option<String>,
}

impl Incoming {
    /// Reads a `<jingle>`; the error text goes into a `bad-request`.
    pub fn parse(jingle: &Element) -> Result<Incoming, String> {
        if !jingle.is("jingle", ns::JINGLE) {
            return Err("not a Jingle element".into());
        }
        let action_name = jingle
            .attr("action")
            .ok_or("the jingle element has no action")?
            .to_string();
        let sid = jingle
            .attr("sid")
            .filter(|s| !s.is_empty())
            .ok_or("the jingle element has no sid")?
            .to_string();
        let contents = || jingle.children().filter(|c| c.is("content", ns::JINGLE));
        let mut transport = None;
        for c in contents() {
            if let Some(t) = c.get_child("transport", ns::JINGLE_ICE_UDP) {
                let parsed =
                    IceUdpTransport::try_from(t).map_err(|e| format!("invalid transport: {e}"))?;
                if transport.is_none() {
                    transport = Some(parsed);
                }
            }
        }
        let sources = EndpointSources::from_contents(contents()).map_err(|e| e.0)?;
        let bridge_session = jingle.get_child("bridge-session", ns::FOCUS).and_then(|b| {
            b.attr("id")
                .map(|id| (id.to_string(), b.attr("restart") == Some("true")))
        });
        let ice_state = jingle
            .get_child("ice-state", ns::FOCUS)
            .map(|e| e.text().trim().to_string());
        Ok(Incoming {
            action: Action::parse(&action_name),
            action_name,
            sid,
            transport,
            sources,
            bridge_session,
            ice_state,
        })
    }
}

/// What an offer (session-initiate or transport-replace) carries.
pub struct Offer<'a> {
    pub sid: &'a str,
    pub initiator: &'a str,
    pub media: &'a [Media],
    /// The bridge's transport for this endpoint.
    pub transport: &'a IceUdpTransport,
    /// Whether to add a `data` content (the bridge offered SCTP and the
    /// participant supports it).
    pub sctp: bool,
    /// Every other endpoint's sources, by endpoint id, plus the bridge's.
    pub sources: &'a [(String, EndpointSources)],
    pub feedback: &'a EndpointSources,
    pub json_sources: bool,
    /// The room, for XML `ssrc-info owner` (occupant JIDs).
    pub room: &'a str,
    pub bridge_session: &'a str,
    pub region: Option<&'a str>,
    pub start_muted: Option<(bool, bool)>,
}

fn jingle(action: &str, sid: &str, initiator: Option<&str>) -> Element {
    let mut j = el("jingle", ns::JINGLE, &[("action", action), ("sid", sid)]);
    if let Some(i) = initiator {
        set_attr(&mut j, "initiator", i);
    }
    j
}

fn owner_jid(room: &str, owner: &str) -> String {
    if owner == JVB_OWNER {
        owner.to_string()
    } else {
        format!("{room}/{owner}")
    }
}

/// The offer's `<jingle>` with `action` = session-initiate or
/// transport-replace (§3.2, §3.6).
pub fn offer(action: &str, o: &Offer<'_>) -> Element {
    let mut j = jingle(action, o.sid, Some(o.initiator));
    let mut transport = o.transport.clone();
    transport.rtcp_mux = true;
    let mut names = Vec::new();
    for m in o.media {
        let kind = m.kind.as_str();
        names.push(kind.to_string());
        let mut content = el(
            "content",
            ns::JINGLE,
            &[
                ("creator", "initiator"),
                ("name", kind),
                ("senders", "both"),
            ],
        );
        let mut desc = el("description", ns::JINGLE_RTP, &[("media", kind)]);
        if m.kind == MediaType::Audio {
            set_attr(&mut desc, "maxptime", "60");
        }
        for pt in &m.payload_types {
            desc.append_child(Element::from(pt));
        }
        for h in &m.hdrexts {
            desc.append_child(Element::from(h));
        }
        if !o.json_sources {
            for (owner, set) in o.sources {
                for child in set.xml_children(m.kind, &owner_jid(o.room, owner)) {
                    desc.append_child(child);
                }
            }
            for child in o.feedback.xml_children(m.kind, JVB_OWNER) {
                desc.append_child(child);
            }
        }
        desc.append_child(Element::bare("rtcp-mux", ns::JINGLE_RTP));
        content.append_child(desc);
        content.append_child(Element::from(&transport));
        j.append_child(content);
    }
    if o.sctp {
        names.push("data".to_string());
        let mut content = el(
            "content",
            ns::JINGLE,
            &[
                ("creator", "initiator"),
                ("name", "data"),
                ("senders", "both"),
            ],
        );
        content.append_child(el(
            "description",
            ns::JINGLE_RTP,
            &[("media", "application")],
        ));
        let mut t = Element::from(&transport);
        t.append_child(el(
            "sctpmap",
            ns::JINGLE_DTLS_SCTP,
            &[
                ("number", "5000"),
                ("protocol", "webrtc-datachannel"),
                ("streams", "1024"),
            ],
        ));
        content.append_child(t);
        j.append_child(content);
    }
    let mut group = el("group", ns::JINGLE_GROUPING, &[("semantics", "BUNDLE")]);
    for n in &names {
        group.append_child(el("content", ns::JINGLE_GROUPING, &[("name", n)]));
    }
    j.append_child(group);
    let mut bs = el("bridge-session", ns::FOCUS, &[("id", o.bridge_session)]);
    if let Some(r) = o.region {
        set_attr(&mut bs, "region", r);
    }
    j.append_child(bs);
    if let Some((a, v)) = o.start_muted {
        j.append_child(el(
            "startmuted",
            ns::JITMEET_START_MUTED,
            &[
                ("audio", if a { "true" } else { "false" }),
                ("video", if v { "true" } else { "false" }),
            ],
        ));
    }
    if o.json_sources {
        let mut owners: Vec<(&str, &EndpointSources)> =
            o.sources.iter().map(|(n, s)| (n.as_str(), s)).collect();
        owners.push((JVB_OWNER, o.feedback));
        j.append_child(json_element(&owners));
    }
    j
}

fn json_element(owners: &[(&str, &EndpointSources)]) -> Element {
    let mut m = Element::bare("json-message", ns::JITMEET);
    m.append_text(json_message(owners));
    m
}

/// source-add / source-remove from the focus with one endpoint's sources.
pub fn sources_update(
    action: &str,
    sid: &str,
    room: &str,
    owner: &str,
    set: &EndpointSources,
    json_sources: bool,
) -> Element {
    let mut j = jingle(action, sid, None);
    if json_sources {
        j.append_child(json_element(&[(owner, set)]));
        return j;
    }
    for kind in [MediaType::Audio, MediaType::Video] {
        let children = set.xml_children(kind, &owner_jid(room, owner));
        if children.is_empty() {
            continue;
        }
        let mut content = el(
            "content",
            ns::JINGLE,
            &[("creator", "initiator"), ("name", kind.as_str())],
        );
        let mut desc = el("description", ns::JINGLE_RTP, &[("media", kind.as_str())]);
        for c in children {
            desc.append_child(c);
        }
        content.append_child(desc);
        j.append_child(content);
    }
    j
}

/// session-terminate with a reason (`success`, `gone`, …).
pub fn terminate(sid: &str, reason: &str, text: Option<&str>) -> Element {
    let mut j = jingle("session-terminate", sid, None);
    let mut r = Element::bare("reason", ns::JINGLE);
    r.append_child(Element::bare(reason, ns::JINGLE));
    if let Some(t) = text {
        let mut te = Element::bare("text", ns::JINGLE);
        te.append_text(t);
        r.append_child(te);
    }
    j.append_child(r);
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::{Features, OfferOptions, offer as media_offer};
    use jitsi_xmpp::{Candidate, CandidateType, Fingerprint, Setup, Source};

    fn transport() -> IceUdpTransport {
        IceUdpTransport {
            ufrag: Some("uf".into()),
            pwd: Some("pw".into()),
            fingerprints: vec![Fingerprint {
                hash: "sha-256".into(),
                setup: Some(Setup::Actpass),
                required: None,
                value: "AB:CD".into(),
            }],
            candidates: vec![Candidate {
                component: 1,
                foundation: "1".into(),
                generation: Some(0),
                id: Some("c1".into()),
                ip: "127.0.0.1".into(),
                port: 10000,
                priority: 2130706431,
                protocol: "udp".into(),
                typ: CandidateType::Host,
                rel_addr: None,
                rel_port: None,
                network: Some(0),
                tcptype: None,
            }],
            web_socket: Some("ws://x/colibri-ws/default-id/c/ep".into()),
            rtcp_mux: false,
            extra: vec![],
        }
    }

    fn sources(ssrc: u32) -> EndpointSources {
        EndpointSources {
            audio: vec![Source::new(ssrc)],
            video: vec![Source::new(ssrc + 1)],
            ..Default::default()
        }
    }

    #[test]
    fn offer_both_encodings_and_read_back() {
        let media = media_offer(&Features::default(), &OfferOptions::default());
        let t = transport();
        let others = vec![("bbbbbbbb".to_string(), sources(100))];
        let fb = sources(900);
        for json in [false, true] {
            let o = Offer {
                sid: "s1",
                initiator: "focus@auth.x/r",
                media: &media,
                transport: &t,
                sctp: false,
                sources: &others,
                feedback: &fb,
                json_sources: json,
                room: "room@conference.x",
                bridge_session: "bs1",
                region: None,
                start_muted: None,
            };
            let j = offer("session-initiate", &o);
            let xml = String::from(&j);
            assert!(xml.contains("web-socket"), "{xml}");
            assert!(xml.contains("actpass"));
            assert!(xml.contains("BUNDLE"));
            assert!(xml.contains("bridge-session"));
            if json {
                assert!(xml.contains("json-message"));
                assert!(
                    xml.contains("&quot;jvb&quot;") || xml.contains("\"jvb\""),
                    "{xml}"
                );
                assert!(!xml.contains("ssrc-info"));
            } else {
                assert!(xml.contains("owner='room@conference.x/bbbbbbbb'"), "{xml}");
                assert!(xml.contains("owner='jvb'"));
            }
            // What a participant would echo parses back.
            let inc = Incoming::parse(&j).expect("parse");
            assert_eq!(inc.action, Action::SessionInitiate);
            assert_eq!(inc.sid, "s1");
            assert_eq!(
                inc.transport.as_ref().and_then(|t| t.ufrag.as_deref()),
                Some("uf")
            );
            assert_eq!(inc.bridge_session, Some(("bs1".into(), false)));
        }
    }

    #[test]
    fn malformed_jingle_is_refused() {
        for bad in [
            "<jingle xmlns='urn:xmpp:jingle:1' sid='1'/>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept'/>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='1'><content name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'><candidate component='x'/></transport></content></jingle>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='1'><content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='-1'/></description></content></jingle>",
            "<other xmlns='urn:xmpp:jingle:1' action='x' sid='1'/>",
        ] {
            let e: Element = bad.parse().expect("xml");
            assert!(Incoming::parse(&e).is_err(), "{bad}");
        }
        let e: Element = "<jingle xmlns='urn:xmpp:jingle:1' action='removesource' sid='1'/>"
            .parse()
            .expect("xml");
        assert_eq!(
            Incoming::parse(&e).expect("ok").action,
            Action::SourceRemove
        );
    }

    #[test]
    fn updates_and_terminate() {
        let s = sources(5);
        let x = String::from(&sources_update("source-add", "s", "r@c", "ep", &s, false));
        assert!(x.contains("owner='r@c/ep'") && x.contains("media='video'"));
        let x = String::from(&sources_update("source-remove", "s", "r@c", "ep", &s, true));
        assert!(x.contains("json-message") && !x.contains("content"));
        let x = String::from(&terminate("s", "gone", Some("bye")));
        assert!(x.contains("<gone/>") && x.contains("bye"));
    }
}
