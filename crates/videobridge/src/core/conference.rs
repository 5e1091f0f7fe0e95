//! [`ConferenceCore`]: one conference's decisions, behind one `&mut` owner.
//!
//! Inputs: endpoints joining and leaving, their signalled sources, packet
//! metadata, bridge-channel text, bandwidth estimates, receivers' keyframe
//! requests, and the time. Outputs: per packet, the copies to send (into a
//! caller-owned buffer); otherwise [`CoreEvent`]s drained by
//! [`ConferenceCore::poll_events`], which also runs the timed work (speaker
//! evaluation, allocation, keyframe-request retries).
//!
//! Work is split by cost: [`ConferenceCore::on_rtp`] does one hash lookup and
//! a loop over receivers, and only sets flags; everything that allocates
//! (ranking, layer allocation, JSON) happens in `poll_events`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::bitrate::BitrateMeter;
use super::channel::{
    self, BridgeMessage, ChannelError, ClientMessage, SenderVideoConstraints, WireVideoType,
};
use super::clock::Timestamp;
use super::forwarding::{DropReason, Forward, IncomingPacket, LayerSelection, Projection};
use super::lastn::{self, Candidate, ForwardedEndpoints};
use super::layers::{self, LayerInfo, ReceiverConstraints, SourceRequest};
use super::model::{
    self, AudioSource, EndpointId, EndpointIdx, Layer, MAX_LAYERS, ModelError, SourceDescription,
    SsrcEntry, SsrcKind, VideoSource, VideoType,
};
use super::speaker::{SpeakerChange, SpeakerConfig, SpeakerDetector};

/// Ideal height asked of a sender when a receiver sets no height limit.
const UNLIMITED_IDEAL_HEIGHT: u16 = 2160;
/// How many earlier speakers a `DominantSpeakerEndpointChangeEvent` lists.
const MAX_PREVIOUS_SPEAKERS: usize = 10;
/// A layer without packets for this long counts as stopped: the sender
/// dropped it (SenderVideoConstraints, its own bandwidth), and receivers on it
/// must move to another layer rather than wait for the bitrate window to empty.
const LAYER_STALL_TIMEOUT: Duration = Duration::from_millis(500);
/// A bandwidth estimate moving by less than 1/20 (5%) does not re-run the
/// allocation; estimates jitter and every run may switch layers.
const BANDWIDTH_CHANGE_DIVISOR: u64 = 20;

/// Tuning of a conference core. The defaults suit Jitsi Meet clients.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    /// Max height for receivers that sent no constraints yet (thumbnails).
    pub default_max_height: u16,
    /// On-stage sources get up to this height before thumbnails get any.
    pub on_stage_preferred_height: u16,
    /// The bridge's own lastN cap (None: only receivers' lastN applies).
    pub last_n_limit: Option<u32>,
    /// Bandwidth assumed before a receiver's first estimate (None: unlimited).
    pub initial_bandwidth_bps: Option<u64>,
    /// Least time between keyframe requests for one layer.
    pub keyframe_request_interval: Duration,
    /// How often every allocation is re-run to follow measured bitrates.
    pub allocation_refresh: Duration,
    /// Most endpoints in one conference.
    pub max_endpoints: usize,
    /// Version string in `ServerHello`.
    pub server_version: Option<String>,
    /// Dominant-speaker tuning; its `tick` is also the poll interval.
    pub speaker: SpeakerConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            default_max_height: 180,
            on_stage_preferred_height: 360,
            last_n_limit: None,
            initial_bandwidth_bps: None,
            keyframe_request_interval: Duration::from_millis(300),
            allocation_refresh: Duration::from_secs(1),
            max_endpoints: 500,
            server_version: None,
            speaker: SpeakerConfig::default(),
        }
    }
}

/// Something for the edge to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// Send a PLI (or FIR) to `endpoint` for `ssrc`: a layer switch waits
    /// for its keyframe, or a receiver asked for one.
    KeyframeRequest {
        /// The sender.
        endpoint: EndpointIdx,
        /// The layer's SSRC as the sender knows it.
        ssrc: u32,
    },
    /// Send this text on `to`'s bridge channel. Shared, as broadcasts send
    /// the same text to everyone.
    SendMessage {
        /// The receiver.
        to: EndpointIdx,
        /// One JSON message.
        text: Arc<str>,
    },
    /// The dominant speaker changed (for speaker statistics and logs; the
    /// clients are told through `SendMessage`).
    DominantSpeakerChanged {
        /// The new dominant speaker.
        endpoint: EndpointId,
        /// The previous one, if still present.
        previous: Option<EndpointId>,
    },
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// RTP packets given to `on_rtp`.
    pub packets_received: u64,
    /// Copies produced by `on_rtp`.
    pub packets_forwarded: u64,
    /// Packets from an endpoint not in the conference.
    pub dropped_unknown_endpoint: u64,
    /// Packets whose SSRC the sender did not signal.
    pub dropped_unknown_ssrc: u64,
    /// Packets whose RTX flag disagreed with the FID groups.
    pub dropped_rtx_mismatch: u64,
    /// `KeyframeRequest` events emitted.
    pub keyframe_requests: u64,
    /// Bridge-channel messages refused as malformed or too large.
    pub channel_errors: u64,
    /// Endpoint messages and stats relayed.
    pub messages_relayed: u64,
    /// Endpoint messages for an endpoint not in the conference.
    pub messages_undeliverable: u64,
}

