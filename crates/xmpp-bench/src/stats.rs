//! Latency samples and error tallies.

use std::collections::BTreeMap;

/// Latency samples in microseconds.
#[derive(Default)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// `q` in 0..=1; milliseconds. NaN when there are no samples.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let idx = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[idx] as f64 / 1000.0
    }
}

/// Error messages, counted by kind (digits stripped so that ids and ports
/// do not make every message unique).
#[derive(Default)]
pub struct Errors(pub BTreeMap<String, u64>);

impl Errors {
    pub fn add(&mut self, msg: &str) {
        let mut key: String = msg
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        key.truncate(200);
        *self.0.entry(key).or_default() += 1;
    }

    pub fn merge(&mut self, other: Errors) {
        for (k, v) in other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn print(&self) {
        for (k, v) in &self.0 {
            eprintln!("  error x{v}: {k}");
        }
    }
}
