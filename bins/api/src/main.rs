//! `docent-api`: serves the HTTP API (with the worker in-process on the embedded default), runs
//! migrations, prints the OpenAPI spec and the configuration, re-seals provider API keys, and
//! carries the operator's tools (backup, restore, admin). It is also the extraction sandbox's
//! child, started by its own worker.

mod admin;
mod cli;
mod remote;
mod transfer;

use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser as _;
use docent_app::config::Overrides;
use docent_app::{Config, MigrateAction, bootstrap, operator, telemetry};

use crate::cli::{Action, Cli, Command, ConfigCommand};

fn main() -> anyhow::Result<std::process::ExitCode> {
    docent_app::allocator::bound_arenas();
    // The extraction sandbox is this binary with a hidden first argument; it needs no runtime.
    if let Some(code) = docent_app::sandbox::child_if_requested() {
        return Ok(code);
    }
    run()
}

#[tokio::main]
async fn run() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        addr: None,
        data_dir: None,
    });
    let mut out = std::io::stdout().lock();
    let overrides = match &command {
        Command::Openapi => {
            out.write_all(docent_http_api::openapi_json().as_bytes())?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Config(ConfigCommand::Defaults) => {
            out.write_all(docent_app::config::DEFAULTS.as_bytes())?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Serve { addr, data_dir } => Overrides {
            addr: *addr,
            data_dir: data_dir.clone(),
        },
        Command::Restore { data_dir, .. } => Overrides {
            addr: None,
            data_dir: data_dir.clone(),
        },
        Command::Migrate { .. }
        | Command::RotateMasterKey
        | Command::Config(ConfigCommand::Check)
        | Command::Backup { .. }
        | Command::Import { .. }
        | Command::Export { .. }
        | Command::Admin(_) => Overrides::default(),
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    if let Command::Config(ConfigCommand::Check) = command {
        for warning in &config.warnings {
            writeln!(std::io::stderr(), "warning: {warning}")?;
        }
        out.write_all(config.redacted_toml()?.as_bytes())?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    telemetry::init(&config.log);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if matches!(command, Command::Serve { .. } | Command::Migrate { .. }) {
        tracing::info!(config = %config.redacted_summary(), "configuration loaded");
    }
    match command {
        Command::Serve { .. } => serve(config).await?,
        Command::Migrate { action } => {
            let action = match action {
                Action::Up => MigrateAction::Up,
                Action::Down => MigrateAction::Down,
                Action::Status => MigrateAction::Status,
            };
            let listing = docent_app::migrate(&config, action).await?;
            out.write_all(listing.as_bytes())?;
        }
        Command::RotateMasterKey => {
            let resealed = docent_app::rotate_master_key(&config).await?;
            writeln!(out, "re-sealed {resealed} provider API keys")?;
        }
        Command::Backup { dir } => {
            let copied = operator::backup(&config, &dir).await?;
            writeln!(
                out,
                "backed up {} files ({} bytes) into {}",
                copied.files,
                copied.bytes,
                dir.display()
            )?;
        }
        Command::Restore { dir, .. } => {
            let copied = operator::restore(&config, &dir).await?;
            writeln!(
                out,
                "restored {} files ({} bytes) into {}",
                copied.files,
                copied.bytes,
                config.data_dir.display()
            )?;
        }
        Command::Admin(command) => return admin::run(&config, command, &mut out).await,
        Command::Import {
            dir,
            target,
            types,
            tags,
            no_wait,
        } => {
            let (remote, temporary) = remote(&config, target, "import").await?;
            let done = transfer::import(&remote, &dir, &types, &tags, !no_wait, &mut out).await;
            return finish(done, temporary).await;
        }
        Command::Export { dir, target } => {
            let (remote, temporary) = remote(&config, target, "export").await?;
            let done = transfer::export(&remote, &dir, &mut out).await;
            return finish(done, temporary).await;
        }
        Command::Openapi | Command::Config(_) => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The scopes a temporary key of `import` and `export` has.
const TRANSFER_SCOPES: [&str; 6] = [
    "documents:read",
    "documents:write",
    "chatbots:read",
    "chatbots:write",
    "providers:read",
    "providers:write",
];

/// The client `import` and `export` use: with the given API key, or, against the local instance,
/// with a temporary key (returned, to revoke when the command ends).
async fn remote(
    config: &Config,
    target: cli::Target,
    command: &str,
) -> anyhow::Result<(
    remote::Remote,
    Option<(operator::Operator, operator::TemporaryKey)>,
)> {
    if let Some(key) = target.api_key {
        let url = target.url.unwrap_or_else(|| config.public_url());
        return Ok((remote::Remote::new(&url, &target.org, key)?, None));
    }
    if target.url.is_some() {
        anyhow::bail!("a server given by --url needs an API key (--api-key or DOCENT_API_KEY)");
    }
    let org = target
        .org
        .parse()
        .map_err(|_| anyhow::anyhow!("`{}` is not an organization id", target.org))?;
    let operator = operator::Operator::open(config).await?;
    let temporary = operator
        .temporary_key(
            org,
            &format!("docent-api {command} (temporary)"),
            &TRANSFER_SCOPES,
        )
        .await?;
    let secret = docent_kernel::ExposeSecret::expose_secret(&temporary.secret).to_owned();
    let remote = remote::Remote::new(&config.public_url(), &target.org, secret)?;
    Ok((remote, Some((operator, temporary))))
}

/// Revokes the temporary key of a command, whatever its outcome.
async fn finish(
    outcome: anyhow::Result<std::process::ExitCode>,
    temporary: Option<(operator::Operator, operator::TemporaryKey)>,
) -> anyhow::Result<std::process::ExitCode> {
    if let Some((operator, key)) = temporary
        && let Err(error) = operator.revoke(key).await
    {
        tracing::warn!(%error, "could not revoke the temporary API key (it expires within a day)");
    }
    outcome
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
    let console = docent_web::mount(services.clone());
    docent_http_api::serve_with(services, listener, until_stopped(stopped), console).await?;
    if let Some(worker) = worker {
        worker.await?;
    }
    Ok(())
}
