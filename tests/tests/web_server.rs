//! meet-web, the binary, over real loopback sockets: the web app's files
//! over HTTPS (types, validators, gzip, room URLs, traversal, 404), the
//! redirect from HTTP, TLS versions, config.js, the reverse proxy against a
//! real xmpp-server (BOSH login, XMPP over WebSocket, the keep-alive GET)
//! and a WebSocket upstream standing in for the videobridge, upstream
//! failures, limits, configuration errors and SIGTERM.

use std::io::Read;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use meet_tests::binary;
use meet_tests::web::{self, Options, Reply, WebServer};
use meet_tests::xmpp::XmppServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

const INDEX: &str = "<!DOCTYPE html><html><body>meet index</body></html>\n";
const PAGE_404: &str = "<html><body>custom not found</body></html>\n";
const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

/// A small web app: index, a bundle under libs/ (compressible), a hashed
/// asset, a PNG, external_api.min.js, a 404 page; and a secret beside the
/// static root that traversal must not reach.
fn site(root: &std::path::Path) {
    let mk = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    };
    mk("index.html", INDEX.as_bytes());
    mk("404.html", PAGE_404.as_bytes());
    mk(
        "libs/app.bundle.min.js",
        "console.log('meet');\n".repeat(500).as_bytes(),
    );
    mk(
        "libs/external_api.min.js",
        b"var JitsiMeetExternalAPI = 1;\n",
    );
    mk("app-5XH3YHIA.js", b"var hashed = 1;\n");
    mk("images/logo.png", b"\x89PNG\r\n\x1a\nnot really");
    mk("css/all.css", b"body { margin: 0 }\n");
    if let Some(parent) = root.parent() {
        std::fs::write(parent.join("secret.txt"), "TOP SECRET").expect("secret");
    }
}

fn start(opts: Options) -> WebServer {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    WebServer::start(opts, site)
}

async fn get(w: &WebServer, path: &str, headers: &[(&str, &str)]) -> Reply {
    web::https(w.https_port, &w.cert_pem, "GET", path, headers, b"").await
}

#[tokio::test]
async fn serves_the_app_over_https() {
    let w = start(Options::default());

    let r = get(&w, "/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), INDEX);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(r.header("last-modified").is_some());
    let etag = r.header("etag").expect("etag").to_string();

    // Validators: 304 with no body.
    let r = get(&w, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = get(&w, "/", &[("if-none-match", "\"other\"")]).await;
    assert_eq!(r.status, 200);

    // Room URLs, including any language, percent-encoded.
    for room in [
        "/myroom",
        "/%D0%BC%D0%BE%D0%B9%D0%B7%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA",
        "/team%20sync",
    ] {
        let r = get(&w, room, &[]).await;
        assert_eq!(r.status, 200, "{room}");
        assert_eq!(r.text(), INDEX, "{room}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{room}");
    }

    // Content types and cache lifetimes.
    let r = get(&w, "/libs/app.bundle.min.js", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.body.len(), 21 * 500);
    let plain_bundle = r.body.clone();
    let r = get(&w, "/images/logo.png", &[]).await;
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let r = get(&w, "/css/all.css", &[]).await;
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let r = get(&w, "/app-5XH3YHIA.js", &[]).await;
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );

    // gzip when asked for, the same bytes once decompressed.
    let r = get(
        &w,
        "/libs/app.bundle.min.js",
        &[("accept-encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.body.len() < plain_bundle.len() / 10, "{}", r.body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut unzipped)
        .expect("gunzip");
    assert_eq!(unzipped, plain_bundle);
    // Images are not compressed again.
    let r = get(&w, "/images/logo.png", &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.header("content-encoding"), None);

    // HEAD: headers only.
    let r = web::https(
        w.https_port,
        &w.cert_pem,
        "HEAD",
        "/libs/app.bundle.min.js",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("10500"));

    // The guide's Alias for /external_api.js.
    let r = get(&w, "/external_api.js", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "var JitsiMeetExternalAPI = 1;\n");

    // Traversal, literal and encoded, never leaves the static root.
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/libs/..%2F..%2Fsecret.txt",
        "/libs/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
    ] {
        let r = get(&w, path, &[]).await;
        assert_eq!(r.status, 400, "{path}");
        assert!(!r.text().contains("SECRET"), "{path}");
    }

    // Unknown files: the site's 404 page with status 404.
    let r = get(&w, "/nothing-here.js", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), PAGE_404);
    let r = get(&w, "/libs/missing/deeper", &[]).await;
    assert_eq!(r.status, 404);

    // Only GET and HEAD outside the proxied paths.
    let r = web::https(w.https_port, &w.cert_pem, "POST", "/", &[], b"x").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    let r = get(&w, "/about/health", &[]).await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "OK"));
    let r = get(&w, "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    let metrics = r.text();
    assert!(metrics.contains("web_responses_2xx_total "), "{metrics}");
    assert!(metrics.contains("web_responses_3xx_total 1\n"), "{metrics}");
    assert!(metrics.contains("web_responses_4xx_total "), "{metrics}");
}

#[tokio::test]
async fn http_redirects_to_https() {
    let w = start(Options::default());
    let r = web::http(
        w.http_port,
        "GET",
        "/myroom?jwt=x",
        &[("host", "meet.test")],
        b"",
    )
    .await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("https://meet.test:{}/myroom?jwt=x", w.https_port).as_str())
    );
    assert_eq!(r.header("strict-transport-security"), None);
    let host = format!("127.0.0.1:{}", w.http_port);
    let r = web::http(w.http_port, "GET", "/", &[("host", &host)], b"").await;
    assert_eq!(
        r.header("location"),
        Some(format!("https://127.0.0.1:{}/", w.https_port).as_str())
    );
    // A hostile Host is refused, not echoed into Location.
    let r = web::http(w.http_port, "GET", "/", &[("host", "evil\"><x")], b"").await;
    assert_eq!(r.status, 400);
    // ACME HTTP-01 challenges are served, not redirected.
    let challenge = w.root.join(".well-known/acme-challenge/token1");
    std::fs::create_dir_all(challenge.parent().expect("parent")).expect("mkdir");
    std::fs::write(&challenge, "token1.thumb").expect("write");
    let r = web::http(
        w.http_port,
        "GET",
        "/.well-known/acme-challenge/token1",
        &[],
        b"",
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (200, "token1.thumb")
    );
}

