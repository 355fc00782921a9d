//! `embedded-faq [QUESTION]`: loads two small built-in documents into an in-memory FAQ and answers
//! one question with its citations.

use std::io::Write as _;
use std::process::ExitCode;

use docent_example_embedded_faq::{Faq, default_tokenizer_path};

const RETURNS: &str = "\
# Returns policy

## Returning an item

You can return any unused item within 30 days of delivery for a full refund. Bring the receipt \
or quote the order number.

## Refunds

Refunds go back to the original payment method within 5 business days after the item reaches us.
";

const HOURS: &str = "\
Opening hours

The shop on Harbour Street is open Monday to Friday from 9:00 to 18:00 and on Saturday from \
10:00 to 16:00. It is closed on Sundays and public holidays.
";

const DEFAULT_QUESTION: &str = "How many days do I have to return an item?";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Nothing sensible is left to do when stderr itself fails.
            let _ = writeln!(std::io::stderr(), "embedded-faq: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_QUESTION.to_owned());
    let tokenizer = default_tokenizer_path()
        .ok_or("no models directory: set DOCENT_MODELS_DIR (scripts/fetch-models fills it)")?;
    let faq = Faq::new(&tokenizer).await?;
    faq.add_document("Returns policy", "returns.md", RETURNS.into())
        .await?;
    faq.add_document("Opening hours", "hours.txt", HOURS.into())
        .await?;
    let answer = faq.ask(&question).await?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "Q: {question}\n\n{}\n", answer.text)?;
    for citation in &answer.citations {
        // The section path starts at the document's top heading, often its title.
        let place = citation.section.as_deref().unwrap_or(&citation.title);
        writeln!(
            out,
            "[{}] {place} (score {:.2}): {}",
            citation.n,
            citation.score,
            citation.snippet.replace('\n', " ")
        )?;
    }
    Ok(())
}
