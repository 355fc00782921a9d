//! Chunking: the extracted text is cut into passages measured in tokens of the embedding model's
//! own tokenizer, with an overlap between neighbours, preferring paragraph boundaries, then
//! sentences, then words. A chunk never crosses a page or a heading: each lies in one section,
//! whose heading path ("Installation › Upgrading") it carries. What is embedded and indexed for
//! keywords is the chunk's context — the document's title and the section path — before its text,
//! and each chunk's budget leaves room for it. A table or list that fits in a chunk is never cut.
//! Each chunk keeps its ordinal, its character span in the document's text, its page and its
//! section.

use text_splitter::{ChunkConfig, TextSplitter};
use tokenizers::Tokenizer;

use crate::extract::{Block, BlockKind, ExtractError, Extracted, Limits, MediaType, extract};

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
    /// The headings it lies under, outermost first, joined by " › " (none before a document's
    /// first heading, or in a document without headings).
    #[serde(default)]
    pub section: Option<String>,
    /// Its length in tokens of the embedding model.
    pub token_count: usize,
}

/// A chunk's context: its document's title and its section path, joined like the path.
fn context(title: Option<&str>, section: Option<&str>) -> Option<String> {
    match (title.map(str::trim).filter(|t| !t.is_empty()), section) {
        (Some(title), Some(section)) => Some(format!("{title}{SECTION_SEPARATOR}{section}")),
        (Some(only), None) | (None, Some(only)) => Some(only.to_owned()),
        (None, None) => None,
    }
}

/// A chunk's text as embedded and indexed for keywords: its context (the document's title and the
/// section path, "Manual › Installation › Upgrading"), a blank line, the text. On the evaluation
/// corpus the title and the path each find the right passage more often (`docs/quality.md`).
#[must_use]
pub fn indexed_text(title: Option<&str>, section: Option<&str>, text: &str) -> String {
    match context(title, section) {
        Some(context) => format!("{context}\n\n{text}"),
        None => text.to_owned(),
    }
}

/// Between the headings of a section path.
pub const SECTION_SEPARATOR: &str = " › ";
/// The most characters of one heading in a section path; longer ones are cut with "…".
const MAX_HEADING_CHARS: usize = 80;
/// The most characters of a section path; outer headings are left out to keep within it.
const MAX_SECTION_CHARS: usize = 200;

/// The headings open at a point of a document, outermost first.
#[derive(Debug, Default)]
struct Sections {
    open: Vec<(u8, String)>,
}

impl Sections {
    /// A heading of `level` closes the open ones of its level and below, and opens.
    fn enter(&mut self, level: u8, title: &str) {
        while self.open.last().is_some_and(|(open, _)| *open >= level) {
            self.open.pop();
        }
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        let title = if title.chars().count() > MAX_HEADING_CHARS {
            let cut: String = title.chars().take(MAX_HEADING_CHARS - 1).collect();
            format!("{}…", cut.trim_end())
        } else {
            title
        };
        self.open.push((level, title));
    }

