//! colibri-ws: the bridge channel over a WebSocket at
//! `/colibri-ws/{server-id}/{conference}/{endpoint}?pwd={ice-pwd}`.
//!
//! The request is checked against the registry (no round trip to the media
//! loop): unknown server id, conference or endpoint → 404, a password other
//! than the endpoint's ICE password → 401, not a WebSocket upgrade → 400.
//! Each connection is a task: text frames become commands for the loop
//! (rate-limited), and the loop's messages for the endpoint arrive through
//! a bounded outbox. Expiring the endpoint drops the outbox, which closes
//! the socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_tungstenite::HyperWebsocket;
use hyper_tungstenite::tungstenite::Message;
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio::time::Instant;

use crate::core::channel::MAX_MESSAGE_BYTES;
use crate::engine::ColibriWs;

use super::endpoint::WsLink;
use super::worker::Command;
use super::{Inner, MediaEngine};

const PREFIX: &str = "/colibri-ws/";
/// Messages queued for a client that is not reading, before we drop.
const OUTBOX: usize = 256;
/// A connection with no frame from the client for this long is closed
/// (JVB's idle timeout); our pings keep a live client's pongs coming.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// Client messages per second a connection may send on average, and in a
/// burst; Jitsi clients send a few per second at most.
const RATE_PER_SEC: f64 = 50.0;
const BURST: f64 = 200.0;

impl ColibriWs for MediaEngine {
    fn handle(
        &self,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { respond(inner, req) })
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r
}

fn respond(inner: Arc<Inner>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some((conference, endpoint)) = parse_path(req.uri().path(), &inner.server_id) else {
        return status(StatusCode::NOT_FOUND, "invalid path");
    };
    let Some(expected) = inner.pwd_of(&conference, &endpoint) else {
        return status(StatusCode::NOT_FOUND, "unknown conference or endpoint");
    };
    let given = req.uri().query().and_then(|q| query_param(q, "pwd"));
    if !given.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes())) {
        return status(StatusCode::UNAUTHORIZED, "authentication failed");
    }
    if !hyper_tungstenite::is_upgrade_request(&req) {
        return status(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return status(StatusCode::INTERNAL_SERVER_ERROR, "no runtime");
    };
    let limit = MAX_MESSAGE_BYTES + 1024;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let (response, websocket) = match hyper_tungstenite::upgrade(&mut req, Some(config)) {
        Ok(pair) => pair,
        Err(_) => return status(StatusCode::BAD_REQUEST, "bad WebSocket handshake"),
    };
    let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    runtime.spawn(serve(inner, websocket, conference, endpoint, conn));
    response
}

/// A token bucket over message counts.
struct RateLimit {
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * RATE_PER_SEC).min(BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn serve(
    inner: Arc<Inner>,
    websocket: HyperWebsocket,
    conference: String,
    endpoint: String,
    conn: u64,
) {
    let ws = match websocket.await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%endpoint, error = %e, "colibri-ws upgrade failed");
            return;
        }
    };
    let (tx, mut outbox) = tokio::sync::mpsc::channel::<Arc<str>>(OUTBOX);
    let open = Command::WsOpen {
        conference: conference.clone(),
        endpoint: endpoint.clone(),
        link: WsLink { conn, tx },
    };
    // A conference stays on its worker for its whole life.
    let Some(shard) = inner.registry().ok().and_then(|r| r.shard_of(&conference)) else {
        return;
    };
    if inner.send_to(shard, open).is_err() {
        return;
    }
    tracing::debug!(%conference, %endpoint, conn, "colibri-ws open");
    let (mut sink, mut stream) = ws.split();
    let mut limit = RateLimit {
        tokens: BURST,
        at: Instant::now(),
    };
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            incoming = stream.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if !limit.allow(last_heard) {
                            tracing::debug!(%endpoint, "colibri-ws message over the rate limit dropped");
                            continue;
                        }
                        let cmd = Command::WsMessage {
                            conference: conference.clone(),
                            endpoint: endpoint.clone(),
                            text: text.to_string(),
                        };
                        if inner.send_to(shard, cmd).is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            }
            outgoing = outbox.recv() => match outgoing {
                Some(text) => {
                    if sink.send(Message::text(text.as_ref())).await.is_err() {
                        break;
                    }
                }
                // The endpoint expired (or the loop stopped).
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    tracing::debug!(%endpoint, "colibri-ws idle, closing");
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = inner.send_to(
        shard,
        Command::WsClosed {
            conference,
            endpoint: endpoint.clone(),
            conn,
        },
    );
    tracing::debug!(%endpoint, conn, "colibri-ws closed");
}

/// `/colibri-ws/{server-id}/{conference}/{endpoint}` → (conference, endpoint),
/// if the server id is ours.
fn parse_path(path: &str, server_id: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix(PREFIX)?;
    let mut parts = rest.split('/');
    let (server, conference, endpoint) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some_and(|p| !p.is_empty()) {
        return None;
    }
    if percent_decode(server)? != server_id {
        return None;
    }
    let conference = percent_decode(conference)?;
    let endpoint = percent_decode(endpoint)?;
    (!conference.is_empty() && !endpoint.is_empty()).then_some((conference, endpoint))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v)).flatten()
    })
}

/// %XX decoding (and '+' kept as is: it is a path, not a form).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Compares secrets without an early exit that would leak how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed_strictly() {
        assert_eq!(
            parse_path("/colibri-ws/default-id/conf1/ep%2D1", "default-id"),
            Some(("conf1".into(), "ep-1".into()))
        );
        assert_eq!(parse_path("/colibri-ws/other/conf1/ep", "default-id"), None);
        assert_eq!(
            parse_path("/colibri-ws/default-id/conf1", "default-id"),
            None
        );
        assert_eq!(
            parse_path("/colibri-ws/default-id/c/e/x", "default-id"),
            None
        );
        assert_eq!(parse_path("/colibri-ws/default-id//e", "default-id"), None);
        assert_eq!(
            parse_path("/colibri-ws/default-id/c/%zz", "default-id"),
            None
        );
        assert_eq!(parse_path("/other/default-id/c/e", "default-id"), None);
    }

    #[test]
    fn query_and_secrets() {
        assert_eq!(query_param("a=1&pwd=secret", "pwd"), Some("secret".into()));
        assert_eq!(query_param("pwd", "pwd"), Some(String::new()));
        assert_eq!(query_param("x=1", "pwd"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn rate_limit_refills() {
        let t0 = Instant::now();
        let mut l = RateLimit {
            tokens: 2.0,
            at: t0,
        };
        assert!(l.allow(t0));
        assert!(l.allow(t0));
        assert!(!l.allow(t0));
        assert!(l.allow(t0 + Duration::from_millis(100)));
    }
}
