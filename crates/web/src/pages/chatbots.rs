//! An organization's chatbots: the list, create and edit (system prompt, tone with the rendered
//! prompt as a preview, knowledge scope, fallback and welcome messages, retrieval settings,
//! citation style), delete, and the playground: a conversation whose answers stream in token by
//! token (with the page's script; without it the page waits for the whole answer), their
//! citations numbered links that open the cited passage.

use docent_app::Need;
use docent_chat::{
    ChatError, Chatbot, ChatbotInput, Citation, CitationStyle, KnowledgeScope, Message, Tone,
};
use docent_kernel::{ChatbotId, ConversationId, DocumentId, PageRequest, ProviderId};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::org::{Inside, enter, frame, not_found};
use super::{Fields, failure, flash, form_page, listed, posted_fields, redirect};
use crate::Console;

/// How the form's fields describe a chatbot, read back for the page after a refused save or a
/// preview (so nothing typed is lost).
#[derive(Debug, Default, Serialize)]
struct BotFields {
    name: String,
    provider: String,
    model: String,
    system_prompt: String,
    tone: String,
    tone_custom: String,
    temperature: String,
    max_answer_tokens: String,
    context_window: String,
    top_k: String,
    min_score: String,
    scope: &'static str,
    scope_tags: String,
    scope_documents: Vec<String>,
    welcome_message: String,
    fallback_answer: String,
    citation_style: String,
}

impl BotFields {
    fn of(bot: &Chatbot) -> Self {
        let (tone, tone_custom) = match &bot.tone {
            Tone::Template(name) => (name.clone(), String::new()),
            Tone::Custom(text) => ("custom".to_owned(), text.clone()),
        };
        let (scope, scope_tags, scope_documents) = match &bot.knowledge {
            KnowledgeScope::All => ("all", String::new(), Vec::new()),
            KnowledgeScope::Tags(tags) => ("tags", tags.join(", "), Vec::new()),
            KnowledgeScope::Documents(ids) => (
                "documents",
                String::new(),
                ids.iter().map(ToString::to_string).collect(),
            ),
        };
        Self {
            name: bot.name.clone(),
            provider: bot.provider_id.to_string(),
            model: bot.model.clone().unwrap_or_default(),
            system_prompt: bot.system_prompt.clone(),
            tone,
            tone_custom,
            temperature: bot.temperature.to_string(),
            max_answer_tokens: bot.max_answer_tokens.to_string(),
            context_window: bot.context_window.to_string(),
            top_k: bot.retrieval.top_k.to_string(),
            min_score: bot.retrieval.min_score.to_string(),
            scope,
            scope_tags,
            scope_documents,
            welcome_message: bot.welcome_message.clone().unwrap_or_default(),
            fallback_answer: bot.fallback_answer.clone(),
            citation_style: bot.citation_style.as_str().to_owned(),
        }
    }

    fn posted(fields: &Fields) -> Self {
        let own = |name: &str| fields.get(name).to_owned();
        Self {
            name: own("name"),
            provider: own("provider"),
            model: own("model"),
            system_prompt: own("system_prompt"),
            tone: own("tone"),
            tone_custom: own("tone_custom"),
            temperature: own("temperature"),
            max_answer_tokens: own("max_answer_tokens"),
            context_window: own("context_window"),
            top_k: own("top_k"),
            min_score: own("min_score"),
            scope: match fields.get("scope") {
                "tags" => "tags",
                "documents" => "documents",
                _ => "all",
            },
            scope_tags: own("scope_tags"),
            scope_documents: fields
                .all("scope_documents")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            welcome_message: own("welcome_message"),
            fallback_answer: own("fallback_answer"),
            citation_style: own("citation_style"),
        }
    }

    fn tone(&self) -> Tone {
        if self.tone == "custom" {
            Tone::Custom(self.tone_custom.clone())
        } else {
            Tone::Template(self.tone.clone())
        }
    }

    fn citation_style(&self) -> Result<CitationStyle, ChatError> {
        CitationStyle::parse(&self.citation_style).ok_or_else(|| ChatError::Invalid {
            field: "citation_style",
            reason: "choose how answers show their sources".to_owned(),
        })
    }

