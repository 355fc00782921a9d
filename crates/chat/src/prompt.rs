//! Prompt assembly: the system message rendered from `prompts/system.jinja` (the chatbot's
//! instructions, its tone, the numbered sources and how to cite them), then as much recent history
//! as the model's budget leaves room for, then the question.

use std::sync::OnceLock;

use docent_providers::chat::{ChatMessage, ChatRole};
use minijinja::Environment;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use serde::Serialize;

use crate::error::{ChatError, invalid};
use crate::model::{Chatbot, CitationStyle, Message, Role, Tone};

/// A built-in tone template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToneTemplate {
    /// Its name, as chatbots refer to it.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The instructions it adds to the prompt.
    pub text: &'static str,
}

/// The built-in tone templates (the files under `prompts/tones/`).
pub const TONES: [ToneTemplate; 4] = [
    ToneTemplate {
        name: "professional",
        description: "Courteous, precise and complete; no slang.",
        text: include_str!("prompts/tones/professional.txt"),
    },
    ToneTemplate {
        name: "friendly",
        description: "Warm and approachable, explaining terms along the way.",
        text: include_str!("prompts/tones/friendly.txt"),
    },
    ToneTemplate {
        name: "concise",
        description: "As short as possible: a sentence or a few bullet points.",
        text: include_str!("prompts/tones/concise.txt"),
    },
    ToneTemplate {
        name: "technical",
        description: "Exact terminology, concrete values and commands, code formatted.",
        text: include_str!("prompts/tones/technical.txt"),
    },
];

/// The built-in template called `name`.
#[must_use]
pub fn tone_template(name: &str) -> Option<&'static ToneTemplate> {
    TONES.iter().find(|t| t.name == name)
}

const SYSTEM_TEMPLATE: &str = include_str!("prompts/system.jinja");

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        match SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(error) => tracing::error!(%error, "the template syntax is invalid"),
        }
        // The template is compiled into the binary, and a unit test renders it: a syntax error
        // cannot reach a running server. Should it anyway, rendering reports it.
        if let Err(error) = env.add_template("system", SYSTEM_TEMPLATE) {
            tracing::error!(%error, "the system prompt template does not compile");
        }
        env
    })
}

/// A retrieved passage as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// Its number, from 1.
    pub n: u32,
    /// The document's title.
    pub title: String,
    /// The page, where known.
    pub page: Option<u32>,
    /// The headings the passage lies under, where known.
    pub section: Option<String>,
    /// The passage.
    pub text: String,
}

/// An assembled prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The messages to send.
    pub messages: Vec<ChatMessage>,
    /// How many of the sources it carries (the first ones; the rest did not fit).
    pub sources_used: usize,
    /// How many history messages it carries.
    pub history_used: usize,
    /// The estimated prompt size in tokens.
    pub estimated_tokens: u64,
}

/// A rough token count: about four characters per token, plus the per-message framing. It errs on
/// the generous side for English; a provider that disagrees answers "context too long", and the
/// answer is retried once without history.
#[must_use]
pub fn estimate_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    chars.div_ceil(4) + 4
}

#[derive(Serialize)]
struct SystemContext<'a> {
    system_prompt: &'a str,
    tone: &'a str,
    cite: bool,
    sources: &'a [Source],
}

/// Renders the system message for `sources`.
pub fn system_message(chatbot: &Chatbot, sources: &[Source]) -> Result<String, ChatError> {
    render_system(
        &chatbot.system_prompt,
        &chatbot.tone,
        chatbot.citation_style,
        sources,
    )
}

/// The system message a chatbot with these settings sends, with one sample source in place of
/// the passages a question retrieves: what the console shows as the prompt's preview.
pub fn preview(
    system_prompt: &str,
    tone: &Tone,
    citation_style: CitationStyle,
) -> Result<String, ChatError> {
    let sample = Source {
        n: 1,
        title: "A document".to_owned(),
        page: Some(3),
        section: Some("Its section".to_owned()),
        text: "(The passages retrieved for the question appear here, numbered.)".to_owned(),
    };
    render_system(system_prompt, tone, citation_style, &[sample])
}

