//! `xmpp-load`: a load generator for XMPP c2s servers over plain TCP
//! (no TLS), for side-by-side runs of meet-rs xmpp-server and Prosody on
//! loopback. See docs/performance.md and tests/bench/run.sh.
//!
//! ```text
//! xmpp-load logins   --addr 127.0.0.1:5222 --domain anon.bench --mech anonymous --concurrency 16 --duration 10
//! xmpp-load messages --addr 127.0.0.1:5222 --domain anon.bench --pairs 16 --duration 10 --size 100
//! ```
//!
//! Each run prints a human-readable summary on stderr and one
//! machine-readable `RESULT key=value ...` line on stdout.

mod logins;
mod messages;
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
    about = "XMPP c2s load generator (logins/s, messages/s)"
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
        }
    })
}