#[tokio::test]
async fn tls_12_and_13_only() {
    let w = start(Options::default());
    for (version, want) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let config = web::client_config(&w.cert_pem, &[version]);
        let tls = web::tls_connect_with(w.https_port, config)
            .await
            .expect("handshake");
        let (_, conn) = tls.get_ref();
        assert_eq!(conn.protocol_version(), Some(want));
        assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let r = web::exchange(tls, "GET", "/", &[], b"").await;
        assert_eq!(r.status, 200);
    }

    // The same ClientHello as TLS 1.2 gets a ServerHello; as TLS 1.1 (no
    // supported_versions extension) an alert, never a ServerHello.
    let answer = raw_client_hello(w.https_port, [0x03, 0x03]).await;
    assert_eq!(answer.first(), Some(&0x16), "handshake record: {answer:?}");
    let answer = raw_client_hello(w.https_port, [0x03, 0x02]).await;
    assert!(
        answer.is_empty() || answer[0] == 0x15,
        "expected an alert or a close, got {answer:?}"
    );
    if answer.len() == 7 {
        assert_eq!(answer[6], 70, "protocol_version alert: {answer:?}");
    }
}

/// Send a minimal ClientHello offering `version` (ECDHE-ECDSA-AES128-GCM,
/// P-256/X25519, ecdsa_secp256r1_sha256) and return the first bytes of the
/// answer.
async fn raw_client_hello(port: u16, version: [u8; 2]) -> Vec<u8> {
    let mut hello = version.to_vec();
    hello.extend_from_slice(&[7u8; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2b]); // cipher suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let extensions: &[u8] = &[
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // supported_groups
        0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, // signature_algorithms
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats
    ];
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(extensions);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.write_all(&record).await.expect("write hello");
    let mut answer = [0u8; 7];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer))
        .await
        .expect("answer in time")
        .unwrap_or(0);
    answer[..n].to_vec()
}

fn config_object(js: &str) -> serde_json::Value {
    let body = js
        .strip_prefix("var config = ")
        .and_then(|s| s.strip_suffix(";\n"))
        .unwrap_or_else(|| panic!("not `var config = …;`: {js}"));
    serde_json::from_str(body).expect("JSON object")
}

