//! meet-rs `videobridge`: jitsi-videobridge's role, a selective forwarding unit.
//!
//! - [`core`]: the sans-IO decision core. It is driven by events (packet
//!   metadata, bridge-channel messages, bandwidth estimates) and a caller-given
//!   clock, and answers with forwarding decisions and events (keyframe
//!   requests, bridge-channel messages, dominant-speaker changes). It owns no
//!   sockets, no tasks and no clock, so it is unit-tested without any of them.
//!
//! The IO edges (str0m peers, UDP, colibri-ws, Colibri2, the brewery) live in
//! sibling modules that feed the core and carry out what it decides.

pub mod colibri;
pub mod config;
pub mod core;
pub mod engine;
pub mod fake_media;
pub mod http;
pub mod media;
pub mod stats;
#[cfg(feature = "testing")]
pub mod testing;
pub mod xmpp;
