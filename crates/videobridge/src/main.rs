//! `videobridge`: run the bridge (jitsi-videobridge's role), or check its
//! configuration.
//!
//! Start-up: load and validate the config (exit 2 naming file and key on a
//! problem, TLS trust settings included), start the media plane, the HTTP
//! interface and one XMPP connection per configured server, then tell
//! systemd we are ready. SIGTERM/SIGINT — or the end of a graceful shutdown
//! (`POST /colibri/shutdown`, once the last conference is gone) — stops it:
//! the bridge leaves the brewery with an unavailable presence so the focus
//! sees it go, expires its conferences and exits 0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meet_service::config::{ConfigError, ConfigProblem};
use tokio::sync::watch;

use videobridge::colibri::{Bridge, ColibriConfig};
use videobridge::config::{self, Config};
use videobridge::engine::{ColibriWs, MediaHandle};
use videobridge::stats::BridgeStatus;
use videobridge::{http, xmpp};

#[derive(Parser)]
#[command(
    name = "videobridge",
    version,
    about = "meet-rs videobridge (jitsi-videobridge's role in a Jitsi Meet deployment)"
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
    /// Run the bridge (the default).
    Run,
    /// Validate the configuration and exit.
    CheckConfig,
}

/// How long each XMPP connection may take to say goodbye at shutdown.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything builds a TLS config: rustls refuses to pick a provider
    // by itself when more than one is compiled in.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (cfg, tls) = match load(&cli.config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("videobridge: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            println!(
                "{}: OK ({} XMPP server(s), HTTP on {}, media on UDP {})",
                cli.config.display(),
                tls.len(),
                cfg.videobridge.http.addr(),
                cfg.videobridge.ice.udp.port
            );
            ExitCode::SUCCESS
        }
        Command::Run => match run(cfg, tls) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "videobridge failed");
                eprintln!("videobridge: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The config plus a TLS client config per XMPP server; a server whose
/// trust settings cannot be used is a configuration error naming its key.
fn load(
    path: &std::path::Path,
) -> Result<(Config, BTreeMap<String, Arc<rustls::ClientConfig>>), ConfigError> {
    let cfg = Config::load(path)?;
    let mut tls = BTreeMap::new();
    let mut problems = Vec::new();
    for (id, server) in &cfg.videobridge.apis.xmpp_client.configs {
        match xmpp::tls_config(server) {
            Ok(t) => {
                tls.insert(id.clone(), t);
            }
            Err(e) => problems.push(ConfigProblem::new(
                format!("videobridge.apis.xmpp-client.configs.{id}.ca_file"),
                e,
            )),
        }
    }
    if problems.is_empty() {
        Ok((cfg, tls))
    } else {
        Err(ConfigError {
            file: path.to_path_buf(),
            problems,
        })
    }
}

fn run(cfg: Config, tls: BTreeMap<String, Arc<rustls::ClientConfig>>) -> Result<(), String> {
    meet_service::telemetry::init("videobridge", "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(serve(cfg, tls))
}

async fn serve(
    cfg: Config,
    tls: BTreeMap<String, Arc<rustls::ClientConfig>>,
) -> Result<(), String> {
    let status = Arc::new(BridgeStatus::new());
    let engine = videobridge::media::start(&cfg).map_err(|e| format!("media plane: {e}"))?;
    let media: Arc<dyn MediaHandle> = engine.clone();
    let colibri_ws: Arc<dyn ColibriWs> = engine.clone();

    let bridge = Arc::new(Bridge::new(
        media,
        ColibriConfig::from_config(&cfg),
        status.clone(),
        cfg.videobridge.region.clone(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);

    let http_addr = cfg.videobridge.http.addr();
    let listener = meet_service::http::bind(http_addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(http::serve(
        listener,
        bridge.clone(),
        Some(colibri_ws),
        async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        },
    ));

    let mut xmpp_tasks = Vec::new();
    for (id, conn) in xmpp::connections(&cfg) {
        let Some(tls) = tls.get(&id).cloned() else {
            continue;
        };
        xmpp_tasks.push(tokio::spawn(xmpp::run(
            conn,
            bridge.clone(),
            tls,
            stop_rx.clone(),
        )));
    }

    meet_service::readiness::ready("videobridge running");
    tracing::info!(
        http = %http_addr,
        xmpp_servers = xmpp_tasks.len(),
        server_id = %cfg.videobridge.server_id,
        version = videobridge::stats::VERSION,
        "videobridge ready"
    );

    let reason = tokio::select! {
        s = meet_service::shutdown::signal() => s,
        _ = graceful_shutdown_done(&bridge) => "graceful shutdown complete",
    };
    tracing::info!(reason, "videobridge stopping");
    meet_service::readiness::stopping();
    status.set_shutting_down();
    let _ = stop_tx.send(true);
    for t in xmpp_tasks {
        if tokio::time::timeout(STOP_TIMEOUT, t).await.is_err() {
            tracing::warn!("an XMPP connection did not stop in time");
        }
    }
    let expire = bridge.clone();
    let _ = tokio::task::spawn_blocking(move || {
        expire.expire_all();
        // Joins the media thread.
        engine.shutdown();
    })
    .await;
    let _ = tokio::time::timeout(STOP_TIMEOUT, http_task).await;
    tracing::info!("videobridge stopped");
    Ok(())
}

/// Resolves once a graceful shutdown was requested and no conference is left.
async fn graceful_shutdown_done(bridge: &Arc<Bridge>) {
    let mut announced = false;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !bridge.status().graceful_shutdown() {
            continue;
        }
        let Some(snap) = bridge.snapshot_async().await else {
            continue;
        };
        if snap.conferences == 0 {
            return;
        }
        if !announced {
            announced = true;
            tracing::info!(
                conferences = snap.conferences,
                "graceful shutdown: waiting for the last conference to end"
            );
        }
    }
}