    /// The path, within [`MAX_SECTION_CHARS`] (outer headings dropped first).
    fn path(&self) -> Option<String> {
        let titles: Vec<&str> = self.open.iter().map(|(_, t)| t.as_str()).collect();
        (0..titles.len())
            .map(|skip| titles[skip..].join(SECTION_SEPARATOR))
            .find(|path| path.chars().count() <= MAX_SECTION_CHARS)
    }
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
    tokenizer: Tokenizer,
    max_tokens: usize,
    overlap: usize,
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
        ChunkConfig::new(max_tokens)
            .with_overlap(overlap)
            .map_err(|e| format!("chunk settings: {e}"))?;
        Ok(Self {
            tokenizer,
            max_tokens,
            overlap,
        })
    }

    /// Tokens in `text`.
    fn tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map_or(0, |encoding| encoding.len())
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

    /// The chunks of a document without a title: [`Self::chunk_titled`].
    #[must_use]
    pub fn chunk(&self, extracted: &Extracted) -> Vec<Chunk> {
        self.chunk_titled(extracted, None)
    }

    /// The chunks of a document titled `title`, in order. Each page and each section (from one
    /// heading to the next) is chunked on its own, so every chunk lies on exactly one page, under
    /// one heading path, and its page number and section are exact. A section's chunks are
    /// budgeted so that their [`indexed_text`] (title, section path and text) fits in
    /// `max_tokens`.
    #[must_use]
    pub fn chunk_titled(&self, extracted: &Extracted, title: Option<&str>) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        let mut sections = Sections::default();
        // Characters of the document's text before the current group (blocks are joined by
        // "\n\n", two characters).
        let mut group_chars = 0_usize;
        let mut blocks = extracted.blocks.iter().peekable();
        // Headings with nothing under them but the next heading on their page, which they join.
        let mut carried: Vec<&Block> = Vec::new();
        while let Some(first) = blocks.next() {
            if let Some(level) = first.heading_level() {
                sections.enter(level, &first.text);
            }
            let page = first.page;
            let mut group = std::mem::take(&mut carried);
            group.push(first);
            while let Some(next) = blocks.next_if(|b| b.page == page && b.heading_level().is_none())
            {
                group.push(next);
            }
            if group.iter().all(|b| b.heading_level().is_some())
                && blocks.peek().is_some_and(|b| b.page == page)
            {
                carried = group;
                continue;
            }
            let section = sections.path();
            // The context takes its share of the budget, but never more than half.
            let reserved = self.tokens(&indexed_text(title, section.as_deref(), ""));
            let budget = self
                .max_tokens
                .saturating_sub(reserved)
                .max(self.max_tokens / 2)
                .max(1);
            let mut group_chunks = Vec::new();
            self.chunk_group(&group, budget, group_chars, &mut group_chunks);
            for mut chunk in group_chunks {
                chunk.ordinal = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
                chunk.page = page;
                chunk.section.clone_from(&section);
                chunks.push(chunk);
            }
            group_chars += group
                .iter()
                .map(|b| b.text.chars().count() + 2)
                .sum::<usize>();
        }
        chunks
    }

    /// Chunks one group of blocks (one page's part of one section) that starts `offset` characters
    /// into the document's text. Running text is split by text-splitter within `budget`; a table or
    /// list that fits is one chunk, or joins the chunk before it when both fit together.
    fn chunk_group(&self, group: &[&Block], budget: usize, offset: usize, out: &mut Vec<Chunk>) {
        let overlap = self.overlap.min(budget.saturating_sub(1));
        let config = ChunkConfig::new(budget)
            .with_overlap(overlap)
            .unwrap_or_else(|_| ChunkConfig::new(budget))
            .with_sizer(&self.tokenizer);
        let splitter = TextSplitter::new(config);
        let mut at = offset;
        let mut run = String::new();
        let mut run_start = at;
        for block in group {
            let whole = block.kind == BlockKind::Whole;
            let tokens = if whole { self.tokens(&block.text) } else { 0 };
            if whole && tokens <= budget {
                self.split_run(&splitter, &run, run_start, out);
                run.clear();
                let joined = out
                    .last()
                    .filter(|last| last.char_end + 2 == at)
                    .map(|last| format!("{}\n\n{}", last.text, block.text));
                match joined.map(|text| (self.tokens(&text), text)) {
                    Some((joined_tokens, text)) if joined_tokens <= budget => {
                        if let Some(last) = out.last_mut() {
                            last.text = text;
                            last.char_end = at + block.text.chars().count();
                            last.token_count = joined_tokens;
                        }
                    }
                    _ => out.push(Chunk {
                        ordinal: 0,
                        text: block.text.clone(),
                        char_start: at,
                        char_end: at + block.text.chars().count(),
                        page: None,
                        section: None,
                        token_count: tokens,
                    }),
                }
                at += block.text.chars().count() + 2;
                run_start = at;
                continue;
            }
            if !run.is_empty() {
                run.push_str("\n\n");
            }
            run.push_str(&block.text);
            at += block.text.chars().count() + 2;
        }
        self.split_run(&splitter, &run, run_start, out);
    }

    /// Splits running text that starts `offset` characters into the document's text, window by
    /// window (see [`WINDOW_BYTES`]).
    fn split_run(
        &self,
        splitter: &TextSplitter<&Tokenizer>,
        run: &str,
        offset: usize,
        out: &mut Vec<Chunk>,
    ) {
        let mut window_start = 0_usize;
        let mut window_chars = 0_usize;
        while window_start < run.len() {
            let window = &run[window_start..window_start + window_len(&run[window_start..])];
            // Byte offsets within the window become character offsets by counting forward.
            let (mut counted_bytes, mut counted_chars) = (0_usize, 0_usize);
            for (start, piece) in splitter.chunk_indices(window) {
                if start >= counted_bytes {
                    counted_chars += window[counted_bytes..start].chars().count();
                } else {
                    counted_chars -= window[start..counted_bytes].chars().count();
                }
                counted_bytes = start;
                let char_start = offset + window_chars + counted_chars;
                out.push(Chunk {
                    ordinal: 0,
                    text: piece.to_owned(),
                    char_start,
                    char_end: char_start + piece.chars().count(),
                    page: None,
                    section: None,
                    token_count: self.tokens(piece),
                });
            }
            window_chars += window.chars().count();
            window_start += window.len();
        }
    }
}

