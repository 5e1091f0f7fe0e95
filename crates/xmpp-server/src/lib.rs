//! meet-rs `xmpp-server`: Prosody's role in a Jitsi Meet deployment.
//!
//! How the modules fit (see docs/architecture.md for more):
//! - Protocol cores, sans-IO: `xml` (bytes → stream events), `sasl`
//!   (mechanisms), `c2s` (the client session state machine), `muc` (rooms),
//!   `jitsi_components` (speakerstats, conference_duration), `services`
//!   (what a host answers: disco, ping, TURN credentials).
//! - Edges: `c2s_tcp` (TCP + STARTTLS), `http` (BOSH, WebSocket, metrics),
//!   `component` (XEP-0114), `muc_task` (the task that owns a MUC service).
//! - Shared state: `server` (router, accounts, TLS, counters) and `router`
//!   (address → connection inbox).
//! - Storage and set-up: `config` (the TOML that mirrors prosody.cfg.lua),
//!   `accounts` (SQLite), `tls` / `certs` (rustls and `cert generate`).
//! - Helpers: `stanza` (errors, results), `wire` (serialisation).

pub mod accounts;
pub mod c2s;
pub mod c2s_tcp;
pub mod certs;
pub mod component;
pub mod config;
pub mod http;
pub mod jitsi_components;
pub mod muc;
pub mod muc_task;
pub mod router;
pub mod sasl;
pub mod server;
pub mod services;
pub mod stanza;
pub mod tls;
pub mod wire;
pub mod xml;

#[cfg(test)]
mod robustness;
