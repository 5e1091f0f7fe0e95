//! The media plane: one UDP port, one str0m `Rtc` per endpoint, the
//! forwarding core per conference, and the bridge channel (colibri-ws or
//! SCTP data channel).
//!
//! ```text
//!  control plane ──MediaHandle──▶ MediaEngine ──commands──▶ media loop (1 thread)
//!  (colibri, http)                 │ registry: ids, ICE pwds   │ UDP socket, Rtc per endpoint,
//!  /colibri-ws/ ────ColibriWs────▶ │ stats snapshot  ◀─────────│ ConferenceCore per conference
//!                                  └ WebSocket tasks ◀─outbox──┘
//! ```
//!
//! - [`MediaEngine`] (from [`start`]) implements both
//!   [`MediaHandle`](crate::engine::MediaHandle) and
//!   [`ColibriWs`](crate::engine::ColibriWs). Its methods never wait for
//!   the loop: identities, ICE passwords and the certificate fingerprint are
//!   known up front, the rest is queued as commands and the loop is woken.
//! - `worker`: the loop. Datagrams are routed by map (STUN ufrag, then
//!   remote address), timers sit in a heap, and str0m events feed the core
//!   (`crate::core`), whose decisions go back out through str0m.
//! - `endpoint`: how each `Rtc` is configured (ICE-lite, DTLS roles, streams
//!   with the signalled SSRCs); `profile`: payload types and header
//!   extensions shared with the clients; `net`: the socket, candidates and
//!   the waker; `stun`: USERNAME parsing for routing; `timers`, `slab`,
//!   `stats`: the loop's bookkeeping; `colibri_ws`: the WebSocket side.
//!
//! Errors in what the loop is asked to do (sources the core refuses, an
//! endpoint it no longer has) are logged there, since the handles do not
//! wait for it.

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
mod endpoint;
mod net;
pub mod profile;
mod slab;
mod stats;
mod stun;
mod timers;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
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
        }
    }
}

/// An endpoint as the handles know it.
#[derive(Debug)]
struct Registered {
    pwd: String,
}

/// Identities and secrets, shared by the handles and the WebSocket side;
/// never touched per packet.
#[derive(Debug, Default)]
struct Registry {
    conferences: HashMap<String, HashMap<String, Registered>>,
}

/// What the handles share with the WebSocket tasks.
#[derive(Debug)]
struct Inner {
    commands: Sender<Command>,
    waker: net::Waker,
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
    fn send(&self, cmd: Command) -> Result<(), EngineError> {
        self.commands.send(cmd).map_err(|_| EngineError::Stopped)?;
        self.waker.wake();
        Ok(())
    }

    fn registry(&self) -> Result<MutexGuard<'_, Registry>, EngineError> {
        self.registry.lock().map_err(|_| EngineError::Stopped)
    }

    /// The endpoint's ICE password, if it exists.
    fn pwd_of(&self, conference: &str, endpoint: &str) -> Option<String> {
        let reg = self.registry.lock().ok()?;
        reg.conferences
            .get(conference)?
            .get(endpoint)
            .map(|e| e.pwd.clone())
    }
}

