//! The bridge's private HTTP interface (JVB's, jitsi-protocol.md §7.2), on
//! `videobridge.http` (loopback:8080 by default):
//!
//! | route | answer |
//! |---|---|
//! | `GET /about/health` | 200 empty when the media plane runs and an XMPP connection is up; 500 with the reason otherwise |
//! | `GET /about/version` | `{"name":"meet-rs videobridge","version":…,"os":…}` |
//! | `GET /colibri/stats` | JSON stats under JVB's names (see [`crate::stats`]) |
//! | `GET /metrics` | Prometheus text |
//! | `POST /colibri/shutdown` | body `{"graceful-shutdown": "true"}`: refuse new conferences, exit when the last one ends |
//! | `POST /colibri/drain/enable`, `/colibri/drain/disable`, `GET /colibri/drain` | drain: refuse new conferences, keep running |
//! | `/colibri-ws/…` | handed to the media plane's [`ColibriWs`] hook; 404 without one |
//!
//! meet-service's small server only passes method and path to its
//! handlers; colibri-ws needs the whole request (to upgrade it to a
//! WebSocket) and `/colibri/shutdown` reads a body, so this module runs its
//! own accept loop on hyper and reuses meet-service's [`Reply`] for the rest.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use meet_service::http::Reply;
use tokio::net::TcpListener;

use crate::colibri::Bridge;
use crate::stats::VERSION;

/// Prefix of the bridge-channel WebSocket paths (§6.1).
pub const COLIBRI_WS_PREFIX: &str = "/colibri-ws/";
/// Largest request body read (only `/colibri/shutdown` has one).
const MAX_BODY: usize = 4096;

pub type HttpResponse = Response<Full<Bytes>>;

/// HOOK FOR THE MEDIA PLANE: every request whose path starts with
/// [`COLIBRI_WS_PREFIX`] (`/colibri-ws/<server-id>/<conference>/<endpoint>?pwd=…`)
/// goes to this trait untouched, on a connection that supports upgrades, so
/// the media plane can answer with a WebSocket upgrade and serve the bridge
/// channel. Without an implementation those paths answer 404.
pub use crate::engine::ColibriWs;

/// Serve the routes on `listener` until `shutdown` resolves.
pub async fn serve<S>(
    listener: TcpListener,
    bridge: Arc<Bridge>,
    colibri_ws: Option<Arc<dyn ColibriWs>>,
    shutdown: S,
) where
    S: Future<Output = ()> + Send,
{
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let bridge = bridge.clone();
        let colibri_ws = colibri_ws.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let bridge = bridge.clone();
                let colibri_ws = colibri_ws.clone();
                async move { Ok::<_, Infallible>(route(req, &bridge, colibri_ws.as_deref()).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "http connection ended with error");
            }
        });
    }
}

/// Answer one request.
pub async fn route(
    req: Request<Incoming>,
    bridge: &Arc<Bridge>,
    colibri_ws: Option<&dyn ColibriWs>,
) -> HttpResponse {
    if req.uri().path().starts_with(COLIBRI_WS_PREFIX) {
        return match colibri_ws {
            Some(ws) => ws.handle(req).await,
            None => response(Reply::not_found()),
        };
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = if method == Method::POST {
        match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return response(Reply::text(413, "request body too large\n")),
        }
    } else {
        Bytes::new()
    };
    response(answer(&method, &path, &body, bridge).await)
}

/// The routes other than colibri-ws, given the method, path and body.
pub async fn answer(method: &Method, path: &str, body: &[u8], bridge: &Arc<Bridge>) -> Reply {
    let status = bridge.status();
    match (method.as_str(), path) {
        ("GET", "/about/health") => match status.health() {
            Ok(()) => Reply::text(200, ""),
            Err(reason) => Reply::text(500, format!("{reason}\n")),
        },
        ("GET", "/about/version") => Reply::json(
            200,
            &serde_json::json!({
                "name": "meet-rs videobridge",
                "version": VERSION,
                "os": std::env::consts::OS,
            }),
        ),
        ("GET", "/colibri/stats") => match bridge.snapshot_async().await {
            Some(s) => Reply::json(200, &s.to_json()),
            None => Reply::text(500, "stats unavailable\n"),
        },
        ("GET", "/metrics") => match bridge.snapshot_async().await {
            Some(s) => Reply::prometheus(status.render_prometheus(&s)),
            None => Reply::text(500, "stats unavailable\n"),
        },
        ("POST", "/colibri/shutdown") => {
            if wants_graceful_shutdown(body) {
                tracing::info!("graceful shutdown requested over HTTP");
                status.start_graceful_shutdown();
                Reply::text(200, "")
            } else {
                Reply::text(
                    400,
                    "expected a JSON body {\"graceful-shutdown\": \"true\"}\n",
                )
            }
        }
        ("POST", "/colibri/drain/enable") => {
            tracing::info!("drain enabled over HTTP");
            status.set_drain(true);
            Reply::text(200, "")
        }
        ("POST", "/colibri/drain/disable") => {
            tracing::info!("drain disabled over HTTP");
            status.set_drain(false);
            Reply::text(200, "")
        }
        ("GET", "/colibri/drain") => {
            Reply::json(200, &serde_json::json!({ "drain": status.drain() }))
        }
        (
            _,
            "/about/health"
            | "/about/version"
            | "/colibri/stats"
            | "/metrics"
            | "/colibri/shutdown"
            | "/colibri/drain/enable"
            | "/colibri/drain/disable"
            | "/colibri/drain",
        ) => Reply::text(405, "method not allowed\n"),
        _ => Reply::not_found(),
    }
}

