//! The built-in `extractive` answerer: no model, no key, works offline. It quotes the sentences of
//! the best passages that share the most words with the question (up to two per passage, each
//! sharing at least half as many as the best), followed by the passage's marker.

use crate::model::CitationStyle;
use crate::prompt::Source;

/// Passages quoted at most.
const MAX_PASSAGES: usize = 3;
/// Sentences quoted per passage at most.
const SENTENCES_PER_PASSAGE: usize = 2;
/// The longest quote, in characters.
const MAX_QUOTE_CHARS: usize = 400;

const STOPWORDS: [&str; 32] = [
    "the", "and", "for", "are", "but", "not", "you", "your", "with", "this", "that", "from",
    "have", "has", "was", "were", "what", "which", "who", "how", "when", "where", "why", "does",
    "can", "could", "should", "would", "there", "their", "about", "into",
];

fn terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// Splits a passage into sentences (on `.`, `!`, `?` followed by white space, and on line
/// breaks).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        let end = match c {
            '\n' => Some(i),
            '.' | '!' | '?' if next_is_space => Some(i + c.len_utf8()),
            _ => None,
        };
        if let Some(end) = end {
            let sentence = text[start..end].trim();
            if sentence.chars().count() > 2 {
                out.push(sentence);
            }
            start = end;
        }
    }
    let tail = text[start..].trim();
    if tail.chars().count() > 2 {
        out.push(tail);
    }
    out
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_QUOTE_CHARS).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut} …")
}

/// The quote taken from one passage: its sentences sharing the most words with the question
/// (in their original order), or its opening when none shares any.
fn quote(question_terms: &[String], passage: &str) -> String {
    let sentences = sentences(passage);
    let mut scored: Vec<(usize, usize)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let words = terms(s);
            let overlap = question_terms.iter().filter(|t| words.contains(t)).count();
            (i, overlap)
        })
        .filter(|(_, overlap)| *overlap > 0)
        .collect();
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    // Sentences sharing at least half as many words as the best one.
    let best = scored.first().map_or(0, |(_, overlap)| *overlap);
    let mut chosen: Vec<usize> = scored
        .iter()
        .filter(|(_, overlap)| overlap * 2 >= best)
        .take(SENTENCES_PER_PASSAGE)
        .map(|(i, _)| *i)
        .collect();
    if chosen.is_empty() {
        chosen.push(0);
    }
    chosen.sort_unstable();
    let text: Vec<&str> = chosen
        .iter()
        .filter_map(|i| sentences.get(*i).copied())
        .collect();
    if text.is_empty() {
        shorten(passage.trim())
    } else {
        shorten(&text.join(" "))
    }
}

/// The answer to `question` from `sources` (best first).
#[must_use]
pub fn answer(question: &str, sources: &[Source], style: CitationStyle) -> String {
    let question_terms = terms(question);
    let mut out = String::from("Here is what the documents say:");
    for source in sources.iter().take(MAX_PASSAGES) {
        out.push_str("\n\n> ");
        out.push_str(&quote(&question_terms, &source.text).replace('\n', " "));
        if style.uses_markers() {
            out.push_str(&format!(" [{}]", source.n));
        } else {
            out.push_str(&format!(" ({})", source.title));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u32, text: &str) -> Source {
        Source {
            n,
            title: format!("Doc {n}"),
            page: None,
            section: None,
            text: text.to_owned(),
        }
    }

    #[test]
    fn quotes_the_sentences_that_match_the_question_with_markers() {
        let sources = [
            source(
                1,
                "The warranty covers parts. Batteries are replaced free of charge within two years. \
                 Shipping is extra.",
            ),
            source(2, "Returns need a receipt.\nRefunds take 14 days."),
            source(3, "Unrelated text about lighthouses."),
            source(4, "A fourth passage is never quoted."),
        ];
        let text = answer(
            "How long are batteries replaced free of charge?",
            &sources,
            CitationStyle::Inline,
        );
        assert!(
            text.contains("> Batteries are replaced free of charge within two years. [1]"),
            "{text}"
        );
        assert!(!text.contains("Shipping"), "{text}");
        // No overlap: the passage's opening is quoted.
        assert!(text.contains("> Returns need a receipt. [2]"), "{text}");
        assert!(text.contains("[3]") && !text.contains("[4]"), "{text}");
        let plain = answer("batteries", &sources[..1], CitationStyle::None);
        assert!(
            plain.ends_with("(Doc 1)") && !plain.contains("[1]"),
            "{plain}"
        );
    }

    #[test]
    fn long_passages_are_shortened_at_a_word() {
        let long = format!("{} end", "word ".repeat(200));
        let text = answer("word", &[source(1, &long)], CitationStyle::Inline);
        assert!(text.chars().count() < MAX_QUOTE_CHARS + 60, "{text}");
        assert!(text.contains(" … [1]"), "{text}");
        assert_eq!(
            sentences("a.b. Ok then! Fine?\nLast"),
            ["a.b.", "Ok then!", "Fine?", "Last"]
        );
    }
}
