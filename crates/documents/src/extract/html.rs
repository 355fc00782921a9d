//! HTML: visible text and headings, without scripts, styles or templates. The tree is walked
//! iteratively, so deeply nested markup cannot exhaust the stack.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::{Collector, ExtractError, Extracted, Limits, MediaType};

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
    "figcaption",
    "hr",
    "title",
];

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// The deepest element nesting accepted. The HTML parser's work grows with depth times elements,
/// so a file of a hundred thousand nested tags would keep it busy for minutes; real pages stay far
/// below this.
const MAX_DEPTH: usize = 10_000;

/// Elements that never have content, so they do not nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Estimates the deepest nesting from the raw text (opening minus closing tags) in one pass.
fn nesting_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0_usize, 0_usize, 0_usize);
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        i += offset + 1;
        match bytes.get(i) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b) if b.is_ascii_alphabetic() => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .map_or(bytes.len(), |n| i + n);
                let name = text[i..end].to_ascii_lowercase();
                let tag_end = bytes[end..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map(|n| end + n);
                let self_closing = tag_end.is_some_and(|e| e > 0 && bytes[e - 1] == b'/');
                if !VOID.contains(&name.as_str()) && !self_closing {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
            }
            _ => {}
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
    let mut heading_depth = 0_usize;
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let name = element.name();
                    if SKIPPED.contains(&name) {
                        skipping += 1;
                    } else if is_heading(name) {
                        if heading_depth == 0 {
                            collector.push(None, false, &std::mem::take(&mut current))?;
                        }
                        heading_depth += 1;
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
                    } else if is_heading(name) {
                        heading_depth = heading_depth.saturating_sub(1);
                        if heading_depth == 0 {
                            collector.push(None, true, &std::mem::take(&mut current))?;
                        }
                    } else if BLOCKS.contains(&name) {
                        current.push_str("\n\n");
                    } else if matches!(name, "td" | "th") {
                        current.push_str(" | ");
                    }
                }
            }
        }
    }
    collector.push(None, false, &current)?;
    collector.finish(MediaType::Html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_estimated_from_tags() {
        assert_eq!(
            nesting_depth("<div><p>a</p><br><img src=x/><span/></div>"),
            2
        );
        assert_eq!(nesting_depth("text < 3 and <b>bold</b>"), 1);
        assert_eq!(nesting_depth(&"<div>".repeat(500)), 500);
    }
}
