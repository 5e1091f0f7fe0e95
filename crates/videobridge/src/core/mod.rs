//! The videobridge's sans-IO decision core.
//!
//! Who receives which packet, at which simulcast layer; who is the dominant
//! speaker; whose video each receiver gets under lastN and its bandwidth.
//! Plain code driven by inputs and a caller-given clock, in the manner of
//! str0m's `Rtc`: the edge owns sockets, tasks and time, feeds the core, and
//! carries out what it answers. One [`ConferenceCore`] per conference, owned
//! by one task, so nothing here locks.
//!
//! ```text
//!  edge (str0m, UDP, colibri-ws)               ConferenceCore
//!  ─────────────────────────────               ──────────────
//!  add_endpoint / set_sources   ─────────────▶ model: endpoints, SSRCs, layers
//!  RTP packet metadata          ── on_rtp ───▶ forwarding: per-receiver rewrite
//!      ◀── Vec<Forward> (caller's buffer) ───  speaker: audio levels (counted)
//!  bridge-channel text    ── on_channel_message ▶ channel: typed messages
//!  bandwidth estimates    ── on_bandwidth_estimate ▶ (receiver state)
//!  every batch / timeout  ── poll_events ────▶ speaker → lastn → layers
//!      ◀── CoreEvent: KeyframeRequest, SendMessage(JSON), DominantSpeakerChanged
//! ```
//!
//! Modules: [`clock`] (time as an input), [`model`] (endpoints and their
//! validated sources), [`forwarding`] (packets in and out, SSRC/sequence
//! rewriting across layer switches), [`bitrate`] (per-layer rates measured
//! from traffic), [`layers`] (constraints and layer allocation), [`lastn`]
//! (ranking and the forwarded set), [`speaker`] (dominant speaker),
//! [`channel`] (bridge-channel JSON), [`conference`] (the facade).
//!
//! The per-packet path ([`ConferenceCore::on_rtp`]) does one hash lookup,
//! a few adds and a loop over receivers writing into a buffer the caller
//! reuses: no allocation and no lock per packet. Everything else runs in
//! [`ConferenceCore::poll_events`].
//!
//! ```
//! use videobridge::core::{ConferenceCore, CoreConfig, IncomingPacket, SourceDescription, Timestamp};
//!
//! let mut conf = ConferenceCore::new(CoreConfig::default());
//! let alice = conf.add_endpoint("alice").unwrap();
//! let bob = conf.add_endpoint("bob").unwrap();
//! conf.set_sources(alice, &[SourceDescription::audio(Some("alice-a0"), 1111)]).unwrap();
//!
//! let mut out = Vec::new();
//! let packet = IncomingPacket {
//!     from: alice, ssrc: 1111, seq: 1, timestamp: 960, is_keyframe: false,
//!     is_rtx: false, rtx_osn: 0, audio_level: Some(30), payload_len: 80,
//! };
//! conf.on_rtp(&packet, Timestamp::from_millis(20), &mut out).unwrap();
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].to, bob);
//!
//! for event in conf.poll_events(Timestamp::from_millis(20)) {
//!     // send keyframe requests and bridge-channel messages
//!     let _ = event;
//! }
//! ```

// Input reaches every line here: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
// Tests state their expectations with unwrap.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bitrate;
pub mod channel;
pub mod clock;
pub mod conference;
pub mod forwarding;
pub mod lastn;
pub mod layers;
pub mod model;
pub mod speaker;

#[cfg(test)]
mod tests;

pub use channel::{BridgeMessage, ChannelError, ClientMessage};
pub use clock::Timestamp;
pub use conference::{ConferenceCore, CoreConfig, CoreError, CoreEvent, CoreStats};
pub use forwarding::{DropReason, Forward, IncomingPacket, LayerSelection};
pub use model::{EndpointId, EndpointIdx, MediaKind, ModelError, SourceDescription, VideoType};
pub use speaker::SpeakerConfig;
