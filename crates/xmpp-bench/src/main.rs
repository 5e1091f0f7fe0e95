//! `xmpp-load`: a load generator for XMPP c2s servers over plain TCP
//! (no TLS), for side-by-side runs of meet-rs xmpp-server and Prosody on
//! loopback. See docs/performance.md and tests/bench/run.sh.
//!
//! ```text
//! xmpp-load logins   --addr 127.0.0.1:5222 --domain anon.bench --mech anonymous --concurrency 16 --duration 10
//! xmpp-load messages --addr 127.0.0.1:5222 --domain anon.bench --pairs 16 --duration 10 --size 100
//! xmpp-load muc-fanout --addr 127.0.0.1:5222 --domain anon.bench --muc conference.bench --occupants 50 --kind message
//! xmpp-load muc-join   --addr 127.0.0.1:5222 --domain anon.bench --muc conference.bench --occupants 200
//! xmpp-load muc-churn  --addr 127.0.0.1:5222 --domain anon.bench --muc conference.bench --cycles 10000 --server-pid PID
//! ```
//!
//! Each run prints a human-readable summary on stderr and one
//! machine-readable `RESULT key=value ...` line on stdout.

mod logins;
mod messages;
mod muc;
mod session;
mod stats;
mod wire;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use session::Mech;

#[derive(Parser)]
#[command(
    name = "xmpp-load",
    about = "XMPP c2s load generator (logins/s, messages/s, MUC fan-out, joins and room churn)"
)]
struct Cli {
    /// Tokio worker threads of the load generator.
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// Server c2s address (plain TCP).
    #[arg(long, default_value = "127.0.0.1:5222")]
    addr: String,
    /// Virtual host to log in to.
    #[arg(long, default_value = "anon.bench")]
    domain: String,
    /// SASL mechanism.
    #[arg(long, value_enum, default_value_t = Mech::Anonymous)]
    mech: Mech,
    /// PLAIN user names are PREFIX0..PREFIX(users-1).
    #[arg(long, default_value = "u")]
    user_prefix: String,
    /// Number of pre-registered PLAIN users (default: one per connection).
    #[arg(long)]
    users: Option<usize>,
    /// PLAIN password (the same for every user).
    #[arg(long, default_value = "p")]
    password: String,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds to wait for any single server response.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Connect, SASL, restart, bind, close, repeatedly.
    Logins {
        #[command(flatten)]
        common: Common,
        /// Parallel login loops.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Chat messages between pairs of logged-in clients.
    Messages {
        #[command(flatten)]
        common: Common,
        /// Sender/receiver pairs.
        #[arg(long, default_value_t = 1)]
        pairs: usize,
        /// Body size in bytes (at least 18: the timestamp).
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Unacknowledged (sent, not yet received) messages per pair.
        #[arg(long, default_value_t = 64)]
        window: u64,
    },
    /// Groupchat messages or presence updates fanned out to one room's occupants.
    MucFanout {
        #[command(flatten)]
        common: Common,
        /// MUC service domain.
        #[arg(long, default_value = "conference.bench")]
        muc: String,
        /// Occupants of the room (one client each), senders included.
        #[arg(long, default_value_t = 10)]
        occupants: usize,
        /// How many of the occupants send.
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// Groupchat messages or presence updates.
        #[arg(long, value_enum, default_value_t = muc::FanKind::Message)]
        kind: muc::FanKind,
        /// Message body size in bytes (at least 23: the stamp).
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Stanzas per sender not yet delivered to every occupant.
        #[arg(long, default_value_t = 8)]
        window: u64,
    },
    /// Join time into a room of N-1 occupants: repeated join/leave of the Nth.
    MucJoin {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "conference.bench")]
        muc: String,
        /// Room size including the joining client.
        #[arg(long, default_value_t = 200)]
        occupants: usize,
        /// Stop after this many join/leave cycles (or --duration).
        #[arg(long, default_value_t = 100_000)]
        max_joins: u64,
    },
    /// One client creates (joins) a fresh room and leaves it, N times;
    /// server memory at checkpoints. --duration is not used.
    MucChurn {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "conference.bench")]
        muc: String,
        #[arg(long, default_value_t = 10_000)]
        cycles: u64,
        /// Read the server's VmRSS (and metrics) every this many cycles.
        #[arg(long, default_value_t = 1_000)]
        checkpoint: u64,
        /// Server process id, for VmRSS from /proc/PID/status.
        #[arg(long)]
        server_pid: Option<u32>,
        /// meet-rs HTTP address (127.0.0.1:PORT) to read xmpp_muc_rooms from /metrics.
        #[arg(long)]
        metrics: Option<String>,
        /// Milliseconds to wait after the last cycle before the final reading.
        #[arg(long, default_value_t = 1_000)]
        settle_ms: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        time_limit: u64,
    },
}

fn muc_login(c: &Common, sessions: usize) -> muc::Login {
    muc::Login {
        addr: c.addr.clone(),
        domain: c.domain.clone(),
        mech: c.mech,
        user_prefix: c.user_prefix.clone(),
        users: c.users.unwrap_or(sessions),
        password: c.password.clone(),
        timeout: Duration::from_secs(c.timeout),
    }
}

