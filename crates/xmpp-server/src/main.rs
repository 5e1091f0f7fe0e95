//! `xmpp-server`: run the server, or do prosodyctl's jobs
//! (check-config, register, passwd, deluser, cert generate).

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

use xmpp_server::accounts::{AccountStore, PasswordStorage};
use xmpp_server::config::{self, AuthMethod, ServerConfig};
use xmpp_server::server::Shared;
use xmpp_server::{c2s_tcp, certs, component, http, muc_task, tls};

#[derive(Parser)]
#[command(
    name = "xmpp-server",
    version,
    about = "meet-rs XMPP server (Prosody's role in a Jitsi Meet deployment)"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Run,
    /// Validate the configuration and exit.
    CheckConfig,
    /// Create an account: register USER HOST PASSWORD (prosodyctl register).
    Register {
        user: String,
        host: String,
        password: String,
    },
    /// Change a password: passwd USER@HOST [PASSWORD] (read from stdin when omitted).
    Passwd {
        jid: String,
        password: Option<String>,
    },
    /// Delete an account: deluser USER@HOST.
    Deluser { jid: String },
    /// Certificates (prosodyctl cert).
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Self-signed key and certificate for HOST under data_path.
    Generate {
        host: String,
        /// Replace existing files.
        #[arg(long)]
        overwrite: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `cert generate` makes the very files the ssl keys point at, so it must
    // not insist that they exist yet.
    let loaded = if matches!(cli.command, Some(Command::Cert { .. })) {
        ServerConfig::load_without_file_checks(&cli.config)
    } else {
        ServerConfig::load(&cli.config)
    };
    let cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xmpp-server: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(cfg),
        Command::CheckConfig => {
            println!(
                "{}: OK ({} virtual hosts, {} components)",
                cli.config.display(),
                cfg.virtual_host.len(),
                cfg.component.len()
            );
            Ok(())
        }
        Command::Register {
            user,
            host,
            password,
        } => register(&cfg, &user, &host, &password),
        Command::Passwd { jid, password } => passwd(&cfg, &jid, password),
        Command::Deluser { jid } => deluser(&cfg, &jid),
        Command::Cert {
            command: CertCommand::Generate { host, overwrite },
        } => match certs::generate(&host, &cfg.data_path, overwrite) {
            Ok(g) => {
                println!(
                    "key: {}\ncertificate: {}",
                    g.key_path.display(),
                    g.cert_path.display()
                );
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xmpp-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open_store(cfg: &ServerConfig) -> Result<AccountStore, String> {
    std::fs::create_dir_all(&cfg.data_path)
        .map_err(|e| format!("cannot create data_path {}: {e}", cfg.data_path.display()))?;
    AccountStore::open(&cfg.accounts_db_path()).map_err(|e| e.to_string())
}

fn storage_for(cfg: &ServerConfig, host: &str) -> Result<PasswordStorage, String> {
    match cfg.virtual_host(host).map(|h| h.authentication) {
        Some(AuthMethod::InternalPlain) => Ok(PasswordStorage::Plain),
        Some(AuthMethod::InternalHashed) => Ok(PasswordStorage::Hashed),
        Some(AuthMethod::Anonymous) => Err(format!(
            "host {host} uses anonymous authentication and has no accounts"
        )),
        None => Err(format!(
            "host {host} is not a virtual_host in the configuration"
        )),
    }
}

fn split_jid(jid: &str) -> Result<(&str, &str), String> {
    jid.split_once('@')
        .ok_or_else(|| format!("expected USER@HOST, got {jid:?}"))
}

fn register(cfg: &ServerConfig, user: &str, host: &str, password: &str) -> Result<(), String> {
    let storage = storage_for(cfg, host)?;
    if password.is_empty() {
        return Err("empty password".into());
    }
    open_store(cfg)?
        .register(user, host, password, storage)
        .map_err(|e| e.to_string())?;
    println!("registered {user}@{host}");
    Ok(())
}

fn passwd(cfg: &ServerConfig, jid: &str, password: Option<String>) -> Result<(), String> {
    let (user, host) = split_jid(jid)?;
    let storage = storage_for(cfg, host)?;
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    open_store(cfg)?
        .set_password(user, host, &password, storage)
        .map_err(|e| e.to_string())?;
    println!("password changed for {jid}");
    Ok(())
}

fn deluser(cfg: &ServerConfig, jid: &str) -> Result<(), String> {
    let (user, host) = split_jid(jid)?;
    open_store(cfg)?
        .delete(user, host)
        .map_err(|e| e.to_string())?;
    println!("deleted {jid}");
    Ok(())
}

fn run(cfg: ServerConfig) -> Result<(), String> {
    meet_service::telemetry::init("xmpp-server", "info");
    // One crypto provider for the whole process (dependencies.md §1).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    runtime.block_on(serve(cfg))
}

async fn bind_all(
    ports: &[u16],
    interfaces: &[IpAddr],
    what: &str,
) -> Result<Vec<tokio::net::TcpListener>, String> {
    let mut out = Vec::new();
    for ip in interfaces {
        for port in ports {
            let addr = SocketAddr::new(*ip, *port);
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for {what} on {addr}: {e}"))?;
            tracing::info!(%addr, "{what} listening");
            out.push(l);
        }
    }
    Ok(out)
}

async fn serve(cfg: ServerConfig) -> Result<(), String> {
    let store = open_store(&cfg)?;
    let tls = tls::server_config(&cfg).map_err(|e| e.to_string())?;
    let c2s = bind_all(&cfg.c2s_ports, &cfg.c2s_interfaces, "c2s").await?;
    let comp = bind_all(
        &cfg.component_ports,
        &cfg.component_interfaces,
        "components",
    )
    .await?;
    let web = bind_all(
        &cfg.http_ports,
        &cfg.http_interfaces,
        "http (BOSH, WebSocket)",
    )
    .await?;
    let shared: Arc<Shared> = Shared::new(cfg, store, tls);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    // Internal components first, so nothing is routed before they exist.
    for plan in muc_task::plans(&shared.cfg) {
        tasks.push(muc_task::spawn(plan, shared.clone(), stop_rx.clone()));
    }
    for l in c2s {
        tasks.push(tokio::spawn(c2s_tcp::serve(
            l,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    for l in comp {
        tasks.push(tokio::spawn(component::serve(
            l,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    for l in web {
        tasks.push(tokio::spawn(http::serve(
            l,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    meet_service::readiness::ready("xmpp-server ready");
    tracing::info!(
        hosts = shared.cfg.virtual_host.len(),
        components = shared.cfg.component.len(),
        "xmpp-server ready"
    );
    let sig = meet_service::shutdown::signal().await;
    tracing::info!(signal = sig, "stopping");
    meet_service::readiness::stopping();
    let _ = stop_tx.send(true);
    // Give connections a moment to send their closing stream errors.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for t in tasks {
            let _ = t.await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    tracing::info!("stopped");
    Ok(())
}
