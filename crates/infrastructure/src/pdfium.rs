//! PDFium, Chromium's PDF library, as the PDF engine: it maps glyphs to text through `ToUnicode`
//! maps, encodings and glyph names, so LaTeX's ligatures come out as letters. It is loaded at run
//! time from the shared library `scripts/fetch-models` unpacks from the `pypdfium2` wheel, and only
//! ever in the extraction sandbox's child: a crash or a runaway in it ends that child alone.

use std::path::Path;

use docent_documents::extract::{ExtractError, Limits, PdfEngine, PdfPages};
use pdfium_render::prelude::{Pdfium, PdfiumError, PdfiumInternalError};

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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_documents::extract::{MediaType, extract_as_with};
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
