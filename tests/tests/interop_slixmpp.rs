//! xmpp-server's XEP-0114 component listener against slixmpp's
//! `ComponentXMPP` (Python; jicofo and jigasi are components of this kind),
//! run by `tests/python/component_client.py`: the handshake, a wrong secret,
//! the component talking to the server, and routing between a component and
//! a client (tokio-xmpp) in both directions.
//!
//! Needs slixmpp: `python3 -m pip install -r tests/python/requirements.txt`
//! (tests/run.sh does that).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meet_tests::tx::TxClient;
use meet_tests::xmpp::{FOCUS, FOCUS_SECRET, XmppServer};
use minidom::Element;
use serde_json::Value;
use xmpp_parsers::jid::Jid;

/// A python process still running after this is killed and the test fails.
const PY_TIMEOUT: Duration = Duration::from_secs(30);
const FOCUS_NS: &str = "http://jitsi.org/protocol/focus";

fn script() -> PathBuf {
    meet_tests::workspace_root()
        .join("tests")
        .join("python")
        .join("component_client.py")
}

/// Fail (never skip) when slixmpp is not installed.
fn check_slixmpp() {
    let out = Command::new("python3")
        .args(["-c", "import slixmpp; print(slixmpp.__version__)"])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "slixmpp is not importable by python3 ({}): run `python3 -m pip install -r tests/python/requirements.txt` (tests/run.sh does that)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "python3 is not runnable ({e}); the slixmpp interop tests need Python 3 with slixmpp"
        ),
    }
}

/// The component script, running; killed on drop.
struct Slix {
    child: Child,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    started: Instant,
    what: String,
}

impl Slix {
    fn spawn(s: &XmppServer, mode: &str, secret: &str) -> Self {
        check_slixmpp();
        let mut child = Command::new("python3")
            .arg(script())
            .arg(mode)
            .env("COMPONENT_HOST", "127.0.0.1")
            .env("COMPONENT_PORT", s.component_port.to_string())
            .env("COMPONENT_JID", FOCUS)
            .env("COMPONENT_SECRET", secret)
            .env("SERVER_DOMAIN", "meet.test")
            .env("TIMEOUT", "25")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match stderr_pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut s) = sink.lock() {
                            s.push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    }
                }
            }
        });
        Self {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            started: Instant::now(),
            what: format!("component_client.py {mode}"),
        }
    }

    fn report(&mut self, why: &str) -> String {
        // Give the stderr reader a moment after the process ended.
        std::thread::sleep(Duration::from_millis(200));
        let status = self.child.try_wait().ok().flatten();
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!(
            "{}: {why} (exit status {status:?})\n--- stdout ---\n{}\n--- stderr (slixmpp log) ---\n{err}",
            self.what,
            self.stdout.join("\n")
        )
    }

    /// The next stdout line starting with `prefix` (the rest of it).
    fn line(&mut self, prefix: &str) -> String {
        loop {
            let left = PY_TIMEOUT.saturating_sub(self.started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.stdout.push(l.clone());
                    if let Some(rest) = l.strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let msg =
                        self.report(&format!("no {prefix:?} line within {PY_TIMEOUT:?}; killed"));
                    panic!("{msg}");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let msg = self.report(&format!("exited before printing {prefix:?}"));
                    panic!("{msg}");
                }
            }
        }
    }

    /// Wait for the RESULT line and a successful exit.
    fn result(&mut self) -> Value {
        let line = self.line("RESULT ");
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) if st.success() => break,
                Ok(Some(_)) => {
                    let msg = self.report("failed after its RESULT");
                    panic!("{msg}");
                }
                _ if self.started.elapsed() > PY_TIMEOUT => {
                    let _ = self.child.kill();
                    let msg = self.report("did not exit after its RESULT; killed");
                    panic!("{msg}");
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad RESULT JSON ({e}): {line}"))
    }
}

impl Drop for Slix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// tokio-xmpp's stream layer with binding on top (see meet_tests::tx for
/// why not its high-level Client).
async fn login(s: &XmppServer, jid: &str, password: &str) -> (TxClient, Jid) {
    let c = TxClient::login(s.c2s_port, &s.ca_pems, jid, password)
        .await
        .unwrap_or_else(|e| panic!("login failed: {e}"));
    let bound: Jid = c.jid.parse().expect("bound JID");
    (c, bound)
}

async fn send(client: &mut TxClient, xml: &str) {
    client.send_xml(xml).await;
}

