//! Conference scenarios on a fake clock: senders emitting audio every 20 ms
//! and a 3-layer simulcast frame every 30 ms, receivers with constraints and
//! bandwidth estimates, and the core polled every 10 ms.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// Payload bytes per frame per layer: at 33⅓ frames/s, 150k / 500k / 1.5M bit/s.
const FRAME_BYTES: [usize; 3] = [562, 1875, 5625];
const SPEECH: u8 = 20;
const SILENCE: u8 = 127;

struct Sender {
    idx: EndpointIdx,
    audio: u32,
    video: [u32; 3],
    rtx: [u32; 3],
    seq: [u16; 3],
    ts: [u32; 3],
    audio_seq: u16,
    level: u8,
    keyframe_due: [bool; 3],
    sending_video: bool,
    /// Which simulcast layers the encoder currently produces.
    layers_on: [bool; 3],
}

/// One copy the core produced.
#[derive(Debug, Clone, Copy)]
struct Got {
    from: EndpointIdx,
    /// Simulcast layer of the incoming packet; None for audio.
    layer: Option<u8>,
    in_seq: u16,
    in_ts: u32,
    fwd: Forward,
}

struct Harness {
    core: ConferenceCore,
    now: Timestamp,
    senders: Vec<Sender>,
    out: Vec<Forward>,
    got: Vec<Got>,
    events: Vec<(Timestamp, CoreEvent)>,
    /// Senders answer keyframe requests with a keyframe on the next frame.
    auto_keyframes: bool,
}

impl Harness {
    fn new() -> Self {
        Harness {
            core: ConferenceCore::new(CoreConfig::default()),
            now: Timestamp::from_millis(1_000),
            senders: Vec::new(),
            out: Vec::new(),
            got: Vec::new(),
            events: Vec::new(),
            auto_keyframes: true,
        }
    }

    /// An endpoint sending audio and 3-layer simulcast video with RTX.
    fn add_sender(&mut self, id: &str) -> usize {
        let base = 1000 * (self.senders.len() as u32 + 1);
        let idx = self.core.add_endpoint(id).unwrap();
        let video = [base + 10, base + 11, base + 12];
        let rtx = [base + 20, base + 21, base + 22];
        self.core
            .set_sources(
                idx,
                &[
                    SourceDescription::audio(Some(&format!("{id}-a0")), base + 1),
                    SourceDescription::simulcast(Some(&format!("{id}-v0")), &video, &rtx),
                ],
            )
            .unwrap();
        self.senders.push(Sender {
            idx,
            audio: base + 1,
            video,
            rtx,
            // Near the wrap points, and unrelated per layer, as real encoders are.
            seq: [65_500, 20_000, 40_000],
            ts: [1_000, 2_000_000_000, 4_294_000_000],
            audio_seq: 0,
            level: SILENCE,
            keyframe_due: [true; 3],
            sending_video: true,
            layers_on: [true; 3],
        });
        self.senders.len() - 1
    }

    fn add_receiver(&mut self, id: &str) -> EndpointIdx {
        self.core.add_endpoint(id).unwrap()
    }

    fn feed(&mut self, pkt: &IncomingPacket, layer: Option<u8>) -> Result<usize, DropReason> {
        let result = self.core.on_rtp(pkt, self.now, &mut self.out);
        for &fwd in &self.out {
            self.got.push(Got {
                from: pkt.from,
                layer,
                in_seq: pkt.seq,
                in_ts: pkt.timestamp,
                fwd,
            });
        }
        result
    }

    fn send_video_frame(&mut self, s: usize) {
        for (layer, &payload_len) in FRAME_BYTES.iter().enumerate() {
            let snd = &mut self.senders[s];
            if !snd.layers_on[layer] {
                continue;
            }
            let pkt = IncomingPacket {
                from: snd.idx,
                ssrc: snd.video[layer],
                seq: snd.seq[layer],
                timestamp: snd.ts[layer],
                is_keyframe: std::mem::take(&mut snd.keyframe_due[layer]),
                is_rtx: false,
                rtx_osn: 0,
                audio_level: None,
                payload_len,
            };
            snd.seq[layer] = snd.seq[layer].wrapping_add(1);
            snd.ts[layer] = snd.ts[layer].wrapping_add(3000);
            self.feed(&pkt, Some(layer as u8)).unwrap();
        }
    }

    fn send_audio(&mut self, s: usize) {
        let snd = &mut self.senders[s];
        let pkt = IncomingPacket {
            from: snd.idx,
            ssrc: snd.audio,
            seq: snd.audio_seq,
            timestamp: u32::from(snd.audio_seq) * 960,
            is_keyframe: false,
            is_rtx: false,
            rtx_osn: 0,
            audio_level: Some(snd.level),
            payload_len: 80,
        };
        snd.audio_seq = snd.audio_seq.wrapping_add(1);
        self.feed(&pkt, None).unwrap();
    }

