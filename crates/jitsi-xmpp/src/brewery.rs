//! The brewery (jitsi-protocol.md §5): the bridge's presence extension
//! `<stats xmlns='http://jitsi.org/protocol/colibri'><stat name=… value=…/>…</stats>` that makes an
//! occupant of `JvbBrewery@internal.auth.DOMAIN` a bridge, and the focus → bridge health check
//! IQ `<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>`.

use minidom::Element;

use crate::error::ParseError;
use crate::ns;
use crate::xml::{self, Builder};

/// Stat names the focus reads (§5.2).
pub mod stat {
    /// Load, 0..1+ (f64); the primary selection key.
    pub const STRESS_LEVEL: &str = "stress_level";
    /// Expected stress added per participant (f64).
    pub const AVERAGE_PARTICIPANT_STRESS: &str = "average_participant_stress";
    /// Number of conferences.
    pub const CONFERENCES: &str = "conferences";
    /// Number of participants.
    pub const PARTICIPANTS: &str = "participants";
    /// Region, for region-aware selection.
    pub const REGION: &str = "region";
    /// Bridge version.
    pub const VERSION: &str = "version";
    /// Release.
    pub const RELEASE: &str = "release";
    /// Relay (Octo) address.
    pub const RELAY_ID: &str = "relay_id";
    /// `true`: no new conferences.
    pub const GRACEFUL_SHUTDOWN: &str = "graceful_shutdown";
    /// `true`: no new allocations (newer JVB).
    pub const DRAIN: &str = "drain";
    /// `true`: bridge unusable (newer JVB).
    pub const SHUTTING_DOWN: &str = "shutting_down";
    /// `false`: non-operational (newer JVB).
    pub const HEALTHY: &str = "healthy";
    /// `true`: speaks Colibri2.
    pub const COLIBRI2: &str = "colibri2";
    /// Wall-clock time of the sample.
    pub const CURRENT_TIMESTAMP: &str = "current_timestamp";
}

/// The `<stats>` presence extension: an ordered list of `(name, value)` pairs with typed
/// accessors. Accessors return `None` (or `false`) for absent or unparsable values; they never
/// fail. Children other than `<stat>` are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// The stats in document order.
    pub stats: Vec<(String, String)>,
}

impl BridgeStats {
    const ELEMENT: &'static str = "stats";

    /// No stats.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an existing stat of that name (keeping its position).
    pub fn set(&mut self, name: &str, value: impl ToString) -> &mut Self {
        let value = value.to_string();
        match self.stats.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.stats.push((name.to_owned(), value)),
        }
        self
    }

    /// The raw value of the first stat called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.stats
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
    }

    fn count(&self, name: &str) -> Option<u64> {
        self.get(name)?.trim().parse().ok()
    }

    fn flag(&self, name: &str) -> Option<bool> {
        xml::parse_bool(self.get(name)?)
    }

    /// `stress_level`.
    pub fn stress_level(&self) -> Option<f64> {
        self.float(stat::STRESS_LEVEL)
    }

    /// `average_participant_stress`.
    pub fn average_participant_stress(&self) -> Option<f64> {
        self.float(stat::AVERAGE_PARTICIPANT_STRESS)
    }

    /// `conferences`.
    pub fn conferences(&self) -> Option<u64> {
        self.count(stat::CONFERENCES)
    }

    /// `participants`.
    pub fn participants(&self) -> Option<u64> {
        self.count(stat::PARTICIPANTS)
    }

    /// `region`.
    pub fn region(&self) -> Option<&str> {
        self.get(stat::REGION)
    }

    /// `version`.
    pub fn version(&self) -> Option<&str> {
        self.get(stat::VERSION)
    }

    /// `release`.
    pub fn release(&self) -> Option<&str> {
        self.get(stat::RELEASE)
    }

    /// `relay_id`.
    pub fn relay_id(&self) -> Option<&str> {
        self.get(stat::RELAY_ID)
    }

    /// `graceful_shutdown` is true.
    pub fn graceful_shutdown(&self) -> bool {
        self.flag(stat::GRACEFUL_SHUTDOWN).unwrap_or(false)
    }

    /// `drain` is true.
    pub fn drain(&self) -> bool {
        self.flag(stat::DRAIN).unwrap_or(false)
    }

    /// `shutting_down` is true.
    pub fn shutting_down(&self) -> bool {
        self.flag(stat::SHUTTING_DOWN).unwrap_or(false)
    }

    /// `healthy`, if the bridge reports it (older bridges do not).
    pub fn healthy(&self) -> Option<bool> {
        self.flag(stat::HEALTHY)
    }

    /// `colibri2` is true.
    pub fn colibri2(&self) -> bool {
        self.flag(stat::COLIBRI2).unwrap_or(false)
    }
}

impl TryFrom<&Element> for BridgeStats {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, BridgeStats::ELEMENT, ns::COLIBRI)?;
        let stats = el
            .children()
            .filter(|c| c.is("stat", ns::COLIBRI))
            .map(|c| {
                Ok((
                    xml::required(c, "stat", "name")?.to_owned(),
                    xml::required(c, "stat", "value")?.to_owned(),
                ))
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(BridgeStats { stats })
    }
}

impl From<&BridgeStats> for Element {
    fn from(s: &BridgeStats) -> Element {
        Builder::new(BridgeStats::ELEMENT, ns::COLIBRI)
            .children(s.stats.iter().map(|(n, v)| {
                Builder::new("stat", ns::COLIBRI)
                    .attr("name", n.as_str())
                    .attr("value", v.as_str())
                    .build()
            }))
            .build()
    }
}

/// `<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>`: payload of the focus's IQ
/// `get` to a bridge (§5.4); the bridge answers an empty `result` or an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCheck;

impl TryFrom<&Element> for HealthCheck {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        xml::check(el, "healthcheck", ns::HEALTHCHECK)?;
        Ok(HealthCheck)
    }
}

impl From<&HealthCheck> for Element {
    fn from(_: &HealthCheck) -> Element {
        Element::bare("healthcheck", ns::HEALTHCHECK)
    }
}

xml::owned_conversions!(BridgeStats, HealthCheck);
