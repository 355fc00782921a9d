//! Real files of each binary format, made in code, for this crate's tests and the end-to-end tests
//! (feature `fixtures`).

// Fixtures for tests: a failure here is a broken test, reported loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// A PDF with one page per entry of `pages`, each showing its text.
pub fn pdf(pages: &[&str]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for text in pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![72.into(), 720.into()]),
                Operation::new("Tj", vec![Object::string_literal(*text)]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// A four-page PDF made by pdfTeX (`fixtures/latex-ligatures.tex`, without `\pdfgentounicode`),
/// as many LaTeX manuals are: Computer Modern Type 1 fonts with their built-in encoding and no
/// `ToUnicode` map, so its many fi, fl, ff, ffi and ffl are ligature glyphs only the font program
/// names; words hyphenated at line ends; the running header "The docent field guide" and a page
/// number on every page.
pub const LATEX_PDF: &[u8] = include_bytes!("../fixtures/latex-ligatures.pdf");

/// The words of [`LATEX_PDF`]'s body text that `text` (what was extracted from it) lacks.
#[must_use]
pub fn latex_pdf_words_missing_from(text: &str) -> Vec<String> {
    let text = text.to_lowercase();
    let found: std::collections::HashSet<&str> =
        text.split(|c: char| !c.is_alphanumeric()).collect();
    latex_pdf_words()
        .into_iter()
        .filter(|word| !found.contains(word.as_str()))
        .collect()
}

/// The words of [`LATEX_PDF`]'s body text, as written in its source (lower case).
#[must_use]
pub fn latex_pdf_words() -> Vec<String> {
    let source = include_str!("../fixtures/latex-ligatures.tex");
    let body = &source[source.find("\\section").unwrap_or(0)..];
    body.lines()
        .filter(|line| !line.starts_with('\\'))
        .flat_map(|line| line.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A DOCX whose body holds `body_xml` (the content of `<w:body>`), plus `extra` entries.
pub fn docx(body_xml: &str, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut bytes);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("[Content_Types].xml", options).unwrap();
        zip.write_all(b"<?xml version=\"1.0\"?><Types/>").unwrap();
        zip.start_file("word/document.xml", options).unwrap();
        write!(
            zip,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
             <w:body>{body_xml}</w:body></w:document>"
        )
        .unwrap();
        for (name, content) in extra {
            zip.start_file(*name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
    }
    bytes.into_inner()
}
