//! Deciding what a file is from its bytes.

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

    /// The type with this MIME type.
    #[must_use]
    pub fn from_mime(mime: &str) -> Option<Self> {
        [
            Self::Text,
            Self::Markdown,
            Self::Html,
            Self::Csv,
            Self::Docx,
            Self::Pdf,
        ]
        .into_iter()
        .find(|t| t.mime() == mime)
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
    let mut sniffer = Sniffer::new(name);
    sniffer.feed(bytes);
    sniffer.finish()
}

/// The entry every Word document has; its local file header carries the name in plain bytes.
const DOCX_BODY: &[u8] = b"word/document.xml";

/// Decides a file's type while it streams past, in constant memory: it keeps the first bytes,
/// whether everything so far was white space, and whether a zip archive names a Word body.
#[derive(Debug, Clone)]
pub struct Sniffer {
    name: Option<String>,
    head: Vec<u8>,
    blank: bool,
    docx_body: bool,
    /// The end of the previous piece, so a name split between two pieces is still seen.
    tail: Vec<u8>,
}

impl Sniffer {
    /// A sniffer for a file uploaded as `name`.
    #[must_use]
    pub fn new(name: Option<&str>) -> Self {
        Self {
            name: name.map(str::to_owned),
            head: Vec::with_capacity(PROBE),
            blank: true,
            docx_body: false,
            tail: Vec::new(),
        }
    }

    /// Looks at the next piece of the file.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.head.len() < PROBE {
            let take = (PROBE - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        if self.blank {
            self.blank = bytes.iter().all(u8::is_ascii_whitespace);
        }
        if !self.docx_body && self.head.starts_with(b"PK\x03\x04") {
            // The last bytes of what came before, then the first of this piece: a name across
            // the boundary.
            let mut window = std::mem::take(&mut self.tail);
            window.extend_from_slice(&bytes[..bytes.len().min(DOCX_BODY.len())]);
            self.docx_body = window.windows(DOCX_BODY.len()).any(|w| w == DOCX_BODY)
                || bytes.windows(DOCX_BODY.len()).any(|w| w == DOCX_BODY);
            // Keep the last bytes of everything so far (short pieces add to the old tail).
            let keep = DOCX_BODY.len() - 1;
            if bytes.len() >= keep {
                self.tail = bytes[bytes.len() - keep..].to_vec();
            } else {
                // A short piece: the window is the old tail and all of this piece.
                let start = window.len().saturating_sub(keep);
                self.tail = window[start..].to_vec();
            }
        }
    }

    /// The file's type, once all of it was fed.
    pub fn finish(self) -> Result<MediaType, ExtractError> {
        if self.blank {
            return Err(ExtractError::EmptyText);
        }
        let head = &self.head[..];
        // The PDF header may follow a little junk; the specification allows it in the first 1024
        // bytes.
        if head[..head.len().min(1024)]
            .windows(5)
            .any(|w| w == b"%PDF-")
        {
            return Ok(MediaType::Pdf);
        }
        if head.starts_with(b"PK\x03\x04") {
            // Whether the archive really holds a readable Word body is the extractor's to find
            // out: a zip that merely names one fails there with `extract_error`.
            return if self.docx_body {
                Ok(MediaType::Docx)
            } else {
                Err(ExtractError::Unsupported)
            };
        }
        let utf16 = head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff");
        if !utf16 && (BINARY_MAGIC.iter().any(|m| head.starts_with(m)) || head.contains(&0)) {
            return Err(ExtractError::Unsupported);
        }
        let extension = self
            .name
            .as_deref()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_body_named_across_two_pieces_is_seen() {
        let archive = b"PK\x03\x04....................word/document.xml....";
        for split in 0..archive.len() {
            let mut sniffer = Sniffer::new(Some("a.docx"));
            sniffer.feed(&archive[..split]);
            sniffer.feed(&archive[split..]);
            assert_eq!(sniffer.finish(), Ok(MediaType::Docx), "split at {split}");
        }
        // Byte by byte, and in pieces of three.
        for size in [1, 3] {
            let mut sniffer = Sniffer::new(None);
            for piece in archive.chunks(size) {
                sniffer.feed(piece);
            }
            assert_eq!(sniffer.finish(), Ok(MediaType::Docx), "pieces of {size}");
        }
        let mut plain = Sniffer::new(None);
        plain.feed(b"PK\x03\x04 some other archive");
        assert_eq!(plain.finish(), Err(ExtractError::Unsupported));
        let mut blank = Sniffer::new(None);
        blank.feed(b"  \n");
        blank.feed(b"\t");
        assert_eq!(blank.finish(), Err(ExtractError::EmptyText));
    }
}
