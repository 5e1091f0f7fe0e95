//! Forwarding throughput of the media plane (a benchmark, not a timed test:
//! it asserts nothing about speed). Run it in release mode:
//!
//! ```sh
//! cargo test --release -p videobridge --test media_bench -- --ignored --nocapture
//! ```
//!
//! One str0m sender and `RECEIVERS` str0m receivers connect over loopback.
//! The receivers stop reading once connected (the bridge's sends still
//! succeed; the kernel drops what they do not read), so the process's second
//! core is left to the sender. The sender writes 1000-byte audio packets at
//! a fixed rate; every one is forwarded to every receiver. Reported: the
//! forwarded datagrams per second and per CPU-second of the media thread
//! (from /proc), which is the figure to hold against design.md §6.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use str0m::config::Fingerprint;
use str0m::media::{ExtensionValues, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc};

use videobridge::config::Config;
use videobridge::engine::{EndpointSource, LocalTransport, MediaHandle, RemoteTransport};
use videobridge::media::{self, MediaOptions, profile};

const RECEIVERS: u32 = 20;
const SENDER_PPS: u64 = 5_000;
const DURATION: Duration = Duration::from_secs(5);

const CONFIG: &str = r#"
[videobridge.apis.xmpp-client.configs.shard]
hostname = "localhost"
domain = "auth.meet.test"
username = "jvb"
password = "secret"
muc_jids = "JvbBrewery@internal.auth.meet.test"
muc_nickname = "jvb-bench"

[videobridge.ice.udp]
port = 10000
bind_address = "127.0.0.1"
"#;

struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    connected: bool,
}

impl Peer {
    fn new(n: u32, bridge: &LocalTransport) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let addr = socket.local_addr().expect("addr");
        let mut rtc = profile::apply(Rtc::builder())
            .set_rtp_mode(true)
            .set_local_ice_credentials(IceCreds {
                ufrag: format!("b{n}x"),
                pass: format!("bench-password-{n:08}xx"),
            })
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        rtc.add_remote_candidate(
            Candidate::host(bridge.candidates[0].addr, "udp").expect("candidate"),
        );
        let mut api = rtc.direct_api();
        api.set_ice_controlling(true);
        api.set_remote_ice_credentials(IceCreds {
            ufrag: bridge.ufrag.clone(),
            pass: bridge.pwd.clone(),
        });
        let bytes = bridge
            .fingerprint_sha256
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("hex"))
            .collect();
        api.set_remote_fingerprint(Fingerprint {
            hash_func: "sha-256".into(),
            bytes,
        });
        api.declare_media(Mid::from("a"), MediaKind::Audio);
        api.declare_stream_tx(Ssrc::from(1000 + n), None, Mid::from("a"), None);
        api.expect_stream_rx(Ssrc::from(1000), None, Mid::from("a"), None);
        api.start_dtls(true).expect("dtls");
        Peer {
            rtc,
            socket,
            addr,
            connected: false,
        }
    }

    fn remote(&mut self) -> RemoteTransport {
        let api = self.rtc.direct_api();
        let creds = api.local_ice_credentials();
        let fp = api.local_dtls_fingerprint();
        RemoteTransport {
            ufrag: Some(creds.ufrag),
            pwd: Some(creds.pass),
            fingerprints: vec![(
                "sha-256".into(),
                fp.bytes
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            )],
            setup: Some("active".into()),
            candidates: vec![self.addr],
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        loop {
            self.drain();
            match self.socket.recv_from(&mut buf) {
                Ok((n, src)) => {
                    if let Ok(r) = Receive::new(Protocol::Udp, src, self.addr, &buf[..n]) {
                        let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
        self.drain();
    }

    fn drain(&mut self) {
        while let Ok(out) = self.rtc.poll_output() {
            match out {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(_) => {}
            }
        }
    }
}

/// utime + stime of the thread named `name`, in seconds.
fn thread_cpu(name: &str) -> Option<f64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the parenthesised command name.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        return Some((utime + stime) / 100.0);
    }
    None
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn forwarding_throughput() {
    let mut cfg = Config::from_toml_str(Path::new("bench.toml"), CONFIG).expect("config");
    cfg.videobridge.ice.udp.port = 0;
    let options = MediaOptions {
        // No pacing: this measures forwarding, not congestion control.
        bwe_initial_bps: None,
        ..MediaOptions::default()
    };
    let engine = media::start_with(&cfg, options).expect("start");
    let mut peers = Vec::new();
    for n in 0..=RECEIVERS {
        let id = format!("p{n}");
        let t = engine.allocate("bench", &id).expect("allocate");
        let mut p = Peer::new(n, &t);
        engine
            .set_remote_transport("bench", &id, p.remote())
            .expect("remote");
        let sources = if n == 0 {
            vec![EndpointSource {
                kind: "audio".into(),
                name: String::new(),
                ssrcs: vec![1000],
                sim: vec![],
                fid: vec![],
            }]
        } else {
            vec![]
        };
        engine.set_sources("bench", &id, sources).expect("sources");
        peers.push(p);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !peers.iter().all(|p| p.connected) {
        assert!(Instant::now() < deadline, "peers connect");
        peers.iter_mut().for_each(Peer::pump);
        std::thread::sleep(Duration::from_millis(2));
    }
    // From here on only the sender is driven.
    let mut sender = peers.swap_remove(0);
    let payload = vec![0x42u8; 1000];
    let ext = ExtensionValues {
        audio_level: Some(-30),
        voice_activity: Some(true),
        ..ExtensionValues::default()
    };
    let before = engine.stats();
    let cpu_before = thread_cpu("media").unwrap_or(0.0);
    let start = Instant::now();
    let mut sent: u64 = 0;
    while start.elapsed() < DURATION {
        let due =
            u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX) * SENDER_PPS / 1_000_000;
        while sent < due {
            sent += 1;
            let mut api = sender.rtc.direct_api();
            let tx = api.stream_tx(&Ssrc::from(1000)).expect("stream");
            #[allow(clippy::cast_possible_truncation)]
            let time = (sent * 960) as u32;
            tx.write_rtp(
                RtpWrite::new(
                    Pt::new_with_value(profile::PT_OPUS),
                    SeqNo::from(sent),
                    time,
                    Instant::now(),
                    payload.clone(),
                )
                .ext_vals(ext.clone()),
            );
            sender.drain();
        }
        sender.pump();
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let the stats interval close.
    std::thread::sleep(Duration::from_millis(1100));
    let after = engine.stats();
    let cpu = thread_cpu("media").unwrap_or(0.0) - cpu_before;
    #[allow(clippy::cast_precision_loss)]
    let forwarded = (after.packets_sent - before.packets_sent) as f64;
    #[allow(clippy::cast_precision_loss)]
    let received = (after.packets_received - before.packets_received) as f64;
    println!(
        "sent {sent} packets in {elapsed:.1} s to {RECEIVERS} receivers; bridge received {received:.0}, \
         sent {forwarded:.0} datagrams: {:.0} forwarded/s, media thread CPU {:.2} s ({:.0}%), \
         {:.0} forwarded datagrams per CPU-second; dropped {}",
        forwarded / elapsed,
        cpu,
        cpu / elapsed * 100.0,
        if cpu > 0.0 { forwarded / cpu } else { 0.0 },
        after.dropped_packets
    );
}
