//! XEP-0045 (MUC) scenarios against a MUC service such as `conference.bench`:
//!
//! - **muc-fanout**: `occupants` clients join one room; the first `senders`
//!   of them post groupchat messages (or presence updates) as fast as a
//!   window of unacknowledged stanzas per sender allows. Every occupant,
//!   senders included, receives each one, so one stanza is `occupants`
//!   deliveries. The body (or `<status>`) starts with the send time and
//!   the sender's index, so receivers measure delivery latency on the
//!   process's one clock.
//! - **muc-join**: `occupants - 1` clients sit in a room; one more client
//!   joins and leaves repeatedly. The join time runs from sending the join
//!   presence to the self-presence (status 110).
//! - **muc-churn**: one client joins a fresh room and leaves, `cycles`
//!   times (each leave destroys the room); the server's VmRSS is read from
//!   /proc at checkpoints, and meet-rs's `/metrics` if given.
//!
//! Clients join with `<x xmlns='http://jabber.org/protocol/muc'/>` and a
//! Jitsi-like presence payload (nick, caps, audio/video muted).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

use crate::session::{self, LoginSpec, Mech};
use crate::stats::{Errors, Samples};
use crate::wire::{self, Conn, Frame, SplitReader};

/// Who logs in (one anonymous or PLAIN session per occupant).
#[derive(Clone)]
pub struct Login {
    pub addr: String,
    pub domain: String,
    pub mech: Mech,
    pub user_prefix: String,
    /// Pre-registered PLAIN users; sessions share them round-robin.
    pub users: usize,
    pub password: String,
    pub timeout: Duration,
}

impl Login {
    fn spec(&self, i: usize) -> LoginSpec {
        LoginSpec {
            addr: self.addr.clone(),
            domain: self.domain.clone(),
            mech: self.mech,
            user: format!("{}{}", self.user_prefix, i % self.users.max(1)),
            password: self.password.clone(),
            timeout: self.timeout,
        }
    }
}

/// What the groupchat senders post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FanKind {
    /// `<message type='groupchat'>` with a body.
    Message,
    /// Presence updates (`<status>` changes) to the sender's occupant JID.
    Presence,
}

/// Log `n` clients in, at most 32 at a time (not measured).
async fn login_all(l: &Login, n: usize, errors: &mut Errors) -> Option<Vec<Conn>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let spec = l.spec(i);
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            session::login(&spec).await.map(|(c, _jid)| c)
        }));
    }
    let mut conns = Vec::with_capacity(n);
    for t in tasks {
        match t.await {
            Ok(Ok(c)) => conns.push(c),
            Ok(Err(e)) => errors.add(&format!("setup: login: {e}")),
            Err(e) => errors.add(&format!("setup: login task: {e}")),
        }
    }
    (conns.len() == n).then_some(conns)
}

/// A room name nobody used before (lower case, so the `from` of what the
/// room sends matches byte for byte).
fn unique_room(prefix: &str, muc: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{:x}-{:x}@{muc}", std::process::id(), nanos)
}

/// What a Jitsi client puts in its MUC presence, roughly.
fn payload(nick: &str) -> String {
    format!(
        "<nick xmlns='http://jabber.org/protocol/nick'>{nick}</nick>\
         <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
         node='https://jitsi.org/jitsi-meet' ver='cvjWXufsg4xT62Ec2mlATkFZ9lk='/>\
         <audiomuted>false</audiomuted><videomuted>true</videomuted>"
    )
}

