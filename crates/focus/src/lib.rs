//! meet-rs focus: jicofo's role. This first slice connects as the
//! `focus.DOMAIN` component (answering conference requests), logs in as
//! `focus@auth.DOMAIN` to watch the bridges of the brewery, and serves
//! jicofo's health, version, stats and metrics routes.

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
