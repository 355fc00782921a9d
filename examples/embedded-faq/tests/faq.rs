//! The FAQ end to end over its own adapters, with the real tokenizer: documents in, cited answers
//! out, duplicates refused, questions it cannot answer met with the fallback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use docent_documents::DocumentError;
use docent_example_embedded_faq::{FALLBACK_ANSWER, Faq, FaqError, default_tokenizer_path};

const RETURNS: &str = "\
# Returns policy

## Returning an item

Unused items can be returned within 30 days of delivery for a full refund. Please bring the \
receipt or the order number.

## Refunds

The refund goes back to the original payment method within 5 business days.
";

const HOURS: &str = "\
Opening hours

The shop on Harbour Street is open Monday to Friday from 9:00 to 18:00 and on Saturday from \
10:00 to 16:00. It is closed on Sundays and public holidays.
";

async fn faq() -> Faq {
    let tokenizer = default_tokenizer_path().expect("a models directory");
    assert!(
        tokenizer.is_file(),
        "{} is missing: run scripts/fetch-models",
        tokenizer.display()
    );
    Faq::new(&tokenizer).await.unwrap()
}

#[tokio::test]
async fn answers_from_the_right_document_with_citations() {
    let faq = faq().await;
    let returns = faq
        .add_document("Returns policy", "returns.md", RETURNS.into())
        .await
        .unwrap();
    let hours = faq
        .add_document("Opening hours", "hours.txt", HOURS.into())
        .await
        .unwrap();

    let answer = faq
        .ask("How many days do I have to return an item?")
        .await
        .unwrap();
    assert!(answer.text.contains("within 30 days"), "{answer:#?}");
    assert!(answer.text.contains("[1]"), "{answer:#?}");
    let first = answer.citations.first().expect("a citation");
    assert_eq!(
        (first.n, first.document_id, first.title.as_str()),
        (1, returns, "Returns policy")
    );
    assert!(
        answer.citations.iter().all(|c| c.document_id != hours),
        "the opening hours say nothing about returns: {answer:#?}"
    );

    let answer = faq.ask("Is the shop open on Saturday?").await.unwrap();
    assert!(answer.text.contains("10:00 to 16:00"), "{answer:#?}");
    assert_eq!(answer.citations[0].title, "Opening hours", "{answer:#?}");

    // The same bytes again, under another title: the organization has them already.
    let duplicate = faq
        .add_document("Returns (copy)", "copy.md", RETURNS.into())
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, FaqError::Documents(DocumentError::Duplicate(id)) if id == returns),
        "{duplicate:?}"
    );

    let answer = faq
        .ask("Do you offer free parking for visitors?")
        .await
        .unwrap();
    assert_eq!(answer.text, FALLBACK_ANSWER, "{answer:#?}");
    assert!(answer.citations.is_empty());

    // Removed, the opening hours answer nothing any more, and may be added again.
    faq.remove_document(hours).await.unwrap();
    let answer = faq.ask("Is the shop open on Saturday?").await.unwrap();
    assert_eq!(answer.text, FALLBACK_ANSWER, "{answer:#?}");
    faq.add_document("Opening hours", "hours.txt", HOURS.into())
        .await
        .unwrap();
}

#[tokio::test]
async fn refuses_what_is_no_document() {
    let faq = faq().await;
    let empty = faq
        .add_document("Nothing", "empty.txt", b"  \n ".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(empty, FaqError::Documents(DocumentError::Empty)),
        "{empty:?}"
    );
    let missing = Faq::new(std::path::Path::new("/no/such/tokenizer.json"))
        .await
        .unwrap_err();
    assert!(matches!(missing, FaqError::Tokenizer { .. }), "{missing:?}");
}
