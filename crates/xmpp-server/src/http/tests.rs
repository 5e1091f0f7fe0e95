//! End-to-end tests of the HTTP listener over real sockets: BOSH and
//! WebSocket logins against a `Shared` with one anonymous host.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper_tungstenite::WebSocketStream;
use hyper_tungstenite::tungstenite::Message;
use hyper_tungstenite::tungstenite::protocol::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::bosh::NS_HTTPBIND;
use super::websocket::{CLOSE, NS_FRAMING};
use super::*;
use crate::accounts::AccountStore;
use crate::c2s::{NS_BIND, NS_SASL};
use crate::config::ServerConfig;
use crate::xml::{NS_STREAMS, parse_document};

const NS_PING: &str = "urn:xmpp:ping";

struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: watch::Sender<bool>,
}

async fn start(extra: &str) -> Server {
    let text = format!(
        "{extra}\n[[virtual_host]]\nhost = \"localhost\"\nauthentication = \"anonymous\"\nc2s_require_encryption = false\n"
    );
    let cfg = ServerConfig::from_toml_str(Path::new("test.toml"), &text).expect("config");
    let shared = Shared::new(cfg, AccountStore::open_in_memory().expect("store"), None);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(serve(listener, shared.clone(), stop_rx));
    Server {
        addr,
        shared,
        _stop: stop,
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn xml(&self) -> Element {
        parse_document(self.body.as_bytes(), 1 << 20)
            .unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 exchange on a fresh connection.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

async fn bosh(addr: SocketAddr, body: impl Into<String>) -> Reply {
    let body: String = body.into();
    let r = http(
        addr,
        "POST",
        "/http-bind",
        &[("Content-Type", "text/xml; charset=utf-8")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/xml; charset=utf-8"));
    r
}

fn req(sid: &str, rid: u64, extra: &str, payload: &str) -> String {
    format!(
        "<body rid='{rid}' sid='{sid}' xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'{extra}>{payload}</body>"
    )
}

fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", NS_SASL)
        .map(|m| m.children().map(|c| c.text()).collect())
        .unwrap_or_default()
}

async fn gauge(server: &Server, name: &str, want: &str) {
    let line = format!("{name} {want}");
    for _ in 0..100 {
        if server.shared.registry.render().lines().any(|l| l == line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{line} not in metrics:\n{}",
        server.shared.registry.render()
    );
}

#[tokio::test]
async fn bosh_anonymous_login_bind_long_poll_and_rid_checks() {
    let server = start("bosh_max_wait = 2").await;
    let addr = server.addr;

    let created = bosh(
        addr,
        &format!(
            "<body rid='1000' to='localhost' wait='60' hold='1' ver='1.6' xml:lang='en' \
             xmpp:version='1.0' xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>"
        ),
    )
    .await;
    let b = created.xml();
    let sid = b.attr("sid").expect("sid").to_string();
    assert_eq!(b.attr("wait"), Some("2"), "capped by bosh_max_wait");
    assert_eq!(b.attr("requests"), Some("2"));
    assert_eq!(b.attr("hold"), Some("1"));
    assert_eq!(b.attr("from"), Some("localhost"));
    assert!(b.attr("authid").is_some_and(|a| !a.is_empty()));
    let features = b.get_child("features", NS_STREAMS).expect("features");
    assert_eq!(mechanisms(features), ["ANONYMOUS"]);
    gauge(&server, "xmpp_bosh_sessions", "1").await;

    let auth = bosh(
        addr,
        &req(
            &sid,
            1001,
            "",
            &format!("<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>"),
        ),
    )
    .await;
    assert!(auth.xml().has_child("success", NS_SASL), "{}", auth.body);

    let restart = bosh(
        addr,
        &req(&sid, 1002, " to='localhost' xmpp:restart='true'", ""),
    )
    .await;
    let features = restart.xml();
    let features = features
        .get_child("features", NS_STREAMS)
        .expect("features");
    assert!(features.has_child("bind", NS_BIND), "{}", restart.body);

    // strophe.js sends stanzas with xmlns='jabber:client'; an unqualified
    // one (httpbind namespace by inheritance) must work too.
    let bound = bosh(
        addr,
        &req(
            &sid,
            1003,
            "",
            &format!("<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'><resource>r</resource></bind></iq>"),
        ),
    )
    .await;
    let b = bound.xml();
    let iq = b.get_child("iq", NS_CLIENT).expect("iq");
    assert_eq!(iq.attr("type"), Some("result"));
    let jid = iq
        .get_child("bind", NS_BIND)
        .and_then(|b| b.get_child("jid", NS_BIND))
        .map(|j| j.text())
        .expect("jid");
    assert!(jid.ends_with("@localhost/r"), "{jid}");

    // A repeated rid gets the same response again.
    let again = bosh(addr, &req(&sid, 1003, "", "")).await;
    assert_eq!(again.body, bound.body);

    // hold=1: a long poll is held, then a second request releases it; the
    // ping result (routed back through the session's inbox) arrives in one
    // of the two responses.
    let held = tokio::spawn(bosh(addr, req(&sid, 1004, "", "")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "an empty request is held");
    let ping = format!(
        "<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='{NS_PING}'/></iq>"
    );
    let second = tokio::spawn(bosh(addr, req(&sid, 1005, "", &ping)));
    let first = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("held request answered")
        .expect("task");
    let second = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("second answered")
        .expect("task");
    let both = [first.xml(), second.xml()];
    let result = both
        .iter()
        .flat_map(|b| b.children())
        .find(|c| c.is("iq", NS_CLIENT) && c.attr("id") == Some("p1"))
        .unwrap_or_else(|| panic!("no ping result in {} / {}", first.body, second.body));
    assert_eq!(result.attr("type"), Some("result"));
    assert_eq!(result.attr("to"), Some(jid.as_str()));

    // With nothing to say, the request returns empty after `wait`.
    let t0 = Instant::now();
    let empty = bosh(addr, &req(&sid, 1006, "", "")).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(empty.xml().children().count(), 0);
    assert_eq!(empty.xml().attr("type"), None);

    // A rid far outside the window ends the session.
    let bad = bosh(addr, &req(&sid, 2000, "", "")).await;
    assert_eq!(bad.xml().attr("type"), Some("terminate"));
    assert_eq!(bad.xml().attr("condition"), Some("item-not-found"));
    let gone = bosh(addr, &req(&sid, 1007, "", "")).await;
    assert_eq!(gone.xml().attr("condition"), Some("item-not-found"));
    gauge(&server, "xmpp_bosh_sessions", "0").await;
    gauge(&server, "xmpp_c2s_sessions", "0").await;
}

/// Session creation, SASL ANONYMOUS, restart and bind; returns sid and JID.
async fn bosh_login(addr: SocketAddr, first_rid: u64) -> (String, String) {
    let created = bosh(
        addr,
        format!(
            "<body rid='{first_rid}' to='localhost' wait='60' hold='1' xmpp:version='1.0' \
             xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>"
        ),
    )
    .await;
    let sid = created.xml().attr("sid").expect("sid").to_string();
    let auth = format!("<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>");
    bosh(addr, req(&sid, first_rid + 1, "", &auth)).await;
    bosh(addr, req(&sid, first_rid + 2, " xmpp:restart='true'", "")).await;
    let bind =
        format!("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='{NS_BIND}'/></iq>");
    let bound = bosh(addr, req(&sid, first_rid + 3, "", &bind)).await;
    let jid = bound
        .xml()
        .get_child("iq", NS_CLIENT)
        .and_then(|iq| iq.get_child("bind", NS_BIND))
        .and_then(|b| b.get_child("jid", NS_BIND))
        .map(|j| j.text())
        .unwrap_or_else(|| panic!("no jid in {}", bound.body));
    (sid, jid)
}

fn ping(id: &str) -> String {
    format!(
        "<iq xmlns='jabber:client' type='get' id='{id}' to='localhost'><ping xmlns='{NS_PING}'/></iq>"
    )
}

#[tokio::test]
async fn bosh_out_of_order_rids_queued_deliveries_and_inactivity() {
    let server = start("bosh_max_wait = 1\nbosh_max_inactivity = 1").await;
    let addr = server.addr;
    let (sid, jid) = bosh_login(addr, 50).await;

    // rid 55 overtakes 54: it waits until 54 has been processed.
    let late = tokio::spawn(bosh(addr, req(&sid, 55, "", &ping("second"))));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let early = bosh(addr, req(&sid, 54, "", &ping("first"))).await;
    let late = tokio::time::timeout(Duration::from_secs(5), late)
        .await
        .expect("answered")
        .expect("task");
    let ids: Vec<String> = [early.xml(), late.xml()]
        .iter()
        .flat_map(|b| {
            b.children()
                .filter_map(|c| c.attr("id").map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, ["first", "second"], "{} / {}", early.body, late.body);

    // A stanza arriving while no request is open waits for the next one.
    let msg = parse_document(
        format!("<message xmlns='jabber:client' from='localhost' to='{jid}'><body>queued</body></message>").as_bytes(),
        10_000,
    )
    .expect("message");
    server.shared.router.route(msg);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let next = bosh(addr, req(&sid, 56, "", "")).await;
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "answered at once"
    );
    assert!(next.xml().has_child("message", NS_CLIENT), "{}", next.body);

    // No request for bosh_max_inactivity seconds ends the session.
    gauge(&server, "xmpp_bosh_sessions", "1").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gauge(&server, "xmpp_bosh_sessions", "0").await;
    let gone = bosh(addr, req(&sid, 57, "", "")).await;
    assert_eq!(gone.xml().attr("condition"), Some("item-not-found"));
}

#[tokio::test]
async fn bosh_terminate_errors_and_plain_http() {
    let server = start("cross_domain_bosh = [\"https://meet.example.com\"]").await;
    let addr = server.addr;

    let unknown = bosh(
        addr,
        &format!("<body rid='1' to='nowhere.example' wait='5' hold='1' xmlns='{NS_HTTPBIND}'/>"),
    )
    .await;
    assert_eq!(unknown.xml().attr("condition"), Some("host-unknown"));

    let nosid = bosh(addr, &req("no-such-session", 5, "", "")).await;
    assert_eq!(nosid.xml().attr("condition"), Some("item-not-found"));

    let bad = bosh(addr, "<body xmlns='http://jabber.org/protocol/httpbind'").await;
    assert_eq!(bad.xml().attr("condition"), Some("bad-request"));
    let not_body = bosh(addr, "<iq xmlns='jabber:client'/>").await;
    assert_eq!(not_body.xml().attr("condition"), Some("bad-request"));

    let huge = format!(
        "<body xmlns='{NS_HTTPBIND}'>{}</body>",
        "x".repeat(300 * 1024)
    );
    let r = http(addr, "POST", "/http-bind", &[], &huge).await;
    assert_eq!(r.status, 413);

    // A client terminating its session; final stanzas are still processed.
    let created = bosh(
        addr,
        &format!("<body rid='10' to='localhost' wait='5' hold='1' xmpp:version='1.0' xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>"),
    )
    .await;
    let sid = created.xml().attr("sid").expect("sid").to_string();
    let end = bosh(
        addr,
        &req(
            &sid,
            11,
            " type='terminate'",
            "<presence xmlns='jabber:client' type='unavailable'/>",
        ),
    )
    .await;
    assert_eq!(end.xml().attr("type"), Some("terminate"));
    gauge(&server, "xmpp_bosh_sessions", "0").await;

    // Plain HTTP around it: page, preflight with CORS, metrics, health, 404.
    let page = http(addr, "GET", "/http-bind", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("It works"));
    assert_eq!(page.header("access-control-allow-origin"), None);

    let pre = http(
        addr,
        "OPTIONS",
        "/http-bind",
        &[
            ("Origin", "https://meet.example.com"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(pre.status, 200);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://meet.example.com")
    );
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("Content-Type")
    );
    assert_eq!(pre.header("access-control-max-age"), Some("7200"));
    let foreign = http(
        addr,
        "OPTIONS",
        "/http-bind",
        &[("Origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);

    let metrics = http(addr, "GET", "/metrics", &[], "").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4"))
    );
    assert!(
        metrics.body.contains("xmpp_bosh_sessions 0"),
        "{}",
        metrics.body
    );
    let health = http(addr, "GET", "/about/health", &[], "").await;
    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
    assert_eq!(http(addr, "GET", "/nope", &[], "").await.status, 404);
    assert_eq!(
        http(addr, "DELETE", "/http-bind", &[], "").await.status,
        405
    );
}

type Ws = WebSocketStream<TcpStream>;

/// A client-side WebSocket handshake by hand; returns the status line and
/// headers, and the socket when it switched protocols.
async fn ws_connect(addr: SocketAddr, protocol: Option<&str>) -> (String, Option<Ws>) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = String::from(
        "GET /xmpp-websocket?room=x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://meet.example.com\r\n",
    );
    if let Some(p) = protocol {
        req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    // Byte by byte, so nothing after the head is consumed.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.expect("read") == 0 {
            break;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8(head).expect("utf-8");
    if !head.starts_with("HTTP/1.1 101") {
        return (head, None);
    }
    (
        head,
        Some(WebSocketStream::from_raw_socket(s, Role::Client, None).await),
    )
}

async fn recv(ws: &mut Ws) -> Element {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("frame in time")
            .expect("open socket")
            .expect("frame");
        if let Message::Text(t) = m {
            return parse_document(t.as_bytes(), 1 << 20).unwrap_or_else(|e| panic!("{e}: {t}"));
        }
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

#[tokio::test]
async fn websocket_anonymous_login_bind_ping_and_close() {
    let server = start("").await;
    let addr = server.addr;

    let (head, ws) = ws_connect(addr, None).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(ws.is_none());

    let (head, ws) = ws_connect(addr, Some("xmpp")).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-protocol: xmpp"),
        "{head}"
    );
    let mut ws = ws.expect("upgraded");
    gauge(&server, "xmpp_websocket_sessions", "1").await;

    let open = format!("<open xmlns='{NS_FRAMING}' to='localhost' version='1.0'/>");
    send(&mut ws, &open).await;
    let o = recv(&mut ws).await;
    assert!(o.is("open", NS_FRAMING));
    assert_eq!(o.attr("from"), Some("localhost"));
    assert_eq!(o.attr("version"), Some("1.0"));
    assert!(o.attr("id").is_some());
    let f = recv(&mut ws).await;
    assert!(f.is("features", NS_STREAMS));
    assert_eq!(mechanisms(&f), ["ANONYMOUS"]);

    send(
        &mut ws,
        &format!("<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>"),
    )
    .await;
    assert!(recv(&mut ws).await.is("success", NS_SASL));

    send(&mut ws, &open).await;
    assert!(recv(&mut ws).await.is("open", NS_FRAMING));
    assert!(recv(&mut ws).await.has_child("bind", NS_BIND));

    // Unqualified stanzas are jabber:client.
    send(
        &mut ws,
        &format!("<iq type='set' id='b'><bind xmlns='{NS_BIND}'/></iq>"),
    )
    .await;
    let iq = recv(&mut ws).await;
    assert!(iq.is("iq", NS_CLIENT));
    assert_eq!(iq.attr("type"), Some("result"));
    let jid = iq
        .get_child("bind", NS_BIND)
        .and_then(|b| b.get_child("jid", NS_BIND))
        .map(|j| j.text())
        .expect("jid");
    assert!(jid.contains("@localhost/"), "{jid}");

    send(
        &mut ws,
        &format!("<iq type='get' id='p' to='localhost'><ping xmlns='{NS_PING}'/></iq>"),
    )
    .await;
    let pong = recv(&mut ws).await;
    assert_eq!(
        (pong.attr("id"), pong.attr("type")),
        (Some("p"), Some("result"))
    );

    ws.send(Message::Ping(b"hi".to_vec().into()))
        .await
        .expect("ping");
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("pong in time")
        .expect("open")
        .expect("frame");
    assert!(matches!(m, Message::Pong(_)), "{m:?}");

    send(&mut ws, CLOSE).await;
    assert!(recv(&mut ws).await.is("close", NS_FRAMING));
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("close in time");
    assert!(
        matches!(end, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{end:?}"
    );
    gauge(&server, "xmpp_websocket_sessions", "0").await;
    gauge(&server, "xmpp_c2s_sessions", "0").await;
}

#[tokio::test]
async fn websocket_bad_xml_gets_a_stream_error_and_close() {
    let server = start("cross_domain_websocket = [\"https://meet.example.com\"]").await;
    let (_, ws) = ws_connect(server.addr, Some("xmpp")).await;
    let mut ws = ws.expect("allowed origin upgrades");
    send(
        &mut ws,
        &format!("<open xmlns='{NS_FRAMING}' to='localhost' version='1.0'/>"),
    )
    .await;
    recv(&mut ws).await;
    recv(&mut ws).await;
    send(&mut ws, "<message><body>").await;
    let err = recv(&mut ws).await;
    assert!(err.is("error", NS_STREAMS));
    assert!(err.has_child("not-well-formed", crate::stanza::NS_STREAM_ERRORS));
    assert!(recv(&mut ws).await.is("close", NS_FRAMING));

    let restricted = start("cross_domain_websocket = [\"https://other.example\"]").await;
    let (head, ws) = ws_connect(restricted.addr, Some("xmpp")).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(ws.is_none());
}

#[test]
fn unqualified_elements_become_jabber_client() {
    let el = parse_document(
        b"<presence><show>away</show><c xmlns='caps'/></presence>",
        1000,
    )
    .expect("xml");
    let el = client_ns(el, "");
    assert!(el.is("presence", NS_CLIENT));
    assert!(el.has_child("show", NS_CLIENT));
    assert!(el.has_child("c", "caps"));
    let foreign = parse_document(b"<r xmlns='urn:x'/>", 1000).expect("xml");
    assert_eq!(client_ns(foreign, "").ns(), "urn:x");
}
