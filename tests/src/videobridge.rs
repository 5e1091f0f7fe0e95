//! Start a real `videobridge` against a running XMPP server (our
//! [`crate::xmpp::XmppServer`] or [`crate::prosody::Prosody`]): the jvb
//! account on auth.meet.test (registered by the caller, password `jvb-pw`),
//! the brewery `JvbBrewery@internal.auth.meet.test`, media and HTTP on free
//! loopback ports.

use std::process::Command;
use std::time::Duration;

use crate::{Daemon, XmppDeployment, binary, free_port, wait_port};

pub struct Bridge {
    pub daemon: Daemon,
    pub http_port: u16,
}

/// Write a config (validated with `check-config`), start the bridge as brewery
/// occupant `nick` (also its server id), and wait for its HTTP port.
pub fn start(s: &impl XmppDeployment, nick: &str, region: Option<&str>) -> Bridge {
    let bin = binary("videobridge");
    let http_port = free_port();
    let udp_port = free_port();
    // One file per bridge: a test may run several.
    let config = s.dir().join(format!("videobridge-{nick}.toml"));
    let ca = s.ca_file();
    let region = region
        .map(|r| format!("region = \"{r}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            r#"[videobridge]
server_id = "{nick}"
{region}
[videobridge.stats]
interval = 1

[videobridge.apis.xmpp-client.configs.shard]
hostname = "127.0.0.1"
port = {c2s}
domain = "auth.meet.test"
username = "jvb"
password = "jvb-pw"
muc_jids = "JvbBrewery@internal.auth.meet.test"
muc_nickname = "{nick}"
ca_file = "{ca}"

[videobridge.ice.udp]
port = {udp_port}
bind_address = "127.0.0.1"

[videobridge.nat]
local_addresses = ["127.0.0.1"]

[videobridge.http]
port = {http_port}
"#,
            c2s = s.c2s_port(),
            ca = ca.display(),
        ),
    )
    .expect("write config");
    let out = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .expect("check-config");
    assert!(
        out.status.success(),
        "check-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(&bin);
    cmd.arg("--config").arg(&config);
    let daemon = Daemon::spawn(
        "videobridge",
        cmd,
        s.dir().join(format!("videobridge-{nick}.log")),
    );
    assert!(
        wait_port(http_port, Duration::from_secs(30)),
        "videobridge did not open its HTTP port\n{}",
        daemon.log()
    );
    Bridge { daemon, http_port }
}
