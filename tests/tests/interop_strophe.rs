//! xmpp-server's BOSH (XEP-0124/0206) and WebSocket (RFC 7395) endpoints
//! against strophe.js, the XMPP library inside lib-jitsi-meet, run under
//! Node by `tests/js/strophe_client.mjs`: anonymous and password logins
//! (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN), a wrong password, messages between a
//! BOSH and a WebSocket client, disco#info and ping. Every scenario runs over
//! both transports.
//!
//! Needs `node` and `npm ci` in tests/js (tests/run.sh does that).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meet_tests::xmpp::XmppServer;
use serde_json::Value;

const TRANSPORTS: [&str; 2] = ["bosh", "websocket"];
/// A node process still running after this is killed and the test fails.
const NODE_TIMEOUT: Duration = Duration::from_secs(30);

fn js_dir() -> PathBuf {
    meet_tests::workspace_root().join("tests").join("js")
}

/// Fail (never skip) when the Node side is not installed.
fn check_node_setup() {
    let dir = js_dir();
    let missing: Vec<&str> = ["strophe.js", "@xmldom/xmldom", "ws", "xhr2"]
        .into_iter()
        .filter(|p| {
            !dir.join("node_modules")
                .join(p)
                .join("package.json")
                .is_file()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{}/node_modules is missing {missing:?}: run `npm ci` in tests/js (tests/run.sh does that)",
        dir.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(o) if o.status.success()),
        "`node` is not runnable ({node:?}); the strophe.js interop tests need Node.js >= 18"
    );
}

fn urls(s: &XmppServer) -> Vec<(&'static str, String)> {
    vec![
        (
            "BOSH_URL",
            format!("http://127.0.0.1:{}/http-bind", s.http_port),
        ),
        (
            "WS_URL",
            format!("ws://127.0.0.1:{}/xmpp-websocket", s.http_port),
        ),
    ]
}

