//! What the focus offers (jitsi-protocol.md §3.1–3.2): a participant's
//! Jingle features, read from its disco#info, and jicofo 6726's codec set
//! and header extensions shaped by them. The same [`Media`] goes to the
//! bridge (Colibri2 `<media>`) and into the Jingle `<description>`.

use jitsi_xmpp::{Media, MediaType, PayloadType, RtcpFb, RtpHdrExt};
use minidom::Element;

use crate::xml::NS_DISCO_INFO;

pub const FEATURE_RTX: &str = "urn:ietf:rfc:4588";
pub const FEATURE_REMB: &str = "http://jitsi.org/remb";
pub const FEATURE_TCC: &str = "http://jitsi.org/tcc";
pub const FEATURE_OPUS_RED: &str = "http://jitsi.org/opus-red";
pub const FEATURE_JSON_SOURCES: &str = "http://jitsi.org/json-encoded-sources";
pub const FEATURE_SCTP: &str = "urn:xmpp:jingle:transports:dtls-sctp:1";
pub const FEATURE_AUDIO: &str = "urn:xmpp:jingle:apps:rtp:audio";
pub const FEATURE_VIDEO: &str = "urn:xmpp:jingle:apps:rtp:video";

const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
const ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
const TRANSPORT_CC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// A participant's Jingle capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub audio: bool,
    pub video: bool,
    pub rtx: bool,
    pub remb: bool,
    pub tcc: bool,
    pub opus_red: bool,
    pub json_sources: bool,
    pub sctp: bool,
}

impl Default for Features {
    /// jicofo's assumption when disco#info fails: audio, video, ICE, SCTP,
    /// DTLS, rtcp-mux, bundle — nothing optional.
    fn default() -> Self {
        Features {
            audio: true,
            video: true,
            rtx: false,
            remb: false,
            tcc: false,
            opus_red: false,
            json_sources: false,
            sctp: true,
        }
    }
}

impl Features {
    /// From a disco#info `<query>` result.
    pub fn from_disco(query: &Element) -> Self {
        let vars: Vec<&str> = query
            .children()
            .filter(|c| c.is("feature", NS_DISCO_INFO))
            .filter_map(|c| c.attr("var"))
            .collect();
        let has = |f: &str| vars.contains(&f);
        Features {
            audio: has(FEATURE_AUDIO),
            video: has(FEATURE_VIDEO),
            rtx: has(FEATURE_RTX),
            remb: has(FEATURE_REMB),
            tcc: has(FEATURE_TCC),
            opus_red: has(FEATURE_OPUS_RED),
            json_sources: has(FEATURE_JSON_SOURCES),
            sctp: has(FEATURE_SCTP),
        }
    }
}

/// Options from the conference request's properties (§1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferOptions {
    pub disable_rtx: bool,
    pub start_bitrate: Option<u32>,
    pub min_bitrate: Option<u32>,
}

fn fb(typ: &str, sub: Option<&str>) -> RtcpFb {
    RtcpFb::new(typ, sub)
}

fn pt(id: u8, name: &str, clock: u32) -> PayloadType {
    PayloadType::new(id, name, clock)
}

/// The audio description: opus 111, ISAC 103/104, telephone-event 126.
pub fn audio(f: &Features) -> Media {
    let mut m = Media::new(MediaType::Audio);
    let mut opus = pt(111, "opus", 48000);
    opus.channels = Some(2);
    opus.parameters = vec![
        ("minptime".into(), "10".into()),
        ("useinbandfec".into(), "1".into()),
    ];
    if f.tcc {
        opus.rtcp_fbs.push(fb("transport-cc", None));
    }
    m.payload_types.push(opus);
    m.payload_types.push(pt(103, "ISAC", 16000));
    m.payload_types.push(pt(104, "ISAC", 32000));
    m.payload_types.push(pt(126, "telephone-event", 8000));
    m.hdrexts.push(RtpHdrExt::new(1, AUDIO_LEVEL));
    if f.tcc {
        m.hdrexts.push(RtpHdrExt::new(5, TRANSPORT_CC));
    }
    m
}

