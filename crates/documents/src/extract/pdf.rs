//! PDF: text page by page, with page numbers. Encrypted files are refused with their own code;
//! decompression of content streams is capped.

use super::{Collector, ExtractError, Extracted, Limits, MediaType};

pub(crate) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let document = match lopdf::Document::load_mem(bytes) {
        Ok(document) => document,
        // lopdf tries to open encrypted files with an empty password and fails on the rest.
        Err(_) if bytes.windows(8).any(|w| w == b"/Encrypt") => {
            return Err(ExtractError::EncryptedPdf);
        }
        Err(error) => return Err(ExtractError::Damaged(format!("PDF: {error}"))),
    };
    if document.is_encrypted() || document.trailer.get(b"Encrypt").is_ok() {
        return Err(ExtractError::EncryptedPdf);
    }
    let pages = document.get_pages();
    if pages.len() > limits.max_pages as usize {
        return Err(ExtractError::TooManyPages {
            pages: pages.len(),
            max: limits.max_pages,
        });
    }
    let max_stream = usize::try_from(limits.max_unpacked_bytes).unwrap_or(usize::MAX);
    let mut collector = Collector::new(limits);
    let mut readable = 0;
    for &number in pages.keys() {
        // A page whose text cannot be read (an image-only scan, a broken stream) is skipped; a
        // document without any readable page fails below.
        if let Ok(text) = document.extract_text_with_limit(&[number], max_stream) {
            readable += 1;
            collector.push(Some(number), false, &text)?;
        }
    }
    if readable == 0 && !pages.is_empty() {
        return Err(ExtractError::Damaged(
            "PDF: no page could be read".to_owned(),
        ));
    }
    collector.finish(MediaType::Pdf)
}
