//! What every meet-rs daemon repeats, in one place.
//!
//! - [`config`]: load a daemon's TOML file plus environment overrides into its
//!   serde struct, and report problems as one line naming the file, the key and
//!   what is wrong.
//! - [`telemetry`]: tracing set-up (`RUST_LOG` filter, one line per event).
//! - [`shutdown`]: a future that resolves on SIGTERM or SIGINT.
//! - [`readiness`]: systemd `READY=1` / `STOPPING=1` notifications (no-ops
//!   outside systemd).
//! - [`http`]: a small HTTP/1.1 server for health, version and metrics routes.
//! - [`metrics`]: counters rendered as Prometheus text.

pub mod config;
pub mod http;
pub mod metrics;
pub mod readiness;
pub mod shutdown;
pub mod telemetry;
