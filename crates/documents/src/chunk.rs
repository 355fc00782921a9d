//! Chunking: the extracted text is cut into passages measured in tokens of the embedding model's
//! own tokenizer, with an overlap between neighbours, preferring paragraph (and so heading)
//! boundaries, then sentences, then words. Each chunk keeps its ordinal, its character span in the
//! document's text, and the page it starts on.

use text_splitter::{ChunkConfig, TextSplitter};
use tokenizers::Tokenizer;

use crate::extract::{ExtractError, Extracted, Limits, MediaType, extract};

/// One passage of a document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    /// Its position in the document, from 0.
    pub ordinal: u32,
    /// The text.
    pub text: String,
    /// The first character (in Unicode scalar values) in the document's text.
    pub char_start: usize,
    /// One past the last character.
    pub char_end: usize,
    /// The page it lies on, for formats with pages.
    pub page: Option<u32>,
    /// Its length in tokens of the embedding model.
    pub token_count: usize,
}

/// The most bytes of text the splitter is given at once. For every chunk it makes, text-splitter
/// looks over all of the text it was given that is still to come (to sort the semantic levels left,
/// and to find the end of the first sentence), so its work grows with the text's length times the
/// number of chunks: a 40 MB text with many paragraphs, or one without a full stop, took hours.
/// Windows of this size keep chunking linear in the text; a window ends at the best boundary in
/// its second half (a blank line, a line break, a sentence's end, a space), where the splitter
/// would cut anyway, and chunks do not overlap across that cut.
const WINDOW_BYTES: usize = 16 * 1024;

/// The length of the next window of `text`.
fn window_len(text: &str) -> usize {
    if text.len() <= WINDOW_BYTES {
        return text.len();
    }
    let mut limit = WINDOW_BYTES;
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let region = &text[..limit];
    ["\n\n", "\n", ". ", " "]
        .iter()
        .find_map(|separator| {
            region
                .rfind(separator)
                .filter(|&at| at >= WINDOW_BYTES / 2)
                .map(|at| at + separator.len())
        })
        .unwrap_or(limit)
}

/// Cuts documents into token-bounded, overlapping chunks.
pub struct Chunker {
    splitter: TextSplitter<Tokenizer>,
    tokenizer: Tokenizer,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chunker")
    }
}

impl Chunker {
    /// A chunker for the tokenizer in `tokenizer_json` (a Hugging Face `tokenizer.json`), making
    /// chunks of at most `max_tokens` tokens that overlap their predecessor by up to `overlap`.
    pub fn new(tokenizer_json: &[u8], max_tokens: usize, overlap: usize) -> Result<Self, String> {
        let mut tokenizer =
            Tokenizer::from_bytes(tokenizer_json).map_err(|e| format!("tokenizer: {e}"))?;
        // Model files often pad and truncate every input to a fixed length; measuring chunks needs
        // their true length.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| format!("tokenizer: {e}"))?;
        let config = ChunkConfig::new(max_tokens)
            .with_overlap(overlap)
            .map_err(|e| format!("chunk settings: {e}"))?
            .with_sizer(tokenizer.clone());
        Ok(Self {
            splitter: TextSplitter::new(config),
            tokenizer,
        })
    }

    /// The document's text as chunked: its blocks joined by blank lines.
    #[must_use]
    pub fn document_text(extracted: &Extracted) -> String {
        extracted
            .blocks
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The chunks of a document, in order. Pages are chunked separately, so every chunk lies on
    /// exactly one page and its page number is exact.
    #[must_use]
    pub fn chunk(&self, extracted: &Extracted) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        // Characters of the document's text before the current page group (blocks are joined by
        // "\n\n", two characters).
        let mut group_chars = 0_usize;
        let mut blocks = extracted.blocks.iter().peekable();
        while let Some(first) = blocks.next() {
            let page = first.page;
            let mut group = first.text.clone();
            while let Some(next) = blocks.next_if(|b| b.page == page) {
                group.push_str("\n\n");
                group.push_str(&next.text);
            }
            let mut window_start = 0_usize;
            let mut window_chars = 0_usize;
            while window_start < group.len() {
                let window =
                    &group[window_start..window_start + window_len(&group[window_start..])];
                // Byte offsets within the window become character offsets by counting forward.
                let (mut counted_bytes, mut counted_chars) = (0_usize, 0_usize);
                for (start, piece) in self.splitter.chunk_indices(window) {
                    if start >= counted_bytes {
                        counted_chars += window[counted_bytes..start].chars().count();
                    } else {
                        counted_chars -= window[start..counted_bytes].chars().count();
                    }
                    counted_bytes = start;
                    let char_start = group_chars + window_chars + counted_chars;
                    let token_count = self
                        .tokenizer
                        .encode(piece, false)
                        .map_or(0, |encoding| encoding.len());
                    chunks.push(Chunk {
                        ordinal: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                        text: piece.to_owned(),
                        char_start,
                        char_end: char_start + piece.chars().count(),
                        page,
                        token_count,
                    });
                }
                window_chars += window.chars().count();
                window_start += window.len();
            }
            group_chars += group.chars().count() + 2;
        }
        chunks
    }
}

