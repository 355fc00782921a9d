//! PDF: text page by page, with page numbers. A [`PdfEngine`] reads each page's text — PDFium
//! where the operator installed it (the infrastructure's adapter, in the extraction sandbox), the
//! built-in lopdf reader otherwise — and the same clean-up follows for both: words hyphenated at a
//! line end are joined, and lines repeated at the top or bottom of pages (running headers and
//! footers, page numbers) are dropped. Where the engine reads the PDF's outline (its bookmarks:
//! PDFium does), each entry's title is looked for on its page and the page is cut there into a
//! heading and what follows, so chunks carry their section. Encrypted files are refused with
//! their own code.

use std::collections::{HashMap, HashSet};

use super::{BlockKind, Collector, ExtractError, Extracted, Limits, MediaType};

/// What a PDF engine read: each page's text in reading order, lines separated by `\n` (`None`
/// for a page it could not read: an image-only scan, a broken stream), and the outline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PdfPages {
    /// The pages, first to last.
    pub pages: Vec<Option<String>>,
    /// The outline's entries in document order (empty when the PDF has none or the engine does
    /// not read it).
    pub outline: Vec<OutlineEntry>,
}

/// One entry of a PDF's outline (a bookmark): a section's title, where it starts, how deep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineEntry {
    /// 1 for the outline's top level.
    pub level: u8,
    /// The title.
    pub title: String,
    /// The page it points to (1-based).
    pub page: u32,
}

/// The most outline entries looked for on one page.
const MAX_HEADINGS_PER_PAGE: usize = 64;

/// Reads the text of a PDF's pages. Implementations refuse encrypted files with
/// [`ExtractError::EncryptedPdf`] and more pages than `limits.max_pages` with
/// [`ExtractError::TooManyPages`].
pub trait PdfEngine: Send + Sync {
    /// Reads `bytes`.
    fn read(&self, bytes: &[u8], limits: &Limits) -> Result<PdfPages, ExtractError>;
}

/// The built-in reader (lopdf, pure Rust): it maps glyphs to text through the fonts' `ToUnicode`
/// maps and encodings only, so fonts without them (LaTeX's Type 1 fonts) lose their ligatures
/// ("find" read as "nd"); and it does not read the outline (lopdf's outline walk follows a cycle
/// of `Next` links forever). PDFium is preferred where installed.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinPdf;

impl PdfEngine for BuiltinPdf {
    fn read(&self, bytes: &[u8], limits: &Limits) -> Result<PdfPages, ExtractError> {
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
        // Decompression of content streams is capped.
        let max_stream = usize::try_from(limits.max_unpacked_bytes).unwrap_or(usize::MAX);
        Ok(PdfPages {
            pages: pages
                .keys()
                .map(|&number| document.extract_text_with_limit(&[number], max_stream).ok())
                .collect(),
            outline: Vec::new(),
        })
    }
}

pub(crate) fn extract(
    bytes: &[u8],
    limits: &Limits,
    engine: &dyn PdfEngine,
) -> Result<Extracted, ExtractError> {
    let read = engine.read(bytes, limits)?;
    let readable = read.pages.iter().filter(|p| p.is_some()).count();
    if readable == 0 && !read.pages.is_empty() {
        return Err(ExtractError::Damaged(
            "PDF: no page could be read".to_owned(),
        ));
    }
    let mut headings: HashMap<u32, Vec<&OutlineEntry>> = HashMap::new();
    for entry in &read.outline {
        let on_page = headings.entry(entry.page).or_default();
        if on_page.len() < MAX_HEADINGS_PER_PAGE {
            on_page.push(entry);
        }
    }
    let mut collector = Collector::new(limits);
    for (number, text) in (1_u32..).zip(clean_pages(&read.pages)) {
        if let Some(text) = text {
            let entries = headings.get(&number).map_or(&[][..], Vec::as_slice);
            for (kind, piece) in cut_at_headings(&text, entries) {
                collector.push(Some(number), kind, &piece)?;
            }
        }
    }
    collector.finish(MediaType::Pdf)
}

