//! Forwarding benchmark of the media plane: synthetic str0m endpoints
//! (`videobridge::testing`) join conferences through the in-process
//! signalling, connect over loopback (ICE, DTLS-SRTP) and send
//! timestamped audio and video; every receiver reads and decrypts every
//! packet. Reported per scenario: forwarded datagrams per second and per
//! CPU-second of the bridge's media threads, one-way latency p50/p99,
//! bridge CPU and memory per endpoint, losses.
//!
//! ```sh
//! cargo bench -p videobridge --bench forwarding -- table          # the five scenarios
//! cargo bench -p videobridge --bench forwarding -- fanout 50      # 1 sender → 50 receivers
//! cargo bench -p videobridge --bench forwarding -- mesh 25 --pps 150 --secs 10
//! ```
//!
//! Options: `--pps P` per sender (50 of them audio, the rest 1000-byte
//! video), `--secs S` measured (after a 2 s warm-up), `--bridge-threads T`
//! (default: one per core), `--client-threads C` (tokio workers for the
//! endpoints, default 1), `--plain-io` (no recvmmsg/sendmmsg),
//! `--conferences K` (K such conferences side by side, spread over the
//! workers).
//!
//! Everything runs in one process on the same cores: the endpoints' own
//! SRTP costs compete with the bridge, so forwarded-per-CPU-second (the
//! bridge threads' CPU time from /proc) is the figure to compare with
//! design.md §6, and the latency includes the clients' work.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use videobridge::config::Config;
use videobridge::engine::MediaHandle;
use videobridge::media::{self, MediaOptions};
use videobridge::testing::endpoint::sources_of;
use videobridge::testing::measure;
use videobridge::testing::runner::{self, RunControl};
use videobridge::testing::{InProcess, MediaPlan, Signalling, Source, SyntheticEndpoint};

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

const WARMUP: Duration = Duration::from_secs(2);
const AUDIO_PPS: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One sender, N receivers.
    Fanout,
    /// N endpoints, each sending to all others.
    Mesh,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    shape: Shape,
    n: u32,
    pps: u32,
    secs: u64,
    bridge_threads: Option<usize>,
    client_threads: usize,
    batched: bool,
    /// Conferences of this shape side by side (each on a worker of its
    /// own while there are enough).
    conferences: u32,
}

impl Scenario {
    fn name(&self) -> String {
        let one = match self.shape {
            Shape::Fanout => format!("1 → {}", self.n),
            Shape::Mesh => format!("{0} ⇄ {0}", self.n),
        };
        if self.conferences > 1 {
            format!("{} × ({one})", self.conferences)
        } else {
            one
        }
    }

    fn senders(&self) -> u32 {
        match self.shape {
            Shape::Fanout => 1,
            Shape::Mesh => self.n,
        }
    }

    /// Endpoints of one conference.
    fn per_conference(&self) -> u32 {
        match self.shape {
            Shape::Fanout => self.n + 1,
            Shape::Mesh => self.n,
        }
    }

    fn endpoints(&self) -> u32 {
        self.per_conference() * self.conferences.max(1)
    }
}

/// Per-sender packet rate by default: 1 → N and 10 ⇄ 10 send a 720p-like
/// stream (50 audio + 300 video packets/s); the larger meshes send less
/// per sender (a thumbnail-sized video), as Jitsi clients do in big rooms,
/// so the total stays within what two shared cores can also decrypt on the
/// client side.
fn default_pps(shape: Shape, n: u32) -> u32 {
    match (shape, n) {
        (Shape::Fanout, _) => 350,
        (Shape::Mesh, 0..=10) => 350,
        (Shape::Mesh, 11..=25) => 150,
        (Shape::Mesh, _) => 80,
    }
}

#[derive(Debug)]
struct Outcome {
    forwarded_per_sec: f64,
    per_cpu_second: f64,
    bridge_cpu: f64,
    threads: Vec<(String, f64)>,
    p50_us: u32,
    p99_us: u32,
    expected: u64,
    received: u64,
    bridge_kib_per_endpoint: f64,
    process_kib_per_endpoint: f64,
    load: f64,
    dropped: u64,
}

