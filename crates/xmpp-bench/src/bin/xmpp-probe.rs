//! `xmpp-probe`: sequential XEP-0199 pings through tokio-xmpp's `Client` over
//! plain TCP (no TLS), to tell whether a lost IQ result is the client's fault
//! or the server's. Run it against any server on loopback:
//!
//! ```text
//! xmpp-probe --addr 127.0.0.1:5222 --domain meet.test --count 300
//! ```
//!
//! Exit status 0 when every ping got its result, 1 when one hung.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use tokio_xmpp::connect::{DnsConfig, TcpServerConnector};
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Client, Event, Stanza};
use xmpp_parsers::jid::BareJid;

#[derive(Parser)]
#[command(name = "xmpp-probe")]
struct Cli {
    /// Server c2s address (loopback).
    #[arg(long, default_value = "127.0.0.1:5222")]
    addr: String,
    /// Anonymous virtual host.
    #[arg(long, default_value = "meet.test")]
    domain: String,
    /// Pings per run.
    #[arg(long, default_value_t = 300)]
    count: usize,
    /// Runs (each a fresh client).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Seconds to wait for each result before declaring a hang.
    #[arg(long, default_value_t = 5)]
    wait: u64,
    /// Use a current-thread tokio runtime instead of two worker threads.
    #[arg(long)]
    single_thread: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = if cli.single_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    match rt {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => {
            eprintln!("xmpp-probe: runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> std::process::ExitCode {
    let mut hangs = 0usize;
    for run in 0..cli.runs {
        match probe(&cli).await {
            Ok(elapsed) => println!(
                "run {run}: {} pings OK in {:.3}s",
                cli.count,
                elapsed.as_secs_f64()
            ),
            Err(e) => {
                hangs += 1;
                println!("run {run}: {e}");
            }
        }
    }
    println!("{hangs}/{} runs hung", cli.runs);
    if hangs == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn probe(cli: &Cli) -> Result<Duration, String> {
    let jid: BareJid = format!("anon@{}", cli.domain)
        .parse()
        .map_err(|e| format!("bad domain: {e}"))?;
    let connector = TcpServerConnector::from(DnsConfig::addr(&cli.addr));
    let mut c = Client::new_with_connector(jid, "", connector, Timeouts::tight());
    match tokio::time::timeout(Duration::from_secs(10), c.next()).await {
        Ok(Some(Event::Online { .. })) => {}
        Ok(o) => return Err(format!("login failed: {o:?}")),
        Err(_) => return Err("login timed out".into()),
    }
    let start = Instant::now();
    for i in 0..cli.count {
        let el: minidom::Element = format!(
            "<iq xmlns='jabber:client' type='get' id='p{i}' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
            cli.domain
        )
        .parse()
        .map_err(|e| format!("build ping: {e}"))?;
        let iq = el.try_into().map_err(|e| format!("build iq: {e:?}"))?;
        c.send_stanza(Stanza::Iq(iq))
            .await
            .map_err(|e| format!("send {i}: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(cli.wait), c.next()).await {
            Ok(Some(Event::Stanza(_))) => {}
            Ok(o) => return Err(format!("ping {i}: unexpected {o:?}")),
            Err(_) => return Err(format!("hang at ping {i}")),
        }
    }
    let elapsed = start.elapsed();
    let _ = c.send_end().await;
    Ok(elapsed)
}
