//! Test support: a fresh database per test, on SQLite or on the PostgreSQL server named by
//! `DOCENT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). A PostgreSQL
//! database gets a unique name and is dropped when the guard is dropped, even if the test failed.

// Test support fails loudly: a test cannot run without its database.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use sea_orm::{ConnectionTrait as _, DatabaseConnection};

use crate::db;

/// The PostgreSQL server tests use, as an administrative connection URL.
#[must_use]
pub fn postgres_admin_url() -> String {
    std::env::var("DOCENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// A fresh, migrated database that disappears with the guard.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to connect to it.
    pub url: String,
    /// Which backend it is.
    pub backend: Backend,
    dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    /// Creates an empty database (not migrated).
    ///
    /// # Panics
    /// When the temporary directory or the PostgreSQL database cannot be created: a test cannot
    /// run without its database.
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path: PathBuf = dir.path().join("docent.db");
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend,
                    dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("docent_test_{}", uuid::Uuid::now_v7().simple());
                let admin = db::connect(&admin_url, 1).await.unwrap_or_else(|e| {
                    panic!("cannot reach the test PostgreSQL server at {admin_url}: {e}")
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create the test database");
                drop(admin.close().await);
                let mut url =
                    url::Url::parse(&admin_url).expect("DOCENT_TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    backend,
                    dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// Creates the database, applies all migrations and returns the open pool.
    ///
    /// # Panics
    /// When connecting or migrating fails.
    pub async fn migrated(backend: Backend) -> (Self, DatabaseConnection) {
        let database = Self::create(backend).await;
        let connection = db::connect(&database.url, 5)
            .await
            .expect("connect to the test database");
        db::migrate_up(&connection)
            .await
            .expect("migrate the test database");
        (database, connection)
    }

    /// The temporary directory of a SQLite database (a place for other test files too).
    #[must_use]
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime drops the database (terminating the test's connections first).
        let admin_url = postgres_admin_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let admin = db::connect(&admin_url, 1).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()?;
                drop(admin.close().await);
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            tracing::warn!("could not drop a test database");
        }
    }
}

/// Where `scripts/fetch-models` put the embedding model (`./dev test` runs it first), unless
/// `DOCENT_MODELS__DIR` (or the older `DOCENT_MODELS_DIR`) says otherwise.
#[must_use]
pub fn models_dir() -> PathBuf {
    let dir =
        std::env::var_os("DOCENT_MODELS__DIR").or_else(|| std::env::var_os("DOCENT_MODELS_DIR"));
    dir.map_or_else(
        || {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
                .join(".cache/docent/models")
        },
        PathBuf::from,
    )
}

/// docent's BM25 encoder, as both index adapters build it (for the micro-benchmarks).
pub fn bm25() -> Result<qdrant_edge::bm25_embed::EdgeBm25, String> {
    crate::vector::bm25()
}

/// One candidate of a ranking for [`fuse`]: its document, ordinal, dense similarity when the dense
/// search found it, and its dense vector when only the keyword search did.
pub type RankedCandidate = (
    docent_kernel::DocumentId,
    u32,
    Option<f32>,
    Option<Vec<f32>>,
);

/// The hybrid search's reciprocal-rank fusion of a dense and a keyword ranking (for the
/// micro-benchmarks).
#[must_use]
pub fn fuse(
    dense: Vec<RankedCandidate>,
    sparse: Vec<RankedCandidate>,
    query: &[f32],
    limit: usize,
) -> Vec<docent_documents::ports::VectorHit> {
    let candidates = |ranking: Vec<RankedCandidate>| {
        ranking
            .into_iter()
            .map(
                |(document_id, ordinal, dense_score, dense_vector)| crate::vector::Candidate {
                    document_id,
                    ordinal,
                    dense_score,
                    dense_vector,
                },
            )
            .collect()
    };
    crate::vector::fuse(candidates(dense), candidates(sparse), query, limit)
}
