//! Listeners and connections: bind every configured address, accept under
//! the `max_connections` limit, do the TLS handshake (HTTPS listeners),
//! and serve HTTP/1.1 with hyper, with upgrades for WebSockets. The limits
//! that hyper enforces itself are set here: header size (431), header read
//! time — which also ends idle keep-alive connections, since hyper starts
//! that timer whenever it waits for a request head.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::router::{self, App, Conn, Listener, Slot};

/// How long open connections get to finish after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Bound sockets, before serving starts (binding first lets the daemon
/// report "cannot listen on …" and exit before it says it is ready).
pub struct Bound {
    listeners: Vec<(TcpListener, Listener)>,
}

impl Bound {
    /// The local addresses, by kind (ports chosen by the OS included).
    pub fn addresses(&self) -> Vec<(SocketAddr, Listener)> {
        self.listeners
            .iter()
            .filter_map(|(l, kind)| l.local_addr().ok().map(|a| (a, *kind)))
            .collect()
    }
}

/// Bind the listeners the config asks for.
pub async fn bind(app: &App) -> std::io::Result<Bound> {
    let s = &app.cfg.server;
    let mut listeners = Vec::new();
    if s.plain_http {
        for addr in &s.http_listen {
            listeners.push((meet_service::http::bind(*addr).await?, Listener::Plain));
        }
    } else {
        for addr in &s.https_listen {
            listeners.push((meet_service::http::bind(*addr).await?, Listener::Https));
        }
        for addr in &s.http_listen {
            listeners.push((meet_service::http::bind(*addr).await?, Listener::Redirect));
        }
    }
    Ok(Bound { listeners })
}

/// Serve until `app.stop` becomes true, then give open connections
/// [`STOP_GRACE`] to finish.
pub async fn serve(app: Arc<App>, bound: Bound, tls: Option<TlsAcceptor>) {
    let max = app.cfg.limits.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let mut accept_loops = JoinSet::new();
    for (listener, kind) in bound.listeners {
        let tls = if kind == Listener::Https {
            match &tls {
                Some(t) => Some(t.clone()),
                None => {
                    tracing::error!("HTTPS listener without a TLS configuration");
                    continue;
                }
            }
        } else {
            None
        };
        accept_loops.spawn(accept_loop(listener, kind, tls, app.clone(), slots.clone()));
    }
    while accept_loops.join_next().await.is_some() {}
    // Every connection (and WebSocket) holds a slot: all slots back means
    // all of them have ended.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(STOP_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max - slots.available_permits(),
            "connections still open after the grace period"
        );
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: Listener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    slots: Arc<Semaphore>,
) {
    let mut stop = app.stop.clone();
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // At the limit, this loop holds the one connection it accepted
        // and accepts no more until a slot frees, so further clients wait
        // in the kernel's backlog. (Taking the slot before accept would
        // park one slot per idle listener.)
        let permit = tokio::select! {
            _ = stopped(&mut stop) => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        tokio::spawn(connection(
            stream,
            peer,
            kind,
            tls.clone(),
            app.clone(),
            permit,
        ));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    kind: Listener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    app.metrics.connections_active.inc();
    let conn = Arc::new(Conn {
        peer,
        listener: kind,
        slot: Slot::new(permit),
    });
    let idle = Duration::from_secs(app.cfg.limits.idle_timeout_secs);
    match tls {
        Some(acceptor) => match tokio::time::timeout(idle, acceptor.accept(stream)).await {
            Ok(Ok(tls_stream)) => serve_http(tls_stream, conn, app.clone()).await,
            Ok(Err(e)) => {
                app.metrics.tls_handshake_failures.inc();
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
            }
            Err(_) => {
                app.metrics.tls_handshake_failures.inc();
                tracing::debug!(%peer, "TLS handshake timed out");
            }
        },
        None => serve_http(stream, conn, app.clone()).await,
    }
    app.metrics.connections_active.dec();
}

async fn serve_http<I>(io: I, conn: Arc<Conn>, app: Arc<App>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &app.cfg.limits;
    let peer = conn.peer;
    let mut stop = app.stop.clone();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.idle_timeout_secs))
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192) + 64 * 1024)
        .keep_alive(true);
    let svc_app = app.clone();
    let svc = service_fn(move |req| router::handle(req, svc_app.clone(), conn.clone()));
    let served = builder
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(served);
    let result = tokio::select! {
        r = served.as_mut() => r,
        _ = stopped(&mut stop) => {
            // Finish the request in flight (a held BOSH request is answered
            // by xmpp-server as it stops), then close.
            served.as_mut().graceful_shutdown();
            match tokio::time::timeout(STOP_GRACE, served.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A stop signal for [`App::stop`], and the handle that fires it.
pub fn stop_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}
