//! The per-packet part: what comes in, what goes out, and the per-receiver
//! rewriting that makes simulcast look like one continuous stream.
//!
//! Jitsi clients pre-signal every remote SSRC and expect the bridge to forward
//! with the original SSRCs, each sender's simulcast layers rewritten onto the
//! primary (first) SSRC of the SIM group and RTX onto that SSRC's FID partner.
//! A `Projection` is one receiver's view of one sender video source: the
//! layer it currently gets, the layer it should get, and the sequence-number
//! and timestamp offsets that keep its stream free of gaps and overlaps when
//! the layer changes. Switching waits for a keyframe of the new layer, since a
//! decoder cannot continue one encoder's stream with another's delta frames.

use super::clock::Timestamp;
use super::model::EndpointIdx;

/// Clock rate of every WebRTC video codec; turns wall time into RTP ticks when
/// a layer switch has to invent a timestamp step.
const VIDEO_CLOCK_HZ: u128 = 90_000;

/// How far (in sequence numbers) a late packet may trail the newest one and
/// still be forwarded. Further back is taken as the sender restarting its
/// numbering, and the stream is re-based so the receiver sees no jump.
const MAX_REORDER: u16 = 1000;

/// Metadata of one incoming RTP packet, as the edge parsed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingPacket {
    /// The sending endpoint (the edge knows it from the transport).
    pub from: EndpointIdx,
    /// SSRC from the RTP header.
    pub ssrc: u32,
    /// Sequence number from the RTP header (for RTX: the RTX stream's own).
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// The packet starts a keyframe (edge's payload parsing, e.g. VP8 P bit).
    pub is_keyframe: bool,
    /// The packet is an RTX retransmission (by payload type). Must agree with
    /// the signalled FID groups, or the packet is dropped.
    pub is_rtx: bool,
    /// For RTX: the original sequence number from the first two payload bytes.
    pub rtx_osn: u16,
    /// RFC 6464 audio level (0 = loudest, 127 = silence), for audio.
    pub audio_level: Option<u8>,
    /// Payload bytes, for bitrate measurement.
    pub payload_len: usize,
}

/// One copy of an incoming packet to send, with its header rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The receiving endpoint.
    pub to: EndpointIdx,
    /// SSRC to write into the header.
    pub ssrc: u32,
    /// Sequence number to write into the header.
    pub seq: u16,
    /// RTP timestamp to write into the header.
    pub timestamp: u32,
    /// For RTX: the original sequence number to write into the payload.
    pub rtx_osn: Option<u16>,
}

/// Why a packet was not forwarded to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// The sending endpoint is not (or no longer) in the conference.
    #[error("unknown sending endpoint")]
    UnknownEndpoint,
    /// No endpoint signalled this SSRC, or another endpoint did.
    #[error("SSRC not signalled by the sender")]
    UnknownSsrc,
    /// The packet's RTX flag disagrees with the signalled FID groups.
    #[error("RTX flag does not match the signalled FID groups")]
    RtxMismatch,
}

/// What the receiver of a projection currently gets and should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSelection {
    /// The layer being forwarded (None: nothing yet, or stopped).
    pub current: Option<u8>,
    /// The layer the allocation chose (None: not forwarded).
    pub target: Option<u8>,
}

/// One receiver's view of one sender video source.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    pub receiver: EndpointIdx,
    target: Option<u8>,
    current: Option<u8>,
    /// Scratch for the allocator: set for every projection of a receiver, then
    /// committed, so a source that stays selected never passes through "off".
    pub next_target: Option<u8>,
    /// Newest incoming sequence number forwarded on the current layer.
    highest_in_seq: u16,
    /// Oldest incoming sequence number still accepted (the switch point, or
    /// `MAX_REORDER` behind the newest once the stream has moved on).
    floor_seq: u16,
    seq_offset: u16,
    ts_offset: u32,
    /// Newest outgoing (sequence number, timestamp), to continue from.
    highest_out: Option<(u16, u32)>,
    last_forward_at: Timestamp,
    /// Last RTX sequence number sent to this receiver: RTX is renumbered into
    /// one continuous stream, whatever layer it came from.
    rtx_seq: Option<u16>,
}

impl Projection {
    pub fn new(receiver: EndpointIdx) -> Self {
        Projection {
            receiver,
            target: None,
            current: None,
            next_target: None,
            highest_in_seq: 0,
            floor_seq: 0,
            seq_offset: 0,
            ts_offset: 0,
            highest_out: None,
            last_forward_at: Timestamp::ZERO,
            rtx_seq: None,
        }
    }

    pub fn selection(&self) -> LayerSelection {
        LayerSelection {
            current: self.current,
            target: self.target,
        }
    }

    pub fn target(&self) -> Option<u8> {
        self.target
    }

