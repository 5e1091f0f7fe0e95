//! One endpoint's str0m peer and what the media loop keeps next to it.
//!
//! Every endpoint gets an `Rtc` in RTP mode, configured through str0m's
//! direct API from what Colibri2 carries (no SDP):
//!
//! - Full ICE, controlling, as JVB (jicofo asks `ice-controlling="true"`):
//!   browsers answer the offer and take the controlled role, and
//!   lib-jitsi-meet's Jingle→SDP never says `a=ice-lite`, so the bridge
//!   checks the client's candidates (trickled through the focus, or learnt
//!   as peer-reflexive from its checks) and nominates. (An ICE-lite bridge
//!   met a controlled browser; str0m's tie-break then made the bridge a
//!   controlling lite agent about half the time, which never nominates.)
//! - DTLS: the bridge offers `actpass` and is the DTLS server when the
//!   client answers `active` (or `actpass`); client when it says `passive`.
//!   One certificate for all endpoints, like JVB, so allocating is cheap.
//! - SCTP: the bridge is the SCTP server; a client that opens the
//!   `JVB data channel` gets the bridge channel over it.
//! - Streams: the endpoint's own SSRCs are receive streams (each simulcast
//!   layer with its RTX partner) in media "a"/"v"; every other endpoint's
//!   sources are send streams with the same SSRCs, each in a media of its
//!   own (see [`outgoing_mid`]).
//!
//! Incoming RTX is unwrapped by str0m (its packets arrive as the repaired
//! original), and each receiver's RTX is answered by str0m from its send
//! buffer, so retransmission is per hop as in JVB.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::channel::ChannelId;
use str0m::config::{DtlsCert, Fingerprint};
use str0m::media::{MediaKind, Mid};
use str0m::rtp::Ssrc;
use str0m::{Candidate, IceCreds, Rtc};

use crate::core::{EndpointIdx, MediaKind as CoreKind, SourceDescription};
use crate::engine::{EndpointSource, RemoteTransport};

use super::profile;
use super::slab::Key;
use super::timers::Deadline;

/// Media id of the endpoint's own audio.
pub const MID_AUDIO: &str = "a";
/// Media id of the endpoint's own video.
pub const MID_VIDEO: &str = "v";
/// Remote candidates kept per endpoint; more are ignored.
const MAX_REMOTE_CANDIDATES: usize = 16;

/// Media id of a forwarded stream: `a` or `v` and the SSRC in hex. Every
/// send stream needs a media id of its own, since str0m's pacer queues by
/// media id, and a receiver's PLI/FIR is reported by media id.
pub fn outgoing_mid(video: bool, ssrc: u32) -> Mid {
    let kind = if video { 'v' } else { 'a' };
    Mid::from(format!("{kind}{ssrc:08x}").as_str())
}

/// The primary SSRC a forwarded-video media id stands for.
pub fn ssrc_of_video_mid(mid: &Mid) -> Option<u32> {
    let s: &str = mid;
    let hex = s.strip_prefix('v')?;
    if hex.len() != 8 {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// Extends the 16-bit sequence numbers the core writes into the 64-bit
/// ones str0m wants (its upper bits are the SRTP rollover counter).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    pub fn extend(&mut self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            self.last = Some(u64::from(seq));
            return u64::from(seq);
        };
        // The closest value with these low 16 bits: reordering goes back
        // a little, wrap-around goes forward.
        #[allow(clippy::cast_possible_truncation)] // the low 16 bits are the point
        let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
        let ext = u64::try_from(
            i64::try_from(last)
                .unwrap_or(i64::MAX)
                .saturating_add(delta),
        )
        .unwrap_or(0);
        if ext > last {
            self.last = Some(ext);
        }
        ext
    }
}

/// One media stream as str0m declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDecl {
    pub video: bool,
    pub ssrc: u32,
    pub rtx: Option<u32>,
}

fn rtx_of(src: &EndpointSource, ssrc: u32) -> Option<u32> {
    src.fid.iter().find(|(m, _)| *m == ssrc).map(|(_, r)| *r)
}

/// The media SSRCs (simulcast layers, or the single one) of a source.
fn layers(src: &EndpointSource) -> Vec<u32> {
    if !src.sim.is_empty() {
        return src.sim.clone();
    }
    src.ssrcs
        .iter()
        .copied()
        .filter(|s| !src.fid.iter().any(|(_, r)| r == s))
        .collect()
}

