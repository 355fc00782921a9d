//! Citation markers: `[1]`, `[2][3]` or `[1, 2]` in an answer refer to the numbered sources of
//! its prompt. Markers pointing at a number that was not given are dropped from the text, also
//! while the answer streams (a marker split over two deltas is held back until it is complete).

use crate::model::{Citation, CitationStyle};
use crate::prompt::Source;

/// The longest text held back as a possible marker.
const MAX_MARKER: usize = 24;

/// Filters markers out of streamed text: `[n]` with `n` outside `1..=sources` is dropped, `[n, m]`
/// keeps its valid numbers, and with `strip_all` every marker goes.
#[derive(Debug)]
pub struct MarkerFilter {
    sources: u32,
    strip_all: bool,
    pending: String,
    /// Inside a code span or block (between backticks), where brackets are code.
    in_code: bool,
}

/// What a bracketed text is.
enum Bracket {
    /// Not a marker: emit as is.
    Text,
    /// A marker with these numbers.
    Marker(Vec<u32>),
}

fn classify(inner: &str) -> Bracket {
    let numbers: Option<Vec<u32>> = inner
        .split(',')
        .map(|part| {
            let part = part.trim();
            // Sources are few (`top_k` ≤ 20): `[2023]` or `[100]` is text, not a marker.
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                part.parse().ok()
            }
        })
        .collect();
    match numbers {
        Some(numbers) if !numbers.is_empty() => Bracket::Marker(numbers),
        Some(_) | None => Bracket::Text,
    }
}

/// Whether `partial` (after the `[`) can still become a marker.
fn may_become_marker(partial: &str) -> bool {
    partial
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b',' || b == b' ')
}

impl MarkerFilter {
    /// A filter for an answer given `sources` numbered sources.
    #[must_use]
    pub fn new(sources: usize, style: CitationStyle) -> Self {
        Self {
            sources: u32::try_from(sources).unwrap_or(u32::MAX),
            strip_all: !style.uses_markers(),
            pending: String::new(),
            in_code: false,
        }
    }

    fn resolve(&self, inner: &str, out: &mut String) {
        match classify(inner) {
            Bracket::Text => {
                out.push('[');
                out.push_str(inner);
                out.push(']');
            }
            Bracket::Marker(numbers) => {
                if self.strip_all {
                    return;
                }
                let valid: Vec<String> = numbers
                    .iter()
                    .filter(|n| (1..=self.sources).contains(*n))
                    .map(u32::to_string)
                    .collect();
                if valid.len() == numbers.len() {
                    out.push('[');
                    out.push_str(inner);
                    out.push(']');
                } else if !valid.is_empty() {
                    out.push('[');
                    out.push_str(&valid.join(", "));
                    out.push(']');
                }
            }
        }
    }

    /// Feeds a delta; returns the text that can be shown now.
    pub fn push(&mut self, delta: &str) -> String {
        let mut out = String::with_capacity(delta.len());
        for c in delta.chars() {
            if self.pending.is_empty() {
                if c == '`' {
                    self.in_code = !self.in_code;
                }
                if c == '[' && !self.in_code {
                    self.pending.push(c);
                } else {
                    out.push(c);
                }
                continue;
            }
            if c == ']' {
                let inner = self.pending[1..].to_owned();
                self.pending.clear();
                self.resolve(&inner, &mut out);
            } else if c == '[' {
                // The held text was not a marker; a new one may start here.
                out.push_str(&self.pending);
                self.pending.clear();
                self.pending.push(c);
            } else if c == '`' {
                out.push_str(&self.pending);
                self.pending.clear();
                self.in_code = !self.in_code;
                out.push(c);
            } else {
                self.pending.push(c);
                if !may_become_marker(&self.pending[1..]) || self.pending.len() > MAX_MARKER {
                    out.push_str(&self.pending);
                    self.pending.clear();
                }
            }
        }
        out
    }

    /// Ends the stream; returns whatever was held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Removes invalid markers from a complete text.
#[must_use]
pub fn clean(text: &str, sources: usize, style: CitationStyle) -> String {
    let mut filter = MarkerFilter::new(sources, style);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    out
}

/// The source numbers a (cleaned) text cites, in order of first mention.
#[must_use]
pub fn cited(text: &str) -> Vec<u32> {
    let mut numbers = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find(']') else { break };
        if let Bracket::Marker(found) = classify(&rest[..end]) {
            for n in found {
                if !numbers.contains(&n) {
                    numbers.push(n);
                }
            }
            rest = &rest[end + 1..];
        }
    }
    numbers
}