    fn poll(&mut self) {
        let events: Vec<CoreEvent> = self.core.poll_events(self.now).collect();
        for event in events {
            if self.auto_keyframes
                && let CoreEvent::KeyframeRequest { endpoint, ssrc } = &event
            {
                for snd in self.senders.iter_mut().filter(|s| s.idx == *endpoint) {
                    if let Some(layer) = snd.video.iter().position(|v| v == ssrc) {
                        snd.keyframe_due[layer] = true;
                    }
                }
            }
            self.events.push((self.now, event));
        }
    }

    /// `ms` of conference: audio every 20 ms, video every 30 ms, a poll every 10 ms.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            self.now += Duration::from_millis(10);
            let t = self.now.as_micros() / 1000;
            for s in 0..self.senders.len() {
                if t.is_multiple_of(20) {
                    self.send_audio(s);
                }
                if t.is_multiple_of(30) && self.senders[s].sending_video {
                    self.send_video_frame(s);
                }
            }
            self.poll();
        }
    }

    fn channel(&mut self, from: EndpointIdx, json: &str) {
        self.core.on_channel_message(from, json, self.now).unwrap();
        self.poll();
    }

    /// Video media (not RTX) forwarded to `receiver` from sender `s`.
    fn video_to(&self, receiver: EndpointIdx, s: usize) -> Vec<Got> {
        let from = self.senders[s].idx;
        self.got
            .iter()
            .filter(|g| {
                g.fwd.to == receiver
                    && g.from == from
                    && g.layer.is_some()
                    && g.fwd.rtx_osn.is_none()
            })
            .copied()
            .collect()
    }

    fn selection(&self, receiver: EndpointIdx, s: usize) -> LayerSelection {
        self.core
            .layer_selection(receiver, self.senders[s].video[0])
            .unwrap()
    }

    /// Bridge-channel messages of one class sent to `to`, parsed.
    fn messages(&self, to: EndpointIdx, class: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                CoreEvent::SendMessage { to: t, text } if *t == to => {
                    serde_json::from_str::<Value>(text).ok()
                }
                _ => None,
            })
            .filter(|v| v["colibriClass"] == class)
            .collect()
    }

    fn keyframe_requests(&self, since: Timestamp) -> Vec<(Timestamp, EndpointIdx, u32)> {
        self.events
            .iter()
            .filter(|(t, _)| *t >= since)
            .filter_map(|(t, e)| match e {
                CoreEvent::KeyframeRequest { endpoint, ssrc } => Some((*t, *endpoint, *ssrc)),
                _ => None,
            })
            .collect()
    }

    fn last_forwarded_list(&self, receiver: EndpointIdx) -> Vec<String> {
        let msgs = self.messages(receiver, "LastNEndpointsChangeEvent");
        let last = msgs.last().expect("a LastNEndpointsChangeEvent");
        serde_json::from_value(last["lastNEndpoints"].clone()).unwrap()
    }
}