/// CPU seconds (user + system, all threads) this process has used so far,
/// from /proc/self/stat (USER_HZ is 100 on Linux); 0 where unavailable.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line, i.e. 12 and 13 after it.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xmpp-load: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        match cli.command {
            Cmd::Logins {
                common: c,
                concurrency,
            } => {
                let mut o = logins::run(logins::Args {
                    addr: c.addr.clone(),
                    domain: c.domain.clone(),
                    mech: c.mech,
                    user_prefix: c.user_prefix.clone(),
                    users: c.users.unwrap_or(concurrency),
                    password: c.password.clone(),
                    concurrency,
                    duration: Duration::from_secs(c.duration),
                    timeout: Duration::from_secs(c.timeout),
                })
                .await;
                let secs = o.elapsed.as_secs_f64();
                let cpu = cpu_seconds() / secs * 100.0;
                let rate = o.ok as f64 / secs;
                let (p50, p99) = (o.latency.quantile_ms(0.50), o.latency.quantile_ms(0.99));
                eprintln!(
                    "logins: {} ok in {secs:.2}s = {rate:.1}/s, latency p50 {} ms p99 {} ms, {} errors, {} close errors (concurrency {concurrency}, {:?})",
                    o.ok,
                    fmt_ms(p50),
                    fmt_ms(p99),
                    o.errors.total(),
                    o.close_errors.total(),
                    c.mech
                );
                o.errors.print();
                o.close_errors.print();
                println!(
                    "RESULT scenario=logins mech={:?} concurrency={concurrency} ok={} secs={secs:.3} rate={rate:.1} p50_ms={} p99_ms={} errors={} close_errors={} client_cpu_pct={cpu:.0}",
                    c.mech,
                    o.ok,
                    fmt_ms(p50),
                    fmt_ms(p99),
                    o.errors.total(),
                    o.close_errors.total()
                );
                if o.ok == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
            }
            Cmd::Messages {
                common: c,
                pairs,
                size,
                window,
            } => {
                let mut o = messages::run(messages::Args {
                    addr: c.addr.clone(),
                    domain: c.domain.clone(),
                    mech: c.mech,
                    user_prefix: c.user_prefix.clone(),
                    users: c.users.unwrap_or(pairs * 2),
                    password: c.password.clone(),
                    pairs,
                    duration: Duration::from_secs(c.duration),
                    size,
                    window: window.max(1),
                    timeout: Duration::from_secs(c.timeout),
                })
                .await;
                let secs = o.elapsed.as_secs_f64();
                let cpu = cpu_seconds() / secs * 100.0;
                let rate = o.delivered as f64 / secs;
                let (p50, p99) = (o.latency.quantile_ms(0.50), o.latency.quantile_ms(0.99));
                eprintln!(
                    "messages: {} delivered ({} sent, {} lost) in {secs:.2}s = {rate:.1}/s, latency p50 {} ms p99 {} ms, {} errors (pairs {pairs}, window {window}, body {size} B)",
                    o.delivered,
                    o.sent,
                    o.lost,
                    fmt_ms(p50),
                    fmt_ms(p99),
                    o.errors.total()
                );
                o.errors.print();
                println!(
                    "RESULT scenario=messages pairs={pairs} size={size} window={window} delivered={} sent={} lost={} secs={secs:.3} rate={rate:.1} p50_ms={} p99_ms={} errors={} client_cpu_pct={cpu:.0}",
                    o.delivered,
                    o.sent,
                    o.lost,
                    fmt_ms(p50),
                    fmt_ms(p99),
                    o.errors.total()
                );
                if o.delivered == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
            }
            Cmd::MucFanout {
                common: c,
                muc: domain,
                occupants,
                senders,
                kind,
                size,
                window,
            } => {
                let a = muc::FanoutArgs {
                    login: muc_login(&c, occupants),
                    muc: domain,
                    occupants,
                    senders,
                    kind,
                    size,
                    window,
                    duration: Duration::from_secs(c.duration),
                };
                let o = muc::fanout(&a).await;
                muc::report_fanout(&a, o)
            }
            Cmd::MucJoin {
                common: c,
                muc: domain,
                occupants,
                max_joins,
            } => {
                let a = muc::JoinArgs {
                    login: muc_login(&c, occupants),
                    muc: domain,
                    occupants,
                    duration: Duration::from_secs(c.duration),
                    max_joins,
                };
                let o = muc::join_leave(&a).await;
                muc::report_join(&a, o)
            }
            Cmd::MucChurn {
                common: c,
                muc: domain,
                cycles,
                checkpoint,
                server_pid,
                metrics,
                settle_ms,
                time_limit,
            } => {
                let a = muc::ChurnArgs {
                    login: muc_login(&c, 1),
                    muc: domain,
                    cycles,
                    checkpoint,
                    server_pid,
                    metrics,
                    settle: Duration::from_millis(settle_ms),
                    time_limit: Duration::from_secs(time_limit),
                };
                let o = muc::churn(&a).await;
                muc::report_churn(&a, o)
            }
        }
    })
}
