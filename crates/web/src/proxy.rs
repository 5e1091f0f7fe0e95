//! Reverse proxy for plain HTTP requests (Apache's `ProxyPass`): BOSH
//! `/http-bind`, the WebSocket keep-alive `GET /xmpp-websocket`, and
//! anything under `/colibri-ws/` that is not an upgrade. Request bodies are
//! read whole (within `limits.max_body_bytes`: BOSH bodies are small and
//! this gives a clean 413); response bodies are streamed back as they come,
//! which a held BOSH request needs.
//!
//! Headers pass both ways except the hop-by-hop ones, so CORS answers of
//! the upstream reach the browser unchanged; `Host` is kept
//! (`ProxyPreserveHost on`) and `X-Forwarded-For/Proto/Host` are set from
//! what this server saw — a client's own X-Forwarded-* headers are dropped,
//! since this is the edge and they would be forged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use meet_service::metrics::Metric;

use crate::body::{self, Body};
use crate::config::Upstream;
use crate::metrics::Metrics;

/// Connecting to an upstream on loopback takes microseconds; a slow connect
/// means it is overloaded or gone.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to the upstream's response head. BOSH holds a request up to its
/// `wait` (xmpp-server's bosh_max_wait, 60 s by default, Prosody allows
/// 120), so this is above that.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(150);

/// The two proxy targets and a pooled client for them.
pub struct Upstreams {
    pub xmpp: Upstream,
    pub videobridge: Upstream,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstreams {
    pub fn new(xmpp: Upstream, videobridge: Upstream) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        Self {
            xmpp,
            videobridge,
            client,
        }
    }
}

/// One proxied request: where it goes and what the client connection was.
pub struct Forward<'a> {
    pub upstream: &'a Upstream,
    /// For logs and error texts: "xmpp-server" or "videobridge".
    pub name: &'static str,
    pub peer: SocketAddr,
    /// "https" or "http": how the client reached us.
    pub proto: &'static str,
    pub max_body: usize,
    /// Time allowed for the client to send the body.
    pub body_timeout: Duration,
    pub metrics: &'a Metrics,
}

impl Forward<'_> {
    /// The request's URI towards the upstream (same path and query).
    pub fn uri(&self, original: &Uri) -> Result<Uri, hyper::http::Error> {
        let pq = original.path_and_query().map_or("/", |p| p.as_str());
        Uri::builder()
            .scheme("http")
            .authority(self.upstream.authority.as_str())
            .path_and_query(pq)
            .build()
    }

    /// The upstream failed: a short text for the browser, a warning for the
    /// operator.
    pub fn upstream_failed(
        &self,
        status: StatusCode,
        error: &dyn std::fmt::Display,
    ) -> Response<Body> {
        self.metrics.upstream_errors.inc();
        tracing::warn!(upstream = self.name, address = %self.upstream.authority, error = %error, "proxied request failed");
        let text = if status == StatusCode::GATEWAY_TIMEOUT {
            format!("{} timed out\n", self.name)
        } else {
            format!("{} unavailable\n", self.name)
        };
        body::with_type(status, body::TEXT, text)
    }
}

/// Forward a non-upgrade request and stream the answer back.
pub async fn forward(req: Request<Incoming>, up: &Upstreams, f: &Forward<'_>) -> Response<Body> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > f.max_body as u64) {
        return body::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let (parts, incoming) = req.into_parts();
    let collected =
        tokio::time::timeout(f.body_timeout, Limited::new(incoming, f.max_body).collect()).await;
    let bytes = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return body::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }
        Ok(Err(_)) => return body::text(StatusCode::BAD_REQUEST, "request body unreadable\n"),
        Err(_) => return body::text(StatusCode::REQUEST_TIMEOUT, "request body too slow\n"),
    };
    f.metrics.proxied_bytes_to_upstream.add(bytes.len() as i64);
    let uri = match f.uri(&parts.uri) {
        Ok(u) => u,
        Err(_) => return body::text(StatusCode::BAD_REQUEST, "bad request target\n"),
    };
    let mut out = Request::new(Full::new(bytes));
    *out.method_mut() = parts.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = upstream_headers(&parts.headers, f, false);
    match tokio::time::timeout(RESPONSE_TIMEOUT, up.client.request(out)).await {
        Ok(Ok(resp)) => relay(resp, f.metrics),
        Ok(Err(e)) => f.upstream_failed(StatusCode::BAD_GATEWAY, &error_chain(&e)),
        Err(_) => f.upstream_failed(StatusCode::GATEWAY_TIMEOUT, &"no response in time"),
    }
}

