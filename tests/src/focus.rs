//! Start a real `focus` against a running XMPP server (our
//! [`crate::xmpp::XmppServer`] or [`crate::prosody::Prosody`]): the component
//! focus.meet.test (secret [`FOCUS_SECRET`]), the account
//! focus@auth.meet.test (registered by the caller, password `focus-pw`),
//! the brewery `JvbBrewery@internal.auth.meet.test`, HTTP on a free port.

use std::process::Command;
use std::time::Duration;

use crate::xmpp::FOCUS_SECRET;
use crate::{Daemon, XmppDeployment, binary, free_port, wait_port};

/// The guide's JICOFO_* variables, removed so the test's file decides.
pub const GUIDE_VARS: [&str; 8] = [
    "JICOFO_HOST",
    "JICOFO_HOSTNAME",
    "JICOFO_SECRET",
    "JICOFO_PORT",
    "JICOFO_AUTH_DOMAIN",
    "JICOFO_AUTH_USER",
    "JICOFO_AUTH_PASSWORD",
    "JICOFO_FOCUS_SUBDOMAIN",
];

pub struct Focus {
    pub daemon: Daemon,
    pub http_port: u16,
}

/// Writes a config (plus `extra` lines in `[jicofo]`), checks it, starts
/// the focus and waits for its HTTP port.
pub fn start(s: &impl XmppDeployment, extra: &str) -> Focus {
    let bin = binary("focus");
    let http_port = free_port();
    let config = s.dir().join("focus.toml");
    let ca = s.ca_file();
    std::fs::write(
        &config,
        format!(
            r#"[jicofo]
host = "127.0.0.1"
port = {component}
secret = "{FOCUS_SECRET}"
domain = "meet.test"
auth_domain = "auth.meet.test"
auth_user = "focus"
auth_password = "focus-pw"
c2s_port = {c2s}
ca_file = "{ca}"
bridge_muc = "JvbBrewery@internal.auth.meet.test"
enable_health_checks = true
{extra}
[http]
port = {http_port}
"#,
            component = s.component_port(),
            c2s = s.c2s_port(),
            ca = ca.display(),
        ),
    )
    .expect("write config");
    let mut check = Command::new(&bin);
    check.arg("--config").arg(&config).arg("check-config");
    let mut cmd = Command::new(&bin);
    cmd.arg("--config").arg(&config);
    for v in GUIDE_VARS {
        check.env_remove(v);
        cmd.env_remove(v);
    }
    let out = check.output().expect("check-config");
    assert!(
        out.status.success(),
        "check-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = Daemon::spawn("focus", cmd, s.dir().join("focus.log"));
    assert!(
        wait_port(http_port, Duration::from_secs(30)),
        "focus did not open its HTTP port\n{}",
        daemon.log()
    );
    Focus { daemon, http_port }
}