/// The running media plane. Implements [`MediaHandle`] and
/// [`ColibriWs`](crate::engine::ColibriWs); dropping it stops the loop.
#[derive(Debug)]
pub struct MediaEngine {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Starts the media plane with default options.
pub fn start(cfg: &Config) -> Result<Arc<MediaEngine>, String> {
    start_with(cfg, MediaOptions::default())
}

/// Binds `videobridge.ice.udp` and starts the media loop on its own thread.
/// Port 0 binds an ephemeral port (tests); the candidates then carry it.
pub fn start_with(cfg: &Config, options: MediaOptions) -> Result<Arc<MediaEngine>, String> {
    let vb = &cfg.videobridge;
    let bind = SocketAddr::new(vb.ice.udp.bind_address, vb.ice.udp.port);
    let socket = net::MediaSocket::bind(bind)
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
        .map_err(|e| format!("cannot create the loop waker: {e}"))?;
    let stats = Arc::new(Mutex::new(MediaStats::default()));
    let (tx, rx) = std::sync::mpsc::channel();
    let setup = WorkerSetup {
        template,
        core: options.core.clone(),
        capacity_pps: options.capacity_pps,
        stats_interval: options.stats_interval.max(Duration::from_millis(10)),
        waker_port: waker.port(),
        stats: Arc::clone(&stats),
    };
    let worker = Worker::new(socket, rx, setup);
    let thread = std::thread::Builder::new()
        .name("media".into())
        .spawn(move || worker.run())
        .map_err(|e| format!("cannot start the media thread: {e}"))?;

    let mut rng = rand::rng();
    let audio_ssrc = rng.random_range(1..=u32::MAX);
    let video_ssrc = loop {
        let v = rng.random_range(1..=u32::MAX);
        if v != audio_ssrc {
            break v;
        }
    };
    tracing::info!(%local, candidates = ?candidates.iter().map(|c| c.addr).collect::<Vec<_>>(), "media plane started");
    Ok(Arc::new(MediaEngine {
        inner: Arc::new(Inner {
            commands: tx,
            waker,
            registry: Mutex::new(Registry::default()),
            stats,
            fingerprint,
            candidates,
            feedback_ssrcs: (audio_ssrc, video_ssrc),
            server_id: vb.server_id.clone(),
            local_addr: local,
            next_conn: AtomicU64::new(1),
        }),
        thread: Mutex::new(Some(thread)),
    }))
}

impl MediaEngine {
    /// The bound media socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Stops the loop and waits for it. Idempotent.
    pub fn shutdown(&self) {
        let _ = self.inner.send(Command::Shutdown);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("the media loop panicked");
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
        {
            let mut reg = self.inner.registry()?;
            let conf = reg.conferences.entry(conference.to_string()).or_default();
            if conf.contains_key(endpoint) {
                return Err(EngineError::EndpointExists(endpoint.to_string()));
            }
            conf.insert(
                endpoint.to_string(),
                Registered {
                    pwd: creds.pass.clone(),
                },
            );
        }
        let transport = LocalTransport {
            ufrag: creds.ufrag.clone(),
            pwd: creds.pass.clone(),
            fingerprint_sha256: self.inner.fingerprint.clone(),
            candidates: self.inner.candidates.clone(),
        };
        self.inner.send(Command::Allocate {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
            creds,
        })?;
        Ok(transport)
    }

    fn set_remote_transport(
        &self,
        conference: &str,
        endpoint: &str,
        remote: RemoteTransport,
    ) -> Result<(), EngineError> {
        self.require(conference, endpoint)?;
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
        self.inner.send(Command::SetRemote {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
            remote,
            fingerprint,
        })
    }

    fn set_sources(
        &self,
        conference: &str,
        endpoint: &str,
        sources: Vec<EndpointSource>,
    ) -> Result<(), EngineError> {
        self.require(conference, endpoint)?;
        self.inner.send(Command::SetSources {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
            sources,
        })
    }

    fn expire_endpoint(&self, conference: &str, endpoint: &str) -> Result<(), EngineError> {
        {
            let mut reg = self.inner.registry()?;
            let conf = reg
                .conferences
                .get_mut(conference)
                .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
            if conf.remove(endpoint).is_none() {
                return Err(EngineError::EndpointNotFound(endpoint.to_string()));
            }
            // The loop drops an empty conference too.
            if conf.is_empty() {
                reg.conferences.remove(conference);
            }
        }
        self.inner.send(Command::ExpireEndpoint {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
        })
    }

    fn expire_conference(&self, conference: &str) -> Result<(), EngineError> {
        if self
            .inner
            .registry()?
            .conferences
            .remove(conference)
            .is_none()
        {
            return Err(EngineError::ConferenceNotFound(conference.to_string()));
        }
        self.inner.send(Command::ExpireConference {
            conference: conference.to_string(),
        })
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
        // Membership is current in the registry; the loop's copy lags by
        // up to a stats interval.
        if let Ok(reg) = self.inner.registry() {
            s.conferences = reg.conferences.len();
            s.endpoints = reg.conferences.values().map(HashMap::len).sum();
        }
        s
    }
}

impl MediaEngine {
    fn require(&self, conference: &str, endpoint: &str) -> Result<(), EngineError> {
        let reg = self.inner.registry()?;
        let conf = reg
            .conferences
            .get(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
        if conf.contains_key(endpoint) {
            Ok(())
        } else {
            Err(EngineError::EndpointNotFound(endpoint.to_string()))
        }
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
