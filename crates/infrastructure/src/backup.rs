//! Backups of the embedded default, taken while docent runs: a consistent copy of the SQLite
//! database (`VACUUM INTO`), the in-process vector index and the local blobs, plus the generated
//! master key when there is one (without it the copy's provider keys cannot be opened).
//!
//! Consistency: the copy holds every shard's write lock exclusively (see `vector::WRITE_LOCK`)
//! while it snapshots the database and copies the vectors, so a document the copied database calls
//! `ready` has its vectors in the copied index (the pipeline writes vectors before it marks a
//! document ready). Work that was in flight is in the copied job queue and runs again after a
//! restore. Blobs are copied after: the copy may hold a blob more, never one less, than its
//! database names, except for a blob whose purge ran during the copy.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::Utc;
use sea_orm::{ConnectionTrait as _, Statement};

use crate::db::SqlStore;
use crate::vector::{LOCK_FILES, WRITE_LOCK};

/// The backup's own description, written last: a directory without it is not a whole backup.
pub const MANIFEST: &str = "backup.json";

/// Where the embedded default keeps each part of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLayout {
    /// The SQLite database file.
    pub database: PathBuf,
    /// The in-process vector index (one directory per collection).
    pub vectors: PathBuf,
    /// The local blob store.
    pub blobs: PathBuf,
    /// The generated master key file (it may not exist).
    pub master_key: PathBuf,
}

/// What a backup or restore copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Files copied.
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The destination (or source) is not acceptable.
    #[error("{0}")]
    Refused(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database copy failed.
    #[error("copying the database: {0}")]
    Database(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether `dir` is missing or an empty directory.
fn is_empty_dir(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io(dir)(e)),
    }
}

/// Copies `from` into `to` recursively, leaving out docent's lock files.
fn copy_tree(from: &Path, to: &Path, copied: &mut Copied) -> Result<(), BackupError> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            copy_tree(&path, &target, copied)?;
        } else if kind.is_file() && !LOCK_FILES.iter().any(|l| entry.file_name() == *l) {
            copied.bytes += std::fs::copy(&path, &target).map_err(io(&path))?;
            copied.files += 1;
        }
    }
    Ok(())
}

/// Copies one file, keeping it private to its owner.
fn copy_private(from: &Path, to: &Path, copied: &mut Copied) -> Result<(), BackupError> {
    if from.is_file() {
        copied.bytes += std::fs::copy(from, to).map_err(io(from))?;
        copied.files += 1;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).map_err(io(to))?;
        }
    }
    Ok(())
}

/// Takes every shard's write lock exclusively; released when the files are dropped.
fn lock_vectors(vectors: &Path) -> Result<Vec<File>, BackupError> {
    let mut locks = Vec::new();
    let Ok(entries) = std::fs::read_dir(vectors) else {
        return Ok(locks);
    };
    for entry in entries {
        let shard = entry.map_err(io(vectors))?.path();
        if shard.is_dir() {
            let path = shard.join(WRITE_LOCK);
            let file = File::create(&path).map_err(io(&path))?;
            file.lock().map_err(io(&path))?;
            locks.push(file);
        }
    }
    Ok(locks)
}

/// Backs up the embedded default described by `layout`, whose database `store` is open, into
/// `dest` (missing or empty).
///
/// # Errors
/// `Refused` when `dest` holds anything; `Io` or `Database` when a copy fails (the partial
/// directory has no manifest).
pub async fn backup(
    store: &SqlStore,
    layout: &DataLayout,
    dest: &Path,
) -> Result<Copied, BackupError> {
    if !is_empty_dir(dest)? {
        return Err(BackupError::Refused(format!(
            "{} is not empty: a backup goes into a new directory",
            dest.display()
        )));
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let vectors = layout.vectors.clone();
    let locks = tokio::task::spawn_blocking(move || lock_vectors(&vectors))
        .await
        .map_err(|e| BackupError::Database(e.to_string()))??;
    let database = dest.join("docent.db");
    let target = database.to_string_lossy().into_owned();
    store
        .connection()
        .execute_raw(Statement::from_sql_and_values(
            store.connection().get_database_backend(),
            "VACUUM INTO ?",
            [target.into()],
        ))
        .await
        .map_err(|e| BackupError::Database(e.to_string()))?;
    let layout = layout.clone();
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut copied = Copied {
            files: 1,
            bytes: std::fs::metadata(&database).map_or(0, |m| m.len()),
        };
        copy_tree(&layout.vectors, &dest.join("vectors"), &mut copied)?;
        drop(locks);
        copy_tree(&layout.blobs, &dest.join("blobs"), &mut copied)?;
        copy_private(&layout.master_key, &dest.join("master.key"), &mut copied)?;
        let manifest = serde_json::json!({
            "format": 1,
            "created_at": Utc::now().to_rfc3339(),
            "files": copied.files,
            "bytes": copied.bytes,
        });
        let path = dest.join(MANIFEST);
        std::fs::write(&path, manifest.to_string()).map_err(io(&path))?;
        Ok(copied)
    })
    .await
    .map_err(|e| BackupError::Database(e.to_string()))?
}

/// Restores a backup from `src` into `layout`, which must hold no data yet (docent is not
/// running on it).
///
/// # Errors
/// `Refused` when `src` is not a whole backup or the target already holds data; `Io` when a copy
/// fails.
pub fn restore(layout: &DataLayout, src: &Path) -> Result<Copied, BackupError> {
    if !src.join(MANIFEST).is_file() {
        return Err(BackupError::Refused(format!(
            "{} is not a whole backup (it has no {MANIFEST})",
            src.display()
        )));
    }
    if layout.database.exists() || !is_empty_dir(&layout.vectors)? || !is_empty_dir(&layout.blobs)?
    {
        return Err(BackupError::Refused(format!(
            "the target already holds data ({} or its vectors or blobs): restore into a new data directory",
            layout.database.display()
        )));
    }
    let mut copied = Copied::default();
    if let Some(parent) = layout.database.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let database = src.join("docent.db");
    copied.bytes += std::fs::copy(&database, &layout.database).map_err(io(&database))?;
    copied.files += 1;
    copy_tree(&src.join("vectors"), &layout.vectors, &mut copied)?;
    copy_tree(&src.join("blobs"), &layout.blobs, &mut copied)?;
    if !layout.master_key.exists() {
        copy_private(&src.join("master.key"), &layout.master_key, &mut copied)?;
    }
    Ok(copied)
}
