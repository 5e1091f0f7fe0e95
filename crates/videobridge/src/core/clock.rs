//! Time as an input.
//!
//! The core never reads a clock: every call that needs the time takes a
//! [`Timestamp`]. The edge converts its monotonic clock with
//! [`Timestamp::from_instant`]; tests simply count microseconds, so a
//! minute of conference runs in a few milliseconds.

use std::ops::{Add, AddAssign};
use std::time::{Duration, Instant};

/// A point in time, in microseconds since an origin the caller chose.
///
/// Only differences matter; arithmetic saturates instead of overflowing, so a
/// bogus input time cannot panic the core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Converts a monotonic instant, measured from `origin` (e.g. the moment
    /// the conference was created). Instants before the origin map to zero.
    pub fn from_instant(origin: Instant, now: Instant) -> Self {
        let us = now.saturating_duration_since(origin).as_micros();
        Timestamp(u64::try_from(us).unwrap_or(u64::MAX))
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        let us = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(us))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(5);
        assert_eq!(t.as_micros(), 5000);
        assert_eq!(t + Duration::from_millis(1), Timestamp::from_micros(6000));
        assert_eq!(Timestamp::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(
            t.saturating_since(Timestamp::ZERO),
            Duration::from_millis(5)
        );
        assert_eq!(
            Timestamp::from_micros(u64::MAX) + Duration::from_secs(1),
            Timestamp::from_micros(u64::MAX)
        );
    }

    #[test]
    fn from_instant_is_relative_to_origin() {
        let origin = Instant::now();
        let later = origin + Duration::from_millis(250);
        assert_eq!(
            Timestamp::from_instant(origin, later),
            Timestamp::from_millis(250)
        );
        assert_eq!(Timestamp::from_instant(later, origin), Timestamp::ZERO);
    }
}