fn lossy(el: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(el).into_owned();
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn has_status(el: &[u8], code: u16) -> bool {
    wire::find(el, format!("code='{code}'").as_bytes()).is_some()
        || wire::find(el, format!("code=\"{code}\"").as_bytes()).is_some()
}

fn is_error(el: &[u8]) -> bool {
    wire::attr(el, "type") == Some(b"error") || wire::element_name(el).ends_with(b":error")
}

/// Send a join presence and read until the self-presence (status 110).
/// Returns the presences of other occupants seen before it, and the time
/// from the send to the self-presence.
async fn join(
    c: &mut Conn,
    room: &str,
    nick: &str,
    id: &str,
    t: Duration,
) -> Result<(usize, Duration), String> {
    let me = format!("{room}/{nick}");
    let stanza = format!(
        "<presence to='{me}' id='{id}'><x xmlns='http://jabber.org/protocol/muc'/>{}</presence>",
        payload(nick)
    );
    let t0 = Instant::now();
    c.send(stanza.as_bytes())
        .await
        .map_err(|e| format!("send join: {e}"))?;
    let prefix = format!("{room}/");
    let mut others = 0;
    loop {
        let r = c
            .element(t)
            .await
            .map_err(|e| format!("join (waiting for status 110): {e}"))?;
        let el = &c.rx.bytes()[r];
        if wire::element_name(el) != b"presence" {
            continue;
        }
        let from = wire::attr(el, "from").unwrap_or_default();
        if from == me.as_bytes() {
            if is_error(el) {
                return Err(format!("join refused: {}", lossy(el)));
            }
            if wire::attr(el, "type").is_none() && has_status(el, 110) {
                return Ok((others, t0.elapsed()));
            }
        } else if from.starts_with(prefix.as_bytes()) && wire::attr(el, "type").is_none() {
            others += 1;
        }
    }
}

/// Send unavailable presence and read until the unavailable self-presence.
/// `on_other` sees every other element read meanwhile.
async fn leave(
    c: &mut Conn,
    room: &str,
    nick: &str,
    t: Duration,
    mut on_other: impl FnMut(&[u8]),
) -> Result<Duration, String> {
    let me = format!("{room}/{nick}");
    let t0 = Instant::now();
    c.send(format!("<presence to='{me}' type='unavailable'/>").as_bytes())
        .await
        .map_err(|e| format!("send leave: {e}"))?;
    loop {
        let r = c
            .element(t)
            .await
            .map_err(|e| format!("leave (waiting for unavailable 110): {e}"))?;
        let el = &c.rx.bytes()[r];
        if wire::element_name(el) == b"presence"
            && wire::attr(el, "from") == Some(me.as_bytes())
            && wire::attr(el, "type") == Some(b"unavailable")
            && has_status(el, 110)
        {
            return Ok(t0.elapsed());
        }
        on_other(el);
    }
}

// ------------------------------------------------------------ muc-fanout ---

pub struct FanoutArgs {
    pub login: Login,
    pub muc: String,
    pub occupants: usize,
    pub senders: usize,
    pub kind: FanKind,
    pub size: usize,
    pub window: u64,
    pub duration: Duration,
}

pub struct FanoutOutcome {
    /// Deliveries (stanza × receiving occupant) read during the window.
    pub delivered: u64,
    /// Stanzas the senders sent during the window.
    pub sent: u64,
    /// Deliveries still missing after the drain period.
    pub lost: u64,
    pub errors: Errors,
    pub latency: Samples,
    pub elapsed: Duration,
    /// Seconds spent logging in and joining (not measured).
    pub setup_secs: f64,
}

/// State shared by the senders and the occupants' readers.
struct Fan {
    occupants: u64,
    /// Per sender: deliveries of its stanzas, summed over all occupants.
    delivered: Vec<AtomicU64>,
    progress: Vec<Notify>,
    /// End of the measured window, µs on the shared clock.
    end_us: AtomicU64,
    stop: AtomicBool,
}

struct ReaderOut {
    in_window: u64,
    latency: Samples,
    errors: Errors,
}

/// The stamp `T<16 digits>S<4 digits>` right after `<tag>`.
fn stamp(el: &[u8], open: &[u8]) -> Option<(u64, usize)> {
    let at = wire::find(el, open)? + open.len();
    let s = el.get(at..at + 22)?;
    if s[0] != b'T' || s[17] != b'S' {
        return None;
    }
    let ts = std::str::from_utf8(&s[1..17]).ok()?.parse().ok()?;
    let sender = std::str::from_utf8(&s[18..22]).ok()?.parse().ok()?;
    Some((ts, sender))
}

async fn fan_reader(mut r: SplitReader, fan: Arc<Fan>, kind: FanKind, clock: Instant) -> ReaderOut {
    let mut out = ReaderOut {
        in_window: 0,
        latency: Samples::default(),
        errors: Errors::default(),
    };
    let (name, open): (&[u8], &[u8]) = match kind {
        FanKind::Message => (b"message", b"<body>"),
        FanKind::Presence => (b"presence", b"<status>"),
    };
    let mut got = vec![0u64; fan.delivered.len()];
    loop {
        while let Some(f) = r.rx.next_frame() {
            let Frame::Element(range) = f else {
                if f == Frame::StreamClose {
                    out.errors.add("occupant: server closed the stream");
                }
                continue;
            };
            let el = &r.rx.bytes()[range];
            if is_error(el) {
                out.errors.add(&format!("occupant got: {}", lossy(el)));
                continue;
            }
            if wire::element_name(el) != name {
                continue;
            }
            let Some((ts, s)) = stamp(el, open) else {
                continue;
            };
            if let Some(g) = got.get_mut(s) {
                *g += 1;
            }
            let now_us = clock.elapsed().as_micros() as u64;
            if now_us <= fan.end_us.load(Ordering::Relaxed) {
                out.in_window += 1;
                out.latency.0.push(now_us.saturating_sub(ts));
            }
        }
        for (s, g) in got.iter_mut().enumerate() {
            if *g > 0 {
                fan.delivered[s].fetch_add(*g, Ordering::AcqRel);
                fan.progress[s].notify_one();
                *g = 0;
            }
        }
        if fan.stop.load(Ordering::Acquire) {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), r.fill()).await {
            Err(_) | Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                out.errors.add("occupant: connection closed");
                break;
            }
            Ok(Err(e)) => {
                out.errors.add(&format!("occupant: {e}"));
                break;
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn fan_sender(
    mut w: OwnedWriteHalf,
    fan: Arc<Fan>,
    s: usize,
    me: String,
    kind: FanKind,
    size: usize,
    window: u64,
    clock: Instant,
    end: Instant,
) -> (u64, Errors, OwnedWriteHalf) {
    let mut errors = Errors::default();
    let mut sent: u64 = 0;
    let mut buf = Vec::with_capacity(window as usize * (size + 400));
    let (room, nick) = me.rsplit_once('/').unwrap_or((&me, ""));
    let extra = payload(nick);
    let mut last_progress = Instant::now();
    while Instant::now() < end {
        // A stanza counts as acknowledged once `occupants` deliveries of
        // this sender's stanzas have been read (conservative: rounds down).
        let acked = fan.delivered[s].load(Ordering::Acquire) / fan.occupants;
        let inflight = sent.saturating_sub(acked);
        if inflight >= window {
            let wait = tokio::time::timeout(Duration::from_millis(100), fan.progress[s].notified());
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
            // Writing to a Vec cannot fail.
            match kind {
                FanKind::Message => {
                    let _ = write!(
                        buf,
                        "<message to='{room}' type='groupchat' id='m{sent}'><body>T{ts:016}S{s:04} "
                    );
                    buf.extend(std::iter::repeat_n(b'x', size.saturating_sub(23)));
                    buf.extend_from_slice(b"</body></message>");
                }
                FanKind::Presence => {
                    let _ = write!(
                        buf,
                        "<presence to='{me}' id='p{sent}'>{extra}<status>T{ts:016}S{s:04}</status></presence>"
                    );
                }
            }
            sent += 1;
        }
        if let Err(e) = w.write_all(&buf).await {
            errors.add(&format!("send: {e}"));
            break;
        }
    }
    (sent, errors, w)
}

pub async fn fanout(a: &FanoutArgs) -> FanoutOutcome {
    let mut out = FanoutOutcome {
        delivered: 0,
        sent: 0,
        lost: 0,
        errors: Errors::default(),
        latency: Samples::default(),
        elapsed: Duration::ZERO,
        setup_secs: 0.0,
    };
    let n = a.occupants.max(1);
    let senders = a.senders.clamp(1, n);
    let t_setup = Instant::now();
    let Some(conns) = login_all(&a.login, n, &mut out.errors).await else {
        return out;
    };
    let room = unique_room("fanout", &a.muc);
    let clock = Instant::now();
    let fan = Arc::new(Fan {
        occupants: n as u64,
        delivered: (0..senders).map(|_| AtomicU64::new(0)).collect(),
        progress: (0..senders).map(|_| Notify::new()).collect(),
        end_us: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
    });
    // Join one at a time; from then on each occupant's reader runs.
    let mut readers = Vec::with_capacity(n);
    let mut writers = Vec::with_capacity(n);
    for (i, mut c) in conns.into_iter().enumerate() {
        let nick = format!("o{i}");
        if let Err(e) = join(&mut c, &room, &nick, &format!("j{i}"), a.login.timeout).await {
            out.errors.add(&format!("setup: {e}"));
            return out;
        }
        let (r, w) = c.into_split();
        readers.push(tokio::spawn(fan_reader(r, fan.clone(), a.kind, clock)));
        writers.push((format!("{room}/{nick}"), w));
    }
    // Let the join broadcasts drain before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    out.setup_secs = t_setup.elapsed().as_secs_f64();

    let start = Instant::now();
    let end = start + a.duration;
    fan.end_us.store(
        end.duration_since(clock).as_micros() as u64,
        Ordering::Release,
    );
    let mut tasks = Vec::new();
    let mut idle = Vec::new();
    for (s, (me, w)) in writers.into_iter().enumerate() {
        if s < senders {
            tasks.push(tokio::spawn(fan_sender(
                w,
                fan.clone(),
                s,
                me,
                a.kind,
                a.size,
                a.window.max(1),
                clock,
                end,
            )));
        } else {
            idle.push(w);
        }
    }
    let mut keep = Vec::new();
    for t in tasks {
        match t.await {
            Ok((sent, e, w)) => {
                out.sent += sent;
                out.errors.merge(e);
                keep.push(w);
            }
            Err(e) => out.errors.add(&format!("sender panicked: {e}")),
        }
    }
    out.elapsed = a.duration;
    // Drain: wait (bounded) until every stanza reached every occupant.
    let expected = out.sent * n as u64;
    let drain_until = Instant::now() + Duration::from_secs(5);
    let total = |fan: &Fan| -> u64 {
        fan.delivered
            .iter()
            .map(|d| d.load(Ordering::Acquire))
            .sum()
    };
    while total(&fan) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.lost = expected.saturating_sub(total(&fan));
    fan.stop.store(true, Ordering::Release);
    for r in readers {
        match r.await {
            Ok(r) => {
                out.delivered += r.in_window;
                out.latency.merge(r.latency);
                out.errors.merge(r.errors);
            }
            Err(e) => out.errors.add(&format!("reader panicked: {e}")),
        }
    }
    drop(keep);
    drop(idle);
    out
}

// -------------------------------------------------------------- muc-join ---

pub struct JoinArgs {
    pub login: Login,
    pub muc: String,
    /// Room size with the joiner (199 present + 1 joining = 200).
    pub occupants: usize,
    pub duration: Duration,
    pub max_joins: u64,
}

pub struct JoinOutcome {
    pub joins: u64,
    /// Join presence sent → self-presence (110) read.
    pub join_latency: Samples,
    /// Join presence sent → subject message read (end of the join sequence).
    pub subject_latency: Samples,
    /// Unavailable sent → unavailable self-presence read.
    pub leave_latency: Samples,
    /// Presences of other occupants before the self-presence (min, max).
    pub others: (usize, usize),
    pub errors: Errors,
    pub elapsed: Duration,
    pub setup_secs: f64,
}

/// Read and discard what an idle occupant receives, counting errors.
async fn drain(mut r: SplitReader, stop: Arc<AtomicBool>) -> Errors {
    let mut errors = Errors::default();
    loop {
        while let Some(f) = r.rx.next_frame() {
            if let Frame::Element(range) = f {
                let el = &r.rx.bytes()[range];
                if is_error(el) {
                    errors.add(&format!("occupant got: {}", lossy(el)));
                }
            }
        }
        if stop.load(Ordering::Acquire) {
            return errors;
        }
        match tokio::time::timeout(Duration::from_millis(100), r.fill()).await {
            Err(_) | Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                errors.add("occupant: connection closed");
                return errors;
            }
            Ok(Err(e)) => {
                errors.add(&format!("occupant: {e}"));
                return errors;
            }
        }
    }
}

pub async fn join_leave(a: &JoinArgs) -> JoinOutcome {
    let mut out = JoinOutcome {
        joins: 0,
        join_latency: Samples::default(),
        subject_latency: Samples::default(),
        leave_latency: Samples::default(),
        others: (usize::MAX, 0),
        errors: Errors::default(),
        elapsed: Duration::ZERO,
        setup_secs: 0.0,
    };
    let n = a.occupants.max(1);
    let t_setup = Instant::now();
    let Some(mut conns) = login_all(&a.login, n, &mut out.errors).await else {
        return out;
    };
    let Some(mut joiner) = conns.pop() else {
        return out;
    };
    let room = unique_room("join", &a.muc);
    let stop = Arc::new(AtomicBool::new(false));
    let mut drains = Vec::new();
    let mut writers = Vec::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        if let Err(e) = join(
            &mut c,
            &room,
            &format!("o{i}"),
            &format!("j{i}"),
            a.login.timeout,
        )
        .await
        {
            out.errors.add(&format!("setup: {e}"));
            return out;
        }
        let (r, w) = c.into_split();
        drains.push(tokio::spawn(drain(r, stop.clone())));
        writers.push(w);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    out.setup_secs = t_setup.elapsed().as_secs_f64();

    let nick = "joiner";
    let me = format!("{room}/{nick}");
    let start = Instant::now();
    let end = start + a.duration;
    while Instant::now() < end && out.joins < a.max_joins {
        let t0 = Instant::now();
        match join(
            &mut joiner,
            &room,
            nick,
            &format!("k{}", out.joins),
            a.login.timeout,
        )
        .await
        {
            Ok((others, took)) => {
                out.join_latency.0.push(took.as_micros() as u64);
                out.others = (out.others.0.min(others), out.others.1.max(others));
            }
            Err(e) => {
                out.errors.add(&e);
                break;
            }
        }
        let mut subject_at = None;
        let left = leave(&mut joiner, &room, nick, a.login.timeout, |el| {
            if subject_at.is_none()
                && wire::element_name(el) == b"message"
                && wire::find(el, b"<subject").is_some()
                && wire::attr(el, "from")
                    .is_some_and(|f| f == room.as_bytes() || f.starts_with(me.as_bytes()))
            {
                subject_at = Some(t0.elapsed());
            }
        })
        .await;
        if let Some(t) = subject_at {
            out.subject_latency.0.push(t.as_micros() as u64);
        }
        match left {
            Ok(took) => out.leave_latency.0.push(took.as_micros() as u64),
            Err(e) => {
                out.errors.add(&e);
                break;
            }
        }
        out.joins += 1;
    }
    out.elapsed = start.elapsed();
    stop.store(true, Ordering::Release);
    for d in drains {
        match d.await {
            Ok(e) => out.errors.merge(e),
            Err(e) => out.errors.add(&format!("drain panicked: {e}")),
        }
    }
    drop(writers);
    if out.others.0 == usize::MAX {
        out.others.0 = 0;
    }
    out
}

// ------------------------------------------------------------- muc-churn ---

pub struct ChurnArgs {
    pub login: Login,
    pub muc: String,
    pub cycles: u64,
    /// Read RSS (and metrics) every this many cycles.
    pub checkpoint: u64,
    pub server_pid: Option<u32>,
    /// meet-rs HTTP address (`127.0.0.1:PORT`) for `/metrics`.
    pub metrics: Option<String>,
    /// Wait after the last cycle before the final readings.
    pub settle: Duration,
    pub time_limit: Duration,
}

/// One reading: after `cycles` cycles.
pub struct Checkpoint {
    pub cycles: u64,
    pub rss_kib: Option<u64>,
    pub rooms: Option<f64>,
    pub occupants: Option<f64>,
}

pub struct ChurnOutcome {
    pub cycles: u64,
    /// One join + leave.
    pub latency: Samples,
    pub checkpoints: Vec<Checkpoint>,
    /// After `settle`.
    pub settled: Checkpoint,
    pub errors: Errors,
    pub elapsed: Duration,
}

/// VmRSS of a process in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// GET /metrics over plain HTTP/1.1; the values of `names`.
async fn metrics(addr: &str, names: &[&str]) -> Result<Vec<Option<f64>>, String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(3), fetch)
        .await
        .map_err(|_| "metrics: timed out".to_string())?
        .map_err(|e| format!("metrics: {e}"))?;
    let text = String::from_utf8_lossy(&body);
    Ok(names
        .iter()
        .map(|name| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == *name).then(|| v.trim().parse().ok())?
            })
        })
        .collect())
}

