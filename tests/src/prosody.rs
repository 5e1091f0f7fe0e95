//! Start Debian's stock Prosody (0.12, no Jitsi community modules) in place
//! of our xmpp-server, configured as the Jitsi guide configures it for
//! everything Prosody itself provides (jitsi-protocol.md §0.2–0.3):
//!
//! - `meet.test`: anonymous logins (the participants);
//! - `auth.meet.test`: internal_hashed (the focus and jvb accounts, both in
//!   the global `admins`, so Prosody's MUC makes them owners of every room);
//! - MUC `conference.meet.test` (no room locking, public JIDs by default);
//! - MUC `internal.auth.meet.test` (the brewery);
//! - external component `focus.meet.test` (XEP-0114, [`FOCUS_SECRET`]).
//!
//! c2s requires STARTTLS with a certificate for meet.test and
//! auth.meet.test, issued by a CA generated here ([`Prosody::ca_file`],
//! [`Prosody::ca_pems`]). Ports are free loopback ports; no s2s, HTTP or
//! direct TLS. The config, pidfile, data and log live in a temporary
//! directory: nothing of the system's Prosody (`/etc/prosody`, its service)
//! is used. The process is killed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::xmpp::{FOCUS, FOCUS_SECRET};
use crate::{Daemon, XmppDeployment, free_port, wait_port};

/// A running Prosody.
pub struct Prosody {
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub c2s_port: u16,
    pub component_port: u16,
    /// The CA certificate (PEM file) that issued the server's certificate.
    pub ca_file: PathBuf,
    /// The same CA, for the test participants' roots.
    pub ca_pems: Vec<String>,
}

pub struct Options {
    /// `muc_room_default_public_jids` on conference.meet.test (the guide
    /// sets it). Off, rooms start semi-anonymous and only the focus's
    /// `muc#roomconfig_whois = anyone` makes the real JIDs visible.
    pub public_jids: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { public_jids: true }
    }
}

/// Panics with what to do when Debian's Prosody is not installed.
fn require_prosody() {
    let found = Command::new("sh")
        .args(["-c", "command -v prosody && command -v prosodyctl"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "stock Prosody is not installed: `apt-get install prosody` (tests/run.sh does it)"
    );
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A CA and a server certificate it issued for meet.test and
/// auth.meet.test: `(CA PEM, certificate PEM, key PEM)`.
fn certificates() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "meet-rs test CA (Prosody interop)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["meet.test".into(), "auth.meet.test".into()])
        .expect("server params");
    server
        .distinguished_name
        .push(DnType::CommonName, "meet.test");
    let cert = server.signed_by(&key, &issuer).expect("server certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

impl Prosody {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Self {
        require_prosody();
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let (ca_pem, cert_pem, key_pem) = certificates();
        let ca_file = dir.path().join("ca.crt");
        let cert = dir.path().join("meet.test.crt");
        let key = dir.path().join("meet.test.key");
        std::fs::write(&ca_file, &ca_pem).expect("write CA");
        std::fs::write(&cert, &cert_pem).expect("write certificate");
        std::fs::write(&key, &key_pem).expect("write key");
        let c2s_port = free_port();
        let component_port = free_port();
        let config_path = dir.path().join("prosody.cfg.lua");
        let level = match std::env::var("MEET_TEST_LOG").as_deref() {
            Ok("debug") | Ok("trace") => "debug",
            _ => "info",
        };
        let text = format!(
            r#"-- Written by meet-tests (tests/src/prosody.rs) for one test.
run_as_root = {root}
pidfile = "{dir}/prosody.pid"
data_path = "{data}"
certificates = "{dir}"
log = {{ {{ levels = {{ min = "{level}" }}, to = "console" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ {component_port} }}
component_interfaces = {{ "127.0.0.1" }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = true
ssl = {{ certificate = "{cert}"; key = "{key}"; }}
-- The guide lists the service accounts as admins: Prosody's MUC makes
-- them owners of every room (component_admins_as_room_owners).
admins = {{ "focus@auth.meet.test", "jvb@auth.meet.test" }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix"; }}
storage = "internal"

VirtualHost "meet.test"
    authentication = "anonymous"

VirtualHost "auth.meet.test"
    authentication = "internal_hashed"

Component "conference.meet.test" "muc"
    storage = "memory"
    muc_room_locking = false
    muc_room_default_public_jids = {public_jids}

Component "internal.auth.meet.test" "muc"
    storage = "memory"
    muc_room_locking = false
    muc_room_default_public_jids = true

Component "{FOCUS}"
    component_secret = "{FOCUS_SECRET}"
"#,
            root = running_as_root(),
            dir = dir.path().display(),
            data = data.display(),
            cert = cert.display(),
            key = key.display(),
            public_jids = opts.public_jids,
        );
        std::fs::write(&config_path, text).expect("write config");
        let check = ctl_command(&config_path)
            .arg("check")
            .arg("config")
            .output()
            .expect("prosodyctl check config");
        assert!(
            check.status.success(),
            "prosodyctl check config:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut cmd = Command::new("prosody");
        cmd.arg("--config").arg(&config_path).arg("-F");
        let daemon = Daemon::spawn("prosody", cmd, dir.path().join("prosody.log"));
        let server = Self {
            daemon,
            dir,
            config_path,
            c2s_port,
            component_port,
            ca_file,
            ca_pems: vec![ca_pem],
        };
        for (what, port) in [("c2s", c2s_port), ("component", component_port)] {
            assert!(
                wait_port(port, Duration::from_secs(20)),
                "prosody did not open its {what} port {port}\n{}",
                server.daemon.log()
            );
        }
        server
    }

    /// Run `prosodyctl` against this server's config.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        ctl_command(&self.config_path)
            .args(args)
            .output()
            .expect("run prosodyctl")
    }

    /// `prosodyctl register` (works on the data directory directly).
    pub fn register(&self, user: &str, host: &str, password: &str) {
        let out = self.ctl(&["register", user, host, password]);
        assert!(
            out.status.success(),
            "prosodyctl register {user} {host}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn ctl_command(config: &Path) -> Command {
    let mut c = Command::new("prosodyctl");
    c.arg("--config").arg(config);
    c
}

impl XmppDeployment for Prosody {
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn c2s_port(&self) -> u16 {
        self.c2s_port
    }
    fn component_port(&self) -> u16 {
        self.component_port
    }
    fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }
}
