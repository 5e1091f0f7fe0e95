//! The media plane end to end over real UDP on loopback: test clients built
//! with str0m (full ICE agent, controlled, DTLS client, the way a browser
//! meets the controlling bridge) are allocated through `MediaHandle`, connect,
//! send Opus-like audio with audio levels and VP8-like video with keyframes,
//! and check what the bridge forwards them. Also: hostile datagrams, expiry,
//! colibri-ws and the SCTP bridge channel.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::config::Fingerprint;
use str0m::media::{ExtensionValues, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc};

use videobridge::config::Config;
use videobridge::engine::{
    EndpointSource, EngineError, LocalTransport, MediaHandle, RemoteTransport,
};
use videobridge::media::{self, MediaEngine, MediaOptions, profile};

const CONFIG: &str = r#"
[videobridge.apis.xmpp-client.configs.shard]
hostname = "localhost"
domain = "auth.meet.test"
username = "jvb"
password = "secret"
muc_jids = "JvbBrewery@internal.auth.meet.test"
muc_nickname = "jvb-test"

[videobridge.ice.udp]
port = 10000
bind_address = "127.0.0.1"
"#;

fn engine() -> Arc<MediaEngine> {
    engine_with(MediaOptions::default())
}

fn engine_with(options: MediaOptions) -> Arc<MediaEngine> {
    let mut cfg = Config::from_toml_str(Path::new("test.toml"), CONFIG).expect("config");
    // An ephemeral port: tests run in parallel.
    cfg.videobridge.ice.udp.port = 0;
    let options = MediaOptions {
        stats_interval: Duration::from_millis(50),
        ..options
    };
    media::start_with(&cfg, options).expect("media plane starts")
}

fn fingerprint_bytes(text: &str) -> Vec<u8> {
    text.split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect()
}

