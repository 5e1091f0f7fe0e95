//! `messages`: N sender/receiver pairs of logged-in clients. Each sender
//! sends `<message type='chat'>` to its partner's full JID as fast as the
//! in-flight window allows; the receiver's count is the acknowledgement.
//! The body starts with the send time, so the receiver measures delivery
//! latency (both ends are in this process, one clock).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::session::{self, LoginSpec, Mech};
use crate::stats::{Errors, Samples};
use crate::wire::{self, Frame, SplitReader};

pub struct Args {
    pub addr: String,
    pub domain: String,
    pub mech: Mech,
    pub user_prefix: String,
    pub users: usize,
    pub password: String,
    pub pairs: usize,
    pub duration: Duration,
    pub size: usize,
    pub window: u64,
    pub timeout: Duration,
}

pub struct Outcome {
    /// Messages delivered during the measured window.
    pub delivered: u64,
    /// Messages sent during the measured window.
    pub sent: u64,
    /// Sent but never delivered, even after the drain period.
    pub lost: u64,
    pub errors: Errors,
    pub latency: Samples,
    pub elapsed: Duration,
}

struct Pair {
    received: AtomicU64,
    /// Set by the sender when it has stopped; `sent_total` is final then.
    done: AtomicBool,
    sent_total: AtomicU64,
    acked: Notify,
}

fn setup_error(out: &mut Outcome, e: &str) {
    out.errors.add(&format!("setup: {e}"));
}

pub async fn run(a: Args) -> Outcome {
    let mut out = Outcome {
        delivered: 0,
        sent: 0,
        lost: 0,
        errors: Errors::default(),
        latency: Samples::default(),
        elapsed: Duration::ZERO,
    };
    // Log everybody in first (not measured).
    let mut logins = Vec::new();
    for i in 0..a.pairs * 2 {
        let spec = LoginSpec {
            addr: a.addr.clone(),
            domain: a.domain.clone(),
            mech: a.mech,
            user: format!("{}{}", a.user_prefix, i % a.users.max(1)),
            password: a.password.clone(),
            timeout: a.timeout,
        };
        logins.push(tokio::spawn(async move {
            let (mut c, jid) = session::login(&spec).await?;
            c.send(b"<presence/>")
                .await
                .map_err(|e| format!("presence: {e}"))?;
            Ok::<_, String>((c, jid))
        }));
    }
    let mut conns = Vec::new();
    for l in logins {
        match l.await {
            Ok(Ok(c)) => conns.push(c),
            Ok(Err(e)) => setup_error(&mut out, &e),
            Err(e) => setup_error(&mut out, &e.to_string()),
        }
    }
    if conns.len() != a.pairs * 2 {
        return out;
    }
    // Let presence broadcasts settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let clock = Instant::now();
    let start = Instant::now();
    let end = start + a.duration;
    let drain_until = end + Duration::from_secs(5);
    let mut tasks = Vec::new();
    let mut it = conns.into_iter();
    while let (Some((sender, _)), Some((receiver, receiver_jid))) = (it.next(), it.next()) {
        let pair = Arc::new(Pair {
            received: AtomicU64::new(0),
            done: AtomicBool::new(false),
            sent_total: AtomicU64::new(0),
            acked: Notify::new(),
        });
        let (s_read, mut s_write) = sender.into_split();
        let (r_read, _r_write) = receiver.into_split();

        // Receiver: count and time messages.
        let p = pair.clone();
        let recv = tokio::spawn(async move {
            let _keep_open = _r_write;
            receive(r_read, p, clock, end, drain_until).await
        });

        // Sender's inbound side: only errors are expected there.
        let s_errors = Arc::new(Mutex::new(Errors::default()));
        let s_drain = tokio::spawn(drain_errors(s_read, s_errors.clone()));

        // Sender.
        let p = pair.clone();
        let size = a.size;
        let window = a.window;
        let send = tokio::spawn(async move {
            let mut errors = Errors::default();
            let mut sent: u64 = 0;
            let mut buf = Vec::with_capacity(window as usize * (size + 200));
            let mut last_progress = Instant::now();
            while Instant::now() < end {
                let inflight = sent - p.received.load(Ordering::Acquire);
                if inflight >= window {
                    let wait = tokio::time::timeout(Duration::from_millis(100), p.acked.notified());
                    if wait.await.is_err() && last_progress.elapsed() > Duration::from_secs(10) {
                        errors.add("sender stalled: no delivery for 10 s");
                        break;
                    }
                    continue;
                }
                last_progress = Instant::now();
                buf.clear();
                for _ in inflight..window {
                    let ts = clock.elapsed().as_micros() as u64;
                    let _ = write!(
                        buf,
                        "<message to='{receiver_jid}' type='chat' id='m{sent}'><body>T{ts:016} "
                    );
                    let used = 18;
                    buf.extend(std::iter::repeat_n(b'x', size.saturating_sub(used)));
                    buf.extend_from_slice(b"</body></message>");
                    sent += 1;
                }
                if let Err(e) = s_write.write_all(&buf).await {
                    errors.add(&format!("send: {e}"));
                    break;
                }
            }
            p.sent_total.store(sent, Ordering::Release);
            p.done.store(true, Ordering::Release);
            (sent, errors, s_write)
        });
        tasks.push((send, recv, s_drain, s_errors));
    }

    for (send, recv, s_drain, s_errors) in tasks {
        let writer = match send.await {
            Ok((sent, errors, w)) => {
                out.sent += sent;
                out.errors.merge(errors);
                Some(w)
            }
            Err(e) => {
                out.errors.add(&format!("sender panicked: {e}"));
                None
            }
        };
        match recv.await {
            Ok(r) => {
                out.delivered += r.in_window;
                out.lost += r.lost;
                out.errors.merge(r.errors);
                out.latency.merge(r.latency);
            }
            Err(e) => out.errors.add(&format!("receiver panicked: {e}")),
        }
        s_drain.abort();
        if let Ok(mut e) = s_errors.lock() {
            out.errors.merge(std::mem::take(&mut *e));
        }
        drop(writer);
    }
    out.elapsed = a.duration;
    out
}

