//! Markdown: text, headings with their levels, and tables and lists as blocks of their own; raw
//! HTML inside Markdown is dropped.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::{BlockKind, Collector, ExtractError, Extracted, Limits, MediaType, Wholes};

// Every other Markdown event (raw HTML, math, footnote marks, and any the parser adds later) is
// left out of the text.
#[allow(clippy::wildcard_enum_match_arm)]
pub(crate) fn extract(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut collector = Collector::new(limits);
    let mut current = String::new();
    let mut heading = String::new();
    let mut level = 1_u8;
    let mut in_heading = false;
    let mut wholes = Wholes::default();
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
                wholes.break_up();
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
                wholes.open(&mut collector, &mut current)?
            }
            Event::End(TagEnd::Table | TagEnd::List(_)) => {
                wholes.close(&mut collector, &mut current)?;
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
            wholes.break_up();
        }
    }
    collector.push(None, BlockKind::Text, &current)?;
    collector.finish(MediaType::Markdown)
}
