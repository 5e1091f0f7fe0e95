//! meet-web: the web server of a meet-rs deployment, in the place Apache
//! (with mod_ssl, mod_proxy and mod_rewrite) has in the guide.
//!
//! It serves the web app's files from `static_root`, generates
//! `/config.js` from its configuration, redirects plain HTTP to HTTPS, and
//! proxies `/http-bind` (BOSH) and `/xmpp-websocket` to xmpp-server and
//! `/colibri-ws/` to the videobridge.
//!
//! How the modules fit, from the socket inwards:
//!
//! - [`server`]: listeners, the connection limit, TLS handshakes
//!   ([`tls`]), hyper's HTTP/1.1 with upgrades, graceful stop.
//! - [`router`]: which handler answers a path; HSTS, metrics ([`metrics`])
//!   and the per-request log line for every answer.
//! - [`static_files`]: files with validators, Cache-Control and gzip
//!   ([`gzip`], [`content_type`]); the pure path rules (decoding, traversal,
//!   room URLs, hashed assets) are in [`paths`].
//! - [`config_js`]: `/config.js` and `/interface_config.js`, with the
//!   request's host checked by [`host`] first.
//! - [`proxy`] (plain requests) and [`websocket`] (upgrades): the reverse
//!   proxy.
//! - [`config`] reads `/etc/meet-rs/web.toml`.
//!
//! Everything that decides without IO (paths, hosts, config.js, caching
//! rules, header rewriting) is a plain function with unit tests; the
//! integration tests in `tests/tests/web_server.rs` run the binary.

pub mod body;
pub mod config;
pub mod config_js;
pub mod content_type;
pub mod gzip;
pub mod host;
pub mod metrics;
pub mod paths;
pub mod proxy;
pub mod router;
pub mod server;
pub mod static_files;
pub mod tls;
pub mod websocket;
