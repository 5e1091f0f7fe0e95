//! Conferences end to end: the real xmpp-server, videobridge(s) and focus,
//! with test participants (tokio-xmpp signalling, str0m media) that send the
//! conference request, get session-initiate, answer, and exchange media
//! through the bridge (jitsi-protocol.md §9). Also: source signalling as
//! people come and go, moderator hand-over, mute rules, the secure-domain
//! rules, and a bridge killed mid-conference.

use std::time::Duration;

use meet_tests::participant::{Participant, conference_request};
use meet_tests::scenario::{check_media, http_get, run_all, wait_connected, wait_health};
use meet_tests::tx::TxClient;
use meet_tests::xmpp::{Options, XmppServer};
use meet_tests::{focus, videobridge};

const ROOM: &str = "meeting@conference.meet.test";

fn server() -> XmppServer {
    let s = XmppServer::start();
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    s
}

async fn wait_healthy(f: &focus::Focus) {
    wait_health(f.http_port, (200, ""), || f.daemon.log()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_meet_through_the_bridge_and_signalling_follows_them() {
    let s = server();
    let bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    wait_healthy(&f).await;
    let logs = || {
        format!(
            "--- focus\n{}\n--- bridge\n{}",
            f.daemon.log(),
            bridge.daemon.log()
        )
    };

    // A: JSON-encoded sources; B: XML. Both get an offer with the bridge's
    // transport and colibri-ws URL.
    let mut a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    wait_connected(&mut a, &logs()).await;
    assert!(
        a.transport
            .as_ref()
            .and_then(|t| t.web_socket.as_ref())
            .is_some_and(|u| u.contains("/colibri-ws/jvb1/"))
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
    check_media(&mut [&mut a, &mut b], logs).await;

    // A joined first and is the moderator.
    assert!(
        b.run_until(Duration::from_secs(10), |b| b.sees_owner("aaaaaaaa"))
            .await,
        "A was never made owner\n{}",
        logs()
    );
    // Mute rules (§2.5): B may not mute A; A mutes B.
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

    // C joins (four-party signalling: C's offer has A's and B's sources).
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

    // A leaves: the others get source-remove and B becomes the moderator.
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
    }
    assert!(
        c.run_until(Duration::from_secs(10), |c| c.sees_owner("bbbbbbbb"))
            .await,
        "B did not become the moderator\n{}",
        logs()
    );
    // The conference goes on for the others.
    let before = c.received_from(&b);
    run_all(&mut [&mut b, &mut c], Duration::from_secs(2)).await;
    let after = c.received_from(&b);
    assert!(
        after.0 > before.0 + 10 && after.1 > before.1 + 10,
        "{before:?} → {after:?}"
    );
    // Everyone leaves: the bridge ends the conference.
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
            "conference not ended: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_killed_mid_conference_hands_over_to_another() {
    let s = server();
    let mut b1 = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    wait_healthy(&f).await;
    let mut a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    let mut b = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "bbbbbbbb", 2000, false).await;
    let logs = || f.daemon.log();
    wait_connected(&mut a, &logs()).await;
    wait_connected(&mut b, &logs()).await;
    assert!(
        a.run_until(Duration::from_secs(10), |a| a
            .remote
            .contains_key("bbbbbbbb"))
            .await
    );
    check_media(&mut [&mut a, &mut b], logs).await;

    // A second bridge joins, then the first dies.
    let b2 = videobridge::start(&s, "jvb2", None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    b1.daemon.terminate();
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
            f.daemon.log()
        );
        assert!(
            p.transport
                .as_ref()
                .and_then(|t| t.web_socket.as_ref())
                .is_some_and(|u| u.contains("/jvb2/")),
            "{} not moved to jvb2",
            p.nick
        );
    }
    wait_connected(&mut a, &logs()).await;
    wait_connected(&mut b, &logs()).await;
    let before = (a.received_from(&b), b.received_from(&a));
    run_all(&mut [&mut a, &mut b], Duration::from_secs(3)).await;
    let after = (a.received_from(&b), b.received_from(&a));
    assert!(
        after.0.0 > before.0.0 + 20 && after.1.1 > before.1.1 + 20,
        "media after the move: {before:?} → {after:?}\n{}\n--- jvb2\n{}",
        f.daemon.log(),
        b2.daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_domain_authenticated_creator_then_guests() {
    // hashed.test has password accounts; meet.test is anonymous (the guests).
    let s = XmppServer::start_with(Options::default());
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    s.register("alice", "hashed.test", "alice-pw");
    let _bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "auth_url = \"XMPP:hashed.test\"");
    wait_healthy(&f).await;

    // A guest alone may not create the room.
    let mut guest = TxClient::login(s.c2s_port, &s.ca_pems, "anon@meet.test", "")
        .await
        .expect("guest login");
    let r = conference_request(&mut guest, ROOM, None).await;
    let x = String::from(&r);
    assert!(x.contains("not-authorized"), "{x}");
    // Alice logs in with her password: a session and the room.
    let mut alice = TxClient::login(s.c2s_port, &s.ca_pems, "alice@hashed.test", "alice-pw")
        .await
        .expect("alice login");
    let r = conference_request(&mut alice, ROOM, None).await;
    let c = r
        .get_child("conference", "http://jitsi.org/protocol/focus")
        .unwrap_or_else(|| panic!("{}", String::from(&r)));
    assert_eq!(c.attr("ready"), Some("true"));
    assert_eq!(c.attr("identity"), Some("alice@hashed.test"));
    let session = c.attr("session-id").expect("session id").to_string();
    // A wrong session id is refused with session-invalid.
    let r = conference_request(&mut guest, ROOM, Some("bogus")).await;
    assert!(
        String::from(&r).contains("session-invalid"),
        "{}",
        String::from(&r)
    );
    // Alice's browser uses the session on its guest connection: owner.
    let mut alice_guest =
        Participant::join_with(guest, ROOM, "a11ce000", 1000, true, Some(&session))
            .await
            .unwrap_or_else(|e| panic!("{}", String::from(&e)));
    // A plain guest joins the room that now exists.
    let mut bob = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "b0b00000", 2000, true).await;
    assert!(
        bob.run_until(Duration::from_secs(10), |b| b.sees_owner("a11ce000"))
            .await,
        "the authenticated participant is not the moderator\n{}",
        f.daemon.log()
    );
    bob.run_for(Duration::from_secs(1)).await;
    assert!(!bob.sees_owner("b0b00000"), "a guest became moderator");
    wait_connected(&mut alice_guest, &f.daemon.log()).await;
    wait_connected(&mut bob, &f.daemon.log()).await;
    drop(alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_errors_and_the_conference_goes_on() {
    let s = server();
    let bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    wait_healthy(&f).await;
    let logs = || {
        format!(
            "--- focus\n{}\n--- bridge\n{}",
            f.daemon.log(),
            bridge.daemon.log()
        )
    };
    let mut a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    wait_connected(&mut a, &logs()).await;
    let sid = a.sid.clone().expect("sid");
    let focus_jid = format!("{ROOM}/focus");
    let jingle = |id: &str, body: &str| {
        format!("<iq xmlns='jabber:client' type='set' to='{focus_jid}' id='{id}'>{body}</iq>")
    };
    let cases = [
        // Malformed conference requests to the component.
        (
            "<iq xmlns='jabber:client' type='set' to='focus.meet.test' id='h1'><conference xmlns='http://jitsi.org/protocol/focus'/></iq>".to_string(),
            "bad-request",
        ),
        (
            "<iq xmlns='jabber:client' type='set' to='focus.meet.test' id='h2'><conference xmlns='http://jitsi.org/protocol/focus' room='not a room'/></iq>".to_string(),
            "bad-request",
        ),
        // Jingle without an action, for an unknown session, replayed, hostile.
        (jingle("h3", &format!("<jingle xmlns='urn:xmpp:jingle:1' sid='{sid}'/>")), "bad-request"),
        (
            jingle("h4", "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='nope'/>"),
            "unknown-session",
        ),
        (
            jingle("h5", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'/>")),
            "out-of-order",
        ),
        (
            jingle("h6", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'><content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1000'/></description></content></jingle>")),
            "bad-request",
        ),
        (
            jingle("h7", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'><content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>{}</description></content></jingle>",
                (0..40).map(|i| format!("<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{}'/>", 50_000 + i)).collect::<String>())),
            "bad-request",
        ),
        (
            jingle("h8", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='{sid}'><content name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'><candidate component='one'/></transport></content></jingle>")),
            "bad-request",
        ),
        // Mute of someone who is not there.
        (
            jingle("h9", &format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/zzzzzzzz'>true</mute>")),
            "item-not-found",
        ),
    ];
    for (xml, expect) in &cases {
        let r = a.iq(xml).await;
        let text = String::from(&r);
        assert_eq!(r.attr("type"), Some("error"), "{xml}\n→ {text}");
        assert!(text.contains(expect), "{xml}\n→ {text}");
    }
    // The conference is not stuck: B joins and both exchange media.
    let mut b = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "bbbbbbbb", 2000, false).await;
    wait_connected(&mut b, &logs()).await;
    assert!(
        a.run_until(Duration::from_secs(10), |a| a
            .remote
            .contains_key("bbbbbbbb"))
            .await,
        "A never got B's sources after the hostile requests\n{}",
        logs()
    );
    check_media(&mut [&mut a, &mut b], logs).await;
}
