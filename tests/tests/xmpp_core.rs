//! xmpp-server core against tokio-xmpp (a client nobody here wrote) and raw
//! sockets for misbehaviour: SASL mechanisms over STARTTLS, routing between
//! users and to a component, disco, ping, extdisco, limits, malformed XML,
//! vanishing clients, prosodyctl-style subcommands.

use std::time::Duration;

use meet_tests::raw::{RawConn, TestStartTls, client_tls};
use meet_tests::tx::TxClient;
use meet_tests::xmpp::{FOCUS, FOCUS_SECRET, XmppServer};
use minidom::Element;
use tokio_xmpp::xmlstream::Timeouts;
use xmpp_parsers::jid::Jid;

fn connector(s: &XmppServer) -> TestStartTls {
    TestStartTls {
        port: s.c2s_port,
        tls: client_tls(&s.ca_pems),
    }
}

async fn login(s: &XmppServer, jid: &str, password: &str) -> Result<(TxClient, Jid), String> {
    let c = TxClient::login(s.c2s_port, &s.ca_pems, jid, password).await?;
    let bound: Jid = c.jid.parse().map_err(|e| format!("{e}"))?;
    Ok((c, bound))
}

/// Authenticate once with tokio-xmpp's own SASL client, without the
/// reconnecting `Client` (which retries failed logins forever and reports
/// nothing): Ok(()) on success, the error text on failure.
async fn try_auth(s: &XmppServer, jid: &str, password: &str) -> Result<(), String> {
    use tokio_xmpp::connect::ServerConnector;
    let jid: Jid = jid.parse().map_err(|e| format!("{e}"))?;
    let (pending, _) = connector(s)
        .connect(&jid, "jabber:client", Timeouts::tight())
        .await
        .map_err(|e| e.to_string())?;
    let (features, stream) = pending.recv_features().await.map_err(|e| e.to_string())?;
    let creds = sasl::common::Credentials::default()
        .with_username(jid.node().map(|n| n.as_str()).unwrap_or(""))
        .with_password(password)
        .with_channel_binding(sasl::common::ChannelBinding::None);
    tokio::time::timeout(
        Duration::from_secs(15),
        tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds),
    )
    .await
    .map_err(|_| "auth timed out".to_string())?
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Wait for the next stanza matching `pred`, as an Element.
async fn next_stanza(client: &mut TxClient, pred: impl Fn(&Element) -> bool) -> Element {
    match client.next_matching(pred).await {
        Ok(e) => e,
        Err(e) => panic!("waiting for a stanza: {e}"),
    }
}

async fn send(client: &mut TxClient, xml: &str) {
    client.send_xml(xml).await;
}

