//! `docent-api`: serves the HTTP API (with the worker in-process on the embedded default), runs
//! migrations, prints the OpenAPI spec, and re-seals provider API keys under a new master key. It
//! is also the extraction sandbox's child, started by its own worker.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use docent_app::config::Overrides;
use docent_app::{Config, MigrateAction, bootstrap, telemetry};

#[derive(Debug, Parser)]
#[command(name = "docent-api", version, about = "docent's HTTP API")]
struct Cli {
    /// A configuration file (default: ./docent.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        /// The listen address (overrides DOCENT_ADDR).
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// The data directory (overrides DOCENT_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Apply pending migrations (`up`, the default), roll back (`down`), or list them (`status`).
    Migrate {
        #[arg(value_enum, default_value_t = Action::Up)]
        action: Action,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Re-seal every provider API key under the current master key (`DOCENT_MASTER_KEY`), reading
    /// old ones with `previous_master_keys` (and the generated key file). Run it after setting a
    /// new master key, then drop the old one from the configuration.
    RotateMasterKey,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Action {
    Up,
    Down,
    Status,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    // The extraction sandbox is this binary with a hidden first argument; it needs no runtime.
    if let Some(code) = docent_app::sandbox::child_if_requested() {
        return Ok(code);
    }
    run().map(|()| std::process::ExitCode::SUCCESS)
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        addr: None,
        data_dir: None,
    });
    let overrides = match &command {
        Command::Serve { addr, data_dir } => Overrides {
            addr: *addr,
            data_dir: data_dir.clone(),
        },
        Command::Migrate { .. } | Command::Openapi | Command::RotateMasterKey => {
            Overrides::default()
        }
    };
    if matches!(command, Command::Openapi) {
        std::io::stdout().write_all(docent_http_api::openapi_json().as_bytes())?;
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    telemetry::init(&config.log);
    tracing::info!(config = %config.redacted_summary(), "configuration loaded");
    match command {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate { action } => {
            let action = match action {
                Action::Up => MigrateAction::Up,
                Action::Down => MigrateAction::Down,
                Action::Status => MigrateAction::Status,
            };
            let listing = docent_app::migrate(&config, action).await?;
            Ok(std::io::stdout().write_all(listing.as_bytes())?)
        }
        Command::RotateMasterKey => {
            let resealed = docent_app::rotate_master_key(&config).await?;
            tracing::info!(
                resealed,
                "provider API keys re-sealed under the current master key"
            );
            Ok(writeln!(
                std::io::stdout(),
                "re-sealed {resealed} provider API keys"
            )?)
        }
        Command::Openapi => Ok(()),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let services = bootstrap(&config, config.database.migrate_on_start).await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %listener.local_addr()?, "docent-api listening");
    // One signal stops both the HTTP server and the in-process worker.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        telemetry::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // On the embedded default the worker runs in this process.
    let worker = config.worker.embedded.then(|| {
        let worker = services.worker(&format!("api-{}", std::process::id()));
        tokio::spawn(worker.run_until(until_stopped(stopped.clone())))
    });
    docent_http_api::serve(services, listener, until_stopped(stopped)).await?;
    if let Some(worker) = worker {
        worker.await?;
    }
    Ok(())
}