fn format_fingerprint(fp: &Fingerprint) -> String {
    fp.bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What one client sends: audio, and video as one or three simulcast
/// layers, each with an RTX partner.
#[derive(Clone, Copy)]
struct Ssrcs {
    audio: u32,
    /// (media, rtx) per layer, lowest first.
    layers: [(u32, u32); 3],
    simulcast: bool,
}

impl Ssrcs {
    fn of(n: u32, simulcast: bool) -> Self {
        Ssrcs {
            audio: 1000 + n,
            layers: [
                (2000 + n, 3000 + n),
                (2100 + n, 3100 + n),
                (2200 + n, 3200 + n),
            ],
            simulcast,
        }
    }

    /// The SSRC receivers know the video by.
    fn video(&self) -> u32 {
        self.layers[0].0
    }

    fn video_rtx(&self) -> u32 {
        self.layers[0].1
    }

    fn sent_layers(&self) -> &[(u32, u32)] {
        if self.simulcast {
            &self.layers
        } else {
            &self.layers[..1]
        }
    }

    fn sources(&self) -> Vec<EndpointSource> {
        let layers = self.sent_layers();
        let mut ssrcs: Vec<u32> = layers.iter().map(|l| l.0).collect();
        ssrcs.extend(layers.iter().map(|l| l.1));
        vec![
            EndpointSource {
                kind: "audio".into(),
                name: String::new(),
                ssrcs: vec![self.audio],
                sim: vec![],
                fid: vec![],
            },
            EndpointSource {
                kind: "video".into(),
                name: String::new(),
                ssrcs,
                sim: if self.simulcast {
                    layers.iter().map(|l| l.0).collect()
                } else {
                    vec![]
                },
                fid: layers.to_vec(),
            },
        ]
    }
}

/// A test client: a str0m peer on its own UDP socket.
struct Client {
    id: String,
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    ssrcs: Ssrcs,
    connected: bool,
    /// (ssrc, seq) → payload.
    received: HashMap<(u32, u16), Vec<u8>>,
    keyframe_wanted: bool,
    keyframe_requests: usize,
    audio_seq: u64,
    video_seq: u64,
    frames: u32,
    channel: Option<ChannelId>,
    channel_text: Vec<String>,
    audio_levels: Vec<i8>,
}

impl Client {
    fn new(id: &str, n: u32, bridge: &LocalTransport, with_sctp: bool, simulcast: bool) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let addr = socket.local_addr().expect("addr");
        let now = Instant::now();
        let mut rtc = profile::apply(Rtc::builder())
            .set_rtp_mode(true)
            .set_local_ice_credentials(IceCreds {
                ufrag: format!("cli{n}x"),
                pass: format!("client-password-{n:08}"),
            })
            .build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        rtc.add_remote_candidate(
            Candidate::host(bridge.candidates[0].addr, "udp").expect("candidate"),
        );
        let ssrcs = Ssrcs::of(n, simulcast);
        let mut api = rtc.direct_api();
        // A browser answers the bridge's offer: it is ICE-controlled.
        api.set_ice_controlling(false);
        api.set_remote_ice_credentials(IceCreds {
            ufrag: bridge.ufrag.clone(),
            pass: bridge.pwd.clone(),
        });
        api.set_remote_fingerprint(Fingerprint {
            hash_func: "sha-256".into(),
            bytes: fingerprint_bytes(&bridge.fingerprint_sha256),
        });
        api.enable_twcc_feedback();
        api.declare_media(Mid::from("a"), MediaKind::Audio);
        api.declare_media(Mid::from("v"), MediaKind::Video);
        api.declare_stream_tx(Ssrc::from(ssrcs.audio), None, Mid::from("a"), None);
        for (i, (media, rtx)) in ssrcs.sent_layers().iter().enumerate() {
            // One media per layer: str0m paces send streams by media id.
            let mid = Mid::from(format!("v{i}").as_str());
            api.declare_media(mid, MediaKind::Video);
            api.declare_stream_tx(Ssrc::from(*media), Some(Ssrc::from(*rtx)), mid, None);
        }
        api.start_dtls(true).expect("dtls");
        let mut channel = None;
        if with_sctp {
            api.start_sctp(true);
            channel = Some(api.create_data_channel(ChannelConfig {
                label: "JVB data channel".into(),
                ordered: true,
                reliability: Reliability::Reliable,
                negotiated: None,
                protocol: "http://jitsi.org/protocols/colibri".into(),
            }));
        }
        Client {
            id: id.to_string(),
            rtc,
            socket,
            addr,
            ssrcs,
            connected: false,
            received: HashMap::new(),
            keyframe_wanted: true,
            keyframe_requests: 0,
            audio_seq: 1,
            video_seq: 1,
            frames: 0,
            channel,
            channel_text: Vec::new(),
            audio_levels: Vec::new(),
        }
    }

    fn remote_transport(&mut self) -> RemoteTransport {
        let api = self.rtc.direct_api();
        let creds = api.local_ice_credentials();
        RemoteTransport {
            ufrag: Some(creds.ufrag),
            pwd: Some(creds.pass),
            fingerprints: vec![(
                "sha-256".into(),
                format_fingerprint(api.local_dtls_fingerprint()),
            )],
            setup: Some("active".into()),
            candidates: vec![self.addr],
        }
    }

    /// Expect the others' streams (what Jingle source-add tells a client).
    fn expect_from(&mut self, other: Ssrcs) {
        let mut api = self.rtc.direct_api();
        api.expect_stream_rx(Ssrc::from(other.audio), None, Mid::from("a"), None);
        api.expect_stream_rx(
            Ssrc::from(other.video()),
            Some(Ssrc::from(other.video_rtx())),
            Mid::from("v"),
            None,
        );
    }

    /// Drains output, then feeds whatever arrived on the socket.
    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        loop {
            self.drain();
            match self.socket.recv_from(&mut buf) {
                Ok((n, src)) => {
                    let Ok(r) = Receive::new(Protocol::Udp, src, self.addr, &buf[..n]) else {
                        continue;
                    };
                    self.rtc
                        .handle_input(Input::Receive(Instant::now(), r))
                        .expect("input");
                }
                Err(_) => break,
            }
        }
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .expect("timeout");
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("poll") {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(e) => match e {
                    Event::Connected => self.connected = true,
                    Event::RtpPacket(p) => {
                        if let Some(level) = p.header.ext_vals.audio_level {
                            self.audio_levels.push(level);
                        }
                        self.received.insert(
                            (*p.header.ssrc, p.header.sequence_number),
                            p.payload.to_vec(),
                        );
                    }
                    Event::KeyframeRequest(_) => {
                        self.keyframe_wanted = true;
                        self.keyframe_requests += 1;
                    }
                    Event::ChannelData(d) => {
                        self.channel_text
                            .push(String::from_utf8_lossy(&d.data).into_owned());
                    }
                    _ => {}
                },
            }
        }
    }

    fn audio_payload(ssrc: u32, seq: u64) -> Vec<u8> {
        let mut p = vec![0xfc];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend(std::iter::repeat_n(0x5a, 60));
        p
    }

    fn send_audio(&mut self) {
        let seq = self.audio_seq;
        self.audio_seq += 1;
        let payload = Self::audio_payload(self.ssrcs.audio, seq);
        let ext = ExtensionValues {
            audio_level: Some(-25),
            voice_activity: Some(true),
            ..ExtensionValues::default()
        };
        let mut api = self.rtc.direct_api();
        let tx = api
            .stream_tx(&Ssrc::from(self.ssrcs.audio))
            .expect("audio stream");
        #[allow(clippy::cast_possible_truncation)]
        let time = (seq * 960) as u32;
        tx.write_rtp(
            RtpWrite::new(
                Pt::new_with_value(profile::PT_OPUS),
                SeqNo::from(seq),
                time,
                Instant::now(),
                payload,
            )
            .ext_vals(ext),
        );
        self.drain();
    }

    /// One VP8 frame in one packet per layer: keyframes when asked for
    /// or every 30th frame. The payload names the layer's SSRC and its
    /// sequence number, so receivers can tell what they got.
    fn send_video(&mut self) {
        let key = std::mem::take(&mut self.keyframe_wanted) || self.frames.is_multiple_of(30);
        self.frames += 1;
        let seq = self.video_seq;
        self.video_seq += 1;
        #[allow(clippy::cast_possible_truncation)]
        let time = (u64::from(self.frames) * 3000) as u32;
        for (media, _) in self.ssrcs.sent_layers().to_vec() {
            // Descriptor: S=1, PID=0; payload header: P=0 for a keyframe.
            let mut payload = vec![0x10, if key { 0x00 } else { 0x01 }];
            payload.extend_from_slice(&media.to_be_bytes());
            payload.extend_from_slice(&seq.to_be_bytes());
            payload.extend(std::iter::repeat_n(0xa5, 400));
            let mut api = self.rtc.direct_api();
            let tx = api.stream_tx(&Ssrc::from(media)).expect("video stream");
            tx.write_rtp(
                RtpWrite::new(
                    Pt::new_with_value(profile::PT_VP8),
                    SeqNo::from(seq),
                    time,
                    Instant::now(),
                    payload,
                )
                .marker(true)
                .nackable(true),
            );
            self.drain();
        }
    }

    /// The layer SSRC and sequence number a video payload was sent with.
    fn video_origin(payload: &[u8]) -> (u32, u64) {
        let ssrc = u32::from_be_bytes(payload[2..6].try_into().expect("ssrc"));
        let seq = u64::from_be_bytes(payload[6..14].try_into().expect("seq"));
        (ssrc, seq)
    }

    /// Packets received from `from`'s audio and video SSRCs, checked
    /// byte for byte against what `from` sent.
    fn count_intact_from(&self, from: Ssrcs) -> (usize, usize) {
        let mut audio = 0;
        let mut video = 0;
        for ((ssrc, seq), payload) in &self.received {
            if *ssrc == from.audio {
                assert_eq!(
                    payload,
                    &Self::audio_payload(from.audio, u64::from(*seq)),
                    "audio payload intact"
                );
                audio += 1;
            } else if *ssrc == from.video() {
                let (layer, sent_seq) = Self::video_origin(payload);
                assert!(
                    from.layers.iter().any(|l| l.0 == layer),
                    "video payload intact"
                );
                // Sequence numbers are the sender's until the core
                // re-bases the stream (a layer switch, or a pause for lack
                // of bandwidth); then they continue the receiver's stream.
                let _ = (sent_seq, seq);
                assert!(payload[14..].iter().all(|b| *b == 0xa5));
                video += 1;
            }
        }
        (audio, video)
    }
}