/// Why a request to the core was refused.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The endpoint index is stale or was never issued.
    #[error("unknown endpoint")]
    UnknownEndpoint,
    /// `add_endpoint` with an id already present.
    #[error("endpoint {0} is already in the conference")]
    DuplicateEndpoint(String),
    /// `add_endpoint` beyond `max_endpoints`.
    #[error("the conference is full")]
    ConferenceFull,
    /// Invalid id or sources.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A malformed bridge-channel message.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// What one endpoint, as a receiver, asked for and was given.
#[derive(Debug)]
struct ReceiverState {
    constraints: ReceiverConstraints,
    bandwidth_bps: Option<u64>,
    /// The estimate the last allocation used, to tell significant changes.
    allocated_with_bps: Option<u64>,
    dirty: bool,
    forwarded: ForwardedEndpoints,
    /// (sender, height) this receiver would take from each source within its
    /// lastN, bandwidth aside: the input of `SenderVideoConstraints`.
    wants: Vec<(EndpointIdx, u16)>,
}

#[derive(Debug)]
struct Endpoint {
    idx: EndpointIdx,
    id: EndpointId,
    audio: Vec<AudioSource>,
    video: Vec<VideoSource>,
    /// From `VideoTypeMessage`; given to sources signalled later.
    video_type: VideoType,
    audio_rate: BitrateMeter,
    receiver: ReceiverState,
    sent_ideal_height: Option<u16>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    endpoint: Option<Endpoint>,
}

fn endpoint(slots: &[Slot], idx: EndpointIdx) -> Option<&Endpoint> {
    slots
        .get(idx.slot())
        .filter(|s| s.generation == idx.generation())
        .and_then(|s| s.endpoint.as_ref())
}

fn endpoint_mut(slots: &mut [Slot], idx: EndpointIdx) -> Option<&mut Endpoint> {
    slots
        .get_mut(idx.slot())
        .filter(|s| s.generation == idx.generation())
        .and_then(|s| s.endpoint.as_mut())
}

fn projection_mut(
    slots: &mut [Slot],
    sender: EndpointIdx,
    source: u16,
    receiver: EndpointIdx,
) -> Option<&mut Projection> {
    endpoint_mut(slots, sender)?
        .video
        .get_mut(usize::from(source))?
        .projections
        .get_mut(receiver.slot())?
        .as_mut()
        .filter(|p| p.receiver == receiver)
}

/// Serializes once and queues the text for each receiver.
fn queue_message(
    events: &mut VecDeque<CoreEvent>,
    to: impl IntoIterator<Item = EndpointIdx>,
    msg: &BridgeMessage,
) {
    match msg.to_json() {
        Ok(text) => {
            let text: Arc<str> = Arc::from(text);
            for to in to {
                events.push_back(CoreEvent::SendMessage {
                    to,
                    text: Arc::clone(&text),
                });
            }
        }
        // Our own types always serialize; should that ever break, the
        // message is lost, not the conference.
        Err(e) => tracing::error!(error = %e, "cannot serialize a bridge-channel message"),
    }
}

/// Projections for a new source: one per receiver other than its owner.
fn fresh_projections(
    active: &[EndpointIdx],
    owner: EndpointIdx,
    slots: usize,
) -> Vec<Option<Projection>> {
    let mut p: Vec<Option<Projection>> = vec![None; slots];
    for &r in active.iter().filter(|&&r| r != owner) {
        if let Some(entry) = p.get_mut(r.slot()) {
            *entry = Some(Projection::new(r));
        }
    }
    p
}

fn video_type_from_wire(t: WireVideoType) -> VideoType {
    match t {
        WireVideoType::Camera | WireVideoType::Other => VideoType::Camera,
        WireVideoType::Desktop | WireVideoType::DesktopHighFps => VideoType::Desktop,
        WireVideoType::None => VideoType::None,
    }
}