/// A page's text cut where the titles of its outline entries stand: the text before each, the
/// heading, the text after. An entry whose title is not found (or only before an earlier one) is
/// left out; the text stays whole.
fn cut_at_headings(text: &str, entries: &[&OutlineEntry]) -> Vec<(BlockKind, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let keys: Vec<String> = lines.iter().map(|line| words_key(line)).collect();
    let mut pieces = Vec::new();
    let mut from = 0;
    for entry in entries {
        let title = words_key(&entry.title);
        if title.is_empty() {
            continue;
        }
        // The title on one line, or across two (a long title, or "Chapter 3" above "Options").
        let found = (from..lines.len()).find_map(|i| {
            if is_heading_line(&keys[i], &title) {
                return Some((i, 1));
            }
            let two = keys.get(i + 1).map(|next| format!("{} {next}", keys[i]))?;
            is_heading_line(&two, &title).then_some((i, 2))
        });
        let Some((at, span)) = found else { continue };
        if at > from {
            pieces.push((BlockKind::Text, lines[from..at].join("\n")));
        }
        pieces.push((
            BlockKind::Heading(entry.level),
            lines[at..at + span].join(" "),
        ));
        from = at + span;
    }
    if from < lines.len() {
        pieces.push((BlockKind::Text, lines[from..].join("\n")));
    }
    pieces
}

/// Text as compared with an outline title: lower-case words, single spaces.
fn words_key(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a line (as [`words_key`]) is the heading titled `title`: the title itself, or the
/// title after its number ("3 2 options", "chapter 3 options", "appendix b options").
fn is_heading_line(line: &str, title: &str) -> bool {
    if line == title {
        return true;
    }
    let Some(prefix) = line.strip_suffix(title) else {
        return false;
    };
    let Some(prefix) = prefix.strip_suffix(' ') else {
        return false;
    };
    let mut words = prefix.split(' ').peekable();
    if words
        .peek()
        .is_some_and(|w| matches!(*w, "chapter" | "section" | "part" | "appendix"))
    {
        words.next();
    }
    let mut numbered = false;
    for word in words {
        let number = word.chars().all(|c| c.is_ascii_digit())
            || (word.len() == 1 && word.chars().all(|c| c.is_ascii_alphabetic()))
            || (word.len() <= 6 && word.chars().all(|c| matches!(c, 'i' | 'v' | 'x' | 'l')));
        if !number {
            return false;
        }
        numbered = true;
    }
    numbered
}

/// Lines looked at for running headers (and, from the bottom, footers) on each page.
const EDGE_LINES: usize = 2;
/// A line at a page's edge repeated on this many pages at least (and on a tenth of them) is a
/// running header or footer.
const MIN_REPEATS: usize = 3;

/// Each page's text without running headers and footers, its hyphenation undone.
fn clean_pages(pages: &[Option<String>]) -> Vec<Option<String>> {
    let pages: Vec<Option<Vec<Line>>> = pages
        .iter()
        .map(|page| page.as_deref().map(|text| edge_lines(&dehyphenate(text))))
        .collect();
    let threshold = MIN_REPEATS.max(pages.len() / 10);
    let mut repeats: HashMap<&str, usize> = HashMap::new();
    for lines in pages.iter().flatten() {
        let keys: HashSet<&str> = lines.iter().filter_map(|l| l.edge_key.as_deref()).collect();
        for key in keys {
            *repeats.entry(key).or_default() += 1;
        }
    }
    let running = |key: &Option<String>| {
        key.as_deref()
            .is_some_and(|key| repeats.get(key).is_some_and(|n| *n >= threshold))
    };
    pages
        .iter()
        .map(|page| {
            page.as_ref().map(|lines| {
                lines
                    .iter()
                    .filter(|line| !running(&line.edge_key))
                    .map(|line| line.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        })
        .collect()
}

/// A non-blank line of a page.
struct Line {
    text: String,
    /// Its [`edge_key`], when it is among the first or last [`EDGE_LINES`] of its page.
    edge_key: Option<String>,
}

/// A page's non-blank lines.
fn edge_lines(text: &str) -> Vec<Line> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let count = lines.len();
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let at_edge = i < EDGE_LINES || i + EDGE_LINES >= count;
            Line {
                text: line.to_owned(),
                edge_key: at_edge.then(|| edge_key(line)),
            }
        })
        .collect()
}

/// A line as compared across pages: digits (page numbers) and white space do not count.
fn edge_key(line: &str) -> String {
    let mut key = String::with_capacity(line.len());
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !key.ends_with('#') {
                key.push('#');
            }
        } else if !c.is_whitespace() {
            key.extend(c.to_lowercase());
        }
    }
    key
}

