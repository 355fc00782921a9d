//! What the fuzz targets share: an extractor run with small limits, and an SSE decoder fed
//! arbitrarily split bytes.

#![allow(dead_code)]

use docent_documents::extract::{Limits, MediaType, extract_as};
use docent_providers::chat::ChatStream;
use futures_util::StreamExt as _;

/// Runs the `media_type` extractor on `data`: it ends with text or an error, never a panic, a hang
/// or unbounded memory (the limits are small so that runs stay fast).
pub fn extract(media_type: MediaType, data: &[u8]) {
    let limits = Limits {
        max_pages: 50,
        max_chars: 1_000_000,
        max_unpacked_bytes: 16 * 1024 * 1024,
        max_archive_entries: 200,
    };
    if let Ok(extracted) = extract_as(media_type, data, &limits) {
        assert!(extracted.char_count() <= limits.max_chars);
        assert!(!extracted.blocks.is_empty());
    }
}

/// Feeds `data` (its first byte says how large the pieces are) to an SSE decoder: it never panics
/// and the stream always ends.
pub fn decode(
    data: &[u8],
    decoder: fn(futures_util::stream::Iter<std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>>) -> ChatStream,
) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = rest
        .chunks(usize::from(split).max(1))
        .map(|piece| Ok(piece.to_vec()))
        .collect();
    let chunks: Vec<_> = futures_executor::block_on(decoder(futures_util::stream::iter(pieces)).collect());
    // Each event of at least a few bytes yields a few chunks at most, plus one for the end.
    assert!(chunks.len() <= rest.len() + 2);
}
