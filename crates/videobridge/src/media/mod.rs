//! The media plane: one UDP port, one str0m `Rtc` per endpoint, the
//! forwarding core per conference, and the bridge channel (colibri-ws or
//! SCTP data channel), spread over every core.
//!
//! ```text
//!  control plane ─MediaHandle─▶ MediaEngine ──commands (+unpark)──▶ worker 0..n
//!  (colibri, http)               │ registry: ids, ICE pwds,          │ Rtc per endpoint,
//!  /colibri-ws/ ───ColibriWs───▶ │ SSRC owners, conference→worker    │ ConferenceCore per conference,
//!                                │                                   │ sendmmsg on a socket clone
//!                                └─ufrag routes─▶ receive thread ────┘ batches (bounded hand-off)
//!                                                 recvmmsg on the port,     ▲
//!                                                 route by ufrag / address ─┘ address routes
//! ```
//!
//! - [`MediaEngine`] (from [`start`]) implements both
//!   [`MediaHandle`](crate::engine::MediaHandle) and
//!   [`ColibriWs`](crate::engine::ColibriWs). Its methods never wait for
//!   the threads: identities, ICE passwords, the certificate fingerprint and
//!   the checks on sources are done up front (`registry`), the rest is
//!   queued as commands for the conference's worker, which is unparked.
//! - `router`: the receive thread. It reads the port in batches (`mmsg`),
//!   finds each datagram's worker by map (STUN ufrag, then remote address)
//!   and hands batches over (`handoff`: bounded, drop-and-count when a
//!   worker is behind).
//! - `worker`: one per media thread. A conference lives on one worker
//!   (`placement`), so forwarding inside it never crosses threads and takes
//!   no lock; timers sit in a heap, str0m events feed the core
//!   (`crate::core`), whose decisions go back out through str0m and leave
//!   in batches.
//! - `endpoint`: how each `Rtc` is configured (full ICE, controlling; DTLS roles, streams
//!   with the signalled SSRCs); `profile`: payload types and header
//!   extensions shared with the clients; `net`: the socket, candidates and
//!   the waker; `datagrams`: the reusable batch buffer; `stun`: USERNAME
//!   parsing for routing; `timers`, `slab`, `stats`: the workers'
//!   bookkeeping; `colibri_ws`: the WebSocket side.

// Datagrams from anyone reach this code: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod colibri_ws;
mod datagrams;
mod endpoint;
mod handoff;
mod mmsg;
mod net;
mod placement;
pub mod profile;
mod registry;
mod router;
mod slab;
mod stats;
mod stun;
mod timers;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use str0m::IceCreds;
use str0m::config::Fingerprint;

use crate::config::Config;
use crate::core::CoreConfig;
use crate::engine::{
    EndpointSource, EngineError, LocalCandidate, LocalTransport, MediaHandle, MediaStats,
    RemoteTransport,
};

use endpoint::PeerTemplate;
use registry::Registry;
use router::{RouteUpdate, RouterSetup};
use stats::Counters;
use worker::{Command, Worker, WorkerSetup};

pub use stats::stress;

/// ICE ufrag length (RFC 8445 wants at least 4 characters).
const UFRAG_LEN: usize = 12;
/// ICE password length (at least 22); it is also the colibri-ws secret.
const PWD_LEN: usize = 24;
/// Longest accepted conference or endpoint id, in bytes.
const MAX_ID_LEN: usize = 256;
/// Most remote candidates accepted in one transport.
const MAX_REMOTE_CANDIDATES: usize = 32;
/// Hand-off batches queued per worker: 32 × 64 datagrams is ~40 ms of a
/// saturated worker, beyond which waiting longer would not help.
const HANDOFF_DEPTH: usize = 32;

/// Media-plane settings that are not in the configuration file.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// Datagrams per second (in + out) one media thread is budgeted for:
    /// the denominator of the stress level.
    pub capacity_pps: u64,
    /// Initial send-side bandwidth estimate per endpoint; None turns
    /// bandwidth estimation (and str0m's pacing) off.
    pub bwe_initial_bps: Option<u64>,
    /// The forwarding core's tuning.
    pub core: CoreConfig,
    /// How often stats are recomputed.
    pub stats_interval: Duration,
    /// Media worker threads; None takes `videobridge.media.threads`.
    pub threads: Option<usize>,
    /// recvmmsg/sendmmsg where the platform has them; false forces one
    /// datagram per system call (for comparison and tests).
    pub batched_io: bool,
}

