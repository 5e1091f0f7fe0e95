//! `meetctl up`: generates a consistent deployment (secrets, certificates,
//! accounts) and runs the daemons; the generated focus and jvb accounts and
//! the focus component secret work against the running xmpp-server, and a
//! second run keeps the secrets.

use std::process::Command;
use std::time::Duration;

use meet_tests::scenario::http_get;
use meet_tests::tx::TxClient;
use meet_tests::{Daemon, binary, free_port, wait_port};

fn secret(state: &std::path::Path, key: &str) -> String {
    let text = std::fs::read_to_string(state.join("secrets.toml")).expect("secrets.toml");
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("{key} missing from secrets.toml"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_generates_a_working_deployment_and_stops_on_sigterm() {
    let meetctl = binary("meetctl");
    let _ = binary("xmpp-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let (c2s, http, comp) = (free_port(), free_port(), free_port());
    let (jvb_udp, jvb_http) = (free_port(), free_port());
    let (focus_http, web) = (free_port(), free_port());
    // A stand-in for the built UI, so the test needs no npm build.
    let root = dir.path().join("ui");
    std::fs::create_dir_all(&root).expect("ui dir");
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><title>meet-rs test UI</title>",
    )
    .expect("index.html");
    let mut cmd = Command::new(&meetctl);
    cmd.args(["up", "--state"]).arg(&state).args([
        "--c2s-port",
        &c2s.to_string(),
        "--http-port",
        &http.to_string(),
        "--component-port",
        &comp.to_string(),
        "--jvb-udp-port",
        &jvb_udp.to_string(),
        "--jvb-http-port",
        &jvb_http.to_string(),
        "--focus-http-port",
        &focus_http.to_string(),
        "--web-port",
        &web.to_string(),
        "--web-root",
    ]);
    cmd.arg(&root);
    let mut up = Daemon::spawn("meetctl up", cmd, dir.path().join("up.log"));
    up.wait_for_log("[xmpp-server]", Duration::from_secs(60));
    up.wait_for_log("xmpp-server ready", Duration::from_secs(30));
    assert!(wait_port(c2s, Duration::from_secs(10)));
    assert!(
        up.log().contains(&format!("localhost:{c2s}")),
        "{}",
        up.log()
    );

    // Secrets are in a file only the owner can read.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("secrets.toml"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "secrets.toml is readable by others: {mode:o}"
    );

    // The focus and jvb accounts exist with the generated passwords.
    let certs: Vec<String> = ["localhost", "auth.localhost"]
        .iter()
        .map(|h| std::fs::read_to_string(state.join(format!("xmpp-server/{h}.crt"))).expect("cert"))
        .collect();
    for (user, key) in [("focus", "focus_password"), ("jvb", "jvb_password")] {
        let c = TxClient::login(
            c2s,
            &certs,
            &format!("{user}@auth.localhost"),
            &secret(&state, key),
        )
        .await
        .unwrap_or_else(|e| panic!("{user} login: {e}\n{}", up.log()));
        assert!(
            c.jid.starts_with(&format!("{user}@auth.localhost/")),
            "{}",
            c.jid
        );
    }
    // The videobridge joined the brewery with its stats (the focus's view).
    let mut focus = TxClient::login(
        c2s,
        &certs,
        "focus@auth.localhost",
        &secret(&state, "focus_password"),
    )
    .await
    .expect("focus");
    focus
        .send_xml("<presence xmlns='jabber:client' to='jvbbrewery@internal.auth.localhost/focus-test'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        .await;
    let bridge = focus
        .next_matching(|e| {
            e.name() == "presence"
                && e.attr("from").is_some_and(|f| f.ends_with("/jvb-local-1"))
                && e.has_child("stats", "http://jitsi.org/protocol/colibri")
        })
        .await
        .unwrap_or_else(|e| panic!("no bridge in the brewery: {e}\n{}", up.log()));
    assert!(String::from(&bridge).contains("stress_level"));
    assert!(
        wait_port(jvb_http, Duration::from_secs(10)),
        "videobridge HTTP"
    );
    // Anonymous users on the main domain.
    let anon = TxClient::login(c2s, &certs, "x@localhost", "")
        .await
        .expect("anonymous");
    assert!(anon.jid.ends_with(|c: char| c != '/'), "{}", anon.jid);

    // The focus (component secret, account, brewery) is healthy: the
    // guide's `curl localhost:8888/about/health`, on our test port.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = http_get(focus_http, "/about/health").await;
        if code == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "focus not healthy: {code} {body}\n{}",
            up.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // meet-web serves the UI, a room URL and config.js for this deployment.
    assert!(
        wait_port(web, Duration::from_secs(10)),
        "meet-web\n{}",
        up.log()
    );
    let (code, body) = http_get(web, "/").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("meet-rs test UI"));
    let (code, body) = http_get(web, "/someroom").await;
    assert!(
        code == 200 && body.contains("meet-rs test UI"),
        "{code} {body}"
    );
    let (code, body) = http_get(web, "/config.js").await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("conference.localhost") && body.contains("/http-bind"),
        "{body}"
    );
    // BOSH through meet-web reaches xmpp-server.
    let (code, _) = http_get(web, "/http-bind").await;
    assert_ne!(code, 502, "the BOSH proxy is broken\n{}", up.log());

    // Ctrl-C / SIGTERM stops everything cleanly.
    assert_eq!(up.terminate(), Some(0), "{}", up.log());
    for d in ["xmpp-server", "videobridge", "focus", "meet-web"] {
        assert!(
            up.log().contains(&format!("meetctl: {d} stopped")),
            "{}",
            up.log()
        );
    }

    // A second generation keeps the secrets.
    let before = secret(&state, "focus_password");
    let out = Command::new(&meetctl)
        .args(["up", "--generate-only", "--state"])
        .arg(&state)
        .arg("--web-root")
        .arg(&root)
        .output()
        .expect("meetctl up --generate-only");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(secret(&state, "focus_password"), before);
}