    /// The chatbot these fields describe; blank numbers keep the defaults (or the current
    /// values, on update).
    fn input(&self) -> Result<ChatbotInput, ChatError> {
        fn number<T: std::str::FromStr>(
            field: &'static str,
            raw: &str,
        ) -> Result<Option<T>, ChatError> {
            let raw = raw.trim();
            if raw.is_empty() {
                return Ok(None);
            }
            raw.parse().map(Some).map_err(|_| ChatError::Invalid {
                field,
                reason: "must be a number".to_owned(),
            })
        }
        let provider = self
            .provider
            .parse::<uuid::Uuid>()
            .map(ProviderId::from_uuid)
            .map_err(|_| ChatError::Invalid {
                field: "provider",
                reason: "choose the provider the chatbot answers with".to_owned(),
            })?;
        let knowledge = match self.scope {
            "tags" => KnowledgeScope::Tags(docent_documents::split_tags(std::slice::from_ref(
                &self.scope_tags,
            ))),
            "documents" => KnowledgeScope::Documents(
                self.scope_documents
                    .iter()
                    .filter_map(|id| id.parse::<uuid::Uuid>().ok())
                    .map(DocumentId::from_uuid)
                    .collect(),
            ),
            _ => KnowledgeScope::All,
        };
        let model = Some(self.model.trim().to_owned()).filter(|m| !m.is_empty());
        let welcome = Some(self.welcome_message.trim().to_owned()).filter(|w| !w.is_empty());
        Ok(ChatbotInput {
            name: Some(self.name.trim().to_owned()),
            slug: None,
            provider_id: Some(provider),
            model: Some(model),
            system_prompt: Some(self.system_prompt.clone()),
            tone: Some(self.tone()),
            temperature: number("temperature", &self.temperature)?,
            max_answer_tokens: number("max_answer_tokens", &self.max_answer_tokens)?,
            context_window: number("context_window", &self.context_window)?,
            top_k: number("top_k", &self.top_k)?,
            min_score: number("min_score", &self.min_score)?,
            knowledge: Some(knowledge),
            welcome_message: Some(welcome),
            fallback_answer: Some(self.fallback_answer.clone()).filter(|f| !f.trim().is_empty()),
            citation_style: Some(self.citation_style()?),
        })
    }
}

/// What the chatbot form offers: the providers, tones, styles and documents to choose from.
async fn choices(console: &Console, inside: &Inside) -> minijinja::Value {
    let providers = listed(
        "providers",
        console
            .services
            .providers
            .list(inside.tenant(), &PageRequest::largest_first())
            .await,
    );
    let documents = listed(
        "documents",
        console
            .services
            .documents
            .list(
                inside.tenant(),
                &docent_documents::DocumentFilter::default(),
                &PageRequest::largest_first(),
            )
            .await,
    );
    let providers: Vec<minijinja::Value> = providers
        .iter()
        .map(|p| minijinja::context! { id => p.id.to_string(), name => p.name.as_str(), model => p.default_model.as_deref() })
        .collect();
    let tones: Vec<minijinja::Value> = docent_chat::TONES
        .iter()
        .map(|t| minijinja::context! { id => t.name, description => t.description })
        .collect();
    let styles: Vec<&str> = CitationStyle::ALL.iter().map(|s| s.as_str()).collect();
    let documents: Vec<minijinja::Value> = documents
        .iter()
        .map(|d| minijinja::context! { id => d.id.to_string(), title => d.title.as_str() })
        .collect();
    minijinja::context! { providers, tones, styles, documents }
}