async fn checkpoint(a: &ChurnArgs, cycles: u64, errors: &mut Errors) -> Checkpoint {
    let mut cp = Checkpoint {
        cycles,
        rss_kib: a.server_pid.and_then(vm_rss_kib),
        rooms: None,
        occupants: None,
    };
    if let Some(addr) = &a.metrics {
        match metrics(addr, &["xmpp_muc_rooms", "xmpp_muc_occupants"]).await {
            Ok(v) => {
                cp.rooms = v.first().copied().flatten();
                cp.occupants = v.get(1).copied().flatten();
            }
            Err(e) => errors.add(&e),
        }
    }
    cp
}

pub async fn churn(a: &ChurnArgs) -> ChurnOutcome {
    let mut out = ChurnOutcome {
        cycles: 0,
        latency: Samples::default(),
        checkpoints: Vec::new(),
        settled: Checkpoint {
            cycles: 0,
            rss_kib: None,
            rooms: None,
            occupants: None,
        },
        errors: Errors::default(),
        elapsed: Duration::ZERO,
    };
    let Some(mut conns) = login_all(&a.login, 1, &mut out.errors).await else {
        return out;
    };
    let Some(mut c) = conns.pop() else {
        return out;
    };
    let base = unique_room("churn", &a.muc);
    let (base_node, domain) = base.split_once('@').unwrap_or((&base, &a.muc));
    let cp = checkpoint(a, 0, &mut out.errors).await;
    out.checkpoints.push(cp);
    let start = Instant::now();
    let limit = start + a.time_limit;
    let every = a.checkpoint.max(1);
    while out.cycles < a.cycles {
        if Instant::now() >= limit {
            out.errors.add("time limit reached before all cycles");
            break;
        }
        let room = format!("{base_node}-{}@{domain}", out.cycles);
        let t0 = Instant::now();
        if let Err(e) = join(&mut c, &room, "n", "j", a.login.timeout).await {
            out.errors.add(&e);
            break;
        }
        if let Err(e) = leave(&mut c, &room, "n", a.login.timeout, |_| {}).await {
            out.errors.add(&e);
            break;
        }
        out.latency.0.push(t0.elapsed().as_micros() as u64);
        out.cycles += 1;
        if out.cycles.is_multiple_of(every) {
            let cp = checkpoint(a, out.cycles, &mut out.errors).await;
            out.checkpoints.push(cp);
        }
    }
    out.elapsed = start.elapsed();
    if let Err(e) = session::close(c, a.login.timeout).await {
        out.errors.add(&format!("close: {e}"));
    }
    tokio::time::sleep(a.settle).await;
    out.settled = checkpoint(a, out.cycles, &mut out.errors).await;
    out
}

