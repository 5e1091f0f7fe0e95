//! Choosing a bridge for a conference (jitsi-protocol.md §5.2–5.3):
//! jicofo's single-bridge strategy made region-aware, with a cap on how
//! many new endpoints one bridge takes per minute so a burst of joins does
//! not pile onto the bridge whose stress has not caught up yet.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::state::BridgeInfo;

/// A bridge as selection sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The bridge's occupant JID in the brewery.
    pub jid: String,
    pub stress: f64,
    pub region: Option<String>,
    /// Healthy: conferences already on it may stay.
    pub operational: bool,
    /// Operational and taking new conferences (not draining).
    pub usable: bool,
}

impl Candidate {
    pub fn from_info(jid: &str, info: &BridgeInfo) -> Candidate {
        let s = &info.stats;
        Candidate {
            jid: jid.to_string(),
            stress: s.stress_level().unwrap_or(0.0),
            region: s.region().map(str::to_string),
            operational: info.operational() && !s.shutting_down(),
            usable: info.operational()
                && !s.graceful_shutdown()
                && !s.drain()
                && !s.shutting_down(),
        }
    }
}

/// jicofo's `stress-threshold`: at or above it a bridge is overloaded.
pub const OVERLOADED: f64 = 0.8;
/// jicofo's `average_participant_stress` default, added per recent join.
pub const PARTICIPANT_STRESS: f64 = 0.01;
const WINDOW: Duration = Duration::from_secs(60);

/// Selection with memory of recent allocations.
#[derive(Debug, Clone)]
pub struct Selector {
    /// Most new endpoints per bridge per minute before it is skipped while
    /// another usable bridge exists.
    pub max_joins_per_minute: usize,
    recent: BTreeMap<String, VecDeque<Instant>>,
}

impl Selector {
    pub fn new(max_joins_per_minute: usize) -> Self {
        Selector {
            max_joins_per_minute,
            recent: BTreeMap::new(),
        }
    }

    fn joins(&mut self, jid: &str, now: Instant) -> usize {
        let Some(q) = self.recent.get_mut(jid) else {
            return 0;
        };
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        q.len()
    }

    /// Remember that `jid` got a new endpoint.
    pub fn record(&mut self, jid: &str, now: Instant) {
        self.recent
            .entry(jid.to_string())
            .or_default()
            .push_back(now);
    }

    /// Stress including the endpoints added in the last minute, which the
    /// bridge's own stat may not show yet.
    fn effective(&mut self, c: &Candidate, now: Instant) -> f64 {
        c.stress + PARTICIPANT_STRESS * self.joins(&c.jid, now) as f64
    }

    /// The bridge for a new conference (or one whose bridge failed):
    /// usable bridges only; in the participant's region first unless all
    /// of those are overloaded; bridges under the join cap before those
    /// over it; then lowest stress, then name for a stable order.
    pub fn select(
        &mut self,
        candidates: &[Candidate],
        region: Option<&str>,
        exclude: &[String],
        now: Instant,
    ) -> Option<String> {
        let mut scored: Vec<(bool, bool, bool, f64, &str)> = Vec::new();
        for c in candidates
            .iter()
            .filter(|c| c.usable && !exclude.contains(&c.jid))
        {
            let stress = self.effective(c, now);
            let in_region = region.is_some() && c.region.as_deref() == region;
            let capped = self.joins(&c.jid, now) >= self.max_joins_per_minute;
            let overloaded = stress >= OVERLOADED;
            // false sorts first: prefer in-region, not overloaded, not capped.
            scored.push((overloaded, !in_region, capped, stress, c.jid.as_str()));
        }
        scored.sort_by(|a, b| {
            (a.0, a.1, a.2)
                .cmp(&(b.0, b.1, b.2))
                .then(a.3.total_cmp(&b.3))
                .then(a.4.cmp(b.4))
        });
        scored.first().map(|s| s.4.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(jid: &str, stress: f64, region: Option<&str>, usable: bool) -> Candidate {
        Candidate {
            jid: jid.into(),
            stress,
            region: region.map(Into::into),
            operational: usable,
            usable,
        }
    }

    #[test]
    fn least_stressed_usable_bridge() {
        let mut s = Selector::new(100);
        let now = Instant::now();
        let bridges = [
            c("b1", 0.5, None, true),
            c("b2", 0.1, None, true),
            c("b3", 0.0, None, false),
        ];
        assert_eq!(s.select(&bridges, None, &[], now).as_deref(), Some("b2"));
        assert_eq!(
            s.select(&bridges, None, &["b2".into()], now).as_deref(),
            Some("b1")
        );
        assert_eq!(s.select(&[c("b3", 0.0, None, false)], None, &[], now), None);
    }

    #[test]
    fn region_first_unless_overloaded() {
        let mut s = Selector::new(100);
        let now = Instant::now();
        let bridges = [
            c("eu", 0.6, Some("eu"), true),
            c("us", 0.1, Some("us"), true),
        ];
        assert_eq!(
            s.select(&bridges, Some("eu"), &[], now).as_deref(),
            Some("eu")
        );
        assert_eq!(s.select(&bridges, None, &[], now).as_deref(), Some("us"));
        let hot = [
            c("eu", 0.9, Some("eu"), true),
            c("us", 0.1, Some("us"), true),
        ];
        assert_eq!(s.select(&hot, Some("eu"), &[], now).as_deref(), Some("us"));
    }

    #[test]
    fn a_burst_spreads_over_bridges() {
        let mut s = Selector::new(3);
        let now = Instant::now();
        let bridges = [c("b1", 0.0, None, true), c("b2", 0.05, None, true)];
        let mut picks = Vec::new();
        for _ in 0..8 {
            let b = s.select(&bridges, None, &[], now).expect("bridge");
            s.record(&b, now);
            picks.push(b);
        }
        let b1 = picks.iter().filter(|p| *p == "b1").count();
        let b2 = picks.len() - b1;
        assert!(b1 >= 3 && b2 >= 3, "{picks:?}");
        // A minute later the window is empty again.
        let later = now + Duration::from_secs(61);
        assert_eq!(s.select(&bridges, None, &[], later).as_deref(), Some("b1"));
    }
}
