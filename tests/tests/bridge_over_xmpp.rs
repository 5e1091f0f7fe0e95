//! The videobridge driven the way production drives it: the real
//! xmpp-server, the real focus allocating endpoints with Colibri2 over the
//! brewery, str0m participants doing ICE/DTLS on loopback. Five endpoints
//! each receive the other four intact; on the bridge channel (colibri-ws)
//! the dominant speaker and lastN events arrive and act; simulcast layers
//! switch when a receiver's constraints change.

use std::time::Duration;

use meet_tests::participant::Participant;
use meet_tests::xmpp::XmppServer;
use meet_tests::{focus, videobridge};
use serde_json::json;

const ROOM: &str = "bridge@conference.meet.test";

fn server() -> XmppServer {
    let s = XmppServer::start();
    s.register("focus", "auth.meet.test", "focus-pw");
    s.register("jvb", "auth.meet.test", "jvb-pw");
    s
}

async fn healthy(f: &focus::Focus) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", f.http_port)).await {
            let _ = s
                .write_all(b"GET /about/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf).await;
            if buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "focus never healthy\n{}",
            f.daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn pump(ps: &mut [Participant], dur: Duration) {
    let deadline = std::time::Instant::now() + dur;
    while std::time::Instant::now() < deadline {
        for p in ps.iter_mut() {
            p.send_media();
            p.run_for(Duration::from_millis(5)).await;
        }
    }
}

async fn connect_all(ps: &mut [Participant], logs: &dyn Fn() -> String) {
    for p in ps.iter_mut() {
        assert!(
            p.run_until(Duration::from_secs(30), |p| p.connected())
                .await,
            "{}: not connected: {:?}\n{}",
            p.nick,
            p.jingle_log,
            logs()
        );
    }
    // Everyone knows everyone else's sources.
    let n = ps.len();
    for p in ps.iter_mut() {
        assert!(
            p.run_until(Duration::from_secs(15), |p| p.remote.len() == n - 1)
                .await,
            "{} knows {:?}",
            p.nick,
            p.remote.keys().collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_endpoints_each_receive_the_other_four_intact() {
    let s = server();
    let bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    healthy(&f).await;
    let logs = || {
        format!(
            "--- focus\n{}\n--- bridge\n{}",
            f.daemon.log(),
            bridge.daemon.log()
        )
    };
    let mut ps = Vec::new();
    for i in 0..5u32 {
        let nick = format!("{:08x}", 0xa0a0_0000 + i);
        ps.push(
            Participant::join(
                s.c2s_port,
                &s.ca_pems,
                ROOM,
                &nick,
                1000 * (i + 1),
                i % 2 == 0,
            )
            .await,
        );
    }
    connect_all(&mut ps, &logs).await;
    pump(&mut ps, Duration::from_secs(4)).await;
    for i in 0..5 {
        for j in 0..5 {
            if i == j {
                continue;
            }
            let (a, v) = ps[i].received_from(&ps[j]);
            assert!(
                a >= 20 && v >= 20,
                "{} got {a}/{v} from {}\n{}",
                ps[i].nick,
                ps[j].nick,
                logs()
            );
            // Intact: every video payload names the sender's own layer.
            let layers = ps[i].layers_from(&ps[j]);
            assert_eq!(
                layers.keys().copied().collect::<Vec<_>>(),
                vec![ps[j].video_ssrc],
                "{layers:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_channel_speaker_last_n_and_simulcast_layers() {
    let s = server();
    let bridge = videobridge::start(&s, "jvb1", None);
    let f = focus::start(&s, "");
    healthy(&f).await;
    let logs = || {
        format!(
            "--- focus\n{}\n--- bridge\n{}",
            f.daemon.log(),
            bridge.daemon.log()
        )
    };
    let a = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "aaaaaaaa", 1000, true).await;
    let mut b = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "bbbbbbbb", 2000, true).await;
    let mut c = Participant::join(s.c2s_port, &s.ca_pems, ROOM, "cccccccc", 3000, false).await;
    b.loud = true;
    c.simulcast = true;
    let mut ps = vec![a, b, c];
    connect_all(&mut ps, &logs).await;
    ps[0].open_channel().await;
    ps[0]
        .run_until(Duration::from_secs(10), |p| {
            !p.channel_of("ServerHello").is_empty()
        })
        .await;
    assert!(
        !ps[0].channel_of("ServerHello").is_empty(),
        "no ServerHello: {:?}",
        ps[0].channel
    );

    // B talks: A hears that B is the dominant speaker.
    pump(&mut ps, Duration::from_secs(3)).await;
    let speaker = ps[0]
        .channel_of("DominantSpeakerEndpointChangeEvent")
        .last()
        .map(|m| m["dominantSpeakerEndpoint"].clone());
    assert_eq!(
        speaker,
        Some(json!("bbbbbbbb")),
        "{:?}\n{}",
        ps[0].channel,
        logs()
    );

    // Simulcast: without constraints A gets C's lowest layer …
    let (cv, c0, c2) = (ps[2].video_ssrc, ps[2].video_ssrc, ps[2].video_ssrc + 4);
    let before = ps[0].layers_from(&ps[2]);
    assert!(
        before.get(&c0).copied().unwrap_or(0) >= 10,
        "low layer: {before:?}"
    );
    assert_eq!(before.get(&c2), None, "{before:?}");
    // … and asking for 720p switches to the top layer, still on C's
    // primary SSRC (at a keyframe).
    ps[0]
        .send_channel(json!({"colibriClass": "ReceiverVideoConstraints", "constraints": {"cccccccc": {"maxHeight": 720}}, "onStageEndpoints": ["cccccccc"]}))
        .await;
    pump(&mut ps, Duration::from_secs(3)).await;
    let after = ps[0].layers_from(&ps[2]);
    let high = after.get(&c2).copied().unwrap_or(0);
    assert!(
        high >= 10,
        "no switch to the top layer: {after:?}\n{}",
        logs()
    );
    assert!(
        ps[0].received.keys().all(|s| *s != c2),
        "layers stay on the primary SSRC {cv}"
    );

    // lastN = 1: the on-stage endpoint (C) comes first, as in JVB; B's video
    // stops. Fields a message leaves out keep their value.
    ps[0]
        .send_channel(json!({"colibriClass": "ReceiverVideoConstraints", "lastN": 1}))
        .await;
    pump(&mut ps, Duration::from_secs(2)).await;
    let last_n = |p: &Participant| {
        p.channel_of("LastNEndpointsChangeEvent")
            .last()
            .map(|m| m["lastNEndpoints"].clone())
    };
    assert_eq!(
        last_n(&ps[0]),
        Some(json!(["cccccccc"])),
        "{:?}",
        ps[0].channel
    );
    let video = |ps: &[Participant]| (ps[0].received_from(&ps[1]).1, ps[0].received_from(&ps[2]).1);
    let (b1, c1) = video(&ps);
    pump(&mut ps, Duration::from_secs(2)).await;
    let (b2, c2v) = video(&ps);
    assert!(c2v > c1 + 20, "C's video stopped: {c1} → {c2v}");
    assert!(
        b2 <= b1 + 5,
        "B's video kept coming outside lastN: {b1} → {b2}"
    );
    // Off the stage, the dominant speaker (B) takes the one slot.
    ps[0]
        .send_channel(json!({"colibriClass": "ReceiverVideoConstraints", "onStageEndpoints": []}))
        .await;
    pump(&mut ps, Duration::from_secs(2)).await;
    assert_eq!(
        last_n(&ps[0]),
        Some(json!(["bbbbbbbb"])),
        "{:?}",
        ps[0].channel
    );
    let (b3, c3) = video(&ps);
    pump(&mut ps, Duration::from_secs(2)).await;
    let (b4, c4) = video(&ps);
    assert!(b4 > b3 + 20, "B's video did not resume: {b3} → {b4}");
    assert!(
        c4 <= c3 + 5,
        "C's video kept coming outside lastN: {c3} → {c4}"
    );
    // Audio is not subject to lastN.
    assert!(ps[0].received_from(&ps[2]).0 > 50);
}
