//! systemd readiness (Type=notify). Outside systemd NOTIFY_SOCKET is unset and
//! these calls do nothing.

use sd_notify::NotifyState;

/// Tell systemd the daemon has finished starting (`READY=1`).
pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]) {
        tracing::warn!(error = %e, "sd_notify READY failed");
    }
}

/// Tell systemd the daemon is stopping (`STOPPING=1`).
pub fn stopping() {
    if let Err(e) = sd_notify::notify(&[NotifyState::Stopping]) {
        tracing::warn!(error = %e, "sd_notify STOPPING failed");
    }
}