/// Extracts the text of `bytes` and cuts it into chunks: what the extraction sandbox does with a
/// document. An empty result is `EmptyText`.
pub fn extract_and_chunk(
    bytes: &[u8],
    file_name: Option<&str>,
    limits: &Limits,
    chunker: &Chunker,
) -> Result<(MediaType, Vec<Chunk>), ExtractError> {
    let extracted = extract(bytes, file_name, limits)?;
    let chunks = chunker.chunk(&extracted);
    if chunks.is_empty() {
        return Err(ExtractError::EmptyText);
    }
    Ok((extracted.media_type, chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Block, MediaType};

    fn tokenizer_json() -> Vec<u8> {
        // The embedding model's tokenizer, as `scripts/fetch-models` unpacks it (`./dev test` runs it).
        let dir = std::env::var_os("DOCENT_MODELS_DIR").map_or_else(
            || {
                std::path::PathBuf::from(std::env::var_os("HOME").unwrap())
                    .join(".cache/docent/models")
            },
            std::path::PathBuf::from,
        );
        let path = dir.join("all-minilm-l6-v2/tokenizer.json");
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} ({e}); run scripts/fetch-models", path.display()))
    }

    fn block(page: Option<u32>, heading: bool, text: &str) -> Block {
        Block {
            page,
            heading,
            text: text.to_owned(),
        }
    }

    #[test]
    fn chunks_stay_within_the_token_budget_and_overlap() {
        let chunker = Chunker::new(&tokenizer_json(), 64, 16).unwrap();
        let sentence =
            "The battery charges fully in about two hours when the original adapter is used. ";
        let extracted = Extracted {
            media_type: MediaType::Pdf,
            blocks: vec![
                block(Some(1), true, "Charging"),
                block(Some(1), false, &sentence.repeat(12)),
                block(Some(2), true, "Storage"),
                block(
                    Some(2),
                    false,
                    "Store the device in a dry place between 10 and 25 °C.",
                ),
            ],
        };
        let text = Chunker::document_text(&extracted);
        let chunks = chunker.chunk(&extracted);
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.ordinal as usize, i);
            assert!(
                chunk.token_count <= 64,
                "chunk {i} has {} tokens",
                chunk.token_count
            );
            let span: String = text
                .chars()
                .skip(chunk.char_start)
                .take(chunk.char_end - chunk.char_start)
                .collect();
            assert_eq!(span, chunk.text, "chunk {i}'s span");
        }
        // Neighbours inside the long paragraph share text.
        let overlapping = chunks
            .windows(2)
            .filter(|w| w[1].char_start < w[0].char_end)
            .count();
        assert!(overlapping >= 1);
        // Pages follow the blocks; no chunk crosses a page; the last one is page 2's.
        assert_eq!(chunks[0].page, Some(1));
        let last = chunks.last().unwrap();
        assert_eq!(last.page, Some(2));
        assert_eq!(
            last.text,
            "Storage\n\nStore the device in a dry place between 10 and 25 °C."
        );
        assert!(
            chunks
                .iter()
                .filter(|c| c.page == Some(1))
                .all(|c| !c.text.contains("Storage"))
        );
        // Non-ASCII text keeps character spans right.
        assert!(text.chars().count() >= last.char_end);
    }

    /// Paragraphs of words, as blocks on pages.
    fn documents() -> impl proptest::strategy::Strategy<Value = Vec<(u32, String)>> {
        use proptest::prelude::*;
        let word = "[a-zA-Zäöüß0-9]{1,12}";
        let paragraph = proptest::collection::vec(word, 1..60).prop_map(|w| w.join(" "));
        proptest::collection::vec((1_u32..4, paragraph), 1..12).prop_map(|mut blocks| {
            // Pages only grow.
            blocks.sort_by_key(|(page, _)| *page);
            blocks
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever the text: ordinals count up, every chunk is its span of the document's text,
        /// lies on a page of the document, stays within the token budget, and together the chunks
        /// cover every word.
        #[test]
        fn chunks_are_spans_within_budget_that_cover_the_text(blocks in documents()) {
            let chunker = Chunker::new(&tokenizer_json(), 40, 8).unwrap();
            let extracted = Extracted {
                media_type: MediaType::Pdf,
                blocks: blocks.iter().map(|(page, text)| block(Some(*page), false, text)).collect(),
            };
            let text: Vec<char> = Chunker::document_text(&extracted).chars().collect();
            let chunks = chunker.chunk(&extracted);
            let mut covered = vec![false; text.len()];
            for (i, chunk) in chunks.iter().enumerate() {
                proptest::prop_assert_eq!(chunk.ordinal as usize, i);
                proptest::prop_assert!(chunk.token_count <= 40, "{} tokens", chunk.token_count);
                let span: String = text[chunk.char_start..chunk.char_end].iter().collect();
                proptest::prop_assert_eq!(&span, &chunk.text);
                proptest::prop_assert!(blocks.iter().any(|(p, _)| Some(*p) == chunk.page));
                covered[chunk.char_start..chunk.char_end].fill(true);
            }
            for (c, seen) in text.iter().zip(&covered) {
                proptest::prop_assert!(c.is_whitespace() || *seen, "{c:?} is in no chunk");
            }
        }
    }

    #[test]
    fn long_texts_are_chunked_window_by_window_with_exact_spans() {
        let chunker = Chunker::new(&tokenizer_json(), 64, 16).unwrap();
        // Many windows' worth: paragraphs, then one long run without a full stop, in two pages.
        let paragraphs: String = (0..800)
            .map(|i| format!("Paragraph {i} says the depot opens at seven and closes at nine.\n\n"))
            .collect();
        let unpunctuated = "über den Wolken ".repeat(4_000);
        let extracted = Extracted {
            media_type: MediaType::Pdf,
            blocks: vec![
                block(Some(1), false, paragraphs.trim()),
                block(Some(2), false, unpunctuated.trim()),
            ],
        };
        assert!(Chunker::document_text(&extracted).len() > 6 * WINDOW_BYTES);
        let text: Vec<char> = Chunker::document_text(&extracted).chars().collect();
        let chunks = chunker.chunk(&extracted);
        assert!(chunks.len() > 100, "{} chunks", chunks.len());
        let mut covered = vec![false; text.len()];
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.ordinal as usize, i);
            assert!(
                chunk.token_count <= 64,
                "chunk {i}: {} tokens",
                chunk.token_count
            );
            let span: String = text[chunk.char_start..chunk.char_end].iter().collect();
            assert_eq!(span, chunk.text, "chunk {i}");
            covered[chunk.char_start..chunk.char_end].fill(true);
        }
        assert!(
            text.iter()
                .zip(&covered)
                .all(|(c, seen)| c.is_whitespace() || *seen)
        );
        assert!(chunks.iter().any(|c| c.page == Some(2)));
        // Windows end at a boundary in their second half.
        assert_eq!(window_len("short"), 5);
        let cut = window_len(&paragraphs);
        assert!((WINDOW_BYTES / 2..=WINDOW_BYTES).contains(&cut));
        assert!(paragraphs[..cut].ends_with("\n\n"));
        let unbroken = "x".repeat(3 * WINDOW_BYTES);
        assert_eq!(window_len(&unbroken), WINDOW_BYTES);
        let multibyte = "ü".repeat(WINDOW_BYTES);
        assert!(multibyte.is_char_boundary(window_len(&multibyte)));
    }

    #[test]
    fn short_documents_are_one_chunk_and_empty_ones_none() {
        let chunker = Chunker::new(&tokenizer_json(), 200, 30).unwrap();
        let one = Extracted {
            media_type: MediaType::Text,
            blocks: vec![block(None, false, "Just one short paragraph.")],
        };
        let chunks = chunker.chunk(&one);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            (chunks[0].char_start, chunks[0].char_end, chunks[0].page),
            (0, 25, None)
        );
        let empty = Extracted {
            media_type: MediaType::Text,
            blocks: vec![],
        };
        assert!(chunker.chunk(&empty).is_empty());
        assert!(Chunker::new(b"not json", 10, 2).is_err());
        assert!(
            Chunker::new(&tokenizer_json(), 10, 20).is_err(),
            "overlap larger than the chunk"
        );
    }
}
