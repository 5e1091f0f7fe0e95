//! SIGTERM / SIGINT as a future, for a clean stop under systemd and Ctrl-C.

/// Resolves when the process receives SIGTERM or SIGINT; returns the signal's name.
pub async fn signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => tokio::select! {
            _ = t.recv() => "SIGTERM",
            _ = i.recv() => "SIGINT",
        },
        _ => {
            // Registering handlers only fails when the runtime lacks signal
            // support; fall back to Ctrl-C so the daemon still stops.
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
