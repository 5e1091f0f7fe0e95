//! meet-rs `xmpp-server`: Prosody's role in a Jitsi Meet deployment.
//!
//! Layout: `config` (the TOML that mirrors prosody.cfg.lua), `accounts` (the
//! SQLite account store), `sasl` (sans-IO SASL mechanisms), `tls` / `certs`
//! (rustls set-up and `cert generate`).

pub mod accounts;
pub mod c2s;
pub mod c2s_tcp;
pub mod certs;
pub mod component;
pub mod config;
pub mod http;
pub mod router;
pub mod sasl;
pub mod server;
pub mod services;
pub mod stanza;
pub mod tls;
pub mod wire;
pub mod xml;
