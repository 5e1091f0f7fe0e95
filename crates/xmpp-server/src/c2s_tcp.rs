//! The c2s TCP edge: one task per connection, STARTTLS through rustls,
//! per-connection read-rate limit, unauthenticated-stream timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::c2s::{C2sSession, Out, Transport};
use crate::router::{Delivery, INBOX_DEPTH};
use crate::server::{SessionEnv, Shared};
use crate::wire;
use crate::xml::{NS_CLIENT, StreamParser};

/// Plain TCP before STARTTLS, TLS after.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Transient state while the handshake owns the socket.
    Gone,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, data),
            Conn::Tls(s) => Pin::new(s).poll_write(cx, data),
            Conn::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s).poll_flush(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Accept loop for one c2s listener.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                let stop = stop.clone();
                tokio::spawn(async move { handle(stream, peer, shared, stop).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "c2s accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Simple per-connection byte budget per second.
struct RateLimit {
    per_sec: u64,
    window_start: Instant,
    used: u64,
}

impl RateLimit {
    fn delay_after(&mut self, n: usize) -> Option<Duration> {
        if self.per_sec == 0 {
            return None;
        }
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.used = 0;
        }
        self.used += n as u64;
        if self.used > self.per_sec {
            let wait = Duration::from_secs(1).saturating_sub(now.duration_since(self.window_start));
            self.window_start = now + wait;
            self.used = self.used.saturating_sub(self.per_sec);
            return Some(wait);
        }
        None
    }
}

async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    if !shared.admit_unauthenticated(peer.ip()) {
        tracing::warn!(%peer, "too many unauthenticated connections from this address; refused");
        return;
    }
    let _ = stream.set_nodelay(true);
    shared.counters.c2s_connections.inc();
    tracing::info!(%peer, "c2s connection opened");
    let (tx, mut rx) = mpsc::channel::<Delivery>(INBOX_DEPTH);
    let mut env = SessionEnv {
        shared: shared.clone(),
        inbox: tx,
        peer: peer.to_string(),
    };
    let mut conn = Conn::Plain(stream);
    let mut core = C2sSession::new(Transport::Tcp, false);
    let limit = shared.cfg.c2s_stanza_size_limit;
    let mut parser = StreamParser::new(limit);
    let mut buf = vec![0u8; 16 * 1024];
    let mut counted_unauth = true;
    let auth_deadline =
        tokio::time::Instant::now() + Duration::from_secs(shared.cfg.c2s_timeout.max(1));
    let mut rate = RateLimit {
        per_sec: shared.cfg.c2s_read_rate_limit,
        window_start: Instant::now(),
        used: 0,
    };
    let mut reason = "closed";
    loop {
        let mut events = Vec::new();
        tokio::select! {
            r = conn.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    core.disconnected(&mut env);
                    reason = "peer disconnected";
                }
                Ok(n) => {
                    if let Err(e) = parser.feed(&buf[..n], &mut events) {
                        for ev in events.drain(..) {
                            core.handle(ev, &mut env);
                        }
                        tracing::info!(%peer, error = %e, "closing stream: bad XML");
                        shared.counters.stream_errors.inc();
                        core.fail(e.condition(), Some(&e.to_string()), &mut env);
                    }
                    if let Some(wait) = rate.delay_after(n) {
                        tokio::time::sleep(wait).await;
                    }
                }
            },
            d = rx.recv() => match d {
                Some(Delivery::Stanza(el)) => core.deliver(el),
                Some(Delivery::Close { condition, text }) => core.fail(condition, Some(&text), &mut env),
                None => {}
            },
            _ = tokio::time::sleep_until(auth_deadline), if !core.is_authenticated() => {
                tracing::info!(%peer, "closing unauthenticated stream: timeout");
                core.fail("connection-timeout", Some("authentication took too long"), &mut env);
            }
            _ = stop.changed() => {
                core.fail("system-shutdown", None, &mut env);
            }
        }
        for ev in events {
            if core.is_authenticated() {
                tracing::trace!(%peer, event = ?ev, "c2s in");
            }
            core.handle(ev, &mut env);
        }
        if counted_unauth && core.is_authenticated() {
            shared.release_unauthenticated(peer.ip());
            counted_unauth = false;
        }
        let mut closed = core.is_closed();
        for out in core.take_output() {
            tracing::trace!(%peer, out = ?out, "c2s out");
            match out {
                Out::Header { id, from } => {
                    if write(
                        &mut conn,
                        wire::stream_header(NS_CLIENT, &id, &from).as_bytes(),
                    )
                    .await
                    .is_err()
                    {
                        closed = true;
                    }
                }
                Out::Send(el) => {
                    if write(&mut conn, wire::element(&el).as_bytes())
                        .await
                        .is_err()
                    {
                        core.disconnected(&mut env);
                        closed = true;
                    }
                }
                Out::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Out::StartTls => {
                    let Some(tls) = shared.tls.clone() else {
                        closed = true;
                        continue;
                    };
                    let Conn::Plain(tcp) = std::mem::replace(&mut conn, Conn::Gone) else {
                        closed = true;
                        continue;
                    };
                    match tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await {
                        Ok(s) => {
                            conn = Conn::Tls(Box::new(s));
                            parser = StreamParser::new(limit);
                            core.tls_established();
                            tracing::info!(%peer, "TLS established");
                        }
                        Err(e) => {
                            tracing::info!(%peer, error = %e, "TLS handshake failed");
                            core.disconnected(&mut env);
                            closed = true;
                        }
                    }
                }
                Out::Restart => parser = StreamParser::new(limit),
                Out::Close(err) => {
                    if let Some(e) = err {
                        if let Some(cond) = e.children().next() {
                            reason = if cond.name() == "connection-timeout" {
                                "timeout"
                            } else {
                                "stream error"
                            };
                            tracing::info!(%peer, condition = cond.name(), "sending stream error");
                        }
                        let _ = write(&mut conn, wire::element(&e).as_bytes()).await;
                    }
                    let _ = write(&mut conn, wire::STREAM_CLOSE.as_bytes()).await;
                    let _ = conn.shutdown().await;
                    closed = true;
                }
            }
        }
        if closed {
            break;
        }
    }
    core.disconnected(&mut env);
    if counted_unauth {
        shared.release_unauthenticated(peer.ip());
    }
    shared.counters.c2s_connections.dec();
    tracing::info!(%peer, jid = core.jid().unwrap_or_default(), reason, "c2s connection closed");
}

async fn write(conn: &mut Conn, data: &[u8]) -> std::io::Result<()> {
    conn.write_all(data).await?;
    conn.flush().await
}
