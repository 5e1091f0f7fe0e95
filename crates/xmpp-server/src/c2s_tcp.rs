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

/// Per-connection read budget: a token bucket refilled at `per_sec` bytes
/// per second (burst of one second's worth). Over budget, reading pauses
/// until the bucket refills; deliveries to the client keep flowing meanwhile.
struct RateLimit {
    per_sec: u64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_sec: u64) -> Self {
        Self {
            per_sec,
            tokens: per_sec as f64,
            last: Instant::now(),
        }
    }

    /// Account for `n` bytes read; returns when reading may resume.
    fn after_read(&mut self, n: usize) -> Option<Instant> {
        if self.per_sec == 0 {
            return None;
        }
        let now = Instant::now();
        let rate = self.per_sec as f64;
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(rate);
        self.last = now;
        self.tokens -= n as f64;
        (self.tokens < 0.0).then(|| now + Duration::from_secs_f64(-self.tokens / rate))
    }
}

/// Deliveries handled per wake-up before writing: one flush per batch keeps
/// syscalls down under fan-out.
const DELIVERY_BATCH: usize = 256;

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
    let mut rate = RateLimit::new(shared.cfg.c2s_read_rate_limit);
    let mut read_resume: Option<tokio::time::Instant> = None;
    let mut reason = "closed";
    let mut jid = String::new();
    let mut out_buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let mut events = Vec::new();
        let paused = read_resume.is_some_and(|t| t > tokio::time::Instant::now());
        tokio::select! {
            _ = tokio::time::sleep_until(read_resume.unwrap_or_else(tokio::time::Instant::now)), if paused => {
                read_resume = None;
            }
            r = conn.read(&mut buf), if !paused => match r {
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
                    read_resume = rate.after_read(n).map(tokio::time::Instant::from_std);
                }
            },
            d = rx.recv() => {
                let mut next = d;
                let mut n = 0;
                while let Some(delivery) = next.take() {
                    match delivery {
                        Delivery::Stanza(el) => core.deliver(el),
                        Delivery::Close { condition, text } => core.fail(condition, Some(&text), &mut env),
                    }
                    n += 1;
                    if n < DELIVERY_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
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
        if let Some(j) = core.jid() {
            jid = j;
        }
        let mut closed = core.is_closed();
        for out in core.take_output() {
            tracing::trace!(%peer, out = ?out, "c2s out");
            match out {
                Out::Header { id, from } => {
                    out_buf
                        .extend_from_slice(wire::stream_header(NS_CLIENT, &id, &from).as_bytes());
                }
                Out::Send(el) => {
                    // Buffered; written with one flush after this batch (or
                    // before anything that must be on the wire first).
                    out_buf.extend_from_slice(wire::element(&el).as_bytes());
                }
                Out::Delay(ms) => {
                    if flush_buf(&mut conn, &mut out_buf).await.is_err() {
                        closed = true;
                    }
                    tokio::time::sleep(Duration::from_millis(ms)).await
                }
                Out::StartTls => {
                    if flush_buf(&mut conn, &mut out_buf).await.is_err() {
                        closed = true;
                        continue;
                    }
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
                    let _ = flush_buf(&mut conn, &mut out_buf).await;
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
        if !out_buf.is_empty() && flush_buf(&mut conn, &mut out_buf).await.is_err() {
            core.disconnected(&mut env);
            reason = "write failed";
            closed = true;
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
    tracing::info!(%peer, %jid, reason, "c2s connection closed");
}

async fn flush_buf(conn: &mut Conn, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let r = write(conn, buf).await;
    buf.clear();
    r
}

async fn write(conn: &mut Conn, data: &[u8]) -> std::io::Result<()> {
    conn.write_all(data).await?;
    conn.flush().await
}