fn run(s: Scenario) -> Outcome {
    let mut cfg = Config::from_toml_str(Path::new("bench.toml"), CONFIG).expect("config");
    cfg.videobridge.ice.udp.port = 0;
    let options = MediaOptions {
        // Forwarding, not congestion control, is measured: no bandwidth
        // estimation (and so no pacing or layer suspension).
        bwe_initial_bps: None,
        stats_interval: Duration::from_millis(100),
        threads: s.bridge_threads,
        batched_io: s.batched,
        ..MediaOptions::default()
    };
    let engine = media::start_with(&cfg, options).expect("start");
    let media: Arc<dyn MediaHandle> = engine.clone();
    let signalling = InProcess::new(media);
    let origin = Instant::now();
    let per = s.per_conference();
    let conference_of = |g: u32| format!("bench-{}", g / per);

    let rss0 = measure::rss_bytes().unwrap_or(0);
    // The endpoints first (their str0m peers are client-side memory) ...
    let mut endpoints = Vec::new();
    let mut sockets = Vec::new();
    for g in 0..s.endpoints() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let local = socket.local_addr().expect("addr");
        let plan = if g % per < s.senders() {
            MediaPlan::media(AUDIO_PPS, s.pps.saturating_sub(AUDIO_PPS).max(1))
        } else {
            MediaPlan::receive_only()
        };
        endpoints.push(SyntheticEndpoint::new(
            &format!("ep{g}"),
            g,
            local,
            plan,
            origin,
        ));
        sockets.push(socket);
    }
    let rss1 = measure::rss_bytes().unwrap_or(0);
    // ... then the bridge side: allocated, transport and sources set.
    let mut offers = Vec::new();
    for (g, ep) in (0..).zip(&mut endpoints) {
        let conference = conference_of(g);
        let offer = signalling.join(&conference, ep.id()).expect("join");
        let answer = ep.answer();
        signalling
            .answer(&conference, ep.id(), &answer, &ep.sources())
            .expect("answer");
        offers.push(offer);
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss2 = measure::rss_bytes().unwrap_or(0);

    // Everyone expects the sources of the senders of its own conference.
    let all_sources: Vec<(u32, Vec<Source>)> = (0..s.endpoints())
        .filter(|g| g % per < s.senders())
        .map(|g| (g, sources_of(g, &format!("ep{g}"))))
        .collect();
    for (g, (ep, offer)) in (0..).zip(endpoints.iter_mut().zip(&offers)) {
        for (j, src) in &all_sources {
            if *j != g && j / per == g / per {
                ep.expect(src);
            }
        }
        ep.connect(offer).expect("connect");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(s.client_threads.max(1))
        .thread_name("client")
        .enable_all()
        .build()
        .expect("runtime");
    let control = Arc::new(RunControl::default());
    let tasks: Vec<_> = endpoints
        .into_iter()
        .zip(sockets)
        .map(|(ep, socket)| {
            let control = Arc::clone(&control);
            rt.spawn(async move {
                let socket = tokio::net::UdpSocket::from_std(socket).expect("tokio socket");
                runner::drive(ep, socket, control).await
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while control.connected.load(Ordering::Relaxed) < s.endpoints() as usize {
        assert!(
            Instant::now() < deadline,
            "only {} of {} endpoints connected",
            control.connected.load(Ordering::Relaxed),
            s.endpoints()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    control.sending.store(true, Ordering::Relaxed);
    std::thread::sleep(WARMUP);

    let cpu_before = measure::thread_cpu_seconds("media");
    let stats_before = engine.stats();
    let start = Instant::now();
    control.measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(s.secs));
    control.measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = measure::thread_cpu_seconds("media");
    let load = measure::load_average().unwrap_or(0.0);
    // Stats are published every 100 ms; the same lag at both ends.
    let stats_after = engine.stats();
    // Let packets in flight arrive before the counts are read.
    std::thread::sleep(Duration::from_millis(300));
    control.stop.store(true, Ordering::Relaxed);
    let reports: Vec<_> = tasks
        .into_iter()
        .map(|t| rt.block_on(t).expect("task"))
        .collect();
    let rss3 = measure::rss_bytes().unwrap_or(0);
    if std::env::var_os("FORWARDING_DEBUG").is_some() {
        for (i, r) in reports.iter().enumerate() {
            eprintln!(
                "ep{i}: sent {}+{} received {}+{} keyframe requests {}",
                r.sent_audio, r.sent_video, r.received_audio, r.received_video, r.keyframe_requests
            );
        }
    }

    let threads: Vec<(String, f64)> = cpu_after
        .iter()
        .map(|(name, after)| {
            let before = cpu_before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0.0, |(_, b)| *b);
            (name.clone(), after - before)
        })
        .collect();
    let bridge_cpu: f64 = threads.iter().map(|(_, c)| c).sum();
    let forwarded = stats_after
        .packets_sent
        .saturating_sub(stats_before.packets_sent) as f64;
    let sent: u64 = reports.iter().map(|r| r.sent_audio + r.sent_video).sum();
    // Every packet goes to every other endpoint of its conference.
    let expected = sent * u64::from(per - 1);
    let received: u64 = reports
        .iter()
        .map(|r| r.received_audio + r.received_video)
        .sum();
    let mut latencies: Vec<u32> = reports
        .iter()
        .flat_map(|r| r.latency_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let n = f64::from(s.endpoints());
    let kib = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / 1024.0 / n;
    engine.shutdown();
    Outcome {
        forwarded_per_sec: forwarded / elapsed,
        per_cpu_second: if bridge_cpu > 0.0 {
            forwarded / bridge_cpu
        } else {
            0.0
        },
        bridge_cpu: bridge_cpu / elapsed,
        threads: threads.into_iter().map(|(n, c)| (n, c / elapsed)).collect(),
        p50_us: measure::percentile(&latencies, 50.0).unwrap_or(0),
        p99_us: measure::percentile(&latencies, 99.0).unwrap_or(0),
        expected,
        received,
        bridge_kib_per_endpoint: kib(rss2, rss1),
        process_kib_per_endpoint: kib(rss3, rss0),
        load,
        dropped: stats_after
            .dropped_packets
            .saturating_sub(stats_before.dropped_packets),
    }
}

fn report(s: &Scenario, o: &Outcome) {
    let loss = if o.expected > 0 {
        100.0 * (1.0 - o.received as f64 / o.expected as f64)
    } else {
        0.0
    };
    println!(
        "{}: {} pps/sender, {} s, load {:.2}: forwarded {:.0}/s; bridge media threads {:.0}% of a core \
         ({}) → {:.0} forwarded per CPU-second; latency p50 {:.2} ms p99 {:.2} ms; received {} of {} \
         ({loss:.2}% lost), bridge drops {}; bridge {:.2}% core and {:.0} KiB per endpoint \
         (whole process after the run: {:.0} KiB per endpoint)",
        s.name(),
        s.pps,
        s.secs,
        o.load,
        o.forwarded_per_sec,
        o.bridge_cpu * 100.0,
        o.threads
            .iter()
            .map(|(n, c)| format!("{n} {:.0}%", c * 100.0))
            .collect::<Vec<_>>()
            .join(", "),
        o.per_cpu_second,
        f64::from(o.p50_us) / 1000.0,
        f64::from(o.p99_us) / 1000.0,
        o.received,
        o.expected,
        o.dropped,
        o.bridge_cpu * 100.0 / f64::from(s.endpoints()),
        o.bridge_kib_per_endpoint,
        o.process_kib_per_endpoint,
    );
    println!(
        "| {} | {} | {:.0} | {:.0}% | {:.0} | {:.2} / {:.2} | {loss:.2}% | {:.2}% | {:.0} | {:.0} | {:.2} |",
        s.name(),
        s.pps,
        o.forwarded_per_sec,
        o.bridge_cpu * 100.0,
        o.per_cpu_second,
        f64::from(o.p50_us) / 1000.0,
        f64::from(o.p99_us) / 1000.0,
        o.bridge_cpu * 100.0 / f64::from(s.endpoints()),
        o.bridge_kib_per_endpoint,
        o.process_kib_per_endpoint,
        o.load,
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: forwarding (table | fanout N | mesh N) [--pps P] [--secs S] \
         [--bridge-threads T] [--client-threads C] [--plain-io] [--conferences K]"
    );
    std::process::exit(2)
}

fn main() {
    // cargo bench passes --bench; anything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut positional = Vec::new();
    let mut pps = None;
    let mut secs = 10;
    let mut bridge_threads = None;
    let mut client_threads = 1;
    let mut batched = true;
    let mut conferences = 1;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--pps" => pps = Some(value() as u32),
            "--secs" => secs = value(),
            "--bridge-threads" => bridge_threads = Some(value() as usize),
            "--client-threads" => client_threads = value() as usize,
            "--plain-io" => batched = false,
            "--conferences" => conferences = value() as u32,
            _ => positional.push(a.clone()),
        }
    }
    let scenario = |shape, n| Scenario {
        shape,
        n,
        pps: pps.unwrap_or_else(|| default_pps(shape, n)),
        secs,
        bridge_threads,
        client_threads,
        batched,
        conferences,
    };
    let scenarios: Vec<Scenario> = match positional.first().map(String::as_str) {
        None | Some("table") => vec![
            scenario(Shape::Fanout, 10),
            scenario(Shape::Fanout, 50),
            scenario(Shape::Mesh, 10),
            scenario(Shape::Mesh, 25),
            scenario(Shape::Mesh, 50),
        ],
        Some(shape @ ("fanout" | "mesh")) => {
            let n = positional
                .get(1)
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=500).contains(n))
                .unwrap_or_else(|| usage());
            let shape = if shape == "fanout" {
                Shape::Fanout
            } else {
                Shape::Mesh
            };
            vec![scenario(shape, n)]
        }
        Some(_) => usage(),
    };
    println!(
        "| scenario | pps/sender | forwarded/s | bridge CPU | forwarded per CPU-s | latency p50 / p99 ms | loss | CPU per endpoint | bridge KiB per endpoint | process KiB per endpoint | load |"
    );
    for s in scenarios {
        let o = run(s);
        report(&s, &o);
    }
}
