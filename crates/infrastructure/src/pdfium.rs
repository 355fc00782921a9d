//! PDFium, Chromium's PDF library, as the PDF engine: it maps glyphs to text through `ToUnicode`
//! maps, encodings and glyph names, so LaTeX's ligatures come out as letters. It is loaded at run
//! time from the shared library `scripts/fetch-models` unpacks from the `pypdfium2` wheel, and only
//! ever in the extraction sandbox's child: a crash or a runaway in it ends that child alone.

use std::path::Path;

use docent_documents::extract::{ExtractError, Limits, OutlineEntry, PdfEngine, PdfPages};
use pdfium_render::prelude::{PdfBookmark, PdfDocument, Pdfium, PdfiumError, PdfiumInternalError};

/// The most outline entries read, and the deepest level: a hostile outline (cycles of links, a
/// million bookmarks) costs a bounded amount.
const MAX_OUTLINE: usize = 10_000;
const MAX_OUTLINE_DEPTH: u8 = 16;

/// PDFium, bound to its shared library.
pub struct PdfiumEngine {
    pdfium: Pdfium,
}

impl std::fmt::Debug for PdfiumEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfiumEngine").finish_non_exhaustive()
    }
}

impl PdfiumEngine {
    /// Loads the library at `library`; a process binds PDFium once, so a second call fails.
    pub fn load(library: &Path) -> Result<Self, String> {
        let bindings = Pdfium::bind_to_library(library)
            .map_err(|e| format!("cannot load PDFium from {}: {e}", library.display()))?;
        Ok(Self {
            pdfium: Pdfium::new(bindings),
        })
    }
}

impl PdfEngine for PdfiumEngine {
    fn read(&self, bytes: &[u8], limits: &Limits) -> Result<PdfPages, ExtractError> {
        let document = self
            .pdfium
            .load_pdf_from_byte_slice(bytes, None)
            .map_err(|error| {
                if matches!(
                    error,
                    PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::PasswordError)
                ) {
                    ExtractError::EncryptedPdf
                } else {
                    ExtractError::Damaged(format!("PDF: {error}"))
                }
            })?;
        let pages = document.pages();
        let count = usize::try_from(pages.len()).unwrap_or(0);
        if count > limits.max_pages as usize {
            return Err(ExtractError::TooManyPages {
                pages: count,
                max: limits.max_pages,
            });
        }
        Ok(PdfPages {
            pages: pages
                .iter()
                .map(|page| page.text().ok().map(|text| text.all()))
                .collect(),
            outline: outline(&document),
        })
    }
}

