//! Markdown: text, headings with their levels, and tables and lists as blocks of their own; raw
//! HTML inside Markdown is dropped.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::{BlockKind, Collector, ExtractError, Extracted, Limits, MediaType};

// Every other Markdown event (raw HTML, math, footnote marks, and any the parser adds later) is
// left out of the text.
#[allow(clippy::wildcard_enum_match_arm)]
pub(crate) fn extract(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut collector = Collector::new(limits);
    let mut current = String::new();
    let mut heading = String::new();
    let mut level = 1_u8;
    let mut in_heading = false;
    // Open tables and lists; a heading inside one makes it running text after all.
    let mut whole_depth = 0_usize;
    let mut whole_broken = false;
    for event in Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        let target = if in_heading {
            &mut heading
        } else {
            &mut current
        };
        match event {
            Event::Start(Tag::Heading { level: l, .. }) => {
                collector.push(None, BlockKind::Text, &std::mem::take(&mut current))?;
                // HeadingLevel counts from H1 = 1.
                level = l as u8;
                in_heading = true;
                whole_broken |= whole_depth > 0;
            }
            Event::End(TagEnd::Heading(_)) => {
                collector.push(
                    None,
                    BlockKind::Heading(level),
                    &std::mem::take(&mut heading),
                )?;
                in_heading = false;
            }
            Event::Start(Tag::Table(_) | Tag::List(_)) => {
                if whole_depth == 0 {
                    collector.push(None, BlockKind::Text, &std::mem::take(&mut current))?;
                    whole_broken = false;
                } else {
                    // A list inside an item starts after the item's own text.
                    current.push_str("\n\n");
                }
                whole_depth += 1;
            }
            Event::End(TagEnd::Table | TagEnd::List(_)) => {
                whole_depth = whole_depth.saturating_sub(1);
                if whole_depth == 0 {
                    let kind = if whole_broken {
                        BlockKind::Text
                    } else {
                        BlockKind::Whole
                    };
                    collector.push(None, kind, &std::mem::take(&mut current))?;
                } else {
                    current.push_str("\n\n");
                }
            }
            Event::Text(t) | Event::Code(t) => target.push_str(&t),
            Event::SoftBreak => target.push(' '),
            Event::HardBreak => target.push('\n'),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::TableRow
                | TagEnd::TableHead,
            ) => target.push_str("\n\n"),
            Event::End(TagEnd::TableCell) => target.push_str(" | "),
            _ => {}
        }
        // Flush long runs early so one enormous Markdown file never sits in one string twice (a
        // table or list that long is cut anyway).
        if current.len() > 64 * 1024 && current.ends_with("\n\n") {
            collector.push(None, BlockKind::Text, &std::mem::take(&mut current))?;
            whole_broken = true;
        }
    }
    collector.push(None, BlockKind::Text, &current)?;
    collector.finish(MediaType::Markdown)
}
