//! The chunker on arbitrary text in arbitrary blocks and pages: ordinals count up, every chunk is
//! exactly its span of the document's text, lies on one page and stays within the token budget.
//! Needs the embedding model's tokenizer (`scripts/fetch-models`; `DOCENT_MODELS_DIR`).

#![no_main]

use std::sync::OnceLock;

use docent_documents::chunk::Chunker;
use docent_documents::extract::{Block, BlockKind, Extracted, MediaType};
use libfuzzer_sys::fuzz_target;

const MAX_TOKENS: usize = 48;

fn chunker() -> &'static Chunker {
    static CHUNKER: OnceLock<Chunker> = OnceLock::new();
    CHUNKER.get_or_init(|| {
        let dir = std::env::var_os("DOCENT_MODELS_DIR").map_or_else(
            || {
                std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/docent/models")
            },
            std::path::PathBuf::from,
        );
        let tokenizer = std::fs::read(dir.join("all-minilm-l6-v2/tokenizer.json"))
            .expect("the tokenizer (run scripts/fetch-models)");
        Chunker::new(&tokenizer, MAX_TOKENS, 8).expect("a chunker")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `\u{1}` separates blocks, `\u{2}` starts a new page; a block starting with `\u{3}` is a
    // heading (its level from its length), one starting with `\u{4}` a table or list.
    let mut page = 1;
    let mut blocks = Vec::new();
    for part in text.split('\u{1}') {
        if part.starts_with('\u{2}') {
            page += 1;
        }
        let part = part.trim_start_matches('\u{2}');
        let kind = if part.starts_with('\u{3}') {
            BlockKind::Heading(u8::try_from(part.len() % 7).unwrap_or(1))
        } else if part.starts_with('\u{4}') {
            BlockKind::Whole
        } else {
            BlockKind::Text
        };
        let cleaned = part.trim_start_matches(['\u{3}', '\u{4}']).trim();
        if !cleaned.is_empty() {
            blocks.push(Block {
                page: Some(page),
                kind,
                text: cleaned.to_owned(),
            });
        }
    }
    let extracted = Extracted {
        media_type: MediaType::Pdf,
        blocks,
    };
    let whole: Vec<char> = Chunker::document_text(&extracted).chars().collect();
    let chunks = chunker().chunk(&extracted);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.ordinal as usize, i);
        assert!(chunk.char_start < chunk.char_end && chunk.char_end <= whole.len());
        let span: String = whole[chunk.char_start..chunk.char_end].iter().collect();
        assert_eq!(span, chunk.text);
        assert!(extracted.blocks.iter().any(|b| b.page == chunk.page));
        // A single grapheme the tokenizer cannot split below the budget may exceed it.
        assert!(
            chunk.token_count <= MAX_TOKENS || chunk.text.chars().count() <= 8,
            "{} tokens in {:?}",
            chunk.token_count,
            chunk.text
        );
    }
});