fn render_system(
    system_prompt: &str,
    tone: &Tone,
    citation_style: CitationStyle,
    sources: &[Source],
) -> Result<String, ChatError> {
    let tone = match tone {
        Tone::Template(name) => tone_template(name).map_or("", |t| t.text),
        Tone::Custom(text) => text.as_str(),
    };
    let template = environment()
        .get_template("system")
        .map_err(|e| invalid("system_prompt", format!("the prompt template failed: {e}")))?;
    let rendered = template
        .render(Serde(SystemContext {
            system_prompt: system_prompt.trim(),
            tone: tone.trim(),
            cite: citation_style.uses_markers(),
            sources,
        }))
        .map_err(|e| invalid("system_prompt", format!("the prompt template failed: {e}")))?;
    Ok(rendered.trim().to_owned())
}

/// Builds the prompt: the system message with as many sources as fit (at least one), then the
/// newest history that fits what is left of `context_window - max_answer_tokens`, then the
/// question. `include_history` is false for the retry after a context overflow.
pub fn build(
    chatbot: &Chatbot,
    sources: &[Source],
    history: &[Message],
    question: &str,
    include_history: bool,
) -> Result<Prompt, ChatError> {
    let budget =
        u64::from(chatbot.context_window).saturating_sub(u64::from(chatbot.max_answer_tokens));
    let question_tokens = estimate_tokens(question);
    let mut used = sources.len();
    let (system, system_tokens) = loop {
        let system = system_message(chatbot, &sources[..used])?;
        let tokens = estimate_tokens(&system);
        if tokens + question_tokens <= budget || used <= 1 {
            break (system, tokens);
        }
        used -= 1;
    };
    let mut left = budget.saturating_sub(system_tokens + question_tokens);
    let mut kept = Vec::new();
    if include_history {
        for message in history.iter().rev() {
            let tokens = estimate_tokens(&message.content);
            if tokens > left {
                break;
            }
            left -= tokens;
            kept.push(message);
        }
        // Start with a question, not with an answer whose question did not fit.
        while kept.last().is_some_and(|m| m.role == Role::Assistant) {
            kept.pop();
        }
        kept.reverse();
    }
    let mut messages = Vec::with_capacity(kept.len() + 2);
    messages.push(ChatMessage {
        role: ChatRole::System,
        content: system,
    });
    let history_used = kept.len();
    let mut estimated = system_tokens + question_tokens;
    for message in kept {
        estimated += estimate_tokens(&message.content);
        messages.push(ChatMessage {
            role: match message.role {
                Role::User => ChatRole::User,
                Role::Assistant => ChatRole::Assistant,
            },
            content: message.content.clone(),
        });
    }
    messages.push(ChatMessage {
        role: ChatRole::User,
        content: question.to_owned(),
    });
    Ok(Prompt {
        messages,
        sources_used: used,
        history_used,
        estimated_tokens: estimated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{chatbot, message};

    #[test]
    fn the_preview_is_the_prompt_a_chatbot_sends_with_a_sample_source() {
        let concise = Tone::Template("concise".to_owned());
        let shown = preview("You answer for Acme.", &concise, CitationStyle::Inline).unwrap();
        assert!(shown.starts_with("You answer for Acme."), "{shown}");
        assert!(
            shown.contains(tone_template("concise").unwrap().text.trim()),
            "{shown}"
        );
        assert!(
            shown.contains("[1] A document › Its section (page 3)"),
            "{shown}"
        );
        assert!(shown.contains("square brackets"), "{shown}");
        let quiet = preview(
            "x",
            &Tone::Custom("Speak like a pirate.".to_owned()),
            CitationStyle::None,
        )
        .unwrap();
        assert!(quiet.contains("Speak like a pirate."), "{quiet}");
        assert!(quiet.contains("Do not mention source numbers."), "{quiet}");
        let mut bot = chatbot();
        bot.system_prompt = "You answer for Acme.".to_owned();
        bot.tone = concise.clone();
        let sample = vec![Source {
            n: 1,
            title: "A document".to_owned(),
            page: Some(3),
            section: Some("Its section".to_owned()),
            text: "(The passages retrieved for the question appear here, numbered.)".to_owned(),
        }];
        assert_eq!(system_message(&bot, &sample).unwrap(), shown);
    }

    fn sources(n: u32, len: usize) -> Vec<Source> {
        (1..=n)
            .map(|n| Source {
                n,
                title: format!("Manual {n}"),
                page: (n == 2).then_some(7),
                section: (n == 2).then(|| "Care › Cleaning".to_owned()),
                text: format!("passage {n} ").repeat(len / 10 + 1),
            })
            .collect()
    }

    #[test]
    fn every_tone_template_is_a_non_empty_file() {
        let names: Vec<_> = TONES.iter().map(|t| t.name).collect();
        assert_eq!(names, ["professional", "friendly", "concise", "technical"]);
        for tone in TONES {
            assert!(tone.text.trim().len() > 40, "{}", tone.name);
        }
        assert!(tone_template("technical").is_some());
        assert!(tone_template("pirate").is_none());
    }

    #[test]
    fn the_system_message_numbers_the_sources_and_asks_for_markers() {
        let mut bot = chatbot();
        bot.system_prompt = "You are the Acme support bot.".into();
        bot.tone = Tone::Template("concise".into());
        let system = system_message(&bot, &sources(2, 20)).unwrap();
        assert!(
            system.starts_with("You are the Acme support bot."),
            "{system}"
        );
        assert!(system.contains(TONES[2].text.trim()), "{system}");
        assert!(system.contains("[1] Manual 1\n"), "{system}");
        assert!(
            system.contains("[2] Manual 2 › Care › Cleaning (page 7)\n"),
            "{system}"
        );
        assert!(system.contains("like [1] or [2][3]"), "{system}");

        bot.tone = Tone::Custom("Talk like a lighthouse keeper.".into());
        bot.citation_style = crate::model::CitationStyle::None;
        let system = system_message(&bot, &sources(1, 20)).unwrap();
        assert!(
            system.contains("Talk like a lighthouse keeper."),
            "{system}"
        );
        assert!(!system.contains("like [1]"), "{system}");
        assert!(
            system.contains("Do not mention source numbers."),
            "{system}"
        );
    }

    #[test]
    fn history_is_trimmed_to_the_budget_newest_first() {
        let mut bot = chatbot();
        bot.context_window = 1_000;
        bot.max_answer_tokens = 200;
        let history: Vec<Message> = (0..40)
            .map(|i| {
                let role = if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                };
                message(role, &format!("turn {i} {}", "x".repeat(90)))
            })
            .collect();
        let prompt = build(&bot, &sources(2, 200), &history, "What now?", true).unwrap();
        assert_eq!(prompt.sources_used, 2);
        assert!(prompt.history_used > 0 && prompt.history_used < 40);
        assert!(
            prompt.estimated_tokens <= 800,
            "{}",
            prompt.estimated_tokens
        );
        // System first, question last, and the newest turns kept, starting with a question.
        assert_eq!(prompt.messages[0].role, ChatRole::System);
        let last = prompt.messages.last().unwrap();
        assert_eq!(
            (last.role, last.content.as_str()),
            (ChatRole::User, "What now?")
        );
        let kept = &prompt.messages[1..prompt.messages.len() - 1];
        assert_eq!(kept[0].role, ChatRole::User);
        assert!(kept.last().unwrap().content.starts_with("turn 39 "));

        let without = build(&bot, &sources(2, 200), &history, "What now?", false).unwrap();
        assert_eq!((without.history_used, without.messages.len()), (0, 2));
    }

    #[test]
    fn sources_that_do_not_fit_are_left_out_but_one_always_stays() {
        let mut bot = chatbot();
        bot.context_window = 600;
        bot.max_answer_tokens = 100;
        let prompt = build(&bot, &sources(5, 600), &[], "Q?", true).unwrap();
        assert!(prompt.sources_used >= 1 && prompt.sources_used < 5);
        assert!(!prompt.messages[0].content.contains("[5] Manual 5"));
        bot.context_window = 120;
        let tiny = build(&bot, &sources(3, 600), &[], "Q?", true).unwrap();
        assert_eq!(tiny.sources_used, 1);
    }
}