/// No gaps, no duplicates, timestamps moving forward: what a jitter buffer
/// needs to see from one SSRC.
fn assert_continuous(got: &[Got]) {
    assert!(!got.is_empty());
    let ssrc = got[0].fwd.ssrc;
    for w in got.windows(2) {
        let (a, b) = (w[0].fwd, w[1].fwd);
        assert_eq!(b.ssrc, ssrc);
        assert_eq!(
            b.seq,
            a.seq.wrapping_add(1),
            "gap or duplicate: {:?} then {:?}",
            w[0],
            w[1]
        );
        let step = b.timestamp.wrapping_sub(a.timestamp);
        assert!(
            step > 0 && step < 90_000 * 10,
            "timestamp step {step}: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

fn layers_of(got: &[Got]) -> Vec<u8> {
    let mut layers: Vec<u8> = got.iter().filter_map(|g| g.layer).collect();
    layers.dedup();
    layers
}

#[test]
fn audio_fans_out_to_every_other_endpoint() {
    let mut h = Harness::new();
    for id in ["a", "b", "c", "d", "e"] {
        h.add_sender(id);
    }
    for s in 0..5 {
        h.got.clear();
        h.send_audio(s);
        let from = h.senders[s].idx;
        let to: HashSet<EndpointIdx> = h.got.iter().map(|g| g.fwd.to).collect();
        assert_eq!(h.got.len(), 4);
        assert_eq!(to.len(), 4);
        assert!(!to.contains(&from));
        for g in &h.got {
            assert_eq!(g.fwd.ssrc, h.senders[s].audio);
            assert_eq!(
                (g.fwd.seq, g.fwd.timestamp),
                (g.in_seq, g.in_ts),
                "audio is not rewritten"
            );
        }
    }
}

#[test]
fn audio_ignores_last_n() {
    let mut h = Harness::new();
    h.add_sender("a");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","lastN":0}"#,
    );
    h.run(1000);
    assert!(h.video_to(r, 0).is_empty());
    assert_eq!(
        h.got
            .iter()
            .filter(|g| g.fwd.to == r && g.layer.is_none())
            .count(),
        50
    );
}

#[test]
fn video_is_forwarded_only_at_the_chosen_layer() {
    let mut h = Harness::new();
    h.add_sender("a");
    let r = h.add_receiver("r");
    h.run(1000);
    // Default constraints: thumbnails at 180p.
    let video = h.video_to(r, 0);
    assert!(video.len() > 25, "{}", video.len());
    assert!(video.iter().all(|g| g.layer == Some(0)));
    assert!(video.iter().all(|g| g.fwd.ssrc == h.senders[0].video[0]));
    assert_eq!(
        h.selection(r, 0),
        LayerSelection {
            current: Some(0),
            target: Some(0)
        }
    );

    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}"#,
    );
    h.got.clear();
    h.run(1000);
    let video = h.video_to(r, 0);
    assert_eq!(
        layers_of(&video),
        vec![0, 2],
        "high layer after the keyframe"
    );
    assert!(
        video.iter().all(|g| g.fwd.ssrc == h.senders[0].video[0]),
        "rewritten onto the primary"
    );
    assert_continuous(&video);
}

#[test]
fn layer_switch_waits_for_a_keyframe_and_requests_one() {
    let mut h = Harness::new();
    h.auto_keyframes = false;
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    // Startup needs a keyframe too: the first frame carried one on every
    // layer, but no allocation existed yet.
    h.run(500);
    assert_eq!(
        h.selection(r, a),
        LayerSelection {
            current: None,
            target: Some(0)
        }
    );
    assert!(h.video_to(r, a).is_empty());
    let req = h.keyframe_requests(Timestamp::ZERO);
    assert!(
        req.iter()
            .all(|&(_, e, ssrc)| e == h.senders[a].idx && ssrc == h.senders[a].video[0])
    );
    assert!(!req.is_empty());
    h.senders[a].keyframe_due[0] = true;
    h.run(200);
    assert_eq!(h.selection(r, a).current, Some(0));

    // Ask for 720p: the switch waits, and a keyframe is requested on layer 2.
    let asked = h.now;
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}"#,
    );
    assert_eq!(
        h.selection(r, a),
        LayerSelection {
            current: Some(0),
            target: Some(2)
        }
    );
    let req = h.keyframe_requests(asked);
    assert_eq!(req, vec![(asked, h.senders[a].idx, h.senders[a].video[2])]);

    h.got.clear();
    h.run(1000);
    assert_eq!(
        layers_of(&h.video_to(r, a)),
        vec![0],
        "still the old layer without a keyframe"
    );
    // Retried, but rate-limited (300 ms), not on every poll.
    let retries = h.keyframe_requests(asked).len();
    assert!((3..=5).contains(&retries), "{retries}");

    h.senders[a].keyframe_due[2] = true;
    h.got.clear();
    h.run(300);
    let video = h.video_to(r, a);
    // Layer 0 of the same frame went out before layer 2's keyframe arrived.
    assert_eq!(layers_of(&video), vec![0, 2]);
    assert_continuous(&video);
    assert_eq!(
        h.selection(r, a),
        LayerSelection {
            current: Some(2),
            target: Some(2)
        }
    );
}

#[test]
fn sequence_numbers_and_timestamps_stay_continuous_across_switches() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    h.run(1000);
    for height in [720, 360, 180, 720, 0, 360, 720, 180] {
        h.channel(
            r,
            &format!(r#"{{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{{"maxHeight":{height}}}}}"#),
        );
        h.run(700);
    }
    let video = h.video_to(r, a);
    assert!(layers_of(&video).len() >= 7, "{:?}", layers_of(&video));
    assert_continuous(&video);
    // Every output number is used once.
    let seqs: HashSet<u16> = video.iter().map(|g| g.fwd.seq).collect();
    assert_eq!(seqs.len(), video.len());
}

