//! `meetctl`: the operator's tool. Today: `up`, a complete localhost
//! deployment (configs, secrets, certificates, service accounts) run in the
//! foreground with each daemon's log lines prefixed by its name. Later
//! issues add `setup`, `import` and `status`.

mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "meetctl", version, about = "meet-rs control tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a localhost deployment in a state folder and run every daemon
    /// in the foreground until Ctrl-C.
    Up {
        /// Where configs, secrets, certificates and data live.
        #[arg(long, default_value = ".meet-state")]
        state: PathBuf,
        /// XMPP domain of the deployment.
        #[arg(long, default_value = "localhost")]
        domain: String,
        /// Only write the deployment, do not run it.
        #[arg(long)]
        generate_only: bool,
        /// Client (c2s) port of xmpp-server.
        #[arg(long, default_value_t = 5222)]
        c2s_port: u16,
        /// HTTP port of xmpp-server (BOSH, WebSocket).
        #[arg(long, default_value_t = 5280)]
        http_port: u16,
        /// XEP-0114 component port of xmpp-server (loopback).
        #[arg(long, default_value_t = 5347)]
        component_port: u16,
        /// The videobridge's media port (UDP, every endpoint).
        #[arg(long, default_value_t = 10000)]
        jvb_udp_port: u16,
        /// The videobridge's HTTP port (health, stats, colibri-ws; loopback).
        #[arg(long, default_value_t = 8080)]
        jvb_http_port: u16,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            state,
            domain,
            generate_only,
            c2s_port,
            http_port,
            component_port,
            jvb_udp_port,
            jvb_http_port,
        } => up::run(
            &state,
            &domain,
            generate_only,
            up::Ports {
                c2s: c2s_port,
                http: http_port,
                component: component_port,
                jvb_udp: jvb_udp_port,
                jvb_http: jvb_http_port,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meetctl: {e}");
            ExitCode::FAILURE
        }
    }
}
