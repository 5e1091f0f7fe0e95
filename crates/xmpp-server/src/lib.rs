//! meet-rs `xmpp-server`: Prosody's role in a Jitsi Meet deployment.
//!
//! Layout: `config` (the TOML that mirrors prosody.cfg.lua), `accounts` (the
//! SQLite account store), `sasl` (sans-IO SASL mechanisms), `tls` / `certs`
//! (rustls set-up and `cert generate`).

pub mod accounts;
pub mod certs;
pub mod config;
pub mod sasl;
pub mod tls;
pub mod xml;