#[test]
fn rtx_is_rewritten_onto_the_primary_fid_partner() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":360}}"#,
    );
    h.run(1000);
    assert_eq!(h.selection(r, a).current, Some(1));
    let original = *h.video_to(r, a).last().unwrap();
    assert_eq!(original.layer, Some(1));

    let snd = &h.senders[a];
    let from = snd.idx;
    let rtx = move |ssrc, osn, ts| IncomingPacket {
        from,
        ssrc,
        seq: 777,
        timestamp: ts,
        is_keyframe: false,
        is_rtx: true,
        rtx_osn: osn,
        audio_level: None,
        payload_len: 1000,
    };
    let (rtx1, rtx0, video1) = (snd.rtx[1], snd.rtx[0], snd.video[1]);
    let primary_rtx = snd.rtx[0];
    let repair = rtx(rtx1, original.in_seq, original.in_ts);
    h.got.clear();
    assert_eq!(h.feed(&repair, Some(1)), Ok(1));
    assert_eq!(
        h.got[0].fwd,
        Forward {
            to: r,
            ssrc: primary_rtx,
            seq: 777,
            timestamp: original.fwd.timestamp,
            rtx_osn: Some(original.fwd.seq),
        }
    );
    // The next RTX continues the receiver's own RTX numbering.
    let again = rtx(rtx1, original.in_seq.wrapping_sub(1), original.in_ts);
    h.got.clear();
    h.feed(&IncomingPacket { seq: 5, ..again }, Some(1))
        .unwrap();
    assert_eq!(h.got[0].fwd.seq, 778);
    assert_eq!(h.got[0].fwd.rtx_osn, Some(original.fwd.seq.wrapping_sub(1)));

    // RTX of a layer the receiver does not get goes nowhere.
    h.got.clear();
    assert_eq!(
        h.feed(&rtx(rtx0, h.senders[a].seq[0].wrapping_sub(1), 0), Some(0)),
        Ok(0)
    );

    // The RTX flag must match the FID groups.
    let wrong = IncomingPacket {
        is_rtx: false,
        ..repair
    };
    assert_eq!(h.feed(&wrong, Some(1)), Err(DropReason::RtxMismatch));
    let wrong = IncomingPacket {
        ssrc: video1,
        ..repair
    };
    assert_eq!(h.feed(&wrong, Some(1)), Err(DropReason::RtxMismatch));
    assert_eq!(h.core.stats().dropped_rtx_mismatch, 2);
}

#[test]
fn max_height_constraints_choose_the_layer() {
    for (height, layer) in [(180, 0), (360, 1), (720, 2), (1080, 2), (270, 0), (90, 0)] {
        let mut h = Harness::new();
        let a = h.add_sender("a");
        let b = h.add_sender("b");
        let r = h.add_receiver("r");
        // Endpoint-keyed for a (Dec-2021 clients), source-keyed for b (newer).
        h.channel(
            r,
            &format!(
                r#"{{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{{"maxHeight":180}},
                    "constraints":{{"a":{{"maxHeight":{height}}},"b-v0":{{"maxHeight":{height}}}}}}}"#
            ),
        );
        h.run(1000);
        for s in [a, b] {
            assert_eq!(
                h.selection(r, s),
                LayerSelection {
                    current: Some(layer),
                    target: Some(layer)
                },
                "maxHeight {height}"
            );
            assert!(
                h.video_to(r, s)
                    .iter()
                    .rev()
                    .take(5)
                    .all(|g| g.layer == Some(layer))
            );
        }
    }
}

#[test]
fn a_layer_the_sender_stops_is_replaced_quickly() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}"#,
    );
    h.run(1000);
    assert_eq!(h.selection(r, a).current, Some(2));
    h.got.clear();
    // The encoder drops its top layer (e.g. its uplink got worse).
    h.senders[a].layers_on[2] = false;
    h.run(800);
    assert_eq!(h.selection(r, a).current, Some(1), "moved within 800 ms");
    h.senders[a].layers_on[2] = true;
    h.run(1500);
    assert_eq!(
        h.selection(r, a).current,
        Some(2),
        "and back when it returns"
    );
    let video = h.video_to(r, a);
    assert_eq!(layers_of(&video), vec![1, 2]);
    assert_continuous(&video);
}

#[test]
fn zero_height_or_video_type_none_stops_video() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    h.run(1000);
    assert_eq!(h.selection(r, a).current, Some(0));
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":0}}}"#,
    );
    assert_eq!(
        h.selection(r, a),
        LayerSelection {
            current: None,
            target: None
        },
        "stopping is immediate"
    );
    assert!(h.last_forwarded_list(r).is_empty());
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","constraints":{}}"#,
    );
    h.run(500);
    assert_eq!(h.selection(r, a).current, Some(0));
    let idx = h.senders[a].idx;
    h.channel(
        idx,
        r#"{"colibriClass":"VideoTypeMessage","videoType":"none"}"#,
    );
    assert_eq!(h.selection(r, a).target, None);
}

