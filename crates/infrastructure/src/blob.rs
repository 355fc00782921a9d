//! The blob store over the `object_store` crate: a local directory on the embedded default, or
//! S3-compatible object storage (AWS S3, MinIO, Ceph, R2, …) at scale.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use docent_documents::ports::{BlobError, BlobStore, ByteStream};
use docent_kernel::{DocumentId, OrgId};
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use secrecy::ExposeSecret as _;

use crate::config::S3Config;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};

/// Parts of a streamed upload in flight at once (each up to 5 MiB).
const UPLOAD_PARTS_IN_FLIGHT: usize = 2;

/// Document bytes in an object store, at `orgs/{org_id}/documents/{document_id}`.
#[derive(Debug, Clone)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// The directory of the local backend, whose emptied directories an organization's purge
    /// removes too.
    local_root: Option<std::path::PathBuf>,
}

impl ObjectBlobStore {
    /// A store in a local directory (created when missing).
    pub fn local(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("blob directory {}: {e}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("blob directory {}: {e}", dir.display()))?;
        Ok(Self {
            store: Arc::new(store),
            local_root: Some(dir.to_path_buf()),
        })
    }

    /// A store in an S3-compatible bucket. Settings left unset come from the standard `AWS_*`
    /// environment variables.
    pub fn s3(settings: &S3Config) -> Result<Self, String> {
        crate::tls::init();
        let bucket = settings
            .bucket
            .as_deref()
            .ok_or_else(|| "blobs.s3.bucket is required".to_owned())?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(settings.allow_http);
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        let store = builder
            .build()
            .map_err(|e| format!("S3 blob store ({bucket}): {e}"))?;
        Ok(Self {
            store: Arc::new(store),
            local_root: None,
        })
    }

    fn key(org: OrgId, document: DocumentId) -> ObjectPath {
        ObjectPath::from(format!("orgs/{org}/documents/{document}"))
    }

    /// Everything of an organization lives below this prefix.
    fn org_prefix(org: OrgId) -> ObjectPath {
        ObjectPath::from(format!("orgs/{org}"))
    }
}

fn unavailable(error: object_store::Error) -> BlobError {
    if matches!(error, object_store::Error::NotFound { .. }) {
        BlobError::NotFound
    } else {
        BlobError::Unavailable(error.to_string())
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, org: OrgId, document: DocumentId, bytes: Vec<u8>) -> Result<(), BlobError> {
        // Not found while writing means the bucket (or directory) is gone: an outage, not a
        // missing document.
        self.store
            .put(&Self::key(org, document), PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|e| BlobError::Unavailable(e.to_string()))
    }

    async fn get(&self, org: OrgId, document: DocumentId) -> Result<Vec<u8>, BlobError> {
        let found = self
            .store
            .get(&Self::key(org, document))
            .await
            .map_err(unavailable)?;
        let bytes = found.bytes().await.map_err(unavailable)?;
        Ok(bytes.to_vec())
    }

    async fn stream(&self, org: OrgId, document: DocumentId) -> Result<ByteStream, BlobError> {
        let found = self
            .store
            .get(&Self::key(org, document))
            .await
            .map_err(unavailable)?;
        Ok(Box::pin(
            found
                .into_stream()
                .map_ok(|bytes| bytes.to_vec())
                .map_err(unavailable),
        ))
    }

    async fn put_stream(
        &self,
        org: OrgId,
        document: DocumentId,
        mut bytes: ByteStream,
    ) -> Result<(), BlobError> {
        let outage = |e: object_store::Error| BlobError::Unavailable(e.to_string());
        let upload = self
            .store
            .put_multipart(&Self::key(org, document))
            .await
            .map_err(outage)?;
        // Buffers at most a part (5 MiB) per part in flight; nothing is visible under the key
        // until `finish`.
        let mut writer = WriteMultipart::new(upload);
        while let Some(piece) = bytes.next().await {
            let piece = match piece {
                Ok(piece) => piece,
                Err(error) => {
                    if let Err(abort) = writer.abort().await {
                        tracing::warn!(error = %abort, "could not abort an interrupted upload");
                    }
                    return Err(error);
                }
            };
            writer
                .wait_for_capacity(UPLOAD_PARTS_IN_FLIGHT)
                .await
                .map_err(outage)?;
            writer.write(&piece);
        }
        writer.finish().await.map(drop).map_err(outage)
    }

    async fn delete_org(&self, org: OrgId) -> Result<(), BlobError> {
        let locations = self
            .store
            .list(Some(&Self::org_prefix(org)))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(outcome) = deleted.next().await {
            match outcome.map_err(unavailable) {
                Ok(_) | Err(BlobError::NotFound) => {}
                Err(other @ BlobError::Unavailable(_)) => return Err(other),
            }
        }
        if let Some(root) = &self.local_root {
            // What is left are empty directories (and staging files of interrupted uploads).
            let dir = root.join(format!("orgs/{org}"));
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BlobError::Unavailable(format!("{}: {e}", dir.display()))),
            }
        }
        Ok(())
    }

    async fn count_org(&self, org: OrgId) -> Result<u64, BlobError> {
        let mut listed = self.store.list(Some(&Self::org_prefix(org)));
        let mut count = 0;
        while let Some(meta) = listed.next().await {
            match meta.map_err(unavailable) {
                Ok(_) => count += 1,
                Err(BlobError::NotFound) => {}
                Err(other @ BlobError::Unavailable(_)) => return Err(other),
            }
        }
        Ok(count)
    }

    async fn delete(&self, org: OrgId, document: DocumentId) -> Result<(), BlobError> {
        match self
            .store
            .delete(&Self::key(org, document))
            .await
            .map_err(unavailable)
        {
            Ok(()) | Err(BlobError::NotFound) => Ok(()),
            Err(other @ BlobError::Unavailable(_)) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every backend must do.
    async fn contract(store: &ObjectBlobStore) {
        let (org, other_org) = (OrgId::generate(), OrgId::generate());
        let document = DocumentId::generate();
        let bytes = b"%PDF-1.7 original bytes \x00\xff".to_vec();
        store.put(org, document, bytes.clone()).await.unwrap();
        assert_eq!(store.get(org, document).await.unwrap(), bytes);
        // The same document id under another organization is another key.
        assert_eq!(
            store.get(other_org, document).await,
            Err(BlobError::NotFound)
        );
        store
            .put(org, document, b"replaced".to_vec())
            .await
            .unwrap();
        assert_eq!(store.get(org, document).await.unwrap(), b"replaced");
        store.delete(org, document).await.unwrap();
        store.delete(org, document).await.unwrap();
        assert_eq!(store.get(org, document).await, Err(BlobError::NotFound));

        // Streamed in and out in pieces, larger than one upload part.
        let big: Vec<u8> = (0..12 * 1024 * 1024_u32).map(|i| (i % 251) as u8).collect();
        let pieces: Vec<Result<Vec<u8>, BlobError>> =
            big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        store
            .put_stream(org, document, Box::pin(futures_util::stream::iter(pieces)))
            .await
            .unwrap();
        let mut read = Vec::new();
        let mut streamed = store.stream(org, document).await.unwrap();
        while let Some(piece) = streamed.next().await {
            read.extend(piece.unwrap());
        }
        assert!(read == big, "streamed bytes differ");
        // A stream that fails stores nothing.
        let other = DocumentId::generate();
        let failing: Vec<Result<Vec<u8>, BlobError>> = vec![
            Ok(b"first".to_vec()),
            Err(BlobError::Unavailable("the client went away".into())),
        ];
        assert!(
            store
                .put_stream(org, other, Box::pin(futures_util::stream::iter(failing)))
                .await
                .is_err()
        );
        assert_eq!(store.get(org, other).await, Err(BlobError::NotFound));
        assert!(matches!(
            store.stream(org, other).await,
            Err(BlobError::NotFound)
        ));

        // An organization's purge takes all of its blobs and nobody else's.
        store.put(org, other, b"second".to_vec()).await.unwrap();
        store
            .put(other_org, document, b"theirs".to_vec())
            .await
            .unwrap();
        assert_eq!(store.count_org(org).await.unwrap(), 2);
        store.delete_org(org).await.unwrap();
        store.delete_org(org).await.unwrap();
        assert_eq!(store.count_org(org).await.unwrap(), 0);
        assert_eq!(store.count_org(other_org).await.unwrap(), 1);
        store.delete_org(other_org).await.unwrap();
    }

    #[tokio::test]
    async fn local_directory_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectBlobStore::local(&dir.path().join("blobs")).unwrap();
        contract(&store).await;
        let org = OrgId::generate();
        store
            .put(org, DocumentId::generate(), b"x".to_vec())
            .await
            .unwrap();
        let on_disk = dir.path().join(format!("blobs/orgs/{org}/documents"));
        assert!(on_disk.is_dir());
        store.delete_org(org).await.unwrap();
        assert!(!dir.path().join(format!("blobs/orgs/{org}")).exists());
    }

    #[tokio::test]
    async fn s3_bucket_keeps_the_contract() {
        let Ok(endpoint) = std::env::var("DOCENT_TEST_S3_URL") else {
            eprintln!(
                "skipped: set DOCENT_TEST_S3_URL (an S3-compatible endpoint with a bucket named by DOCENT_TEST_S3_BUCKET, default docent-test) to run the S3 blob store tests"
            );
            return;
        };
        let settings = S3Config {
            bucket: Some(
                std::env::var("DOCENT_TEST_S3_BUCKET").unwrap_or_else(|_| "docent-test".into()),
            ),
            region: Some("us-east-1".into()),
            endpoint: Some(endpoint.clone()),
            access_key_id: Some("test".into()),
            secret_access_key: Some(secrecy::SecretString::from("test")),
            allow_http: endpoint.starts_with("http://"),
        };
        let store = ObjectBlobStore::s3(&settings).unwrap();
        contract(&store).await;
        // A bucket that does not exist is an outage, not a missing document.
        let missing = ObjectBlobStore::s3(&S3Config {
            bucket: Some("docent-no-such-bucket".into()),
            ..settings
        })
        .unwrap();
        assert!(matches!(
            missing
                .put(OrgId::generate(), DocumentId::generate(), b"x".to_vec())
                .await,
            Err(BlobError::Unavailable(_))
        ));
    }
}
