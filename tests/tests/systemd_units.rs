//! The systemd units in systemd/: `systemd-analyze verify` accepts them (with
//! their ExecStart binaries present: a copy points at the built target/
//! binaries), and they say what the deployment relies on — readiness,
//! restarts, one user each and the same users meetctl and the package use,
//! hardening, start order, meet-web's single capability.

use std::path::PathBuf;
use std::process::Command;

use meet_tests::{binary, workspace_root};

const SERVICES: [(&str, &str, &str); 4] = [
    // (unit, binary, user)
    ("meet-rs-xmpp-server.service", "xmpp-server", "meet-xmpp"),
    ("meet-rs-focus.service", "focus", "meet-focus"),
    ("meet-rs-videobridge.service", "videobridge", "meet-jvb"),
    ("meet-rs-web.service", "meet-web", "meet-web"),
];

fn unit_dir() -> PathBuf {
    workspace_root().join("systemd")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(unit_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every value of `key=` in the unit (keys may repeat).
fn values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

fn words(text: &str, key: &str) -> Vec<String> {
    values(text, key)
        .iter()
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        analyze.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: install the systemd package (tests/run.sh does: apt-get install systemd)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(unit_dir()).expect("systemd/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut text = std::fs::read_to_string(&path).expect("read unit");
        // The installed paths, /usr/bin/NAME, become the built binaries.
        for (_, bin, _) in SERVICES.iter().chain(&[("", "meetctl", "")]) {
            let built = binary(bin);
            assert!(built.exists(), "{} not built", built.display());
            text = text.replace(
                &format!("/usr/bin/{bin} "),
                &format!("{} ", built.display()),
            );
        }
        assert!(!text.contains("/usr/bin/"), "{name}: unrewritten path");
        let copy = dir.path().join(&name);
        std::fs::write(&copy, text).expect("write copy");
        files.push(copy);
    }
    assert_eq!(
        files.len(),
        5,
        "four services and meet-rs.target: {files:?}"
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Warnings (unknown keys, bad values) do not change the exit status, so
    // any output at all fails the test.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify:\n{stderr}{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_service_is_notify_restarting_hardened_and_runs_as_its_user() {
    let daemons_rs =
        std::fs::read_to_string(workspace_root().join("crates/meetctl/src/daemons.rs"))
            .expect("daemons.rs");
    let postinst = std::fs::read_to_string(workspace_root().join("packaging/debian/postinst"))
        .expect("postinst");
    for (unit, bin, user) in SERVICES {
        let text = read(unit);
        let one = |key: &str| values(&text, key).join(" ");
        assert_eq!(one("Type"), "notify", "{unit}");
        assert_eq!(one("Restart"), "on-failure", "{unit}");
        assert_eq!(one("User"), user, "{unit}");
        assert_eq!(one("Group"), user, "{unit}");
        for (key, want) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
        ] {
            assert_eq!(one(key), want, "{unit}: {key}");
        }
        let config = format!("/etc/meet-rs/{}.toml", bin.trim_start_matches("meet-"));
        assert_eq!(
            one("ExecStart"),
            format!("/usr/bin/{bin} --config {config}"),
            "{unit}"
        );
        assert!(one("ExecStartPre").ends_with("check-config"), "{unit}");
        assert_eq!(one("PartOf"), "meet-rs.target", "{unit}");
        assert_eq!(one("WantedBy"), "meet-rs.target", "{unit}");
        // The same user in meetctl (secrets' group) and in the package.
        assert!(
            daemons_rs.contains(&format!("user: \"{user}\"")),
            "{user} not in daemons.rs"
        );
        assert!(
            postinst.contains(&format!("create_user {user} ")),
            "{user} not made by postinst"
        );
        // Only meet-web binds privileged ports.
        let caps = one("AmbientCapabilities");
        if bin == "meet-web" {
            assert_eq!(caps, "CAP_NET_BIND_SERVICE");
            assert_eq!(one("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
        } else {
            assert!(caps.is_empty(), "{unit} has capabilities: {caps}");
            assert_eq!(one("CapabilityBoundingSet"), "", "{unit}");
        }
    }
    let xmpp = read("meet-rs-xmpp-server.service");
    assert_eq!(values(&xmpp, "StateDirectory"), ["meet-rs/xmpp-server"]);
    assert_eq!(
        values(&xmpp, "ReadWritePaths"),
        ["/var/lib/meet-rs/xmpp-server"]
    );
    // The guide's jicofo settings, optional.
    assert_eq!(
        values(&read("meet-rs-focus.service"), "EnvironmentFile"),
        ["-/etc/jitsi/jicofo/config"]
    );
}

#[test]
fn the_target_starts_xmpp_server_first_and_web_last() {
    let target = read("meet-rs.target");
    let wants = words(&target, "Wants");
    for (unit, _, _) in SERVICES {
        assert!(
            wants.iter().any(|w| w == unit),
            "meet-rs.target does not want {unit}"
        );
    }
    assert_eq!(values(&target, "WantedBy"), ["multi-user.target"]);
    let after = |unit: &str| words(&read(unit), "After");
    for unit in ["meet-rs-focus.service", "meet-rs-videobridge.service"] {
        assert!(
            after(unit)
                .iter()
                .any(|u| u == "meet-rs-xmpp-server.service"),
            "{unit} does not start after xmpp-server"
        );
    }
    let web = after("meet-rs-web.service");
    for (unit, _, _) in &SERVICES[..3] {
        assert!(
            web.iter().any(|u| u == unit),
            "meet-web does not start after {unit}"
        );
    }
    assert!(
        !after("meet-rs-xmpp-server.service")
            .iter()
            .any(|u| u.starts_with("meet-rs-"))
    );
}