/// One conference's forwarding, layer, lastN and dominant-speaker decisions.
#[derive(Debug)]
pub struct ConferenceCore {
    config: CoreConfig,
    slots: Vec<Slot>,
    /// Endpoints present, in join order.
    active: Vec<EndpointIdx>,
    /// Every signalled SSRC of the conference.
    ssrcs: HashMap<u32, SsrcEntry>,
    speakers: SpeakerDetector,
    events: VecDeque<CoreEvent>,
    stats: CoreStats,
    next_tick: Option<Timestamp>,
    next_refresh: Option<Timestamp>,
    /// A layer started arriving: allocations should include it soon.
    layers_started: bool,
}

impl ConferenceCore {
    /// An empty conference.
    pub fn new(config: CoreConfig) -> Self {
        let speakers = SpeakerDetector::new(config.speaker.clone());
        ConferenceCore {
            config,
            slots: Vec::new(),
            active: Vec::new(),
            ssrcs: HashMap::new(),
            speakers,
            events: VecDeque::new(),
            stats: CoreStats::default(),
            next_tick: None,
            next_refresh: None,
            layers_started: false,
        }
    }

    /// Adds an endpoint (a participant) by its id.
    pub fn add_endpoint(&mut self, id: &str) -> Result<EndpointIdx, CoreError> {
        let id = EndpointId::new(id)?;
        if self.endpoint_index(id.as_str()).is_some() {
            return Err(CoreError::DuplicateEndpoint(id.to_string()));
        }
        if self.active.len() >= self.config.max_endpoints {
            return Err(CoreError::ConferenceFull);
        }
        let slot = match self.slots.iter().position(|s| s.endpoint.is_none()) {
            Some(free) => free,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let generation = self.slots.get(slot).map_or(0, |s| s.generation);
        let idx = EndpointIdx::new(
            u32::try_from(slot).map_err(|_| CoreError::ConferenceFull)?,
            generation,
        );

        // Give the newcomer a view of every existing video source.
        let slot_count = self.slots.len();
        for other in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            for src in &mut other.video {
                src.projections.resize_with(slot_count, || None);
                if let Some(p) = src.projections.get_mut(slot) {
                    *p = Some(Projection::new(idx));
                }
            }
        }
        let endpoint = Endpoint {
            idx,
            id,
            audio: Vec::new(),
            video: Vec::new(),
            video_type: VideoType::Camera,
            audio_rate: BitrateMeter::new(),
            receiver: ReceiverState {
                constraints: ReceiverConstraints::new(self.config.default_max_height),
                bandwidth_bps: None,
                allocated_with_bps: None,
                dirty: true,
                forwarded: ForwardedEndpoints::default(),
                wants: Vec::new(),
            },
            sent_ideal_height: None,
        };
        if let Some(s) = self.slots.get_mut(slot) {
            s.endpoint = Some(endpoint);
        }
        self.active.push(idx);
        self.speakers.add(idx);
        self.mark_all_dirty();
        tracing::debug!(endpoint = %idx, "endpoint added");
        Ok(idx)
    }

