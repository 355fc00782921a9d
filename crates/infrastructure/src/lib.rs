//! The only crate that knows sea-orm, SMTP, Qdrant, fastembed, object storage and (as later issues
//! land) model providers. It implements every domain port, loads the configuration, and
//! wires everything together in [`bootstrap`].

pub mod blob;
pub mod bootstrap;
pub mod chat_models;
pub mod chat_usage;
pub mod config;
pub mod db;
pub mod embedder;
pub mod mail;
#[cfg(test)]
mod pipeline_tests;
pub mod rate_limit;
pub mod remote_embedder;
pub mod secrets;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod throttle;
pub mod tls;
pub mod url_guard;
pub mod vector;

pub use bootstrap::{BootstrapError, MigrateAction, Services, bootstrap};
pub use config::{Config, ConfigError, LogFormat};