/// JVB's body: `{"graceful-shutdown": "true"}` (a JSON `true` is accepted too).
fn wants_graceful_shutdown(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    match v.get("graceful-shutdown") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn response(reply: Reply) -> HttpResponse {
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(reply.content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;

    use crate::colibri::ColibriConfig;
    use crate::fake_media::FakeMedia;
    use crate::stats::BridgeStatus;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn bridge() -> Arc<Bridge> {
        Arc::new(Bridge::new(
            Arc::new(FakeMedia::new()),
            ColibriConfig {
                server_id: "jvb-1".into(),
                websocket_base_url: "ws://127.0.0.1:8080/colibri-ws".into(),
            },
            Arc::new(BridgeStatus::new()),
            Some("eu".into()),
        ))
    }

    #[tokio::test]
    async fn routes() {
        let b = bridge();
        let get = Method::GET;
        let post = Method::POST;
        let r = answer(&get, "/about/health", b"", &b).await;
        assert_eq!(r.status, 500, "no XMPP connection yet");
        assert!(String::from_utf8_lossy(&r.body).contains("XMPP"));
        b.status().xmpp_up();
        assert_eq!(answer(&get, "/about/health", b"", &b).await.status, 200);

        let r = answer(&get, "/about/version", b"", &b).await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["name"], "meet-rs videobridge");
        assert_eq!(v["version"], VERSION);

        let r = answer(&get, "/colibri/stats", b"", &b).await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        for key in [
            "conferences",
            "participants",
            "stress_level",
            "bit_rate_download",
            "bit_rate_upload",
            "packet_rate_download",
            "packet_rate_upload",
            "total_packets_received",
            "total_packets_sent",
            "graceful_shutdown",
            "drain",
            "region",
            "relay_id",
            "version",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["relay_id"], "jvb-1");
        assert_eq!(v["region"], "eu");

        let r = answer(&get, "/metrics", b"", &b).await;
        assert!(String::from_utf8_lossy(&r.body).contains("videobridge_conferences 0"));

        assert_eq!(
            answer(&post, "/colibri/drain/enable", b"", &b).await.status,
            200
        );
        assert!(b.status().drain());
        let r = answer(&get, "/colibri/drain", b"", &b).await;
        assert_eq!(String::from_utf8_lossy(&r.body), r#"{"drain":true}"#);
        assert_eq!(
            answer(&post, "/colibri/drain/disable", b"", &b)
                .await
                .status,
            200
        );
        assert!(!b.status().drain());

        assert_eq!(
            answer(&post, "/colibri/shutdown", b"{}", &b).await.status,
            400
        );
        assert_eq!(
            answer(&post, "/colibri/shutdown", b"\xff", &b).await.status,
            400
        );
        assert!(!b.status().graceful_shutdown());
        let r = answer(
            &post,
            "/colibri/shutdown",
            br#"{"graceful-shutdown": "true"}"#,
            &b,
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(b.status().graceful_shutdown());
        assert!(b.status().refuses_new_conferences());

        assert_eq!(answer(&post, "/about/health", b"", &b).await.status, 405);
        assert_eq!(answer(&get, "/nope", b"", &b).await.status, 404);
    }

    struct Echo;
    impl ColibriWs for Echo {
        fn handle(
            &self,
            req: Request<Incoming>,
        ) -> Pin<Box<dyn Future<Output = HttpResponse> + Send>> {
            let path = req.uri().path().to_string();
            Box::pin(async move { response(Reply::text(200, format!("ws {path}"))) })
        }
    }

    async fn get_over_socket(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.expect("read");
        buf
    }

    #[tokio::test]
    async fn colibri_ws_goes_to_the_hook() {
        for hook in [None, Some(Arc::new(Echo) as Arc<dyn ColibriWs>)] {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let with_hook = hook.is_some();
            let server = tokio::spawn(serve(listener, bridge(), hook, async {
                let _ = rx.await;
            }));
            let r = get_over_socket(addr, "/colibri-ws/jvb-1/m1/e1?pwd=x").await;
            if with_hook {
                assert!(r.starts_with("HTTP/1.1 200"), "{r}");
                assert!(r.ends_with("ws /colibri-ws/jvb-1/m1/e1"), "{r}");
            } else {
                assert!(r.starts_with("HTTP/1.1 404"), "{r}");
            }
            let r = get_over_socket(addr, "/about/version").await;
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
            let _ = tx.send(());
            server.await.expect("server task");
        }
    }
}
