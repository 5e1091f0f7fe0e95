//! Which handler answers a request (the Apache site's Alias, ProxyPass,
//! RewriteRule and ErrorDocument lines, in that order of precedence), plus
//! what every answer gets: HSTS on HTTPS, a metric, a debug log line.
//!
//! | path | answer |
//! |---|---|
//! | `/http-bind`, `/http-bind/…` | proxied to xmpp-server (BOSH) |
//! | `/xmpp-websocket` | WebSocket proxied to xmpp-server; a plain GET (LJM's keep-alive) proxied too |
//! | `/colibri-ws/…` | WebSocket proxied to the videobridge |
//! | `/about/health` | 200 `OK` |
//! | `/metrics` | Prometheus text (loopback clients unless `metrics_allow_remote`) |
//! | `/config.js` | generated ([`crate::config_js`]) |
//! | `/interface_config.js` | the app's own file, else a minimal generated one |
//! | a file under static_root | the file ([`crate::static_files`]) |
//! | `/<room>` | index.html |
//! | `/external_api.js` | falls back to `libs/external_api.min.js` |
//! | anything else | 404 page |
//!
//! On the plain-HTTP listener (unless plain_http) everything is a 301 to
//! HTTPS, except `/about/health` and `/.well-known/acme-challenge/…`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::body::{self, Body};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::paths::{self, PathError};
use crate::proxy::{self, Forward, Upstreams};
use crate::static_files::{BUILTIN_404, CachePolicy, Conditions, StaticFiles};
use crate::{config_js, host, websocket};

/// Everything the handlers share, built once from a valid config.
pub struct App {
    pub cfg: Config,
    pub files: StaticFiles,
    pub upstreams: Upstreams,
    pub metrics: Arc<Metrics>,
    /// Becomes true on shutdown (WebSocket tunnels close on it).
    pub stop: watch::Receiver<bool>,
}

/// What kind of listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// TLS: the app, with HSTS.
    Https,
    /// Plain HTTP in front of HTTPS: redirects.
    Redirect,
    /// Plain HTTP serving the app (`plain_http = true`).
    Plain,
}

/// One client connection.
pub struct Conn {
    pub peer: SocketAddr,
    pub listener: Listener,
    /// The connection's slot under max_connections.
    pub slot: Slot,
}

/// A connection's slot under max_connections; a WebSocket takes it over
/// when the connection upgrades, so it counts for as long as it lives.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Slot {
    pub fn new(permit: OwnedSemaphorePermit) -> Self {
        Self(Arc::new(Mutex::new(Some(permit))))
    }
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The hyper service: route, then the common headers, metric and log.
pub async fn handle(
    req: Request<Incoming>,
    app: Arc<App>,
    conn: Arc<Conn>,
) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    let method = req.method().clone();
    let path: String = req.uri().path().chars().take(200).collect();
    let mut resp = route(req, &app, &conn).await;
    if conn.listener == Listener::Https
        && app.cfg.server.hsts_max_age > 0
        && let Ok(v) = HeaderValue::from_str(&format!("max-age={}", app.cfg.server.hsts_max_age))
    {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    let status = resp.status().as_u16();
    app.metrics.response(status);
    tracing::debug!(
        peer = %conn.peer,
        %method,
        path,
        status,
        ms = start.elapsed().as_millis() as u64,
        "request"
    );
    Ok(resp)
}

async fn route(req: Request<Incoming>, app: &App, conn: &Conn) -> Response<Body> {
    // Checked before anything else: the Host ends up in config.js and in
    // redirect locations.
    let host = match host::request_host(req.headers(), req.uri()) {
        Ok(h) => h,
        Err(_) => return body::text(StatusCode::BAD_REQUEST, "bad Host header\n"),
    };
    match conn.listener {
        Listener::Redirect => redirect(req, host.as_deref(), app).await,
        Listener::Https | Listener::Plain => app_route(req, host.as_deref(), app, conn).await,
    }
}

