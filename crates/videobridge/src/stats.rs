//! The bridge's shared operational state and its statistics.
//!
//! [`BridgeStatus`] is what the control plane's tasks share: drain and
//! graceful-shutdown flags (jitsi-protocol.md §5.5), the number of XMPP
//! connections that are up, whether the media plane has failed, and the
//! Prometheus counters. [`StatsSnapshot`] is one sample of the bridge's
//! numbers under JVB's stat names; it becomes the brewery presence
//! extension ([`StatsSnapshot::to_bridge_stats`], §5.1), the
//! `/colibri/stats` JSON ([`StatsSnapshot::to_json`], §7.2) and the
//! `/metrics` text ([`BridgeStatus::render_prometheus`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jitsi_xmpp::BridgeStats;
use jitsi_xmpp::brewery::stat;
use meet_service::metrics::{Metric, Registry};

use crate::engine::MediaStats;

/// Bridge version reported in stats and `/about/version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Stress a participant adds, for the focus's ramp-up correction (JVB's
/// default `average_participant_stress`, §5.2).
pub const AVERAGE_PARTICIPANT_STRESS: f64 = 0.01;

/// Counters and gauges exported on `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    conferences: Arc<Metric>,
    participants: Arc<Metric>,
    packets_received: Arc<Metric>,
    packets_sent: Arc<Metric>,
    bytes_received: Arc<Metric>,
    bytes_sent: Arc<Metric>,
    dropped_packets: Arc<Metric>,
    packet_rate_download: Arc<Metric>,
    packet_rate_upload: Arc<Metric>,
    bit_rate_download: Arc<Metric>,
    bit_rate_upload: Arc<Metric>,
    xmpp_connections: Arc<Metric>,
    healthy: Arc<Metric>,
    draining: Arc<Metric>,
    graceful_shutdown: Arc<Metric>,
    /// Colibri2 requests handled, including failed ones.
    pub colibri_requests: Arc<Metric>,
    /// Colibri2 requests answered with an error.
    pub colibri_errors: Arc<Metric>,
    /// XMPP connection attempts that failed or connections that dropped.
    pub xmpp_failures: Arc<Metric>,
    /// Health-check IQs answered.
    pub health_checks: Arc<Metric>,
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::new();
        Self {
            conferences: r.gauge("videobridge_conferences", "Conferences on this bridge."),
            participants: r.gauge(
                "videobridge_participants",
                "Endpoints (participants) on this bridge.",
            ),
            packets_received: r.counter(
                "videobridge_packets_received_total",
                "RTP/RTCP packets received.",
            ),
            packets_sent: r.counter("videobridge_packets_sent_total", "RTP/RTCP packets sent."),
            bytes_received: r.counter("videobridge_bytes_received_total", "Media bytes received."),
            bytes_sent: r.counter("videobridge_bytes_sent_total", "Media bytes sent."),
            dropped_packets: r.counter(
                "videobridge_dropped_packets_total",
                "Media packets dropped.",
            ),
            packet_rate_download: r.gauge(
                "videobridge_packet_rate_download",
                "Packets per second received.",
            ),
            packet_rate_upload: r
                .gauge("videobridge_packet_rate_upload", "Packets per second sent."),
            bit_rate_download: r.gauge(
                "videobridge_bit_rate_download_kbps",
                "Kilobits per second received.",
            ),
            bit_rate_upload: r.gauge(
                "videobridge_bit_rate_upload_kbps",
                "Kilobits per second sent.",
            ),
            xmpp_connections: r.gauge(
                "videobridge_xmpp_connections",
                "XMPP connections that are up (joined to the brewery).",
            ),
            healthy: r.gauge("videobridge_healthy", "1 when /about/health answers 200."),
            draining: r.gauge(
                "videobridge_drain",
                "1 while draining (no new conferences).",
            ),
            graceful_shutdown: r.gauge(
                "videobridge_graceful_shutdown",
                "1 during graceful shutdown.",
            ),
            colibri_requests: r.counter(
                "videobridge_colibri_requests_total",
                "Colibri2 conference-modify requests handled.",
            ),
            colibri_errors: r.counter(
                "videobridge_colibri_errors_total",
                "Colibri2 requests answered with an error.",
            ),
            xmpp_failures: r.counter(
                "videobridge_xmpp_failures_total",
                "XMPP connection attempts that failed and connections that dropped.",
            ),
            health_checks: r.counter(
                "videobridge_health_checks_total",
                "Health-check IQs answered.",
            ),
            registry: r,
        }
    }
}