/// Run one strophe.js scenario and return its RESULT JSON. Panics (showing
/// the script's stderr, which carries the XMPP traffic Strophe saw; the
/// server log follows from `Daemon`'s drop) if it fails or hangs.
fn strophe(s: &XmppServer, env: &[(&str, &str)]) -> Value {
    check_node_setup();
    let mut cmd = Command::new("node");
    cmd.arg("strophe_client.mjs")
        .current_dir(js_dir())
        .env("DOMAIN", "meet.test")
        .env("TIMEOUT_MS", "25000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in urls(s) {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let what = format!("{env:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait node") {
            break Some(st);
        }
        if start.elapsed() > NODE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "strophe.js scenario {what} hung for {NODE_TIMEOUT:?} and was killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        );
    };
    assert!(
        status.success(),
        "strophe.js scenario {what} failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("strophe.js scenario {what} printed no RESULT line\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad RESULT JSON ({e}): {line}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

fn uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n)
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// The server log without ANSI colour sequences.
fn plain_log(s: &XmppServer) -> String {
    let log = s.daemon.log();
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The mechanism of the last successful login of `bare_jid` the server logged.
fn last_logged_mechanism(s: &XmppServer, bare_jid: &str) -> Option<String> {
    plain_log(s)
        .lines()
        .rev()
        .filter(|l| l.contains("authenticated") && !l.contains("failed"))
        .filter(|l| {
            l.contains(&format!("jid={bare_jid}")) || l.contains(&format!("jid=\"{bare_jid}"))
        })
        .filter_map(|l| l.split("mechanism=").nth(1))
        .map(|m| {
            m.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches('"')
                .to_string()
        })
        .next()
}

fn split_full(jid: &str) -> (&str, &str, &str) {
    let (bare, resource) = jid
        .split_once('/')
        .unwrap_or_else(|| panic!("{jid} is not a full JID"));
    let (node, domain) = bare.split_once('@').unwrap_or(("", bare));
    (node, domain, resource)
}

#[test]
fn anonymous_login_over_bosh_and_websocket() {
    let s = XmppServer::start();
    let mut seen = Vec::new();
    for t in TRANSPORTS {
        let r = strophe(&s, &[("MODE", "anonymous"), ("TRANSPORT", t)]);
        assert_eq!(str_of(&r, "status"), "CONNECTED", "{t}: {r}");
        assert_eq!(str_of(&r, "mechanism"), "ANONYMOUS", "{t}: {r}");
        let jid = str_of(&r, "jid").to_string();
        let (node, domain, resource) = split_full(&jid);
        assert_eq!(domain, "meet.test", "{t}: {jid}");
        // lib-jitsi-meet takes the first 8 hex digits of this as its id.
        assert!(
            uuid_like(node),
            "{t}: anonymous node {node:?} is not a UUID"
        );
        assert!(!resource.is_empty(), "{t}: empty resource in {jid}");
        assert_eq!(
            r["clean_disconnect"],
            Value::Bool(true),
            "{t}: graceful disconnect did not complete: {r}"
        );
        assert_eq!(
            last_logged_mechanism(&s, &format!("{node}@meet.test")).as_deref(),
            Some("ANONYMOUS"),
            "{t}: server did not log the anonymous login of {node}@meet.test"
        );
        seen.push(jid);
    }
    assert_ne!(seen[0], seen[1], "two anonymous logins got the same JID");
}

#[test]
fn password_logins_over_bosh_and_websocket() {
    let s = XmppServer::start();
    s.register("alice", "hashed.test", "wonder land ✓");
    s.register("carol", "sha1.test", "c-pass");
    s.register("dave", "plain.test", "d-pass");
    // (jid, password, mechanisms strophe may use, mechanism expected)
    let cases = [
        // Strophe prefers the strongest mechanism offered.
        ("alice@hashed.test", "wonder land ✓", "", "SCRAM-SHA-256"),
        (
            "alice@hashed.test",
            "wonder land ✓",
            "SCRAM-SHA-1",
            "SCRAM-SHA-1",
        ),
        // hashed.test requires TLS on TCP; BOSH and WebSocket are
        // considered secure by config, so PLAIN is offered and works.
        ("alice@hashed.test", "wonder land ✓", "PLAIN", "PLAIN"),
        // sha1.test disables SCRAM-SHA-256.
        ("carol@sha1.test", "c-pass", "", "SCRAM-SHA-1"),
        // plain.test disables both SCRAMs.
        ("dave@plain.test", "d-pass", "", "PLAIN"),
    ];
    for t in TRANSPORTS {
        for (jid, pass, mechs, expected) in cases {
            let r = strophe(
                &s,
                &[
                    ("MODE", "login"),
                    ("TRANSPORT", t),
                    ("JID", jid),
                    ("PASSWORD", pass),
                    ("MECHANISMS", mechs),
                ],
            );
            let what = format!("{t} {jid} mechanisms={mechs:?}");
            assert_eq!(str_of(&r, "status"), "CONNECTED", "{what}: {r}");
            assert_eq!(str_of(&r, "mechanism"), expected, "{what}: {r}");
            let bound = str_of(&r, "jid");
            let (bare, resource) = bound.split_once('/').unwrap_or((bound, ""));
            assert_eq!(bare, jid, "{what}: bound {bound}");
            assert!(!resource.is_empty(), "{what}: bound {bound}");
            assert_eq!(str_of(&r, "ping_type"), "result", "{what}: {r}");
            assert_eq!(r["clean_disconnect"], Value::Bool(true), "{what}: {r}");
            assert_eq!(
                last_logged_mechanism(&s, jid).as_deref(),
                Some(expected),
                "{what}: server log disagrees"
            );
        }
    }
}

#[test]
fn wrong_password_is_authfail_over_bosh_and_websocket() {
    let s = XmppServer::start();
    s.register("alice", "hashed.test", "right-password");
    s.register("dave", "plain.test", "right-password");
    for t in TRANSPORTS {
        for jid in ["alice@hashed.test", "dave@plain.test", "nobody@hashed.test"] {
            for mechs in ["", "PLAIN"] {
                let r = strophe(
                    &s,
                    &[
                        ("MODE", "wrong-password"),
                        ("TRANSPORT", t),
                        ("JID", jid),
                        ("PASSWORD", "WRONG-guess-123"),
                        ("MECHANISMS", mechs),
                    ],
                );
                let what = format!("{t} {jid} mechanisms={mechs:?}");
                assert_eq!(str_of(&r, "status"), "AUTHFAIL", "{what}: {r}");
                assert_eq!(str_of(&r, "condition"), "not-authorized", "{what}: {r}");
                assert!(
                    !r["statuses"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "CONNECTED")),
                    "{what}: {r}"
                );
            }
        }
    }
    let log = plain_log(&s);
    assert!(
        log.contains("authentication failed"),
        "no failed login logged"
    );
    assert!(
        !log.contains("WRONG-guess-123"),
        "password leaked into the log"
    );
    assert!(
        !log.contains("right-password"),
        "password leaked into the log"
    );
    // The right password still works afterwards.
    let r = strophe(
        &s,
        &[
            ("MODE", "login"),
            ("TRANSPORT", "bosh"),
            ("JID", "alice@hashed.test"),
            ("PASSWORD", "right-password"),
        ],
    );
    assert_eq!(str_of(&r, "status"), "CONNECTED", "{r}");
}

fn check_exchange(r: &Value, to_bare: bool) {
    let a = str_of(r, "a_jid");
    let b = str_of(r, "b_jid");
    let to = |jid: &str| {
        if to_bare {
            jid.split('/').next().unwrap_or(jid).to_string()
        } else {
            jid.to_string()
        }
    };
    // BOSH → WebSocket.
    let got_b = &r["b_received"];
    assert_eq!(
        str_of(got_b, "body"),
        str_of(r, "sent_a_to_b"),
        "body changed on the way: {r}"
    );
    assert_eq!(
        str_of(got_b, "from"),
        a,
        "from must be the sender's full JID: {r}"
    );
    assert_eq!(str_of(got_b, "to"), to(b), "{r}");
    assert_eq!(str_of(got_b, "id"), "m-a2b", "{r}");
    assert_eq!(str_of(got_b, "type"), "chat", "{r}");
    // WebSocket → BOSH.
    let got_a = &r["a_received"];
    assert_eq!(
        str_of(got_a, "body"),
        str_of(r, "sent_b_to_a"),
        "body changed on the way: {r}"
    );
    assert_eq!(
        str_of(got_a, "from"),
        b,
        "from must be the sender's full JID: {r}"
    );
    assert_eq!(str_of(got_a, "to"), to(a), "{r}");
    assert_eq!(str_of(got_a, "id"), "m-b2a", "{r}");
    assert_eq!(r["clean_disconnect"], Value::Bool(true), "{r}");
}

#[test]
fn messages_between_a_bosh_and_a_websocket_client() {
    let s = XmppServer::start();
    // Anonymous users, addressed by full JID (what Jitsi Meet clients do).
    let r = strophe(&s, &[("MODE", "message")]);
    assert!(str_of(&r, "a_jid").contains("@meet.test/"), "{r}");
    assert!(str_of(&r, "b_jid").contains("@meet.test/"), "{r}");
    check_exchange(&r, false);

    // Registered users, addressed by bare JID.
    s.register("alice", "hashed.test", "a-pass");
    s.register("bob", "hashed.test", "b-pass");
    let r = strophe(
        &s,
        &[
            ("MODE", "message"),
            ("JID_A", "alice@hashed.test"),
            ("PASSWORD_A", "a-pass"),
            ("JID_B", "bob@hashed.test"),
            ("PASSWORD_B", "b-pass"),
            ("TO_BARE", "1"),
        ],
    );
    assert!(str_of(&r, "a_jid").starts_with("alice@hashed.test/"), "{r}");
    assert!(str_of(&r, "b_jid").starts_with("bob@hashed.test/"), "{r}");
    check_exchange(&r, true);
}

#[test]
fn disco_info_and_ping_over_bosh_and_websocket() {
    let s = XmppServer::start();
    for t in TRANSPORTS {
        let r = strophe(&s, &[("MODE", "disco"), ("TRANSPORT", t)]);
        assert_eq!(str_of(&r, "disco_type"), "result", "{t}: {r}");
        assert_eq!(str_of(&r, "disco_from"), "meet.test", "{t}: {r}");
        let features: Vec<&str> = r["features"]
            .as_array()
            .unwrap_or_else(|| panic!("{t}: no features: {r}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for f in ["urn:xmpp:ping", "http://jabber.org/protocol/disco#info"] {
            assert!(
                features.contains(&f),
                "{t}: missing feature {f}: {features:?}"
            );
        }
        let identities: Vec<(&str, &str, &str)> = r["identities"]
            .as_array()
            .unwrap_or_else(|| panic!("{t}: no identities: {r}"))
            .iter()
            .map(|i| {
                (
                    str_of(i, "category"),
                    str_of(i, "type"),
                    i["name"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert!(
            identities.contains(&("component", "speakerstats", "speakerstats.meet.test")),
            "{t}: {identities:?}"
        );
        assert!(
            identities.contains(&(
                "component",
                "conference_duration",
                "conferenceduration.meet.test"
            )),
            "{t}: {identities:?}"
        );
        assert_eq!(str_of(&r, "ping_type"), "result", "{t}: {r}");
        assert_eq!(str_of(&r, "ping_from"), "meet.test", "{t}: {r}");
        assert_eq!(str_of(&r, "ping_id"), "ping1", "{t}: {r}");
        assert_eq!(r["clean_disconnect"], Value::Bool(true), "{t}: {r}");
    }
}
