//! DOCX: paragraphs of `word/document.xml`, with headings. The archive's entry count and declared
//! unpacked size are checked before anything is unpacked, and the unpacking itself is capped, so a
//! zip bomb fails cleanly.

use std::io::{Cursor, Read as _};

use quick_xml::events::Event;

use super::{Collector, ExtractError, Extracted, Limits, MediaType};

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

// Every other event of the XML reader (and any it adds later) carries no text for people.
#[allow(clippy::wildcard_enum_match_arm)]
fn paragraphs(xml: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut collector = Collector::new(limits);
    let mut paragraph = String::new();
    let mut heading = false;
    let mut in_text = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| damaged("DOCX XML", e))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "w:pStyle" => {
                let style = e
                    .try_get_attribute("w:val")
                    .ok()
                    .flatten()
                    .map(|a| a.value.to_ascii_lowercase());
                heading = style.is_some_and(|s| s.starts_with("heading") || s == "title");
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
                collector.push(None, heading, &std::mem::take(&mut paragraph))?;
                heading = false;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    collector.push(None, heading, &paragraph)?;
    collector.finish(MediaType::Docx)
}