/// What the endpoint sends: one receive stream per layer.
pub fn incoming_streams(sources: &[EndpointSource]) -> Vec<StreamDecl> {
    let mut out = Vec::new();
    for src in sources {
        let video = src.kind == "video";
        for ssrc in layers(src) {
            out.push(StreamDecl {
                video,
                ssrc,
                rtx: if video { rtx_of(src, ssrc) } else { None },
            });
        }
    }
    out
}

/// What others receive of the endpoint's sources: the primary SSRC of each
/// (simulcast is rewritten onto it) with its RTX partner.
pub fn outgoing_streams(sources: &[EndpointSource]) -> Vec<StreamDecl> {
    let mut out = Vec::new();
    for src in sources {
        let video = src.kind == "video";
        if video {
            if let Some(&primary) = layers(src).first() {
                out.push(StreamDecl {
                    video,
                    ssrc: primary,
                    rtx: rtx_of(src, primary),
                });
            }
        } else {
            out.extend(src.ssrcs.iter().map(|&ssrc| StreamDecl {
                video,
                ssrc,
                rtx: None,
            }));
        }
    }
    out
}

/// The core's view of a source.
pub fn to_core(src: &EndpointSource) -> SourceDescription {
    SourceDescription {
        kind: if src.kind == "video" {
            CoreKind::Video
        } else {
            CoreKind::Audio
        },
        name: (!src.name.is_empty()).then(|| src.name.clone()),
        ssrcs: src.ssrcs.clone(),
        sim_group: (!src.sim.is_empty()).then(|| src.sim.clone()),
        fid_pairs: src.fid.clone(),
    }
}

/// Settings shared by every endpoint's `Rtc`.
#[derive(Debug, Clone)]
pub struct PeerTemplate {
    pub cert: DtlsCert,
    /// One host candidate per address family: what str0m matches the
    /// destination of incoming checks against.
    pub host_candidates: Vec<SocketAddr>,
    pub bwe_initial_bps: Option<u64>,
}

impl PeerTemplate {
    pub fn build(&self, creds: IceCreds, now: Instant) -> Rtc {
        // Full ICE, controlling (jicofo's Colibri2 `ice-controlling="true"`,
        // as JVB does): browsers answer the offer and so take the
        // controlled role, and lib-jitsi-meet's SDP never says `ice-lite`.
        // An ICE-lite bridge left both sides controlled; str0m resolves
        // that conflict by tie-breaker, and when the bridge lost it turned
        // into a controlling ICE-lite agent, which can never nominate — about
        // half of the browser sessions never connected.
        let mut config = profile::apply(Rtc::builder())
            .set_rtp_mode(true)
            .set_ice_lite(false)
            .set_local_ice_credentials(creds)
            .set_dtls_cert(self.cert.clone())
            .set_stats_interval(None);
        if let Some(bps) = self.bwe_initial_bps {
            config = config.enable_bwe(Some(Bitrate::bps(bps)));
        }
        let mut rtc = config.build(now);
        for addr in &self.host_candidates {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        let mut api = rtc.direct_api();
        api.set_ice_controlling(true);
        api.enable_twcc_feedback();
        api.declare_media(Mid::from(MID_AUDIO), MediaKind::Audio);
        api.declare_media(Mid::from(MID_VIDEO), MediaKind::Video);
        rtc
    }
}

/// The bridge channel over colibri-ws: the connection and its outbox.
#[derive(Debug)]
pub struct WsLink {
    pub conn: u64,
    pub tx: tokio::sync::mpsc::Sender<Arc<str>>,
}

/// An endpoint in the media loop.
#[derive(Debug)]
pub struct Endpoint {
    pub id: String,
    pub conference: Key,
    pub core_idx: EndpointIdx,
    pub rtc: Rtc,
    pub ufrag: String,
    pub deadline: Deadline,
    ice_ok: bool,
    dtls_ok: bool,
    dtls_started: bool,
    remote_candidates: usize,
    /// Remote addresses routed to this endpoint (bounded).
    pub addrs: Vec<SocketAddr>,
    /// Its sources as last accepted by the core.
    pub sources: Vec<EndpointSource>,
    /// Outgoing sequence-number extension per SSRC.
    pub out_seq: HashMap<u32, SeqExtender>,
    pub ws: Option<WsLink>,
    pub sctp: Option<ChannelId>,
    /// str0m panicked on this peer: it is left alone until expired.
    pub failed: bool,
    /// RTP or RTCP was written into it since time last moved on for it
    /// (see `Worker::release_written`).
    pub written: bool,
    /// DTLS records that arrived before DTLS started (see
    /// [`Endpoint::keep_early_dtls`]): (source, destination, datagram).
    early_dtls: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    early_dtls_bytes: usize,
}

/// Most DTLS datagrams, and bytes, kept for an endpoint before its DTLS
/// starts: a browser's first flight (a ClientHello that a post-quantum key
/// share makes span two or three datagrams) plus its retransmissions.
pub const MAX_EARLY_DTLS: usize = 16;
pub const MAX_EARLY_DTLS_BYTES: usize = 32 * 1024;

/// RFC 7983 §7: a first byte of 20..=63 is DTLS.
pub fn is_dtls(data: &[u8]) -> bool {
    data.first().is_some_and(|b| (20..=63).contains(b))
}

impl Endpoint {
    pub fn new(
        id: String,
        conference: Key,
        core_idx: EndpointIdx,
        rtc: Rtc,
        ufrag: String,
    ) -> Self {
        Endpoint {
            id,
            conference,
            core_idx,
            rtc,
            ufrag,
            deadline: Deadline::default(),
            ice_ok: false,
            dtls_ok: false,
            dtls_started: false,
            remote_candidates: 0,
            addrs: Vec::new(),
            sources: Vec::new(),
            out_seq: HashMap::new(),
            ws: None,
            sctp: None,
            failed: false,
            written: false,
            early_dtls: Vec::new(),
            early_dtls_bytes: 0,
        }
    }

