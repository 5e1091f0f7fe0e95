//! `focus`: run the conference focus (jicofo's role), or check its
//! configuration.
//!
//! Start-up: load and validate the config (exit 2 naming file and key),
//! start the HTTP routes, the component connection and the client
//! connection, then tell systemd we are ready. SIGTERM/SIGINT leaves the
//! brewery, closes both streams and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meet_service::config::{ConfigError, ConfigProblem};
use tokio::sync::watch;

use focus::auth::Authority;
use focus::config::{self, Config};
use focus::manager::Manager;
use focus::state::State;
use focus::{client, component, conference, http};

#[derive(Parser)]
#[command(
    name = "focus",
    version,
    about = "meet-rs focus (jicofo's role in a Jitsi Meet deployment)"
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
    /// Run the focus (the default).
    Run,
    /// Validate the configuration and exit.
    CheckConfig,
}

const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the connections need, derived from a valid config.
struct Prepared {
    cfg: Config,
    component: component::Settings,
    client: client::Settings,
    tls: Arc<rustls::ClientConfig>,
    /// Secure domain (`auth_url = "XMPP:DOMAIN"`).
    auth: Option<Authority>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any TLS config is built: rustls will not choose a provider
    // itself when more than one is compiled in.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let prepared = match prepare(&cli.config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("focus: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            println!(
                "{}: OK (component {} via {}:{}, client {} via port {}, brewery {}, HTTP on {})",
                cli.config.display(),
                prepared.component.domain,
                prepared.component.host,
                prepared.component.port,
                prepared.client.jid,
                prepared.client.port,
                prepared.client.brewery,
                prepared.cfg.http.addr()
            );
            ExitCode::SUCCESS
        }
        Command::Run => match run(prepared) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "focus failed");
                eprintln!("focus: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn prepare(path: &std::path::Path) -> Result<Prepared, ConfigError> {
    let cfg = Config::load(path)?;
    let j = &cfg.jicofo;
    let problem = |key: &str, text: String| ConfigError {
        file: path.to_path_buf(),
        problems: vec![ConfigProblem::new(key, text)],
    };
    let jid = cfg
        .focus_jid()
        .parse()
        .map_err(|e| problem("jicofo.auth_user", format!("{}: {e}", cfg.focus_jid())))?;
    let brewery = j
        .bridge_muc
        .parse()
        .map_err(|e| problem("jicofo.bridge_muc", format!("{e}")))?;
    let tls = xmpp_client::tls_config(j.ca_file.as_deref(), j.disable_certificate_verification)
        .map_err(|e| problem("jicofo.ca_file", e))?;
    let auth_url = j.auth_url.clone().filter(|u| !u.trim().is_empty());
    let auth = auth_url
        .as_deref()
        .map(Authority::from_url)
        .transpose()
        .map_err(|e| problem("jicofo.auth_url", e))?;
    let component = component::Settings {
        host: j.host.clone(),
        port: j.port,
        domain: cfg.component_domain(),
        xmpp_domain: j.domain.clone(),
        secret: j.secret.clone(),
        focus_jid: cfg.focus_jid(),
        auth_url,
    };
    let client = client::Settings {
        host: j.host.clone(),
        port: j.c2s_port,
        jid,
        password: j.auth_password.clone(),
        brewery,
        health_checks: j.enable_health_checks,
    };
    Ok(Prepared {
        cfg,
        component,
        client,
        tls,
        auth,
    })
}

fn run(p: Prepared) -> Result<(), String> {
    meet_service::telemetry::init("focus", "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(serve(p))
}

async fn serve(p: Prepared) -> Result<(), String> {
    let state = Arc::new(State::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let http_addr = p.cfg.http.addr();
    let listener = meet_service::http::bind(http_addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(http::serve(listener, state.clone(), async move {
        let _ = http_stop.wait_for(|s| *s).await;
    }));
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(1024);
    let (ans_tx, ans_rx) = tokio::sync::mpsc::channel(1024);
    let manager = Manager::new(
        conference::Settings {
            initiator: p.cfg.focus_jid(),
            nick: client::NICK.to_string(),
            version: http::VERSION.to_string(),
            auth_enabled: p.auth.is_some(),
        },
        &p.cfg.focus_jid(),
        p.auth,
        Box::new(|| uuid::Uuid::new_v4().to_string()),
    );
    let tasks = vec![
        tokio::spawn(component::run(
            p.component.clone(),
            state.clone(),
            component::Link {
                requests: req_tx,
                answers: ans_rx,
            },
            stop_rx.clone(),
        )),
        tokio::spawn(client::run(
            p.client.clone(),
            p.tls.clone(),
            state.clone(),
            client::Conferences {
                manager,
                requests: req_rx,
                answers: ans_tx,
            },
            stop_rx.clone(),
        )),
    ];
    meet_service::readiness::ready("focus running");
    tracing::info!(
        http = %http_addr,
        component = %p.component.domain,
        jid = %p.client.jid,
        brewery = %p.client.brewery,
        health_checks = p.client.health_checks,
        version = http::VERSION,
        "focus ready"
    );
    let reason = meet_service::shutdown::signal().await;
    tracing::info!(reason, "focus stopping");
    meet_service::readiness::stopping();
    let _ = stop_tx.send(true);
    for t in tasks {
        if tokio::time::timeout(STOP_TIMEOUT, t).await.is_err() {
            tracing::warn!("an XMPP connection did not stop in time");
        }
    }
    let _ = tokio::time::timeout(STOP_TIMEOUT, http_task).await;
    tracing::info!("focus stopped");
    Ok(())
}
