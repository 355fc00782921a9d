//! CSV: each row becomes a line of `header: value` pairs; rows are grouped into blocks.

use super::{BlockKind, Collector, ExtractError, Extracted, Limits, MediaType};

/// Rows per block.
const ROWS_PER_BLOCK: usize = 50;

pub(crate) fn extract(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ExtractError::Damaged(format!("CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut collector = Collector::new(limits);
    let mut block = String::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| ExtractError::Damaged(format!("CSV row: {e}")))?;
        let mut line = String::new();
        for (i, value) in record.iter().enumerate() {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if !line.is_empty() {
                line.push_str("; ");
            }
            if let Some(header) = headers.get(i).filter(|h| !h.is_empty()) {
                line.push_str(header);
                line.push_str(": ");
            }
            line.push_str(value);
        }
        block.push_str(&line);
        block.push_str("\n\n");
        rows += 1;
        if rows % ROWS_PER_BLOCK == 0 {
            collector.push(None, BlockKind::Text, &std::mem::take(&mut block))?;
        }
    }
    collector.push(None, BlockKind::Text, &block)?;
    if rows == 0 {
        // A header line alone still says something.
        collector.push(None, BlockKind::Text, &headers.join("; "))?;
    }
    collector.finish(MediaType::Csv)
}
