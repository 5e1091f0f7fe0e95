//! The synthetic endpoint, sans-IO: datagrams and time go in, datagrams to
//! send and what was measured come out. Its str0m peer is configured the
//! way a browser answers the SFU's offer: full ICE agent, controlled (the
//! SFU controls and nominates), DTLS client, TWCC feedback, Opus and VP8
//! payload types.
//!
//! Every payload starts with a codec-shaped header (Opus TOC byte, or a
//! VP8 payload descriptor that marks keyframes the way the forwarding core
//! recognises them), then the send time in nanoseconds since the run's
//! shared origin, then the sender's SSRC. A receiver subtracts that send
//! time from the time its runner read the datagram off the socket: the
//! one-way latency through the SFU, client-side SRTP included.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::config::Fingerprint;
use str0m::media::{ExtensionValues, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc};

use crate::media::profile;

use super::signalling::{BridgeOffer, ClientAnswer, Source};

/// Opus TOC byte (20 ms frame) before the timestamp.
const OPUS_TOC: u8 = 0xfc;
/// Bytes before the send time: Opus TOC / VP8 descriptor + header.
const AUDIO_HEADER: usize = 1;
const VIDEO_HEADER: usize = 2;
/// Send time (u64) + sender SSRC (u32).
const STAMP: usize = 12;

/// What an endpoint sends. Zero rates send nothing (a pure receiver, with
/// no sources signalled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPlan {
    pub audio_pps: u32,
    pub video_pps: u32,
    pub audio_bytes: usize,
    pub video_bytes: usize,
    /// A keyframe every this many video packets (and whenever asked).
    pub keyframe_interval: u64,
}

impl MediaPlan {
    pub fn receive_only() -> Self {
        MediaPlan {
            audio_pps: 0,
            video_pps: 0,
            audio_bytes: 0,
            video_bytes: 0,
            keyframe_interval: 0,
        }
    }

    /// Opus-sized audio at `audio_pps` and 1000-byte video packets at
    /// `video_pps`, a keyframe every two seconds.
    pub fn media(audio_pps: u32, video_pps: u32) -> Self {
        MediaPlan {
            audio_pps,
            video_pps,
            audio_bytes: 120,
            video_bytes: 1000,
            keyframe_interval: u64::from(video_pps.max(1)) * 2,
        }
    }
}

/// What an endpoint counted while measuring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointReport {
    pub sent_audio: u64,
    pub sent_video: u64,
    pub received_audio: u64,
    pub received_video: u64,
    /// One-way latency of every received packet, in microseconds.
    pub latency_us: Vec<u32>,
    pub keyframe_requests: u64,
}

/// See the module documentation.
pub struct SyntheticEndpoint {
    id: String,
    rtc: Rtc,
    local: SocketAddr,
    audio_ssrc: u32,
    video_ssrc: u32,
    video_rtx: u32,
    plan: MediaPlan,
    origin: Instant,
    next_audio: Option<Instant>,
    next_video: Option<Instant>,
    audio_seq: u64,
    video_seq: u64,
    keyframe_wanted: bool,
    connected: bool,
    sending: bool,
    measuring: bool,
    report: EndpointReport,
}

impl std::fmt::Debug for SyntheticEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticEndpoint")
            .field("id", &self.id)
            .field("local", &self.local)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

/// The sources endpoint `n` sends when it sends: audio, and video with
/// its RTX partner.
pub fn sources_of(n: u32, id: &str) -> Vec<Source> {
    vec![
        Source {
            video: false,
            ssrc: 0x1000_0000 + n,
            rtx: None,
            name: format!("{id}-a0"),
        },
        Source {
            video: true,
            ssrc: 0x2000_0000 + n,
            rtx: Some(0x3000_0000 + n),
            name: format!("{id}-v0"),
        },
    ]
}

