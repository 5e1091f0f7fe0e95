//! The videobridge's control plane against a real xmpp-server, with the test
//! acting as the focus (jitsi-protocol.md §4.2, §5, §7.2): brewery presence
//! with stats, health check, disco#info, Colibri2 allocate / update / expire
//! and errors through the brewery's occupant routing, the HTTP interface,
//! reconnection after the XMPP server restarts, drain, and a clean stop that
//! leaves the brewery.

use std::process::Command;
use std::time::Duration;

use meet_tests::tx::TxClient;
use meet_tests::videobridge::Bridge;
use meet_tests::xmpp::XmppServer;
use meet_tests::{Daemon, binary, wait_port};
use minidom::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BREWERY: &str = "jvbbrewery@internal.auth.meet.test";
const NICK: &str = "jvb-test";
const COLIBRI2: &str = "jitsi:colibri2";
const COLIBRI: &str = "http://jitsi.org/protocol/colibri";
const ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
const SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

fn bridge_jid() -> String {
    format!("{BREWERY}/{NICK}")
}

fn start_bridge(s: &XmppServer) -> Bridge {
    meet_tests::videobridge::start(s, NICK, Some("test-region"))
}

/// Restart the xmpp-server on the same ports and data (accounts survive).
fn restart_server(s: &mut XmppServer) {
    assert!(s.daemon.terminate().is_some(), "xmpp-server did not stop");
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
}

async fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect http");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write http");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read http");
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {buf:?}"));
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Send a WebSocket upgrade request and return the response head.
async fn websocket_upgrade(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect http");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write http");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte))
            .await
            .expect("upgrade answer in time")
            .expect("read");
        if n == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

