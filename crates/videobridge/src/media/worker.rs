//! A media worker: one thread owning the `Rtc`s of its conferences'
//! endpoints, their cores, and the maps that find an endpoint for a
//! datagram. The receive thread (`router`) hands it the datagrams of its
//! conferences in batches; it sends on its own handle of the same socket,
//! in batches (`mmsg`).
//!
//! Each turn: fire due timers, apply queued commands, process the batches
//! waiting in the inbox, send what that produced, then park until the
//! receive thread or a handle unparks it or the next timer is due. A
//! datagram is matched without looking at other endpoints: STUN by the
//! ufrag in its USERNAME (then `Rtc::accepts` checks integrity on that one
//! endpoint), everything else by the remote address a check was accepted
//! from. A newly accepted address is reported to the receive thread before
//! the check is answered (answers leave at the end of the batch).
//!
//! After feeding an `Rtc` it is drained to its next timeout (str0m's
//! single-mutation rule); its events are queued and handled after the
//! drain, so handling one (writing a packet into the receivers' `Rtc`s,
//! asking the sender for a keyframe) never nests inside another drain.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::bwe::BweKind;
use str0m::config::Fingerprint;
use str0m::media::{ExtensionValues, KeyframeRequestKind};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite, SeqNo, Ssrc};
use str0m::{Event, IceConnectionState, IceCreds, Input, Output};

use crate::core::{
    ConferenceCore, CoreConfig, CoreEvent, EndpointIdx, Forward, IncomingPacket, Timestamp,
};
use crate::engine::{EndpointSource, RemoteTransport};

use super::endpoint::{self, Endpoint, PeerTemplate, WsLink};
use super::handoff::Inbox;
use super::mmsg::BatchSender;
use super::profile;
use super::router::RouteUpdate;
use super::slab::{Key, Slab};
use super::stats::Counters;
use super::stun;
use super::timers::{Deadline, TimerOwner, Timers};

/// Batches processed before timers and commands get a turn again, so a
/// flood of datagrams delays a timer by a bounded amount only.
const BATCHES_PER_TURN: usize = 8;
/// Remote addresses remembered per endpoint (host, srflx, v4/v6 ...).
const MAX_ADDRS_PER_ENDPOINT: usize = 8;
/// Longest the loop sleeps without a reason (stats are due at least this often).
const MAX_WAIT: Duration = Duration::from_millis(500);

/// What the handles ask of the loop.
#[derive(Debug)]
pub enum Command {
    Allocate {
        conference: String,
        endpoint: String,
        creds: IceCreds,
    },
    SetRemote {
        conference: String,
        endpoint: String,
        remote: RemoteTransport,
        fingerprint: Option<Fingerprint>,
    },
    SetSources {
        conference: String,
        endpoint: String,
        sources: Vec<EndpointSource>,
    },
    ExpireEndpoint {
        conference: String,
        endpoint: String,
    },
    ExpireConference {
        conference: String,
    },
    WsOpen {
        conference: String,
        endpoint: String,
        link: WsLink,
    },
    WsMessage {
        conference: String,
        endpoint: String,
        text: String,
    },
    WsClosed {
        conference: String,
        endpoint: String,
        conn: u64,
    },
    Shutdown,
}

/// What the worker needs besides its inbox and commands.
#[derive(Debug)]
pub struct WorkerSetup {
    /// Its index: what it names itself as in route updates.
    pub shard: usize,
    /// The media socket's bound address.
    pub local: SocketAddr,
    pub template: PeerTemplate,
    pub core: CoreConfig,
    pub stats_interval: Duration,
    /// Where its counters are published for the receive thread.
    pub counters: Arc<Mutex<Counters>>,
    /// Address routes for the receive thread.
    pub routes: Sender<RouteUpdate>,
}

/// A conference: its core and which endpoint sits in each core slot.
struct Conference {
    id: String,
    core: ConferenceCore,
    /// By core slot: the core's index and our key.
    members: Vec<Option<(EndpointIdx, Key)>>,
    by_id: HashMap<String, Key>,
    deadline: Deadline,
}

impl Conference {
    fn member(&self, idx: EndpointIdx) -> Option<Key> {
        match self.members.get(idx.slot()) {
            Some(Some((i, key))) if *i == idx => Some(*key),
            _ => None,
        }
    }

    fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.members.iter().flatten().map(|(_, k)| *k)
    }
}

/// The parts of the loop every drain touches, apart from the endpoints.
struct Io {
    sender: BatchSender,
    timers: Timers,
    pending: VecDeque<(Key, Event)>,
    counters: Counters,
}

impl Io {
    /// Queues a datagram; it leaves with the next batch.
    fn transmit(&mut self, contents: &[u8], to: SocketAddr) {
        let sent = self.sender.push(contents, to);
        self.count(sent);
    }

    fn flush(&mut self) {
        let sent = self.sender.flush();
        self.count(sent);
    }

    fn count(&mut self, sent: super::mmsg::Sent) {
        self.counters.packets_sent += sent.packets;
        self.counters.bytes_sent += sent.bytes;
        self.counters.send_errors += sent.errors;
    }
}

/// Drains an endpoint's `Rtc` to its next timeout: datagrams go out now,
/// events wait in `io.pending`.
fn drive(key: Key, ep: &mut Endpoint, io: &mut Io) {
    if ep.failed {
        return;
    }
    let drained = guard(ep, |ep| drain(key, ep, io));
    if drained.is_none() {
        io.pending.retain(|(k, _)| *k != key);
    }
}

/// Runs `f` on the endpoint's peer, containing a panic inside str0m: str0m
/// treats panics as its own bugs and suggests discarding the instance, so
/// the endpoint goes inert (until the control plane expires it) and the
/// rest of the bridge carries on.
fn guard<R>(ep: &mut Endpoint, f: impl FnOnce(&mut Endpoint) -> R) -> Option<R> {
    if ep.failed {
        return None;
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *ep))) {
        Ok(r) => Some(r),
        Err(_) => {
            tracing::error!(endpoint = %ep.id, "str0m panicked; the endpoint is disabled");
            ep.failed = true;
            ep.set_ice_ok(false);
            ep.rtc.disconnect();
            None
        }
    }
}

fn drain(key: Key, ep: &mut Endpoint, io: &mut Io) {
    loop {
        match ep.rtc.poll_output() {
            Ok(Output::Transmit(t)) => io.transmit(&t.contents, t.destination),
            Ok(Output::Timeout(at)) => {
                io.timers.set(endpoint_owner(key), &mut ep.deadline, at);
                break;
            }
            Ok(Output::Event(e)) => io.pending.push_back((key, e)),
            Err(e) => {
                // str0m disconnects the peer on fatal errors (e.g. a
                // fingerprint mismatch); the control plane expires it.
                tracing::warn!(endpoint = %ep.id, error = %e, "peer failed");
                ep.set_ice_ok(false);
                break;
            }
        }
    }
}

fn endpoint_owner(key: Key) -> TimerOwner {
    TimerOwner::Endpoint {
        slot: key.slot,
        generation: key.generation,
    }
}

fn conference_owner(key: Key) -> TimerOwner {
    TimerOwner::Conference {
        slot: key.slot,
        generation: key.generation,
    }
}

pub struct Worker {
    io: Io,
    inbox: Inbox,
    commands: Receiver<Command>,
    setup: WorkerSetup,
    origin: Instant,
    /// Destination reported to str0m for datagrams from IPv4 / IPv6 peers:
    /// the host candidate it knows (see `PeerTemplate::host_candidates`).
    dest_v4: SocketAddr,
    dest_v6: SocketAddr,
    endpoints: Slab<Endpoint>,
    conferences: Slab<Conference>,
    conference_ids: HashMap<String, Key>,
    by_ufrag: HashMap<String, Key>,
    by_addr: HashMap<SocketAddr, Key>,
    /// Conferences whose core has events or timed work to run.
    touched: Vec<Key>,
    /// The core's per-packet output, reused.
    forwards: Vec<Forward>,
    /// Endpoints with packets written but not yet released (reused).
    written: Vec<Key>,
    next_stats: Instant,
}