fn pump_all(clients: &mut [Client]) {
    for c in clients.iter_mut() {
        c.pump();
    }
}

/// Pumps until `done` holds or the deadline passes.
fn pump_until(clients: &mut [Client], limit: Duration, done: impl Fn(&[Client]) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        pump_all(clients);
        if done(clients) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Allocates `n` clients in one conference, connects them, and signals
/// everyone's sources to everyone.
fn conference(engine: &MediaEngine, conf: &str, n: u32, with_sctp: bool) -> Vec<Client> {
    conference_with(engine, conf, n, with_sctp, |_| false)
}

/// As [`conference`], with simulcast for the clients `simulcast` picks.
fn conference_with(
    engine: &MediaEngine,
    conf: &str,
    n: u32,
    with_sctp: bool,
    simulcast: impl Fn(u32) -> bool,
) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..n {
        let id = format!("ep{i}");
        let transport = engine.allocate(conf, &id).expect("allocate");
        let mut c = Client::new(&id, i, &transport, with_sctp, simulcast(i));
        engine
            .set_remote_transport(conf, &id, c.remote_transport())
            .expect("remote transport");
        engine
            .set_sources(conf, &id, c.ssrcs.sources())
            .expect("sources");
        clients.push(c);
    }
    let all: Vec<Ssrcs> = clients.iter().map(|c| c.ssrcs).collect();
    for c in clients.iter_mut() {
        for other in &all {
            if other.audio != c.ssrcs.audio {
                c.expect_from(*other);
            }
        }
    }
    let connected = pump_until(&mut clients, Duration::from_secs(10), |cs| {
        cs.iter().all(|c| c.connected)
    });
    assert!(connected, "all clients connect through ICE and DTLS");
    clients
}