/// The document's bookmarks in document order (depth first), each with its level and page.
/// Bookmarks that point nowhere in the document are left out.
fn outline(document: &PdfDocument<'_>) -> Vec<OutlineEntry> {
    let mut entries = Vec::new();
    let mut visited = 0_usize;
    // Depth first with an explicit stack, siblings pushed last-first to come out in order.
    let mut stack: Vec<(PdfBookmark<'_>, u8)> = document
        .bookmarks()
        .root()
        .map(|first| {
            let mut top: Vec<_> = first.iter_siblings().take(MAX_OUTLINE).collect();
            top.insert(0, first);
            top.into_iter().rev().map(|b| (b, 1)).collect()
        })
        .unwrap_or_default();
    while let Some((bookmark, level)) = stack.pop() {
        visited += 1;
        if visited > MAX_OUTLINE {
            break;
        }
        let page = bookmark
            .destination()
            .and_then(|destination| destination.page_index().ok())
            .or_else(|| {
                let action = bookmark.action()?;
                let goto = action.as_local_destination_action()?;
                goto.destination().ok()?.page_index().ok()
            })
            .and_then(|index| u32::try_from(index).ok());
        if let (Some(title), Some(page)) = (bookmark.title(), page) {
            entries.push(OutlineEntry {
                level,
                title,
                page: page + 1,
            });
        }
        if level < MAX_OUTLINE_DEPTH {
            let children: Vec<_> = bookmark.iter_direct_children().take(MAX_OUTLINE).collect();
            stack.extend(children.into_iter().rev().map(|b| (b, level + 1)));
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_documents::extract::{BlockKind, MediaType, extract_as_with};
    use docent_documents::fixtures;

    /// The library `scripts/fetch-models` unpacks (`./dev test` runs it first).
    fn engine() -> PdfiumEngine {
        PdfiumEngine::load(&crate::testing::models_dir().join("pdfium/libpdfium.so"))
            .expect("run scripts/fetch-models")
    }

    #[test]
    fn pdfium_reads_pages_ligatures_and_refuses_what_it_must() {
        let pdfium = engine();
        let limits = Limits::default();
        let read = pdfium
            .read(&fixtures::pdf(&["First page", "Second page"]), &limits)
            .unwrap();
        let pages: Vec<_> = read
            .pages
            .iter()
            .map(|p| p.as_deref().map(str::trim))
            .collect();
        assert_eq!(pages, vec![Some("First page"), Some("Second page")]);
        // A pdfTeX file whose ligatures only its fonts' programs name: every word comes out
        // whole, hyphenation undone, without the running header and page numbers.
        let extracted =
            extract_as_with(MediaType::Pdf, fixtures::LATEX_PDF, &limits, &pdfium).unwrap();
        let text = extracted
            .blocks
            .iter()
            .map(|b| b.text.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        let missing = fixtures::latex_pdf_words_missing_from(&text);
        assert!(missing.is_empty(), "lost {missing:?} of\n{text}");
        assert!(text.contains("will find an optional argument"), "{text}");
        assert!(!text.contains("docent field guide"), "{text}");
        let pages: Vec<_> = extracted.blocks.iter().map(|b| b.page).collect();
        assert_eq!(pages, vec![Some(1), Some(2), Some(3), Some(4)]);
        // The outline's entries, with their levels and pages, cut their pages into sections.
        let outlined = fixtures::pdf_with_outline(
            &[
                &["Preface text.", "1 Installing", "Run the installer."],
                &["Still installing.", "1.1 Upgrading", "Keep your settings."],
                &["2 Removing", "Delete the folder."],
            ],
            &[
                (1, "Installing", 1),
                (2, "Upgrading", 2),
                (1, "Removing", 3),
            ],
        );
        let read = pdfium.read(&outlined, &limits).unwrap();
        let outline: Vec<_> = read
            .outline
            .iter()
            .map(|e| (e.level, e.title.as_str(), e.page))
            .collect();
        assert_eq!(
            outline,
            vec![
                (1, "Installing", 1),
                (2, "Upgrading", 2),
                (1, "Removing", 3)
            ]
        );
        let extracted = extract_as_with(MediaType::Pdf, &outlined, &limits, &pdfium).unwrap();
        let blocks: Vec<_> = extracted
            .blocks
            .iter()
            .map(|b| (b.page, b.kind, b.text.as_str()))
            .collect();
        assert_eq!(
            blocks,
            vec![
                (Some(1), BlockKind::Text, "Preface text."),
                (Some(1), BlockKind::Heading(1), "1 Installing"),
                (Some(1), BlockKind::Text, "Run the installer."),
                (Some(2), BlockKind::Text, "Still installing."),
                (Some(2), BlockKind::Heading(2), "1.1 Upgrading"),
                (Some(2), BlockKind::Text, "Keep your settings."),
                (Some(3), BlockKind::Heading(1), "2 Removing"),
                (Some(3), BlockKind::Text, "Delete the folder."),
            ]
        );
        // A PDF without an outline has no entries.
        assert!(
            pdfium
                .read(fixtures::LATEX_PDF, &limits)
                .unwrap()
                .outline
                .is_empty()
        );
        let few = Limits {
            max_pages: 1,
            ..Limits::default()
        };
        assert!(matches!(
            pdfium.read(&fixtures::pdf(&["a", "b"]), &few),
            Err(ExtractError::TooManyPages { pages: 2, max: 1 })
        ));
        assert!(matches!(
            pdfium.read(b"%PDF-1.5 not really", &limits),
            Err(ExtractError::Damaged(_))
        ));
    }
}
