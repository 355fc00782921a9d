//! DOCX: paragraphs of `word/document.xml`, with headings and their levels (the "Title" and
//! "Heading N" styles, or a paragraph's outline level), tables and runs of list paragraphs as
//! blocks of their own. The archive's entry count and declared
//! unpacked size are checked before anything is unpacked, and the unpacking itself is capped, so a
//! zip bomb fails cleanly.

use std::io::{Cursor, Read as _};

use quick_xml::events::Event;

use super::{BlockKind, Collector, ExtractError, Extracted, Limits, MediaType};

fn damaged(what: &str, error: impl std::fmt::Display) -> ExtractError {
    ExtractError::Damaged(format!("{what}: {error}"))
}

pub(crate) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| damaged("DOCX archive", e))?;
    if archive.len() > limits.max_archive_entries {
        return Err(ExtractError::TooLarge(format!(
            "the archive has {} entries; at most {} are allowed",
            archive.len(),
            limits.max_archive_entries
        )));
    }
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| damaged("DOCX entry", e))?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > limits.max_unpacked_bytes {
        return Err(ExtractError::TooLarge(format!(
            "the archive unpacks to {declared} bytes; at most {} are allowed",
            limits.max_unpacked_bytes
        )));
    }
    let entry = archive
        .by_name("word/document.xml")
        .map_err(|e| damaged("DOCX body", e))?;
    // Declared sizes can lie: the read itself stops one byte past the limit.
    let mut xml = Vec::new();
    entry
        .take(limits.max_unpacked_bytes + 1)
        .read_to_end(&mut xml)
        .map_err(|e| damaged("DOCX body", e))?;
    if xml.len() as u64 > limits.max_unpacked_bytes {
        return Err(ExtractError::TooLarge(format!(
            "the document body unpacks to more than {} bytes",
            limits.max_unpacked_bytes
        )));
    }
    paragraphs(&xml, limits)
}

/// Bytes of a table or list past which it is given to the chunker as running text.
const LONG_WHOLE: usize = 64 * 1024;

/// The heading level a paragraph style names: 0 for "Title", N for "Heading N" (any case, with
/// or without the space).
fn style_level(style: &str) -> Option<u8> {
    let style = style.to_ascii_lowercase();
    if style == "title" {
        return Some(0);
    }
    style
        .strip_prefix("heading")?
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|level| (1..=9).contains(level))
}

/// A `w:val` attribute's value.
fn val(element: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    element
        .try_get_attribute("w:val")
        .ok()
        .flatten()
        .map(|a| a.value.into_owned())
}

// Every other event of the XML reader (and any it adds later) carries no text for people.
#[allow(clippy::wildcard_enum_match_arm)]
fn paragraphs(xml: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut collector = Collector::new(limits);
    let mut paragraph = String::new();
    // The paragraph's properties: its heading level, whether it is a list item.
    let mut heading: Option<u8> = None;
    let mut listed = false;
    let mut in_text = false;
    // A table being read (cells joined by " | ", rows by line breaks), and list items in a row.
    let mut table_depth = 0_usize;
    let mut table = String::new();
    let mut list = String::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| damaged("DOCX XML", e))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "w:pStyle" => {
                heading = heading.or(val(&e).as_deref().and_then(style_level));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "w:outlineLvl" => {
                let level = val(&e).and_then(|v| v.parse::<u8>().ok());
                heading = heading.or(level.filter(|l| *l < 9).map(|l| l + 1));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "w:numPr" => listed = true,
            Event::Start(e) if e.name().as_ref() == "w:tbl" => {
                if table_depth == 0 {
                    collector.push(None, BlockKind::Whole, &std::mem::take(&mut list))?;
                }
                table_depth += 1;
            }
            Event::End(e) if e.name().as_ref() == "w:tbl" => {
                table_depth = table_depth.saturating_sub(1);
                if table_depth == 0 {
                    collector.push(None, BlockKind::Whole, &std::mem::take(&mut table))?;
                }
            }
            Event::End(e) if e.name().as_ref() == "w:tc" && table_depth > 0 => {
                table.truncate(table.trim_end().len());
                table.push_str(" | ");
            }
            Event::End(e) if e.name().as_ref() == "w:tr" && table_depth > 0 => {
                table.truncate(table.trim_end_matches([' ', '|']).len());
                table.push('\n');
            }
            Event::Start(e) if e.name().as_ref() == "w:t" => in_text = true,
            Event::End(e) if e.name().as_ref() == "w:t" => in_text = false,
            Event::Empty(e) if e.name().as_ref() == "w:tab" => paragraph.push('\t'),
            Event::Empty(e) if matches!(e.name().as_ref(), "w:br" | "w:cr") => {
                paragraph.push('\n');
            }
            Event::Text(t) if in_text => paragraph.push_str(&t),
            Event::GeneralRef(r) if in_text => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) | Err(_) => match &*r {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                };
                paragraph.extend(resolved);
            }
            Event::End(e) if e.name().as_ref() == "w:p" => {
                let text = std::mem::take(&mut paragraph);
                if table_depth > 0 {
                    table.push_str(&text);
                    table.push(' ');
                } else if listed && heading.is_none() {
                    list.push_str(&text);
                    list.push('\n');
                } else {
                    collector.push(None, BlockKind::Whole, &std::mem::take(&mut list))?;
                    let kind = heading.map_or(BlockKind::Text, BlockKind::Heading);
                    collector.push(None, kind, &text)?;
                }
                heading = None;
                listed = false;
                // A table or list this long is cut anyway: it need not sit in memory whole.
                for whole in [&mut table, &mut list] {
                    if whole.len() > LONG_WHOLE {
                        collector.push(None, BlockKind::Text, &std::mem::take(whole))?;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    // What an unfinished (damaged) body left open.
    collector.push(None, BlockKind::Whole, &list)?;
    collector.push(None, BlockKind::Whole, &table)?;
    collector.push(
        None,
        heading.map_or(BlockKind::Text, BlockKind::Heading),
        &paragraph,
    )?;
    collector.finish(MediaType::Docx)
}
