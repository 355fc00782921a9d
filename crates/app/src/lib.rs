//! The composition root: [`bootstrap`] builds every service from the configuration, wiring the
//! infrastructure's adapters into the domain crates' ports; [`access`] is the one call that resolves
//! a caller's access to an organization; the adapters that only connect domain crates live in
//! [`usage`]; [`Services::worker`] wires the background worker. The HTTP API (and later the web
//! console) depend on this crate and the domain crates, never on the infrastructure directly.

pub mod access;
pub mod bootstrap;
mod jobs;
pub mod metrics;
pub mod operator;
#[cfg(test)]
mod pipeline_tests;
mod readiness;
pub mod usage;

pub use access::{Access, AccessError, Caller, Credential, Member, Need, Tenant, Widget};
pub use bootstrap::{
    BootstrapError, MigrateAction, Services, bootstrap, migrate, rotate_master_key,
};
/// The allocator's arena bound, which the binaries apply first.
pub use docent_infrastructure::allocator;
/// Configuration loading and its types, as the binaries and the API read them.
pub use docent_infrastructure::config;
/// The extraction sandbox's child side, which the binaries run for its hidden subcommand.
pub use docent_infrastructure::sandbox;
/// Logging set-up and the shutdown signal, for the binaries.
pub use docent_infrastructure::telemetry;
/// Test support (fresh databases, the models directory) for the end-to-end tests.
#[cfg(feature = "testing")]
pub use docent_infrastructure::testing;
pub use docent_infrastructure::{Config, ConfigError, LogFormat};
