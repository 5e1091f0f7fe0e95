//! What the focus knows: its XMPP connections and the bridges of the
//! brewery. Shared between the connection tasks and the HTTP routes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use jitsi_xmpp::BridgeStats;
use meet_service::metrics::{Metric, Registry};

/// One bridge seen in the brewery (keyed by its occupant JID).
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeInfo {
    pub stats: BridgeStats,
    /// False after a failed or timed-out health check, or a `healthy=false`
    /// stat; true again after a passing check.
    pub health_ok: bool,
}

impl BridgeInfo {
    pub fn operational(&self) -> bool {
        self.health_ok && self.stats.healthy() != Some(false)
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    pub conference_requests: Arc<Metric>,
    pub conference_errors: Arc<Metric>,
    pub health_checks: Arc<Metric>,
    pub health_check_failures: Arc<Metric>,
    pub xmpp_failures: Arc<Metric>,
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::new();
        Self {
            conference_requests: r.counter(
                "jicofo_conference_requests_total",
                "Conference IQs received.",
            ),
            conference_errors: r.counter(
                "jicofo_conference_request_errors_total",
                "Conference IQs answered with an error.",
            ),
            health_checks: r.counter(
                "jicofo_bridge_health_checks_total",
                "Health-check IQs sent to bridges.",
            ),
            health_check_failures: r.counter(
                "jicofo_bridge_health_check_failures_total",
                "Bridge health checks that failed or timed out.",
            ),
            xmpp_failures: r.counter(
                "jicofo_xmpp_connection_failures_total",
                "XMPP connections (component or client) failed or lost.",
            ),
            registry: r,
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub component_up: AtomicBool,
    pub client_up: AtomicBool,
    /// Published by the conference manager's task after each event.
    pub conferences: AtomicUsize,
    pub participants: AtomicUsize,
    bridges: Mutex<BTreeMap<String, BridgeInfo>>,
    pub metrics: Metrics,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub fn new() -> Self {
        Self {
            component_up: AtomicBool::new(false),
            client_up: AtomicBool::new(false),
            conferences: AtomicUsize::new(0),
            participants: AtomicUsize::new(0),
            bridges: Mutex::new(BTreeMap::new()),
            metrics: Metrics::new(),
        }
    }

    /// The bridge map; a panic elsewhere while holding it leaves plain data,
    /// so a poisoned lock is still usable.
    pub fn bridges(&self) -> MutexGuard<'_, BTreeMap<String, BridgeInfo>> {
        self.bridges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A stats presence: a new bridge starts operational (as in jicofo).
    pub fn bridge_seen(&self, occupant: &str, stats: BridgeStats) -> bool {
        let mut b = self.bridges();
        match b.get_mut(occupant) {
            Some(info) => {
                info.stats = stats;
                false
            }
            None => {
                b.insert(
                    occupant.to_string(),
                    BridgeInfo {
                        stats,
                        health_ok: true,
                    },
                );
                true
            }
        }
    }

    pub fn bridge_gone(&self, occupant: &str) -> bool {
        self.bridges().remove(occupant).is_some()
    }

    pub fn set_health(&self, occupant: &str, ok: bool) {
        if let Some(info) = self.bridges().get_mut(occupant) {
            info.health_ok = ok;
        }
    }

    pub fn clear_bridges(&self) {
        self.bridges().clear();
    }

    /// (total, operational)
    pub fn bridge_counts(&self) -> (usize, usize) {
        let b = self.bridges();
        (b.len(), b.values().filter(|i| i.operational()).count())
    }

    /// jicofo's health check: Err(body of the 500) when unhealthy.
    pub fn health(&self) -> Result<(), String> {
        if !self.component_up.load(Ordering::Relaxed) {
            return Err("XMPP component connection is down".to_string());
        }
        if !self.client_up.load(Ordering::Relaxed) {
            return Err("XMPP client connection (brewery) is down".to_string());
        }
        let (total, operational) = self.bridge_counts();
        if operational == 0 {
            return Err(format!(
                "No operational bridges available (total bridge count: {total})"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_connections_and_bridges() {
        let s = State::new();
        assert!(s.health().expect_err("down").contains("component"));
        s.component_up.store(true, Ordering::Relaxed);
        assert!(s.health().expect_err("down").contains("client"));
        s.client_up.store(true, Ordering::Relaxed);
        assert_eq!(
            s.health(),
            Err("No operational bridges available (total bridge count: 0)".into())
        );
        let mut stats = BridgeStats::new();
        stats.set("stress_level", 0.1);
        assert!(s.bridge_seen("b@x/jvb", stats.clone()));
        assert_eq!(s.health(), Ok(()));
        s.set_health("b@x/jvb", false);
        assert_eq!(
            s.health(),
            Err("No operational bridges available (total bridge count: 1)".into())
        );
        s.set_health("b@x/jvb", true);
        stats.set("healthy", "false");
        assert!(!s.bridge_seen("b@x/jvb", stats));
        assert_eq!(s.bridge_counts(), (1, 0));
        assert!(s.bridge_gone("b@x/jvb"));
        assert_eq!(s.bridge_counts(), (0, 0));
    }
}
