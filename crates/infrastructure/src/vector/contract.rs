//! One contract, run against both adapters: qdrant-edge always, a Qdrant server when
//! `DOCENT_TEST_QDRANT_URL` is set.

use docent_documents::ports::{IndexPoint, SearchMode, VectorIndex, VectorQuery};
use docent_kernel::{DocumentId, OrgId};

use super::{EdgeIndex, QdrantIndex};

const DIMS: usize = 4;

fn unit(v: [f32; DIMS]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn point(
    document: DocumentId,
    ordinal: u32,
    tags: &[&str],
    vector: [f32; DIMS],
    text: &str,
) -> IndexPoint {
    IndexPoint {
        document_id: document,
        ordinal,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        vector: unit(vector),
        text: text.to_owned(),
    }
}

fn query(vector: [f32; DIMS], text: &str, limit: usize) -> VectorQuery {
    VectorQuery {
        vector: unit(vector),
        text: text.to_owned(),
        limit,
        tags: None,
        document_ids: None,
        mode: SearchMode::Dense,
    }
}

async fn contract(index: &dyn VectorIndex) {
    index.ping().await.unwrap();
    let (org, other) = (OrgId::generate(), OrgId::generate());
    let (manual, faq, foreign) = (
        DocumentId::generate(),
        DocumentId::generate(),
        DocumentId::generate(),
    );
    index
        .upsert(
            org,
            vec![
                point(
                    manual,
                    0,
                    &["hr"],
                    [1.0, 0.0, 0.0, 0.0],
                    "vacation days are accrued monthly",
                ),
                point(
                    manual,
                    1,
                    &["hr"],
                    [0.0, 1.0, 0.0, 0.0],
                    "the parking garage closes at midnight",
                ),
                point(
                    manual,
                    2,
                    &["hr"],
                    [0.0, 0.0, 1.0, 0.0],
                    "expense reports need receipts",
                ),
                point(
                    faq,
                    0,
                    &["support"],
                    [0.9, 0.1, 0.0, 0.0],
                    "refunds take five business days",
                ),
            ],
        )
        .await
        .unwrap();
    // Another organization's point sits right on the query vector.
    index
        .upsert(
            other,
            vec![point(
                foreign,
                0,
                &["hr"],
                [1.0, 0.0, 0.0, 0.0],
                "vacation days",
            )],
        )
        .await
        .unwrap();

    let hits = index
        .search(org, query([1.0, 0.0, 0.0, 0.0], "vacation", 10))
        .await
        .unwrap();
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert!(
        hits.iter().all(|h| h.document_id != foreign),
        "another org's point leaked"
    );
    assert_eq!((hits[0].document_id, hits[0].ordinal), (manual, 0));
    assert!(
        (hits[0].score - 1.0).abs() < 1e-3,
        "cosine similarity {}",
        hits[0].score
    );
    assert_eq!((hits[1].document_id, hits[1].ordinal), (faq, 0));

    // Narrowed by tag and by document.
    let tagged = index
        .search(
            org,
            VectorQuery {
                tags: Some(vec!["support".into()]),
                ..query([1.0, 0.0, 0.0, 0.0], "x", 10)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        tagged.iter().map(|h| h.document_id).collect::<Vec<_>>(),
        vec![faq]
    );
    let only_manual = index
        .search(
            org,
            VectorQuery {
                document_ids: Some(vec![manual]),
                ..query([0.9, 0.1, 0.0, 0.0], "x", 10)
            },
        )
        .await
        .unwrap();
    assert_eq!(only_manual.len(), 3);
    assert!(only_manual.iter().all(|h| h.document_id == manual));
    let foreign_ids = index
        .search(
            org,
            VectorQuery {
                document_ids: Some(vec![foreign]),
                ..query([1.0, 0.0, 0.0, 0.0], "x", 10)
            },
        )
        .await
        .unwrap();
    assert!(
        foreign_ids.is_empty(),
        "naming another org's document must not reach it"
    );

    // Hybrid: the exact words pull the garage passage up although its vector is far away.
    let hybrid = index
        .search(
            org,
            VectorQuery {
                mode: SearchMode::Hybrid,
                ..query([1.0, 0.0, 0.0, 0.0], "parking garage midnight", 2)
            },
        )
        .await
        .unwrap();
    assert_eq!(hybrid.len(), 2);
    assert!(
        hybrid
            .iter()
            .any(|h| (h.document_id, h.ordinal) == (manual, 1)),
        "{hybrid:?}"
    );
    let garage = hybrid
        .iter()
        .find(|h| h.ordinal == 1 && h.document_id == manual)
        .unwrap();
    assert!(
        garage.score.abs() < 1e-3,
        "the reported score is the dense similarity: {}",
        garage.score
    );

    // Keyword alone: only passages sharing a word, best first, whatever their vectors.
    let keyword = index
        .search(
            org,
            VectorQuery {
                mode: SearchMode::Keyword,
                ..query([1.0, 0.0, 0.0, 0.0], "parking garage midnight", 5)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        keyword
            .iter()
            .map(|h| (h.document_id, h.ordinal))
            .collect::<Vec<_>>(),
        vec![(manual, 1)],
        "{keyword:?}"
    );
    assert!(keyword[0].score.abs() < 1e-3, "{}", keyword[0].score);
    // Another organization's "vacation days" matches the words exactly, and stays out; the
    // passage with both words comes before the one with one.
    let words = index
        .search(
            org,
            VectorQuery {
                mode: SearchMode::Keyword,
                ..query([1.0, 0.0, 0.0, 0.0], "vacation days", 5)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        words
            .iter()
            .map(|h| (h.document_id, h.ordinal))
            .collect::<Vec<_>>(),
        vec![(manual, 0), (faq, 0)],
        "{words:?}"
    );

    // Writing the same chunk twice keeps one point; shrinking drops the tail.
    index
        .upsert(
            org,
            vec![point(
                manual,
                0,
                &["hr"],
                [1.0, 0.0, 0.0, 0.0],
                "vacation days are accrued monthly",
            )],
        )
        .await
        .unwrap();
    assert_eq!(index.count(org, manual).await.unwrap(), 3);
    index.delete_from(org, manual, 2).await.unwrap();
    assert_eq!(index.count(org, manual).await.unwrap(), 2);

    // Deleting a document removes its points only, and only in its organization.
    index.delete_document(other, manual).await.unwrap();
    assert_eq!(
        index.count(org, manual).await.unwrap(),
        2,
        "another org cannot delete our points"
    );
    index.delete_document(org, manual).await.unwrap();
    assert_eq!(index.count(org, manual).await.unwrap(), 0);
    assert_eq!(index.count(org, faq).await.unwrap(), 1);
    assert_eq!(index.count(other, foreign).await.unwrap(), 1);
    let after = index
        .search(org, query([1.0, 0.0, 0.0, 0.0], "vacation", 10))
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|h| h.document_id).collect::<Vec<_>>(),
        vec![faq]
    );

    // An organization's purge removes all of its points and no other organization's.
    assert_eq!(index.count_org(org).await.unwrap(), 1);
    index.delete_org(org).await.unwrap();
    assert_eq!(index.count_org(org).await.unwrap(), 0);
    assert_eq!(index.count_org(other).await.unwrap(), 1);
    assert!(
        index
            .search(org, query([1.0, 0.0, 0.0, 0.0], "vacation", 10))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn edge_index_keeps_the_contract_and_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(dir.path(), "test-model", DIMS).unwrap();
    contract(&index).await;

    // A second process (here: a second open) is refused while the first holds the index.
    let refused = EdgeIndex::open(dir.path(), "test-model", DIMS).unwrap_err();
    assert!(refused.contains("in use by another process"), "{refused}");

    // Reopened, it still has what was written.
    let org = OrgId::generate();
    let document = DocumentId::generate();
    index
        .upsert(
            org,
            vec![point(document, 0, &[], [0.0, 0.0, 0.0, 1.0], "kept")],
        )
        .await
        .unwrap();
    index.optimize().await.unwrap();
    drop(index);
    let reopened = EdgeIndex::open(dir.path(), "test-model", DIMS).unwrap();
    assert_eq!(reopened.count(org, document).await.unwrap(), 1);
    // A vector of the wrong size is refused, not stored.
    let wrong = IndexPoint {
        vector: vec![1.0; DIMS + 1],
        ..point(document, 1, &[], [1.0, 0.0, 0.0, 0.0], "x")
    };
    assert!(matches!(
        reopened.upsert(org, vec![wrong]).await,
        Err(docent_documents::ports::IndexError::Invalid(_))
    ));
}

#[tokio::test]
async fn qdrant_server_index_keeps_the_contract() {
    let Ok(url) = std::env::var("DOCENT_TEST_QDRANT_URL") else {
        eprintln!(
            "skipped: set DOCENT_TEST_QDRANT_URL (a Qdrant server's gRPC URL) to run the Qdrant server adapter tests"
        );
        return;
    };
    // A collection of its own per run, so runs never see each other's points.
    let model = format!("test-{}", uuid::Uuid::now_v7().simple());
    let index = QdrantIndex::connect(&url, None, &model, DIMS)
        .await
        .unwrap();
    contract(&index).await;
}
