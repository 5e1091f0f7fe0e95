//! Our focus and videobridge against stock Debian Prosody (0.12, no Jitsi
//! modules) in place of our xmpp-server, for everything Prosody itself
//! provides: the focus's XEP-0114 component and c2s connection, the
//! bridge's c2s connection, the conference MUC and the brewery MUC with
//! Prosody's own IQ routing through occupant JIDs. Test participants
//! (tokio-xmpp signalling, str0m media) log in anonymously on Prosody.
//! The scenarios are those of focus_conference.rs and focus_health.rs:
//! media through the bridge with source signalling, moderator hand-over
//! and mute rules; `/about/health` following the brewery; a bridge killed
//! mid-conference. Plus: a semi-anonymous room made non-anonymous by the
//! focus's own `muc#roomconfig_whois = anyone`.

use std::time::Duration;

use meet_tests::participant::Participant;
use meet_tests::prosody::{Options, Prosody};
use meet_tests::scenario::{check_media, http_get, run_all, wait_connected};
use meet_tests::tx::TxClient;
use meet_tests::xmpp::FOCUS;
use meet_tests::{focus, videobridge};
use minidom::Element;

const ROOM: &str = "meeting@conference.meet.test";
const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const NO_BRIDGES: &str = "No operational bridges available (total bridge count: 0)";

fn server_with(opts: Options) -> Prosody {
    let s = Prosody::start_with(opts);
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    s
}

fn server() -> Prosody {
    server_with(Options::default())
}

/// Polls the focus's `/about/health` until it answers `code` with `body`.
async fn wait_health(f: &focus::Focus, code: u16, body: &str, logs: impl Fn() -> String) {
    meet_tests::scenario::wait_health(f.http_port, (code, body), logs).await;
}

/// The latest presence `p` holds from `nick` in the room.
fn latest_presence<'a>(p: &'a Participant, nick: &str) -> Option<&'a Element> {
    let from = format!("{ROOM}/{nick}");
    p.inbox
        .iter()
        .rev()
        .find(|e| e.name() == "presence" && e.attr("from") == Some(from.as_str()))
}

/// The real JID (`<item jid>`) in `p`'s latest presence from `nick`.
fn real_jid_of(p: &Participant, nick: &str) -> Option<String> {
    latest_presence(p, nick)
        .and_then(|e| e.get_child("x", NS_MUC_USER))
        .and_then(|x| x.get_child("item", NS_MUC_USER))
        .and_then(|i| i.attr("jid"))
        .map(str::to_string)
}

/// An anonymous session Prosody opened on meet.test (0.12 names them with
/// a random 24-character base64url node, not a UUID).
fn is_anonymous_meet_jid(jid: &str) -> bool {
    jid.split_once('@').is_some_and(|(node, rest)| {
        !node.is_empty()
            && node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && rest.starts_with("meet.test/")
    })
}

