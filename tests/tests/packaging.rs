//! The meet-rs .deb (cargo-deb, [package.metadata.deb] in crates/meetctl):
//! built from the debug binaries the test suite already has, its contents,
//! control fields and maintainer scripts checked, then installed, run,
//! upgraded, removed and purged for real in a throwaway root
//! (tests/packaging/throwaway-install.sh: an overlay over this machine's
//! root in private mount and network namespaces).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use meet_tests::{binary, workspace_root};

const BINARIES: [&str; 5] = ["xmpp-server", "focus", "videobridge", "meet-web", "meetctl"];
const UNITS: [&str; 5] = [
    "meet-rs-xmpp-server.service",
    "meet-rs-focus.service",
    "meet-rs-videobridge.service",
    "meet-rs-web.service",
    "meet-rs.target",
];
const USERS: [&str; 4] = ["meet-xmpp", "meet-focus", "meet-jvb", "meet-web"];

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cargo deb` without building: the debug binaries, stripped. A release
/// build would add many minutes of CI for the same packaging checks.
fn build_deb(out: &Path, version: Option<&str>) -> PathBuf {
    for b in BINARIES {
        assert!(binary(b).exists(), "{b} not built");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let probe = Command::new(&cargo).args(["deb", "--version"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "cargo-deb is missing: cargo install cargo-deb --locked (tests/run.sh does it)"
    );
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "deb",
        "-p",
        "meetctl",
        "--no-build",
        "--profile",
        "dev",
        "--fast",
        "--quiet",
        "-o",
    ])
    .arg(out)
    .current_dir(workspace_root());
    if let Some(v) = version {
        cmd.args(["--deb-version", v]);
    }
    run(&mut cmd);
    out.to_path_buf()
}

#[test]
fn the_deb_has_the_stack_and_sound_maintainer_scripts_and_installs_for_real() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = build_deb(&dir.path().join("meet-rs-old.deb"), None);

    // Contents: every binary, every unit, no file under /etc (the configs
    // are made by `meetctl setup` in postinst, so dpkg never owns,
    // prompts about or replaces them).
    let listing = text(&run(Command::new("dpkg-deb").arg("-c").arg(&old)));
    for b in BINARIES {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!(" ./usr/bin/{b}")))
            .unwrap_or_else(|| panic!("{b} missing:\n{listing}"));
        assert!(line.starts_with("-rwxr-xr-x 0/0 "), "{line}");
    }
    for u in UNITS {
        assert!(
            listing.contains(&format!("./usr/lib/systemd/system/{u}\n")),
            "{u} missing:\n{listing}"
        );
    }
    for doc in [
        "install.md",
        "operations.md",
        "configuration.md",
        "examples/focus.toml",
    ] {
        assert!(
            listing.contains(&format!("./usr/share/doc/meet-rs/{doc}\n")),
            "{doc} missing"
        );
    }
    assert!(
        listing.contains("./usr/share/meet-rs/web/"),
        "static_root missing"
    );
    // The meeting UI itself, with its sub-folders kept.
    assert!(
        listing.contains("./usr/share/meet-rs/web/index.html")
            && listing.contains("./usr/share/meet-rs/web/libs/jquery-3.6.0.min.js"),
        "the UI is not in the package: {listing}"
    );
    assert!(
        !listing.contains(" ./etc/"),
        "the package ships files in /etc:\n{listing}"
    );

    // Control: name, dependencies of the maintainer scripts, no conffiles.
    let info = text(&run(Command::new("dpkg-deb").arg("-I").arg(&old)));
    assert!(info.contains("Package: meet-rs"), "{info}");
    let depends = text(&run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&old)
        .arg("Depends")));
    for dep in ["libc6", "passwd", "init-system-helpers", "hostname"] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    assert!(!info.contains("conffiles"), "{info}");

    // Maintainer scripts: extracted, valid sh, doing their jobs.
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&old).arg(&control));
    let script = |name: &str| {
        let path = control.join(name);
        run(Command::new("sh").arg("-n").arg(&path));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect(name).permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name} not executable");
        std::fs::read_to_string(&path).expect(name)
    };
    let postinst = script("postinst");
    let prerm = script("prerm");
    let postrm = script("postrm");
    for user in USERS {
        assert!(
            postinst.contains(&format!("create_user {user} ")),
            "postinst: {user}"
        );
        assert!(postrm.contains(user), "postrm does not remove {user}");
    }
    for unit in UNITS {
        assert!(
            postinst.contains(unit) && postrm.contains(unit),
            "{unit} not handled"
        );
    }
    assert!(postinst.contains("meetctl setup --domain \"$domain\""));
    assert!(postinst.contains("/etc/meet-rs/domain") && postinst.contains("hostname -f"));
    assert!(prerm.contains("deb-systemd-invoke stop meet-rs.target"));
    assert!(postrm.contains("rm -rf /etc/meet-rs /var/lib/meet-rs"));
    assert!(postrm.contains("userdel"));

    // For real: install, run, upgrade, remove, purge in a throwaway root.
    let new = build_deb(
        &dir.path().join("meet-rs-new.deb"),
        Some(&format!(
            "{}+upgradetest",
            text(&run(Command::new("dpkg-deb")
                .arg("-f")
                .arg(&old)
                .arg("Version")))
            .trim()
        )),
    );
    let script = workspace_root().join("tests/packaging/throwaway-install.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(&old)
        .arg(&new)
        .output()
        .expect("throwaway-install.sh");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("throwaway-install: OK"),
        "installing the package in a throwaway root failed (needs root: unshare, overlayfs, chroot):\n{log}"
    );
    assert!(log.contains("meet-web: healthy"), "{log}");
}
