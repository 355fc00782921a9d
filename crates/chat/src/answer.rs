//! Answering a question: retrieve (organization filter always, plus the chatbot's knowledge scope)
//! → nothing above `min_score` → the fallback answer without a model call → otherwise the prompt
//! (instructions, tone, numbered sources, as much history as fits) → reserve the quota → call the
//! provider (retrying transient failures; a context overflow is retried once without history) →
//! stream the answer with invalid citation markers filtered out → settle the quota with the
//! reported usage → store the question and the answer.
//!
//! Everything that can fail with a clean status (not found, invalid, quota, provider refused) fails
//! before [`AnswerStream`] is returned. The answer itself is produced by a task that outlives the
//! caller: when the client goes away the provider call is dropped (cancelled) and what was
//! generated so far is stored, marked incomplete.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use docent_documents::{SearchHit, SearchMode, SearchRequest};
use docent_kernel::{ConversationId, MessageId, TenantCtx};
use docent_providers::ChatError as ModelError;
use docent_providers::chat::{ChatChunk, ChatModel as _, ChatRequest, ChatStream};
use docent_providers::retry::Retrying;
use futures_util::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tracing::Instrument as _;

use crate::citations::{MarkerFilter, citations_for, footnotes};
use crate::error::{ChatError, invalid};
use crate::extractive;
use crate::model::{
    Chatbot, Citation, CitationStyle, Conversation, KnowledgeScope, Message, Role, TokenUsage,
};
use crate::ports::UsageHold;
use crate::prompt::{self, Source, estimate_tokens};
use crate::service::{ChatService, text_field};

/// The longest question.
pub const MAX_QUESTION_CHARS: usize = 4_000;
/// History messages loaded for a prompt (the budget usually keeps fewer).
const HISTORY_MESSAGES: u64 = 50;
/// The length of a citation's snippet, in characters.
const SNIPPET_CHARS: usize = 300;
/// The longest an answer may take from the model's first byte to its last.
const MAX_ANSWER_TIME: Duration = Duration::from_secs(600);

/// Hands `event` to the client's stream: `false` when the client went away, or stopped reading
/// for longer than `deadline` (its buffers are full). Either way the answer ends there: the
/// provider call is dropped and the quota reservation settled, instead of both being held by a
/// client that reads nothing.
async fn deliver(tx: &mpsc::Sender<AnswerEvent>, event: AnswerEvent, deadline: Duration) -> bool {
    match tx.send_timeout(event, deadline).await {
        Ok(()) => true,
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
            tracing::info!(
                deadline_secs = deadline.as_secs(),
                "the client stopped reading the answer; ending it"
            );
            false
        }
        Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
    }
}

/// One step of an answer as it is produced.
#[derive(Debug)]
pub enum AnswerEvent {
    /// More text.
    Delta(String),
    /// The passages the answer refers to.
    Citations(Vec<Citation>),
    /// Tokens the answer cost.
    Usage(TokenUsage),
    /// The answer is complete (and stored, in a conversation).
    Done(Message),
    /// The answer failed; what was generated before (if anything) is stored as incomplete.
    Error(ChatError),
}

/// An answer being produced. Dropping it cancels the provider call.
#[derive(Debug)]
pub struct AnswerStream {
    events: mpsc::Receiver<AnswerEvent>,
}

