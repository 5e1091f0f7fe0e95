//! meet-rs focus: jicofo's role. It connects as the `focus.DOMAIN`
//! component, where clients send their conference requests, and logs in as
//! `focus@auth.DOMAIN`, which joins the brewery (bridges, their stats,
//! health checks) and every conference room (as owner, nick `focus`).
//!
//! The decisions are sans-IO: [`manager::Manager`] holds the conferences
//! and the secure-domain sessions, [`conference::Conference`] is one
//! conference's state machine (room, participants, bridge, Jingle), fed
//! stanzas and time and answering with stanzas. [`component`] and
//! [`client`] are the IO edges; [`http`] serves jicofo's health, version,
//! stats and metrics routes. docs/architecture.md walks through a
//! conference's life.

pub mod auth;
pub mod client;
pub mod codecs;
pub mod component;
pub mod conference;
pub mod config;
pub mod http;
pub mod jingle;
pub mod manager;
pub mod muc;
pub mod selection;
pub mod sources;
pub mod state;
pub mod xml;