fn logged_mechanism(s: &XmppServer, jid: &str) -> Option<String> {
    s.daemon
        .log()
        .lines()
        .find(|l| l.contains("authenticated") && l.contains(&format!("jid={jid}")))
        .and_then(|l| {
            l.split("mechanism=")
                .nth(1)
                .map(|m| m.split_whitespace().next().unwrap_or("").to_string())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_mechanisms_over_starttls_with_tokio_xmpp() {
    let s = XmppServer::start();
    s.register("alice", "hashed.test", "wonderland");
    s.register("carol", "sha1.test", "c-pass");
    s.register("dave", "plain.test", "d-pass");

    let (_a, a_jid) = login(&s, "alice@hashed.test", "wonderland")
        .await
        .expect("SCRAM-SHA-256 login");
    assert_eq!(a_jid.to_bare().as_str(), "alice@hashed.test");
    let (_c, _) = login(&s, "carol@sha1.test", "c-pass")
        .await
        .expect("SCRAM-SHA-1 login");
    let (_d, _) = login(&s, "dave@plain.test", "d-pass")
        .await
        .expect("PLAIN login");
    let (_n, n_jid) = login(&s, "anon@meet.test", "")
        .await
        .expect("ANONYMOUS login");

    assert_eq!(
        logged_mechanism(&s, "alice@hashed.test").as_deref(),
        Some("SCRAM-SHA-256")
    );
    assert_eq!(
        logged_mechanism(&s, "carol@sha1.test").as_deref(),
        Some("SCRAM-SHA-1")
    );
    assert_eq!(
        logged_mechanism(&s, "dave@plain.test").as_deref(),
        Some("PLAIN")
    );
    // Anonymous users get a UUID node: lib-jitsi-meet takes its first 8 hex digits.
    let node = n_jid.node().expect("anonymous node").as_str().to_string();
    assert_eq!(n_jid.domain().as_str(), "meet.test");
    assert!(uuid_like(&node), "anonymous node {node} is not a UUID");
    assert_eq!(
        logged_mechanism(&s, &format!("{node}@meet.test")).as_deref(),
        Some("ANONYMOUS")
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_and_logged_without_the_password() {
    let s = XmppServer::start();
    s.register("alice", "hashed.test", "right-password");
    s.register("dave", "plain.test", "right-password");
    try_auth(&s, "alice@hashed.test", "right-password")
        .await
        .expect("right password works");
    for jid in ["alice@hashed.test", "dave@plain.test", "nobody@hashed.test"] {
        let err = try_auth(&s, jid, "WRONG-guess-123")
            .await
            .expect_err("login must fail");
        assert!(err.contains("NotAuthorized"), "{jid}: {err}");
    }
    let log = s.daemon.log();
    assert!(log.contains("authentication failed"), "{log}");
    assert!(
        !log.contains("WRONG-guess-123"),
        "password leaked into the log"
    );
    assert!(
        !log.contains("right-password"),
        "password leaked into the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_between_users_and_to_offline_targets() {
    let s = XmppServer::start();
    s.register("alice", "hashed.test", "a");
    s.register("bob", "hashed.test", "b");
    let (mut a, a_jid) = login(&s, "alice@hashed.test", "a").await.expect("alice");
    let (mut b, b_jid) = login(&s, "bob@hashed.test", "b").await.expect("bob");
    send(&mut b, "<presence xmlns='jabber:client'/>").await;
    send(&mut a, "<presence xmlns='jabber:client'/>").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // To the full JID.
    send(&mut a, &format!("<message xmlns='jabber:client' to='{b_jid}' type='chat' id='m1'><body>hello bob</body></message>")).await;
    let got = next_stanza(&mut b, |e| e.name() == "message").await;
    assert_eq!(got.attr("from"), Some(a_jid.as_str()));
    assert_eq!(
        got.get_child("body", "jabber:client")
            .map(|b| b.text())
            .as_deref(),
        Some("hello bob")
    );
    // To the bare JID.
    send(&mut b, "<message xmlns='jabber:client' to='alice@hashed.test' type='chat' id='m2'><body>hi alice</body></message>").await;
    let got = next_stanza(&mut a, |e| e.name() == "message").await;
    assert_eq!(got.attr("from"), Some(b_jid.as_str()));
    // An IQ to a resource that does not exist: service-unavailable.
    send(&mut a, "<iq xmlns='jabber:client' type='get' id='q1' to='bob@hashed.test/nope'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let err = next_stanza(&mut a, |e| e.attr("id") == Some("q1")).await;
    assert_eq!(err.attr("type"), Some("error"));
    assert!(
        format!("{err:?}").contains("service-unavailable"),
        "{err:?}"
    );
    // A remote domain: no s2s here.
    send(
        &mut a,
        "<message xmlns='jabber:client' to='x@elsewhere.example' id='m3'><body>x</body></message>",
    )
    .await;
    let err = next_stanza(&mut a, |e| e.attr("id") == Some("m3")).await;
    assert!(
        format!("{err:?}").contains("remote-server-not-found"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disco_ping_version_and_external_services() {
    let s = XmppServer::start();
    let (mut c, _) = login(&s, "anon@meet.test", "").await.expect("anonymous");
    send(&mut c, "<iq xmlns='jabber:client' type='get' id='d1' to='meet.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>").await;
    let info = next_stanza(&mut c, |e| e.attr("id") == Some("d1")).await;
    assert_eq!(info.attr("type"), Some("result"));
    let q = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("query");
    let identities: Vec<(String, String, String)> = q
        .children()
        .filter(|c| c.name() == "identity")
        .map(|c| {
            (
                c.attr("category").unwrap_or("").to_string(),
                c.attr("type").unwrap_or("").to_string(),
                c.attr("name").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        identities.contains(&(
            "component".into(),
            "speakerstats".into(),
            "speakerstats.meet.test".into()
        )),
        "{identities:?}"
    );
    assert!(
        identities.contains(&(
            "component".into(),
            "conference_duration".into(),
            "conferenceduration.meet.test".into()
        )),
        "{identities:?}"
    );
    let features: Vec<&str> = q
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var"))
        .collect();
    for f in [
        "urn:xmpp:ping",
        "http://jabber.org/protocol/disco#info",
        "urn:xmpp:extdisco:2",
    ] {
        assert!(features.contains(&f), "missing feature {f}: {features:?}");
    }

    send(&mut c, "<iq xmlns='jabber:client' type='get' id='d2' to='meet.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>").await;
    let items = next_stanza(&mut c, |e| e.attr("id") == Some("d2")).await;
    let text = format!("{items:?}");
    assert!(text.contains("conference.meet.test"), "{text}");

    send(&mut c, "<iq xmlns='jabber:client' type='get' id='p1' to='meet.test'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let pong = next_stanza(&mut c, |e| e.attr("id") == Some("p1")).await;
    assert_eq!(pong.attr("type"), Some("result"));
    assert_eq!(pong.attr("from"), Some("meet.test"));

    send(&mut c, "<iq xmlns='jabber:client' type='get' id='e1' to='meet.test'><services xmlns='urn:xmpp:extdisco:2'/></iq>").await;
    let svc = next_stanza(&mut c, |e| e.attr("id") == Some("e1")).await;
    assert_eq!(svc.attr("type"), Some("result"), "{svc:?}");
    let services = svc
        .get_child("services", "urn:xmpp:extdisco:2")
        .expect("services");
    let list: Vec<&Element> = services.children().collect();
    assert_eq!(list.len(), 2, "{services:?}");
    let turn = list
        .iter()
        .find(|e| e.attr("type") == Some("turn"))
        .expect("turn entry");
    let user = turn.attr("username").expect("username");
    let pass = turn.attr("password").expect("password");
    let expiry: u64 = user.parse().expect("username is the expiry time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    assert!(
        expiry > now && expiry <= now + 86_400 + 5,
        "expiry {expiry} vs now {now}"
    );
    // coturn use-auth-secret: base64(HMAC-SHA1(secret, username)), checked
    // with an independent implementation (openssl is not used anywhere here,
    // so recompute with Python's hmac, a peer nobody here wrote).
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,base64,sys;print(base64.b64encode(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha1).digest()).decode())",
            meet_tests::xmpp::TURN_SECRET,
            user,
        ])
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pass);
    let stun = list
        .iter()
        .find(|e| e.attr("type") == Some("stun"))
        .expect("stun entry");
    assert!(stun.attr("password").is_none());
}

/// Minimal XEP-0114 client for routing tests (the focus is one of these).
async fn component_connect(port: u16, domain: &str, secret: &str) -> (RawConn, String) {
    let mut c = RawConn::connect(port).await;
    c.send(&format!(
        "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'>"
    ))
    .await;
    let header = c.expect("id='").await;
    let id_start = header.find("id='").map(|i| i + 4).expect("id");
    let id_end = header[id_start..]
        .find('\'')
        .map(|i| i + id_start)
        .expect("id end");
    let id = header[id_start..id_end].to_string();
    use std::fmt::Write;
    let digest = {
        let out = std::process::Command::new("python3")
            .args(["-c", "import hashlib,sys;print(hashlib.sha1((sys.argv[1]+sys.argv[2]).encode()).hexdigest())", &id, secret])
            .output()
            .expect("python3");
        let mut s = String::new();
        let _ = write!(s, "{}", String::from_utf8_lossy(&out.stdout).trim());
        s
    };
    c.received.clear();
    c.send(&format!("<handshake>{digest}</handshake>")).await;
    (c, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_handshake_and_routing_both_ways() {
    let s = XmppServer::start();
    let (mut comp, _) = component_connect(s.component_port, FOCUS, FOCUS_SECRET).await;
    comp.expect("<handshake").await;
    comp.received.clear();
    let (mut c, c_jid) = login(&s, "anon@meet.test", "").await.expect("anonymous");
    // Client → component (what a conference request does).
    send(
        &mut c,
        "<iq xmlns='jabber:client' type='set' id='conf1' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='r@conference.meet.test' machine-uid='m'/></iq>",
    )
    .await;
    let got = comp.expect("</iq>").await;
    assert!(got.contains("jabber:component:accept"), "{got}");
    assert!(
        got.contains(&format!("from=\"{c_jid}\"")) || got.contains(&format!("from='{c_jid}'")),
        "{got}"
    );
    assert!(got.contains("machine-uid"), "payload lost: {got}");
    comp.received.clear();
    // Component → client.
    comp.send(&format!(
        "<iq xmlns='jabber:component:accept' type='result' id='conf1' from='focus.meet.test' to='{c_jid}'><conference xmlns='http://jitsi.org/protocol/focus' ready='true' room='r@conference.meet.test'/></iq>"
    ))
    .await;
    let reply = next_stanza(&mut c, |e| e.attr("id") == Some("conf1")).await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.attr("from"), Some("focus.meet.test"));
    assert!(reply.has_child("conference", "http://jitsi.org/protocol/focus"));
    // A second connection for the same component is refused.
    let (mut dup, _) = component_connect(s.component_port, FOCUS, FOCUS_SECRET).await;
    let text = dup.read_to_close().await;
    assert!(text.contains("conflict"), "{text}");
    // A component may not forge a from outside its domain.
    comp.send("<message xmlns='jabber:component:accept' from='admin@meet.test' to='x@meet.test'><body>x</body></message>").await;
    let text = comp.read_to_close().await;
    assert!(text.contains("invalid-from"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_component_secret_gets_not_authorized() {
    let s = XmppServer::start();
    let (mut comp, _) = component_connect(s.component_port, FOCUS, "not-the-secret").await;
    let text = comp.read_to_close().await;
    assert!(text.contains("<not-authorized"), "{text}");
    let mut unknown = RawConn::connect(s.component_port).await;
    unknown
        .send("<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='nope.meet.test'>")
        .await;
    let text = unknown.read_to_close().await;
    assert!(text.contains("host-unknown"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_input_close_only_that_stream() {
    let s = XmppServer::start_with(meet_tests::xmpp::Options {
        stanza_limit: 16 * 1024,
        ..Default::default()
    });
    let (mut bystander, _) = login(&s, "anon@meet.test", "").await.expect("bystander");

    let mut big = RawConn::connect(s.c2s_port).await;
    big.anonymous_login("meet.test").await;
    let body = "x".repeat(20 * 1024);
    big.send(&format!(
        "<message to='a@meet.test'><body>{body}</body></message>"
    ))
    .await;
    let text = big.read_to_close().await;
    assert!(text.contains("policy-violation"), "{text}");

    let mut bad = RawConn::connect(s.c2s_port).await;
    bad.anonymous_login("meet.test").await;
    bad.send("<message><body>unclosed</message>").await;
    let text = bad.read_to_close().await;
    assert!(text.contains("not-well-formed"), "{text}");

    let mut pre_auth = RawConn::connect(s.c2s_port).await;
    pre_auth.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='meet.test' version='1.0'><<<").await;
    let text = pre_auth.read_to_close().await;
    assert!(text.contains("not-well-formed"), "{text}");

    let mut unknown = RawConn::connect(s.c2s_port).await;
    unknown.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='other.example' version='1.0'>").await;
    let text = unknown.read_to_close().await;
    assert!(text.contains("host-unknown"), "{text}");

    // The bystander is unaffected.
    send(&mut bystander, "<iq xmlns='jabber:client' type='get' id='p9' to='meet.test'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let pong = next_stanza(&mut bystander, |e| e.attr("id") == Some("p9")).await;
    assert_eq!(pong.attr("type"), Some("result"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_mid_stream_is_cleaned_up() {
    let s = XmppServer::start();
    let (mut watcher, w_jid) = login(&s, "anon@meet.test", "").await.expect("watcher");
    let mut ghost = RawConn::connect(s.c2s_port).await;
    let ghost_jid = ghost.anonymous_login("meet.test").await;
    // Directed presence to the watcher, then half a stanza, then gone.
    ghost.send(&format!("<presence to='{w_jid}'/>")).await;
    let p = next_stanza(&mut watcher, |e| e.name() == "presence").await;
    assert_eq!(p.attr("from"), Some(ghost_jid.as_str()));
    ghost.send("<message to='x@meet.test'><bo").await;
    drop(ghost);
    // The server withdraws the directed presence (RFC 6121 §4.6.3).
    let gone = next_stanza(&mut watcher, |e| {
        e.name() == "presence" && e.attr("type") == Some("unavailable")
    })
    .await;
    assert_eq!(gone.attr("from"), Some(ghost_jid.as_str()));
    // And the session is gone: an IQ to it bounces.
    send(&mut watcher, &format!("<iq xmlns='jabber:client' type='get' id='g1' to='{ghost_jid}'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    let err = next_stanza(&mut watcher, |e| e.attr("id") == Some("g1")).await;
    assert_eq!(err.attr("type"), Some("error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_passwd_deluser_and_cert_generate() {
    let s = XmppServer::start();
    s.register("erin", "hashed.test", "first");
    let dup = s.ctl(&["register", "erin", "hashed.test", "again"]);
    assert!(!dup.status.success(), "duplicate register must fail");
    let anon = s.ctl(&["register", "x", "meet.test", "p"]);
    assert!(!anon.status.success(), "anonymous hosts have no accounts");
    let (_c, _) = login(&s, "erin@hashed.test", "first")
        .await
        .expect("first password");
    let out = s.ctl(&["passwd", "erin@hashed.test", "second"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        try_auth(&s, "erin@hashed.test", "first").await.is_err(),
        "old password still works"
    );
    login(&s, "erin@hashed.test", "second")
        .await
        .expect("new password");
    let out = s.ctl(&["deluser", "erin@hashed.test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        try_auth(&s, "erin@hashed.test", "second").await.is_err(),
        "deleted user can log in"
    );
    let out = s.ctl(&["deluser", "erin@hashed.test"]);
    assert!(!out.status.success(), "deleting twice must fail");

    // internal_hashed keeps no password in the database.
    s.register("frank", "hashed.test", "very-secret-pw");
    let db = std::fs::read(s.dir.path().join("data/accounts.sqlite")).expect("db");
    let needle = b"very-secret-pw";
    assert!(
        !db.windows(needle.len()).any(|w| w == needle),
        "password stored in clear"
    );

    let out = s.ctl(&["cert", "generate", "new.meet.test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("new.meet.test.crt") && text.contains("new.meet.test.key"),
        "{text}"
    );
    let crt = std::fs::read_to_string(s.dir.path().join("data/new.meet.test.crt")).expect("crt");
    assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"));
    // A bad config stops check-config with the file and the key named.
    let bad = s.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "c2s_ports = [\"x\"]\n[[virtual_host]]\nhost = \"a.test\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(meet_tests::binary("xmpp-server"))
        .arg("--config")
        .arg(&bad)
        .arg("check-config")
        .output()
        .expect("check-config");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("c2s_ports"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_required_where_configured() {
    let s = XmppServer::start();
    // hashed.test requires encryption: without STARTTLS no mechanisms are
    // offered and an auth attempt fails with encryption-required.
    let mut c = RawConn::connect(s.c2s_port).await;
    c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hashed.test' version='1.0'>").await;
    let feats = c.expect("</stream:features>").await;
    assert!(feats.contains("<required"), "{feats}");
    assert!(!feats.contains("<mechanisms"), "{feats}");
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
        .await;
    let text = c.expect("</failure>").await;
    assert!(text.contains("encryption-required"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly() {
    let mut s = XmppServer::start();
    let (_c, _) = login(&s, "anon@meet.test", "").await.expect("anonymous");
    let code = s.daemon.terminate();
    assert_eq!(code, Some(0), "{}", s.daemon.log());
    assert!(s.daemon.log().contains("stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stalls_gets_no_silent_loss() {
    let s = XmppServer::start_with(meet_tests::xmpp::Options {
        extra_global: "c2s_read_rate_limit = 0".into(),
        ..Default::default()
    });
    let mut reader = RawConn::connect(s.c2s_port).await;
    let reader_jid = reader.anonymous_login("meet.test").await;
    let mut sender = RawConn::connect(s.c2s_port).await;
    sender.anonymous_login("meet.test").await;
    // Far more than the kernel's socket buffers and the server's inbox hold.
    const N: usize = 60_000;
    // The sender writes from its own task and keeps reading its errors
    // meanwhile: a sender that did not read would itself stall the server's
    // writes to it (back-pressure), which is not what this test is about.
    let (mut sender_rd, mut sender_wr) = sender.stream.into_split();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut chunk = String::new();
        for i in 0..N {
            chunk.push_str(&format!(
                "<message to='{reader_jid}' id='m{i}'><body>m{i}</body></message>"
            ));
            if chunk.len() > 256 * 1024 || i == N - 1 {
                sender_wr.write_all(chunk.as_bytes()).await.expect("send");
                chunk.clear();
            }
        }
        sender_wr
    });
    let mut sender_text = String::new();
    let mut buf = vec![0u8; 256 * 1024];
    // The reader does not read until the sender has been refused at least once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut refused = 0;
    while refused == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no resource-constraint error"
        );
        use tokio::io::AsyncReadExt;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(50), sender_rd.read(&mut buf)).await
        {
            assert!(n > 0, "server closed the sender");
            sender_text.push_str(&String::from_utf8_lossy(&buf[..n]));
            refused += take_count(&mut sender_text, "resource-constraint");
        }
    }
    // Everything else reaches the reader once it reads again.
    let mut delivered = 0;
    while delivered + refused < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered {delivered} + refused {refused} != {N}"
        );
        reader.read_some(Duration::from_millis(20)).await;
        delivered += take_count(&mut reader.received, "</message>");
        use tokio::io::AsyncReadExt;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), sender_rd.read(&mut buf)).await
        {
            sender_text.push_str(&String::from_utf8_lossy(&buf[..n]));
            refused += take_count(&mut sender_text, "resource-constraint");
        }
    }
    let _ = writer.await;
    assert_eq!(delivered + refused, N, "nothing lost silently");
    assert!(refused > 0);
}

/// Count complete occurrences of `needle` and drop the text up to the last one.
fn take_count(text: &mut String, needle: &str) -> usize {
    let n = text.matches(needle).count();
    if let Some(i) = text.rfind(needle) {
        text.drain(..i + needle.len());
    }
    n
}
