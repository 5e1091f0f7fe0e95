//! tracing set-up shared by the daemons: one line per event on stderr
//! (journald adds its own timestamps), filter from `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `default_filter` applies when `RUST_LOG` is
/// unset, e.g. `"info"`. Safe to call more than once (later calls do nothing).
pub fn init(daemon: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
    tracing::debug!(daemon, "tracing initialised");
}