#[tokio::test]
async fn config_js_from_the_configuration_and_host() {
    let w = start(Options {
        extra: "[config_js]\nfocus_user_jid = \"focus@auth.meet.test\"\n".into(),
        ..Options::default()
    });
    let r = get(&w, "/config.js", &[("host", "meet.test")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let c = config_object(&r.text());
    assert_eq!(c["hosts"]["domain"], "meet.test");
    assert_eq!(c["hosts"]["muc"], "conference.meet.test");
    assert_eq!(c["hosts"]["focus"], "focus.meet.test");
    assert_eq!(c["bosh"], "//meet.test/http-bind");
    assert_eq!(c["websocket"], "wss://meet.test/xmpp-websocket");
    assert_eq!(c["p2p"]["enabled"], false);
    assert_eq!(c["focusUserJid"], "focus@auth.meet.test");

    let host = format!("localhost:{}", w.https_port);
    let c = config_object(&get(&w, "/config.js", &[("host", &host)]).await.text());
    assert_eq!(c["websocket"], format!("wss://{host}/xmpp-websocket"));

    for hostile in ["x';alert(1);//", "a\"b", "a b", "a/b", "a<b"] {
        let r = get(&w, "/config.js", &[("host", hostile)]).await;
        assert_eq!(r.status, 400, "{hostile}");
        assert!(!r.text().contains("alert"), "{hostile}");
    }

    let r = get(&w, "/interface_config.js", &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("var interfaceConfig = {"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn plain_http_mode_serves_the_app_without_tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // No 404.html: the built-in page.
    let w = WebServer::start(
        Options {
            plain_http: true,
            ..Options::default()
        },
        |root| std::fs::write(root.join("index.html"), INDEX).expect("index"),
    );
    let host = format!("localhost:{}", w.http_port);
    let r = web::http(w.http_port, "GET", "/someroom", &[("host", &host)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), INDEX);
    assert_eq!(r.header("strict-transport-security"), None);
    let r = web::http(w.http_port, "GET", "/config.js", &[("host", &host)], b"").await;
    let c = config_object(&r.text());
    assert_eq!(c["websocket"], format!("ws://{host}/xmpp-websocket"));
    assert_eq!(c["bosh"], format!("//{host}/http-bind"));
    let r = web::http(w.http_port, "GET", "/no/such.file", &[], b"").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Not found"), "{}", r.text());
}

async fn bosh(w: &WebServer, body: &str) -> String {
    let r = web::https(
        w.https_port,
        &w.cert_pem,
        "POST",
        "/http-bind?room=test",
        &[("content-type", "text/xml; charset=utf-8")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

fn attr<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml
        .find(&format!("{name}='"))
        .or_else(|| xml.find(&format!("{name}=\"")))
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        + name.len()
        + 2;
    let end = xml[start..].find(['\'', '"']).expect("closing quote") + start;
    &xml[start..end]
}

#[tokio::test]
async fn proxies_bosh_and_xmpp_websocket_to_a_real_xmpp_server() {
    let s = XmppServer::start();
    let w = start(Options {
        xmpp_server: format!("http://127.0.0.1:{}", s.http_port),
        ..Options::default()
    });

    // BOSH: an anonymous login through the proxy (create, SASL, restart,
    // bind), the guide's only proxied path.
    let created = bosh(
        &w,
        &format!(
            "<body rid='1000' to='meet.test' wait='60' hold='1' ver='1.6' xml:lang='en' \
             xmpp:version='1.0' xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>"
        ),
    )
    .await;
    assert!(created.contains("ANONYMOUS"), "{created}");
    let sid = attr(&created, "sid").to_string();
    let req = |rid: u64, extra: &str, payload: &str| {
        format!(
            "<body rid='{rid}' sid='{sid}' xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'{extra}>{payload}</body>"
        )
    };
    let auth = bosh(
        &w,
        &req(
            1001,
            "",
            &format!("<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>"),
        ),
    )
    .await;
    assert!(auth.contains("success"), "{auth}");
    bosh(&w, &req(1002, " xmpp:restart='true'", "")).await;
    let bound = bosh(
        &w,
        &req(
            1003,
            "",
            "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        ),
    )
    .await;
    assert!(bound.contains("@meet.test/"), "{bound}");

    // CORS preflight passes through (the fixture sets cross_domain_bosh).
    let r = web::https(
        w.https_port,
        &w.cert_pem,
        "OPTIONS",
        "/http-bind",
        &[
            ("origin", "https://other.example"),
            ("access-control-request-method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_some(), "{r:?}");

    // LJM's keep-alive: a plain GET on the WebSocket URL.
    let r = get(&w, "/xmpp-websocket", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // XMPP over WebSocket through the proxy, sub-protocol xmpp.
    let tls = web::tls_connect(w.https_port, &w.cert_pem).await;
    let mut request = format!("wss://localhost:{}/xmpp-websocket", w.https_port)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "xmpp".parse().expect("value"));
    let (mut ws, resp) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("WebSocket handshake through meet-web");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("xmpp")
    );
    ws.send(Message::text(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='meet.test' version='1.0'/>",
    ))
    .await
    .expect("send open");
    let mut seen = String::new();
    while !seen.contains("mechanisms") {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no stream features; got {seen}"))
            .expect("message")
            .expect("frame");
        if let Message::Text(t) = msg {
            seen.push_str(t.as_str());
        }
    }
    assert!(seen.contains("<open"), "{seen}");
    assert!(seen.contains("ANONYMOUS"), "{seen}");
    let metrics = get(&w, "/metrics", &[]).await.text();
    assert!(metrics.contains("web_websockets_active 1\n"), "{metrics}");
    ws.close(None).await.expect("close");
    drop(s);
}

/// A WebSocket echo server standing in for the videobridge; records the
/// request line's target and the forwarding headers it saw.
async fn echo_upstream() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen2.clone();
            tokio::spawn(async move {
                // tungstenite's callback type fixes the error type.
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, resp: Response| {
                    let mut s = seen.lock().expect("lock");
                    s.push(req.uri().to_string());
                    for h in ["x-forwarded-for", "x-forwarded-proto", "host"] {
                        let v = req
                            .headers()
                            .get(h)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        s.push(format!("{h}: {v}"));
                    }
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        let _ = ws.send(msg).await;
                    }
                }
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn proxies_colibri_ws_to_the_videobridge() {
    let (port, seen) = echo_upstream().await;
    let w = start(Options {
        videobridge: format!("http://127.0.0.1:{port}"),
        ..Options::default()
    });
    let tls = web::tls_connect(w.https_port, &w.cert_pem).await;
    let url = format!(
        "wss://localhost:{}/colibri-ws/jvb1/conf1/ep1?pwd=secret",
        w.https_port
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WebSocket handshake through meet-web");
    let payload = r#"{"colibriClass":"ClientHello"}"#;
    ws.send(Message::text(payload)).await.expect("send");
    let echoed = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("echo in time")
        .expect("message")
        .expect("frame");
    assert_eq!(echoed.to_text().expect("text"), payload);
    // A large binary message crosses unchanged too.
    let big = vec![0xabu8; 200_000];
    ws.send(Message::binary(big.clone())).await.expect("send");
    let echoed = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("echo in time")
        .expect("message")
        .expect("frame");
    assert_eq!(echoed.into_data().to_vec(), big);
    ws.close(None).await.expect("close");

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [
            "/colibri-ws/jvb1/conf1/ep1?pwd=secret".to_string(),
            "x-forwarded-for: 127.0.0.1".to_string(),
            "x-forwarded-proto: https".to_string(),
            format!("host: localhost:{}", w.https_port),
        ]
    );
}

#[tokio::test]
async fn upstream_down_is_502_and_the_server_keeps_serving() {
    // Options::default() points both upstreams at closed ports.
    let w = start(Options::default());
    let r = web::https(
        w.https_port,
        &w.cert_pem,
        "POST",
        "/http-bind",
        &[],
        b"<body/>",
    )
    .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), "xmpp-server unavailable\n");
    let r = get(&w, "/xmpp-websocket", &[]).await;
    assert_eq!(r.status, 502);
    let r = get(
        &w,
        "/colibri-ws/jvb1/c/e",
        &[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), "videobridge unavailable\n");
    let r = get(&w, "/about/health", &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        w.daemon.log().contains("proxied request failed"),
        "{}",
        w.daemon.log()
    );
}

#[tokio::test]
async fn limits_on_bodies_and_headers() {
    let (port, _) = echo_upstream().await;
    let w = start(Options {
        xmpp_server: format!("http://127.0.0.1:{port}"),
        extra: "[limits]\nmax_body_bytes = 1000\nmax_header_bytes = 4096\n".into(),
        ..Options::default()
    });
    let big = vec![b'x'; 2000];
    let r = web::https(w.https_port, &w.cert_pem, "POST", "/http-bind", &[], &big).await;
    assert_eq!(r.status, 413);
    let long = "y".repeat(8000);
    let r = get(&w, "/", &[("x-long", &long)]).await;
    assert_eq!(r.status, 431);
    let r = get(&w, "/", &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connection_limit_and_idle_timeout() {
    let w = start(Options {
        extra: "[limits]\nmax_connections = 1\nidle_timeout_secs = 2\n".into(),
        ..Options::default()
    });
    // The one slot is taken by an idle connection…
    let mut first = web::tls_connect(w.https_port, &w.cert_pem).await;
    let config = web::client_config(
        &w.cert_pem,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    let port = w.https_port;
    let second = tokio::spawn(async move { web::tls_connect_with(port, config).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "a second connection was served");
    // …until the idle timeout closes it; then the waiting one is served.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), first.read(&mut buf))
        .await
        .expect("idle connection closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("second connection served in time")
        .expect("task")
        .expect("handshake");
    let r = web::exchange(second, "GET", "/about/health", &[], b"").await;
    assert_eq!(r.status, 200);
}

fn check_config(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("www");
    std::fs::create_dir_all(&root).expect("root");
    let path = dir.path().join("web.toml");
    std::fs::write(&path, text.replace("ROOT", &root.display().to_string())).expect("write");
    let out = Command::new(binary("meet-web"))
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .expect("run meet-web");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains(&path.display().to_string()) || out.status.success(),
        "the file is named: {stderr}"
    );
    (out.status.code(), stderr)
}

#[test]
fn bad_configuration_names_file_and_key() {
    let cases = [
        (
            "[hosts]\ndomain = \"bad domain\"\n[server]\nplain_http = true\nstatic_root = \"ROOT\"\n",
            "key `hosts.domain`",
        ),
        (
            "[hosts]\ndomain = \"meet.test\"\n[server]\nstatic_root = \"ROOT\"\n",
            "key `server.certificate`",
        ),
        (
            "[hosts]\ndomain = \"meet.test\"\n[server]\ncertificate = \"/nonexistent.crt\"\nprivate_key = \"/nonexistent.key\"\nstatic_root = \"ROOT\"\n",
            "key `server.certificate`: cannot read /nonexistent.crt",
        ),
        (
            "[hosts]\ndomain = \"meet.test\"\n[server]\nplain_http = true\nstatic_root = \"ROOT\"\n[limits]\nmax_body_bytes = \"lots\"\n",
            "key `limits.max_body_bytes`",
        ),
        (
            "[hosts]\ndomain = \"meet.test\"\n[server]\nplain_http = true\nstatic_root = \"ROOT\"\nlisten = 1\n",
            "listen",
        ),
        (
            "[hosts]\ndomain = \"meet.test\"\n[server]\nplain_http = true\nstatic_root = \"ROOT\"\n[proxy]\nxmpp_server = \"https://127.0.0.1:5281\"\n",
            "key `proxy.xmpp_server`",
        ),
    ];
    for (text, want) in cases {
        let (code, stderr) = check_config(text);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(want), "want {want:?} in {stderr}");
    }
    let (code, stderr) = check_config(
        "[hosts]\ndomain = \"meet.test\"\n[server]\nplain_http = true\nhttp_listen = [\"127.0.0.1:1\"]\nstatic_root = \"ROOT\"\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_cleanly() {
    let mut w = start(Options::default());
    assert_eq!(get(&w, "/about/health", &[]).await.status, 200);
    assert_eq!(w.daemon.terminate(), Some(0), "{}", w.daemon.log());
    assert!(
        w.daemon.log().contains("meet-web stopped"),
        "{}",
        w.daemon.log()
    );
}