// ---------------------------------------------------------------- reports ---
//
// Each prints a summary on stderr and one `RESULT key=value ...` line on
// stdout, like the other scenarios.

fn cpu_pct(secs: f64) -> f64 {
    crate::cpu_seconds() / secs.max(1e-9) * 100.0
}

pub fn report_fanout(a: &FanoutArgs, mut o: FanoutOutcome) -> std::process::ExitCode {
    let secs = o.elapsed.as_secs_f64();
    let cpu = cpu_pct(secs + o.setup_secs);
    let rate = o.delivered as f64 / secs;
    let stanza_rate = o.sent as f64 / secs;
    let (p50, p99) = (o.latency.quantile_ms(0.50), o.latency.quantile_ms(0.99));
    let (p50, p99) = (crate::fmt_ms(p50), crate::fmt_ms(p99));
    let kind = match a.kind {
        FanKind::Message => "message",
        FanKind::Presence => "presence",
    };
    eprintln!(
        "muc-fanout: {} deliveries in {secs:.2}s = {rate:.1}/s ({} {kind} stanzas sent = {stanza_rate:.1}/s, {} deliveries lost), latency p50 {p50} ms p99 {p99} ms, {} errors (occupants {}, senders {}, window {}, setup {:.1}s)",
        o.delivered,
        o.sent,
        o.lost,
        o.errors.total(),
        a.occupants,
        a.senders,
        a.window,
        o.setup_secs
    );
    o.errors.print();
    println!(
        "RESULT scenario=muc-fanout kind={kind} occupants={} senders={} window={} size={} delivered={} sent={} lost={} secs={secs:.3} rate={rate:.1} stanza_rate={stanza_rate:.1} p50_ms={p50} p99_ms={p99} errors={} setup_secs={:.1} client_cpu_pct={cpu:.0}",
        a.occupants,
        a.senders,
        a.window,
        a.size,
        o.delivered,
        o.sent,
        o.lost,
        o.errors.total(),
        o.setup_secs
    );
    if o.delivered == 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

pub fn report_join(a: &JoinArgs, mut o: JoinOutcome) -> std::process::ExitCode {
    let secs = o.elapsed.as_secs_f64();
    let cpu = cpu_pct(secs + o.setup_secs);
    let rate = o.joins as f64 / secs.max(1e-9);
    let q = |s: &mut Samples| {
        (
            crate::fmt_ms(s.quantile_ms(0.50)),
            crate::fmt_ms(s.quantile_ms(0.99)),
        )
    };
    let (p50, p99) = q(&mut o.join_latency);
    let (s50, s99) = q(&mut o.subject_latency);
    let (l50, l99) = q(&mut o.leave_latency);
    eprintln!(
        "muc-join: {} join/leave cycles of occupant {} in {secs:.2}s = {rate:.1}/s; join (to status 110) p50 {p50} ms p99 {p99} ms; to subject p50 {s50} ms p99 {s99} ms; leave p50 {l50} ms p99 {l99} ms; {}..{} occupant presences before the self-presence; {} errors (setup {:.1}s)",
        o.joins,
        a.occupants,
        o.others.0,
        o.others.1,
        o.errors.total(),
        o.setup_secs
    );
    o.errors.print();
    println!(
        "RESULT scenario=muc-join occupants={} joins={} secs={secs:.3} rate={rate:.1} p50_ms={p50} p99_ms={p99} subject_p50_ms={s50} subject_p99_ms={s99} leave_p50_ms={l50} leave_p99_ms={l99} others_min={} others_max={} errors={} setup_secs={:.1} client_cpu_pct={cpu:.0}",
        a.occupants,
        o.joins,
        o.others.0,
        o.others.1,
        o.errors.total(),
        o.setup_secs
    );
    if o.joins == 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

pub fn report_churn(a: &ChurnArgs, mut o: ChurnOutcome) -> std::process::ExitCode {
    let secs = o.elapsed.as_secs_f64();
    let cpu = cpu_pct(secs);
    let rate = o.cycles as f64 / secs.max(1e-9);
    let (p50, p99) = (
        crate::fmt_ms(o.latency.quantile_ms(0.50)),
        crate::fmt_ms(o.latency.quantile_ms(0.99)),
    );
    let at = |n: u64| o.checkpoints.iter().find(|c| c.cycles == n);
    let rss_at = |n: u64| opt(at(n).and_then(|c| c.rss_kib));
    let half = a.cycles / 2;
    let curve: Vec<String> = o
        .checkpoints
        .iter()
        .map(|c| format!("{}:{}", c.cycles, opt(c.rss_kib)))
        .collect();
    let rooms_curve: Vec<String> = o
        .checkpoints
        .iter()
        .filter_map(|c| c.rooms.map(|r| format!("{}:{r}", c.cycles)))
        .collect();
    eprintln!(
        "muc-churn: {} create/leave cycles in {secs:.2}s = {rate:.1}/s, cycle p50 {p50} ms p99 {p99} ms; server VmRSS KiB before {} / after {half} {} / after {} {} / settled {}; xmpp_muc_rooms {} xmpp_muc_occupants {} at the end; {} errors",
        o.cycles,
        rss_at(0),
        rss_at(half),
        o.cycles,
        rss_at(o.cycles),
        opt(o.settled.rss_kib),
        opt(o.settled.rooms),
        opt(o.settled.occupants),
        o.errors.total()
    );
    eprintln!("  VmRSS KiB by cycles: {}", curve.join(" "));
    if !rooms_curve.is_empty() {
        eprintln!("  xmpp_muc_rooms by cycles: {}", rooms_curve.join(" "));
    }
    o.errors.print();
    println!(
        "RESULT scenario=muc-churn cycles={} secs={secs:.3} rate={rate:.1} p50_ms={p50} p99_ms={p99} rss_before_kib={} rss_half_kib={} rss_end_kib={} rss_settled_kib={} muc_rooms={} muc_occupants={} rss_curve={} errors={} client_cpu_pct={cpu:.0}",
        o.cycles,
        rss_at(0),
        rss_at(half),
        rss_at(o.cycles),
        opt(o.settled.rss_kib),
        opt(o.settled.rooms),
        opt(o.settled.occupants),
        curve.join(","),
        o.errors.total()
    );
    if o.cycles == a.cycles && o.errors.total() == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