#[test]
fn bandwidth_limits_layers_and_drops_lower_priority_sources() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let b = h.add_sender("b");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}"#,
    );
    h.run(1500);
    assert_eq!(h.selection(r, a).current, Some(2));
    assert_eq!(h.selection(r, b).current, Some(2));

    // 300k, less ~64k of audio: one thumbnail; b (lower in join order) is dropped.
    h.core.on_bandwidth_estimate(r, 300_000, h.now).unwrap();
    h.got.clear();
    h.run(1000);
    assert_eq!(
        h.selection(r, a),
        LayerSelection {
            current: Some(0),
            target: Some(0)
        }
    );
    assert_eq!(
        h.selection(r, b),
        LayerSelection {
            current: None,
            target: None
        }
    );
    assert_eq!(h.last_forwarded_list(r), vec!["a"]);
    // Never audio: both senders' audio still arrives in full.
    for s in [a, b] {
        let audio = h
            .got
            .iter()
            .filter(|g| g.fwd.to == r && g.from == h.senders[s].idx && g.layer.is_none());
        assert_eq!(audio.count(), 50);
    }

    // 1M: both at 180p, then a raised to 360p with what is left.
    h.core.on_bandwidth_estimate(r, 1_000_000, h.now).unwrap();
    h.run(1000);
    assert_eq!(h.selection(r, a).current, Some(1));
    assert_eq!(h.selection(r, b).current, Some(0));
    assert_eq!(h.last_forwarded_list(r), vec!["a", "b"]);

    // A small wobble does not re-run the allocation (nor does anything change).
    h.core.on_bandwidth_estimate(r, 1_020_000, h.now).unwrap();
    h.run(100);
    assert_eq!(h.selection(r, a).current, Some(1));

    h.core.on_bandwidth_estimate(r, 5_000_000, h.now).unwrap();
    h.run(1000);
    assert_eq!(h.selection(r, a).current, Some(2));
    assert_eq!(h.selection(r, b).current, Some(2));
}

#[test]
fn on_stage_source_is_served_first() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let b = h.add_sender("b");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","onStageEndpoints":["b"],"defaultConstraints":{"maxHeight":180},"constraints":{"b":{"maxHeight":720}}}"#,
    );
    // 800k less ~64k of audio: 360p on stage (500k) and one thumbnail (150k).
    h.core.on_bandwidth_estimate(r, 800_000, h.now).unwrap();
    h.run(1500);
    assert_eq!(h.selection(r, b).current, Some(1), "stage at 360p first");
    assert_eq!(h.selection(r, a).current, Some(0), "then a thumbnail");
    assert_eq!(h.last_forwarded_list(r), vec!["b", "a"]);
}

#[test]
fn last_n_one_follows_the_dominant_speaker() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let b = h.add_sender("b");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","lastN":1}"#,
    );
    h.run(1000);
    // Nobody has spoken: join order.
    assert_eq!(h.last_forwarded_list(r), vec!["a"]);
    assert!(h.video_to(r, b).is_empty());

    h.senders[b].level = SPEECH;
    h.run(2500);
    assert_eq!(h.core.dominant_speaker().map(EndpointId::as_str), Some("b"));
    assert_eq!(h.last_forwarded_list(r), vec!["b"]);
    let changes: Vec<_> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            CoreEvent::DominantSpeakerChanged { endpoint, previous } => {
                Some((endpoint.to_string(), previous.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(changes, vec![("b".to_owned(), None)]);
    // Everyone, the speaker included, is told.
    for e in [h.senders[a].idx, h.senders[b].idx, r] {
        let msgs = h.messages(e, "DominantSpeakerEndpointChangeEvent");
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["dominantSpeakerEndpoint"], "b");
    }
    // b's video now reaches r, a's no longer does.
    h.got.clear();
    h.run(500);
    assert!(!h.video_to(r, b).is_empty());
    assert!(h.video_to(r, a).is_empty());

    h.senders[b].level = SILENCE;
    h.senders[a].level = SPEECH;
    h.run(3000);
    assert_eq!(h.core.dominant_speaker().map(EndpointId::as_str), Some("a"));
    assert_eq!(h.last_forwarded_list(r), vec!["a"]);
    let msgs = h.messages(r, "DominantSpeakerEndpointChangeEvent");
    assert_eq!(
        msgs.last().unwrap()["previousSpeakers"],
        serde_json::json!(["b"])
    );
    h.got.clear();
    h.run(500);
    assert!(!h.video_to(r, a).is_empty());
    assert!(h.video_to(r, b).is_empty());
    // The speaker itself does not receive its own video, so with lastN 1
    // a gets the previous speaker.
    assert_eq!(h.last_forwarded_list(h.senders[a].idx), vec!["b"]);
}

#[test]
fn dominant_speaker_needs_sustained_speech() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let b = h.add_sender("b");
    let speaker_changes = |h: &Harness| -> Vec<(Timestamp, String)> {
        h.events
            .iter()
            .filter_map(|(t, e)| match e {
                CoreEvent::DominantSpeakerChanged { endpoint, .. } => {
                    Some((*t, endpoint.to_string()))
                }
                _ => None,
            })
            .collect()
    };
    h.senders[a].level = SPEECH;
    h.run(2000);
    assert_eq!(speaker_changes(&h).len(), 1);

    // Brief loud noise from b, while a talks and while a pauses.
    h.senders[b].level = 3;
    h.run(300);
    h.senders[b].level = SILENCE;
    h.run(1000);
    h.senders[a].level = SILENCE;
    h.senders[b].level = 3;
    h.run(300);
    h.senders[b].level = SILENCE;
    h.run(2000);
    assert_eq!(speaker_changes(&h).len(), 1, "noise did not switch");
    assert_eq!(
        h.core.dominant_speaker().map(EndpointId::as_str),
        Some("a"),
        "silence keeps the speaker"
    );

    // Sustained speech does, after the minimum duration.
    let start = h.now;
    h.senders[b].level = SPEECH;
    h.run(3000);
    let changes = speaker_changes(&h);
    assert_eq!(changes.len(), 2);
    let after = changes[1].0.saturating_since(start);
    assert_eq!(changes[1].1, "b");
    assert!(
        after >= Duration::from_secs(1) && after <= Duration::from_millis(1600),
        "{after:?}"
    );
}

