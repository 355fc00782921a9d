//! The only crate that knows sea-orm, SMTP, Qdrant, fastembed, object storage, Redis and the model
//! providers' APIs. It implements every domain port and loads the configuration; `docent-app`
//! wires the implementations into the services.

pub mod allocator;
pub mod backup;
pub mod blob;
pub mod chat_models;
pub mod config;
pub mod db;
pub mod embedder;
pub mod mail;
pub mod pdfium;
pub mod rate_limit;
pub mod remote_embedder;
pub mod sandbox;
pub mod secrets;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod throttle;
pub mod tls;
pub mod url_guard;
pub mod vector;

pub use config::{Config, ConfigError, LogFormat};