/// The prompt these fields make, or why it cannot be made.
fn preview_of(fields: &BotFields) -> String {
    match fields.citation_style().and_then(|style| {
        docent_chat::prompt::preview(&fields.system_prompt, &fields.tone(), style)
    }) {
        Ok(prompt) => prompt,
        Err(error) => error.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct BotRow {
    id: String,
    name: String,
    slug: String,
    model: Option<String>,
    tone: String,
    updated_at: String,
}

async fn list_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    outcome: (StatusCode, Option<String>, BotFields),
) -> Response {
    let (status, error, fields) = outcome;
    let bots = listed(
        "chatbots",
        console
            .services
            .chat
            .list_chatbots(inside.tenant(), &PageRequest::largest_first())
            .await,
    );
    let rows: Vec<BotRow> = bots
        .iter()
        .map(|b| BotRow {
            id: b.id.to_string(),
            name: b.name.clone(),
            slug: b.slug.as_str().to_owned(),
            model: b.model.clone(),
            tone: match &b.tone {
                Tone::Template(name) => name.clone(),
                Tone::Custom(_) => "custom".to_owned(),
            },
            updated_at: b.updated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    let context = minijinja::context! {
        chatbots => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        bot => minijinja::value::Value::from(minijinja::value::Serde(&fields)),
        choices => choices(console, inside).await,
        error,
        ..frame(console, inside, "chatbots").await
    };
    form_page(console, req, "chatbots.html", status, context)
}

/// The fields a new chatbot's form starts with.
fn fresh() -> BotFields {
    BotFields {
        system_prompt: docent_chat::service::DEFAULT_SYSTEM_PROMPT.to_owned(),
        fallback_answer: docent_chat::service::DEFAULT_FALLBACK.to_owned(),
        tone: "professional".to_owned(),
        scope: "all",
        citation_style: CitationStyle::default().as_str().to_owned(),
        ..BotFields::default()
    }
}

/// `GET /orgs/:org/chatbots`.
#[handler]
pub(crate) async fn chatbot_list(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    match enter(&console, req, &org, Need::ChatbotsRead).await {
        Ok(inside) => list_page(&console, req, &inside, (StatusCode::OK, None, fresh())).await,
        Err(refused) => refused,
    }
}

/// `POST /orgs/:org/chatbots`: creates a chatbot.
#[handler]
pub(crate) async fn create_chatbot(
    req: &Request,
    Path(org): Path<String>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let fields = match posted_fields(&console, req, body).await {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let inside = match enter(&console, req, &org, Need::ChatbotsWrite).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let form = BotFields::posted(&fields);
    let created = match form.input() {
        Ok(input) => {
            console
                .services
                .chat
                .create_chatbot(inside.tenant(), input)
                .await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(bot) => redirect(
            &format!("/orgs/{}/chatbots/{}", inside.org_id(), bot.id),
            vec![flash(
                &console,
                &format!("{} is ready. Try it in the playground.", bot.name),
            )],
        ),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            list_page(&console, req, &inside, (status, Some(message), form)).await
        }
    }
}

fn chatbot_id(raw: &str) -> Option<ChatbotId> {
    raw.parse::<uuid::Uuid>().ok().map(ChatbotId::from_uuid)
}

/// The chatbot of the path, or the page to answer with.
async fn chatbot_of(console: &Console, inside: &Inside, raw: &str) -> Result<Chatbot, Response> {
    let Some(id) = chatbot_id(raw) else {
        return Err(not_found(console));
    };
    match console.services.chat.get_chatbot(inside.tenant(), id).await {
        Ok(bot) => Ok(bot),
        Err(ChatError::ChatbotNotFound) => Err(not_found(console)),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            Err(super::error_page(
                console,
                status,
                "This chatbot is not available",
                &message,
            ))
        }
    }
}

async fn edit_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    bot: &Chatbot,
    outcome: (StatusCode, Option<String>, BotFields),
) -> Response {
    let (status, error, fields) = outcome;
    let context = minijinja::context! {
        chatbot => minijinja::context! { id => bot.id.to_string(), name => bot.name.as_str(), slug => bot.slug.as_str() },
        preview => preview_of(&fields),
        bot => minijinja::value::Value::from(minijinja::value::Serde(&fields)),
        choices => choices(console, inside).await,
        error,
        ..frame(console, inside, "chatbots").await
    };
    form_page(console, req, "chatbot.html", status, context)
}

/// `GET /orgs/:org/chatbots/:bot`: the chatbot's settings and the prompt they make.
#[handler]
pub(crate) async fn chatbot_page(
    req: &Request,
    Path((org, bot)): Path<(String, String)>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::ChatbotsRead).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    match chatbot_of(&console, &inside, &bot).await {
        Ok(bot) => {
            let fields = BotFields::of(&bot);
            edit_page(&console, req, &inside, &bot, (StatusCode::OK, None, fields)).await
        }
        Err(page) => page,
    }
}

/// `POST /orgs/:org/chatbots/:bot`: saves the settings, previews the prompt they make (without
/// saving), or deletes the chatbot.
#[handler]
pub(crate) async fn update_chatbot(
    req: &Request,
    Path((org, bot)): Path<(String, String)>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let fields = match posted_fields(&console, req, body).await {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let action = fields.get("action").to_owned();
    let need = match action.as_str() {
        "preview" => Need::ChatbotsRead,
        "save" | "delete" => Need::ChatbotsWrite,
        _ => return super::forbidden(&console),
    };
    let inside = match enter(&console, req, &org, need).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let bot = match chatbot_of(&console, &inside, &bot).await {
        Ok(bot) => bot,
        Err(page) => return page,
    };
    let chat = &console.services.chat;
    let form = BotFields::posted(&fields);
    let outcome = match action.as_str() {
        "preview" => {
            return edit_page(&console, req, &inside, &bot, (StatusCode::OK, None, form)).await;
        }
        "delete" => chat
            .delete_chatbot(inside.tenant(), bot.id)
            .await
            .map(|()| {
                (
                    format!("/orgs/{}/chatbots", inside.org_id()),
                    format!("{} is deleted.", bot.name),
                )
            }),
        _ => match form.input() {
            Ok(input) => chat
                .update_chatbot(inside.tenant(), bot.id, input)
                .await
                .map(|saved| {
                    (
                        format!("/orgs/{}/chatbots/{}", inside.org_id(), saved.id),
                        format!("{} is saved.", saved.name),
                    )
                }),
            Err(error) => Err(error),
        },
    };
    match outcome {
        Ok((to, done)) => redirect(&to, vec![flash(&console, &done)]),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            edit_page(&console, req, &inside, &bot, (status, Some(message), form)).await
        }
    }
}

/// A piece of an answer as the page shows it: text, or a citation marker linking to its passage.
#[derive(Debug, Serialize)]
struct Piece {
    text: String,
    /// For a marker: the citation's number and where its passage is.
    n: Option<u32>,
    href: Option<String>,
}

#[derive(Debug, Serialize)]
struct Cited {
    n: u32,
    title: String,
    page: Option<u32>,
    section: Option<String>,
    href: String,
}

/// Where a citation's passage opens: the document's page at that chunk, marked.
fn passage_href(org: &str, citation: &Citation) -> String {
    format!(
        "/orgs/{org}/documents/{}?passage={n}#chunk-{n}",
        citation.document_id,
        n = citation.ordinal
    )
}

fn cited(org: &str, citation: &Citation) -> Cited {
    Cited {
        n: citation.n,
        title: citation.title.clone(),
        page: citation.page,
        section: citation.section.clone(),
        href: passage_href(org, citation),
    }
}

/// `content` split at its `[n]` markers; a marker of a citation becomes a link to its passage,
/// anything else stays text.
fn pieces(org: &str, content: &str, citations: &[Citation]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = content;
    while let Some(open) = rest.find('[') {
        let (before, from) = rest.split_at(open);
        text.push_str(before);
        let marker = from
            .find(']')
            .map(|close| (&from[1..close], close))
            .and_then(|(digits, close)| {
                let n: u32 = digits.parse().ok().filter(|_| digits.len() <= 3)?;
                citations.iter().find(|c| c.n == n).map(|c| (c, close))
            });
        match marker {
            Some((citation, close)) => {
                if !text.is_empty() {
                    out.push(Piece {
                        text: std::mem::take(&mut text),
                        n: None,
                        href: None,
                    });
                }
                out.push(Piece {
                    text: format!("[{}]", citation.n),
                    n: Some(citation.n),
                    href: Some(passage_href(org, citation)),
                });
                rest = &from[close + 1..];
            }
            None => {
                text.push('[');
                rest = &from[1..];
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece {
            text,
            n: None,
            href: None,
        });
    }
    out
}

#[derive(Debug, Serialize)]
struct Said {
    role: &'static str,
    pieces: Vec<Piece>,
    citations: Vec<Cited>,
    incomplete: bool,
}

fn said(org: &str, message: &Message) -> Said {
    Said {
        role: message.role.as_str(),
        pieces: pieces(org, &message.content, &message.citations),
        citations: message.citations.iter().map(|c| cited(org, c)).collect(),
        incomplete: message.incomplete,
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct PlaygroundQuery {
    #[serde(default)]
    conversation: String,
}

fn conversation_id(raw: &str) -> Option<ConversationId> {
    raw.parse::<uuid::Uuid>()
        .ok()
        .map(ConversationId::from_uuid)
}

async fn playground_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    bot: &Chatbot,
    conversation: Option<ConversationId>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let org = inside.org_id();
    let messages = match conversation {
        Some(id) => listed(
            "messages",
            console
                .services
                .chat
                .messages(inside.tenant(), bot.id, id, &PageRequest::largest_first())
                .await,
        ),
        None => Vec::new(),
    };
    let messages: Vec<Said> = messages.iter().map(|m| said(&org, m)).collect();
    let context = minijinja::context! {
        chatbot => minijinja::context! {
            id => bot.id.to_string(),
            name => bot.name.as_str(),
            welcome => bot.welcome_message.as_deref(),
        },
        conversation => conversation.map(|c| c.to_string()),
        messages => minijinja::value::Value::from(minijinja::value::Serde(&messages)),
        error,
        ..frame(console, inside, "chatbots").await
    };
    form_page(console, req, "playground.html", status, context)
}

/// `GET /orgs/:org/chatbots/:bot/playground`: a conversation with the chatbot.
#[handler]
pub(crate) async fn playground(
    req: &Request,
    Path((org, bot)): Path<(String, String)>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::Chat).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let bot = match chatbot_of(&console, &inside, &bot).await {
        Ok(bot) => bot,
        Err(page) => return page,
    };
    let query: PlaygroundQuery = super::query(req);
    let conversation = conversation_id(&query.conversation);
    // Someone else's conversation, or a stale id, is a fresh start, not an error.
    let conversation = match conversation {
        Some(id) => console
            .services
            .chat
            .conversation(inside.tenant(), bot.id, id)
            .await
            .ok()
            .map(|c| c.id),
        None => None,
    };
    playground_page(
        &console,
        req,
        &inside,
        &bot,
        conversation,
        StatusCode::OK,
        None,
    )
    .await
}

/// The conversation a question goes to: the posted one, or a new one titled after it.
async fn conversation_for(
    console: &Console,
    inside: &Inside,
    bot: &Chatbot,
    posted: &str,
    question: &str,
) -> Result<ConversationId, ChatError> {
    let chat = &console.services.chat;
    if let Some(id) = conversation_id(posted) {
        return chat
            .conversation(inside.tenant(), bot.id, id)
            .await
            .map(|c| c.id);
    }
    let title: String = question
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect();
    let title = Some(title.trim().to_owned()).filter(|t| !t.is_empty());
    chat.start_conversation(inside.tenant(), bot.id, title)
        .await
        .map(|(c, _)| c.id)
}

/// A question posted to the playground: its form (with the page's CSRF token), the member
/// admitted to talk to chatbots, and the chatbot; or the page to answer with.
async fn asking(
    console: &Console,
    req: &Request,
    org: &str,
    bot: &str,
    body: Body,
) -> Result<(Fields, Inside, Chatbot), Response> {
    let fields = posted_fields(console, req, body).await?;
    let inside = enter(console, req, org, Need::Chat).await?;
    let bot = chatbot_of(console, &inside, bot).await?;
    Ok((fields, inside, bot))
}

/// `POST /orgs/:org/chatbots/:bot/playground`: asks, waits for the whole answer, and shows the
/// conversation (the page without its script).
#[handler]
pub(crate) async fn ask(
    req: &Request,
    Path((org, bot)): Path<(String, String)>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let (fields, inside, bot) = match asking(&console, req, &org, &bot, body).await {
        Ok(asking) => asking,
        Err(refused) => return refused,
    };
    let question = fields.get("question").to_owned();
    let chat = &console.services.chat;
    let conversation = conversation_for(
        &console,
        &inside,
        &bot,
        fields.get("conversation"),
        &question,
    )
    .await;
    let answered = match conversation {
        Ok(id) => match chat.ask(inside.tenant(), bot.id, id, question).await {
            Ok(answer) => answer.collect().await.map(|_| id),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    match answered {
        Ok(id) => redirect(
            &format!(
                "/orgs/{}/chatbots/{}/playground?conversation={id}",
                inside.org_id(),
                bot.id
            ),
            Vec::new(),
        ),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            let conversation = conversation_id(fields.get("conversation"));
            playground_page(
                &console,
                req,
                &inside,
                &bot,
                conversation,
                status,
                Some(message),
            )
            .await
        }
    }
}

/// `POST /orgs/:org/chatbots/:bot/playground/stream`: asks, and streams the answer as Server-Sent
/// Events for the page's script: `conversation` (its id), `delta` (text), `citations` (numbered,
/// with where each passage opens), `done`, or `error` (in words).
#[handler]
pub(crate) async fn ask_streamed(
    req: &Request,
    Path((org, bot)): Path<(String, String)>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let (fields, inside, bot) = match asking(&console, req, &org, &bot, body).await {
        Ok(asking) => asking,
        Err(refused) => return refused,
    };
    let question = fields.get("question").to_owned();
    let refusal = |error: &ChatError| crate::answers::refusal(&failure(error.kind(), error).1);
    let conversation = match conversation_for(
        &console,
        &inside,
        &bot,
        fields.get("conversation"),
        &question,
    )
    .await
    {
        Ok(id) => id,
        Err(error) => return refusal(&error),
    };
    let answer = match console
        .services
        .chat
        .ask(inside.tenant(), bot.id, conversation, question)
        .await
    {
        Ok(answer) => answer,
        Err(error) => return refusal(&error),
    };
    let org = inside.org_id();
    crate::answers::stream(conversation, answer, move |c| {
        serde_json::to_value(cited(&org, c)).unwrap_or(serde_json::Value::Null)
    })
}

#[derive(Debug, Default, serde::Deserialize)]
struct VisitorsQuery {
    #[serde(default)]
    key: String,
    #[serde(default)]
    conversation: String,
}

#[derive(Debug, Serialize)]
struct VisitorConversation {
    key: String,
    key_name: String,
    id: String,
    title: String,
    started: String,
    open: bool,
}

/// `GET /orgs/:org/chatbots/:bot/visitors`: the conversations website visitors had with the
/// chatbot through its publishable keys (the widget), and one of them in full.
#[handler]
pub(crate) async fn visitors(
    req: &Request,
    Path((org, bot)): Path<(String, String)>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::ChatbotsRead).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let bot = match chatbot_of(&console, &inside, &bot).await {
        Ok(bot) => bot,
        Err(page) => return page,
    };
    let services = &console.services;
    let query: VisitorsQuery = super::query(req);
    let keys: Vec<docent_keys::ApiKey> = listed(
        "API keys",
        services
            .keys
            .list(inside.tenant(), &PageRequest::largest_first())
            .await,
    )
    .into_iter()
    .filter(|k| {
        k.settings.is_publishable() && k.settings.chatbot_ids.as_deref() == Some(&[bot.id][..])
    })
    .collect();
    let mut conversations = Vec::new();
    for key in &keys {
        let listed = listed(
            "visitors' conversations",
            services
                .chat
                .visitor_conversations(
                    inside.tenant(),
                    bot.id,
                    key.id,
                    &PageRequest::largest_first(),
                )
                .await,
        );
        conversations.extend(listed.into_iter().map(|c| VisitorConversation {
            key: key.id.to_string(),
            key_name: key.settings.name.clone(),
            open: c.id.to_string() == query.conversation,
            id: c.id.to_string(),
            title: c.title,
            started: c.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }));
    }
    conversations.sort_by(|a, b| b.started.cmp(&a.started));
    let org_id = inside.org_id();
    let opened = match (
        query.key.parse::<uuid::Uuid>(),
        conversation_id(&query.conversation),
    ) {
        (Ok(key), Some(id)) => listed(
            "a visitor's messages",
            services
                .chat
                .visitor_messages(
                    inside.tenant(),
                    bot.id,
                    docent_kernel::ApiKeyId::from_uuid(key),
                    id,
                    &PageRequest::largest_first(),
                )
                .await,
        )
        .iter()
        .map(|m| said(&org_id, m))
        .collect(),
        (_, _) => Vec::new(),
    };
    let context = minijinja::context! {
        chatbot => minijinja::context! { id => bot.id.to_string(), name => bot.name.as_str() },
        widget_keys => keys.len(),
        conversations => minijinja::value::Value::from(minijinja::value::Serde(&conversations)),
        messages => minijinja::value::Value::from(minijinja::value::Serde(&opened)),
        ..frame(&console, &inside, "chatbots").await
    };
    form_page(&console, req, "visitors.html", StatusCode::OK, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citation(n: u32) -> Citation {
        Citation {
            n,
            document_id: DocumentId::from_uuid(uuid::Uuid::nil()),
            title: "t".to_owned(),
            ordinal: 4,
            page: None,
            section: None,
            char_start: 0,
            char_end: 1,
            score: 0.5,
            snippet: String::new(),
        }
    }

    #[test]
    fn only_markers_of_citations_become_links() {
        let shown = pieces(
            "o",
            "Sixteen weeks [1]. See [2] and [x] or [",
            &[citation(1)],
        );
        let texts: Vec<(&str, Option<u32>)> =
            shown.iter().map(|p| (p.text.as_str(), p.n)).collect();
        assert_eq!(
            texts,
            vec![
                ("Sixteen weeks ", None),
                ("[1]", Some(1)),
                (". See [2] and [x] or [", None),
            ]
        );
        assert_eq!(
            shown[1].href.as_deref(),
            Some("/orgs/o/documents/00000000-0000-0000-0000-000000000000?passage=4#chunk-4")
        );
    }
}