async fn http_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = http(port, "GET", path, "").await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The focus: logged in as focus@auth.meet.test and joined to the brewery.
async fn focus(s: &XmppServer) -> TxClient {
    let mut f = TxClient::login(s.c2s_port, &s.ca_pems, "focus@auth.meet.test", "focus-pw")
        .await
        .expect("focus login");
    f.send_xml(&format!(
        "<presence xmlns='jabber:client' to='{BREWERY}/focus'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ))
    .await;
    f
}

/// Wait for the bridge's presence with stats; returns stat name → value.
async fn bridge_stats(f: &mut TxClient) -> Vec<(String, String)> {
    let jid = bridge_jid();
    let p = f
        .next_matching(|e| {
            e.name() == "presence"
                && e.attr("from") == Some(jid.as_str())
                && e.attr("type").is_none()
                && e.get_child("stats", COLIBRI).is_some()
        })
        .await
        .expect("bridge presence with stats");
    p.get_child("stats", COLIBRI)
        .map(|s| {
            s.children()
                .filter_map(|c| Some((c.attr("name")?.to_string(), c.attr("value")?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait (a few presences) until the bridge reports `name` = `value`.
async fn wait_stat(f: &mut TxClient, name: &str, value: &str) {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let stats = bridge_stats(f).await;
        if stat(&stats, name) == Some(value) {
            return;
        }
        seen.push(stat(&stats, name).map(str::to_string));
    }
    panic!("stat {name} never became {value}: {seen:?}");
}

fn stat<'a>(stats: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stats
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Send an IQ to the bridge's occupant JID and wait for the answer.
async fn iq(f: &mut TxClient, id: &str, kind: &str, payload: &str) -> Element {
    let to = bridge_jid();
    f.send_xml(&format!(
        "<iq xmlns='jabber:client' type='{kind}' id='{id}' to='{to}'>{payload}</iq>"
    ))
    .await;
    let answer = f
        .next_matching(|e| e.name() == "iq" && e.attr("id") == Some(id))
        .await
        .unwrap_or_else(|e| panic!("no answer to {id}: {e}"));
    assert_eq!(
        answer.attr("from"),
        Some(to.as_str()),
        "{}",
        String::from(&answer)
    );
    answer
}

fn error_condition(e: &Element) -> String {
    e.get_child("error", "jabber:client")
        .and_then(|er| {
            er.children()
                .find(|c| c.ns() == STANZAS && c.name() != "text")
        })
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| format!("no error in {}", String::from(e)))
}

fn colibri2_reason(e: &Element) -> Option<String> {
    e.get_child("error", "jabber:client")?
        .get_child("error", COLIBRI2)?
        .attr("reason")
        .map(str::to_string)
}

fn create_endpoint(meeting: &str, ep: &str, create_conference: bool) -> String {
    format!(
        "<conference-modify xmlns='{COLIBRI2}' meeting-id='{meeting}' name='room@conference.meet.test'{}>\
           <endpoint id='{ep}' create='true' stats-id='Elmer-3ab' muc-role='moderator'>\
             <media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'/></media>\
             <transport ice-controlling='true'/>\
             <capability name='source-names'/>\
           </endpoint>\
         </conference-modify>",
        if create_conference {
            " create='true'"
        } else {
            ""
        }
    )
}

/// Checks the allocation answer and returns the endpoint's ICE pwd.
fn check_allocation(answer: &Element, meeting: &str, ep: &str, http_port: u16) -> String {
    let xml = String::from(answer);
    assert_eq!(answer.attr("type"), Some("result"), "{xml}");
    let modified = answer
        .get_child("conference-modified", COLIBRI2)
        .unwrap_or_else(|| panic!("no conference-modified: {xml}"));
    assert_eq!(modified.attr("meeting-id"), Some(meeting));
    let endpoint = modified
        .get_child("endpoint", COLIBRI2)
        .unwrap_or_else(|| panic!("no endpoint: {xml}"));
    assert_eq!(endpoint.attr("id"), Some(ep));
    let ice = endpoint
        .get_child("transport", COLIBRI2)
        .and_then(|t| t.get_child("transport", ICE_UDP))
        .unwrap_or_else(|| panic!("no ice-udp transport: {xml}"));
    assert!(ice.attr("ufrag").is_some_and(|u| !u.is_empty()), "{xml}");
    let pwd = ice.attr("pwd").expect("pwd").to_string();
    assert!(pwd.len() >= 22, "{xml}");
    let fp = ice.get_child("fingerprint", DTLS).expect("fingerprint");
    assert_eq!(fp.attr("hash"), Some("sha-256"));
    assert_eq!(fp.attr("setup"), Some("actpass"));
    assert!(fp.text().contains(':'), "{xml}");
    let candidates: Vec<&Element> = ice.children().filter(|c| c.name() == "candidate").collect();
    assert!(!candidates.is_empty(), "{xml}");
    for c in &candidates {
        assert_eq!(c.attr("component"), Some("1"));
        assert_eq!(c.attr("protocol"), Some("udp"));
        assert!(c.attr("ip").is_some() && c.attr("port").is_some() && c.attr("priority").is_some());
        assert!(
            c.attr("foundation").is_some() && c.attr("id").is_some() && c.attr("type").is_some()
        );
    }
    assert!(ice.get_child("rtcp-mux", ICE_UDP).is_some(), "{xml}");
    let ws = ice
        .get_child("web-socket", COLIBRI)
        .and_then(|w| w.attr("url"))
        .unwrap_or_else(|| panic!("no web-socket: {xml}"));
    let prefix = format!("ws://127.0.0.1:{http_port}/colibri-ws/jvb-test/{meeting}/{ep}?pwd=");
    assert!(ws.starts_with(&prefix), "{ws} vs {prefix}");
    let sources = modified
        .get_child("sources", COLIBRI2)
        .unwrap_or_else(|| panic!("no feedback sources: {xml}"));
    let names: Vec<(&str, &str)> = sources
        .children()
        .filter_map(|m| Some((m.attr("type")?, m.attr("id")?)))
        .collect();
    assert_eq!(names, [("audio", "jvb-a0"), ("video", "jvb-v0")], "{xml}");
    for m in sources.children() {
        let s = m.get_child("source", SSMA).expect("source");
        assert!(s.attr("ssrc").and_then(|v| v.parse::<u32>().ok()).is_some());
        assert_eq!(s.attr("name"), m.attr("id"));
    }
    pwd
}

#[tokio::test]
async fn videobridge_control_plane() {
    let mut s = XmppServer::start();
    s.register("jvb", "auth.meet.test", "jvb-pw");
    s.register("focus", "auth.meet.test", "focus-pw");
    let mut bridge = start_bridge(&s);
    bridge
        .daemon
        .wait_for_log("joined brewery", Duration::from_secs(30));
    let hp = bridge.http_port;

    // Brewery presence with stats.
    let mut f = focus(&s).await;
    let stats = bridge_stats(&mut f).await;
    assert_eq!(stat(&stats, "colibri2"), Some("true"), "{stats:?}");
    assert_eq!(stat(&stats, "conferences"), Some("0"));
    assert_eq!(stat(&stats, "relay_id"), Some("jvb-test"));
    assert_eq!(stat(&stats, "region"), Some("test-region"));
    assert_eq!(stat(&stats, "graceful_shutdown"), Some("false"));
    assert!(stat(&stats, "stress_level").is_some());
    assert!(stat(&stats, "version").is_some());

    // Health check, ping and disco#info through the brewery.
    let r = iq(
        &mut f,
        "hc1",
        "get",
        "<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let r = iq(&mut f, "ping1", "get", "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = iq(
        &mut f,
        "disco1",
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    )
    .await;
    let xml = String::from(&r);
    assert!(
        xml.contains("jitsi:colibri2") && xml.contains("healthcheck"),
        "{xml}"
    );
    let r = iq(&mut f, "ver1", "get", "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(error_condition(&r), "service-unavailable");

    // Colibri2: allocate.
    let r = iq(&mut f, "c1", "set", &create_endpoint("m-1", "ep1", true)).await;
    let pwd = check_allocation(&r, "m-1", "ep1", hp);

    // Update: the client's transport and sources.
    let update = format!(
        "<conference-modify xmlns='{COLIBRI2}' meeting-id='m-1'><endpoint id='ep1'>\
           <transport><transport xmlns='{ICE_UDP}' ufrag='cli1' pwd='clientpasswordclientpw'>\
             <fingerprint xmlns='{DTLS}' hash='sha-256' setup='active'>00:07:0E:15:1C:23:2A:31:38:3F:46:4D:54:5B:62:69:70:77:7E:85:8C:93:9A:A1:A8:AF:B6:BD:C4:CB:D2:D9</fingerprint>\
             <candidate component='1' foundation='1' generation='0' id='x' ip='127.0.0.1' port='40000' priority='2130706431' protocol='udp' type='host'/>\
           </transport></transport>\
           <sources><media-source type='video' id='ep1-v0'>\
             <source xmlns='{SSMA}' ssrc='1001'/><source xmlns='{SSMA}' ssrc='1002'/>\
             <ssrc-group xmlns='{SSMA}' semantics='FID'><source ssrc='1001'/><source ssrc='1002'/></ssrc-group>\
           </media-source></sources>\
         </endpoint></conference-modify>"
    );
    let r = iq(&mut f, "c2", "set", &update).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));

    // Errors: malformed, duplicate create, unknown conference, unknown endpoint.
    let r = iq(
        &mut f,
        "c3",
        "set",
        &format!("<conference-modify xmlns='{COLIBRI2}'/>"),
    )
    .await;
    assert_eq!(error_condition(&r), "bad-request", "{}", String::from(&r));
    let r = iq(&mut f, "c4", "set", &create_endpoint("m-1", "ep9", true)).await;
    assert_eq!(error_condition(&r), "conflict");
    let r = iq(
        &mut f,
        "c5",
        "set",
        &format!("<conference-modify xmlns='{COLIBRI2}' meeting-id='nope'><endpoint id='e'/></conference-modify>"),
    )
    .await;
    assert_eq!(error_condition(&r), "item-not-found");
    assert_eq!(colibri2_reason(&r).as_deref(), Some("conference_not_found"));
    let r = iq(
        &mut f,
        "c6",
        "set",
        &format!("<conference-modify xmlns='{COLIBRI2}' meeting-id='m-1'><endpoint id='ghost'><sources/></endpoint></conference-modify>"),
    )
    .await;
    assert_eq!(error_condition(&r), "item-not-found");
    let r = iq(
        &mut f,
        "c7",
        "set",
        &create_endpoint("m-1", "ep2", true).replace("<capability name='source-names'/>", ""),
    )
    .await;
    assert_eq!(error_condition(&r), "bad-request");

    // HTTP.
    let (status, body) = http(hp, "GET", "/about/health", "").await;
    assert_eq!(status, 200, "{body}");
    let v = http_json(hp, "/about/version").await;
    assert_eq!(v["name"], "meet-rs videobridge");
    let v = http_json(hp, "/colibri/stats").await;
    assert_eq!(v["conferences"], 1, "{v}");
    assert_eq!(v["participants"], 1, "{v}");
    for key in [
        "stress_level",
        "bit_rate_download",
        "bit_rate_upload",
        "packet_rate_download",
        "packet_rate_upload",
        "total_packets_received",
        "total_packets_sent",
        "graceful_shutdown",
        "drain",
        "region",
        "relay_id",
        "version",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    let (status, metrics) = http(hp, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("videobridge_conferences 1"), "{metrics}");
    // colibri-ws reaches the media plane's hook: a wrong pwd is refused, the
    // right one upgrades to a WebSocket.
    let (status, _) = http(hp, "GET", "/colibri-ws/jvb-test/m-1/ep1?pwd=x", "").await;
    assert!(
        status == 401 || status == 403,
        "wrong pwd answered {status}"
    );
    let (status, _) = http(hp, "GET", "/colibri-ws/other-id/m-1/ep1?pwd=x", "").await;
    assert_eq!(status, 404);
    let head = websocket_upgrade(hp, &format!("/colibri-ws/jvb-test/m-1/ep1?pwd={pwd}")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    // The XMPP server goes away: the bridge reports unhealthy, reconnects with
    // back-off, rejoins, and its conferences survive.
    drop(f);
    restart_server(&mut s);
    bridge
        .daemon
        .wait_for_log("xmpp connection lost", Duration::from_secs(10));
    let start = std::time::Instant::now();
    loop {
        let log = bridge.daemon.log();
        if log.matches("joined brewery").count() >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "bridge did not rejoin:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut f = focus(&s).await;
    let stats = bridge_stats(&mut f).await;
    assert_eq!(stat(&stats, "conferences"), Some("1"), "{stats:?}");
    let r = iq(&mut f, "c8", "set", &create_endpoint("m-1", "ep2", false)).await;
    check_allocation(&r, "m-1", "ep2", hp);
    let (status, body) = http(hp, "GET", "/about/health", "").await;
    assert_eq!(status, 200, "{body}");

    // Expire one endpoint, then the conference.
    let r = iq(
        &mut f,
        "c9",
        "set",
        &format!("<conference-modify xmlns='{COLIBRI2}' meeting-id='m-1'><endpoint id='ep1' expire='true'/></conference-modify>"),
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let r = iq(
        &mut f,
        "c10",
        "set",
        &format!("<conference-modify xmlns='{COLIBRI2}' meeting-id='m-1' expire='true'/>"),
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let v = http_json(hp, "/colibri/stats").await;
    assert_eq!(v["conferences"], 0, "{v}");

    // Drain: new conferences are refused with the graceful-shutdown reason.
    let (status, _) = http(hp, "POST", "/colibri/drain/enable", "").await;
    assert_eq!(status, 200);
    assert_eq!(http_json(hp, "/colibri/drain").await["drain"], true);
    let r = iq(&mut f, "c11", "set", &create_endpoint("m-2", "ep1", true)).await;
    assert_eq!(error_condition(&r), "service-unavailable");
    assert_eq!(colibri2_reason(&r).as_deref(), Some("graceful_shutdown"));
    wait_stat(&mut f, "drain", "true").await;
    let (status, _) = http(hp, "POST", "/colibri/drain/disable", "").await;
    assert_eq!(status, 200);

    // SIGTERM: the bridge leaves the brewery and exits 0.
    assert_eq!(
        bridge.daemon.terminate(),
        Some(0),
        "{}",
        bridge.daemon.log()
    );
    let jid = bridge_jid();
    f.next_matching(|e| {
        e.name() == "presence"
            && e.attr("from") == Some(jid.as_str())
            && e.attr("type") == Some("unavailable")
    })
    .await
    .expect("the bridge's unavailable presence");
}

#[tokio::test]
async fn graceful_shutdown_waits_for_the_last_conference() {
    let s = XmppServer::start();
    s.register("jvb", "auth.meet.test", "jvb-pw");
    s.register("focus", "auth.meet.test", "focus-pw");
    let mut bridge = start_bridge(&s);
    bridge
        .daemon
        .wait_for_log("joined brewery", Duration::from_secs(30));
    let hp = bridge.http_port;
    let mut f = focus(&s).await;
    bridge_stats(&mut f).await;
    let r = iq(&mut f, "g1", "set", &create_endpoint("m-g", "ep1", true)).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));

    let (status, _) = http(hp, "POST", "/colibri/shutdown", "{}").await;
    assert_eq!(status, 400, "the body must ask for a graceful shutdown");
    let (status, _) = http(
        hp,
        "POST",
        "/colibri/shutdown",
        r#"{"graceful-shutdown": "true"}"#,
    )
    .await;
    assert_eq!(status, 200);
    wait_stat(&mut f, "graceful_shutdown", "true").await;
    let r = iq(&mut f, "g2", "set", &create_endpoint("m-h", "ep1", true)).await;
    assert_eq!(colibri2_reason(&r).as_deref(), Some("graceful_shutdown"));
    // Still running while a conference is left.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(bridge.daemon.is_running(), "{}", bridge.daemon.log());

    let r = iq(
        &mut f,
        "g3",
        "set",
        &format!("<conference-modify xmlns='{COLIBRI2}' meeting-id='m-g' expire='true'/>"),
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    let jid = bridge_jid();
    f.next_matching(|e| {
        e.name() == "presence"
            && e.attr("from") == Some(jid.as_str())
            && e.attr("type") == Some("unavailable")
    })
    .await
    .expect("the bridge leaves the brewery");
    bridge
        .daemon
        .wait_for_log("videobridge stopped", Duration::from_secs(10));
}

#[tokio::test]
async fn a_refused_login_is_retried_and_reported_unhealthy() {
    let s = XmppServer::start();
    // No jvb account: SASL fails, the bridge keeps retrying with back-off.
    let bridge = start_bridge(&s);
    bridge
        .daemon
        .wait_for_log("xmpp connection failed", Duration::from_secs(30));
    let log = bridge.daemon.log();
    assert!(log.contains("authentication"), "{log}");
    let (status, body) = http(bridge.http_port, "GET", "/about/health", "").await;
    assert_eq!(status, 500);
    assert!(body.contains("no XMPP connection"), "{body}");
    // Once the account exists the next attempt succeeds.
    s.register("jvb", "auth.meet.test", "jvb-pw");
    bridge
        .daemon
        .wait_for_log("joined brewery", Duration::from_secs(30));
    let (status, body) = http(bridge.http_port, "GET", "/about/health", "").await;
    assert_eq!(status, 200, "{body}");
}