/// Extracts the text of `bytes` and cuts it into chunks: what the extraction sandbox does with a
/// document. An empty result is `EmptyText`.
pub fn extract_and_chunk(
    bytes: &[u8],
    file_name: Option<&str>,
    title: Option<&str>,
    limits: &Limits,
    chunker: &Chunker,
) -> Result<(MediaType, Vec<Chunk>), ExtractError> {
    let extracted = extract(bytes, file_name, limits)?;
    let chunks = chunker.chunk_titled(&extracted, title);
    if chunks.is_empty() {
        return Err(ExtractError::EmptyText);
    }
    Ok((extracted.media_type, chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Block, BlockKind, MediaType};

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
        let kind = if heading {
            BlockKind::Heading(1)
        } else {
            BlockKind::Text
        };
        Block {
            page,
            kind,
            text: text.to_owned(),
        }
    }

    fn of(kind: BlockKind, text: &str) -> Block {
        Block {
            page: None,
            kind,
            text: text.to_owned(),
        }
    }

    /// Each chunk's span of the document's text is its text.
    fn assert_spans(extracted: &Extracted, chunks: &[Chunk]) {
        let text: Vec<char> = Chunker::document_text(extracted).chars().collect();
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.ordinal as usize, i);
            let span: String = text[chunk.char_start..chunk.char_end].iter().collect();
            assert_eq!(span, chunk.text, "chunk {i}");
        }
    }

    #[test]
    fn chunks_carry_their_heading_path_and_never_cross_a_heading() {
        let chunker = Chunker::new(&tokenizer_json(), 64, 16).unwrap();
        let long = "The installer copies the files and asks where they go. ".repeat(10);
        let extracted = Extracted {
            media_type: MediaType::Html,
            blocks: vec![
                of(BlockKind::Text, "Before any heading."),
                of(BlockKind::Heading(1), "Installation"),
                of(BlockKind::Text, &long),
                of(BlockKind::Heading(2), "Upgrading"),
                of(BlockKind::Text, "Upgrades keep your settings."),
                of(BlockKind::Heading(3), "From version 1"),
                of(BlockKind::Text, "Version 1 needs an export first."),
                of(BlockKind::Heading(2), "Removing"),
                of(BlockKind::Text, "Removal deletes the files."),
                // A heading directly followed by another goes with it.
                of(BlockKind::Heading(1), "Appendix"),
                of(BlockKind::Heading(2), "Glossary"),
                of(BlockKind::Text, "Terms."),
                of(BlockKind::Heading(1), &"A very long heading ".repeat(20)),
                of(BlockKind::Text, "Under it."),
            ],
        };
        let chunks = chunker.chunk(&extracted);
        assert_spans(&extracted, &chunks);
        let sections: Vec<_> = chunks
            .iter()
            .map(|c| (c.section.as_deref(), c.text.split("\n\n").next().unwrap()))
            .collect();
        assert_eq!(sections[0], (None, "Before any heading."));
        assert_eq!(sections[1], (Some("Installation"), "Installation"));
        let upgrading = chunks
            .iter()
            .find(|c| c.text.contains("Upgrades keep"))
            .unwrap();
        assert_eq!(
            upgrading.section.as_deref(),
            Some("Installation › Upgrading")
        );
        assert_eq!(upgrading.text, "Upgrading\n\nUpgrades keep your settings.");
        let nested = chunks.iter().find(|c| c.text.contains("export")).unwrap();
        assert_eq!(
            nested.section.as_deref(),
            Some("Installation › Upgrading › From version 1")
        );
        // A heading of the same level closes its sibling and what was under it.
        let removing = chunks.iter().find(|c| c.text.contains("Removal")).unwrap();
        assert_eq!(removing.section.as_deref(), Some("Installation › Removing"));
        assert_eq!(
            indexed_text(Some("Guide"), removing.section.as_deref(), &removing.text),
            "Guide › Installation › Removing\n\nRemoving\n\nRemoval deletes the files."
        );
        assert_eq!(indexed_text(Some(" "), None, "text"), "text");
        assert_eq!(indexed_text(Some("Guide"), None, "text"), "Guide\n\ntext");
        let glossary = chunks.iter().find(|c| c.text.contains("Terms")).unwrap();
        assert_eq!(glossary.text, "Appendix\n\nGlossary\n\nTerms.");
        assert_eq!(glossary.section.as_deref(), Some("Appendix › Glossary"));
        assert!(chunks.iter().all(|c| c.text != "Appendix"));
        // A long heading is cut, and the path with the text stays in budget.
        let last = chunks.last().unwrap();
        let path = last.section.as_deref().unwrap();
        assert!(path.ends_with('…') && path.chars().count() <= 80, "{path}");
        // With a title as well, what is embedded stays within the budget.
        let title = "The installation and maintenance guide of the pump";
        for chunk in chunker.chunk_titled(&extracted, Some(title)) {
            let indexed = indexed_text(Some(title), chunk.section.as_deref(), &chunk.text);
            assert!(chunker.tokens(&indexed) <= 64, "{chunk:?}");
        }
        for chunk in &chunks {
            let indexed = indexed_text(None, chunk.section.as_deref(), &chunk.text);
            assert!(chunker.tokens(&indexed) <= 64, "{chunk:?}");
        }
    }

    #[test]
    fn tables_and_lists_that_fit_stay_whole() {
        let chunker = Chunker::new(&tokenizer_json(), 64, 16).unwrap();
        let prose = "The pump runs quietly and needs little care over the years. ".repeat(4);
        let table = "Model | Flow | Power\nP100 | 10 l/min | 50 W\nP200 | 20 l/min | 90 W\nP300 | 35 l/min | 140 W";
        let huge_list = (0..60)
            .map(|i| format!("item number {i} of the list"))
            .collect::<Vec<_>>()
            .join("\n");
        let extracted = Extracted {
            media_type: MediaType::Html,
            blocks: vec![
                of(BlockKind::Heading(1), "Pumps"),
                of(BlockKind::Whole, table),
                of(BlockKind::Text, &prose),
                of(BlockKind::Whole, table),
                of(BlockKind::Whole, &huge_list),
            ],
        };
        let chunks = chunker.chunk(&extracted);
        assert_spans(&extracted, &chunks);
        // The heading and the table fit together; the prose follows; the table after the prose
        // is whole in one chunk (alone or with the prose's end).
        assert_eq!(chunks[0].text, format!("Pumps\n\n{table}"));
        let holding = chunks.iter().filter(|c| c.text.contains(table)).count();
        assert_eq!(holding, 2, "{chunks:#?}");
        assert!(
            chunks
                .iter()
                .all(|c| !c.text.contains("P300") || c.text.contains(table)),
            "a table was cut: {chunks:#?}"
        );
        // What cannot fit is cut like running text.
        assert!(
            chunks
                .iter()
                .filter(|c| c.text.contains("item number"))
                .count()
                > 2
        );
        assert!(chunks.iter().all(|c| c.token_count <= 64));
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