/// XEP-0114 with Prosody: its answer to the component's stream header has
/// no `version` attribute (as in XEP-0114 §3, example 2); the focus must
/// take it, complete the handshake, and answer what Prosody routes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_focus_component_logs_in_to_prosody() {
    let s = server();
    let f = focus::start(&s, "");
    f.daemon
        .wait_for_log("component connected", Duration::from_secs(20));
    s.daemon.wait_for_log(
        "External component successfully authenticated",
        Duration::from_secs(5),
    );
    let mut client = TxClient::login(s.c2s_port, &s.ca_pems, "anon@meet.test", "")
        .await
        .expect("anonymous login");
    client
        .send_xml(&format!("<iq xmlns='jabber:client' type='get' to='{FOCUS}' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        .await;
    let r = client
        .next_matching(|e| e.attr("id") == Some("d1"))
        .await
        .expect("disco#info answer");
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    assert_eq!(r.attr("from"), Some(FOCUS));
    assert!(
        String::from(&r).contains("http://jitsi.org/protocol/focus"),
        "{}",
        String::from(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_meet_through_the_bridge_and_signalling_follows_them() {
    let s = server();
    let bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    let logs = || {
        format!(
            "--- focus\n{}\n--- bridge\n{}\n--- prosody\n{}",
            f.daemon.log(),
            bridge.daemon.log(),
            s.daemon.log()
        )
    };
    wait_health(&f, 200, "", logs).await;

    // A: JSON-encoded sources; B: XML. Both get an offer with the bridge's
    // transport and colibri-ws URL: the focus allocated on the bridge
    // through Prosody's brewery.
    let mut a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    assert!(
        is_anonymous_meet_jid(&a.xmpp.jid),
        "anonymous JID from Prosody: {}",
        a.xmpp.jid
    );
    wait_connected(&mut a, &logs()).await;
    assert_eq!(
        a.jingle_log.first().map(String::as_str),
        Some("session-initiate")
    );
    assert!(
        a.transport
            .as_ref()
            .and_then(|t| t.web_socket.as_ref())
            .is_some_and(|u| u.contains("/colibri-ws/jvb1/")),
        "{:?}",
        a.transport
    );
    let mut b = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "bbbbbbbb", 2000, false).await;
    wait_connected(&mut b, &logs()).await;
    assert_eq!(
        b.remote.get("aaaaaaaa").map(Vec::len),
        Some(3),
        "B's offer has A's sources: {:?}",
        b.remote
    );
    // A learns B's sources by source-add.
    assert!(
        a.run_until(Duration::from_secs(10), |a| a
            .remote
            .contains_key("bbbbbbbb"))
            .await,
        "A never got B's sources: {:?}\n{}",
        a.jingle_log,
        logs()
    );
    assert!(a.jingle_log.iter().any(|j| j == "source-add"));
    check_media(&mut [&mut a, &mut b], logs).await;

    // The room is non-anonymous: B sees A's real JID (§0.3 item 5).
    let a_jid = a.xmpp.jid.clone();
    assert!(
        b.run_until(Duration::from_secs(10), |b| real_jid_of(b, "aaaaaaaa")
            .as_deref()
            == Some(a_jid.as_str()))
            .await,
        "B never saw A's real JID {a_jid}: {:?}",
        latest_presence(&b, "aaaaaaaa").map(String::from)
    );
    // A joined first and was made owner by the focus (Prosody checks the
    // focus's affiliation: it is an admin, hence an owner of every room).
    assert!(
        b.run_until(Duration::from_secs(10), |b| b.sees_owner("aaaaaaaa"))
            .await,
        "A was never made owner\n{}",
        logs()
    );
    assert!(!a.sees_owner("bbbbbbbb"), "B became owner too");
    // The focus's presence carries its conference properties.
    let focus_presence = latest_presence(&b, "focus")
        .map(String::from)
        .unwrap_or_default();
    assert!(
        focus_presence.contains("conference-properties") && focus_presence.contains("owner"),
        "{focus_presence}"
    );

    // Mute rules (§2.5), IQs routed by Prosody through occupant JIDs:
    // B may not mute A; A mutes B.
    let r = b
        .iq(&format!("<iq xmlns='jabber:client' type='set' to='{ROOM}/focus' id='mute1'><mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/aaaaaaaa'>true</mute></iq>"))
        .await;
    assert!(
        String::from(&r).contains("not-allowed"),
        "{}",
        String::from(&r)
    );
    let r = a
        .iq(&format!("<iq xmlns='jabber:client' type='set' to='{ROOM}/focus' id='mute2'><mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/bbbbbbbb'>true</mute></iq>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let order = b
        .wait_for("mute order", |e| e.children().any(|c| c.name() == "mute"))
        .await;
    assert_eq!(order.attr("from"), Some(&format!("{ROOM}/focus")[..]));
    assert!(
        String::from(&order).contains(&format!("{ROOM}/aaaaaaaa")),
        "actor: {}",
        String::from(&order)
    );

    // C joins: its offer has A's and B's sources; A and B get source-add.
    let mut c = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "cccccccc", 3000, true).await;
    wait_connected(&mut c, &logs()).await;
    assert!(
        c.remote.contains_key("aaaaaaaa") && c.remote.contains_key("bbbbbbbb"),
        "{:?}",
        c.remote
    );
    for p in [&mut a, &mut b] {
        assert!(
            p.run_until(Duration::from_secs(10), |p| p
                .remote
                .contains_key("cccccccc"))
                .await,
            "{} never got C's sources",
            p.nick
        );
    }
    check_media(&mut [&mut a, &mut b, &mut c], logs).await;

    // A leaves: the others get source-remove, and the focus hands the
    // moderator role to B (the longest-present participant).
    a.leave().await;
    for p in [&mut b, &mut c] {
        assert!(
            p.run_until(Duration::from_secs(10), |p| !p
                .remote
                .contains_key("aaaaaaaa"))
                .await,
            "{} kept A's sources: {:?}",
            p.nick,
            p.jingle_log
        );
        assert!(p.jingle_log.iter().any(|j| j == "source-remove"));
    }
    assert!(
        c.run_until(Duration::from_secs(10), |c| c.sees_owner("bbbbbbbb"))
            .await,
        "B did not become the moderator\n{}",
        logs()
    );
    assert!(!c.sees_owner("cccccccc"), "C became moderator too");
    // The conference goes on for the others.
    let before = c.received_from(&b);
    run_all(&mut [&mut b, &mut c], Duration::from_secs(2)).await;
    let after = c.received_from(&b);
    assert!(
        after.0 > before.0 + 10 && after.1 > before.1 + 10,
        "{before:?} → {after:?}"
    );
    // Everyone leaves: the focus ends the conference.
    b.leave().await;
    c.leave().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stats) = http_get(f.http_port, "/stats").await;
        let v: serde_json::Value = serde_json::from_str(&stats).unwrap_or_default();
        if v["conferences"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "conference not ended: {stats}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_bridges_in_prosodys_brewery() {
    let s = server();
    let f = focus::start(&s, "");
    let logs = || {
        format!(
            "--- focus\n{}\n--- prosody\n{}",
            f.daemon.log(),
            s.daemon.log()
        )
    };
    // The focus is up (component and client connected, in the brewery)
    // but there is no bridge yet: jicofo's exact answer.
    f.daemon
        .wait_for_log("joined the brewery", Duration::from_secs(30));
    wait_health(&f, 500, NO_BRIDGES, logs).await;
    // A bridge joins Prosody's brewery and passes the focus's health
    // checks (IQs routed through its occupant JID).
    let bridge = videobridge::start(&s, "jvb1", None);
    wait_health(&f, 200, "", logs).await;
    f.daemon
        .wait_for_log("bridge joined the brewery", Duration::from_secs(10));
    // Killed (SIGKILL, no goodbye): Prosody sees the connection drop and
    // tells the brewery the occupant is gone.
    drop(bridge);
    wait_health(&f, 500, NO_BRIDGES, logs).await;
    assert!(
        f.daemon.log().contains("bridge left the brewery"),
        "{}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_killed_mid_conference_hands_over_to_another() {
    let s = server();
    let b1 = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    let logs = || {
        format!(
            "--- focus\n{}\n--- prosody\n{}",
            f.daemon.log(),
            s.daemon.log()
        )
    };
    wait_health(&f, 200, "", logs).await;
    let mut a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    let mut b = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "bbbbbbbb", 2000, false).await;
    wait_connected(&mut a, &logs()).await;
    wait_connected(&mut b, &logs()).await;
    assert!(
        a.run_until(Duration::from_secs(10), |a| a
            .remote
            .contains_key("bbbbbbbb"))
            .await
    );
    check_media(&mut [&mut a, &mut b], logs).await;

    // A second bridge joins; once the focus knows it, the first is killed
    // (SIGKILL: Prosody's brewery reports it gone).
    let b2 = videobridge::start(&s, "jvb2", None);
    assert!(
        a.run_until(Duration::from_secs(20), |_| f
            .daemon
            .log()
            .matches("bridge joined the brewery")
            .count()
            >= 2)
            .await,
        "the focus never saw jvb2\n{}",
        logs()
    );
    drop(b1);
    for p in [&mut a, &mut b] {
        assert!(
            p.run_until(Duration::from_secs(30), |p| p
                .jingle_log
                .iter()
                .any(|j| j == "transport-replace"))
                .await,
            "{}: no transport-replace: {:?}\n{}",
            p.nick,
            p.jingle_log,
            logs()
        );
        assert!(
            p.transport
                .as_ref()
                .and_then(|t| t.web_socket.as_ref())
                .is_some_and(|u| u.contains("/colibri-ws/jvb2/")),
            "{} not moved to jvb2: {:?}",
            p.nick,
            p.transport
        );
    }
    wait_connected(&mut a, &logs()).await;
    wait_connected(&mut b, &logs()).await;
    let before = (a.received_from(&b), b.received_from(&a));
    run_all(&mut [&mut a, &mut b], Duration::from_secs(3)).await;
    let after = (a.received_from(&b), b.received_from(&a));
    assert!(
        after.0.0 > before.0.0 + 20
            && after.0.1 > before.0.1 + 20
            && after.1.0 > before.1.0 + 20
            && after.1.1 > before.1.1 + 20,
        "media after the move: {before:?} → {after:?}\n{}\n--- jvb2\n{}",
        logs(),
        b2.daemon.log()
    );
}

/// Without `muc_room_default_public_jids`, Prosody's rooms start
/// semi-anonymous; the focus's `muc#roomconfig_whois = anyone` submit
/// (§2.1 step 3) is what lets participants see each other's real JIDs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_focus_makes_a_semi_anonymous_room_non_anonymous() {
    let s = server_with(Options { public_jids: false });
    let _bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    let logs = || {
        format!(
            "--- focus\n{}\n--- prosody\n{}",
            f.daemon.log(),
            s.daemon.log()
        )
    };
    wait_health(&f, 200, "", logs).await;
    let mut a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    let mut b = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "bbbbbbbb", 2000, false).await;
    wait_connected(&mut a, &logs()).await;
    wait_connected(&mut b, &logs()).await;
    let a_jid = a.xmpp.jid.clone();
    assert!(
        b.run_until(Duration::from_secs(10), |b| real_jid_of(b, "aaaaaaaa")
            .as_deref()
            == Some(a_jid.as_str()))
            .await,
        "B (not a moderator) never saw A's real JID {a_jid}: {:?}\n{}",
        latest_presence(&b, "aaaaaaaa").map(String::from),
        logs()
    );
    // The room says so in its disco#info.
    let info = b
        .iq(&format!("<iq xmlns='jabber:client' type='get' to='{ROOM}' id='info1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        .await;
    let info = String::from(&info);
    assert!(
        info.contains("muc_nonanonymous") && !info.contains("muc_semianonymous"),
        "{info}"
    );
}