/// The video description: VP8 100, H264 107, VP9 101, then RTX 96/97/99.
pub fn video(f: &Features, o: &OfferOptions) -> Media {
    let mut m = Media::new(MediaType::Video);
    let mut common = vec![
        fb("ccm", Some("fir")),
        fb("nack", None),
        fb("nack", Some("pli")),
    ];
    if f.tcc {
        common.push(fb("transport-cc", None));
    } else if f.remb {
        common.push(fb("goog-remb", None));
    }
    let mut bitrates = Vec::new();
    if let Some(b) = o.start_bitrate {
        bitrates.push(("x-google-start-bitrate".to_string(), b.to_string()));
    }
    if let Some(b) = o.min_bitrate {
        bitrates.push(("x-google-min-bitrate".to_string(), b.to_string()));
    }
    let mut vp8 = pt(100, "VP8", 90000);
    vp8.rtcp_fbs = common.clone();
    vp8.parameters = bitrates.clone();
    let mut h264 = pt(107, "H264", 90000);
    h264.rtcp_fbs = common.clone();
    h264.parameters = vec![
        ("profile-level-id".into(), "42e01f".into()),
        ("level-asymmetry-allowed".into(), "1".into()),
        ("packetization-mode".into(), "1".into()),
    ];
    h264.parameters.extend(bitrates.clone());
    let mut vp9 = pt(101, "VP9", 90000);
    vp9.rtcp_fbs = common;
    vp9.parameters = bitrates;
    m.payload_types.extend([vp8, h264, vp9]);
    if f.rtx && !o.disable_rtx {
        let rtx_fb = vec![
            fb("ccm", Some("fir")),
            fb("nack", None),
            fb("nack", Some("pli")),
        ];
        for (id, apt, with_fb) in [(96u8, 100u8, true), (97, 101, true), (99, 107, false)] {
            let mut r = pt(id, "rtx", 90000);
            r.parameters = vec![("apt".into(), apt.to_string())];
            if with_fb {
                r.rtcp_fbs = rtx_fb.clone();
            }
            m.payload_types.push(r);
        }
    }
    m.hdrexts.push(RtpHdrExt::new(3, ABS_SEND_TIME));
    if f.tcc {
        m.hdrexts.push(RtpHdrExt::new(5, TRANSPORT_CC));
    }
    m
}

/// The offered media for a participant, audio first.
pub fn offer(f: &Features, o: &OfferOptions) -> Vec<Media> {
    let mut out = Vec::new();
    if f.audio {
        out.push(audio(f));
    }
    if f.video {
        out.push(video(f, o));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_shape_the_offer() {
        let q: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/>\
            <feature var='urn:ietf:rfc:4588'/><feature var='http://jitsi.org/tcc'/>\
            <feature var='http://jitsi.org/json-encoded-sources'/></query>"
            .parse()
            .expect("xml");
        let f = Features::from_disco(&q);
        assert!(f.rtx && f.tcc && f.json_sources && !f.remb && !f.sctp);
        let media = offer(&f, &OfferOptions::default());
        assert_eq!(media.len(), 2);
        let v = &media[1];
        let names: Vec<(u8, &str)> = v
            .payload_types
            .iter()
            .map(|p| (p.id, p.name.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            names,
            [
                (100, "VP8"),
                (107, "H264"),
                (101, "VP9"),
                (96, "rtx"),
                (97, "rtx"),
                (99, "rtx")
            ]
        );
        assert!(
            v.payload_types[0]
                .rtcp_fbs
                .iter()
                .any(|f| f.typ == "transport-cc")
        );
        assert!(v.hdrexts.iter().any(|h| h.id == 5));

        let f2 = Features {
            remb: true,
            ..Default::default()
        };
        let o = OfferOptions {
            disable_rtx: true,
            start_bitrate: Some(800),
            min_bitrate: None,
        };
        let v = video(&f2, &o);
        assert_eq!(v.payload_types.len(), 3, "no RTX");
        assert!(
            v.payload_types[0]
                .rtcp_fbs
                .iter()
                .any(|f| f.typ == "goog-remb")
        );
        assert_eq!(
            v.payload_types[0].parameter("x-google-start-bitrate"),
            Some("800")
        );
        assert!(audio(&f2).hdrexts.iter().all(|h| h.id != 5));
    }
}