/// The citations of an answer: the sources its text cites, or, when it cites none (a model that
/// ignores the instruction, or the `none` style), every source it was given. Never a source that
/// was not retrieved.
#[must_use]
pub fn citations_for(text: &str, given: &[Citation]) -> Vec<Citation> {
    let numbers = cited(text);
    let chosen: Vec<Citation> = numbers
        .iter()
        .filter_map(|n| given.iter().find(|c| c.n == *n).cloned())
        .collect();
    if chosen.is_empty() {
        given.to_vec()
    } else {
        let mut chosen = chosen;
        chosen.sort_by_key(|c| c.n);
        chosen
    }
}

/// The source list the `footnotes` style appends.
#[must_use]
pub fn footnotes(citations: &[Citation]) -> String {
    let mut out = String::from("\n\nSources:");
    for citation in citations {
        out.push_str(&format!("\n[{}] {}", citation.n, citation.title));
        if let Some(page) = citation.page {
            out.push_str(&format!(", page {page}"));
        }
    }
    out
}

/// The sources as the prompt numbers them.
#[must_use]
pub fn numbered(citations: &[Citation], texts: &[String]) -> Vec<Source> {
    citations
        .iter()
        .zip(texts)
        .map(|(c, text)| Source {
            n: c.n,
            title: c.title.clone(),
            page: c.page,
            section: c.section.clone(),
            text: text.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::citation;

    #[test]
    fn markers_outside_the_sources_are_dropped() {
        let style = CitationStyle::Inline;
        assert_eq!(clean("Yes [1]. Also [3].", 2, style), "Yes [1]. Also .");
        assert_eq!(clean("See [1, 4] and [2][9]", 2, style), "See [1] and [2]");
        assert_eq!(clean("See [0] [12]", 12, style), "See  [12]");
        // Code is left alone, and numbers too large to be markers are text.
        assert_eq!(
            clean("Use `arr[0]` and `m[1, 9]` [9]", 2, style),
            "Use `arr[0]` and `m[1, 9]` "
        );
        assert_eq!(
            clean("```\nx = a[7]\n```\nIn [2023] [1]", 1, style),
            "```\nx = a[7]\n```\nIn [2023] [1]"
        );
        // Brackets that are not markers stay.
        assert_eq!(clean("a [b] c [ d", 2, style), "a [b] c [ d");
        assert_eq!(clean("array[i] = [1]", 1, style), "array[i] = [1]");
        assert_eq!(clean("[[1]]", 1, style), "[[1]]");
        // The `none` style removes every marker.
        assert_eq!(clean("Yes [1][2].", 2, CitationStyle::None), "Yes .");
    }

    #[test]
    fn a_marker_split_across_deltas_is_held_back_until_complete() {
        let mut filter = MarkerFilter::new(2, CitationStyle::Inline);
        let mut out = String::new();
        for delta in [
            "The answer",
            " is 42 [",
            "1",
            "][",
            "7] and [2",
            "]. Done [",
            "x",
        ] {
            out.push_str(&filter.push(delta));
        }
        assert_eq!(out, "The answer is 42 [1] and [2]. Done [x");
        assert_eq!(filter.finish(), "");
        let mut open = MarkerFilter::new(2, CitationStyle::Inline);
        assert_eq!(open.push("cut [1"), "cut ");
        assert_eq!(open.finish(), "[1");
    }

    #[test]
    fn citations_are_the_cited_sources_or_all_given() {
        let given = vec![citation(1), citation(2), citation(3)];
        let chosen = citations_for("A [3] and B [1][3].", &given);
        assert_eq!(chosen.iter().map(|c| c.n).collect::<Vec<_>>(), [1, 3]);
        let all = citations_for("No markers at all.", &given);
        assert_eq!(all.len(), 3);
        assert_eq!(cited("x [2, 1] y [2]"), [2, 1]);
        let notes = footnotes(&chosen);
        assert!(notes.starts_with("\n\nSources:\n[1] Doc 1"), "{notes}");
    }
}
