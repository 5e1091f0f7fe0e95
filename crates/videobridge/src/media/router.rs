//! The receive thread: the only reader of the media port. It takes
//! datagrams in batches (`recvmmsg`), finds each one's worker with one map
//! lookup — the ICE ufrag of a STUN check, else the remote address a
//! worker has accepted checks from — and hands them over in batches
//! (`handoff`). It also sums the workers' counters into the bridge's stats
//! once per interval.
//!
//! Routes arrive as [`RouteUpdate`]s on a channel: ufrags from the handles
//! when an endpoint is allocated (before the client can know the ufrag, so
//! its first check finds the route), addresses from the workers when they
//! accept a check (before they answer it, so the DTLS that follows the
//! answer finds the route too). The thread applies them before routing each
//! batch, so a route is never looked up under a lock.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::MediaStats;

use super::handoff::Outbox;
use super::mmsg::BatchReceiver;
use super::stats::{Counters, RateTracker};
use super::stun;

/// Longest the thread blocks in a receive before checking for shutdown
/// and stats.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// A change to the routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteUpdate {
    /// STUN checks naming this (bridge-side) ufrag go to `shard`.
    Ufrag {
        ufrag: String,
        shard: usize,
    },
    ForgetUfrag {
        ufrag: String,
    },
    /// Datagrams from `addr` go to `shard`.
    Addr {
        addr: SocketAddr,
        shard: usize,
    },
    /// Forget `addr` if it still routes to `shard` (another worker may
    /// have claimed it since).
    ForgetAddr {
        addr: SocketAddr,
        shard: usize,
    },
}

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Shard(usize),
    /// STUN for no known ufrag (or unparsable STUN).
    UnknownStun,
    /// Anything else from an address no worker claimed.
    Unknown,
}

/// The routing table (sans-IO, so it is tested on its own).
#[derive(Debug, Default)]
pub struct Routes {
    by_ufrag: HashMap<String, usize>,
    by_addr: HashMap<SocketAddr, usize>,
}

impl Routes {
    pub fn apply(&mut self, update: RouteUpdate) {
        match update {
            RouteUpdate::Ufrag { ufrag, shard } => {
                self.by_ufrag.insert(ufrag, shard);
            }
            RouteUpdate::ForgetUfrag { ufrag } => {
                self.by_ufrag.remove(&ufrag);
            }
            RouteUpdate::Addr { addr, shard } => {
                self.by_addr.insert(addr, shard);
            }
            RouteUpdate::ForgetAddr { addr, shard } => {
                if self.by_addr.get(&addr) == Some(&shard) {
                    self.by_addr.remove(&addr);
                }
            }
        }
    }

    /// STUN with a USERNAME by its ufrag; everything else (DTLS, SRTP,
    /// STUN responses and indications) by its source.
    pub fn route(&self, data: &[u8], src: SocketAddr) -> Route {
        if stun::is_stun(data) {
            let Some(info) = stun::parse(data) else {
                return Route::UnknownStun;
            };
            let shard = match info.local_ufrag {
                Some(ufrag) => self.by_ufrag.get(ufrag),
                None => self.by_addr.get(&src),
            };
            return shard.map_or(Route::UnknownStun, |s| Route::Shard(*s));
        }
        self.by_addr
            .get(&src)
            .map_or(Route::Unknown, |s| Route::Shard(*s))
    }
}

/// What the thread is given.
#[derive(Debug)]
pub struct RouterSetup {
    pub socket: UdpSocket,
    pub updates: Receiver<RouteUpdate>,
    pub outboxes: Vec<Outbox>,
    /// Where wake-up datagrams come from (see `net::Waker`).
    pub waker_port: u16,
    pub stop: Arc<AtomicBool>,
    /// Each worker's counters, published by the worker once per interval.
    pub worker_counters: Vec<Arc<Mutex<Counters>>>,
    pub stats: Arc<Mutex<MediaStats>>,
    /// Budget of all workers together (the stress denominator).
    pub capacity_pps: u64,
    pub stats_interval: Duration,
    /// Use recvmmsg where available.
    pub batched: bool,
}