impl Worker {
    pub fn new(
        sender: BatchSender,
        inbox: Inbox,
        commands: Receiver<Command>,
        setup: WorkerSetup,
    ) -> Self {
        let now = Instant::now();
        let local = setup.local;
        let dest = |v6: bool| {
            setup
                .template
                .host_candidates
                .iter()
                .copied()
                .find(|a| a.is_ipv6() == v6)
                .unwrap_or(local)
        };
        let (dest_v4, dest_v6) = (dest(false), dest(true));
        Worker {
            io: Io {
                sender,
                timers: Timers::default(),
                pending: VecDeque::new(),
                counters: Counters::default(),
            },
            inbox,
            commands,
            origin: now,
            dest_v4,
            dest_v6,
            endpoints: Slab::default(),
            conferences: Slab::default(),
            conference_ids: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            touched: Vec::new(),
            forwards: Vec::new(),
            written: Vec::new(),
            next_stats: now + setup.stats_interval,
            setup,
        }
    }

    /// Runs until shut down or every handle is gone.
    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            self.run_timers(now);
            if !self.drain_commands(now) {
                break;
            }
            let mut busy = false;
            // Connectivity that came through while we were behind first.
            while let Some((data, src)) = self.inbox.pop_control() {
                busy = true;
                self.on_datagram(&data, src, Instant::now());
            }
            for _ in 0..BATCHES_PER_TURN {
                let Some(batch) = self.inbox.pop() else {
                    break;
                };
                busy = true;
                // One clock reading per batch: it is processed within
                // microseconds, far below any timer's resolution.
                let now = Instant::now();
                for (data, src) in batch.iter() {
                    self.on_datagram(data, src, now);
                }
                self.inbox.give_back(batch);
            }
            // Once per turn: under load several batches share one tick per
            // receiver (str0m's timeout handling walks all of a peer's
            // streams, so it is the costliest step per peer); when idle a
            // turn is one batch and nothing waits.
            self.release_written(Instant::now());
            self.io.flush();
            if now >= self.next_stats {
                self.publish_stats(now);
            }
            if busy {
                continue;
            }
            let until = self
                .io
                .timers
                .next()
                .map_or(self.next_stats, |t| t.min(self.next_stats));
            let wait = until
                .saturating_duration_since(Instant::now())
                .min(MAX_WAIT);
            if !wait.is_zero() {
                // Unparked by the receive thread (a batch) or a handle (a
                // command); a spurious wake-up costs one empty turn.
                std::thread::park_timeout(wait);
            }
        }
        self.shutdown();
        self.io.flush();
        self.publish_stats(Instant::now());
    }

    /// str0m sends what was written into a peer only once time moves on
    /// for it (`handle_input(Timeout)` stamps its send queue), so every peer
    /// written to since the last call gets one tick: once per turn of the
    /// loop, not once per forwarded packet, and before the turn's datagrams
    /// leave, so forwarding adds no wait for the peer's own next timer.
    fn release_written(&mut self, now: Instant) {
        while !self.written.is_empty() {
            let mut keys = std::mem::take(&mut self.written);
            for &key in &keys {
                let Some(ep) = self.endpoints.get_mut(key) else {
                    continue;
                };
                ep.written = false;
                let handled = guard(ep, |ep| ep.rtc.handle_input(Input::Timeout(now)));
                if let Some(Err(e)) = handled {
                    tracing::debug!(endpoint = %ep.id, error = %e, "timeout refused");
                }
                drive(key, ep, &mut self.io);
            }
            keys.clear();
            if self.written.is_empty() {
                // Reuse the allocation.
                self.written = keys;
            }
            // What the ticks produced (events) may write more.
            self.process(now);
        }
    }

    fn ts(&self, now: Instant) -> Timestamp {
        Timestamp::from_instant(self.origin, now)
    }

    /// Hands this worker's counters to the receive thread, which sums them.
    fn publish_stats(&mut self, now: Instant) {
        if let Ok(mut c) = self.setup.counters.lock() {
            *c = self.io.counters;
        }
        self.next_stats = now + self.setup.stats_interval;
    }

    // ---- datagrams -------------------------------------------------------

    /// One datagram the receive thread routed here (it counted it).
    fn on_datagram(&mut self, data: &[u8], src: SocketAddr, now: Instant) {
        let is_stun = stun::is_stun(data);
        let route = if is_stun {
            match stun::parse(data) {
                Some(info) => match info.local_ufrag {
                    Some(ufrag) => self
                        .by_ufrag
                        .get(ufrag)
                        .map(|k| (*k, info.is_binding_request)),
                    // Indications and responses carry no USERNAME.
                    None => self.by_addr.get(&src).map(|k| (*k, false)),
                },
                None => None,
            }
        } else {
            self.by_addr.get(&src).map(|k| (*k, false))
        };
        let Some((key, is_check)) = route else {
            if is_stun {
                self.io.counters.dropped_stun += 1;
            } else {
                self.io.counters.dropped_garbage += 1;
            }
            return;
        };
        let dest = if src.is_ipv4() {
            self.dest_v4
        } else {
            self.dest_v6
        };
        let Some(ep) = self.endpoints.get_mut(key) else {
            self.io.counters.dropped_garbage += 1;
            return;
        };
        if !is_stun && !ep.dtls_started() && endpoint::is_dtls(data) {
            // Replayed when the client's transport arrives (set_remote).
            let kept = ep.keep_early_dtls(src, dest, data);
            tracing::debug!(endpoint = %ep.id, len = data.len(), kept, "DTLS before the client's transport");
            if !kept {
                self.io.counters.dropped_garbage += 1;
            }
            return;
        }
        let Ok(receive) = Receive::new(Protocol::Udp, src, dest, data) else {
            self.io.counters.dropped_garbage += 1;
            return;
        };
        let input = Input::Receive(now, receive);
        if is_stun && guard(ep, |ep| ep.rtc.accepts(&input)) != Some(true) {
            self.io.counters.dropped_stun += 1;
            return;
        }
        if is_check {
            // Before the answer is queued, so the receive thread has the
            // route before the client can follow up (see the module doc).
            self.remember_addr(key, src);
        }
        let Some(ep) = self.endpoints.get_mut(key) else {
            return;
        };
        let handled = guard(ep, |ep| ep.rtc.handle_input(input));
        if let Some(Err(e)) = handled {
            tracing::debug!(endpoint = %ep.id, error = %e, "input refused");
        }
        drive(key, ep, &mut self.io);
        self.process(now);
    }

    /// Routes later datagrams from `src` to `key`, keeping the per-endpoint
    /// list bounded, and tells the receive thread.
    fn remember_addr(&mut self, key: Key, src: SocketAddr) {
        if self.by_addr.get(&src) == Some(&key) {
            return;
        }
        let shard = self.setup.shard;
        // A send fails only while shutting down, when routes no longer matter.
        let _ = self
            .setup
            .routes
            .send(RouteUpdate::Addr { addr: src, shard });
        if let Some(prev) = self.by_addr.insert(src, key)
            && let Some(p) = self.endpoints.get_mut(prev)
        {
            p.addrs.retain(|a| *a != src);
        }
        let Some(ep) = self.endpoints.get_mut(key) else {
            return;
        };
        ep.addrs.push(src);
        if ep.addrs.len() > MAX_ADDRS_PER_ENDPOINT {
            let old = ep.addrs.remove(0);
            if self.by_addr.get(&old) == Some(&key) {
                self.by_addr.remove(&old);
                let _ = self
                    .setup
                    .routes
                    .send(RouteUpdate::ForgetAddr { addr: old, shard });
            }
        }
    }

    // ---- timers ----------------------------------------------------------

    fn run_timers(&mut self, now: Instant) {
        while let Some(entry) = self.io.timers.pop_due(now) {
            match entry.1 {
                TimerOwner::Endpoint { slot, generation } => {
                    let key = Key { slot, generation };
                    let Some(ep) = self.endpoints.get_mut(key) else {
                        continue;
                    };
                    if self.io.timers.fire(entry, &mut ep.deadline, now) {
                        let handled = guard(ep, |ep| ep.rtc.handle_input(Input::Timeout(now)));
                        if let Some(Err(e)) = handled {
                            tracing::debug!(endpoint = %ep.id, error = %e, "timeout refused");
                        }
                        drive(key, ep, &mut self.io);
                    }
                }
                TimerOwner::Conference { slot, generation } => {
                    let key = Key { slot, generation };
                    let Some(conf) = self.conferences.get_mut(key) else {
                        continue;
                    };
                    if self.io.timers.fire(entry, &mut conf.deadline, now) {
                        self.touched.push(key);
                    }
                }
            }
        }
        self.process(now);
    }

    // ---- events ----------------------------------------------------------

    /// Handles queued str0m events and the cores they touched, until quiet.
    fn process(&mut self, now: Instant) {
        loop {
            while let Some((key, event)) = self.io.pending.pop_front() {
                self.on_event(key, event, now);
            }
            if self.touched.is_empty() {
                break;
            }
            let mut touched = std::mem::take(&mut self.touched);
            touched.sort_unstable();
            touched.dedup();
            for ck in &touched {
                self.run_core(*ck, now);
            }
            // Reuse the allocation.
            touched.clear();
            if self.touched.is_empty() {
                self.touched = touched;
            }
        }
    }

    fn on_event(&mut self, key: Key, event: Event, now: Instant) {
        let ts = self.ts(now);
        let Some(ep) = self.endpoints.get_mut(key) else {
            return;
        };
        let (ck, idx) = (ep.conference, ep.core_idx);
        match event {
            Event::RtpPacket(packet) => {
                self.forward(key, &packet, now);
                return;
            }
            Event::Connected => {
                tracing::info!(endpoint = %ep.id, "DTLS connected");
                ep.set_dtls_ok(true);
                ep.set_ice_ok(true);
                return;
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(endpoint = %ep.id, ?state, "ICE state");
                match state {
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        ep.set_ice_ok(true)
                    }
                    IceConnectionState::Disconnected => ep.set_ice_ok(false),
                    _ => {}
                }
                return;
            }
            Event::Closed => {
                ep.set_dtls_ok(false);
                return;
            }
            Event::ChannelClose(id) => {
                if ep.sctp == Some(id) {
                    ep.sctp = None;
                }
                return;
            }
            _ => {}
        }
        let Some(conf) = self.conferences.get_mut(ck) else {
            return;
        };
        let result = match event {
            Event::KeyframeRequest(req) => {
                if let Some(ssrc) = endpoint::ssrc_of_video_mid(&req.mid) {
                    conf.core.on_keyframe_request(idx, ssrc, ts);
                }
                Ok(())
            }
            Event::EgressBitrateEstimate(
                BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. },
            ) => conf.core.on_bandwidth_estimate(idx, estimate.as_u64(), ts),
            Event::ChannelOpen(id, label) => {
                tracing::debug!(endpoint = %ep.id, %label, "data channel open");
                ep.sctp = Some(id);
                conf.core.on_channel_open(idx)
            }
            Event::ChannelData(data) if !data.binary => match std::str::from_utf8(&data.data) {
                Ok(text) => conf.core.on_channel_message(idx, text, ts),
                Err(_) => Ok(()),
            },
            _ => return,
        };
        if let Err(e) = result {
            tracing::debug!(endpoint = %ep.id, error = %e, "core refused input");
        }
        self.touched.push(ck);
    }

    /// One incoming RTP packet: the core decides who gets it and with what
    /// header; each copy goes into that receiver's send stream.
    fn forward(&mut self, key: Key, packet: &RtpPacket, now: Instant) {
        let ts = self.ts(now);
        let Some(ep) = self.endpoints.get(key) else {
            return;
        };
        let Some(conf) = self.conferences.get_mut(ep.conference) else {
            return;
        };
        let pt = *packet.header.payload_type;
        let video = profile::is_video(pt);
        let meta = IncomingPacket {
            from: ep.core_idx,
            ssrc: *packet.header.ssrc,
            seq: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            is_keyframe: video && profile::is_keyframe_start(pt, &packet.payload),
            // str0m has already unwrapped RTX into the original packet.
            is_rtx: false,
            rtx_osn: 0,
            audio_level: packet.header.ext_vals.audio_level.map(i8::unsigned_abs),
            payload_len: packet.payload.len(),
        };
        if conf.core.on_rtp(&meta, ts, &mut self.forwards).is_err() {
            self.io.counters.dropped_rtp += 1;
            return;
        }
        let ext = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            ..ExtensionValues::default()
        };
        for f in &self.forwards {
            let Some(rkey) = conf.member(f.to) else {
                continue;
            };
            let Some(receiver) = self.endpoints.get_mut(rkey) else {
                continue;
            };
            if !receiver.is_connected() {
                self.io.counters.dropped_forward += 1;
                continue;
            }
            let seq = receiver.out_seq.entry(f.ssrc).or_default().extend(f.seq);
            let written = guard(receiver, |r| {
                let mut api = r.rtc.direct_api();
                let Some(tx) = api.stream_tx(&Ssrc::from(f.ssrc)) else {
                    return false;
                };
                tx.write_rtp(
                    RtpWrite::new(
                        packet.header.payload_type,
                        SeqNo::from(seq),
                        f.timestamp,
                        packet.timestamp,
                        Arc::clone(&packet.payload),
                    )
                    .marker(packet.header.marker)
                    .ext_vals(ext.clone())
                    .nackable(video),
                );
                true
            });
            if written != Some(true) {
                self.io.counters.dropped_forward += 1;
                continue;
            }
            if !receiver.written {
                receiver.written = true;
                self.written.push(rkey);
            }
        }
    }

    /// Runs a conference core's timed work and carries out its events.
    fn run_core(&mut self, ck: Key, now: Instant) {
        let ts = self.ts(now);
        let Some(conf) = self.conferences.get_mut(ck) else {
            return;
        };
        let events: Vec<CoreEvent> = conf.core.poll_events(ts).collect();
        if let Some(t) = conf.core.poll_timeout() {
            let at = self.origin + Duration::from_micros(t.as_micros());
            self.io
                .timers
                .set(conference_owner(ck), &mut conf.deadline, at);
        }
        for event in events {
            match event {
                CoreEvent::KeyframeRequest { endpoint, ssrc } => {
                    let Some(key) = conf.member(endpoint) else {
                        continue;
                    };
                    let Some(ep) = self.endpoints.get_mut(key) else {
                        continue;
                    };
                    guard(ep, |ep| {
                        if let Some(rx) = ep.rtc.direct_api().stream_rx(&Ssrc::from(ssrc)) {
                            rx.request_keyframe(KeyframeRequestKind::Pli);
                        }
                    });
                    if !ep.written {
                        ep.written = true;
                        self.written.push(key);
                    }
                }
                CoreEvent::SendMessage { to, text } => {
                    let Some(key) = conf.member(to) else { continue };
                    let Some(ep) = self.endpoints.get_mut(key) else {
                        continue;
                    };
                    if !send_message(key, ep, &text, &mut self.io) {
                        self.io.counters.dropped_messages += 1;
                    }
                }
                CoreEvent::DominantSpeakerChanged { endpoint, previous } => {
                    tracing::debug!(conference = %conf.id, dominant = %endpoint, ?previous, "dominant speaker");
                }
            }
        }
    }

    // ---- commands --------------------------------------------------------

    /// Applies queued commands; false once the loop should stop.
    fn drain_commands(&mut self, now: Instant) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Ok(cmd) => self.on_command(cmd, now),
                Err(TryRecvError::Empty) => break,
            }
        }
        self.process(now);
        true
    }

    fn find(&self, conference: &str, endpoint: &str) -> Option<(Key, Key)> {
        let ck = *self.conference_ids.get(conference)?;
        let key = *self.conferences.get(ck)?.by_id.get(endpoint)?;
        Some((ck, key))
    }

    fn on_command(&mut self, cmd: Command, now: Instant) {
        let ts = self.ts(now);
        match cmd {
            Command::Allocate {
                conference,
                endpoint,
                creds,
            } => self.allocate(conference, endpoint, creds, now),
            Command::SetRemote {
                conference,
                endpoint,
                remote,
                fingerprint,
            } => {
                let Some((_, key)) = self.find(&conference, &endpoint) else {
                    return;
                };
                if let Some(ep) = self.endpoints.get_mut(key) {
                    guard(ep, |ep| ep.set_remote(&remote, fingerprint));
                    // DTLS that came before the transport, now that it can
                    // be taken.
                    let early = ep.take_early_dtls();
                    tracing::debug!(endpoint = %ep.id, dtls = ep.dtls_started(), replayed = early.len(), "client transport set");
                    for (src, dest, data) in early {
                        if let Ok(receive) = Receive::new(Protocol::Udp, src, dest, &data) {
                            let input = Input::Receive(now, receive);
                            if let Some(Err(e)) = guard(ep, |ep| ep.rtc.handle_input(input)) {
                                tracing::debug!(endpoint = %ep.id, error = %e, "early DTLS refused");
                            }
                        }
                    }
                    drive(key, ep, &mut self.io);
                }
            }
            Command::SetSources {
                conference,
                endpoint,
                sources,
            } => self.set_sources(&conference, &endpoint, sources),
            Command::ExpireEndpoint {
                conference,
                endpoint,
            } => {
                if let Some((ck, key)) = self.find(&conference, &endpoint) {
                    self.expire(ck, key);
                }
            }
            Command::ExpireConference { conference } => {
                if let Some(&ck) = self.conference_ids.get(&conference) {
                    let keys: Vec<Key> = self
                        .conferences
                        .get(ck)
                        .map(|c| c.keys().collect())
                        .unwrap_or_default();
                    for key in keys {
                        self.expire(ck, key);
                    }
                    self.remove_conference(ck);
                }
            }
            Command::WsOpen {
                conference,
                endpoint,
                link,
            } => {
                let Some((ck, key)) = self.find(&conference, &endpoint) else {
                    return;
                };
                let (Some(ep), Some(conf)) =
                    (self.endpoints.get_mut(key), self.conferences.get_mut(ck))
                else {
                    return;
                };
                ep.ws = Some(link);
                if let Err(e) = conf.core.on_channel_open(ep.core_idx) {
                    tracing::debug!(error = %e, "channel open refused");
                }
                self.touched.push(ck);
            }
            Command::WsMessage {
                conference,
                endpoint,
                text,
            } => {
                let Some((ck, key)) = self.find(&conference, &endpoint) else {
                    return;
                };
                let (Some(ep), Some(conf)) =
                    (self.endpoints.get(key), self.conferences.get_mut(ck))
                else {
                    return;
                };
                // Messages from a connection since replaced by a newer one
                // are still the endpoint's own, so they count too.
                if let Err(e) = conf.core.on_channel_message(ep.core_idx, &text, ts) {
                    tracing::debug!(endpoint = %ep.id, error = %e, "bridge-channel message refused");
                }
                self.touched.push(ck);
            }
            Command::WsClosed {
                conference,
                endpoint,
                conn,
            } => {
                let Some((_, key)) = self.find(&conference, &endpoint) else {
                    return;
                };
                if let Some(ep) = self.endpoints.get_mut(key)
                    && ep.ws.as_ref().is_some_and(|l| l.conn == conn)
                {
                    ep.ws = None;
                }
            }
            Command::Shutdown => {}
        }
    }

    fn allocate(&mut self, conference: String, endpoint_id: String, creds: IceCreds, now: Instant) {
        let ck = match self.conference_ids.get(&conference) {
            Some(ck) => *ck,
            None => {
                let conf = Conference {
                    id: conference.clone(),
                    core: ConferenceCore::new(self.setup.core.clone()),
                    members: Vec::new(),
                    by_id: HashMap::new(),
                    deadline: Deadline::default(),
                };
                let Some(ck) = self.conferences.insert(conf) else {
                    return;
                };
                self.conference_ids.insert(conference.clone(), ck);
                ck
            }
        };
        let Some(conf) = self.conferences.get_mut(ck) else {
            return;
        };
        if conf.by_id.contains_key(&endpoint_id) {
            tracing::warn!(%conference, endpoint = %endpoint_id, "endpoint allocated twice");
            return;
        }
        let idx = match conf.core.add_endpoint(&endpoint_id) {
            Ok(idx) => idx,
            Err(e) => {
                tracing::warn!(%conference, endpoint = %endpoint_id, error = %e, "endpoint refused");
                return;
            }
        };
        let ufrag = creds.ufrag.clone();
        let rtc = self.setup.template.build(creds, now);
        let mut ep = Endpoint::new(endpoint_id.clone(), ck, idx, rtc, ufrag.clone());
        for other in conf.keys() {
            if let Some(o) = self.endpoints.get(other) {
                guard(&mut ep, |ep| ep.update_outgoing(&[], &o.sources));
            }
        }
        let Some(key) = self.endpoints.insert(ep) else {
            return;
        };
        if conf.members.len() <= idx.slot() {
            conf.members.resize(idx.slot() + 1, None);
        }
        if let Some(m) = conf.members.get_mut(idx.slot()) {
            *m = Some((idx, key));
        }
        conf.by_id.insert(endpoint_id, key);
        self.by_ufrag.insert(ufrag, key);
        if let Some(ep) = self.endpoints.get_mut(key) {
            drive(key, ep, &mut self.io);
        }
        self.touched.push(ck);
    }

    fn set_sources(&mut self, conference: &str, endpoint_id: &str, sources: Vec<EndpointSource>) {
        // SSRC 0 is what str0m (and libwebrtc) use for probing; a source
        // claiming it would be mixed up with that. Kinds other than audio
        // and video carry no RTP.
        let (sources, refused): (Vec<_>, Vec<_>) = sources
            .into_iter()
            .partition(|s| !s.ssrcs.contains(&0) && matches!(s.kind.as_str(), "audio" | "video"));
        if !refused.is_empty() {
            tracing::warn!(%conference, endpoint = %endpoint_id, count = refused.len(), "sources ignored");
        }
        let Some((ck, key)) = self.find(conference, endpoint_id) else {
            return;
        };
        let (Some(conf), Some(ep)) = (self.conferences.get_mut(ck), self.endpoints.get_mut(key))
        else {
            return;
        };
        let descs: Vec<_> = sources.iter().map(endpoint::to_core).collect();
        if let Err(e) = conf.core.set_sources(ep.core_idx, &descs) {
            tracing::warn!(%conference, endpoint = %endpoint_id, error = %e, "sources refused");
            return;
        }
        let old = std::mem::replace(&mut ep.sources, sources);
        let new = ep.sources.clone();
        guard(ep, |ep| ep.update_incoming(&old, &new));
        drive(key, ep, &mut self.io);
        for other in conf.keys().filter(|k| *k != key) {
            if let Some(o) = self.endpoints.get_mut(other) {
                guard(o, |o| o.update_outgoing(&old, &new));
                drive(other, o, &mut self.io);
            }
        }
        self.touched.push(ck);
    }

    fn expire(&mut self, ck: Key, key: Key) {
        let Some(mut ep) = self.endpoints.remove(key) else {
            return;
        };
        tracing::debug!(endpoint = %ep.id, "endpoint expired");
        if self.by_ufrag.get(&ep.ufrag) == Some(&key) {
            self.by_ufrag.remove(&ep.ufrag);
        }
        for addr in &ep.addrs {
            if self.by_addr.get(addr) == Some(&key) {
                self.by_addr.remove(addr);
                let _ = self.setup.routes.send(RouteUpdate::ForgetAddr {
                    addr: *addr,
                    shard: self.setup.shard,
                });
            }
        }
        // Say goodbye (DTLS close_notify) if the peer is still there.
        if guard(&mut ep, |ep| ep.rtc.close().is_ok()) == Some(true) {
            drive(key, &mut ep, &mut self.io);
            self.io.pending.retain(|(k, _)| *k != key);
        }
        let Some(conf) = self.conferences.get_mut(ck) else {
            return;
        };
        conf.by_id.remove(&ep.id);
        if let Some(m) = conf.members.get_mut(ep.core_idx.slot()) {
            *m = None;
        }
        if let Err(e) = conf.core.remove_endpoint(ep.core_idx) {
            tracing::debug!(error = %e, "core did not know the endpoint");
        }
        for other in conf.keys() {
            if let Some(o) = self.endpoints.get_mut(other) {
                guard(o, |o| o.update_outgoing(&ep.sources, &[]));
                drive(other, o, &mut self.io);
            }
        }
        if conf.by_id.is_empty() {
            self.remove_conference(ck);
        } else {
            self.touched.push(ck);
        }
    }

    fn remove_conference(&mut self, ck: Key) {
        if let Some(conf) = self.conferences.remove(ck) {
            self.conference_ids.remove(&conf.id);
            tracing::debug!(conference = %conf.id, "conference removed");
        }
    }

    fn shutdown(&mut self) {
        let keys: Vec<Key> = self.endpoints.keys().collect();
        for key in keys {
            if let Some(ck) = self.endpoints.get(key).map(|e| e.conference) {
                self.expire(ck, key);
            }
        }
        tracing::debug!("media loop stopped");
    }
}

/// Sends one bridge-channel message on the endpoint's WebSocket, else its
/// SCTP data channel. False if neither is open (or the socket's outbox is
/// full: a client that does not read loses messages, not the bridge memory).
fn send_message(key: Key, ep: &mut Endpoint, text: &Arc<str>, io: &mut Io) -> bool {
    if let Some(link) = &ep.ws {
        return link.tx.try_send(Arc::clone(text)).is_ok();
    }
    if let Some(id) = ep.sctp {
        let sent = guard(ep, |ep| {
            ep.rtc
                .channel(id)
                .is_some_and(|mut ch| ch.write(false, text.as_bytes()).unwrap_or(false))
        }) == Some(true);
        drive(key, ep, io);
        return sent;
    }
    false
}
