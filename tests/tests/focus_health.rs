//! The focus against a real xmpp-server (jitsi-protocol.md §1.1–1.3, §5,
//! §7.1): its component answers conference requests, its client joins the
//! brewery and health-checks the bridges there, and `/about/health` follows
//! the bridges — 500 with jicofo's exact text without an operational one,
//! 200 with an empty body with one.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use meet_tests::scenario::http_get as http;
use meet_tests::tx::TxClient;
use meet_tests::xmpp::{FOCUS, XmppServer};
use meet_tests::{Daemon, binary, wait_port};
use minidom::Element;

const BREWERY: &str = "jvbbrewery@internal.auth.meet.test";
const FOCUS_NS: &str = "http://jitsi.org/protocol/focus";
const NO_BRIDGES: &str = "No operational bridges available (total bridge count: 0)";

fn focus_binary() -> std::path::PathBuf {
    binary("focus")
}

/// The real videobridge in the brewery.
fn start_videobridge(s: &XmppServer) -> Daemon {
    meet_tests::videobridge::start(s, "jvb-real", None).daemon
}

fn start_focus(s: &XmppServer) -> (Daemon, u16) {
    let f = meet_tests::focus::start(s, "");
    (f.daemon, f.http_port)
}

/// Polls `/about/health` until it answers `want` (status, body).
async fn wait_health(port: u16, want: (u16, &str), focus: &Daemon) {
    meet_tests::scenario::wait_health(port, want, || focus.log()).await;
}

/// A stand-in bridge: jvb@auth.meet.test in the brewery with stats,
/// answering health checks (with a result, or `internal-server-error` when
/// `healthy` is false) until told to leave.
async fn fake_bridge(
    s: &XmppServer,
    answered: Arc<AtomicUsize>,
    healthy: bool,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut jvb = TxClient::login(s.c2s_port, &s.ca_pems, "jvb@auth.meet.test", "jvb-pw")
        .await
        .expect("jvb login");
    jvb.send_xml(&format!(
        "<presence xmlns='jabber:client' to='{BREWERY}/jvb-fake'><x xmlns='http://jabber.org/protocol/muc'/><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.1'/></stats></presence>"
    ))
    .await;
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut rx => {
                    jvb.send_xml(&format!(
                        "<presence xmlns='jabber:client' type='unavailable' to='{BREWERY}/jvb-fake'/>"
                    ))
                    .await;
                    // Keep the stream open until the room has told everyone.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    return;
                }
                el = jvb.recv() => {
                    let Ok(Some(el)) = el else { return };
                    if el.name() == "iq"
                        && el.attr("type") == Some("get")
                        && el.get_child("healthcheck", "http://jitsi.org/protocol/healthcheck").is_some()
                    {
                        answered.fetch_add(1, Ordering::SeqCst);
                        let (id, to) = (el.attr("id").unwrap_or(""), el.attr("from").unwrap_or(""));
                        let reply = if healthy {
                            format!("<iq xmlns='jabber:client' type='result' id='{id}' to='{to}'/>")
                        } else {
                            format!("<iq xmlns='jabber:client' type='error' id='{id}' to='{to}'><error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
                        };
                        jvb.send_xml(&reply).await;
                    }
                }
            }
        }
    });
    (tx, task)
}

