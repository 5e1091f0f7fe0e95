//! Bitrate over a sliding window, measured from incoming traffic.
//!
//! Layer choices need each simulcast layer's real bitrate (senders adapt their
//! encoders, so signalled nominal rates would be wrong). A fixed ring of
//! buckets keeps the per-packet cost to one add and no allocation.

use super::clock::Timestamp;

/// Number of buckets in the window.
const BUCKETS: usize = 10;
/// Width of one bucket.
const BUCKET_US: u64 = 100_000;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Absolute bucket number (time / bucket width) the bytes belong to.
    number: u64,
    bytes: u64,
}

/// Bytes counted over the last second, in 100 ms buckets.
#[derive(Debug, Clone, Default)]
pub struct BitrateMeter {
    buckets: [Bucket; BUCKETS],
}

impl BitrateMeter {
    /// An empty meter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `bytes` received at `now`.
    #[inline]
    pub fn add(&mut self, now: Timestamp, bytes: usize) {
        let number = now.as_micros() / BUCKET_US;
        let index = usize::try_from(number % BUCKETS as u64).unwrap_or(0);
        if let Some(bucket) = self.buckets.get_mut(index) {
            if bucket.number != number {
                // The slot last held a bucket from an older window: recycle it.
                *bucket = Bucket { number, bytes: 0 };
            }
            bucket.bytes = bucket.bytes.saturating_add(bytes as u64);
        }
    }

    /// Bits per second over the window ending at `now`.
    pub fn bitrate_bps(&self, now: Timestamp) -> u64 {
        let current = now.as_micros() / BUCKET_US;
        let bytes: u64 = self
            .buckets
            .iter()
            .filter(|b| b.number <= current && current - b.number < BUCKETS as u64)
            .map(|b| b.bytes)
            .fold(0u64, u64::saturating_add);
        // The newest bucket is still filling: count only its elapsed part,
        // or every rate would read up to a tenth low.
        let window_us = (BUCKETS as u64 - 1) * BUCKET_US + now.as_micros() % BUCKET_US;
        bytes.saturating_mul(8).saturating_mul(1_000_000) / window_us.max(1)
    }

    /// Whether anything arrived within the window.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.bitrate_bps(now) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_is_measured() {
        let mut m = BitrateMeter::new();
        // 1000 bytes every 10 ms = 800 kbit/s.
        for i in 0..300u64 {
            m.add(Timestamp::from_millis(i * 10), 1000);
        }
        for at in [2990, 2995, 3000, 3005] {
            let bps = m.bitrate_bps(Timestamp::from_millis(at));
            assert!((780_000..=820_000).contains(&bps), "{at}: {bps}");
        }
    }

    #[test]
    fn old_traffic_ages_out() {
        let mut m = BitrateMeter::new();
        m.add(Timestamp::from_millis(0), 5000);
        assert!(m.is_active(Timestamp::from_millis(500)));
        assert!(!m.is_active(Timestamp::from_millis(1000)));
        // A bucket slot reused a window later starts from zero.
        m.add(Timestamp::from_millis(1050), 10);
        assert!(m.is_active(Timestamp::from_millis(1100)));
        assert!(m.bitrate_bps(Timestamp::from_millis(1100)) < 100);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut m = BitrateMeter::new();
        m.add(Timestamp::from_millis(5000), 100);
        assert_eq!(m.bitrate_bps(Timestamp::from_millis(10)), 0);
        m.add(Timestamp::from_millis(10), 100);
        assert!(m.bitrate_bps(Timestamp::from_millis(10)) > 0);
    }
}