impl Default for MediaOptions {
    fn default() -> Self {
        MediaOptions {
            capacity_pps: 150_000,
            bwe_initial_bps: Some(1_000_000),
            core: CoreConfig {
                server_version: Some(env!("CARGO_PKG_VERSION").to_string()),
                ..CoreConfig::default()
            },
            stats_interval: Duration::from_secs(1),
            threads: None,
            batched_io: true,
        }
    }
}

/// A worker as the handles reach it.
#[derive(Debug)]
struct Shard {
    commands: Sender<Command>,
    thread: Thread,
}

/// What the handles share with the WebSocket tasks.
#[derive(Debug)]
struct Inner {
    shards: Vec<Shard>,
    routes: Sender<RouteUpdate>,
    waker: net::Waker,
    stop: Arc<AtomicBool>,
    registry: Mutex<Registry>,
    stats: Arc<Mutex<MediaStats>>,
    fingerprint: String,
    candidates: Vec<LocalCandidate>,
    feedback_ssrcs: (u32, u32),
    server_id: String,
    local_addr: SocketAddr,
    next_conn: AtomicU64,
}

impl Inner {
    /// Queues a command for a worker and wakes it.
    fn send_to(&self, shard: usize, cmd: Command) -> Result<(), EngineError> {
        let s = self.shards.get(shard).ok_or(EngineError::Stopped)?;
        s.commands.send(cmd).map_err(|_| EngineError::Stopped)?;
        s.thread.unpark();
        Ok(())
    }

    /// Queues a command for the worker of `conference`.
    fn send(&self, conference: &str, cmd: Command) -> Result<(), EngineError> {
        let shard = self
            .registry()?
            .shard_of(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
        self.send_to(shard, cmd)
    }

    fn route(&self, update: RouteUpdate) -> Result<(), EngineError> {
        self.routes.send(update).map_err(|_| EngineError::Stopped)
    }

    fn registry(&self) -> Result<MutexGuard<'_, Registry>, EngineError> {
        self.registry.lock().map_err(|_| EngineError::Stopped)
    }

    /// The endpoint's ICE password, if it exists.
    fn pwd_of(&self, conference: &str, endpoint: &str) -> Option<String> {
        let reg = self.registry.lock().ok()?;
        reg.endpoint(conference, endpoint)
            .ok()
            .map(|e| e.pwd.clone())
    }
}