/// Operational state shared by the XMPP connections, the Colibri2 handler's
/// callers, the HTTP server and `main`.
#[derive(Debug)]
pub struct BridgeStatus {
    drain: AtomicBool,
    graceful_shutdown: AtomicBool,
    shutting_down: AtomicBool,
    xmpp_up: AtomicUsize,
    media_failure: Mutex<Option<String>>,
    started: Instant,
    /// Exported counters.
    pub metrics: Metrics,
}

impl Default for BridgeStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl BridgeStatus {
    pub fn new() -> Self {
        Self {
            drain: AtomicBool::new(false),
            graceful_shutdown: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            xmpp_up: AtomicUsize::new(0),
            media_failure: Mutex::new(None),
            started: Instant::now(),
            metrics: Metrics::new(),
        }
    }

    /// Draining: existing conferences continue, new ones are refused.
    pub fn set_drain(&self, on: bool) {
        self.drain.store(on, Ordering::SeqCst);
    }

    pub fn drain(&self) -> bool {
        self.drain.load(Ordering::SeqCst)
    }

    /// Graceful shutdown: like drain, and the process exits once the last
    /// conference has ended. There is no way back.
    pub fn start_graceful_shutdown(&self) {
        self.graceful_shutdown.store(true, Ordering::SeqCst);
    }

    pub fn graceful_shutdown(&self) -> bool {
        self.graceful_shutdown.load(Ordering::SeqCst)
    }

    /// Whether new conferences must be refused.
    pub fn refuses_new_conferences(&self) -> bool {
        self.drain() || self.graceful_shutdown() || self.shutting_down()
    }

    /// The process is stopping (SIGTERM or the end of a graceful shutdown).
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// An XMPP connection has joined its brewery rooms.
    pub fn xmpp_up(&self) {
        self.xmpp_up.fetch_add(1, Ordering::SeqCst);
    }

    /// An XMPP connection that was up went away.
    pub fn xmpp_down(&self) {
        // Never wraps below zero, even if up/down calls were ever unbalanced.
        let _ = self
            .xmpp_up
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn xmpp_connections(&self) -> usize {
        self.xmpp_up.load(Ordering::SeqCst)
    }

    /// Record that the media plane reported it has stopped; health fails from
    /// then on (the engine does not come back by itself).
    pub fn media_failed(&self, reason: &str) {
        let mut f = self.media_failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            tracing::error!(reason, "media plane failed; reporting unhealthy");
            *f = Some(reason.to_string());
        }
    }

