//! HTML: visible text, headings with their levels, and tables and lists as blocks of their own,
//! without scripts, styles or templates. The tree is walked iteratively, so deeply nested markup
//! cannot exhaust the stack.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::{BlockKind, Collector, ExtractError, Extracted, Limits, MediaType, Wholes};

/// Elements whose content is never text for people.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "head", "svg", "iframe", "object",
];
/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "br",
    "tr",
    "table",
    "section",
    "article",
    "pre",
    "blockquote",
    "header",
    "footer",
    "nav",
    "main",
    "aside",
    "dd",
    "dt",
    "dl",
    "figcaption",
    "hr",
    "title",
];

/// Elements kept in one block, and so in one chunk where they fit: tables and lists.
const WHOLE: &[&str] = &["table", "ul", "ol", "dl"];

/// The level of a heading element.
fn heading_level(name: &str) -> Option<u8> {
    Some(match name {
        "h1" => 1,
        "h2" => 2,
        "h3" => 3,
        "h4" => 4,
        "h5" => 5,
        "h6" => 6,
        _ => return None,
    })
}

/// The deepest element nesting accepted. The HTML parser checks "is there an open X in scope" by
/// walking its stack of open elements, so its work grows with depth times elements: capping the
/// depth keeps it linear in the input. Real pages nest a few dozen levels deep.
const MAX_DEPTH: usize = 512;

/// Elements that never have content, so they do not nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements whose start tag ends an open one of their kind (a `<p>` closes an open `<p>`, an
/// `<li>` an open `<li>`, a `<td>` the cell before), so unclosed ones do not pile up.
const SELF_ENDING: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot",
    "colgroup", "caption", "rb", "rt", "rp", "rtc", "html", "head", "body",
];

/// Estimates the deepest nesting from the raw text (opening minus closing tags) in one pass: every
/// byte is looked at a bounded number of times, whatever the input (a tag's end is looked for only
/// up to the next `<`).
fn nesting_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0_usize, 0_usize, 0_usize);
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        i += offset + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = i + usize::from(closing);
        if !bytes.get(start).is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| start + n);
        let name = text[start..end].to_ascii_lowercase();
        if VOID.contains(&name.as_str()) || SELF_ENDING.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
            continue;
        }
        let tag_end = bytes[end..]
            .iter()
            .position(|&b| b == b'>' || b == b'<')
            .map(|n| end + n)
            .filter(|&e| bytes[e] == b'>');
        let self_closing = tag_end.is_some_and(|e| e > 0 && bytes[e - 1] == b'/');
        if !self_closing {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
}

pub(crate) fn extract(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let depth = nesting_depth(text);
    if depth > MAX_DEPTH {
        return Err(ExtractError::Damaged(format!(
            "HTML nested {depth} levels deep; at most {MAX_DEPTH} are read"
        )));
    }
    let document = Html::parse_document(text);
    let mut collector = Collector::new(limits);
    let mut current = String::new();
    let mut skipping = 0_usize;
    // The open heading (its level) and how deeply heading elements nest in it.
    let mut heading = BlockKind::Text;
    let mut heading_depth = 0_usize;
    // Open tables and lists; a heading inside one makes it running text after all (pages laid out
    // in tables).
    let mut wholes = Wholes::default();
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let name = element.name();
                    if SKIPPED.contains(&name) {
                        skipping += 1;
                    } else if let Some(level) = heading_level(name) {
                        if heading_depth == 0 {
                            collector.push(None, BlockKind::Text, &std::mem::take(&mut current))?;
                            heading = BlockKind::Heading(level);
                            wholes.break_up();
                        }
                        heading_depth += 1;
                    } else if WHOLE.contains(&name) && heading_depth == 0 {
                        wholes.open(&mut collector, &mut current)?;
                    } else if BLOCKS.contains(&name) {
                        current.push_str("\n\n");
                    }
                }
                Node::Text(t) if skipping == 0 => current.push_str(t),
                Node::Text(_)
                | Node::Document
                | Node::Fragment
                | Node::Doctype(_)
                | Node::Comment(_)
                | Node::ProcessingInstruction(_) => {}
            },
            Edge::Close(node) => {
                if let Node::Element(element) = node.value() {
                    let name = element.name();
                    if SKIPPED.contains(&name) {
                        skipping = skipping.saturating_sub(1);
                    } else if heading_level(name).is_some() {
                        heading_depth = heading_depth.saturating_sub(1);
                        if heading_depth == 0 {
                            collector.push(None, heading, &std::mem::take(&mut current))?;
                        }
                    } else if WHOLE.contains(&name) && heading_depth == 0 {
                        wholes.close(&mut collector, &mut current)?;
                    } else if BLOCKS.contains(&name) {
                        current.push_str("\n\n");
                    } else if matches!(name, "td" | "th") {
                        current.push_str(" | ");
                    }
                }
            }
        }
    }
    collector.push(None, BlockKind::Text, &current)?;
    collector.finish(MediaType::Html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_estimated_from_tags() {
        assert_eq!(
            nesting_depth("<div><p>a</p><br><img src=x/><span/></div>"),
            1
        );
        assert_eq!(nesting_depth("text < 3 and <b>bold</b>"), 1);
        assert_eq!(nesting_depth(&"<div>".repeat(500)), 500);
        // Unclosed paragraphs, list items and cells end each other: a long page of them is flat.
        let flat = "<ul>".to_owned() + &"<li>item<p>text".repeat(5_000) + "</ul>";
        assert_eq!(nesting_depth(&flat), 1);
        assert_eq!(nesting_depth(&"<table><tr><td>x".repeat(3)), 3);
    }

    #[test]
    fn tags_without_a_closing_bracket_are_counted_once_each() {
        // `<a` again and again with no `>`: each one's end is looked for only up to the next `<`
        // (looking to the end of the text made this quadratic). The end-to-end tests time it.
        let text = "<html>".to_owned() + &"<a".repeat(20_000);
        assert_eq!(nesting_depth(&text), 20_000);
        let error = extract(&text, &Limits::default()).unwrap_err();
        assert_eq!(error.code(), "extract_error");
        assert!(error.to_string().contains("at most 512"), "{error}");
    }
}
