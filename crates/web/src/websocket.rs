//! WebSocket proxying (`/xmpp-websocket` to xmpp-server, `/colibri-ws/…` to
//! the videobridge): the client's handshake goes upstream on a fresh
//! connection with its `Sec-WebSocket-*` headers (so the sub-protocol
//! `xmpp` and the accept key work end to end); when the upstream answers
//! 101 both connections are upgraded and bytes are copied both ways until
//! either side closes. Frames are not parsed here — the endpoints do that.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::body::{self, Body};
use crate::metrics::Metrics;
use crate::proxy::{self, CONNECT_TIMEOUT, Forward, RESPONSE_TIMEOUT};
use crate::router::Slot;

/// Whether the request asks to switch to WebSocket (RFC 6455 §4.1:
/// `Connection: Upgrade` and `Upgrade: websocket`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

/// What the copying task needs once the handshake succeeded.
pub struct Tunnel {
    pub metrics: Arc<crate::metrics::Metrics>,
    pub stop: watch::Receiver<bool>,
    /// The client connection's slot under `limits.max_connections`, taken
    /// over once the upgrade succeeded.
    pub slot: Slot,
}

/// Proxy one WebSocket handshake; on success the returned 101 goes to the
/// client and a task copies the bytes.
pub async fn proxy(mut req: Request<Incoming>, f: &Forward<'_>, tunnel: Tunnel) -> Response<Body> {
    let client_upgrade = hyper::upgrade::on(&mut req);
    let stream = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect(f.upstream.authority.as_str()),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return f.upstream_failed(StatusCode::BAD_GATEWAY, &e),
        Err(_) => return f.upstream_failed(StatusCode::GATEWAY_TIMEOUT, &"connect timed out"),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(
        TokioIo::new(stream),
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return f.upstream_failed(StatusCode::BAD_GATEWAY, &e),
    };
    let name = f.name;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(upstream = name, error = %e, "upstream WebSocket connection ended");
        }
    });

    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = Request::new(Empty::<Bytes>::new());
    *out.method_mut() = req.method().clone();
    match path_and_query.parse() {
        Ok(uri) => *out.uri_mut() = uri,
        Err(_) => return body::text(StatusCode::BAD_REQUEST, "bad request target\n"),
    }
    *out.headers_mut() = proxy::upstream_headers(req.headers(), f, true);

    let mut resp = match tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(out)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return f.upstream_failed(StatusCode::BAD_GATEWAY, &proxy::error_chain(&e)),
        Err(_) => return f.upstream_failed(StatusCode::GATEWAY_TIMEOUT, &"no response in time"),
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A refusal (wrong sub-protocol, unknown endpoint): the client sees
        // the upstream's own answer.
        return proxy::relay(resp, f.metrics);
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    // The 101 keeps every header: Connection/Upgrade belong to this
    // response, and Sec-WebSocket-Accept/-Protocol were computed from the
    // client's own key and offer.
    let mut answer = Response::new(body::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *answer.headers_mut() = resp.headers().clone();

    let peer = f.peer;
    tokio::spawn(async move {
        let Tunnel {
            metrics,
            mut stop,
            slot,
        } = tunnel;
        let permit = slot.take();
        let (client, upstream) = match tokio::join!(client_upgrade, upstream_upgrade) {
            (Ok(c), Ok(u)) => (c, u),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(%peer, upstream = name, error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        metrics.websockets_active.inc();
        copy(client, upstream, &metrics, &mut stop, peer, name).await;
        metrics.websockets_active.dec();
        drop(permit);
    });
    answer
}

async fn copy(
    client: hyper::upgrade::Upgraded,
    upstream: hyper::upgrade::Upgraded,
    metrics: &Metrics,
    stop: &mut watch::Receiver<bool>,
    peer: std::net::SocketAddr,
    name: &'static str,
) {
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match r {
            Ok((to_upstream, to_client)) => {
                metrics.proxied_bytes_to_upstream.add(saturating_i64(to_upstream));
                metrics.proxied_bytes_to_client.add(saturating_i64(to_client));
                tracing::debug!(%peer, upstream = name, to_upstream, to_client, "WebSocket closed");
            }
            Err(e) => tracing::debug!(%peer, upstream = name, error = %e, "WebSocket ended"),
        },
        // On shutdown the sockets are dropped: browsers reconnect (to
        // another instance, or to this one once it is back).
        _ = crate::server::stopped(stop) => {}
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn upgrade_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_upgrade(&h));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(is_upgrade(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!is_upgrade(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!is_upgrade(&h));
    }
}