async fn redirect(req: Request<Incoming>, host: Option<&str>, app: &App) -> Response<Body> {
    let path = req.uri().path();
    if path == "/about/health" {
        return body::text(StatusCode::OK, "OK");
    }
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    if readable && path.starts_with("/.well-known/acme-challenge/") {
        return static_route(&req, app).await;
    }
    let target = host::https_location(
        host.unwrap_or(&app.cfg.hosts.domain),
        app.cfg.https_port(),
        req.uri().path_and_query().map_or("/", |p| p.as_str()),
    );
    let mut resp = body::text(StatusCode::MOVED_PERMANENTLY, "moved to HTTPS\n");
    match HeaderValue::from_str(&target) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => body::text(StatusCode::BAD_REQUEST, "bad request target\n"),
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

async fn app_route(
    req: Request<Incoming>,
    host: Option<&str>,
    app: &App,
    conn: &Conn,
) -> Response<Body> {
    let path = req.uri().path();
    if under(path, "/http-bind") {
        return proxy_to(req, app, conn, &app.upstreams.xmpp, "xmpp-server").await;
    }
    if under(path, "/xmpp-websocket") {
        return proxy_to(req, app, conn, &app.upstreams.xmpp, "xmpp-server").await;
    }
    if path.starts_with("/colibri-ws/") {
        return proxy_to(req, app, conn, &app.upstreams.videobridge, "videobridge").await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = body::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/about/health" => body::text(StatusCode::OK, "OK"),
        "/metrics" => {
            if conn.peer.ip().is_loopback() || app.cfg.server.metrics_allow_remote {
                body::with_type(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    app.metrics.render(),
                )
            } else {
                not_found(&req, app).await
            }
        }
        "/config.js" => {
            let secure = conn.listener == Listener::Https;
            let js = config_js::render(&app.cfg, host.unwrap_or(&app.cfg.hosts.domain), secure);
            generated_script(js)
        }
        "/interface_config.js" => match app.files.first_existing(&["interface_config.js"]).await {
            Some(_) => static_route(&req, app).await,
            None => generated_script(config_js::render_interface_config()),
        },
        _ => static_route(&req, app).await,
    }
}

fn generated_script(js: String) -> Response<Body> {
    let mut r = body::with_type(StatusCode::OK, "text/javascript; charset=utf-8", js);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn proxy_to(
    req: Request<Incoming>,
    app: &App,
    conn: &Conn,
    upstream: &crate::config::Upstream,
    name: &'static str,
) -> Response<Body> {
    let f = Forward {
        upstream,
        name,
        peer: conn.peer,
        proto: if conn.listener == Listener::Https {
            "https"
        } else {
            "http"
        },
        max_body: app.cfg.limits.max_body_bytes,
        body_timeout: Duration::from_secs(app.cfg.limits.idle_timeout_secs),
        metrics: &app.metrics,
    };
    if websocket::is_upgrade(req.headers()) {
        let tunnel = websocket::Tunnel {
            metrics: app.metrics.clone(),
            stop: app.stop.clone(),
            slot: conn.slot.clone(),
        };
        websocket::proxy(req, &f, tunnel).await
    } else {
        proxy::forward(req, &app.upstreams, &f).await
    }
}

/// Files, room URLs and the 404 page.
async fn static_route(req: &Request<Incoming>, app: &App) -> Response<Body> {
    let segments = match paths::segments(req.uri().path()) {
        Ok(s) => s,
        Err(PathError::Traversal) => {
            tracing::debug!(path = req.uri().path(), "path refused");
            return body::text(StatusCode::BAD_REQUEST, "bad path\n");
        }
        Err(PathError::Malformed) => return body::text(StatusCode::BAD_REQUEST, "bad path\n"),
    };
    let cond = Conditions {
        headers: req.headers(),
        head: req.method() == Method::HEAD,
    };
    let found = match app.files.find(&segments).await {
        Some(p) => Some((p, CachePolicy::for_segments(&segments))),
        None if segments.len() == 1 && paths::is_room_name(&segments[0]) => app
            .files
            .first_existing(&["index.html"])
            .await
            .map(|p| (p, CachePolicy::NoCache)),
        // apache: Alias "/external_api.js" ".../libs/external_api.min.js"
        None if segments == ["external_api.js"] => app
            .files
            .first_existing(&["libs/external_api.min.js"])
            .await
            .map(|p| (p, CachePolicy::Short)),
        None => None,
    };
    if let Some((path, policy)) = found
        && let Some(resp) = app.files.serve(&path, StatusCode::OK, policy, &cond).await
    {
        return resp;
    }
    not_found(req, app).await
}

/// apache: ErrorDocument 404 /static/404.html
async fn not_found(req: &Request<Incoming>, app: &App) -> Response<Body> {
    let cond = Conditions {
        headers: req.headers(),
        head: req.method() == Method::HEAD,
    };
    if let Some(page) = app
        .files
        .first_existing(&["404.html", "static/404.html"])
        .await
        && let Some(resp) = app
            .files
            .serve(&page, StatusCode::NOT_FOUND, CachePolicy::NoCache, &cond)
            .await
    {
        return resp;
    }
    body::with_type(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        BUILTIN_404,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(under("/http-bind", "/http-bind"));
        assert!(under("/http-bind/", "/http-bind"));
        assert!(!under("/http-binder", "/http-bind"));
        assert!(!under("/x/http-bind", "/http-bind"));
    }
}