    /// The media plane's failure, if any.
    pub fn media_failure(&self) -> Option<String> {
        self.media_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the focus's health-check IQ asks (§5.4): can this bridge host
    /// media? The XMPP link is evidently up when the IQ arrived.
    pub fn media_health(&self) -> Result<(), String> {
        match self.media_failure() {
            Some(reason) => Err(format!("media plane stopped: {reason}")),
            None => Ok(()),
        }
    }

    /// What `/about/health` answers: the media plane runs and at least one
    /// XMPP connection is up (otherwise no focus can reach the bridge).
    pub fn health(&self) -> Result<(), String> {
        self.media_health()?;
        if self.xmpp_connections() == 0 {
            return Err("no XMPP connection is up".to_string());
        }
        Ok(())
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// `/metrics`: the counters, refreshed from `snap`.
    pub fn render_prometheus(&self, snap: &StatsSnapshot) -> String {
        let m = &self.metrics;
        let count = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        m.conferences.set(count(snap.conferences as u64));
        m.participants.set(count(snap.participants as u64));
        m.packets_received.set(count(snap.media.packets_received));
        m.packets_sent.set(count(snap.media.packets_sent));
        m.bytes_received.set(count(snap.media.bytes_received));
        m.bytes_sent.set(count(snap.media.bytes_sent));
        m.dropped_packets.set(count(snap.media.dropped_packets));
        m.packet_rate_download
            .set(count(snap.media.packet_rate_download));
        m.packet_rate_upload
            .set(count(snap.media.packet_rate_upload));
        m.bit_rate_download.set(count(snap.media.bit_rate_download));
        m.bit_rate_upload.set(count(snap.media.bit_rate_upload));
        m.xmpp_connections
            .set(count(self.xmpp_connections() as u64));
        m.healthy.set(i64::from(snap.healthy));
        m.draining.set(i64::from(snap.drain));
        m.graceful_shutdown.set(i64::from(snap.graceful_shutdown));
        let mut out = m.registry.render();
        // The registry holds integers only; stress is a fraction.
        out.push_str(&format!(
            "# HELP videobridge_stress_level Load, 0 (idle) to 1 (saturated).\n\
             # TYPE videobridge_stress_level gauge\n\
             videobridge_stress_level {}\n",
            snap.stress_level
        ));
        out
    }
}

/// One sample of the bridge's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSnapshot {
    /// Conferences the control plane holds (created by Colibri2, not yet expired).
    pub conferences: usize,
    /// Endpoints the control plane holds.
    pub participants: usize,
    /// The largest conference, in endpoints.
    pub largest_conference: usize,
    /// Traffic figures from the media plane.
    pub media: MediaStats,
    pub stress_level: f64,
    pub graceful_shutdown: bool,
    pub drain: bool,
    pub shutting_down: bool,
    pub healthy: bool,
    pub region: Option<String>,
    /// JVB's relay id: this bridge's server id.
    pub relay_id: String,
    pub version: String,
    pub uptime_secs: u64,
    /// UTC, `YYYY-MM-DD HH:MM:SS.mmm` as JVB writes it.
    pub current_timestamp: String,
}

/// What the Colibri2 handler knows about the conferences (counts only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConferenceCounts {
    pub conferences: usize,
    pub endpoints: usize,
    pub largest_conference: usize,
}

impl StatsSnapshot {
    /// Sample now.
    pub fn take(
        media: MediaStats,
        counts: ConferenceCounts,
        status: &BridgeStatus,
        region: Option<&str>,
        relay_id: &str,
    ) -> Self {
        let stress = if media.stress_level.is_finite() {
            media.stress_level.max(0.0)
        } else {
            0.0
        };
        Self {
            conferences: counts.conferences,
            participants: counts.endpoints,
            largest_conference: counts.largest_conference,
            stress_level: stress,
            media,
            graceful_shutdown: status.graceful_shutdown(),
            drain: status.drain(),
            shutting_down: status.shutting_down(),
            healthy: status.media_health().is_ok(),
            region: region.map(str::to_string),
            relay_id: relay_id.to_string(),
            version: VERSION.to_string(),
            uptime_secs: status.uptime_secs(),
            current_timestamp: utc_timestamp(SystemTime::now()),
        }
    }

    /// The brewery presence extension (§5.1). `colibri2=true` tells the
    /// focus this bridge speaks Colibri2.
    pub fn to_bridge_stats(&self) -> BridgeStats {
        let mut s = BridgeStats::new();
        s.set(stat::STRESS_LEVEL, self.stress_level)
            .set(stat::AVERAGE_PARTICIPANT_STRESS, AVERAGE_PARTICIPANT_STRESS)
            .set(stat::CONFERENCES, self.conferences)
            .set(stat::PARTICIPANTS, self.participants)
            .set("endpoints", self.participants)
            .set("largest_conference", self.largest_conference)
            .set("bit_rate_download", self.media.bit_rate_download)
            .set("bit_rate_upload", self.media.bit_rate_upload)
            .set("packet_rate_download", self.media.packet_rate_download)
            .set("packet_rate_upload", self.media.packet_rate_upload)
            .set("total_packets_received", self.media.packets_received)
            .set("total_packets_sent", self.media.packets_sent)
            .set("total_bytes_received", self.media.bytes_received)
            .set("total_bytes_sent", self.media.bytes_sent)
            .set(stat::VERSION, &self.version)
            .set(stat::RELEASE, &self.version)
            .set(stat::RELAY_ID, &self.relay_id)
            .set(stat::GRACEFUL_SHUTDOWN, self.graceful_shutdown)
            .set(stat::DRAIN, self.drain)
            .set(stat::SHUTTING_DOWN, self.shutting_down)
            .set(stat::HEALTHY, self.healthy)
            .set(stat::COLIBRI2, true)
            .set("uptime", self.uptime_secs)
            .set(stat::CURRENT_TIMESTAMP, &self.current_timestamp);
        if let Some(region) = &self.region {
            s.set(stat::REGION, region);
        }
        s
    }

