//! Start a real `xmpp-server` with a generated configuration.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{Daemon, XmppDeployment, binary, free_port, wait_port};

pub const DOMAIN: &str = "meet.test";
pub const FOCUS: &str = "focus.meet.test";
pub const FOCUS_SECRET: &str = "focus-secret-0123456789";
pub const TURN_SECRET: &str = "turn-secret";

/// A running xmpp-server with these virtual hosts:
/// - `meet.test`: anonymous, no encryption required, with turncredentials,
///   speakerstats and conference_duration identities;
/// - `hashed.test`: internal_hashed (SCRAM-SHA-256 offered first), TLS required;
/// - `sha1.test`: internal_hashed with SCRAM-SHA-256 disabled;
/// - `plain.test`: internal_plain with both SCRAMs disabled;
/// - `auth.meet.test`: internal_hashed (the focus and jvb accounts live here);
/// - external component `focus.meet.test`;
/// - MUC `conference.meet.test` (the guide's settings: no locking, public
///   JIDs, muc_meeting_id, muc_domain_mapper with base meet.test, admin
///   focus@auth.meet.test) with speakerstats and conference_duration
///   components, MUC `internal.auth.meet.test` (the brewery) and MUC
///   `locked.meet.test` (room locking on).
pub struct XmppServer {
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub c2s_port: u16,
    pub component_port: u16,
    pub http_port: u16,
    /// PEM of the certificates the server uses (for the test clients' roots).
    pub ca_pems: Vec<String>,
}

pub struct Options {
    pub stanza_limit: usize,
    pub extra_global: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            stanza_limit: 65536,
            extra_global: String::new(),
        }
    }
}

impl XmppServer {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Self {
        let bin = binary("xmpp-server");
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let c2s_port = free_port();
        let component_port = free_port();
        let http_port = free_port();
        let hosts = [
            "meet.test",
            "hashed.test",
            "sha1.test",
            "plain.test",
            "auth.meet.test",
        ];
        let config_path = dir.path().join("xmpp-server.toml");
        // A first config without ssl, so `cert generate` can run.
        let write = |with_ssl: bool| {
            let ssl = |h: &str| {
                if with_ssl {
                    format!(
                        "ssl = {{ key = \"{}/{h}.key\", certificate = \"{}/{h}.crt\" }}\n",
                        data.display(),
                        data.display()
                    )
                } else {
                    String::new()
                }
            };
            let text = format!(
                r#"data_path = "{data}"
c2s_ports = [{c2s_port}]
c2s_interfaces = ["127.0.0.1"]
component_ports = [{component_port}]
component_interfaces = ["127.0.0.1"]
http_ports = [{http_port}]
http_interfaces = ["127.0.0.1"]
c2s_stanza_size_limit = {limit}
c2s_timeout = 10
max_unauthenticated_per_ip = 1000
consider_bosh_secure = true
consider_websocket_secure = true
cross_domain_bosh = true
turncredentials_secret = "{TURN_SECRET}"
muc_mapper_domain_base = "meet.test"
turncredentials = [
  {{ type = "stun", host = "turn.meet.test", port = 3478 }},
  {{ type = "turn", host = "turn.meet.test", port = 3478, transport = "udp" }},
]
{extra}

[[virtual_host]]
host = "meet.test"
authentication = "anonymous"
c2s_require_encryption = false
modules_enabled = ["bosh", "ping", "speakerstats", "turncredentials", "conference_duration"]
speakerstats_component = "speakerstats.meet.test"
conference_duration_component = "conferenceduration.meet.test"
{ssl_meet}
[[virtual_host]]
host = "hashed.test"
authentication = "internal_hashed"
c2s_require_encryption = true
{ssl_hashed}
[[virtual_host]]
host = "sha1.test"
authentication = "internal_hashed"
disable_sasl_mechanisms = ["SCRAM-SHA-256"]
{ssl_sha1}
[[virtual_host]]
host = "plain.test"
authentication = "internal_plain"
disable_sasl_mechanisms = ["SCRAM-SHA-1", "SCRAM-SHA-256"]
{ssl_plain}
[[component]]
host = "{FOCUS}"
component_secret = "{FOCUS_SECRET}"

[[virtual_host]]
host = "auth.meet.test"
authentication = "internal_hashed"
{ssl_auth}
[[component]]
host = "conference.meet.test"
type = "muc"
storage = "memory"
modules_enabled = ["muc_meeting_id", "muc_domain_mapper"]
admins = ["focus@auth.meet.test"]
muc_room_locking = false
muc_room_default_public_jids = true

[[component]]
host = "internal.auth.meet.test"
type = "muc"
storage = "memory"
admins = ["focus@auth.meet.test", "jvb@auth.meet.test"]
muc_room_locking = false
muc_room_default_public_jids = true

[[component]]
host = "locked.meet.test"
type = "muc"
storage = "memory"
muc_room_locking = true

[[component]]
host = "speakerstats.meet.test"
type = "speakerstats_component"
muc_component = "conference.meet.test"

[[component]]
host = "conferenceduration.meet.test"
type = "conference_duration_component"
muc_component = "conference.meet.test"
"#,
                data = data.display(),
                limit = opts.stanza_limit,
                extra = opts.extra_global,
                ssl_meet = ssl("meet.test"),
                ssl_hashed = ssl("hashed.test"),
                ssl_sha1 = ssl("sha1.test"),
                ssl_plain = ssl("plain.test"),
                ssl_auth = ssl("auth.meet.test"),
            );
            std::fs::write(&config_path, text).expect("write config");
        };
        write(false);
        for h in hosts {
            let out = Command::new(&bin)
                .args(["--config"])
                .arg(&config_path)
                .args(["cert", "generate", h])
                .output()
                .expect("cert generate");
            assert!(
                out.status.success(),
                "cert generate {h}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        write(true);
        let ca_pems = hosts
            .iter()
            .map(|h| std::fs::read_to_string(data.join(format!("{h}.crt"))).expect("read cert"))
            .collect();
        let mut cmd = Command::new(&bin);
        cmd.arg("--config").arg(&config_path);
        let daemon = Daemon::spawn("xmpp-server", cmd, dir.path().join("xmpp-server.log"));
        let server = Self {
            daemon,
            dir,
            config_path,
            c2s_port,
            component_port,
            http_port,
            ca_pems,
        };
        assert!(
            wait_port(c2s_port, Duration::from_secs(20)),
            "xmpp-server did not open its c2s port\n{}",
            server.daemon.log()
        );
        server
            .daemon
            .wait_for_log("xmpp-server ready", Duration::from_secs(20));
        server
    }

    /// Run an `xmpp-server` subcommand against this server's config.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("xmpp-server"))
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .output()
            .expect("run xmpp-server subcommand")
    }

    pub fn register(&self, user: &str, host: &str, password: &str) {
        let out = self.ctl(&["register", user, host, password]);
        assert!(
            out.status.success(),
            "register: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl XmppDeployment for XmppServer {
    fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
    fn c2s_port(&self) -> u16 {
        self.c2s_port
    }
    fn component_port(&self) -> u16 {
        self.component_port
    }
    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("data/auth.meet.test.crt")
    }
}