async fn next_stanza(client: &mut TxClient, pred: impl Fn(&Element) -> bool) -> Element {
    client
        .next_matching(pred)
        .await
        .unwrap_or_else(|e| panic!("waiting for a stanza: {e}"))
}

fn component_log_lines(s: &XmppServer) -> Vec<String> {
    s.daemon
        .log()
        .lines()
        .map(|l| {
            // Without ANSI colours.
            let mut out = String::new();
            let mut it = l.chars();
            while let Some(c) = it.next() {
                if c == '\u{1b}' {
                    for d in it.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            out
        })
        .filter(|l| l.contains("component") && l.contains(FOCUS))
        .collect()
}

#[test]
fn slixmpp_component_connects_and_talks_to_the_server() {
    let s = XmppServer::start();
    let r = Slix::spawn(&s, "connect", FOCUS_SECRET).result();
    assert_eq!(r["session_started"], Value::Bool(true), "{r}");
    assert_eq!(str_of(&r, "jid"), FOCUS, "{r}");
    // The component pings and disco#infos the XMPP domain (jicofo does).
    assert_eq!(
        str_of(&r, "server_ping"),
        "result",
        "ping from the component to meet.test: {r}"
    );
    let features: Vec<&str> = r["server_features"]
        .as_array()
        .unwrap_or_else(|| panic!("disco#info from the component to meet.test failed: {r}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for f in ["urn:xmpp:ping", "http://jabber.org/protocol/disco#info"] {
        assert!(features.contains(&f), "missing {f}: {features:?}");
    }
    let identities = r["server_identities"].to_string();
    assert!(identities.contains("\"speakerstats\""), "{identities}");
    let lines = component_log_lines(&s);
    assert!(
        lines.iter().any(|l| l.contains("component connected")),
        "{lines:?}"
    );
}

#[test]
fn slixmpp_component_with_a_wrong_secret_is_refused() {
    let s = XmppServer::start();
    let r = Slix::spawn(&s, "wrong-secret", "not-the-secret").result();
    assert_eq!(r["session_started"], Value::Bool(false), "{r}");
    assert_eq!(r["disconnected"], Value::Bool(true), "{r}");
    let errors = r["stream_errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(errors.len(), 1, "{r}");
    assert_eq!(str_of(&errors[0], "condition"), "not-authorized", "{r}");
    assert!(
        !s.daemon.log().contains("not-the-secret"),
        "secret leaked into the log"
    );
    // The refused attempt leaves nothing behind: the right secret still works.
    let r = Slix::spawn(&s, "connect", FOCUS_SECRET).result();
    assert_eq!(r["session_started"], Value::Bool(true), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_component_and_a_client_talk_both_ways() {
    let s = XmppServer::start();
    let mut slix = Slix::spawn(&s, "serve", FOCUS_SECRET);
    // Blocking reads of the script's output happen on a blocking thread.
    let (ready, mut slix) = tokio::task::spawn_blocking(move || {
        let l = slix.line("READY");
        (l, slix)
    })
    .await
    .expect("join");
    assert!(ready.is_empty(), "{ready}");

    let (mut c, c_jid) = login(&s, "anon@meet.test", "").await;

    // disco#info and ping, answered by slixmpp's own plugins.
    send(
        &mut c,
        &format!("<iq xmlns='jabber:client' type='get' id='di1' to='{FOCUS}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
    )
    .await;
    let info = next_stanza(&mut c, |e| e.attr("id") == Some("di1")).await;
    assert_eq!(info.attr("type"), Some("result"), "{info:?}");
    assert_eq!(info.attr("from"), Some(FOCUS), "{info:?}");
    let q = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("disco#info query");
    assert!(
        q.children().any(|i| i.name() == "identity"
            && i.attr("category") == Some("component")
            && i.attr("name") == Some("slixmpp focus")),
        "{info:?}"
    );
    assert!(
        q.children()
            .any(|f| f.name() == "feature" && f.attr("var") == Some(FOCUS_NS)),
        "{info:?}"
    );

    send(&mut c, &format!("<iq xmlns='jabber:client' type='get' id='pi1' to='{FOCUS}'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    let pong = next_stanza(&mut c, |e| e.attr("id") == Some("pi1")).await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong:?}");
    assert_eq!(pong.attr("from"), Some(FOCUS), "{pong:?}");

    // A conference request (what lib-jitsi-meet sends jicofo), answered by
    // the script, which then messages the client.
    send(
        &mut c,
        &format!(
            "<iq xmlns='jabber:client' type='set' id='conf1' to='{FOCUS}'><conference xmlns='{FOCUS_NS}' room='room1@conference.meet.test' machine-uid='m-123'/></iq>"
        ),
    )
    .await;
    let reply = next_stanza(&mut c, |e| e.attr("id") == Some("conf1")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply:?}");
    assert_eq!(reply.attr("from"), Some(FOCUS), "{reply:?}");
    let conf = reply
        .get_child("conference", FOCUS_NS)
        .unwrap_or_else(|| panic!("payload lost: {reply:?}"));
    assert_eq!(conf.attr("ready"), Some("true"), "{reply:?}");
    assert_eq!(
        conf.attr("room"),
        Some("room1@conference.meet.test"),
        "{reply:?}"
    );

    let msg = next_stanza(&mut c, |e| e.name() == "message").await;
    let expected_from = format!("conference-bot@{FOCUS}/slixmpp");
    assert_eq!(msg.attr("from"), Some(expected_from.as_str()), "{msg:?}");
    assert_eq!(msg.attr("to"), Some(c_jid.as_str()), "{msg:?}");
    let body = msg.get_child("body", "jabber:client").map(|b| b.text());
    assert_eq!(
        body.as_deref(),
        Some("from slixmpp: <focus> & \"ready\" ünïcødé 🎉"),
        "{msg:?}"
    );

    // Client → component message; the script reports it and exits.
    send(
        &mut c,
        &format!("<message xmlns='jabber:client' type='chat' to='{FOCUS}' id='bye1'><body>bye &amp; thanks ✓</body></message>"),
    )
    .await;
    let r = tokio::task::spawn_blocking(move || slix.result())
        .await
        .expect("join");
    assert_eq!(r["session_started"], Value::Bool(true), "{r}");
    let iqs = r["conference_iqs"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(iqs.len(), 1, "{r}");
    assert_eq!(
        str_of(&iqs[0], "from"),
        c_jid.as_str(),
        "the component must see the client's full JID: {r}"
    );
    assert_eq!(str_of(&iqs[0], "to"), FOCUS, "{r}");
    assert_eq!(str_of(&iqs[0], "id"), "conf1", "{r}");
    assert_eq!(str_of(&iqs[0], "type"), "set", "{r}");
    assert_eq!(str_of(&iqs[0], "room"), "room1@conference.meet.test", "{r}");
    assert_eq!(str_of(&iqs[0], "machine_uid"), "m-123", "{r}");
    let m = &r["message"];
    assert_eq!(str_of(m, "from"), c_jid.as_str(), "{r}");
    assert_eq!(str_of(m, "to"), FOCUS, "{r}");
    assert_eq!(str_of(m, "body"), "bye & thanks ✓", "{r}");
}

/// lib-jitsi-meet retries a conference request while jicofo is not there; a
/// configured component that is not connected (yet, or any more) answers
/// like Prosody's mod_component: `<error type='wait'><service-unavailable/>`
/// from the component's domain (not remote-server-not-found, which says the
/// domain does not exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iq_to_a_configured_but_disconnected_component_is_service_unavailable() {
    let s = XmppServer::start();
    let (mut c, _) = login(&s, "anon@meet.test", "").await;
    let conference = |id: &str| {
        format!(
            "<iq xmlns='jabber:client' type='set' id='{id}' to='{FOCUS}'><conference xmlns='{FOCUS_NS}' room='r@conference.meet.test'/></iq>"
        )
    };
    // Before the component ever connected.
    send(&mut c, &conference("early1")).await;
    let early = next_stanza(&mut c, |e| e.attr("id") == Some("early1")).await;

    // After it connected and left again.
    let mut slix = Slix::spawn(&s, "connect", FOCUS_SECRET);
    let r = tokio::task::spawn_blocking(move || slix.result())
        .await
        .expect("join");
    assert_eq!(r["session_started"], Value::Bool(true), "{r}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !component_log_lines(&s)
        .iter()
        .any(|l| l.contains("component disconnected"))
    {
        assert!(
            Instant::now() < deadline,
            "server did not notice the component leaving"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send(&mut c, &conference("late1")).await;
    let late = next_stanza(&mut c, |e| e.attr("id") == Some("late1")).await;

    for err in [early, late] {
        assert_eq!(err.attr("type"), Some("error"), "{err:?}");
        assert_eq!(err.attr("from"), Some(FOCUS), "{err:?}");
        let e = err
            .get_child("error", "jabber:client")
            .unwrap_or_else(|| panic!("no <error/>: {err:?}"));
        assert!(
            e.has_child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"),
            "expected service-unavailable (as Prosody's mod_component answers for a component that is not connected), got {err:?}"
        );
    }
}