/// PIDs of running processes whose command line contains every `needle`.
fn pids_with(needles: &[&str]) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if needles.iter().all(|n| cmd.contains(n)) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_dies_takes_the_stack_down() {
    let meetctl = binary("meetctl");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let root = dir.path().join("ui");
    std::fs::create_dir_all(&root).expect("ui dir");
    std::fs::write(root.join("index.html"), "<!doctype html>").expect("index.html");
    let (c2s, focus_http, web) = (free_port(), free_port(), free_port());
    let mut cmd = Command::new(&meetctl);
    cmd.args(["up", "--state"]).arg(&state);
    for (flag, port) in [
        ("--c2s-port", c2s),
        ("--http-port", free_port()),
        ("--component-port", free_port()),
        ("--jvb-udp-port", free_port()),
        ("--jvb-http-port", free_port()),
        ("--focus-http-port", focus_http),
        ("--web-port", web),
    ] {
        cmd.arg(flag).arg(port.to_string());
    }
    cmd.arg("--web-root").arg(&root);
    let mut up = Daemon::spawn("meetctl up", cmd, dir.path().join("up.log"));
    for port in [c2s, focus_http, web] {
        assert!(
            wait_port(port, Duration::from_secs(60)),
            "port {port}\n{}",
            up.log()
        );
    }
    // meet-web dies (kill -9): meetctl stops the others and says why.
    let web_toml = state.join("web.toml");
    let victims = pids_with(&["meet-web", &web_toml.to_string_lossy()]);
    assert_eq!(victims.len(), 1, "{victims:?}");
    let _ = Command::new("kill")
        .args(["-KILL", &victims[0].to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while up.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "meetctl kept running\n{}",
            up.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = up.log();
    assert!(log.contains("meet-web exited"), "{log}");
    for d in ["xmpp-server", "videobridge", "focus"] {
        assert!(log.contains(&format!("meetctl: {d} stopped")), "{log}");
    }
    // Nothing is left holding the ports.
    let state_str = state.to_string_lossy();
    assert!(
        pids_with(&[&state_str]).is_empty(),
        "daemons left running\n{log}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", c2s)).is_err());
}
