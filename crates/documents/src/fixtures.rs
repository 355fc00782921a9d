//! Real files of each binary format, made in code, for this crate's tests and the end-to-end tests
//! (feature `fixtures`).

// Fixtures for tests: a failure here is a broken test, reported loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// A PDF with one page per entry of `pages`, each showing its text.
pub fn pdf(pages: &[&str]) -> Vec<u8> {
    let pages: Vec<Vec<&str>> = pages.iter().map(|text| vec![*text]).collect();
    let pages: Vec<&[&str]> = pages.iter().map(Vec::as_slice).collect();
    pdf_with_outline(&pages, &[])
}

/// A PDF with one page per entry of `pages`, each showing its lines one below the other, and an
/// outline (bookmarks) of `(level, title, page)` entries (level 1 at the top, pages from 1), in
/// document order.
pub fn pdf_with_outline(pages: &[&[&str]], outline: &[(u8, &str, usize)]) -> Vec<u8> {
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
    for lines in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("TL", vec![16.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
        ];
        for line in *lines {
            operations.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id);
    }
    let count = i64::try_from(kids.len()).unwrap();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids.iter().map(|id| Object::from(*id)).collect::<Vec<_>>(),
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    if !outline.is_empty() {
        let outlines_id = doc.new_object_id();
        let ids: Vec<_> = outline.iter().map(|_| doc.new_object_id()).collect();
        // Each entry's parent: the nearest earlier entry one level up, or the outline's root.
        let parent = |i: usize| {
            (0..i)
                .rev()
                .find(|&j| outline[j].0 < outline[i].0)
                .map_or(outlines_id, |j| ids[j])
        };
        let siblings = |i: usize| -> Vec<usize> {
            (0..outline.len())
                .filter(|&j| parent(j) == parent(i))
                .collect()
        };
        for (i, (_, title, page)) in outline.iter().enumerate() {
            let mut item = dictionary! {
                "Title" => Object::string_literal(*title),
                "Parent" => parent(i),
                "Dest" => vec![Object::from(kids[page - 1]), "XYZ".into(), Object::Null, Object::Null, Object::Null],
            };
            let mine = siblings(i);
            let at = mine.iter().position(|&j| j == i).unwrap();
            if at > 0 {
                item.set("Prev", ids[mine[at - 1]]);
            }
            if let Some(&next) = mine.get(at + 1) {
                item.set("Next", ids[next]);
            }
            let children: Vec<usize> = (0..outline.len())
                .filter(|&j| parent(j) == ids[i])
                .collect();
            if let (Some(first), Some(last)) = (children.first(), children.last()) {
                item.set("First", ids[*first]);
                item.set("Last", ids[*last]);
                item.set("Count", i64::try_from(children.len()).unwrap());
            }
            doc.objects.insert(ids[i], Object::Dictionary(item));
        }
        let top: Vec<usize> = (0..outline.len())
            .filter(|&j| parent(j) == outlines_id)
            .collect();
        doc.objects.insert(
            outlines_id,
            Object::Dictionary(dictionary! {
                "Type" => "Outlines",
                "First" => ids[top[0]],
                "Last" => ids[*top.last().unwrap()],
                "Count" => i64::try_from(outline.len()).unwrap(),
            }),
        );
        if let Ok(Object::Dictionary(catalog)) = doc.get_object_mut(catalog_id) {
            catalog.set("Outlines", outlines_id);
        }
    }
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
