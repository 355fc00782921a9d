//! Markdown: text and headings; raw HTML inside Markdown is dropped.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::{Collector, ExtractError, Extracted, Limits, MediaType};

// Every other Markdown event (raw HTML, math, footnote marks, and any the parser adds later) is
// left out of the text.
#[allow(clippy::wildcard_enum_match_arm)]
pub(crate) fn extract(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut collector = Collector::new(limits);
    let mut current = String::new();
    let mut heading = String::new();
    let mut in_heading = false;
    for event in Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        let target = if in_heading {
            &mut heading
        } else {
            &mut current
        };
        match event {
            Event::Start(Tag::Heading { .. }) => {
                collector.push(None, false, &std::mem::take(&mut current))?;
                in_heading = true;
            }
            Event::End(TagEnd::Heading(_)) => {
                collector.push(None, true, &std::mem::take(&mut heading))?;
                in_heading = false;
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
        // Flush long runs early so one enormous Markdown file never sits in one string twice.
        if current.len() > 64 * 1024 && current.ends_with("\n\n") {
            collector.push(None, false, &std::mem::take(&mut current))?;
        }
    }
    collector.push(None, false, &current)?;
    collector.finish(MediaType::Markdown)
}
