//! Text extraction: the real type of a file is decided from its bytes (a name can only choose
//! between text flavours), then the matching extractor turns it into blocks of text with page
//! numbers where the format has pages. Every extractor is bounded by [`Limits`] and linear in its
//! input. The worker never runs them in its own process: the [`crate::ports::Extractor`] port runs
//! them in a sandbox that a crash, a runaway or an out-of-memory cannot take down or outlive.

mod csv;
mod docx;
mod html;
mod markdown;
mod pdf;
mod sniff;
mod text;

use std::time::Duration;

pub use pdf::{BuiltinPdf, OutlineEntry, PdfEngine, PdfPages};
pub use sniff::{MediaType, Sniffer, sniff};

/// Bounds on what one document may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The most pages (PDF) a document may have.
    pub max_pages: u32,
    /// The most characters of text a document may yield.
    pub max_chars: usize,
    /// The most bytes an archive (DOCX) may unpack to, and a compressed PDF stream to.
    pub max_unpacked_bytes: u64,
    /// The most entries an archive may have.
    pub max_archive_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pages: 20_000,
            max_chars: 64 * 1024 * 1024,
            max_unpacked_bytes: 512 * 1024 * 1024,
            max_archive_entries: 10_000,
        }
    }
}

/// What a block of text is to the chunker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockKind {
    /// Running text, cut wherever a chunk must end.
    #[default]
    Text,
    /// A heading of this level: 1–6 for HTML's `h1`–`h6`, Markdown's `#`–`######`, DOCX's
    /// "Heading 1"… styles and a PDF outline's top level down; 0 for a DOCX title. It opens a
    /// section that lasts until the next heading of the same level or above.
    Heading(u8),
    /// A table or a list: kept in one chunk where it fits.
    Whole,
}

/// A run of text from one place in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The page it is on (1-based), for formats with pages.
    pub page: Option<u32>,
    /// Text, heading, or a table or list.
    pub kind: BlockKind,
    /// The text; paragraphs are separated by blank lines.
    pub text: String,
}

impl Block {
    /// The heading level, when it is a heading.
    #[must_use]
    pub const fn heading_level(&self) -> Option<u8> {
        match self.kind {
            BlockKind::Heading(level) => Some(level),
            BlockKind::Text | BlockKind::Whole => None,
        }
    }
}

/// The text of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// What the bytes turned out to be.
    pub media_type: MediaType,
    /// The text, in document order.
    pub blocks: Vec<Block>,
}

impl Extracted {
    /// All characters of text.
    #[must_use]
    pub fn char_count(&self) -> usize {
        self.blocks.iter().map(|b| b.text.chars().count()).sum()
    }
}

/// Why a document yielded no text. Each has a stable code recorded on the failed document. (It
/// crosses the extraction sandbox's pipe as JSON.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ExtractError {
    /// The bytes are no format docent reads.
    #[error("the file is not plain text, Markdown, HTML, CSV, DOCX or PDF")]
    Unsupported,
    /// A password-protected PDF.
    #[error("the PDF is encrypted")]
    EncryptedPdf,
    /// More pages than allowed.
    #[error("the document has {pages} pages; at most {max} are allowed")]
    TooManyPages {
        /// Pages found.
        pages: usize,
        /// The limit.
        max: u32,
    },
    /// More text, or more unpacked bytes, than allowed.
    #[error("the document is too large: {0}")]
    TooLarge(String),
    /// No text at all.
    #[error("the document contains no text")]
    EmptyText,
    /// The file is damaged or the parser failed.
    #[error("the document could not be read: {0}")]
    Damaged(String),
    /// Extraction took longer than its budget (wall clock or CPU time); it was stopped.
    #[error("extraction took longer than {0:?} and was stopped")]
    Timeout(Duration),
    /// Extraction needed more memory than it may use; it was stopped.
    #[error("extraction needed more than {0} MiB of memory and was stopped")]
    OutOfMemory(u64),
}

impl ExtractError {
    /// The stable code recorded on a failed document.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Unsupported => "unsupported_format",
            Self::EncryptedPdf => "encrypted_pdf",
            Self::TooManyPages { .. } => "too_many_pages",
            Self::TooLarge(_) => "too_large",
            Self::EmptyText => "empty_text",
            Self::Damaged(_) => "extract_error",
            Self::Timeout(_) => "extract_timeout",
            Self::OutOfMemory(_) => "extract_memory",
        }
    }
}

/// Collects blocks while enforcing the character limit.
#[derive(Debug)]
pub(crate) struct Collector {
    blocks: Vec<Block>,
    chars: usize,
    max_chars: usize,
}

