//! Synthetic endpoints for load tests and benchmarks (feature `testing`).
//!
//! A synthetic endpoint is a str0m peer on its own UDP socket that joins a
//! conference the way a browser does (full ICE agent, controlled; DTLS
//! client; SRTP), sends audio- and video-like RTP at a set rate with a send
//! timestamp in every payload, and measures what it receives: counts and
//! one-way latency. It knows nothing about our bridge: everything it needs
//! from the SFU goes through [`Signalling`], so the same endpoints can drive
//! another SFU once that SFU has an implementation of the trait.
//!
//! - [`signalling`]: the trait and [`InProcess`], which drives a
//!   [`MediaHandle`](crate::engine::MediaHandle) directly (no XMPP); a
//!   Colibri2-over-XMPP implementation fits the same trait.
//! - [`endpoint`]: the sans-IO endpoint (datagrams and time in, datagrams
//!   and counts out).
//! - [`runner`]: one tokio task per endpoint moving datagrams between its
//!   socket and the endpoint.
//! - [`measure`]: per-thread CPU time and RSS from /proc, latency
//!   percentiles.

pub mod endpoint;
pub mod measure;
pub mod runner;
pub mod signalling;

pub use endpoint::{EndpointReport, MediaPlan, SyntheticEndpoint};
pub use signalling::{BridgeOffer, ClientAnswer, InProcess, Signalling, SignallingError, Source};
