//! The HTTP listener (Prosody's mod_http + mod_bosh + mod_websocket):
//! BOSH at `/http-bind` ([`bosh`]), RFC 7395 WebSocket at `/xmpp-websocket`
//! ([`websocket`]), and the operational routes `/metrics` and
//! `/about/health`. HTTP/1.1 only: WebSocket needs the upgrade, and the
//! reverse proxy in front speaks HTTP/1.1 to us.

mod bosh;
mod websocket;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use minidom::Element;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::server::Shared;
use crate::xml::{NS_CLIENT, rename_ns};

pub const BOSH_PATH: &str = "/http-bind";
pub const WEBSOCKET_PATH: &str = "/xmpp-websocket";

type Body = Full<Bytes>;

/// What every request handler gets.
struct Ctx {
    shared: Arc<Shared>,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
}

impl Ctx {
    /// The peer for logs: behind the reverse proxy the TCP peer is the proxy,
    /// so the forwarded address is added (logged only, never trusted).
    fn peer_label(&self, headers: &HeaderMap) -> String {
        match headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
        {
            Some(fwd) => format!("{} (for {fwd})", self.peer),
            None => self.peer.to_string(),
        }
    }
}

/// Accept loop for one HTTP listener; stops accepting when `stop` changes.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let ctx = Arc::new(Ctx {
                    shared: shared.clone(),
                    peer,
                    stop: stop.clone(),
                });
                tokio::spawn(connection(stream, ctx));
            }
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, ctx: Arc<Ctx>) {
    let _ = stream.set_nodelay(true);
    let mut stop = ctx.stop.clone();
    let peer = ctx.peer;
    let svc = service_fn(move |req| route(req, ctx.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
        // The timer enables hyper's header read timeout against slowloris.
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            // Held BOSH requests are answered by their sessions on stop;
            // let them go out before the connection closes.
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "http connection ended with error");
    }
}

async fn route(req: Request<Incoming>, ctx: Arc<Ctx>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let resp = if path == BOSH_PATH || path == "/http-bind/" {
        bosh::handle(req, &ctx).await
    } else if path == WEBSOCKET_PATH || path == "/xmpp-websocket/" {
        websocket::handle(req, &ctx)
    } else if req.method() == Method::GET && path == "/metrics" {
        response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            ctx.shared.registry.render(),
        )
    } else if req.method() == Method::GET && path == "/about/health" {
        response(StatusCode::OK, "text/plain; charset=utf-8", "OK")
    } else {
        response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        )
    };
    Ok(resp)
}

/// A response with a body and its content type.
fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Stanzas sent without a namespace of their own (unqualified in a
/// WebSocket frame, or inheriting the BOSH body's) are `jabber:client`
/// stanzas, as Prosody treats them.
fn client_ns(el: Element, inherited: &str) -> Element {
    if el.ns() == inherited {
        rename_ns(el, inherited, NS_CLIENT)
    } else {
        el
    }
}

/// The request's `Origin` header, if it is valid text.
fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests;