    pub fn dtls_started(&self) -> bool {
        self.dtls_started
    }

    /// A browser sends its DTLS ClientHello as soon as ICE is up — usually
    /// before its session-accept has travelled through the focus to us, so
    /// before `start_dtls`, and str0m drops DTLS input until then. The call
    /// would hang on the browser's retransmission (which Chromium's large,
    /// fragmented DTLS 1.3 hello did not always survive). Keep those
    /// records, bounded, to replay once DTLS starts. False when full.
    pub fn keep_early_dtls(&mut self, src: SocketAddr, dest: SocketAddr, data: &[u8]) -> bool {
        if self.early_dtls.len() >= MAX_EARLY_DTLS
            || self.early_dtls_bytes + data.len() > MAX_EARLY_DTLS_BYTES
        {
            return false;
        }
        self.early_dtls_bytes += data.len();
        self.early_dtls.push((src, dest, data.to_vec()));
        true
    }

    /// The kept records, once DTLS has started (oldest first).
    pub fn take_early_dtls(&mut self) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        if !self.dtls_started {
            return Vec::new();
        }
        self.early_dtls_bytes = 0;
        std::mem::take(&mut self.early_dtls)
    }

    /// Media can flow: ICE has a nominated pair and DTLS-SRTP is up.
    pub fn is_connected(&self) -> bool {
        self.ice_ok && self.dtls_ok
    }

    pub fn set_ice_ok(&mut self, ok: bool) {
        self.ice_ok = ok;
    }

    pub fn set_dtls_ok(&mut self, ok: bool) {
        self.dtls_ok = ok;
    }

    /// Applies the client's transport. Repeated calls (trickled candidates)
    /// add candidates; DTLS and SCTP start once, when the credentials and a
    /// fingerprint are known.
    pub fn set_remote(&mut self, remote: &RemoteTransport, fingerprint: Option<Fingerprint>) {
        let mut api = self.rtc.direct_api();
        if let (Some(ufrag), Some(pass)) = (&remote.ufrag, &remote.pwd) {
            api.set_remote_ice_credentials(IceCreds {
                ufrag: ufrag.clone(),
                pass: pass.clone(),
            });
        }
        let have_fingerprint = fingerprint.is_some() || api.remote_dtls_fingerprint().is_some();
        if let Some(fp) = fingerprint {
            api.set_remote_fingerprint(fp);
        }
        for addr in &remote.candidates {
            if self.remote_candidates >= MAX_REMOTE_CANDIDATES {
                break;
            }
            if let Ok(c) = Candidate::host(*addr, "udp") {
                self.rtc.add_remote_candidate(c);
                self.remote_candidates += 1;
            }
        }
        let have_creds = remote.ufrag.is_some() && remote.pwd.is_some();
        if !self.dtls_started && have_fingerprint && have_creds {
            let active = remote.setup.as_deref() == Some("passive");
            let mut api = self.rtc.direct_api();
            match api.start_dtls(active) {
                Ok(()) => {
                    api.start_sctp(false);
                    self.dtls_started = true;
                }
                Err(e) => tracing::warn!(endpoint = %self.id, error = %e, "cannot start DTLS"),
            }
        }
    }