#[test]
fn unknown_ssrc_is_dropped_and_counted() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let b = h.add_sender("b");
    let pkt = IncomingPacket {
        from: h.senders[a].idx,
        ssrc: 424_242,
        seq: 1,
        timestamp: 1,
        is_keyframe: true,
        is_rtx: false,
        rtx_osn: 0,
        audio_level: Some(0),
        payload_len: 100,
    };
    assert_eq!(h.feed(&pkt, None), Err(DropReason::UnknownSsrc));
    // Another endpoint's SSRC is not ours to send.
    let spoofed = IncomingPacket {
        ssrc: h.senders[b].audio,
        ..pkt
    };
    assert_eq!(h.feed(&spoofed, None), Err(DropReason::UnknownSsrc));
    assert!(h.out.is_empty());
    let stats = h.core.stats();
    assert_eq!(stats.dropped_unknown_ssrc, 2);
    assert_eq!(stats.packets_forwarded, 0);

    // After removal, the old index is stale.
    let gone = h.senders[a].idx;
    h.core.remove_endpoint(gone).unwrap();
    let late = IncomingPacket {
        ssrc: h.senders[a].audio,
        ..pkt
    };
    assert_eq!(h.feed(&late, None), Err(DropReason::UnknownEndpoint));
    assert_eq!(h.core.stats().dropped_unknown_endpoint, 1);
}

#[test]
fn junk_channel_messages_are_errors_not_panics() {
    let mut h = Harness::new();
    h.add_sender("a");
    let r = h.add_receiver("r");
    let junk = [
        "",
        "\u{0}",
        "{",
        "[1,2,3]",
        r#"{"colibriClass":["x"]}"#,
        r#"{"colibriClass":"ReceiverVideoConstraints","lastN":{}}"#,
        r#"{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":"big"}}}"#,
        r#"{"colibriClass":"EndpointMessage","to":["a"]}"#,
        r#"{"colibriClass":"SourceVideoTypeMessage","videoType":"camera"}"#,
    ];
    for text in junk {
        assert!(
            matches!(
                h.core.on_channel_message(r, text, h.now),
                Err(CoreError::Channel(_))
            ),
            "{text}"
        );
    }
    assert_eq!(h.core.stats().channel_errors, junk.len() as u64);

    // Pseudo-random mutations of a valid message: never a panic.
    let valid = br#"{"colibriClass":"ReceiverVideoConstraints","lastN":2,"onStageSources":["a-v0"],"defaultConstraints":{"maxHeight":180},"constraints":{"a":{"maxHeight":720}}}"#;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5000 {
        let mut bytes = valid.to_vec();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % bytes.len() as u64) as usize;
            bytes[at] = (seed >> 32) as u8;
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = h.core.on_channel_message(r, &text, h.now);
    }
    // Still working.
    h.events.clear();
    h.channel(r, r#"{"colibriClass":"ClientHello"}"#);
    assert_eq!(h.messages(r, "ServerHello").len(), 1);
    assert!(matches!(
        h.core
            .on_channel_message(EndpointIdx::new(99, 0), "{}", h.now),
        Err(CoreError::UnknownEndpoint)
    ));
}