    /// A switch is waiting for a keyframe.
    pub fn is_pending(&self) -> bool {
        self.target.is_some() && self.target != self.current
    }

    /// Sets the allocation's choice. Stopping is immediate; starting or
    /// changing waits for a keyframe in `on_media`.
    pub fn set_target(&mut self, target: Option<u8>) {
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
    }

    /// The source's layer set changed under us: start over at a keyframe, but
    /// keep the output numbering so the receiver's stream stays continuous.
    pub fn reset_layers(&mut self) {
        self.current = None;
        self.target = None;
        self.next_target = None;
    }

    /// Whether a keyframe on `layer` brings us closer to the target without
    /// passing it. Taking intermediate layers shows video sooner (nothing →
    /// low while waiting for high) and sheds bandwidth sooner (high → mid
    /// while waiting for low).
    fn accepts_switch_to(&self, layer: u8) -> bool {
        let Some(target) = self.target else {
            return false;
        };
        match self.current {
            None => layer <= target,
            Some(current) if current < target => current < layer && layer <= target,
            Some(current) if current > target => target <= layer && layer < current,
            Some(_) => false,
        }
    }

    /// Start forwarding `layer` at this packet, continuing the output stream.
    fn rebase(&mut self, layer: u8, seq: u16, ts: u32, now: Timestamp) {
        self.current = Some(layer);
        if let Some((out_seq, out_ts)) = self.highest_out {
            self.seq_offset = out_seq.wrapping_add(1).wrapping_sub(seq);
            // Layers have unrelated timestamp bases: continue from the last
            // timestamp sent, advanced by the wall time since it was sent
            // (at least one tick, as this is a new frame).
            let elapsed = now.saturating_since(self.last_forward_at).as_micros();
            let ticks = (elapsed * VIDEO_CLOCK_HZ / 1_000_000).max(1);
            let ticks = u32::try_from(ticks).unwrap_or(u32::MAX / 2);
            self.ts_offset = out_ts.wrapping_add(ticks).wrapping_sub(ts);
        } else {
            self.seq_offset = 0;
            self.ts_offset = 0;
        }
        self.highest_in_seq = seq;
        self.floor_seq = seq;
    }