    /// `/colibri/stats`: the same names as the presence, with JSON types.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "stress_level": self.stress_level,
            "average_participant_stress": AVERAGE_PARTICIPANT_STRESS,
            "conferences": self.conferences,
            "participants": self.participants,
            "endpoints": self.participants,
            "largest_conference": self.largest_conference,
            "bit_rate_download": self.media.bit_rate_download,
            "bit_rate_upload": self.media.bit_rate_upload,
            "packet_rate_download": self.media.packet_rate_download,
            "packet_rate_upload": self.media.packet_rate_upload,
            "total_packets_received": self.media.packets_received,
            "total_packets_sent": self.media.packets_sent,
            "total_bytes_received": self.media.bytes_received,
            "total_bytes_sent": self.media.bytes_sent,
            "total_packets_dropped": self.media.dropped_packets,
            "graceful_shutdown": self.graceful_shutdown,
            "drain": self.drain,
            "shutting_down": self.shutting_down,
            "healthy": self.healthy,
            "region": self.region,
            "relay_id": self.relay_id,
            "version": self.version,
            "release": self.version,
            "colibri2": true,
            "uptime": self.uptime_secs,
            "current_timestamp": self.current_timestamp,
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC (the format of JVB's `current_timestamp`).
pub fn utc_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_date(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Count in 400-year eras starting on 0000-03-01, so that the leap day is
    // the last day of each shifted year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000");
        // 2021-12-10 11:44:05.123 UTC, the example in jitsi-protocol.md §5.1.
        let t = UNIX_EPOCH + Duration::from_millis(1_639_136_645_123);
        assert_eq!(utc_timestamp(t), "2021-12-10 11:44:05.123");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_timestamp(t), "2000-02-29 00:00:00.000");
    }

    #[test]
    fn snapshot_uses_jvb_stat_names() {
        let status = BridgeStatus::new();
        status.set_drain(true);
        let media = MediaStats {
            stress_level: 0.25,
            packet_rate_download: 100,
            packets_received: 5,
            ..Default::default()
        };
        let counts = ConferenceCounts {
            conferences: 2,
            endpoints: 3,
            largest_conference: 2,
        };
        let snap = StatsSnapshot::take(media, counts, &status, Some("eu-1"), "jvb-a");
        let stats = snap.to_bridge_stats();
        assert_eq!(stats.stress_level(), Some(0.25));
        assert_eq!(stats.conferences(), Some(2));
        assert_eq!(stats.participants(), Some(3));
        assert_eq!(stats.region(), Some("eu-1"));
        assert_eq!(stats.relay_id(), Some("jvb-a"));
        assert!(stats.drain());
        assert!(!stats.graceful_shutdown());
        assert!(stats.colibri2());
        assert_eq!(stats.healthy(), Some(true));
        assert_eq!(stats.get("packet_rate_download"), Some("100"));
        let json = snap.to_json();
        assert_eq!(json["conferences"], 2);
        assert_eq!(json["total_packets_received"], 5);
        assert_eq!(json["drain"], true);
        let text = status.render_prometheus(&snap);
        assert!(text.contains("videobridge_conferences 2\n"), "{text}");
        assert!(text.contains("videobridge_stress_level 0.25\n"), "{text}");
    }

    #[test]
    fn health_needs_media_and_xmpp() {
        let s = BridgeStatus::new();
        assert!(s.health().is_err());
        s.xmpp_up();
        assert_eq!(s.health(), Ok(()));
        s.xmpp_down();
        s.xmpp_down();
        assert_eq!(s.xmpp_connections(), 0);
        s.xmpp_up();
        s.media_failed("engine stopped");
        assert!(s.health().is_err_and(|e| e.contains("engine stopped")));
        assert!(s.media_health().is_err());
    }

    #[test]
    fn non_finite_stress_is_reported_as_zero() {
        let media = MediaStats {
            stress_level: f64::NAN,
            ..Default::default()
        };
        let snap = StatsSnapshot::take(
            media,
            ConferenceCounts::default(),
            &BridgeStatus::new(),
            None,
            "x",
        );
        assert_eq!(snap.stress_level, 0.0);
        assert_eq!(snap.to_json()["region"], serde_json::Value::Null);
    }
}
