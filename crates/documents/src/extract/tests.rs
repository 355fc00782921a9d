//! Extraction on real files of each format, made here, including hostile ones: each ends as text
//! or as an error with a code, never a crash or a hang.

use std::io::Write as _;
use std::time::Duration;

use super::*;
use crate::fixtures::{docx, pdf};
use lopdf::{Document, Object, dictionary};

fn limits() -> Limits {
    Limits {
        max_pages: 50,
        max_chars: 1_000_000,
        max_unpacked_bytes: 2 * 1024 * 1024,
        max_archive_entries: 100,
    }
}

fn run(bytes: &[u8], name: &str) -> Result<Extracted, ExtractError> {
    extract(bytes, Some(name.to_owned()).as_deref(), &limits())
}

fn all_text(extracted: &Extracted) -> String {
    extracted
        .blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn plain_text_in_utf8_utf16_and_broken_utf8() {
    let utf8 = run("Hello\r\n\r\n\r\nworld\t\t again".as_bytes(), "a.txt").unwrap();
    assert_eq!(utf8.media_type, MediaType::Text);
    assert_eq!(all_text(&utf8), "Hello\n\nworld again");

    let mut utf16 = vec![0xff, 0xfe];
    for unit in "Grüße aus UTF-16".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(all_text(&run(&utf16, "b.txt").unwrap()), "Grüße aus UTF-16");
    let mut utf16be = vec![0xfe, 0xff];
    for unit in "big endian".encode_utf16() {
        utf16be.extend_from_slice(&unit.to_be_bytes());
    }
    assert_eq!(all_text(&run(&utf16be, "c.txt").unwrap()), "big endian");

    let broken = run(b"valid \xff\xfe\xfd then valid again", "d.txt").unwrap();
    assert!(all_text(&broken).contains("then valid again"));
    assert!(all_text(&broken).contains('\u{fffd}'));
}

#[test]
fn empty_and_blank_files_have_no_text() {
    assert_eq!(run(b"", "e.txt").unwrap_err().code(), "empty_text");
    assert_eq!(
        run(b" \n\t \r\n", "e.txt").unwrap_err().code(),
        "empty_text"
    );
    assert_eq!(run(b"# \n\n", "e.md").unwrap_err().code(), "empty_text");
}

#[test]
fn one_enormous_line_is_fine_and_too_much_text_is_refused() {
    let line = "word ".repeat(150_000);
    let extracted = run(line.as_bytes(), "long.txt").unwrap();
    assert_eq!(extracted.char_count(), line.trim_end().len());
    let too_much = "x".repeat(1_500_000);
    assert_eq!(
        run(too_much.as_bytes(), "huge.txt").unwrap_err().code(),
        "too_large"
    );
}

#[test]
fn markdown_keeps_headings_and_drops_raw_html() {
    let md = "# Returns policy\n\nItems may be returned within *30 days*.\n\n<script>alert(1)</script>\n\n## Refunds\n\n- paid back in 5 days\n- to the original card\n";
    let extracted = run(md.as_bytes(), "policy.md").unwrap();
    assert_eq!(extracted.media_type, MediaType::Markdown);
    let headings: Vec<_> = extracted
        .blocks
        .iter()
        .filter(|b| b.heading_level().is_some())
        .map(|b| b.text.as_str())
        .collect();
    assert_eq!(headings, ["Returns policy", "Refunds"]);
    let text = all_text(&extracted);
    assert!(text.contains("Items may be returned within 30 days."));
    assert!(text.contains("paid back in 5 days"));
    assert!(!text.contains("alert"));
}

#[test]
fn deeply_nested_markdown_and_html_do_not_exhaust_the_stack() {
    let quotes = format!("{}deep\n", "> ".repeat(20_000));
    assert!(run(quotes.as_bytes(), "deep.md").is_ok());
    let lists: String = (0..5_000)
        .map(|i| format!("{}- item {i}\n", "  ".repeat(i)))
        .collect();
    assert!(run(lists.as_bytes(), "lists.md").is_ok());
    let nested = |depth: usize| {
        format!(
            "<html><body>{}deep text{}</body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        )
    };
    let extracted = run(nested(400).as_bytes(), "deep.html").unwrap();
    assert_eq!(all_text(&extracted), "deep text");
    assert_eq!(
        run(nested(3_000).as_bytes(), "deep.html")
            .unwrap_err()
            .code(),
        "extract_error"
    );
    // Far deeper is refused at once rather than parsed for minutes.
    let started = std::time::Instant::now();
    let error = run(nested(200_000).as_bytes(), "deeper.html").unwrap_err();
    assert_eq!(error.code(), "extract_error");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn html_text_without_scripts_or_styles() {
    let html = "<!DOCTYPE html><html><head><title>t</title><style>body{color:red}</style></head>\
                <body><h1>Warranty</h1><p>Covers <b>two</b> years.</p><script>var secret=1;</script>\
                <table><tr><td>A</td><td>B</td></tr></table></body></html>";
    // The name says .txt, the bytes say HTML: the bytes win.
    let extracted = run(html.as_bytes(), "page.txt").unwrap();
    assert_eq!(extracted.media_type, MediaType::Html);
    assert_eq!(
        extracted.blocks[0],
        Block {
            page: None,
            kind: BlockKind::Heading(1),
            text: "Warranty".to_owned()
        }
    );
    let text = all_text(&extracted);
    assert!(text.contains("Covers two years."));
    assert!(text.contains("A | B"));
    assert!(!text.contains("secret") && !text.contains("color"));
}

#[test]
fn csv_rows_become_labelled_lines_and_huge_csv_is_bounded() {
    let csv = "product,price,stock\nLamp,19.99,4\nDesk,\"1,299\",0\nshort row\n";
    let extracted = run(csv.as_bytes(), "stock.csv").unwrap();
    assert_eq!(extracted.media_type, MediaType::Csv);
    let text = all_text(&extracted);
    assert!(
        text.contains("product: Lamp; price: 19.99; stock: 4"),
        "{text}"
    );
    assert!(text.contains("price: 1,299"));
    assert!(text.contains("product: short row"));
    let mut huge = String::from("a,b\n");
    for i in 0..200_000 {
        huge.push_str(&format!("value {i},other {i}\n"));
    }
    assert_eq!(
        run(huge.as_bytes(), "huge.csv").unwrap_err().code(),
        "too_large"
    );
}

#[test]
fn docx_paragraphs_and_headings() {
    let body = "<w:p><w:pPr><w:pStyle w:val=\"Heading1\"/></w:pPr><w:r><w:t>Safety</w:t></w:r></w:p>\
                <w:p><w:r><w:t xml:space=\"preserve\">Unplug the device </w:t></w:r>\
                <w:r><w:t>before cleaning &amp; servicing.</w:t></w:r></w:p>";
    let extracted = run(&docx(body, &[]), "manual.docx").unwrap();
    assert_eq!(extracted.media_type, MediaType::Docx);
    assert_eq!(extracted.blocks[0].text, "Safety");
    assert_eq!(extracted.blocks[0].kind, BlockKind::Heading(1));
    assert_eq!(
        extracted.blocks[1].text,
        "Unplug the device before cleaning & servicing."
    );
}

#[test]
fn a_docx_zip_bomb_fails_cleanly() {
    // 50 MiB of zeros compresses to ~50 KiB; the limit is 2 MiB.
    let bomb = vec![0_u8; 50 * 1024 * 1024];
    let started = std::time::Instant::now();
    let error = run(
        &docx(
            "<w:p><w:r><w:t>x</w:t></w:r></w:p>",
            &[("word/media/bomb.bin", bomb)],
        ),
        "bomb.docx",
    )
    .unwrap_err();
    assert_eq!(error.code(), "too_large");
    assert!(started.elapsed() < Duration::from_secs(30));
    let many: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| (format!("word/x{i}.xml"), vec![b'a']))
        .collect();
    let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    assert_eq!(
        run(&docx("<w:p/>", &many), "many.docx").unwrap_err().code(),
        "too_large"
    );
}

#[test]
fn a_zip_that_is_not_a_word_document_is_unsupported() {
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut bytes);
        zip.start_file("hello.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"hi").unwrap();
        zip.finish().unwrap();
    }
    assert_eq!(
        run(&bytes.into_inner(), "fake.docx").unwrap_err().code(),
        "unsupported_format"
    );
}

#[test]
fn pdf_text_keeps_page_numbers() {
    let bytes = pdf(&["First page about batteries", "Second page about chargers"]);
    let extracted = run(&bytes, "manual.pdf").unwrap();
    assert_eq!(extracted.media_type, MediaType::Pdf);
    let pages: Vec<_> = extracted
        .blocks
        .iter()
        .map(|b| (b.page, b.text.contains("page about")))
        .collect();
    assert_eq!(pages, [(Some(1), true), (Some(2), true)]);
    assert!(all_text(&extracted).contains("chargers"));
}

#[test]
fn hostile_pdfs_end_with_a_code() {
    let bytes = pdf(&["Truncated soon"]);
    let truncated = &bytes[..bytes.len() / 2];
    assert_eq!(
        run(truncated, "cut.pdf").unwrap_err().code(),
        "extract_error"
    );
    assert_eq!(
        run(b"%PDF-1.7\n garbage garbage", "junk.pdf")
            .unwrap_err()
            .code(),
        "extract_error"
    );

    let mut encrypted = Document::load_mem(&pdf(&["secret"])).unwrap();
    let encrypt = encrypted.add_object(dictionary! {
        "Filter" => "Standard",
        "V" => 1,
        "R" => 2,
        "O" => Object::string_literal(vec![1_u8; 32]),
        "U" => Object::string_literal(vec![2_u8; 32]),
        "P" => -4,
    });
    encrypted.trailer.set("Encrypt", encrypt);
    let mut encrypted_bytes = Vec::new();
    encrypted.save_to(&mut encrypted_bytes).unwrap();
    assert_eq!(
        run(&encrypted_bytes, "locked.pdf").unwrap_err().code(),
        "encrypted_pdf"
    );

    let many: Vec<String> = (0..60).map(|i| format!("page {i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        run(&pdf(&many), "long.pdf").unwrap_err().code(),
        "too_many_pages"
    );
}

#[test]
fn names_never_make_bytes_pass_for_another_format() {
    // Text named .pdf is read as text; binary named .txt is refused.
    let text = run(b"just words, not a PDF", "report.pdf").unwrap();
    assert_eq!(text.media_type, MediaType::Text);
    assert_eq!(
        run(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "notes.txt")
            .unwrap_err()
            .code(),
        "unsupported_format"
    );
    assert_eq!(
        run(b"text with a \0 NUL byte", "x.md").unwrap_err().code(),
        "unsupported_format"
    );
    assert_eq!(
        run(b"\x7fELF\x02\x01\x01", "../../etc/passwd")
            .unwrap_err()
            .code(),
        "unsupported_format"
    );
    // A path-traversal or NUL-laden name is only ever a hint for text flavours.
    assert_eq!(
        run(b"a,b\n1,2\n", "../../x.csv\0.pdf").unwrap().media_type,
        MediaType::Text
    );
    assert_eq!(
        run(b"a,b\n1,2\n", "../../x.csv").unwrap().media_type,
        MediaType::Csv
    );
}

/// Each block's kind and text.
fn kinds(extracted: &Extracted) -> Vec<(BlockKind, &str)> {
    extracted
        .blocks
        .iter()
        .map(|b| (b.kind, b.text.as_str()))
        .collect()
}

#[test]
fn html_headings_keep_their_levels_and_tables_and_lists_are_blocks() {
    let html = "<html><body><h1>Guide</h1><p>Intro.</p><h3>Details <em>here</em></h3>\
                <ul><li>one</li><li>two<ol><li>inner</li></ol></li></ul><p>Between.</p>\
                <table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>\
                <table><tr><td><h2>Laid out</h2><p>in a table</p></td></tr></table></body></html>";
    let extracted = run(html.as_bytes(), "guide.html").unwrap();
    assert_eq!(
        kinds(&extracted),
        vec![
            (BlockKind::Heading(1), "Guide"),
            (BlockKind::Text, "Intro."),
            (BlockKind::Heading(3), "Details here"),
            (BlockKind::Whole, "one\n\ntwo\n\ninner"),
            (BlockKind::Text, "Between."),
            (BlockKind::Whole, "k | v |\n\na | 1 |"),
            // A table holding a heading is layout, not a table.
            (BlockKind::Heading(2), "Laid out"),
            (BlockKind::Text, "in a table\n\n|"),
        ]
    );
}

#[test]
fn markdown_headings_keep_their_levels_and_tables_and_lists_are_blocks() {
    let md = "# Guide\n\nIntro.\n\n### Details\n\n- one\n- two\n  1. inner\n\nBetween.\n\n\
              | k | v |\n|---|---|\n| a | 1 |\n";
    let extracted = run(md.as_bytes(), "guide.md").unwrap();
    assert_eq!(
        kinds(&extracted),
        vec![
            (BlockKind::Heading(1), "Guide"),
            (BlockKind::Text, "Intro."),
            (BlockKind::Heading(3), "Details"),
            (BlockKind::Whole, "one\n\ntwo\n\ninner"),
            (BlockKind::Text, "Between."),
            (BlockKind::Whole, "k | v |\n\na | 1 |"),
        ]
    );
}

#[test]
fn docx_heading_levels_tables_and_lists() {
    let p = |style: &str, extra: &str, text: &str| {
        format!(
            "<w:p><w:pPr>{}{extra}</w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>",
            if style.is_empty() {
                String::new()
            } else {
                format!("<w:pStyle w:val=\"{style}\"/>")
            }
        )
    };
    let item = "<w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"1\"/></w:numPr>";
    let cell = |text: &str| format!("<w:tc>{}</w:tc>", p("", "", text));
    let body = [
        p("Title", "", "Manual"),
        p("Heading2", "", "Care"),
        p("", "<w:outlineLvl w:val=\"2\"/>", "Outlined"),
        p("ListParagraph", item, "first"),
        p("ListParagraph", item, "second"),
        p("", "", "After the list."),
        format!(
            "<w:tbl><w:tr>{}{}</w:tr><w:tr>{}{}</w:tr></w:tbl>",
            cell("k"),
            cell("v"),
            cell("a"),
            cell("1")
        ),
        p("heading 1", "", "Styles by name"),
    ]
    .concat();
    let extracted = run(&docx(&body, &[]), "manual.docx").unwrap();
    assert_eq!(
        kinds(&extracted),
        vec![
            (BlockKind::Heading(0), "Manual"),
            (BlockKind::Heading(2), "Care"),
            (BlockKind::Heading(3), "Outlined"),
            (BlockKind::Whole, "first\nsecond"),
            (BlockKind::Text, "After the list."),
            (BlockKind::Whole, "k | v\na | 1"),
            (BlockKind::Heading(1), "Styles by name"),
        ]
    );
}
