//! The command line of `docent-api`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "docent-api",
    version,
    about = "docent's HTTP API and its operator's tools"
)]
pub struct Cli {
    /// A configuration file (default: ./docent.toml when it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Re-seal every provider API key under the current master key (`secrets.master_key`),
    /// reading old ones with `secrets.previous_master_keys` (and the generated key file). Run it
    /// after setting a new master key, then drop the old one from the configuration.
    RotateMasterKey,
    /// Print the defaults or check a configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Back up the embedded default (SQLite, vectors, blobs, the generated master key) into a new
    /// directory, while docent runs.
    Backup {
        /// The directory to create (it must be missing or empty).
        dir: PathBuf,
    },
    /// Restore a backup into a data directory that holds no data yet; start docent on it after.
    Restore {
        /// The backup's directory.
        dir: PathBuf,
        /// The data directory to restore into (overrides DOCENT_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Upload a directory's files (recursively, filtered by type) into an organization, or read an
    /// export back; skips files the organization already has, waits until each is processed, and
    /// exits non-zero when any failed.
    Import {
        /// The directory.
        dir: PathBuf,
        #[command(flatten)]
        target: Target,
        /// The file extensions to upload, comma-separated.
        #[arg(long, default_value = crate::transfer::DEFAULT_TYPES)]
        types: String,
        /// A tag for every uploaded document (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Do not wait until the uploaded documents are processed.
        #[arg(long)]
        no_wait: bool,
    },
    /// Write an organization's documents (the originals) and its chatbot and provider settings
    /// (never a secret) into a new directory that `import` reads back.
    Export {
        /// The directory to create (it must be missing or empty).
        dir: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Operator commands: accounts, organizations, the job queue.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// The organization `import` and `export` work on, and how to reach it.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The organization's id.
    #[arg(long)]
    pub org: String,
    /// The docent server (default: this configuration's public URL, i.e. a local `serve`).
    #[arg(long)]
    pub url: Option<String>,
    /// An API key of the organization with the `documents:read` and `documents:write` scopes
    /// (and `chatbots:*`, `providers:*` for settings). Without one, against the local instance,
    /// a temporary key is made in the name of the organization's owner and revoked afterwards.
    #[arg(long, env = "DOCENT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the compiled-in defaults: every key, documented.
    Defaults,
    /// Read the configuration file and the environment, print warnings (deprecated and unknown
    /// keys) and the effective configuration with secrets redacted; fail when it is invalid.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List every account.
    Users,
    /// List every organization.
    Orgs,
    /// Disable an account: it cannot sign in and its sessions stop working.
    DisableUser {
        /// The account's e-mail address.
        email: String,
    },
    /// Enable a disabled account again.
    EnableUser {
        /// The account's e-mail address.
        email: String,
    },
    /// Sign an account out everywhere (revoke all its sessions).
    ResetSessions {
        /// The account's e-mail address.
        email: String,
    },
    /// Show the job queue by kind: queued, running and failed jobs.
    Queue,
    /// List failed jobs and failed documents.
    Failed {
        /// How many failed jobs to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Queue every failed document for processing again.
    RetryFailed {
        /// Only this organization's documents.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Action {
    Up,
    Down,
    Status,
}