pub fn run(setup: RouterSetup) {
    let RouterSetup {
        socket,
        updates,
        mut outboxes,
        waker_port,
        stop,
        worker_counters,
        stats,
        capacity_pps,
        stats_interval,
        batched,
    } = setup;
    if let Err(e) = socket.set_read_timeout(Some(MAX_WAIT.min(stats_interval))) {
        tracing::error!(error = %e, "cannot set the media socket's read timeout");
    }
    let mut rx = BatchReceiver::new(batched);
    let mut routes = Routes::default();
    let mut counters = Counters::default();
    let start = Instant::now();
    let mut rates = RateTracker::new(start, capacity_pps);
    let mut next_stats = start + stats_interval;
    while !stop.load(Ordering::Relaxed) {
        // What is already queued first; only when nothing is, everything
        // held back for busy workers goes out and the thread blocks.
        let ready = match rx.try_recv(&socket) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "media socket receive error");
                0
            }
        };
        let received = if ready > 0 {
            Ok(ready)
        } else {
            for out in &mut outboxes {
                out.flush(true);
            }
            rx.recv(&socket)
        };
        match received {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                // ICMP errors surface here on some systems; they concern
                // one peer, never the thread.
                tracing::debug!(error = %e, "media socket receive error");
            }
        }
        while let Ok(update) = updates.try_recv() {
            routes.apply(update);
        }
        for i in 0..rx.len() {
            let Some((data, src, truncated)) = rx.get(i) else {
                continue;
            };
            if data.is_empty() {
                if src.port() != waker_port {
                    counters.dropped_garbage += 1;
                }
                continue;
            }
            counters.packets_received += 1;
            counters.bytes_received += data.len() as u64;
            if truncated {
                counters.dropped_garbage += 1;
                continue;
            }
            match routes.route(data, src) {
                Route::Shard(shard) => match outboxes.get_mut(shard) {
                    Some(out) => {
                        out.push(data, src);
                    }
                    None => counters.dropped_garbage += 1,
                },
                Route::UnknownStun => counters.dropped_stun += 1,
                Route::Unknown => counters.dropped_garbage += 1,
            }
        }
        for out in &mut outboxes {
            out.flush(false);
        }
        let now = Instant::now();
        if now >= next_stats {
            counters.dropped_overflow = outboxes.iter().map(|o| o.dropped).sum();
            let mut total = counters;
            for slot in &worker_counters {
                if let Ok(c) = slot.lock() {
                    total.add(&c);
                }
            }
            let snapshot = rates.snapshot(now, &total, 0, 0);
            if let Ok(mut s) = stats.lock() {
                *s = snapshot;
            }
            next_stats = now + stats_interval;
        }
    }
    let mut total = counters;
    total.dropped_overflow = outboxes.iter().map(|o| o.dropped).sum();
    for slot in &worker_counters {
        if let Ok(c) = slot.lock() {
            total.add(&c);
        }
    }
    tracing::debug!("media receive thread stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request whose USERNAME is `user`.
    fn binding_request(user: &str) -> Vec<u8> {
        let mut attr = Vec::new();
        attr.extend_from_slice(&0x0006u16.to_be_bytes());
        attr.extend_from_slice(&u16::try_from(user.len()).unwrap().to_be_bytes());
        attr.extend_from_slice(user.as_bytes());
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&0x0001u16.to_be_bytes());
        m.extend_from_slice(&u16::try_from(attr.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attr);
        m
    }

    #[test]
    fn checks_route_by_ufrag_then_media_by_address() {
        let mut r = Routes::default();
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let check = binding_request("bridgeufrag:client");
        let srtp = [0x80u8, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(r.route(&check, a), Route::UnknownStun);
        r.apply(RouteUpdate::Ufrag {
            ufrag: "bridgeufrag".into(),
            shard: 3,
        });
        assert_eq!(r.route(&check, a), Route::Shard(3));
        assert_eq!(r.route(&srtp, a), Route::Unknown, "no address route yet");
        r.apply(RouteUpdate::Addr { addr: a, shard: 3 });
        assert_eq!(r.route(&srtp, a), Route::Shard(3));
        // Another worker claimed the address: the first one's forget is
        // ignored.
        r.apply(RouteUpdate::Addr { addr: a, shard: 1 });
        r.apply(RouteUpdate::ForgetAddr { addr: a, shard: 3 });
        assert_eq!(r.route(&srtp, a), Route::Shard(1));
        r.apply(RouteUpdate::ForgetAddr { addr: a, shard: 1 });
        assert_eq!(r.route(&srtp, a), Route::Unknown);
        r.apply(RouteUpdate::ForgetUfrag {
            ufrag: "bridgeufrag".into(),
        });
        assert_eq!(r.route(&check, a), Route::UnknownStun);
    }
}