impl Collector {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            blocks: Vec::new(),
            chars: 0,
            max_chars: limits.max_chars,
        }
    }

    /// Adds a block unless it is blank; fails once the document passes the character limit.
    pub(crate) fn push(
        &mut self,
        page: Option<u32>,
        kind: BlockKind,
        text: &str,
    ) -> Result<(), ExtractError> {
        let text = normalize(text);
        if text.is_empty() {
            return Ok(());
        }
        self.chars += text.chars().count();
        if self.chars > self.max_chars {
            return Err(ExtractError::TooLarge(format!(
                "more than {} characters of text",
                self.max_chars
            )));
        }
        self.blocks.push(Block { page, kind, text });
        Ok(())
    }

    pub(crate) fn finish(self, media_type: MediaType) -> Result<Extracted, ExtractError> {
        if self.blocks.is_empty() {
            return Err(ExtractError::EmptyText);
        }
        Ok(Extracted {
            media_type,
            blocks: self.blocks,
        })
    }
}

/// The tables and lists open at a point of a markup document (HTML, Markdown): the outermost one
/// becomes a block of its own, kept whole by the chunker where it fits, unless a heading inside it
/// shows it to be layout (or it grew too long), in which case it is running text after all.
#[derive(Debug, Default)]
pub(crate) struct Wholes {
    depth: usize,
    broken: bool,
}

impl Wholes {
    /// A table or list opens: the text before the outermost one is running text; a nested one
    /// starts a paragraph of its own.
    pub(crate) fn open(
        &mut self,
        collector: &mut Collector,
        current: &mut String,
    ) -> Result<(), ExtractError> {
        if self.depth == 0 {
            collector.push(None, BlockKind::Text, &std::mem::take(current))?;
            self.broken = false;
        } else {
            current.push_str("\n\n");
        }
        self.depth += 1;
        Ok(())
    }

    /// A table or list closes: the outermost one becomes its block.
    pub(crate) fn close(
        &mut self,
        collector: &mut Collector,
        current: &mut String,
    ) -> Result<(), ExtractError> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Ok(());
        };
        self.depth = depth;
        if depth > 0 {
            current.push_str("\n\n");
            return Ok(());
        }
        let kind = if self.broken {
            BlockKind::Text
        } else {
            BlockKind::Whole
        };
        collector.push(None, kind, &std::mem::take(current))
    }

    /// A heading (or an early flush of a long run) inside a table or list makes it running text.
    pub(crate) fn break_up(&mut self) {
        self.broken |= self.depth > 0;
    }
}

/// Normalizes white space: Unicode line separators and `\r` become `\n`, runs of spaces within a
/// line collapse, control characters go, more than one blank line collapses to one. Ligature
/// characters (U+FB00–U+FB06) become their letters, so "ﬁnd" is searched and embedded as "find".
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0;
    for line in text.split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{0b}', '\u{0c}']) {
        let mut cleaned = String::with_capacity(line.len());
        let mut last_space = true;
        for c in line.chars() {
            if c.is_whitespace() {
                if !last_space {
                    cleaned.push(' ');
                }
                last_space = true;
            } else if let Some(letters) = ligature(c) {
                cleaned.push_str(letters);
                last_space = false;
            } else if !c.is_control() {
                cleaned.push(c);
                last_space = false;
            }
        }
        let cleaned = cleaned.trim_end();
        if cleaned.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        blank_lines = 0;
        out.push_str(cleaned);
    }
    out
}

/// The letters of a Latin ligature character.
const fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{fb00}' => "ff",
        '\u{fb01}' => "fi",
        '\u{fb02}' => "fl",
        '\u{fb03}' => "ffi",
        '\u{fb04}' => "ffl",
        '\u{fb05}' | '\u{fb06}' => "st",
        _ => return None,
    })
}

/// Extracts the text of `bytes` on the current thread, PDFs with the built-in reader. `name` (the
/// uploaded file name) only picks between text flavours; it never makes bytes of one format pass
/// for another.
pub fn extract(
    bytes: &[u8],
    name: Option<&str>,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    extract_as(sniff(bytes, name)?, bytes, limits)
}

/// Extracts the text of `bytes` as `media_type`, whatever the bytes are (for callers that sniffed
/// already, and the fuzz targets of each extractor), PDFs with the built-in reader.
pub fn extract_as(
    media_type: MediaType,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    extract_as_with(media_type, bytes, limits, &BuiltinPdf)
}

/// Like [`extract_as`], reading PDFs with `pdf`.
pub fn extract_as_with(
    media_type: MediaType,
    bytes: &[u8],
    limits: &Limits,
    pdf: &dyn PdfEngine,
) -> Result<Extracted, ExtractError> {
    match media_type {
        MediaType::Pdf => pdf::extract(bytes, limits, pdf),
        MediaType::Docx => docx::extract(bytes, limits),
        MediaType::Html => html::extract(&text::decode(bytes), limits),
        MediaType::Markdown => markdown::extract(&text::decode(bytes), limits),
        MediaType::Csv => csv::extract(&text::decode(bytes), limits),
        MediaType::Text => {
            let mut collector = Collector::new(limits);
            collector.push(None, BlockKind::Text, &text::decode(bytes))?;
            collector.finish(MediaType::Text)
        }
    }
}

#[cfg(test)]
mod tests;