#[test]
fn check_config_names_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("focus.toml");
    std::fs::write(
        &config,
        "[jicofo]\ndomain = \"meet.test\"\nauth_domain = \"auth.meet.test\"\nauth_password = \"pw\"\nbridge_muc = \"JvbBrewery@internal.auth.meet.test\"\ndisable_certificate_verification = true\n",
    )
    .expect("write config");
    let run = |secret: Option<&str>| {
        let mut cmd = Command::new(focus_binary());
        cmd.arg("--config").arg(&config).arg("check-config");
        cmd.env_remove("JICOFO_SECRET");
        if let Some(v) = secret {
            cmd.env("JICOFO_SECRET", v);
        }
        cmd.output().expect("check-config")
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("focus.toml")
            && err.contains("jicofo.secret")
            && err.contains("JICOFO_SECRET"),
        "{err}"
    );
    // The guide's variable supplies what the file lacks.
    let out = run(Some("secret1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_brewery_and_conference_requests_are_answered() {
    let s = XmppServer::start();
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    let (mut focus, http_port) = start_focus(&s);

    // Both connections up, no bridge yet: jicofo's exact text.
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let (leave, bridge) = fake_bridge(&s, answered.clone(), true).await;
    wait_health(http_port, (200, ""), &focus).await;
    let stats = http(http_port, "/stats").await;
    let v: serde_json::Value = serde_json::from_str(&stats.1).expect("stats json");
    assert_eq!(v["bridge_selector"]["bridge_count"], 1, "{v}");
    assert_eq!(v["bridge_selector"]["operational_bridge_count"], 1, "{v}");

    // The focus health-checks the bridge (every 10 s) and stays healthy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no health check reached the bridge\n{}",
            focus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(http(http_port, "/about/health").await, (200, String::new()));

    let _ = leave.send(());
    let _ = bridge.await;
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;

    // A bridge failing its health check is known but not operational.
    // (Operational at first, until its next check: up to 10 s.)
    let (leave, bridge) = fake_bridge(&s, Arc::new(AtomicUsize::new(0)), false).await;
    wait_health(
        http_port,
        (
            500,
            "No operational bridges available (total bridge count: 1)",
        ),
        &focus,
    )
    .await;
    let _ = leave.send(());
    let _ = bridge.await;
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;

    // Conference requests from an anonymous client, through the component.
    let mut user = TxClient::login(s.c2s_port, &s.ca_pems, "anon@meet.test", "")
        .await
        .expect("anonymous login");
    user.send_xml(&format!(
        "<iq xmlns='jabber:client' type='set' id='conf-1' to='{FOCUS}'><conference xmlns='{FOCUS_NS}' room='room1@conference.meet.test' machine-uid='m1'><property name='startAudioMuted' value='9'/></conference></iq>"
    ))
    .await;
    let r = user
        .next_matching(|e| e.attr("id") == Some("conf-1"))
        .await
        .expect("conference answer");
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let c: &Element = r.get_child("conference", FOCUS_NS).expect("conference");
    assert_eq!(c.attr("ready"), Some("true"));
    assert_eq!(c.attr("focusjid"), Some("focus@auth.meet.test"));
    assert_eq!(c.attr("room"), Some("room1@conference.meet.test"));

    user.send_xml(&format!(
        "<iq xmlns='jabber:client' type='set' id='conf-2' to='{FOCUS}'><conference xmlns='{FOCUS_NS}'/></iq>"
    ))
    .await;
    let r = user
        .next_matching(|e| e.attr("id") == Some("conf-2"))
        .await
        .expect("conference error");
    assert_eq!(r.attr("type"), Some("error"), "{}", String::from(&r));
    assert!(
        String::from(&r).contains("bad-request"),
        "{}",
        String::from(&r)
    );

    let (status, body) = http(http_port, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("jicofo_conference_requests_total 2"),
        "{body}"
    );

    assert_eq!(focus.terminate(), Some(0), "{}", focus.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_videobridge_makes_the_focus_healthy() {
    let s = XmppServer::start();
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    let (mut focus, http_port) = start_focus(&s);
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;

    let mut bridge = start_videobridge(&s);
    wait_health(http_port, (200, ""), &focus).await;
    // A health-check round trip with the real bridge keeps it operational.
    focus.wait_for_log("bridge joined the brewery", Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(11)).await;
    let m = http(http_port, "/metrics").await.1;
    assert!(
        m.contains("jicofo_bridge_health_check_failures_total 0"),
        "{m}"
    );
    assert!(!m.contains("jicofo_bridge_health_checks_total 0"), "{m}");
    assert_eq!(http(http_port, "/about/health").await, (200, String::new()));

    // A clean stop leaves the brewery: no bridge left.
    assert_eq!(bridge.terminate(), Some(0), "{}", bridge.log());
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;
    assert_eq!(focus.terminate(), Some(0), "{}", focus.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_rejoins_after_the_xmpp_server_restarts() {
    let mut s = XmppServer::start();
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    let (mut focus, http_port) = start_focus(&s);
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;

    // Same ports and data: the accounts survive.
    assert!(s.daemon.terminate().is_some(), "xmpp-server did not stop");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http(http_port, "/about/health").await;
        if status == 500 && body.contains("is down") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lost connection never showed in /about/health: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut cmd = Command::new(binary("xmpp-server"));
    cmd.arg("--config").arg(&s.config_path);
    s.daemon = Daemon::spawn(
        "xmpp-server (restarted)",
        cmd,
        s.dir.path().join("xmpp-server-2.log"),
    );
    assert!(wait_port(s.c2s_port, Duration::from_secs(20)));
    s.daemon
        .wait_for_log("xmpp-server ready", Duration::from_secs(20));

    // Both connections come back and the brewery is rejoined.
    wait_health(http_port, (500, NO_BRIDGES), &focus).await;
    let (leave, bridge) = fake_bridge(&s, Arc::new(AtomicUsize::new(0)), true).await;
    wait_health(http_port, (200, ""), &focus).await;
    let _ = leave.send(());
    let _ = bridge.await;
    assert_eq!(focus.terminate(), Some(0), "{}", focus.log());
}