/// An upstream's response for the client: hop-by-hop headers removed, the
/// body streamed and counted.
pub fn relay(resp: Response<Incoming>, metrics: &Metrics) -> Response<Body> {
    let (mut parts, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let counter: Arc<Metric> = metrics.proxied_bytes_to_client.clone();
    let body = incoming
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                counter.add(data.len() as i64);
            }
            frame
        })
        .map_err(std::io::Error::other)
        .boxed_unsync();
    Response::from_parts(parts, body)
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwarding headers a client could forge; set here from what we saw.
const FORWARDING: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "forwarded",
];

/// Remove hop-by-hop headers, including those the Connection header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// The headers sent upstream. With `upgrade`, `Connection: Upgrade` and the
/// client's `Upgrade` are kept (a WebSocket handshake).
pub fn upstream_headers(client: &HeaderMap, f: &Forward<'_>, upgrade: bool) -> HeaderMap {
    let mut h = client.clone();
    let upgrade_value = h.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut h);
    for name in FORWARDING {
        h.remove(*name);
    }
    if upgrade && let Some(v) = upgrade_value {
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&f.peer.ip().to_string()) {
        h.insert("x-forwarded-for", v);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static(f.proto));
    if let Some(host) = client.get(header::HOST) {
        h.insert("x-forwarded-host", host.clone());
    }
    h
}

/// An error with its causes ("client error (Connect): tcp connect error:
/// Connection refused"), for the log line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward_for<'a>(up: &'a Upstream, metrics: &'a Metrics) -> Forward<'a> {
        Forward {
            upstream: up,
            name: "xmpp-server",
            peer: "192.0.2.7:5555".parse().expect("addr"),
            proto: "https",
            max_body: 100,
            body_timeout: Duration::from_secs(1),
            metrics,
        }
    }

    #[test]
    fn headers_towards_the_upstream() {
        let up = Upstream::parse("http://127.0.0.1:5280").expect("upstream");
        let m = Metrics::new();
        let f = forward_for(&up, &m);
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("meet.example.com"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://meet.example.com"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("sec-websocket-protocol", HeaderValue::from_static("xmpp"));

        let plain = upstream_headers(&h, &f, false);
        assert_eq!(plain["host"], "meet.example.com");
        assert_eq!(plain["x-forwarded-for"], "192.0.2.7");
        assert_eq!(plain["x-forwarded-proto"], "https");
        assert_eq!(plain["x-forwarded-host"], "meet.example.com");
        assert_eq!(plain["origin"], "https://meet.example.com");
        assert!(plain.get("x-secret").is_none());
        assert!(plain.get(header::CONNECTION).is_none());
        assert!(plain.get(header::UPGRADE).is_none());

        let ws = upstream_headers(&h, &f, true);
        assert_eq!(ws[header::CONNECTION], "Upgrade");
        assert_eq!(ws[header::UPGRADE], "websocket");
        assert_eq!(ws["sec-websocket-protocol"], "xmpp");
    }

    #[test]
    fn uri_keeps_path_and_query() {
        let up = Upstream::parse("http://127.0.0.1:5280").expect("upstream");
        let m = Metrics::new();
        let f = forward_for(&up, &m);
        let original: Uri = "/http-bind?room=abc".parse().expect("uri");
        assert_eq!(
            f.uri(&original).expect("uri").to_string(),
            "http://127.0.0.1:5280/http-bind?room=abc"
        );
    }
}