/// Joins words broken at a line end: PDFium's hyphenation mark (U+FFFE) and soft hyphens
/// (U+00AD) go with the line break after them; a hyphen ending a line between two lower-case
/// letters goes too ("exam-\nple" is "example"; "Jean-\nLuc" stays hyphenated).
fn dehyphenate(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\u{fffe}' | '\u{ad}' | '-' => {
                // The line break (and indentation) after the mark, if any.
                let mut j = i + 1;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                let breaks = j < chars.len() && chars[j] == '\n';
                if breaks {
                    j += 1;
                    while j < chars.len() && chars[j] == ' ' {
                        j += 1;
                    }
                }
                let before = out.chars().next_back();
                let after = chars.get(j).copied();
                let joins = match c {
                    '-' => {
                        breaks
                            && before.is_some_and(char::is_lowercase)
                            && after.is_some_and(char::is_lowercase)
                    }
                    // A mark inside a line is dropped; at a line end it joins the word.
                    _ => true,
                };
                if joins {
                    i = if breaks { j } else { i + 1 };
                    continue;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenation_at_line_ends_is_undone() {
        assert_eq!(dehyphenate("an exam-\nple here"), "an example here");
        assert_eq!(dehyphenate("environ\u{fffe}ment"), "environment");
        assert_eq!(dehyphenate("environ\u{fffe}\r\nment"), "environment");
        assert_eq!(dehyphenate("soft\u{ad}\n  ware"), "software");
        // Not between two lower-case letters, or not at a line end: the hyphen stays.
        assert_eq!(dehyphenate("Jean-\nLuc"), "Jean-\nLuc");
        assert_eq!(dehyphenate("well-known"), "well-known");
        assert_eq!(dehyphenate("pages 1-\n9"), "pages 1-\n9");
        assert_eq!(dehyphenate("a - b"), "a - b");
        assert_eq!(dehyphenate("ends-"), "ends-");
    }

    fn page(lines: &[&str]) -> Option<String> {
        Some(lines.join("\n"))
    }

    #[test]
    fn running_headers_footers_and_page_numbers_go() {
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
        let pages: Vec<Option<String>> = (1..=6)
            .map(|n| {
                let word = words[n - 1];
                page(&[
                    &format!("Chapter 1: Introduction {n}"),
                    &format!("Body text about {word}."),
                    "A line every page has, mid-page.",
                    &format!("Closing words on {word}."),
                    &format!("{n}"),
                ])
            })
            .chain([None])
            .collect();
        let cleaned = clean_pages(&pages);
        assert_eq!(cleaned.len(), 7);
        assert_eq!(cleaned[6], None);
        assert_eq!(
            cleaned[0].as_deref().unwrap(),
            "Body text about alpha.\nA line every page has, mid-page.\nClosing words on alpha."
        );
        // Too few pages to tell: everything of a short document stays.
        let two = vec![page(&["Title", "text", "1"]), page(&["Title", "more", "2"])];
        assert_eq!(clean_pages(&two), two);
    }

    #[test]
    fn the_builtin_reader_loses_latex_ligatures() {
        // Why PDFium reads PDFs where it is installed (and proof that the fixture's check finds
        // lost words): pdfTeX's fonts name their ligatures only in their font programs.
        let extracted =
            extract(crate::fixtures::LATEX_PDF, &Limits::default(), &BuiltinPdf).unwrap();
        let text: Vec<&str> = extracted.blocks.iter().map(|b| b.text.as_str()).collect();
        let missing = crate::fixtures::latex_pdf_words_missing_from(&text.join("\n"));
        assert!(
            missing.iter().any(|w| w.contains("fi")) && missing.iter().any(|w| w.contains("ff")),
            "{missing:?}"
        );
    }

    struct Pages(Vec<Option<String>>);

    impl PdfEngine for Pages {
        fn read(&self, _: &[u8], _: &Limits) -> Result<PdfPages, ExtractError> {
            Ok(PdfPages {
                pages: self.0.clone(),
                outline: Vec::new(),
            })
        }
    }

    struct Outlined(Vec<Option<String>>, Vec<OutlineEntry>);

    impl PdfEngine for Outlined {
        fn read(&self, _: &[u8], _: &Limits) -> Result<PdfPages, ExtractError> {
            Ok(PdfPages {
                pages: self.0.clone(),
                outline: self.1.clone(),
            })
        }
    }

    fn entry(level: u8, title: &str, page: u32) -> OutlineEntry {
        OutlineEntry {
            level,
            title: title.to_owned(),
            page,
        }
    }

    #[test]
    fn outline_titles_cut_pages_into_headings_and_text() {
        let engine = Outlined(
            vec![
                page(&[
                    "Preface words.",
                    "Chapter 3",
                    "Options",
                    "Options change things.",
                ]),
                page(&[
                    "More about options.",
                    "3.1 Short options",
                    "Single letters.",
                ]),
                page(&["Nothing here names a title."]),
            ],
            vec![
                entry(1, "Options", 1),
                entry(2, "Short options", 2),
                entry(2, "Long options", 3),
                entry(2, "   ", 2),
            ],
        );
        let extracted = extract(b"", &Limits::default(), &engine).unwrap();
        let blocks: Vec<_> = extracted
            .blocks
            .iter()
            .map(|b| (b.page, b.kind, b.text.as_str()))
            .collect();
        assert_eq!(
            blocks,
            vec![
                (Some(1), BlockKind::Text, "Preface words."),
                (Some(1), BlockKind::Heading(1), "Chapter 3 Options"),
                (Some(1), BlockKind::Text, "Options change things."),
                (Some(2), BlockKind::Text, "More about options."),
                (Some(2), BlockKind::Heading(2), "3.1 Short options"),
                (Some(2), BlockKind::Text, "Single letters."),
                // A title not on its page leaves the page whole.
                (Some(3), BlockKind::Text, "Nothing here names a title."),
            ]
        );
        // A heading is the title itself or after its number, never a sentence ending with it.
        assert!(is_heading_line("options", "options"));
        assert!(is_heading_line("appendix b options", "options"));
        assert!(is_heading_line("iv 2 options", "options"));
        assert!(!is_heading_line("these change options", "options"));
        assert!(!is_heading_line("3 2", "options"));
        assert!(!is_heading_line("long options", "options"));
    }

    #[test]
    fn pages_keep_their_numbers_and_unreadable_ones_are_skipped() {
        let engine = Pages(vec![
            page(&["first"]),
            None,
            page(&["third, hyphen-", "ated"]),
        ]);
        let extracted = extract(b"", &Limits::default(), &engine).unwrap();
        let pages: Vec<_> = extracted
            .blocks
            .iter()
            .map(|b| (b.page, b.text.as_str()))
            .collect();
        assert_eq!(
            pages,
            vec![(Some(1), "first"), (Some(3), "third, hyphenated")]
        );
        let unreadable = Pages(vec![None, None]);
        assert!(matches!(
            extract(b"", &Limits::default(), &unreadable),
            Err(ExtractError::Damaged(_))
        ));
    }
}
