//! `meet-web`: run the web server (Apache's role), or check its
//! configuration.
//!
//! Start-up: load and validate the config and the certificate (exit 2
//! naming file and key), bind every listener (exit 1 naming the address),
//! then tell systemd we are ready. SIGTERM/SIGINT stops accepting, lets
//! requests in flight finish (up to 10 s), closes WebSockets and exits 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use meet_service::config::ConfigError;
use tokio_rustls::TlsAcceptor;

use web::config::{self, Config};
use web::metrics::Metrics;
use web::proxy::Upstreams;
use web::router::{App, Listener};
use web::static_files::StaticFiles;
use web::{server, tls};

#[derive(Parser)]
#[command(
    name = "meet-web",
    version,
    about = "meet-rs web server (Apache's role in a Jitsi Meet deployment)"
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
    /// Validate the configuration (and load the certificate) and exit.
    CheckConfig,
}

/// A valid configuration with what was derived from it.
struct Prepared {
    cfg: Config,
    tls: Option<Arc<rustls::ServerConfig>>,
    upstreams: (config::Upstream, config::Upstream),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any TLS config is built: rustls will not choose a provider
    // itself when more than one is compiled in.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let prepared = match prepare(&cli.config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("meet-web: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            let s = &prepared.cfg.server;
            let listen = if s.plain_http {
                format!("plain HTTP on {}", addresses(&s.http_listen))
            } else {
                format!(
                    "HTTPS on {}, redirect on {}",
                    addresses(&s.https_listen),
                    addresses(&s.http_listen)
                )
            };
            println!(
                "{}: OK (domain {}, {listen}, files from {}, xmpp-server {}, videobridge {})",
                cli.config.display(),
                prepared.cfg.hosts.domain,
                s.static_root.display(),
                prepared.upstreams.0.authority,
                prepared.upstreams.1.authority,
            );
            ExitCode::SUCCESS
        }
        Command::Run => match run(prepared) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "meet-web failed");
                eprintln!("meet-web: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn addresses(list: &[std::net::SocketAddr]) -> String {
    if list.is_empty() {
        return "nothing".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn prepare(path: &Path) -> Result<Prepared, ConfigError> {
    let cfg = Config::load(path)?;
    let s = &cfg.server;
    let tls = match (&s.certificate, &s.private_key, s.plain_http) {
        (Some(cert), Some(key), false) => Some(tls::server_config(path, cert, key)?),
        // validate() requires both unless plain_http.
        _ => None,
    };
    let single = |key: &str, e: String| ConfigError::single(path, key, e);
    let upstreams = (
        cfg.xmpp_upstream()
            .map_err(|e| single("proxy.xmpp_server", e))?,
        cfg.videobridge_upstream()
            .map_err(|e| single("proxy.videobridge", e))?,
    );
    if !s.static_root.join("index.html").is_file() {
        // Not an error: config.js and the proxies still work, and the web
        // app may be installed after the server.
        eprintln!(
            "meet-web: warning: {} has no index.html (is the web app installed?)",
            s.static_root.display()
        );
    }
    Ok(Prepared {
        cfg,
        tls,
        upstreams,
    })
}

fn run(p: Prepared) -> Result<(), String> {
    meet_service::telemetry::init("meet-web", "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(serve(p))
}

async fn serve(p: Prepared) -> Result<(), String> {
    let (stop_tx, stop_rx) = server::stop_channel();
    let app = Arc::new(App {
        files: StaticFiles::new(p.cfg.server.static_root.clone()),
        upstreams: Upstreams::new(p.upstreams.0, p.upstreams.1),
        metrics: Arc::new(Metrics::new()),
        stop: stop_rx,
        cfg: p.cfg,
    });
    let bound = server::bind(&app).await.map_err(|e| e.to_string())?;
    let listening: Vec<String> = bound
        .addresses()
        .iter()
        .map(|(addr, kind)| match kind {
            Listener::Https => format!("https://{addr}"),
            Listener::Redirect => format!("http://{addr} (redirect)"),
            Listener::Plain => format!("http://{addr}"),
        })
        .collect();
    let acceptor = p.tls.map(TlsAcceptor::from);
    let server_task = tokio::spawn(server::serve(app.clone(), bound, acceptor));
    meet_service::readiness::ready("meet-web serving");
    tracing::info!(
        listen = %listening.join(", "),
        static_root = %app.cfg.server.static_root.display(),
        xmpp_server = %app.upstreams.xmpp.authority,
        videobridge = %app.upstreams.videobridge.authority,
        "meet-web ready"
    );
    let reason = meet_service::shutdown::signal().await;
    tracing::info!(reason, "meet-web stopping");
    meet_service::readiness::stopping();
    let _ = stop_tx.send(true);
    if let Err(e) = server_task.await {
        tracing::warn!(error = %e, "server task ended abnormally");
    }
    tracing::info!("meet-web stopped");
    Ok(())
}