#[test]
fn endpoint_messages_and_stats_are_relayed_with_from() {
    let mut h = Harness::new();
    let a = h.add_receiver("a");
    let b = h.add_receiver("b");
    let c = h.add_receiver("c");
    h.channel(
        a,
        r#"{"colibriClass":"EndpointMessage","to":"","from":"c","msgPayload":{"type":"e2e-ping","id":7}}"#,
    );
    for to in [b, c] {
        let m = h.messages(to, "EndpointMessage");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["from"], "a", "the bridge says who sent it");
        assert_eq!(m[0]["msgPayload"]["id"], 7);
    }
    assert!(h.messages(a, "EndpointMessage").is_empty());

    h.channel(
        a,
        r#"{"colibriClass":"EndpointMessage","to":"c","msgPayload":"hi"}"#,
    );
    assert_eq!(h.messages(b, "EndpointMessage").len(), 1);
    assert_eq!(h.messages(c, "EndpointMessage").len(), 2);

    h.channel(
        a,
        r#"{"colibriClass":"EndpointMessage","to":"nobody","msgPayload":"hi"}"#,
    );
    assert_eq!(h.core.stats().messages_undeliverable, 1);

    h.channel(
        b,
        r#"{"colibriClass":"EndpointStats","bitrate":{"upload":100},"jvbRTT":20}"#,
    );
    let s = h.messages(a, "EndpointStats");
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0]["from"].as_str(), s[0]["jvbRTT"].as_i64()),
        (Some("b"), Some(20))
    );
    assert!(h.messages(b, "EndpointStats").is_empty());
}

#[test]
fn senders_are_told_the_largest_wanted_height() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r1 = h.add_receiver("r1");
    let r2 = h.add_receiver("r2");
    h.run(200);
    let ideal = |h: &Harness| -> Vec<i64> {
        h.messages(h.senders[a].idx, "SenderVideoConstraints")
            .iter()
            .map(|m| m["videoConstraints"]["idealHeight"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ideal(&h), vec![180]);
    h.channel(
        r1,
        r#"{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":720}}}"#,
    );
    assert_eq!(ideal(&h), vec![180, 720]);
    h.channel(
        r2,
        r#"{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":360}}}"#,
    );
    assert_eq!(ideal(&h), vec![180, 720], "unchanged: not repeated");
    h.channel(
        r1,
        r#"{"colibriClass":"ReceiverVideoConstraints","lastN":0}"#,
    );
    assert_eq!(ideal(&h), vec![180, 720, 360]);
    h.channel(r2, r#"{"colibriClass":"LastNChangedEvent","lastN":0}"#);
    assert_eq!(ideal(&h), vec![180, 720, 360, 0]);
}

#[test]
fn channel_open_greets_and_repeats_the_state() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    h.senders[a].level = SPEECH;
    h.run(2000);
    h.events.clear();
    h.core.on_channel_open(r).unwrap();
    h.poll();
    let classes: Vec<String> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            CoreEvent::SendMessage { to, text } if *to == r => {
                let v: Value = serde_json::from_str(text).unwrap();
                Some(v["colibriClass"].as_str().unwrap().to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        classes,
        [
            "ServerHello",
            "DominantSpeakerEndpointChangeEvent",
            "LastNEndpointsChangeEvent"
        ]
    );
}

#[test]
fn receiver_keyframe_requests_reach_the_layer_it_gets() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let r = h.add_receiver("r");
    h.channel(
        r,
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":360}}"#,
    );
    h.run(1000);
    h.now += Duration::from_secs(1);
    assert!(h.core.on_keyframe_request(r, h.senders[a].video[0], h.now));
    assert!(
        !h.core.on_keyframe_request(r, h.senders[a].video[0], h.now),
        "rate-limited"
    );
    assert!(!h.core.on_keyframe_request(r, 5, h.now), "unknown SSRC");
    let events: Vec<CoreEvent> = h.core.poll_events(h.now).collect();
    assert!(events.contains(&CoreEvent::KeyframeRequest {
        endpoint: h.senders[a].idx,
        ssrc: h.senders[a].video[1],
    }));
}

#[test]
fn endpoints_leave_cleanly_and_slots_are_reused_safely() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    h.add_sender("b");
    let r = h.add_receiver("r");
    h.run(1000);
    assert_eq!(h.last_forwarded_list(r), vec!["a", "b"]);
    let old = h.senders[a].idx;
    h.core.remove_endpoint(old).unwrap();
    h.senders.remove(a);
    h.run(500);
    assert_eq!(h.last_forwarded_list(r), vec!["b"]);
    assert!(matches!(
        h.core.remove_endpoint(old),
        Err(CoreError::UnknownEndpoint)
    ));
    assert!(h.core.endpoint_id(old).is_none());

    // The newcomer takes the slot but not the old identity.
    let n = h.core.add_endpoint("n").unwrap();
    assert_eq!(n.slot(), old.slot());
    assert_ne!(n, old);
    assert!(matches!(
        h.core.set_sources(old, &[]),
        Err(CoreError::UnknownEndpoint)
    ));
    assert!(matches!(
        h.core.add_endpoint("n"),
        Err(CoreError::DuplicateEndpoint(_))
    ));
    assert!(matches!(
        h.core.add_endpoint(""),
        Err(CoreError::Model(ModelError::InvalidEndpointId))
    ));
    // It receives b's media like anyone else.
    h.got.clear();
    h.run(1000);
    assert!(h.got.iter().any(|g| g.fwd.to == n && g.layer.is_some()));
    assert!(h.got.iter().all(|g| g.fwd.to != old));
}