    /// Removes an endpoint and everything it sent or received.
    pub fn remove_endpoint(&mut self, idx: EndpointIdx) -> Result<(), CoreError> {
        let slot = self
            .slots
            .get_mut(idx.slot())
            .filter(|s| s.generation == idx.generation() && s.endpoint.is_some())
            .ok_or(CoreError::UnknownEndpoint)?;
        slot.endpoint = None;
        // A stale index must never reach whoever reuses the slot.
        slot.generation = slot.generation.wrapping_add(1);
        self.ssrcs.retain(|_, e| e.endpoint != idx);
        self.active.retain(|&e| e != idx);
        self.speakers.remove(idx);
        for other in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            for src in &mut other.video {
                if let Some(p) = src.projections.get_mut(idx.slot()) {
                    *p = None;
                }
            }
        }
        self.mark_all_dirty();
        Ok(())
    }

    /// Replaces an endpoint's sources with a complete new set (Colibri2
    /// semantics). Sources whose primary SSRC is unchanged keep their
    /// forwarding state, so re-signalling does not disturb receivers.
    pub fn set_sources(
        &mut self,
        idx: EndpointIdx,
        sources: &[SourceDescription],
    ) -> Result<(), CoreError> {
        if endpoint(&self.slots, idx).is_none() {
            return Err(CoreError::UnknownEndpoint);
        }
        let mut new = model::validate_sources(sources)?;
        let kinds: Vec<(u32, SsrcKind)> = new.ssrc_kinds().collect();
        for &(ssrc, _) in &kinds {
            if self.ssrcs.get(&ssrc).is_some_and(|e| e.endpoint != idx) {
                return Err(ModelError::SsrcInUse(ssrc).into());
            }
        }
        let slot_count = self.slots.len();
        let active = &self.active;
        let ep = endpoint_mut(&mut self.slots, idx).ok_or(CoreError::UnknownEndpoint)?;
        let mut old = std::mem::take(&mut ep.video);
        for src in &mut new.video {
            src.video_type = ep.video_type;
            match old.iter_mut().find(|o| o.primary_ssrc == src.primary_ssrc) {
                Some(prev) => {
                    src.video_type = prev.video_type;
                    src.projections = std::mem::take(&mut prev.projections);
                    if src.layer_ssrcs_equal(prev) {
                        for (l, p) in src.layers.iter_mut().zip(&prev.layers) {
                            l.rate = p.rate.clone();
                            l.active = p.active;
                            l.last_packet = p.last_packet;
                        }
                    } else {
                        for p in src.projections.iter_mut().flatten() {
                            p.reset_layers();
                        }
                    }
                }
                None => src.projections = fresh_projections(active, idx, slot_count),
            }
        }
        ep.audio = new.audio;
        ep.video = new.video;
        self.ssrcs.retain(|_, e| e.endpoint != idx);
        for (ssrc, kind) in kinds {
            self.ssrcs.insert(
                ssrc,
                SsrcEntry {
                    endpoint: idx,
                    kind,
                },
            );
        }
        self.mark_all_dirty();
        Ok(())
    }

    /// The endpoint's bridge channel opened: greet it and tell it the
    /// current state, which it may have missed.
    pub fn on_channel_open(&mut self, idx: EndpointIdx) -> Result<(), CoreError> {
        let ep = endpoint(&self.slots, idx).ok_or(CoreError::UnknownEndpoint)?;
        let mut messages = vec![BridgeMessage::ServerHello {
            version: self.config.server_version.clone(),
        }];
        if let Some(msg) = self.dominant_speaker_message() {
            messages.push(msg);
        }
        if let Some(list) = ep.receiver.forwarded.current() {
            messages.push(BridgeMessage::LastNEndpointsChangeEvent {
                last_n_endpoints: list.iter().map(ToString::to_string).collect(),
            });
        }
        if let Some(h) = ep.sent_ideal_height {
            messages.push(sender_constraints(h));
        }
        for msg in &messages {
            queue_message(&mut self.events, [idx], msg);
        }
        Ok(())
    }

    /// Handles one bridge-channel text message from `from`.
    pub fn on_channel_message(
        &mut self,
        from: EndpointIdx,
        text: &str,
        _now: Timestamp,
    ) -> Result<(), CoreError> {
        let sender_id = endpoint(&self.slots, from)
            .ok_or(CoreError::UnknownEndpoint)?
            .id
            .clone();
        let msg =
            channel::parse_client_message(text).inspect_err(|_| self.stats.channel_errors += 1)?;
        match msg {
            ClientMessage::ClientHello {} => {
                let hello = BridgeMessage::ServerHello {
                    version: self.config.server_version.clone(),
                };
                queue_message(&mut self.events, [from], &hello);
            }
            ClientMessage::EndpointMessage(mut m) => {
                m.from = Some(sender_id.to_string());
                let to = m.to.clone().unwrap_or_default();
                let relay = BridgeMessage::EndpointMessage(m);
                if to.is_empty() {
                    let others: Vec<EndpointIdx> =
                        self.active.iter().copied().filter(|&e| e != from).collect();
                    queue_message(&mut self.events, others, &relay);
                    self.stats.messages_relayed += 1;
                } else if let Some(target) = self.endpoint_index(&to) {
                    queue_message(&mut self.events, [target], &relay);
                    self.stats.messages_relayed += 1;
                } else {
                    self.stats.messages_undeliverable += 1;
                }
            }
            ClientMessage::EndpointStats(mut s) => {
                s.from = Some(sender_id.to_string());
                let others: Vec<EndpointIdx> =
                    self.active.iter().copied().filter(|&e| e != from).collect();
                queue_message(&mut self.events, others, &BridgeMessage::EndpointStats(s));
                self.stats.messages_relayed += 1;
            }
            ClientMessage::LastNChangedEvent { last_n } => {
                self.update_constraints(from, |c| c.set_last_n(last_n));
            }
            ClientMessage::SelectedEndpointsChangedEvent { selected_endpoints } => {
                self.update_constraints(from, |c| c.set_selected_endpoints(selected_endpoints));
            }
            ClientMessage::ReceiverVideoConstraint { max_frame_height } => {
                self.update_constraints(from, |c| c.set_default_max_height(max_frame_height));
            }
            ClientMessage::ReceiverVideoConstraints(msg) => {
                self.update_constraints(from, |c| c.apply(&msg));
            }
            ClientMessage::VideoTypeMessage { video_type } => {
                if let Some(ep) = endpoint_mut(&mut self.slots, from) {
                    ep.video_type = video_type_from_wire(video_type);
                    for src in &mut ep.video {
                        src.video_type = ep.video_type;
                    }
                }
                self.mark_all_dirty();
            }
            ClientMessage::SourceVideoTypeMessage {
                source_name,
                video_type,
            } => {
                if let Some(src) = endpoint_mut(&mut self.slots, from).and_then(|ep| {
                    ep.video
                        .iter_mut()
                        .find(|s| s.name.as_deref() == Some(source_name.as_str()))
                }) {
                    src.video_type = video_type_from_wire(video_type);
                }
                self.mark_all_dirty();
            }
            ClientMessage::Unknown => {
                tracing::trace!(endpoint = %sender_id, "ignoring a bridge-channel message class");
            }
        }
        Ok(())
    }

    fn update_constraints(
        &mut self,
        receiver: EndpointIdx,
        f: impl FnOnce(&mut ReceiverConstraints),
    ) {
        if let Some(ep) = endpoint_mut(&mut self.slots, receiver) {
            f(&mut ep.receiver.constraints);
            ep.receiver.dirty = true;
        }
    }

    /// A bandwidth estimate for what can be sent to `receiver`.
    pub fn on_bandwidth_estimate(
        &mut self,
        receiver: EndpointIdx,
        bps: u64,
        _now: Timestamp,
    ) -> Result<(), CoreError> {
        let ep = endpoint_mut(&mut self.slots, receiver).ok_or(CoreError::UnknownEndpoint)?;
        let r = &mut ep.receiver;
        r.bandwidth_bps = Some(bps);
        let significant = match r.allocated_with_bps {
            None => true,
            Some(prev) => bps.abs_diff(prev).saturating_mul(BANDWIDTH_CHANGE_DIVISOR) > prev,
        };
        if significant {
            r.dirty = true;
        }
        Ok(())
    }

    /// A receiver asked for a keyframe (PLI/FIR) on `ssrc`, the primary SSRC
    /// it knows a sender's video by: ask the sender for a keyframe of the
    /// layer this receiver gets. Returns whether a request was emitted.
    pub fn on_keyframe_request(
        &mut self,
        receiver: EndpointIdx,
        ssrc: u32,
        now: Timestamp,
    ) -> bool {
        let Some(&SsrcEntry {
            endpoint: sender,
            kind: SsrcKind::Video { source, .. },
        }) = self.ssrcs.get(&ssrc)
        else {
            return false;
        };
        let interval = self.config.keyframe_request_interval;
        let Some(sel) =
            projection_mut(&mut self.slots, sender, source, receiver).map(|p| p.selection())
        else {
            return false;
        };
        let Some(layer) = sel.current.or(sel.target) else {
            return false;
        };
        let Some(l) = endpoint_mut(&mut self.slots, sender)
            .and_then(|ep| ep.video.get_mut(usize::from(source)))
            .and_then(|src| src.layers.get_mut(usize::from(layer)))
        else {
            return false;
        };
        request_keyframe(&mut self.events, &mut self.stats, sender, l, now, interval)
    }

    /// Decides where one incoming RTP packet goes. `out` is cleared and
    /// filled with the copies to send; its capacity is reused, so after
    /// warm-up this allocates nothing. Returns the number of copies.
    pub fn on_rtp(
        &mut self,
        packet: &IncomingPacket,
        now: Timestamp,
        out: &mut Vec<Forward>,
    ) -> Result<usize, DropReason> {
        out.clear();
        self.stats.packets_received += 1;
        let kind = match self.ssrcs.get(&packet.ssrc) {
            Some(e) if e.endpoint == packet.from => e.kind,
            _ => {
                return Err(if endpoint(&self.slots, packet.from).is_none() {
                    self.stats.dropped_unknown_endpoint += 1;
                    DropReason::UnknownEndpoint
                } else {
                    self.stats.dropped_unknown_ssrc += 1;
                    DropReason::UnknownSsrc
                });
            }
        };
        let Some(sender) = endpoint_mut(&mut self.slots, packet.from) else {
            self.stats.dropped_unknown_endpoint += 1;
            return Err(DropReason::UnknownEndpoint);
        };
        match kind {
            SsrcKind::Audio => {
                if packet.is_rtx {
                    self.stats.dropped_rtx_mismatch += 1;
                    return Err(DropReason::RtxMismatch);
                }
                sender.audio_rate.add(now, packet.payload_len);
                if let Some(level) = packet.audio_level {
                    self.speakers.on_audio_level(packet.from, level);
                }
                // Audio goes to everyone: lastN and bandwidth only shape video.
                for &to in self.active.iter().filter(|&&r| r != packet.from) {
                    out.push(Forward {
                        to,
                        ssrc: packet.ssrc,
                        seq: packet.seq,
                        timestamp: packet.timestamp,
                        rtx_osn: None,
                    });
                }
            }
            SsrcKind::Video { source, layer, rtx } => {
                if rtx != packet.is_rtx {
                    self.stats.dropped_rtx_mismatch += 1;
                    return Err(DropReason::RtxMismatch);
                }
                let Some(src) = sender.video.get_mut(usize::from(source)) else {
                    self.stats.dropped_unknown_ssrc += 1;
                    return Err(DropReason::UnknownSsrc);
                };
                if rtx {
                    // Receivers only know the primary's RTX partner.
                    if let Some(ssrc) = src.primary_rtx {
                        for p in src.projections.iter_mut().flatten() {
                            if let Some((seq, timestamp, osn)) =
                                p.on_rtx(layer, packet.seq, packet.rtx_osn, packet.timestamp)
                            {
                                out.push(Forward {
                                    to: p.receiver,
                                    ssrc,
                                    seq,
                                    timestamp,
                                    rtx_osn: Some(osn),
                                });
                            }
                        }
                    }
                } else {
                    if let Some(l) = src.layers.get_mut(usize::from(layer)) {
                        l.rate.add(now, packet.payload_len);
                        l.last_packet = Some(now);
                        if !l.active {
                            l.active = true;
                            self.layers_started = true;
                        }
                    }
                    let ssrc = src.primary_ssrc;
                    for p in src.projections.iter_mut().flatten() {
                        if let Some((seq, timestamp)) =
                            p.on_media(layer, packet.seq, packet.timestamp, packet.is_keyframe, now)
                        {
                            out.push(Forward {
                                to: p.receiver,
                                ssrc,
                                seq,
                                timestamp,
                                rtx_osn: None,
                            });
                        }
                    }
                }
            }
        }
        self.stats.packets_forwarded += out.len() as u64;
        Ok(out.len())
    }

    /// Runs the timed work due at `now` (speaker evaluation, allocations,
    /// keyframe-request retries) and drains the events. Call it after each
    /// batch of inputs and at [`poll_timeout`](Self::poll_timeout).
    pub fn poll_events(&mut self, now: Timestamp) -> impl Iterator<Item = CoreEvent> + '_ {
        self.run_timers(now);
        self.events.drain(..)
    }

    /// When `poll_events` next has timed work to do; None until the first
    /// `poll_events`, which the edge makes as soon as it starts.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match (self.next_tick, self.next_refresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn run_timers(&mut self, now: Timestamp) {
        let mut ticked = false;
        if self.next_tick.is_none_or(|t| now >= t) {
            ticked = true;
            self.next_tick = Some(now + self.config.speaker.tick);
            if let Some(change) = self.speakers.evaluate(now) {
                self.on_speaker_change(change);
            }
            if self.expire_stalled_layers(now) {
                self.mark_all_dirty();
            }
        }
        if self.next_refresh.is_none_or(|t| now >= t) {
            self.next_refresh = Some(now + self.config.allocation_refresh);
            self.mark_all_dirty();
        }
        if std::mem::take(&mut self.layers_started) {
            self.mark_all_dirty();
        }
        let allocated = self.run_allocations(now);
        if allocated || ticked {
            self.request_pending_keyframes(now);
        }
    }

    fn on_speaker_change(&mut self, change: SpeakerChange) {
        let Some(id) = endpoint(&self.slots, change.dominant).map(|e| e.id.clone()) else {
            return;
        };
        let previous = change
            .previous
            .and_then(|p| endpoint(&self.slots, p))
            .map(|e| e.id.clone());
        tracing::debug!(dominant = %id, ?previous, "dominant speaker changed");
        self.events.push_back(CoreEvent::DominantSpeakerChanged {
            endpoint: id,
            previous,
        });
        if let Some(msg) = self.dominant_speaker_message() {
            let everyone = self.active.clone();
            queue_message(&mut self.events, everyone, &msg);
        }
        self.mark_all_dirty();
    }

    fn dominant_speaker_message(&self) -> Option<BridgeMessage> {
        let dominant = endpoint(&self.slots, self.speakers.dominant()?)?;
        let previous_speakers = self
            .speakers
            .previous_speakers()
            .filter_map(|p| endpoint(&self.slots, p))
            .take(MAX_PREVIOUS_SPEAKERS)
            .map(|e| e.id.to_string())
            .collect();
        Some(BridgeMessage::DominantSpeakerEndpointChangeEvent {
            dominant_speaker_endpoint: dominant.id.to_string(),
            previous_speakers,
        })
    }

    fn mark_all_dirty(&mut self) {
        for ep in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            ep.receiver.dirty = true;
        }
    }

    /// Layers that stopped arriving drop out of the allocation; true if any did.
    fn expire_stalled_layers(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        for ep in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            for layer in ep.video.iter_mut().flat_map(|s| s.layers.iter_mut()) {
                let live = layer
                    .last_packet
                    .is_some_and(|t| now.saturating_since(t) < LAYER_STALL_TIMEOUT);
                if layer.active && !live {
                    layer.active = false;
                    changed = true;
                }
            }
        }
        changed
    }

    fn run_allocations(&mut self, now: Timestamp) -> bool {
        let dirty: Vec<EndpointIdx> = self
            .active
            .iter()
            .copied()
            .filter(|&r| endpoint(&self.slots, r).is_some_and(|e| e.receiver.dirty))
            .collect();
        if dirty.is_empty() {
            return false;
        }
        for r in dirty {
            self.allocate_for(r, now);
        }
        self.update_sender_constraints();
        true
    }

    /// Ranks, cuts to lastN and allocates layers for one receiver, then
    /// applies the result to the projections and tells the receiver if its
    /// forwarded set changed.
    fn allocate_for(&mut self, r: EndpointIdx, now: Timestamp) {
        let Some(receiver) = endpoint(&self.slots, r) else {
            return;
        };
        let mut candidates = Vec::new();
        for (speaker_rank, &e) in self.speakers.order().iter().enumerate() {
            let Some(sender) = endpoint(&self.slots, e).filter(|_| e != r) else {
                continue;
            };
            for (si, src) in sender.video.iter().enumerate() {
                candidates.push(Candidate {
                    endpoint: e,
                    source: u16::try_from(si).unwrap_or(u16::MAX),
                    endpoint_id: sender.id.as_str(),
                    source_name: src.name.as_deref(),
                    video_type: src.video_type,
                    speaker_rank,
                    max_height: None,
                    on_stage: false,
                });
            }
        }
        lastn::select(
            &mut candidates,
            &receiver.receiver.constraints,
            self.config.last_n_limit,
        );

        let requests: Vec<SourceRequest> = candidates
            .iter()
            .map(|c| self.source_request(c, now))
            .collect();
        // Audio is never traded for video: reserve what it measures.
        let audio_bps: u64 = self
            .active
            .iter()
            .filter(|&&e| e != r)
            .filter_map(|&e| endpoint(&self.slots, e))
            .map(|e| e.audio_rate.bitrate_bps(now))
            .sum();
        let bandwidth = receiver
            .receiver
            .bandwidth_bps
            .or(self.config.initial_bandwidth_bps);
        let budget = bandwidth.map(|b| b.saturating_sub(audio_bps));
        let choices = layers::allocate(&requests, budget, self.config.on_stage_preferred_height);

        let mut targets = Vec::with_capacity(candidates.len());
        let mut wants = Vec::with_capacity(candidates.len());
        let mut forwarded: Vec<EndpointId> = Vec::new();
        for (c, &choice) in candidates.iter().zip(&choices) {
            targets.push((c.endpoint, c.source, choice));
            wants.push((c.endpoint, c.max_height.unwrap_or(UNLIMITED_IDEAL_HEIGHT)));
            if choice.is_some()
                && let Some(sender) = endpoint(&self.slots, c.endpoint)
                && !forwarded.contains(&sender.id)
            {
                forwarded.push(sender.id.clone());
            }
        }

        // Three passes so a source that stays selected never passes "off".
        self.for_each_projection_of(r, |p| p.next_target = None);
        for (e, source, target) in targets {
            if let Some(p) = projection_mut(&mut self.slots, e, source, r) {
                p.next_target = target;
            }
        }
        self.for_each_projection_of(r, |p| p.set_target(p.next_target));

        let Some(ep) = endpoint_mut(&mut self.slots, r) else {
            return;
        };
        ep.receiver.wants = wants;
        ep.receiver.dirty = false;
        ep.receiver.allocated_with_bps = bandwidth;
        if ep.receiver.forwarded.update(&forwarded) {
            let msg = BridgeMessage::LastNEndpointsChangeEvent {
                last_n_endpoints: forwarded.iter().map(ToString::to_string).collect(),
            };
            queue_message(&mut self.events, [r], &msg);
        }
    }

    fn source_request(&self, c: &Candidate<'_>, now: Timestamp) -> SourceRequest {
        let mut req = SourceRequest {
            max_height: c.max_height,
            on_stage: c.on_stage,
            ..SourceRequest::default()
        };
        if let Some(src) =
            endpoint(&self.slots, c.endpoint).and_then(|e| e.video.get(usize::from(c.source)))
        {
            for (info, layer) in req.layers.iter_mut().zip(&src.layers) {
                let bitrate_bps = layer.rate.bitrate_bps(now);
                *info = LayerInfo {
                    height: layer.height,
                    bitrate_bps,
                    active: layer.active && bitrate_bps > 0,
                };
            }
            req.layer_count = src.layers.len().min(MAX_LAYERS);
        }
        req
    }

    fn for_each_projection_of(
        &mut self,
        receiver: EndpointIdx,
        mut f: impl FnMut(&mut Projection),
    ) {
        for ep in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            if ep.idx == receiver {
                continue;
            }
            for src in &mut ep.video {
                if let Some(Some(p)) = src.projections.get_mut(receiver.slot())
                    && p.receiver == receiver
                {
                    f(p);
                }
            }
        }
    }

    /// Tells each sender the largest height any receiver wants from it.
    fn update_sender_constraints(&mut self) {
        let mut ideal = vec![0u16; self.slots.len()];
        for r in self.slots.iter().filter_map(|s| s.endpoint.as_ref()) {
            for &(sender, height) in &r.receiver.wants {
                // Wants may name a sender that has left since.
                if endpoint(&self.slots, sender).is_some()
                    && let Some(max) = ideal.get_mut(sender.slot())
                {
                    *max = (*max).max(height);
                }
            }
        }
        for ep in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            let Some(&height) = ideal.get(ep.idx.slot()) else {
                continue;
            };
            if ep.video.is_empty() || ep.sent_ideal_height == Some(height) {
                continue;
            }
            ep.sent_ideal_height = Some(height);
            queue_message(&mut self.events, [ep.idx], &sender_constraints(height));
        }
    }

    /// Asks senders for keyframes where a layer switch is waiting for one.
    fn request_pending_keyframes(&mut self, now: Timestamp) {
        let interval = self.config.keyframe_request_interval;
        for ep in self.slots.iter_mut().filter_map(|s| s.endpoint.as_mut()) {
            for src in &mut ep.video {
                let mut wanted = [false; MAX_LAYERS];
                for p in src.projections.iter().flatten().filter(|p| p.is_pending()) {
                    if let Some(w) = p.target().and_then(|t| wanted.get_mut(usize::from(t))) {
                        *w = true;
                    }
                }
                for (layer, _) in src.layers.iter_mut().zip(wanted).filter(|(_, w)| *w) {
                    request_keyframe(
                        &mut self.events,
                        &mut self.stats,
                        ep.idx,
                        layer,
                        now,
                        interval,
                    );
                }
            }
        }
    }

    /// The index of the endpoint with this id.
    pub fn endpoint_index(&self, id: &str) -> Option<EndpointIdx> {
        self.active
            .iter()
            .copied()
            .find(|&e| endpoint(&self.slots, e).is_some_and(|ep| ep.id.as_str() == id))
    }

    /// The id of an endpoint.
    pub fn endpoint_id(&self, idx: EndpointIdx) -> Option<&EndpointId> {
        endpoint(&self.slots, idx).map(|e| &e.id)
    }

    /// Endpoints present, in join order.
    pub fn endpoints(&self) -> &[EndpointIdx] {
        &self.active
    }

    /// The dominant speaker, once someone has spoken.
    pub fn dominant_speaker(&self) -> Option<&EndpointId> {
        self.speakers.dominant().and_then(|d| self.endpoint_id(d))
    }

    /// The endpoints whose video `receiver` was last told it gets.
    pub fn forwarded_endpoints(&self, receiver: EndpointIdx) -> Option<&[EndpointId]> {
        endpoint(&self.slots, receiver).and_then(|e| e.receiver.forwarded.current())
    }

    /// Which layer of the video source known by `primary_ssrc` the receiver
    /// gets and should get.
    pub fn layer_selection(
        &self,
        receiver: EndpointIdx,
        primary_ssrc: u32,
    ) -> Option<LayerSelection> {
        let entry = self.ssrcs.get(&primary_ssrc)?;
        let SsrcKind::Video { source, .. } = entry.kind else {
            return None;
        };
        endpoint(&self.slots, entry.endpoint)?
            .video
            .get(usize::from(source))?
            .projections
            .get(receiver.slot())?
            .as_ref()
            .filter(|p| p.receiver == receiver)
            .map(Projection::selection)
    }

    /// Counters.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }
}

fn sender_constraints(height: u16) -> BridgeMessage {
    BridgeMessage::SenderVideoConstraints {
        video_constraints: SenderVideoConstraints {
            ideal_height: i32::from(height),
        },
    }
}

/// Emits a keyframe request for `layer` unless one went out recently.
fn request_keyframe(
    events: &mut VecDeque<CoreEvent>,
    stats: &mut CoreStats,
    sender: EndpointIdx,
    layer: &mut Layer,
    now: Timestamp,
    interval: Duration,
) -> bool {
    if layer
        .last_keyframe_request
        .is_some_and(|t| now.saturating_since(t) < interval)
    {
        return false;
    }
    layer.last_keyframe_request = Some(now);
    stats.keyframe_requests += 1;
    events.push_back(CoreEvent::KeyframeRequest {
        endpoint: sender,
        ssrc: layer.ssrc,
    });
    true
}