    /// A media packet of `layer`; returns the rewritten (seq, timestamp) if
    /// this receiver gets it.
    #[inline]
    pub fn on_media(
        &mut self,
        layer: u8,
        seq: u16,
        ts: u32,
        keyframe: bool,
        now: Timestamp,
    ) -> Option<(u16, u32)> {
        if keyframe && self.current != Some(layer) && self.accepts_switch_to(layer) {
            self.rebase(layer, seq, ts, now);
        }
        if self.current != Some(layer) {
            return None;
        }
        let ahead = seq.wrapping_sub(self.highest_in_seq);
        if ahead < 0x8000 {
            self.highest_in_seq = seq;
            if seq.wrapping_sub(self.floor_seq) > MAX_REORDER {
                self.floor_seq = seq.wrapping_sub(MAX_REORDER);
            }
        } else if self.highest_in_seq.wrapping_sub(seq) > MAX_REORDER {
            // Far behind: the sender restarted its numbering.
            self.rebase(layer, seq, ts, now);
        } else if seq.wrapping_sub(self.floor_seq) >= 0x8000 {
            // Late packet from before the switch point: its output number was
            // already used by the previous layer.
            return None;
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = ts.wrapping_add(self.ts_offset);
        let newest = match self.highest_out {
            None => true,
            Some((h, _)) => out_seq != h && out_seq.wrapping_sub(h) < 0x8000,
        };
        if newest {
            self.highest_out = Some((out_seq, out_ts));
            self.last_forward_at = now;
        }
        Some((out_seq, out_ts))
    }

    /// An RTX packet repairing `osn` on `layer`; returns the rewritten
    /// (RTX seq, timestamp, OSN) if this receiver gets it.
    #[inline]
    pub fn on_rtx(
        &mut self,
        layer: u8,
        rtx_seq: u16,
        osn: u16,
        ts: u32,
    ) -> Option<(u16, u32, u16)> {
        if self.current != Some(layer) || osn.wrapping_sub(self.floor_seq) >= 0x8000 {
            return None;
        }
        let out_rtx_seq = match self.rtx_seq {
            Some(last) => last.wrapping_add(1),
            None => rtx_seq,
        };
        self.rtx_seq = Some(out_rtx_seq);
        Some((
            out_rtx_seq,
            ts.wrapping_add(self.ts_offset),
            osn.wrapping_add(self.seq_offset),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx() -> EndpointIdx {
        EndpointIdx::new(1, 0)
    }

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_millis(v)
    }

    #[test]
    fn nothing_until_a_keyframe_of_an_acceptable_layer() {
        let mut p = Projection::new(idx());
        assert_eq!(p.on_media(0, 10, 1000, true, ms(0)), None, "no target yet");
        p.set_target(Some(1));
        assert!(p.is_pending());
        assert_eq!(p.on_media(1, 20, 5000, false, ms(0)), None);
        assert_eq!(p.on_media(2, 30, 9000, true, ms(0)), None, "above target");
        assert_eq!(p.on_media(0, 11, 1000, true, ms(0)), Some((11, 1000)));
        assert_eq!(p.selection().current, Some(0));
        assert!(p.is_pending());
        // Continues towards the target at its keyframe.
        let (seq, _) = p.on_media(1, 21, 5000, true, ms(33)).unwrap();
        assert_eq!(seq, 12);
        assert!(!p.is_pending());
        assert_eq!(p.on_media(0, 12, 1000, false, ms(33)), None);
    }

    #[test]
    fn switch_keeps_numbering_continuous() {
        let mut p = Projection::new(idx());
        p.set_target(Some(0));
        let mut seqs = Vec::new();
        for i in 0..5u16 {
            let (s, _) = p
                .on_media(
                    0,
                    100 + i,
                    90_000 + 3000 * u32::from(i),
                    i == 0,
                    ms(u64::from(i) * 33),
                )
                .unwrap();
            seqs.push(s);
        }
        p.set_target(Some(2));
        let (s, ts) = p.on_media(2, 60_000, 7, true, ms(5 * 33)).unwrap();
        seqs.push(s);
        assert_eq!(seqs, vec![100, 101, 102, 103, 104, 105]);
        // 33 ms after the last one, at 90 kHz.
        assert_eq!(ts, 90_000 + 4 * 3000 + 2970);
        let (s, ts2) = p.on_media(2, 60_001, 3007, false, ms(6 * 33)).unwrap();
        assert_eq!(s, 106);
        assert_eq!(ts2, ts + 3000);
    }

    #[test]
    fn late_packets_from_before_the_switch_are_dropped() {
        let mut p = Projection::new(idx());
        p.set_target(Some(0));
        p.on_media(0, 500, 0, true, ms(0)).unwrap();
        p.on_media(0, 501, 0, false, ms(0)).unwrap();
        assert_eq!(p.on_media(0, 499, 0, false, ms(0)), None);
        // Reordered but after the switch point: forwarded with its own number.
        p.on_media(0, 503, 0, false, ms(0)).unwrap();
        assert_eq!(p.on_media(0, 502, 0, false, ms(0)).map(|x| x.0), Some(502));
    }

    #[test]
    fn sequence_wraparound_and_restart() {
        let mut p = Projection::new(idx());
        p.set_target(Some(0));
        let mut expect = 65_530u16;
        for i in 0..12u16 {
            let seq = 65_530u16.wrapping_add(i);
            let (s, _) = p.on_media(0, seq, 0, i == 0, ms(0)).unwrap();
            assert_eq!(s, expect);
            expect = expect.wrapping_add(1);
        }
        // The sender restarts from a number far behind: output stays continuous.
        let (s, _) = p.on_media(0, 40_000, 0, false, ms(1)).unwrap();
        assert_eq!(s, expect);
    }

    #[test]
    fn rtx_follows_the_media_offsets() {
        let mut p = Projection::new(idx());
        p.set_target(Some(0));
        p.on_media(0, 100, 1000, true, ms(0)).unwrap();
        p.on_media(0, 101, 1000, false, ms(0)).unwrap();
        p.set_target(Some(1));
        p.on_media(1, 7000, 50, true, ms(33)).unwrap();
        p.on_media(1, 7001, 50, false, ms(33)).unwrap();
        // RTX of the old layer is useless to this receiver now.
        assert_eq!(p.on_rtx(0, 9, 101, 1000), None);
        // RTX from before the switch point on the new layer, likewise.
        assert_eq!(p.on_rtx(1, 9, 6999, 50), None);
        let (rtx_seq, _, osn) = p.on_rtx(1, 40, 7001, 50).unwrap();
        assert_eq!((rtx_seq, osn), (40, 103));
        let (rtx_seq, _, _) = p.on_rtx(1, 900, 7000, 50).unwrap();
        assert_eq!(rtx_seq, 41, "RTX numbering is the receiver's own");
    }

    #[test]
    fn stopping_is_immediate_and_resuming_continues() {
        let mut p = Projection::new(idx());
        p.set_target(Some(0));
        p.on_media(0, 1, 0, true, ms(0)).unwrap();
        p.set_target(None);
        assert_eq!(p.on_media(0, 2, 0, false, ms(0)), None);
        p.set_target(Some(0));
        assert_eq!(p.on_media(0, 3, 0, false, ms(10)), None);
        assert_eq!(p.on_media(0, 4, 0, true, ms(20)).map(|x| x.0), Some(2));
    }
}
