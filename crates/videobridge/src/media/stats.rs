//! Counters of the media loop and the snapshot the control plane reads.
//!
//! Each media thread counts in plain integers (it is the only writer of its
//! own) and publishes them under a mutex once per interval; the receive
//! thread sums them into a [`MediaStats`], so readers never touch the hot
//! path.
//!
//! Stress: `(packets in + packets out per second) / capacity`, clamped to
//! 0..=1, where capacity is what one media thread is budgeted to handle
//! (design.md §6: 150k forwarded datagrams per second per core) times the
//! number of worker threads.

use std::time::{Duration, Instant};

use crate::engine::MediaStats;

/// Counters kept by the media loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_received: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Datagrams that parse as nothing we speak, or from no known peer.
    pub dropped_garbage: u64,
    /// STUN naming an unknown ufrag, or failing `Rtc::accepts`.
    pub dropped_stun: u64,
    /// RTP the core refused (unknown SSRC, stale endpoint).
    pub dropped_rtp: u64,
    /// Copies with no declared outgoing stream or an unconnected receiver.
    pub dropped_forward: u64,
    /// Bridge-channel messages that found no channel or a full one.
    pub dropped_messages: u64,
    /// Datagrams the receive thread dropped because their worker was
    /// behind (its hand-off queue was full).
    pub dropped_overflow: u64,
    pub send_errors: u64,
}

impl Counters {
    pub fn dropped(&self) -> u64 {
        self.dropped_garbage
            .saturating_add(self.dropped_stun)
            .saturating_add(self.dropped_rtp)
            .saturating_add(self.dropped_forward)
            .saturating_add(self.dropped_overflow)
            .saturating_add(self.send_errors)
    }

    /// Adds another thread's counters to these.
    pub fn add(&mut self, o: &Counters) {
        self.packets_received += o.packets_received;
        self.bytes_received += o.bytes_received;
        self.packets_sent += o.packets_sent;
        self.bytes_sent += o.bytes_sent;
        self.dropped_garbage += o.dropped_garbage;
        self.dropped_stun += o.dropped_stun;
        self.dropped_rtp += o.dropped_rtp;
        self.dropped_forward += o.dropped_forward;
        self.dropped_messages += o.dropped_messages;
        self.dropped_overflow += o.dropped_overflow;
        self.send_errors += o.send_errors;
    }
}

/// Turns counter snapshots into per-interval rates.
#[derive(Debug)]
pub struct RateTracker {
    last: Counters,
    last_at: Instant,
    capacity_pps: u64,
}

impl RateTracker {
    pub fn new(now: Instant, capacity_pps: u64) -> Self {
        RateTracker {
            last: Counters::default(),
            last_at: now,
            capacity_pps: capacity_pps.max(1),
        }
    }

    /// The stats for the interval ending now.
    pub fn snapshot(
        &mut self,
        now: Instant,
        c: &Counters,
        conferences: usize,
        endpoints: usize,
    ) -> MediaStats {
        let elapsed = now
            .saturating_duration_since(self.last_at)
            .max(Duration::from_millis(1));
        let per_sec = |delta: u64| -> u64 {
            let v = u128::from(delta) * 1_000_000 / elapsed.as_micros().max(1);
            u64::try_from(v).unwrap_or(u64::MAX)
        };
        let pr_in = per_sec(
            c.packets_received
                .saturating_sub(self.last.packets_received),
        );
        let pr_out = per_sec(c.packets_sent.saturating_sub(self.last.packets_sent));
        let br_in = per_sec(c.bytes_received.saturating_sub(self.last.bytes_received)) * 8 / 1000;
        let br_out = per_sec(c.bytes_sent.saturating_sub(self.last.bytes_sent)) * 8 / 1000;
        self.last = *c;
        self.last_at = now;
        MediaStats {
            conferences,
            endpoints,
            packets_received: c.packets_received,
            packets_sent: c.packets_sent,
            bytes_received: c.bytes_received,
            bytes_sent: c.bytes_sent,
            packet_rate_download: pr_in,
            packet_rate_upload: pr_out,
            bit_rate_download: br_in,
            bit_rate_upload: br_out,
            dropped_packets: c.dropped(),
            stress_level: stress(pr_in.saturating_add(pr_out), self.capacity_pps),
        }
    }
}

/// See the module doc.
pub fn stress(packet_rate: u64, capacity_pps: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // rates far below 2^52
    let s = packet_rate as f64 / capacity_pps.max(1) as f64;
    s.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_interval() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(t0, 150_000);
        let c = Counters {
            packets_received: 1000,
            bytes_received: 125_000,
            packets_sent: 2000,
            bytes_sent: 250_000,
            ..Counters::default()
        };
        let s = r.snapshot(t0 + Duration::from_secs(2), &c, 1, 3);
        assert_eq!(s.packet_rate_download, 500);
        assert_eq!(s.packet_rate_upload, 1000);
        assert_eq!(s.bit_rate_download, 500);
        assert_eq!(s.bit_rate_upload, 1000);
        assert!((s.stress_level - 0.01).abs() < 1e-9);
        // Nothing new: rates drop to zero, totals stay.
        let s = r.snapshot(t0 + Duration::from_secs(3), &c, 1, 3);
        assert_eq!(s.packet_rate_upload, 0);
        assert_eq!(s.packets_sent, 2000);
    }

    #[test]
    fn stress_is_clamped() {
        assert_eq!(stress(0, 150_000), 0.0);
        assert_eq!(stress(300_000, 150_000), 1.0);
        assert_eq!(stress(75_000, 150_000), 0.5);
        assert_eq!(stress(5, 0), 1.0);
    }
}