struct Received {
    in_window: u64,
    lost: u64,
    errors: Errors,
    latency: Samples,
}

async fn receive(
    mut r: SplitReader,
    p: Arc<Pair>,
    clock: Instant,
    end: Instant,
    drain_until: Instant,
) -> Received {
    let mut out = Received {
        in_window: 0,
        lost: 0,
        errors: Errors::default(),
        latency: Samples::default(),
    };
    let mut total: u64 = 0;
    loop {
        let mut got = 0u64;
        while let Some(f) = r.rx.next_frame() {
            let Frame::Element(range) = f else {
                if matches!(f, Frame::StreamClose) {
                    out.errors.add("receiver: server closed the stream");
                }
                continue;
            };
            let el = &r.rx.bytes()[range];
            match wire::element_name(el) {
                b"message" => {
                    if wire::attr(el, "type") == Some(b"error") {
                        out.errors.add("receiver: message of type error");
                        continue;
                    }
                    got += 1;
                    let now = Instant::now();
                    if now <= end {
                        out.in_window += 1;
                        if let Some(ts) = body_ts(el) {
                            let now_us = now.duration_since(clock).as_micros() as u64;
                            out.latency.0.push(now_us.saturating_sub(ts));
                        }
                    }
                }
                name if name.ends_with(b":error") => {
                    out.errors
                        .add(&format!("receiver: {}", String::from_utf8_lossy(el)));
                }
                _ => {}
            }
        }
        if got > 0 {
            total += got;
            p.received.store(total, Ordering::Release);
            p.acked.notify_one();
        }
        if p.done.load(Ordering::Acquire) && total >= p.sent_total.load(Ordering::Acquire) {
            break;
        }
        if Instant::now() >= drain_until {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), r.fill()).await {
            Err(_) => continue,
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => {
                out.errors.add("receiver: connection closed");
                break;
            }
            Ok(Err(e)) => {
                out.errors.add(&format!("receiver: {e}"));
                break;
            }
        }
    }
    if p.done.load(Ordering::Acquire) {
        out.lost = p.sent_total.load(Ordering::Acquire).saturating_sub(total);
    }
    out
}

/// The send timestamp: `<body>T0000000000001234 ...`.
fn body_ts(el: &[u8]) -> Option<u64> {
    let at = wire::find(el, b"<body>T")? + 7;
    let digits = el.get(at..at + 16)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

async fn drain_errors(mut r: SplitReader, errors: Arc<Mutex<Errors>>) {
    loop {
        while let Some(f) = r.rx.next_frame() {
            if let Frame::Element(range) = f {
                let el = &r.rx.bytes()[range];
                let is_error = wire::attr(el, "type") == Some(b"error")
                    || wire::element_name(el).ends_with(b":error");
                if is_error && let Ok(mut e) = errors.lock() {
                    e.add(&format!("sender got: {}", String::from_utf8_lossy(el)));
                }
            }
        }
        match r.fill().await {
            Ok(true) => {}
            _ => return,
        }
    }
}
