//! `docent-worker`: processes background jobs (document ingestion and purges) against the
//! configured database and vector index — PostgreSQL and a Qdrant server at scale. On the embedded
//! default `docent-api serve` runs the same worker in-process. Both binaries are also the
//! extraction sandbox's child.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use docent_app::config::Overrides;
use docent_app::{Config, bootstrap, telemetry};

#[derive(Debug, Parser)]
#[command(name = "docent-worker", version, about = "docent's background worker")]
struct Cli {
    /// A configuration file (default: ./docent.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Claim and process jobs until SIGTERM (the default).
    Run,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    docent_app::allocator::bound_arenas();
    // The extraction sandbox is this binary with a hidden first argument; it needs no runtime.
    if let Some(code) = docent_app::sandbox::child_if_requested() {
        return Ok(code);
    }
    run().map(|()| std::process::ExitCode::SUCCESS)
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Command::Run = cli.command.unwrap_or(Command::Run);
    let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
    telemetry::init(&config.log);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(config = %config.redacted_summary(), "configuration loaded");
    // The worker never migrates: the API owns the schema.
    let services = bootstrap(&config, false).await?;
    services
        .worker(&format!("worker-{}", std::process::id()))
        .run_until(telemetry::shutdown_signal())
        .await;
    Ok(())
}
