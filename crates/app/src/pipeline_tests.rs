//! The ingestion pipeline and the worker over real components (SQLite, the local blob directory,
//! qdrant-edge, the real embedding model), with the vector index made to fail for a while: uploads
//! and deletions both end right once it is back, through the worker's retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use docent_documents::chunk::Chunker;
use docent_documents::in_process::InProcessExtractor;
use docent_documents::jobs::JobQueue as _;
use docent_documents::pipeline::{EmbeddingUsage, IngestPorts, Ingestor, PipelineSettings};
use docent_documents::ports::{
    BlobError, BlobStore as _, IndexError, IndexPoint, VectorHit, VectorIndex, VectorQuery,
};
use docent_documents::{DocumentPorts, DocumentService, DocumentStatus, Upload, UploadLimits};
use docent_kernel::{Actor, DocumentId, OrgId, SystemClock, TenantCtx, UserId};
use docent_worker::{Worker, WorkerSettings};

use docent_infrastructure::blob::ObjectBlobStore;
use docent_infrastructure::db::SqlStore;
use docent_infrastructure::embedder::{LocalEmbedder, TOKENIZER_FILE};
use docent_infrastructure::testing::{Backend, TestDatabase, models_dir};
use docent_infrastructure::vector::EdgeIndex;

/// The real index, down for the next `outage` writes.
#[derive(Debug)]
struct Flaky {
    inner: EdgeIndex,
    outage: AtomicU32,
}

impl Flaky {
    fn down(&self) -> Result<(), IndexError> {
        let left = self.outage.load(Ordering::SeqCst);
        if left > 0 {
            self.outage.store(left - 1, Ordering::SeqCst);
            return Err(IndexError::Unavailable(
                "connection refused (simulated outage)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl VectorIndex for Flaky {
    async fn upsert(&self, org: OrgId, points: Vec<IndexPoint>) -> Result<(), IndexError> {
        self.down()?;
        self.inner.upsert(org, points).await
    }
    async fn delete_document(&self, org: OrgId, document: DocumentId) -> Result<(), IndexError> {
        self.down()?;
        self.inner.delete_document(org, document).await
    }
    async fn delete_from(
        &self,
        org: OrgId,
        document: DocumentId,
        from: u32,
    ) -> Result<(), IndexError> {
        self.down()?;
        self.inner.delete_from(org, document, from).await
    }
    async fn search(&self, org: OrgId, query: VectorQuery) -> Result<Vec<VectorHit>, IndexError> {
        self.inner.search(org, query).await
    }
    async fn count(&self, org: OrgId, document: DocumentId) -> Result<u64, IndexError> {
        self.inner.count(org, document).await
    }
    async fn delete_org(&self, org: OrgId) -> Result<(), IndexError> {
        self.down()?;
        self.inner.delete_org(org).await
    }
    async fn count_org(&self, org: OrgId) -> Result<u64, IndexError> {
        self.inner.count_org(org).await
    }
    async fn ping(&self) -> Result<(), IndexError> {
        self.inner.ping().await
    }
}

#[derive(Debug)]
struct NoUsage;

#[async_trait]
impl EmbeddingUsage for NoUsage {
    async fn embedded(&self, _: OrgId, _: u64, _: chrono::DateTime<chrono::Utc>) {}
}

async fn status(store: &SqlStore, org: OrgId, id: DocumentId) -> Option<DocumentStatus> {
    docent_documents::ports::DocumentRepo::get(store, org, id)
        .await
        .unwrap()
        .map(|d| d.status)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_outage_delays_ingestion_and_purges_but_loses_nothing() {
    let (database, connection) = TestDatabase::migrated(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::new(connection);
    // Documents belong to an organization.
    let owner = docent_identity::User {
        id: UserId::generate(),
        email: docent_kernel::Email::parse("flaky@example.com").unwrap(),
        name: docent_identity::DisplayName::parse("Flaky").unwrap(),
        created_at: chrono::Utc::now(),
        disabled_at: None,
    };
    docent_identity::UserRepo::insert(&store, &owner, "$argon2id$stored-hash")
        .await
        .unwrap();
    let name = docent_tenancy::OrgName::parse("Flaky").unwrap();
    let organization = docent_tenancy::Organization {
        id: OrgId::generate(),
        slug: docent_tenancy::Slug::derive(name.as_str(), "org"),
        name,
        created_at: chrono::Utc::now(),
    };
    docent_tenancy::OrgRepo::create(&store, &organization, owner.id, chrono::Utc::now())
        .await
        .unwrap();
    let (owner, org) = (owner.id, organization.id);
    let store = Arc::new(store);
    let embedder = LocalEmbedder::shared(&models_dir()).unwrap();
    let index = Arc::new(Flaky {
        inner: EdgeIndex::open(dir.path(), "model", 384).unwrap(),
        // The first two writes fail: the document's first attempt and its retry.
        outage: AtomicU32::new(2),
    });
    let blobs = Arc::new(ObjectBlobStore::local(&dir.path().join("blobs")).unwrap());
    let tokenizer = std::fs::read(models_dir().join(TOKENIZER_FILE)).unwrap();
    let documents = DocumentService::new(
        DocumentPorts {
            repo: store.clone(),
            blobs: blobs.clone(),
            index: index.clone(),
            embedder: embedder.clone(),
            previous: None,
            audit: store.clone(),
            clock: Arc::new(SystemClock),
        },
        UploadLimits::default(),
    );
    let ingestor = Ingestor::new(
        IngestPorts {
            repo: store.clone(),
            blobs: blobs.clone(),
            index: index.clone(),
            embedder,
            previous: None,
            extractor: Arc::new(InProcessExtractor::new(Arc::new(
                Chunker::new(&tokenizer, 200, 30).unwrap(),
            ))),
            usage: Arc::new(NoUsage),
            clock: Arc::new(SystemClock),
        },
        PipelineSettings::default(),
    );
    let worker = Worker::new(
        store.clone(),
        Arc::new(ingestor),
        Arc::new(SystemClock),
        WorkerSettings {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            ..WorkerSettings::default()
        },
        "flaky",
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));

    let tenant = TenantCtx::new(org, Actor::User(owner));
    let document = documents
        .upload(
            &tenant,
            Upload {
                bytes: b"The warehouse opens at six in the morning.".to_vec(),
                file_name: Some("hours.txt".into()),
                title: None,
                tags: Vec::new(),
                allow_duplicate: false,
            },
        )
        .await
        .unwrap();
    let wait = |want: Option<DocumentStatus>| {
        let store = store.clone();
        async move {
            for _ in 0..300 {
                if status(&store, org, document.id).await == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("never reached {want:?}");
        }
    };
    wait(Some(DocumentStatus::Ready)).await;
    assert_eq!(index.count(org, document.id).await.unwrap(), 1);

    // Deleted while the index is down: gone at once for the API, vectors and bytes once it is back.
    index.outage.store(3, Ordering::SeqCst);
    documents.delete(&tenant, document.id).await.unwrap();
    wait(None).await;
    for _ in 0..300 {
        if store.pending().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.pending().await.unwrap(),
        0,
        "the purge never finished"
    );
    assert_eq!(index.outage.load(Ordering::SeqCst), 0, "the outage was hit");
    assert_eq!(index.count(org, document.id).await.unwrap(), 0);
    assert_eq!(blobs.get(org, document.id).await, Err(BlobError::NotFound));

    let _ = stop.send(());
    running.await.unwrap();
    drop(database);
}
