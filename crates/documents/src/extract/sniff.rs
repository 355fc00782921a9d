//! Deciding what a file is from its bytes.

use std::io::Cursor;

use super::ExtractError;

/// The formats docent extracts text from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// Plain text in UTF-8 or UTF-16 (with a BOM).
    Text,
    /// Markdown.
    Markdown,
    /// HTML.
    Html,
    /// Comma-separated values.
    Csv,
    /// A Word document (Office Open XML).
    Docx,
    /// PDF.
    Pdf,
}

impl MediaType {
    /// The MIME type.
    #[must_use]
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Text => "text/plain",
            Self::Markdown => "text/markdown",
            Self::Html => "text/html",
            Self::Csv => "text/csv",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Pdf => "application/pdf",
        }
    }
}

/// How many leading bytes are inspected to tell text from binary.
const PROBE: usize = 8192;

/// Magic numbers of common binary formats that docent does not read.
const BINARY_MAGIC: &[&[u8]] = &[
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x7fELF",
    b"\x1f\x8b",
    b"MZ",
    b"BZh",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xd0\xcf\x11\xe0",
    b"OggS",
    b"RIFF",
    b"ID3",
    b"\x00\x00\x01\x00",
];

/// The real type of `bytes`. Binary formats are recognised by their signatures alone; the file
/// name only chooses between text flavours (Markdown, CSV, HTML or plain text).
pub fn sniff(bytes: &[u8], name: Option<&str>) -> Result<MediaType, ExtractError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ExtractError::EmptyText);
    }
    let head = &bytes[..bytes.len().min(PROBE)];
    // The PDF header may follow a little junk; the specification allows it in the first 1024 bytes.
    if head[..head.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return Ok(MediaType::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return if is_docx(bytes) {
            Ok(MediaType::Docx)
        } else {
            Err(ExtractError::Unsupported)
        };
    }
    let utf16 = bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff");
    if !utf16 && (BINARY_MAGIC.iter().any(|m| bytes.starts_with(m)) || head.contains(&0)) {
        return Err(ExtractError::Unsupported);
    }
    let extension = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let start = super::text::decode(head);
    let start = start.trim_start().to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return Ok(MediaType::Html);
    }
    Ok(match extension.as_deref() {
        Some("md" | "markdown" | "mdown" | "mkd") => MediaType::Markdown,
        Some("csv") => MediaType::Csv,
        Some("html" | "htm" | "xhtml") => MediaType::Html,
        _ => MediaType::Text,
    })
}

/// Whether a zip archive is a Word document (it has `word/document.xml`). Only the central
/// directory is read.
fn is_docx(bytes: &[u8]) -> bool {
    zip::ZipArchive::new(Cursor::new(bytes))
        .map(|archive| {
            archive
                .file_names()
                .any(|n| n.is_ok_and(|n| n == "word/document.xml"))
        })
        .unwrap_or(false)
}