    /// Declares receive streams for the endpoint's own sources, removing
    /// those no longer signalled.
    pub fn update_incoming(&mut self, old: &[EndpointSource], new: &[EndpointSource]) {
        let new_streams = incoming_streams(new);
        let mut api = self.rtc.direct_api();
        for s in incoming_streams(old) {
            if !new_streams
                .iter()
                .any(|n| n.ssrc == s.ssrc && n.rtx == s.rtx)
            {
                api.remove_stream_rx(Ssrc::from(s.ssrc));
            }
        }
        for s in new_streams {
            let mid = Mid::from(if s.video { MID_VIDEO } else { MID_AUDIO });
            api.expect_stream_rx(Ssrc::from(s.ssrc), s.rtx.map(Ssrc::from), mid, None);
        }
    }

    /// Declares send streams for another endpoint's sources, removing those
    /// of `old` that `new` no longer has.
    pub fn update_outgoing(&mut self, old: &[EndpointSource], new: &[EndpointSource]) {
        let new_streams = outgoing_streams(new);
        let mut api = self.rtc.direct_api();
        for s in outgoing_streams(old) {
            if !new_streams.contains(&s) {
                // Removing the media removes its one stream.
                api.remove_media(outgoing_mid(s.video, s.ssrc));
                self.out_seq.remove(&s.ssrc);
            }
        }
        for s in new_streams {
            let mid = outgoing_mid(s.video, s.ssrc);
            if api.stream_tx(&Ssrc::from(s.ssrc)).is_none() {
                let kind = if s.video {
                    MediaKind::Video
                } else {
                    MediaKind::Audio
                };
                api.remove_media(mid);
                api.declare_media(mid, kind);
                api.declare_stream_tx(Ssrc::from(s.ssrc), s.rtx.map(Ssrc::from), mid, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulcast() -> EndpointSource {
        EndpointSource {
            kind: "video".into(),
            name: "a-v0".into(),
            ssrcs: vec![1, 2, 3, 11, 12, 13],
            sim: vec![1, 2, 3],
            fid: vec![(1, 11), (2, 12), (3, 13)],
        }
    }

    #[test]
    fn streams_of_a_simulcast_source() {
        let rx = incoming_streams(&[simulcast()]);
        assert_eq!(rx.len(), 3);
        assert_eq!(
            rx[1],
            StreamDecl {
                video: true,
                ssrc: 2,
                rtx: Some(12)
            }
        );
        let tx = outgoing_streams(&[simulcast()]);
        assert_eq!(
            tx,
            vec![StreamDecl {
                video: true,
                ssrc: 1,
                rtx: Some(11)
            }]
        );
        let audio = EndpointSource {
            kind: "audio".into(),
            name: String::new(),
            ssrcs: vec![7],
            sim: vec![],
            fid: vec![],
        };
        assert_eq!(
            outgoing_streams(std::slice::from_ref(&audio)),
            vec![StreamDecl {
                video: false,
                ssrc: 7,
                rtx: None
            }]
        );
        let core = to_core(&audio);
        assert_eq!(core.name, None);
        assert_eq!(core.kind, CoreKind::Audio);
    }

    #[test]
    fn video_mids_round_trip() {
        assert_eq!(
            ssrc_of_video_mid(&outgoing_mid(true, 0xdead_beef)),
            Some(0xdead_beef)
        );
        assert_eq!(ssrc_of_video_mid(&outgoing_mid(true, 7)), Some(7));
        assert_eq!(ssrc_of_video_mid(&Mid::from(MID_VIDEO)), None);
        assert_eq!(ssrc_of_video_mid(&outgoing_mid(false, 7)), None);
        assert_eq!(ssrc_of_video_mid(&Mid::from("vzzzzzzzz")), None);
    }

    #[test]
    fn sequence_numbers_extend_across_wraps_and_reordering() {
        let mut e = SeqExtender::default();
        assert_eq!(e.extend(65534), 65534);
        assert_eq!(e.extend(65535), 65535);
        assert_eq!(e.extend(0), 65536);
        assert_eq!(e.extend(65535), 65535, "late packet from before the wrap");
        assert_eq!(e.extend(1), 65537);
        let mut e = SeqExtender::default();
        assert_eq!(e.extend(3), 3);
        assert_eq!(e.extend(65535), 0, "never below zero");
    }

    #[test]
    fn declaring_streams_on_a_peer() {
        let template = PeerTemplate {
            cert: str0m::crypto::from_feature_flags()
                .dtls_provider
                .generate_certificate()
                .unwrap(),
            host_candidates: vec!["127.0.0.1:10000".parse().unwrap()],
            bwe_initial_bps: Some(1_000_000),
        };
        let creds = IceCreds {
            ufrag: "abcd".into(),
            pass: "x".repeat(24),
        };
        let rtc = template.build(creds, Instant::now());
        let key = Key {
            slot: 0,
            generation: 0,
        };
        let mut core = crate::core::ConferenceCore::new(crate::core::CoreConfig::default());
        let idx = core.add_endpoint("e").unwrap();
        let mut ep = Endpoint::new("e".into(), key, idx, rtc, "abcd".into());
        ep.update_outgoing(&[], &[simulcast()]);
        assert!(ep.rtc.direct_api().stream_tx(&Ssrc::from(1)).is_some());
        assert!(ep.rtc.media(outgoing_mid(true, 1)).is_some());
        ep.update_outgoing(&[simulcast()], &[]);
        assert!(ep.rtc.direct_api().stream_tx(&Ssrc::from(1)).is_none());
        ep.update_incoming(&[], &[simulcast()]);
        assert!(ep.rtc.direct_api().stream_rx(&Ssrc::from(3)).is_some());
        ep.update_incoming(&[simulcast()], &[]);
        assert!(ep.rtc.direct_api().stream_rx(&Ssrc::from(3)).is_none());
    }

    #[test]
    fn dtls_before_the_transport_is_kept_and_given_back_once_started() {
        assert!(
            is_dtls(&[22, 254, 253]) && is_dtls(&[63]) && !is_dtls(&[0, 1]) && !is_dtls(&[128])
        );
        assert!(!is_dtls(&[]));
        let template = PeerTemplate {
            cert: str0m::crypto::from_feature_flags()
                .dtls_provider
                .generate_certificate()
                .unwrap(),
            host_candidates: vec!["127.0.0.1:10000".parse().unwrap()],
            bwe_initial_bps: None,
        };
        let creds = IceCreds {
            ufrag: "abcd".into(),
            pass: "x".repeat(24),
        };
        let rtc = template.build(creds, Instant::now());
        let key = Key {
            slot: 0,
            generation: 0,
        };
        let mut core = crate::core::ConferenceCore::new(crate::core::CoreConfig::default());
        let idx = core.add_endpoint("e").unwrap();
        let mut ep = Endpoint::new("e".into(), key, idx, rtc, "abcd".into());
        let (src, dst): (SocketAddr, SocketAddr) = (
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:10000".parse().unwrap(),
        );
        // Bounded by count and by bytes.
        for i in 0..MAX_EARLY_DTLS {
            assert!(ep.keep_early_dtls(src, dst, &[22, i as u8]), "{i}");
        }
        assert!(!ep.keep_early_dtls(src, dst, &[22]));
        // Nothing is handed out before DTLS starts.
        assert!(ep.take_early_dtls().is_empty());
        // The client's transport (setup=active: we are the DTLS server).
        let fp = ep.rtc.direct_api().local_dtls_fingerprint().clone();
        ep.set_remote(
            &RemoteTransport {
                ufrag: Some("cl".into()),
                pwd: Some("y".repeat(24)),
                fingerprints: vec![],
                setup: Some("active".into()),
                candidates: vec![src],
            },
            Some(fp),
        );
        assert!(ep.dtls_started());
        let kept = ep.take_early_dtls();
        assert_eq!(kept.len(), MAX_EARLY_DTLS);
        assert_eq!(kept[1].2, vec![22, 1], "in arrival order");
        assert!(ep.take_early_dtls().is_empty());
        let mut big = Endpoint::new(
            "f".into(),
            key,
            idx,
            template.build(
                IceCreds {
                    ufrag: "efgh".into(),
                    pass: "z".repeat(24),
                },
                Instant::now(),
            ),
            "efgh".into(),
        );
        assert!(big.keep_early_dtls(src, dst, &vec![22; MAX_EARLY_DTLS_BYTES]));
        assert!(!big.keep_early_dtls(src, dst, &[22]));
    }
}
