//! The blob store over the `object_store` crate: a local directory on the embedded default
//! (S3-compatible storage joins with the documents issue's configuration).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use docent_documents::ports::{BlobError, BlobStore};
use docent_kernel::{DocumentId, OrgId};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

/// Document bytes in an object store, at `orgs/{org_id}/documents/{document_id}`.
#[derive(Debug, Clone)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
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
        })
    }

    fn key(org: OrgId, document: DocumentId) -> ObjectPath {
        ObjectPath::from(format!("orgs/{org}/documents/{document}"))
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
        self.store
            .put(&Self::key(org, document), PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(unavailable)
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

    #[tokio::test]
    async fn bytes_round_trip_per_org_and_document_and_delete_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectBlobStore::local(&dir.path().join("blobs")).unwrap();
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
        let on_disk = dir.path().join(format!("blobs/orgs/{org}/documents"));
        assert!(on_disk.is_dir());
    }
}