fn format_fingerprint(fp: &Fingerprint) -> String {
    fp.bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl SyntheticEndpoint {
    /// Endpoint number `n` (its SSRCs and ICE credentials derive from it)
    /// on the socket bound at `local`.
    pub fn new(id: &str, n: u32, local: SocketAddr, plan: MediaPlan, origin: Instant) -> Self {
        let now = Instant::now();
        let mut rtc = profile::apply(Rtc::builder())
            .set_rtp_mode(true)
            .set_local_ice_credentials(IceCreds {
                ufrag: format!("syn{n}x"),
                pass: format!("synthetic-password-{n:08}"),
            })
            .build(now);
        if let Ok(c) = Candidate::host(local, "udp") {
            rtc.add_local_candidate(c);
        }
        let own = sources_of(n, id);
        let (audio_ssrc, video_ssrc) = (own[0].ssrc, own[1].ssrc);
        let video_rtx = own[1].rtx.unwrap_or(0);
        let mut api = rtc.direct_api();
        // A browser answers the offer: it is ICE-controlled.
        api.set_ice_controlling(false);
        api.enable_twcc_feedback();
        api.declare_media(Mid::from("a"), MediaKind::Audio);
        api.declare_media(Mid::from("v"), MediaKind::Video);
        if plan.audio_pps > 0 {
            api.declare_stream_tx(Ssrc::from(audio_ssrc), None, Mid::from("a"), None);
        }
        if plan.video_pps > 0 {
            api.declare_stream_tx(
                Ssrc::from(video_ssrc),
                Some(Ssrc::from(video_rtx)),
                Mid::from("v"),
                None,
            );
        }
        SyntheticEndpoint {
            id: id.to_string(),
            rtc,
            local,
            audio_ssrc,
            video_ssrc,
            video_rtx,
            plan,
            origin,
            next_audio: None,
            next_video: None,
            audio_seq: 1,
            video_seq: 1,
            keyframe_wanted: true,
            connected: false,
            sending: true,
            measuring: false,
            report: EndpointReport::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// What to tell the SFU.
    pub fn answer(&mut self) -> ClientAnswer {
        let api = self.rtc.direct_api();
        let creds = api.local_ice_credentials();
        ClientAnswer {
            ufrag: creds.ufrag,
            pwd: creds.pass,
            fingerprint_sha256: format_fingerprint(api.local_dtls_fingerprint()),
            candidates: vec![self.local],
        }
    }

    /// The sources this endpoint sends.
    pub fn sources(&self) -> Vec<Source> {
        let mut out = Vec::new();
        if self.plan.audio_pps > 0 {
            out.push(Source {
                video: false,
                ssrc: self.audio_ssrc,
                rtx: None,
                name: format!("{}-a0", self.id),
            });
        }
        if self.plan.video_pps > 0 {
            out.push(Source {
                video: true,
                ssrc: self.video_ssrc,
                rtx: Some(self.video_rtx),
                name: format!("{}-v0", self.id),
            });
        }
        out
    }

    /// Starts ICE and DTLS towards the SFU's offer.
    pub fn connect(&mut self, offer: &BridgeOffer) -> Result<(), String> {
        for addr in &offer.candidates {
            let c = Candidate::host(*addr, "udp").map_err(|e| e.to_string())?;
            self.rtc.add_remote_candidate(c);
        }
        let bytes: Result<Vec<u8>, _> = offer
            .fingerprint_sha256
            .split(':')
            .map(|h| u8::from_str_radix(h, 16))
            .collect();
        let bytes = bytes.map_err(|_| "malformed fingerprint".to_string())?;
        let mut api = self.rtc.direct_api();
        api.set_remote_ice_credentials(IceCreds {
            ufrag: offer.ufrag.clone(),
            pass: offer.pwd.clone(),
        });
        api.set_remote_fingerprint(Fingerprint {
            hash_func: "sha-256".into(),
            bytes,
        });
        api.start_dtls(true).map_err(|e| e.to_string())
    }

    /// Expects the streams of another endpoint (what Jingle source-add
    /// would tell a browser).
    pub fn expect(&mut self, sources: &[Source]) {
        let mut api = self.rtc.direct_api();
        for s in sources {
            let mid = Mid::from(if s.video { "v" } else { "a" });
            api.expect_stream_rx(Ssrc::from(s.ssrc), s.rtx.map(Ssrc::from), mid, None);
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Media is sent only while this is on (it is by default); a run can
    /// hold it until every endpoint has connected.
    pub fn set_sending(&mut self, on: bool) {
        self.sending = on;
    }

    /// Counts and latencies are kept only while measuring.
    pub fn set_measuring(&mut self, on: bool) {
        self.measuring = on;
    }

    /// A datagram read at `now`. str0m must be drained after every input
    /// (its events are not queued across inputs), so what it wants to send
    /// goes to `transmit` at once. Returns when str0m next wants time to
    /// move on (None for a datagram it could not take).
    pub fn receive(
        &mut self,
        now: Instant,
        src: SocketAddr,
        data: &[u8],
        mut transmit: impl FnMut(&[u8], SocketAddr),
    ) -> Option<Instant> {
        let r = Receive::new(Protocol::Udp, src, self.local, data).ok()?;
        let _ = self.rtc.handle_input(Input::Receive(now, r));
        Some(self.drain(&mut transmit))
    }

    /// Advances time: sends the media that is due and hands every datagram
    /// str0m wants out to `transmit`. Returns when to be called next.
    pub fn poll(&mut self, now: Instant, mut transmit: impl FnMut(&[u8], SocketAddr)) -> Instant {
        if self.connected && self.sending {
            self.write_due(now);
        }
        // str0m releases written packets when time moves on (its
        // send queue is stamped in handle_timeout), so the writes come
        // first.
        let _ = self.rtc.handle_input(Input::Timeout(now));
        let mut next = self.drain(&mut transmit);
        if self.connected && self.sending {
            for t in [self.next_audio, self.next_video].into_iter().flatten() {
                next = next.min(t);
            }
        }
        next
    }

    pub fn into_report(self) -> EndpointReport {
        self.report
    }

    fn drain(&mut self, transmit: &mut impl FnMut(&[u8], SocketAddr)) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) => transmit(&t.contents, t.destination),
                Ok(Output::Event(e)) => self.on_event(e),
                Err(_) => return Instant::now() + Duration::from_millis(100),
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => self.connected = true,
            Event::KeyframeRequest(_) => {
                self.keyframe_wanted = true;
                if self.measuring {
                    self.report.keyframe_requests += 1;
                }
            }
            Event::RtpPacket(p) if self.measuring => {
                let video = *p.header.payload_type == profile::PT_VP8;
                let at = if video { VIDEO_HEADER } else { AUDIO_HEADER };
                let sent_ns = p
                    .payload
                    .get(at..at + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes);
                if video {
                    self.report.received_video += 1;
                } else {
                    self.report.received_audio += 1;
                }
                if let Some(sent_ns) = sent_ns {
                    let received_ns = u64::try_from(
                        p.timestamp
                            .saturating_duration_since(self.origin)
                            .as_nanos(),
                    )
                    .unwrap_or(u64::MAX);
                    let us = received_ns.saturating_sub(sent_ns) / 1000;
                    self.report
                        .latency_us
                        .push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            _ => {}
        }
    }

    fn write_due(&mut self, now: Instant) {
        if self.plan.audio_pps > 0 {
            let period = Duration::from_secs(1) / self.plan.audio_pps;
            let mut at = *self.next_audio.get_or_insert(now);
            while at <= now {
                self.send_audio(now);
                at += period;
            }
            // After a stall, skip rather than burst.
            self.next_audio = Some(at.max(now));
        }
        if self.plan.video_pps > 0 {
            let period = Duration::from_secs(1) / self.plan.video_pps;
            let mut at = *self.next_video.get_or_insert(now);
            while at <= now {
                self.send_video(now);
                at += period;
            }
            self.next_video = Some(at.max(now));
        }
    }

    fn stamp(&self, header: &[u8], len: usize, ssrc: u32, now: Instant) -> Vec<u8> {
        let ns = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        let mut p = Vec::with_capacity(len.max(header.len() + STAMP));
        p.extend_from_slice(header);
        p.extend_from_slice(&ns.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.resize(len.max(p.len()), 0x5a);
        p
    }

    fn send_audio(&mut self, now: Instant) {
        let seq = self.audio_seq;
        self.audio_seq += 1;
        let payload = self.stamp(&[OPUS_TOC], self.plan.audio_bytes, self.audio_ssrc, now);
        let ext = ExtensionValues {
            audio_level: Some(-30),
            voice_activity: Some(true),
            ..ExtensionValues::default()
        };
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx(&Ssrc::from(self.audio_ssrc)) else {
            return;
        };
        // 48 kHz, 20 ms frames; the low 32 bits are the RTP timestamp.
        #[allow(clippy::cast_possible_truncation)]
        let time = (seq * 960) as u32;
        tx.write_rtp(
            RtpWrite::new(
                Pt::new_with_value(profile::PT_OPUS),
                SeqNo::from(seq),
                time,
                now,
                payload,
            )
            .ext_vals(ext),
        );
        if self.measuring {
            self.report.sent_audio += 1;
        }
    }

    fn send_video(&mut self, now: Instant) {
        let seq = self.video_seq;
        self.video_seq += 1;
        let key = std::mem::take(&mut self.keyframe_wanted)
            || (self.plan.keyframe_interval > 0 && seq % self.plan.keyframe_interval == 1);
        // VP8 descriptor S=1, PID=0; payload header P=0 marks a keyframe.
        let header = [0x10, if key { 0x00 } else { 0x01 }];
        let payload = self.stamp(&header, self.plan.video_bytes, self.video_ssrc, now);
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx(&Ssrc::from(self.video_ssrc)) else {
            return;
        };
        // One packet per frame at the video rate, on the 90 kHz clock.
        let step = 90_000 / u64::from(self.plan.video_pps.max(1));
        #[allow(clippy::cast_possible_truncation)]
        let time = (seq * step) as u32;
        tx.write_rtp(
            RtpWrite::new(
                Pt::new_with_value(profile::PT_VP8),
                SeqNo::from(seq),
                time,
                now,
                payload,
            )
            .marker(true)
            .nackable(true),
        );
        if self.measuring {
            self.report.sent_video += 1;
        }
    }
}