/// The running media plane. Implements [`MediaHandle`] and
/// [`ColibriWs`](crate::engine::ColibriWs); dropping it stops the loop.
#[derive(Debug)]
pub struct MediaEngine {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts the media plane with default options.
pub fn start(cfg: &Config) -> Result<Arc<MediaEngine>, String> {
    start_with(cfg, MediaOptions::default())
}

/// Binds `videobridge.ice.udp` and starts the receive thread and the
/// workers (`videobridge.media.threads`, default one per core). Port 0
/// binds an ephemeral port (tests); the candidates then carry it.
pub fn start_with(cfg: &Config, options: MediaOptions) -> Result<Arc<MediaEngine>, String> {
    let vb = &cfg.videobridge;
    let bind = SocketAddr::new(vb.ice.udp.bind_address, vb.ice.udp.port);
    let socket =
        net::MediaSocket::bind(bind, vb.media.udp_receive_buffer, vb.media.udp_send_buffer)
            .map_err(|e| format!("cannot bind the media port {bind}: {e}"))?;
    let local = socket.local_addr();
    let locals = net::local_addresses(&vb.nat.local_addresses, local.ip());
    let candidates = net::candidates(&locals, vb.nat.public_address, local.port());

    // One host candidate per family for str0m: the destination it is told
    // for every datagram (the socket does not report which local address
    // a datagram reached). See `worker::Worker::new`.
    let mut host_candidates: Vec<SocketAddr> = Vec::new();
    for ip in &locals {
        if !host_candidates.iter().any(|a| a.is_ipv4() == ip.is_ipv4()) {
            host_candidates.push(SocketAddr::new(*ip, local.port()));
        }
    }

    let cert = str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .ok_or("the crypto provider cannot generate a DTLS certificate")?;
    let template = PeerTemplate {
        cert,
        host_candidates,
        bwe_initial_bps: options.bwe_initial_bps,
    };
    let fingerprint = {
        let mut rtc = template.build(random_creds(), std::time::Instant::now());
        format_fingerprint(rtc.direct_api().local_dtls_fingerprint())
    };

    let waker = net::Waker::new(socket.loopback_target())
        .map_err(|e| format!("cannot create the receive thread's waker: {e}"))?;
    let threads = options
        .threads
        .unwrap_or_else(|| vb.media.worker_threads())
        .clamp(1, crate::config::MAX_MEDIA_THREADS);
    let stats_interval = options.stats_interval.max(Duration::from_millis(10));
    let stats = Arc::new(Mutex::new(MediaStats::default()));
    let (route_tx, route_rx) = std::sync::mpsc::channel();
    let mut handles = Vec::with_capacity(threads + 1);
    let mut shards = Vec::with_capacity(threads);
    let mut outboxes = Vec::with_capacity(threads);
    let mut worker_counters = Vec::with_capacity(threads);
    for shard in 0..threads {
        let (tx, rx) = std::sync::mpsc::channel();
        let counters = Arc::new(Mutex::new(Counters::default()));
        let setup = WorkerSetup {
            shard,
            local,
            template: template.clone(),
            core: options.core.clone(),
            stats_interval,
            counters: Arc::clone(&counters),
            routes: route_tx.clone(),
        };
        let send_socket = socket
            .try_clone()
            .map_err(|e| format!("cannot clone the media socket: {e}"))?;
        let batched = options.batched_io;
        // The worker's inbox needs its thread (to unpark it), so it is
        // handed over once the thread exists.
        let (inbox_tx, inbox_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("media-{shard}"))
            .spawn(move || {
                let Ok(inbox) = inbox_rx.recv() else {
                    return;
                };
                match mmsg::BatchSender::new(send_socket, batched) {
                    Ok(sender) => Worker::new(sender, inbox, rx, setup).run(),
                    Err(e) => tracing::error!(error = %e, "media worker cannot start"),
                }
            })
            .map_err(|e| format!("cannot start a media thread: {e}"))?;
        let (outbox, inbox) = handoff::channel(HANDOFF_DEPTH, handle.thread().clone());
        inbox_tx
            .send(inbox)
            .map_err(|_| "a media thread stopped at once".to_string())?;
        shards.push(Shard {
            commands: tx,
            thread: handle.thread().clone(),
        });
        outboxes.push(outbox);
        worker_counters.push(counters);
        handles.push(handle);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (granted_rcv, granted_snd) = socket.buffer_sizes();
    let router = RouterSetup {
        socket: socket.into_socket(),
        updates: route_rx,
        outboxes,
        waker_port: waker.port(),
        stop: Arc::clone(&stop),
        worker_counters,
        stats: Arc::clone(&stats),
        capacity_pps: options.capacity_pps.saturating_mul(threads as u64),
        stats_interval,
        batched: options.batched_io,
    };
    handles.push(
        std::thread::Builder::new()
            .name("media-rx".into())
            .spawn(move || router::run(router))
            .map_err(|e| format!("cannot start the media receive thread: {e}"))?,
    );

    let mut rng = rand::rng();
    let audio_ssrc = rng.random_range(1..=u32::MAX);
    let video_ssrc = loop {
        let v = rng.random_range(1..=u32::MAX);
        if v != audio_ssrc {
            break v;
        }
    };
    tracing::info!(
        %local,
        threads,
        recv_buffer = granted_rcv,
        send_buffer = granted_snd,
        candidates = ?candidates.iter().map(|c| c.addr).collect::<Vec<_>>(),
        "media plane started"
    );
    Ok(Arc::new(MediaEngine {
        inner: Arc::new(Inner {
            shards,
            routes: route_tx,
            waker,
            stop,
            registry: Mutex::new(Registry::new(threads, options.core.max_endpoints)),
            stats,
            fingerprint,
            candidates,
            feedback_ssrcs: (audio_ssrc, video_ssrc),
            server_id: vb.server_id.clone(),
            local_addr: local,
            next_conn: AtomicU64::new(1),
        }),
        threads: Mutex::new(handles),
    }))
}

impl MediaEngine {
    /// The bound media socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The number of media worker threads.
    pub fn worker_threads(&self) -> usize {
        self.inner.shards.len()
    }

    /// Stops the threads and waits for them. Idempotent.
    pub fn shutdown(&self) {
        for shard in 0..self.inner.shards.len() {
            let _ = self.inner.send_to(shard, Command::Shutdown);
        }
        self.inner.stop.store(true, Ordering::Relaxed);
        self.inner.waker.wake();
        let handles = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for h in handles {
            if h.join().is_err() {
                tracing::error!("a media thread panicked");
            }
        }
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn random_creds() -> IceCreds {
    IceCreds {
        ufrag: random_string(UFRAG_LEN),
        pass: random_string(PWD_LEN),
    }
}

/// "AB:CD:...", as Colibri2 and Jingle carry it.
fn format_fingerprint(fp: &Fingerprint) -> String {
    let mut s = String::with_capacity(fp.bytes.len() * 3);
    for (i, b) in fp.bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// The remote fingerprint str0m should verify: sha-256 if offered, else
/// sha-1 (both are what str0m can check).
fn parse_fingerprint(list: &[(String, String)]) -> Result<Option<Fingerprint>, EngineError> {
    let pick = |algo: &str| list.iter().find(|(h, _)| h.eq_ignore_ascii_case(algo));
    let Some((hash, value)) = pick("sha-256").or_else(|| pick("sha-1")) else {
        return match list.first() {
            Some((h, _)) => Err(EngineError::InvalidTransport(format!(
                "unsupported fingerprint hash {h}"
            ))),
            None => Ok(None),
        };
    };
    let bytes: Result<Vec<u8>, _> = value
        .trim()
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect();
    let bytes = bytes.map_err(|_| EngineError::InvalidTransport("malformed fingerprint".into()))?;
    let expected = if hash.eq_ignore_ascii_case("sha-256") {
        32
    } else {
        20
    };
    if bytes.len() != expected {
        return Err(EngineError::InvalidTransport(format!(
            "{hash} fingerprint has {} bytes",
            bytes.len()
        )));
    }
    Ok(Some(Fingerprint {
        hash_func: hash.to_ascii_lowercase(),
        bytes,
    }))
}

fn check_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

/// ICE credentials are printable ASCII of sane length (RFC 8445 §5.3).
fn check_credential(value: &str) -> bool {
    !value.is_empty() && value.len() <= 256 && value.bytes().all(|b| b.is_ascii_graphic())
}

impl MediaHandle for MediaEngine {
    fn allocate(&self, conference: &str, endpoint: &str) -> Result<LocalTransport, EngineError> {
        if !check_id(conference) {
            return Err(EngineError::ConferenceNotFound(conference.to_string()));
        }
        if !check_id(endpoint) {
            return Err(EngineError::EndpointNotFound(endpoint.to_string()));
        }
        let creds = random_creds();
        let shard =
            self.inner
                .registry()?
                .allocate(conference, endpoint, &creds.ufrag, &creds.pass)?;
        let transport = LocalTransport {
            ufrag: creds.ufrag.clone(),
            pwd: creds.pass.clone(),
            fingerprint_sha256: self.inner.fingerprint.clone(),
            candidates: self.inner.candidates.clone(),
        };
        // The route exists before the client can learn the ufrag.
        self.inner.route(RouteUpdate::Ufrag {
            ufrag: creds.ufrag.clone(),
            shard,
        })?;
        self.inner.send_to(
            shard,
            Command::Allocate {
                conference: conference.to_string(),
                endpoint: endpoint.to_string(),
                creds,
            },
        )?;
        Ok(transport)
    }

    fn set_remote_transport(
        &self,
        conference: &str,
        endpoint: &str,
        remote: RemoteTransport,
    ) -> Result<(), EngineError> {
        self.inner.registry()?.endpoint(conference, endpoint)?;
        for v in [&remote.ufrag, &remote.pwd].into_iter().flatten() {
            if !check_credential(v) {
                return Err(EngineError::InvalidTransport(
                    "malformed ICE credentials".into(),
                ));
            }
        }
        if let Some(setup) = &remote.setup
            && !matches!(setup.as_str(), "active" | "passive" | "actpass")
        {
            return Err(EngineError::InvalidTransport(format!(
                "unknown DTLS setup {setup}"
            )));
        }
        if remote.candidates.len() > MAX_REMOTE_CANDIDATES {
            return Err(EngineError::InvalidTransport("too many candidates".into()));
        }
        let fingerprint = parse_fingerprint(&remote.fingerprints)?;
        self.inner.send(
            conference,
            Command::SetRemote {
                conference: conference.to_string(),
                endpoint: endpoint.to_string(),
                remote,
                fingerprint,
            },
        )
    }

    fn set_sources(
        &self,
        conference: &str,
        endpoint: &str,
        sources: Vec<EndpointSource>,
    ) -> Result<(), EngineError> {
        let (shard, sources) = self
            .inner
            .registry()?
            .set_sources(conference, endpoint, sources)?;
        self.inner.send_to(
            shard,
            Command::SetSources {
                conference: conference.to_string(),
                endpoint: endpoint.to_string(),
                sources,
            },
        )
    }

    fn expire_endpoint(&self, conference: &str, endpoint: &str) -> Result<(), EngineError> {
        let removed = self
            .inner
            .registry()?
            .expire_endpoint(conference, endpoint)?;
        for ufrag in removed.ufrags {
            self.inner.route(RouteUpdate::ForgetUfrag { ufrag })?;
        }
        self.inner.send_to(
            removed.shard,
            Command::ExpireEndpoint {
                conference: conference.to_string(),
                endpoint: endpoint.to_string(),
            },
        )
    }

    fn expire_conference(&self, conference: &str) -> Result<(), EngineError> {
        let removed = self.inner.registry()?.expire_conference(conference)?;
        for ufrag in removed.ufrags {
            self.inner.route(RouteUpdate::ForgetUfrag { ufrag })?;
        }
        self.inner.send_to(
            removed.shard,
            Command::ExpireConference {
                conference: conference.to_string(),
            },
        )
    }

    fn feedback_ssrcs(&self) -> (u32, u32) {
        self.inner.feedback_ssrcs
    }

    fn stats(&self) -> MediaStats {
        let mut s = self
            .inner
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        // Membership is current in the registry; the threads' figures lag
        // by up to a stats interval.
        if let Ok(reg) = self.inner.registry() {
            s.conferences = reg.conferences.len();
            s.endpoints = reg.endpoint_count();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_checked() {
        let good = "AB:".repeat(31) + "AB";
        let fp = parse_fingerprint(&[("SHA-256".into(), good.clone())])
            .unwrap()
            .unwrap();
        assert_eq!(fp.hash_func, "sha-256");
        assert_eq!(fp.bytes.len(), 32);
        assert_eq!(format_fingerprint(&fp), good);
        assert!(parse_fingerprint(&[("sha-256".into(), "AB:CD".into())]).is_err());
        assert!(parse_fingerprint(&[("sha-256".into(), "zz".into())]).is_err());
        assert!(parse_fingerprint(&[("md5".into(), "AB".into())]).is_err());
        assert!(parse_fingerprint(&[]).unwrap().is_none());
        // sha-256 preferred over sha-1 when both are given.
        let sha1 = "01:".repeat(19) + "01";
        let fp = parse_fingerprint(&[("sha-1".into(), sha1), ("sha-256".into(), good)])
            .unwrap()
            .unwrap();
        assert_eq!(fp.hash_func, "sha-256");
    }

    #[test]
    fn credentials_are_random_and_long_enough() {
        let a = random_creds();
        let b = random_creds();
        assert_ne!(a.ufrag, b.ufrag);
        assert_eq!(a.pass.len(), PWD_LEN);
        assert!(check_credential(&a.pass));
        assert!(!check_credential("has space"));
        assert!(!check_id(""));
        assert!(!check_id("a\nb"));
    }
}
