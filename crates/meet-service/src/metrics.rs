//! Named counters and gauges rendered in the Prometheus text format. Lock-free
//! updates (atomics); the registry is built once at start.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A counter or gauge.
#[derive(Debug)]
pub struct Metric {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: AtomicI64,
}

impl Metric {
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.value.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: i64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: i64) {
        self.value.store(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A fixed set of metrics.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    metrics: Vec<Arc<Metric>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn counter(&mut self, name: &'static str, help: &'static str) -> Arc<Metric> {
        self.add(name, help, "counter")
    }
    pub fn gauge(&mut self, name: &'static str, help: &'static str) -> Arc<Metric> {
        self.add(name, help, "gauge")
    }
    fn add(&mut self, name: &'static str, help: &'static str, kind: &'static str) -> Arc<Metric> {
        let m = Arc::new(Metric {
            name,
            help,
            kind,
            value: AtomicI64::new(0),
        });
        self.metrics.push(m.clone());
        m
    }
    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for m in &self.metrics {
            out.push_str(&format!(
                "# HELP {} {}\n# TYPE {} {}\n{} {}\n",
                m.name,
                m.help,
                m.name,
                m.kind,
                m.name,
                m.get()
            ));
        }
        out
    }
    /// `{"name": value, ...}` for Jitsi-style JSON stats.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for m in &self.metrics {
            map.insert(m.name.to_string(), serde_json::Value::from(m.get()));
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let mut r = Registry::new();
        let c = r.counter("logins_total", "Logins.");
        c.inc();
        c.add(2);
        let g = r.gauge("sessions", "Open sessions.");
        g.set(4);
        g.dec();
        let text = r.render();
        assert!(
            text.contains("# TYPE logins_total counter\nlogins_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE sessions gauge\nsessions 3\n"),
            "{text}"
        );
        assert_eq!(r.to_json()["sessions"], 3);
    }
}