/// Media for `duration`: audio every 20 ms, video every 33 ms, from all.
fn send_media(clients: &mut [Client], duration: Duration) {
    let start = Instant::now();
    let mut next_audio = start;
    let mut next_video = start;
    while start.elapsed() < duration {
        let now = Instant::now();
        if now >= next_audio {
            clients.iter_mut().for_each(Client::send_audio);
            next_audio += Duration::from_millis(20);
        }
        if now >= next_video {
            clients.iter_mut().for_each(Client::send_video);
            next_video += Duration::from_millis(33);
        }
        pump_all(clients);
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the last packets arrive.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(300) {
        pump_all(clients);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn check_everyone_hears_everyone(clients: &[Client], min_audio: usize, min_video: usize) {
    for c in clients {
        let row: Vec<(usize, usize)> = clients
            .iter()
            .map(|o| c.count_intact_from(o.ssrcs))
            .collect();
        eprintln!("{} receives {row:?}", c.id);
    }
    for c in clients {
        for other in clients.iter().filter(|o| o.id != c.id) {
            let (audio, video) = c.count_intact_from(other.ssrcs);
            assert!(
                audio >= min_audio,
                "{} got {audio} audio packets from {}",
                c.id,
                other.id
            );
            assert!(
                video >= min_video,
                "{} got {video} video packets from {}",
                c.id,
                other.id
            );
        }
    }
}

#[test]
fn two_endpoints_exchange_audio_and_video() {
    let engine = engine();
    let mut clients = conference(&engine, "two", 2, false);
    send_media(&mut clients, Duration::from_millis(1500));
    // 75 audio packets and 45 video frames were sent by each; video starts
    // at the first keyframe after the bridge allocated it.
    check_everyone_hears_everyone(&clients, 70, 20);
    for c in &clients {
        assert!(
            c.audio_levels.iter().all(|l| *l == -25),
            "audio level forwarded"
        );
        assert!(!c.audio_levels.is_empty());
    }
    let stats = engine.stats();
    assert_eq!((stats.conferences, stats.endpoints), (1, 2));
    assert!(stats.packets_received > 200, "{stats:?}");
    assert!(stats.packets_sent > 200, "{stats:?}");
    assert!((0.0..=1.0).contains(&stats.stress_level));
}

#[test]
fn five_endpoints_each_receive_the_other_four() {
    let engine = engine();
    let mut clients = conference(&engine, "five", 5, false);
    send_media(&mut clients, Duration::from_millis(1500));
    eprintln!("{:?}", engine.stats());
    check_everyone_hears_everyone(&clients, 70, 20);
}

#[test]
fn conferences_on_different_workers_forward_at_the_same_time() {
    let engine = engine_with(MediaOptions {
        threads: Some(3),
        ..MediaOptions::default()
    });
    assert_eq!(engine.worker_threads(), 3);
    // Three conferences go to the three workers (placement by load); the
    // clients of all of them are pumped together.
    let mut a = conference(&engine, "wa", 3, false);
    let b = conference(&engine, "wb", 3, false);
    let c = conference(&engine, "wc", 2, false);
    let (na, nb) = (a.len(), b.len());
    a.extend(b);
    a.extend(c);
    send_media(&mut a, Duration::from_millis(1500));
    let c = a.split_off(na + nb);
    let b = a.split_off(na);
    for group in [&a, &b, &c] {
        check_everyone_hears_everyone(group, 70, 20);
    }
    let stats = engine.stats();
    assert_eq!((stats.conferences, stats.endpoints), (3, 8));
}

#[test]
fn one_datagram_per_call_path_forwards_too() {
    let engine = engine_with(MediaOptions {
        threads: Some(1),
        batched_io: false,
        ..MediaOptions::default()
    });
    let mut clients = conference(&engine, "plain", 3, false);
    send_media(&mut clients, Duration::from_millis(1500));
    check_everyone_hears_everyone(&clients, 70, 20);
}

#[test]
fn garbage_and_foreign_stun_are_dropped_and_counted() {
    let engine = engine();
    let mut clients = conference(&engine, "garbage", 2, false);
    let target = engine.local_addr();
    let attacker = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let before = engine.stats().dropped_packets;
    // Random junk, RTP-looking and DTLS-looking junk from an unknown address,
    // a truncated STUN header, and a well-formed binding request naming a
    // ufrag nobody has, and one naming a real ufrag with a bad integrity.
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[9; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun.extend_from_slice(b"nobody:x");
    let transport = engine.allocate("garbage", "victim").expect("allocate");
    let mut forged = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    forged.extend_from_slice(&[7; 12]);
    let username = format!("{}:evil", transport.ufrag);
    let mut attrs = vec![0x00, 0x06];
    attrs.extend_from_slice(&u16::try_from(username.len()).expect("len").to_be_bytes());
    attrs.extend_from_slice(username.as_bytes());
    while attrs.len() % 4 != 0 {
        attrs.push(0);
    }
    attrs.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    attrs.extend_from_slice(&[0xee; 20]);
    forged[2..4].copy_from_slice(&u16::try_from(attrs.len()).expect("len").to_be_bytes());
    forged.extend_from_slice(&attrs);
    let junk: Vec<Vec<u8>> = vec![
        vec![0xff; 100],
        vec![0x80, 0x6f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
        vec![22, 254, 253, 0, 0],
        vec![0x00, 0x01, 0x00],
        stun,
        forged,
        (0..=255u8).collect(),
    ];
    for _ in 0..5 {
        for j in &junk {
            attacker.send_to(j, target).expect("send");
        }
    }
    let counted = pump_until(&mut clients, Duration::from_secs(3), |_| {
        engine.stats().dropped_packets >= before + 35
    });
    assert!(
        counted,
        "dropped {} of 35",
        engine.stats().dropped_packets - before
    );
    // The bridge still forwards.
    send_media(&mut clients, Duration::from_millis(600));
    check_everyone_hears_everyone(&clients, 25, 1);
}

#[test]
fn expired_endpoint_gets_nothing_more() {
    let engine = engine();
    let mut clients = conference(&engine, "expiry", 3, false);
    send_media(&mut clients, Duration::from_millis(800));
    check_everyone_hears_everyone(&clients, 35, 5);
    engine.expire_endpoint("expiry", "ep2").expect("expire");
    assert!(
        engine.expire_endpoint("expiry", "ep2").is_err(),
        "only once"
    );
    // Let the expiry reach the loop, then measure from a clean slate.
    pump_until(&mut clients, Duration::from_millis(200), |_| false);
    for c in clients.iter_mut() {
        c.received.clear();
    }
    send_media(&mut clients, Duration::from_millis(800));
    let expired = &clients[2];
    assert!(
        expired.received.is_empty(),
        "the expired endpoint received {}",
        expired.received.len()
    );
    let (audio, _) = clients[1].count_intact_from(clients[0].ssrcs);
    assert!(audio >= 35, "the others still hear each other: {audio}");
    let (from_expired, _) = clients[0].count_intact_from(clients[2].ssrcs);
    assert_eq!(
        from_expired, 0,
        "nothing is forwarded from the expired endpoint"
    );
    assert_eq!(engine.stats().endpoints, 2);
}

#[test]
fn sctp_data_channel_carries_the_bridge_channel() {
    let engine = engine();
    let mut clients = conference(&engine, "sctp", 2, true);
    let hello = pump_until(&mut clients, Duration::from_secs(5), |cs| {
        cs.iter()
            .all(|c| c.channel_text.iter().any(|t| t.contains("\"ServerHello\"")))
    });
    assert!(
        hello,
        "ServerHello over SCTP: {:?}",
        clients[0].channel_text
    );
    // An endpoint message from ep0 reaches ep1 with `from` set.
    let id = clients[0].channel.expect("channel");
    let msg = r#"{"colibriClass":"EndpointMessage","to":"ep1","msgPayload":{"hi":1}}"#;
    let wrote = clients[0]
        .rtc
        .channel(id)
        .expect("open channel")
        .write(false, msg.as_bytes())
        .expect("write");
    assert!(wrote);
    let relayed = pump_until(&mut clients, Duration::from_secs(5), |cs| {
        cs[1]
            .channel_text
            .iter()
            .any(|t| t.contains("EndpointMessage") && t.contains("\"from\":\"ep0\""))
    });
    assert!(relayed, "relayed: {:?}", clients[1].channel_text);
}

/// Sends one bridge-channel message over the client's data channel.
fn channel_send(client: &mut Client, text: &str) {
    let id = client.channel.expect("channel");
    let wrote = client
        .rtc
        .channel(id)
        .expect("open channel")
        .write(false, text.as_bytes())
        .expect("write");
    assert!(wrote);
    client.drain();
}

/// Video payloads `client` received from `from`, by output sequence number:
/// (output seq, layer SSRC it was sent on).
fn video_received(client: &Client, from: Ssrcs) -> Vec<(u16, u32)> {
    let mut v: Vec<(u16, u32)> = client
        .received
        .iter()
        .filter(|((ssrc, _), _)| *ssrc == from.video())
        .map(|((_, seq), p)| (*seq, Client::video_origin(p).0))
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn simulcast_layers_are_rewritten_onto_the_primary_ssrc() {
    let engine = engine();
    let mut clients = conference_with(&engine, "simulcast", 2, true, |i| i == 0);
    let hello = pump_until(&mut clients, Duration::from_secs(5), |cs| {
        cs[1].channel_text.iter().any(|t| t.contains("ServerHello"))
    });
    assert!(hello, "bridge channel up");
    let sender = clients[0].ssrcs;
    let [low, _, high] = sender.layers;

    // No constraints yet: thumbnails (180p), the lowest layer.
    send_media(&mut clients, Duration::from_millis(1000));
    let got = video_received(&clients[1], sender);
    assert!(got.len() >= 10, "{} packets", got.len());
    assert!(got.iter().all(|(_, layer)| *layer == low.0), "{got:?}");

    // Ask for 720p: the high layer arrives, still on the primary SSRC,
    // and the sequence numbers run on without a gap across the switch.
    channel_send(
        &mut clients[1],
        r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}"#,
    );
    clients[1].received.clear();
    send_media(&mut clients, Duration::from_millis(1500));
    let got = video_received(&clients[1], sender);
    let high_count = got.iter().filter(|(_, l)| *l == high.0).count();
    assert!(
        high_count >= 10,
        "high layer packets: {high_count} of {}",
        got.len()
    );
    assert_eq!(
        got.last().map(|g| g.1),
        Some(high.0),
        "ends on the high layer"
    );
    let first = got.first().map_or(0, |g| g.0);
    for (i, (seq, _)) in got.iter().enumerate() {
        assert_eq!(
            *seq,
            first.wrapping_add(u16::try_from(i).expect("small")),
            "contiguous: {got:?}"
        );
    }
    // The sender was told what receivers want.
    assert!(
        clients[0]
            .channel_text
            .iter()
            .any(|t| t.contains("SenderVideoConstraints")),
        "{:?}",
        clients[0].channel_text
    );
}

#[test]
fn receiver_keyframe_request_reaches_the_sender() {
    let engine = engine();
    let mut clients = conference(&engine, "pli", 2, false);
    send_media(&mut clients, Duration::from_millis(800));
    // The core's own requests (for the first allocation) are over; ask
    // while media flows (a stalled layer is not forwarded, and a PLI for
    // video one does not get is not relayed).
    let before = clients[0].keyframe_requests;
    let video = clients[0].ssrcs.video();
    clients[1]
        .rtc
        .direct_api()
        .stream_rx(&Ssrc::from(video))
        .expect("receive stream")
        .request_keyframe(str0m::media::KeyframeRequestKind::Pli);
    clients[1].drain();
    send_media(&mut clients, Duration::from_millis(600));
    assert!(
        clients[0].keyframe_requests > before,
        "PLI relayed to the sender"
    );
}

#[test]
fn handle_errors_and_feedback_ssrcs() {
    let engine = engine();
    let t = engine.allocate("c", "e").expect("allocate");
    assert_eq!(t.pwd.len(), 24);
    assert_eq!(t.fingerprint_sha256.split(':').count(), 32);
    assert_eq!(t.candidates[0].addr, engine.local_addr());
    assert!(engine.allocate("c", "e").is_err(), "duplicate");
    assert!(engine.set_sources("c", "nobody", vec![]).is_err());
    assert!(
        engine
            .set_remote_transport("nope", "e", RemoteTransport::default())
            .is_err()
    );
    let bad = RemoteTransport {
        fingerprints: vec![("sha-256".into(), "AB:CD".into())],
        ..RemoteTransport::default()
    };
    assert!(engine.set_remote_transport("c", "e", bad).is_err());
    let (a, v) = engine.feedback_ssrcs();
    assert!(a != 0 && v != 0 && a != v);

    // Sources are checked before the call returns.
    engine.allocate("c", "f").expect("allocate");
    let audio = |ssrc: u32| EndpointSource {
        kind: "audio".into(),
        name: String::new(),
        ssrcs: vec![ssrc],
        sim: vec![],
        fid: vec![],
    };
    engine
        .set_sources("c", "e", vec![audio(77)])
        .expect("e's audio");
    assert_eq!(
        engine.set_sources("c", "f", vec![audio(77)]),
        Err(EngineError::SsrcInUse {
            ssrc: 77,
            owner: "e".into()
        })
    );
    assert!(matches!(
        engine.set_sources("c", "f", (1..=33).map(audio).collect()),
        Err(EngineError::TooManySources { count: 33, .. })
    ));
    assert!(matches!(
        engine.set_sources("c", "f", vec![audio(0)]),
        Err(EngineError::InvalidSources(_))
    ));
    engine
        .set_sources("c", "f", vec![audio(78)])
        .expect("f's audio");
    engine.expire_conference("c").expect("expire");
    assert!(engine.expire_conference("c").is_err());
    assert_eq!(engine.stats().endpoints, 0);
}

mod colibri_ws {
    use std::convert::Infallible;

    use futures::{SinkExt, StreamExt};
    use hyper_tungstenite::WebSocketStream;
    use hyper_tungstenite::tungstenite::Message;
    use hyper_tungstenite::tungstenite::protocol::Role;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use videobridge::engine::ColibriWs;

    use super::*;

    /// Serves `handler` on a loopback port, the way the HTTP module does.
    async fn serve(handler: Arc<dyn ColibriWs>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let handler = Arc::clone(&handler);
                        async move { Ok::<_, Infallible>(handler.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        addr
    }

    /// A raw HTTP/1.1 upgrade: the status, and the socket if it switched.
    async fn connect(addr: SocketAddr, path: &str) -> (u16, Option<WebSocketStream<TcpStream>>) {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.expect("write");
        // Byte by byte, so no WebSocket frame is read along with the head.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            if s.read(&mut b).await.expect("read") == 0 {
                break;
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        let code: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        if code != 101 {
            return (code, None);
        }
        (
            code,
            Some(WebSocketStream::from_raw_socket(s, Role::Client, None).await),
        )
    }

    async fn next_text(ws: &mut WebSocketStream<TcpStream>, needle: &str) -> String {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains(needle) => return t.to_string(),
                Some(Ok(_)) => {}
                other => panic!("socket ended waiting for {needle}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn server_hello_relay_and_access_checks() {
        let run = async {
            let engine = engine();
            let alice = engine.allocate("wsconf", "alice").expect("allocate");
            let bob = engine.allocate("wsconf", "bob").expect("allocate");
            let addr = serve(engine.clone()).await;
            let path =
                |ep: &str, pwd: &str| format!("/colibri-ws/default-id/wsconf/{ep}?pwd={pwd}");

            assert_eq!(connect(addr, &path("alice", "wrong")).await.0, 401);
            assert_eq!(connect(addr, &path("alice", "")).await.0, 401);
            assert_eq!(connect(addr, &path("carol", &alice.pwd)).await.0, 404);
            assert_eq!(
                connect(
                    addr,
                    &format!("/colibri-ws/other-id/wsconf/alice?pwd={}", alice.pwd)
                )
                .await
                .0,
                404
            );
            assert_eq!(
                connect(addr, &path("alice", &bob.pwd)).await.0,
                401,
                "another endpoint's pwd"
            );

            let (code, ws) = connect(addr, &path("alice", &alice.pwd)).await;
            assert_eq!(code, 101);
            let mut a = ws.expect("socket");
            next_text(&mut a, "\"ServerHello\"").await;
            let mut b = connect(addr, &path("bob", &bob.pwd))
                .await
                .1
                .expect("socket");
            next_text(&mut b, "\"ServerHello\"").await;

            // ClientHello is answered; an endpoint message reaches bob from alice.
            a.send(Message::text(r#"{"colibriClass":"ClientHello"}"#))
                .await
                .expect("send");
            next_text(&mut a, "\"ServerHello\"").await;
            a.send(Message::text(
                r#"{"colibriClass":"EndpointMessage","to":"bob","msgPayload":{"n":7}}"#,
            ))
            .await
            .expect("send");
            let relayed = next_text(&mut b, "EndpointMessage").await;
            assert!(relayed.contains("\"from\":\"alice\""), "{relayed}");
            assert!(relayed.contains("\"n\":7"), "{relayed}");
            // Junk does not close the channel.
            a.send(Message::text("not json")).await.expect("send");
            a.send(Message::text(
                r#"{"colibriClass":"EndpointMessage","to":"","msgPayload":1}"#,
            ))
            .await
            .expect("send");
            next_text(&mut b, "\"msgPayload\":1").await;

            // Expiring alice closes her socket.
            engine.expire_endpoint("wsconf", "alice").expect("expire");
            loop {
                match a.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
            assert_eq!(connect(addr, &path("alice", &alice.pwd)).await.0, 404);
        };
        tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("in time");
    }
}