#[test]
fn resignalling_keeps_streams_continuous_and_conflicts_are_refused() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let b = h.add_sender("b");
    let r = h.add_receiver("r");
    h.run(1000);
    // b claims one of a's SSRCs.
    let stolen = [SourceDescription::audio(None, h.senders[a].audio)];
    assert!(matches!(
        h.core.set_sources(h.senders[b].idx, &stolen),
        Err(CoreError::Model(ModelError::SsrcInUse(_)))
    ));
    // a re-signals the same video plus a new audio SSRC.
    let snd = &h.senders[a];
    let again = [
        SourceDescription::audio(Some("a-a0"), 9999),
        SourceDescription::simulcast(Some("a-v0"), &snd.video, &snd.rtx),
    ];
    h.core.set_sources(snd.idx, &again).unwrap();
    h.senders[a].audio = 9999;
    h.run(1000);
    let video = h.video_to(r, a);
    assert_continuous(&video);
    assert_eq!(h.selection(r, a).current, Some(0));
}

#[test]
fn hot_path_reuses_the_output_buffer() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    let receivers: Vec<EndpointIdx> = (0..50).map(|i| h.add_receiver(&format!("r{i}"))).collect();
    h.run(2000);
    let capacity = h.out.capacity();
    assert!(capacity >= 50);
    h.got = Vec::new();
    // Layer switches, speaker changes and bandwidth changes on the way.
    for (i, &r) in receivers.iter().enumerate() {
        let height = [180, 360, 720][i % 3];
        h.channel(
            r,
            &format!(r#"{{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{{"maxHeight":{height}}}}}"#),
        );
    }
    h.senders[a].level = SPEECH;
    h.run(3000);
    for &r in &receivers {
        h.core.on_bandwidth_estimate(r, 400_000, h.now).unwrap();
    }
    h.run(2000);
    assert_eq!(
        h.out.capacity(),
        capacity,
        "the output buffer grew after warm-up"
    );
    assert!(h.core.stats().packets_forwarded > 10_000);
}

/// Packets/s through `on_rtp` for 1 sender → 50 receivers. Run with
/// `cargo test --release -p videobridge -- --ignored --nocapture on_rtp_throughput`.
#[test]
#[ignore = "a measurement, not a check"]
fn on_rtp_throughput() {
    let mut h = Harness::new();
    let a = h.add_sender("a");
    for i in 0..50 {
        h.add_receiver(&format!("r{i}"));
    }
    h.run(2000);
    h.got = Vec::new();
    let snd = &h.senders[a];
    let (idx, audio, video, mut seq) = (snd.idx, snd.audio, snd.video, snd.seq);
    let mut out = Vec::with_capacity(64);
    let mut now = h.now;
    for (label, ssrc) in [
        ("audio", audio),
        ("video (layer 0, forwarded)", video[0]),
        ("video (layer 2, dropped)", video[2]),
    ] {
        let layer = video.iter().position(|&v| v == ssrc).unwrap_or(0);
        let n = 1_000_000u32;
        let started = std::time::Instant::now();
        let mut copies = 0usize;
        for i in 0..n {
            now += Duration::from_micros(20);
            seq[layer] = seq[layer].wrapping_add(1);
            let pkt = IncomingPacket {
                from: idx,
                ssrc,
                seq: seq[layer],
                timestamp: i.wrapping_mul(30),
                is_keyframe: false,
                is_rtx: false,
                rtx_osn: 0,
                audio_level: Some(40),
                payload_len: 1000,
            };
            copies += h.core.on_rtp(&pkt, now, &mut out).unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{label}: {:.0} packets/s in, {:.0} copies/s out ({:.0} ns per packet)",
            f64::from(n) / secs,
            copies as f64 / secs,
            secs * 1e9 / f64::from(n)
        );
    }
}