impl Stream for AnswerStream {
    type Item = AnswerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl AnswerStream {
    /// Waits for the whole answer.
    pub async fn collect(mut self) -> Result<Message, ChatError> {
        while let Some(event) = self.events.recv().await {
            match event {
                AnswerEvent::Done(message) => return Ok(message),
                AnswerEvent::Error(error) => return Err(error),
                AnswerEvent::Delta(_) | AnswerEvent::Citations(_) | AnswerEvent::Usage(_) => {}
            }
        }
        Err(ChatError::Store(docent_kernel::StoreError::Unavailable(
            "the answer task ended without an answer".to_owned(),
        )))
    }
}

/// Where the answer text comes from.
enum Output {
    /// Text known in advance (the fallback answer, or the extractive answer).
    Fixed(String),
    /// A model's stream.
    Model(ChatStream),
}

/// What is stored when the answer is done.
struct Persist {
    conversation: Conversation,
    question: Message,
    /// The answer's id, taken right after the question's: concurrent questions in one
    /// conversation then list as Q1, A1, Q2, A2 (ids order messages), not Q1, Q2, A1, A2.
    answer_id: MessageId,
}

/// An answer ready to be produced.
struct Plan {
    output: Output,
    given: Vec<Citation>,
    hold: Box<dyn UsageHold>,
    estimated_prompt: Option<u64>,
    /// How long the model may go without sending anything.
    idle: Duration,
}

/// `text` trimmed, cut to `max` characters with ` …` when longer.
fn shortened(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{} …", cut.trim_end())
}

/// Splits a text known in advance into stream-sized pieces (a few words each).
fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for part in text.split_inclusive(' ') {
        current.push_str(part);
        words += 1;
        if words == 6 {
            out.push(std::mem::take(&mut current));
            words = 0;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn validate_question(question: String) -> Result<String, ChatError> {
    text_field("content", question, MAX_QUESTION_CHARS, true)
}

fn title_from(question: &str) -> String {
    shortened(question.lines().next().unwrap_or_default(), 80)
}

impl ChatService {
    /// Answers `question` in one of the caller's conversations with a chatbot; the question and
    /// the answer are stored when the answer ends.
    pub async fn ask(
        &self,
        tenant: &TenantCtx,
        chatbot: docent_kernel::ChatbotId,
        conversation: ConversationId,
        question: String,
    ) -> Result<AnswerStream, ChatError> {
        let started = Instant::now();
        let question = validate_question(question)?;
        let bot = self.get_chatbot(tenant, chatbot).await?;
        let conversation = self.conversation(tenant, chatbot, conversation).await?;
        let history = self
            .conversations
            .recent(tenant.org_id(), conversation.id, HISTORY_MESSAGES)
            .await?;
        let question_id = MessageId::generate();
        let answer_id = MessageId::generate();
        let question_message = Message {
            id: question_id,
            conversation_id: conversation.id,
            role: Role::User,
            content: question.clone(),
            citations: Vec::new(),
            usage: TokenUsage::default(),
            latency_ms: 0,
            incomplete: false,
            created_at: self.clock.now(),
        };
        let plan = self.plan(tenant, &bot, &question, &history).await?;
        Ok(self.produce(
            plan,
            bot.citation_style,
            Some(Persist {
                conversation,
                question: question_message,
                answer_id,
            }),
            &question,
            started,
        ))
    }

    /// Answers a stateless exchange (`/v1/chat/completions`): the last question with the history
    /// the client sends; nothing is stored but the usage.
    pub async fn answer_stateless(
        &self,
        tenant: &TenantCtx,
        bot: &Chatbot,
        question: String,
        history: Vec<(Role, String)>,
    ) -> Result<AnswerStream, ChatError> {
        let started = Instant::now();
        let question = validate_question(question)?;
        let conversation_id = ConversationId::generate();
        let now = self.clock.now();
        let history: Vec<Message> = history
            .into_iter()
            .map(|(role, content)| Message {
                id: MessageId::generate(),
                conversation_id,
                role,
                content,
                citations: Vec::new(),
                usage: TokenUsage::default(),
                latency_ms: 0,
                incomplete: false,
                created_at: now,
            })
            .collect();
        let plan = self.plan(tenant, bot, &question, &history).await?;
        Ok(self.produce(plan, bot.citation_style, None, &question, started))
    }

    /// Retrieval, the fallback decision, the prompt, the quota reservation and the opening of the
    /// model's stream.
    async fn plan(
        &self,
        tenant: &TenantCtx,
        bot: &Chatbot,
        question: &str,
        history: &[Message],
    ) -> Result<Plan, ChatError> {
        // The quota first: a caller over it costs no embedding. The token estimate is the
        // question and the answer; the settlement uses what the provider reports.
        let hold = self
            .gate
            .reserve(
                tenant,
                bot.id,
                estimate_tokens(question) + u64::from(bot.max_answer_tokens),
            )
            .await?;
        let (tags, document_ids) = match &bot.knowledge {
            KnowledgeScope::All => (None, None),
            KnowledgeScope::Tags(tags) => (Some(tags.clone()), None),
            KnowledgeScope::Documents(ids) => (None, Some(ids.clone())),
        };
        let hits = self
            .documents
            .retrieve(
                tenant,
                SearchRequest {
                    query: question.to_owned(),
                    top_k: bot.retrieval.top_k,
                    tags,
                    document_ids,
                    mode: SearchMode::Hybrid,
                },
            )
            .await?;
        let relevant: Vec<SearchHit> = hits
            .into_iter()
            .filter(|hit| hit.score >= bot.retrieval.min_score)
            .collect();
        if relevant.is_empty() {
            return Ok(Plan {
                output: Output::Fixed(bot.fallback_answer.clone()),
                given: Vec::new(),
                hold,
                estimated_prompt: None,
                idle: MAX_ANSWER_TIME,
            });
        }
        let mut given = Vec::with_capacity(relevant.len());
        let mut sources = Vec::with_capacity(relevant.len());
        for (n, hit) in (1_u32..).zip(relevant) {
            given.push(Citation {
                n,
                document_id: hit.document_id,
                title: hit.title.clone(),
                ordinal: hit.chunk.ordinal,
                page: hit.chunk.page,
                section: hit.chunk.section.clone(),
                char_start: hit.chunk.char_start,
                char_end: hit.chunk.char_end,
                score: hit.score,
                snippet: shortened(&hit.chunk.text, SNIPPET_CHARS),
            });
            sources.push(Source {
                n,
                title: hit.title,
                page: hit.chunk.page,
                section: hit.chunk.section,
                text: hit.chunk.text,
            });
        }
        let provider = self.providers.get(tenant, bot.provider_id).await?;
        if !provider.kind.is_remote() {
            return Ok(Plan {
                output: Output::Fixed(extractive::answer(question, &sources, bot.citation_style)),
                given,
                hold,
                estimated_prompt: None,
                idle: MAX_ANSWER_TIME,
            });
        }
        let model = bot
            .model
            .clone()
            .or_else(|| provider.default_model.clone())
            .ok_or_else(|| invalid("model", "the chatbot names no model and its provider none"))?;
        let mut prompt = prompt::build(bot, &sources, history, question, true)?;
        let key = self.providers.api_key(&provider).await?;
        let client = Retrying::new(self.models.connect(&provider, key)?, self.retry);
        let request = |prompt: &prompt::Prompt| ChatRequest {
            model: model.clone(),
            messages: prompt.messages.clone(),
            temperature: Some(bot.temperature),
            max_tokens: Some(bot.max_answer_tokens),
        };
        let stream = match client.stream(request(&prompt)).await {
            Ok(stream) => stream,
            Err(ModelError::ContextTooLong(reason)) => {
                // Retried once: without history, and with half the sources when there was no
                // history to drop.
                let keep = if prompt.history_used > 0 {
                    prompt.sources_used
                } else {
                    prompt.sources_used.div_ceil(2)
                };
                if prompt.history_used == 0 && keep == prompt.sources_used {
                    return Err(ModelError::ContextTooLong(reason).into());
                }
                tracing::info!(
                    history = prompt.history_used,
                    sources = keep,
                    "the prompt overflowed the model's context; retrying it trimmed"
                );
                prompt = prompt::build(bot, &sources[..keep], history, question, false)?;
                client.stream(request(&prompt)).await?
            }
            Err(other) => return Err(other.into()),
        };
        given.truncate(prompt.sources_used);
        Ok(Plan {
            output: Output::Model(stream),
            given,
            hold,
            estimated_prompt: Some(prompt.estimated_tokens),
            idle: Duration::from_secs(u64::from(provider.timeout_secs.max(1))),
        })
    }

    /// Starts the task that produces the answer.
    fn produce(
        &self,
        plan: Plan,
        style: CitationStyle,
        persist: Option<Persist>,
        question: &str,
        started: Instant,
    ) -> AnswerStream {
        let (tx, rx) = mpsc::channel(64);
        let service = self.clone();
        let title = persist
            .as_ref()
            .filter(|p| p.conversation.title.is_empty())
            .map(|_| title_from(question));
        tokio::spawn(
            async move {
                service.pump(plan, style, persist, title, started, tx).await;
            }
            .instrument(tracing::Span::current()),
        );
        AnswerStream { events: rx }
    }

    async fn pump(
        &self,
        plan: Plan,
        style: CitationStyle,
        persist: Option<Persist>,
        title: Option<String>,
        started: Instant,
        tx: mpsc::Sender<AnswerEvent>,
    ) {
        let Plan {
            output,
            given,
            hold,
            estimated_prompt,
            idle,
        } = plan;
        let send = self.send_timeout;
        let mut filter = MarkerFilter::new(given.len(), style);
        let mut content = String::new();
        let mut reported = None;
        let mut failure = None;
        // The client went away before the answer was complete.
        let mut cancelled = false;
        // The model stopped at the answer's token limit.
        let mut truncated = false;
        match output {
            Output::Fixed(text) => {
                for piece in pieces(&text) {
                    let shown = filter.push(&piece);
                    content.push_str(&shown);
                    if !shown.is_empty() && !deliver(&tx, AnswerEvent::Delta(shown), send).await {
                        cancelled = true;
                        break;
                    }
                }
            }
            Output::Model(mut stream) => {
                let deadline = tokio::time::Instant::now() + MAX_ANSWER_TIME;
                loop {
                    let next = tokio::time::timeout_at(
                        deadline.min(tokio::time::Instant::now() + idle),
                        stream.next(),
                    );
                    let item = tokio::select! {
                        biased;
                        () = tx.closed() => {
                            cancelled = true;
                            break;
                        }
                        item = next => item,
                    };
                    match item {
                        Err(_) => {
                            failure = Some(ModelError::Transient {
                                message: "the model stopped sending the answer".to_owned(),
                                retry_after: None,
                            });
                            break;
                        }
                        Ok(Some(Ok(ChatChunk::Delta(delta)))) => {
                            let shown = filter.push(&delta);
                            content.push_str(&shown);
                            if !shown.is_empty()
                                && !deliver(&tx, AnswerEvent::Delta(shown), send).await
                            {
                                cancelled = true;
                                break;
                            }
                        }
                        Ok(Some(Ok(ChatChunk::Usage(usage)))) => reported = Some(usage),
                        Ok(Some(Ok(ChatChunk::Truncated))) => truncated = true,
                        Ok(Some(Err(error))) => {
                            failure = Some(error);
                            break;
                        }
                        Ok(None) => break,
                    }
                }
                // Dropping the stream here cancels the provider call if it is still running.
            }
        }
        // From here on the answer is what it is; a client leaving now changes nothing stored.
        let mut gone = cancelled;
        let rest = filter.finish();
        if !rest.is_empty() {
            content.push_str(&rest);
            if !gone && !deliver(&tx, AnswerEvent::Delta(rest), send).await {
                gone = true;
            }
        }
        let citations = if content.trim().is_empty() {
            Vec::new()
        } else {
            citations_for(&content, &given)
        };
        if style == CitationStyle::Footnotes && !citations.is_empty() {
            let notes = footnotes(&citations);
            content.push_str(&notes);
            if !gone && !deliver(&tx, AnswerEvent::Delta(notes), send).await {
                gone = true;
            }
        }
        let usage = match (reported, estimated_prompt) {
            (Some(usage), _) => TokenUsage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            },
            // A model that reported nothing (a cancelled stream): our estimate.
            (None, Some(prompt_tokens)) => TokenUsage {
                prompt_tokens,
                completion_tokens: if content.is_empty() {
                    0
                } else {
                    estimate_tokens(&content)
                },
            },
            (None, None) => TokenUsage::default(),
        };
        let produced = !content.is_empty();
        // A failure before any text: nothing to keep, nothing to charge.
        let keep = produced || failure.is_none();
        if keep {
            hold.settle(usage).await;
        } else {
            drop(hold);
        }
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let answer = Message {
            id: persist
                .as_ref()
                .map_or_else(MessageId::generate, |p| p.answer_id),
            conversation_id: persist
                .as_ref()
                .map_or_else(ConversationId::generate, |p| p.conversation.id),
            role: Role::Assistant,
            content,
            citations: citations.clone(),
            usage,
            latency_ms,
            incomplete: cancelled || truncated || failure.is_some(),
            created_at: self.clock.now(),
        };
        let mut store_failure = None;
        if let Some(persist) = &persist
            && keep
            && let Err(error) = self
                .conversations
                .append_exchange(
                    persist.conversation.org_id,
                    &persist.question,
                    &answer,
                    title.as_deref(),
                    answer.created_at,
                )
                .await
        {
            store_failure = Some(match error {
                // The conversation or its chatbot was deleted while the answer was made.
                docent_kernel::StoreError::NotFound => ChatError::ConversationNotFound,
                other @ (docent_kernel::StoreError::Conflict(_)
                | docent_kernel::StoreError::Unavailable(_)
                | docent_kernel::StoreError::Corrupt(_)) => {
                    tracing::error!(error = %other, conversation = %persist.conversation.id.as_uuid(), "could not store an answer");
                    other.into()
                }
            });
        }
        if gone {
            return;
        }
        let last = match (failure, store_failure) {
            (Some(error), _) => AnswerEvent::Error(error.into()),
            (None, Some(error)) => AnswerEvent::Error(error),
            (None, None) => {
                let _ = deliver(&tx, AnswerEvent::Citations(citations), send).await
                    && deliver(&tx, AnswerEvent::Usage(usage), send).await;
                AnswerEvent::Done(answer)
            }
        };
        let _ = deliver(&tx, last, send).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_text_streams_in_pieces_that_add_up() {
        let text = "one two three four five six seven eight nine ten eleven twelve thirteen";
        let parts = pieces(text);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
        assert_eq!(
            title_from("  What is the warranty?\nmore"),
            "What is the warranty?"
        );
        assert!(title_from(&"x".repeat(200)).ends_with(" …"));
        assert!(validate_question(" \n ".into()).is_err());
        assert!(validate_question("ok\u{7}".into()).is_err());
        assert_eq!(validate_question(" Why? ".into()).unwrap(), "Why?");
        assert!(shortened(&"y".repeat(500), SNIPPET_CHARS).chars().count() < 310);
    }
}
