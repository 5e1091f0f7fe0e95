//! `meetctl`: the operator's tool.
//!
//! - `setup` writes a production deployment (setup.rs: templates.rs makes
//!   the files, merge.rs keeps an existing file's values, certs.rs the web
//!   certificate, binaries.rs drives xmpp-server for its certificates and
//!   accounts); `adduser` adds a room creator (adduser.rs); `status` asks
//!   every daemon's health endpoint (status.rs over probe.rs). deployment.rs
//!   reads a config folder, files.rs writes with the right owner and mode.
//! - `up` runs a complete localhost deployment in the foreground for
//!   development (up.rs).
//! - `import` translates the guide's own prosody, jicofo, jvb and Apache
//!   files into the same four configs (import/).

mod adduser;
mod binaries;
mod certs;
mod daemons;
mod deployment;
mod files;
mod import;
mod merge;
mod plan;
mod probe;
mod secret;
mod setup;
mod status;
mod templates;
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
    /// Write (or complete) a deployment: the four daemons' configs with
    /// matching secrets, certificates, the focus and jvb accounts. Safe to
    /// run again: existing secrets and edits are kept.
    Setup {
        /// The deployment's domain (the guide's jitsi2.test.alt).
        #[arg(long)]
        domain: String,
        /// Only accounts (`meetctl adduser`) may open rooms; guests join
        /// through guest.DOMAIN (the guide's last section).
        #[arg(long)]
        secure: bool,
        #[arg(long, default_value = DEFAULT_CONFIG_DIR)]
        config_dir: PathBuf,
        #[arg(long, default_value = "/var/lib/meet-rs")]
        data_dir: PathBuf,
        /// meet-web's certificate (PEM, full chain) instead of a generated one.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// The private key of --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// The web app's files, meet-web's static_root.
        #[arg(long, default_value = "/usr/share/meet-rs/web")]
        static_root: PathBuf,
        /// Ports written into new config files (existing values are kept).
        #[command(flatten)]
        ports: PortArgs,
    },
    /// Add an account on DOMAIN that may open rooms (secure deployments).
    Adduser {
        user: String,
        /// Read the password from the first line of this file ("-": stdin)
        /// instead of asking on the terminal.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Default: the deployment's domain.
        #[arg(long)]
        domain: Option<String>,
        #[arg(long, default_value = DEFAULT_CONFIG_DIR)]
        config_dir: PathBuf,
    },
    /// Translate the guide's own files (prosody.cfg.lua with its Includes,
    /// jicofo's config and sip-communicator.properties, the videobridge's
    /// config, application.conf and sip-communicator.properties, the web
    /// app's DOMAIN-config.js and the Apache site) into meet-rs's configs,
    /// and create the focus and jvb accounts with their passwords.
    Import {
        /// Read the files from this folder instead of / (paths inside them
        /// are taken under it too).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Where to write xmpp-server.toml, focus.toml, videobridge.toml, web.toml.
        #[arg(long, default_value = DEFAULT_CONFIG_DIR)]
        out: PathBuf,
        /// Where the daemons keep their data.
        #[arg(long, default_value = "/var/lib/meet-rs")]
        data_dir: PathBuf,
        /// The meeting UI meet-web serves.
        #[arg(long, default_value = "/usr/share/meet-rs/web")]
        static_root: PathBuf,
        /// Replace existing files in --out.
        #[arg(long)]
        force: bool,
        /// Only write the configs; do not create the focus and jvb accounts.
        #[arg(long)]
        no_accounts: bool,
    },
    /// Ask every daemon whether it is healthy; exit status 1 when not.
    Status {
        #[arg(long, default_value = DEFAULT_CONFIG_DIR)]
        config_dir: PathBuf,
    },
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
        /// The focus's HTTP port (health, stats; loopback).
        #[arg(long, default_value_t = 8888)]
        focus_http_port: u16,
        /// meet-web's port (plain HTTP on loopback): the address to open.
        #[arg(long, default_value_t = 8000)]
        web_port: u16,
        /// A built meeting UI to serve; default: build crates/web/ui.
        #[arg(long)]
        web_root: Option<PathBuf>,
    },
}

const DEFAULT_CONFIG_DIR: &str = "/etc/meet-rs";

#[derive(clap::Args, Debug, Clone, Copy)]
struct PortArgs {
    /// xmpp-server's client port.
    #[arg(long, default_value_t = 5222)]
    c2s_port: u16,
    /// xmpp-server's component port (the focus connects to it).
    #[arg(long, default_value_t = 5347)]
    component_port: u16,
    /// xmpp-server's HTTP port (BOSH, WebSocket, health).
    #[arg(long, default_value_t = 5280)]
    xmpp_http_port: u16,
    /// The focus's REST port (health, stats).
    #[arg(long, default_value_t = 8888)]
    focus_http_port: u16,
    /// The videobridge's HTTP port (health, colibri-ws).
    #[arg(long, default_value_t = 8080)]
    jvb_http_port: u16,
    /// The videobridge's media port (UDP).
    #[arg(long, default_value_t = 10000)]
    jvb_udp_port: u16,
    /// meet-web's HTTPS port.
    #[arg(long, default_value_t = 443)]
    https_port: u16,
    /// meet-web's HTTP port (redirects to HTTPS).
    #[arg(long, default_value_t = 80)]
    web_http_port: u16,
}

impl From<PortArgs> for plan::Ports {
    fn from(p: PortArgs) -> Self {
        Self {
            c2s: p.c2s_port,
            component: p.component_port,
            xmpp_http: p.xmpp_http_port,
            focus_http: p.focus_http_port,
            jvb_http: p.jvb_http_port,
            jvb_udp: p.jvb_udp_port,
            https: p.https_port,
            web_http: p.web_http_port,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup {
            domain,
            secure,
            config_dir,
            data_dir,
            cert,
            key,
            static_root,
            ports,
        } => setup::run(&setup::Args {
            domain,
            secure,
            config_dir,
            data_dir,
            cert,
            key,
            static_root,
            ports: ports.into(),
        }),
        Command::Adduser {
            user,
            password_file,
            domain,
            config_dir,
        } => adduser::run(
            &config_dir,
            &user,
            domain.as_deref(),
            password_file.as_deref(),
        ),
        Command::Import {
            root,
            out,
            data_dir,
            static_root,
            force,
            no_accounts,
        } => import::run(&import::Options {
            root,
            out,
            data_dir,
            static_root,
            force,
            accounts: !no_accounts,
        })
        .map(|r| {
            print!("{}", r.notes.render());
            for w in &r.written {
                println!("meetctl: wrote {}", w.display());
            }
            println!(
                "meetctl: imported the guide's configuration for {}; start the services (systemctl start meet-rs.target) and check with `meetctl status`",
                r.domain
            );
        }),
        Command::Status { config_dir } => {
            return match status::run(&config_dir) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("meetctl: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Up {
            state,
            domain,
            generate_only,
            c2s_port,
            http_port,
            component_port,
            jvb_udp_port,
            jvb_http_port,
            focus_http_port,
            web_port,
            web_root,
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
                focus_http: focus_http_port,
                web: web_port,
            },
            web_root.as_deref(),
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
