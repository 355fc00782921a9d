//! Chatbots, conversations and messages over sea-orm. Every query starts from the tenant filter
//! ([`OrgScoped`]); conversations are further filtered by their owner ([`owned_by`]), and messages
//! are reached only through a conversation of the organization.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_chat::{
    Chatbot, ChatbotRepo, Citation, CitationStyle, Conversation, ConversationRepo, KnowledgeScope,
    Message, RetrievalSettings, Role, TokenUsage, Tone,
};
use docent_kernel::{
    Actor, ApiKeyId, ChatbotId, ConversationId, DocumentId, MessageId, OrgId, PageRequest,
    ProviderId, Slug, StoreError, UserId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select, Set,
};
use serde::{Deserialize, Serialize};

use super::auth_cache::{MAX_CHATBOTS_PER_ORG, OrgChatbots};
use super::entity::{chat_messages, chatbots, conversations};
use super::scope::OrgScoped as _;
use super::{SqlStore, corrupt, store_error, write_transaction};

/// "Owned by `owner`": conversations are their creator's alone.
fn owned_by(owner: Actor) -> Condition {
    let (kind, id) = owner_columns(owner);
    Condition::all()
        .add(conversations::Column::OwnerKind.eq(kind))
        .add(conversations::Column::OwnerId.eq(id))
}

/// The messages of one conversation of the organization.
fn messages_of(org: OrgId, conversation: ConversationId) -> Select<chat_messages::Entity> {
    chat_messages::Entity::of(org)
        .filter(chat_messages::Column::ConversationId.eq(conversation.as_uuid()))
}

fn owner_columns(owner: Actor) -> (&'static str, uuid::Uuid) {
    match owner {
        Actor::User(id) => ("user", id.as_uuid()),
        Actor::ApiKey(id) => ("api_key", id.as_uuid()),
    }
}

fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn count64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn stored_scope(scope: &KnowledgeScope) -> Result<(&'static str, String), StoreError> {
    let (kind, values) = match scope {
        KnowledgeScope::All => ("all", Vec::new()),
        KnowledgeScope::Tags(tags) => ("tags", tags.clone()),
        KnowledgeScope::Documents(ids) => (
            "documents",
            ids.iter().map(|id| id.as_uuid().to_string()).collect(),
        ),
    };
    let json = serde_json::to_string(&values).map_err(|e| corrupt("chatbots.scope_values", e))?;
    Ok((kind, json))
}

fn scope_from(kind: &str, values: &str) -> Result<KnowledgeScope, StoreError> {
    let values: Vec<String> =
        serde_json::from_str(values).map_err(|e| corrupt("chatbots.scope_values", e))?;
    match kind {
        "all" => Ok(KnowledgeScope::All),
        "tags" => Ok(KnowledgeScope::Tags(values)),
        "documents" => values
            .iter()
            .map(|v| {
                v.parse()
                    .map(DocumentId::from_uuid)
                    .map_err(|e| corrupt("chatbots.scope_values", e))
            })
            .collect::<Result<_, _>>()
            .map(KnowledgeScope::Documents),
        other => Err(corrupt("chatbots.scope_kind", other)),
    }
}

fn chatbot_model(bot: &Chatbot) -> Result<chatbots::ActiveModel, StoreError> {
    let (tone_kind, tone) = match &bot.tone {
        Tone::Template(name) => ("template", name.clone()),
        Tone::Custom(text) => ("custom", text.clone()),
    };
    let (scope_kind, scope_values) = stored_scope(&bot.knowledge)?;
    Ok(chatbots::ActiveModel {
        id: Set(bot.id.as_uuid()),
        org_id: Set(bot.org_id.as_uuid()),
        name: Set(bot.name.clone()),
        slug: Set(bot.slug.as_str().to_owned()),
        provider_id: Set(bot.provider_id.as_uuid()),
        model: Set(bot.model.clone()),
        system_prompt: Set(bot.system_prompt.clone()),
        tone_kind: Set(tone_kind.to_owned()),
        tone: Set(tone),
        temperature: Set(f64::from(bot.temperature)),
        max_answer_tokens: Set(count(bot.max_answer_tokens)),
        context_window: Set(count(bot.context_window)),
        top_k: Set(count(bot.retrieval.top_k)),
        min_score: Set(f64::from(bot.retrieval.min_score)),
        scope_kind: Set(scope_kind.to_owned()),
        scope_values: Set(scope_values),
        welcome_message: Set(bot.welcome_message.clone()),
        fallback_answer: Set(bot.fallback_answer.clone()),
        citation_style: Set(bot.citation_style.as_str().to_owned()),
        created_at: Set(bot.created_at),
        updated_at: Set(bot.updated_at),
    })
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "temperature and score were f32 when stored"
)]
fn chatbot_from(model: chatbots::Model) -> Result<Chatbot, StoreError> {
    let number = |column: &str, value: i32| {
        u32::try_from(value).map_err(|e| corrupt(&format!("chatbots.{column}"), e))
    };
    Ok(Chatbot {
        id: ChatbotId::from_uuid(model.id),
        org_id: OrgId::from_uuid(model.org_id),
        name: model.name,
        slug: Slug::parse(&model.slug).map_err(|e| corrupt("chatbots.slug", e))?,
        provider_id: ProviderId::from_uuid(model.provider_id),
        model: model.model,
        system_prompt: model.system_prompt,
        tone: match model.tone_kind.as_str() {
            "template" => Tone::Template(model.tone),
            "custom" => Tone::Custom(model.tone),
            other => return Err(corrupt("chatbots.tone_kind", other)),
        },
        temperature: model.temperature as f32,
        max_answer_tokens: number("max_answer_tokens", model.max_answer_tokens)?,
        context_window: number("context_window", model.context_window)?,
        retrieval: RetrievalSettings {
            top_k: number("top_k", model.top_k)?,
            min_score: model.min_score as f32,
        },
        knowledge: scope_from(&model.scope_kind, &model.scope_values)?,
        welcome_message: model.welcome_message,
        fallback_answer: model.fallback_answer,
        citation_style: CitationStyle::parse(&model.citation_style)
            .ok_or_else(|| corrupt("chatbots.citation_style", &model.citation_style))?,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn conversation_from(model: conversations::Model) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: ConversationId::from_uuid(model.id),
        org_id: OrgId::from_uuid(model.org_id),
        chatbot_id: ChatbotId::from_uuid(model.chatbot_id),
        owner: match model.owner_kind.as_str() {
            "user" => Actor::User(UserId::from_uuid(model.owner_id)),
            "api_key" => Actor::ApiKey(ApiKeyId::from_uuid(model.owner_id)),
            other => return Err(corrupt("conversations.owner_kind", other)),
        },
        title: model.title,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

/// A citation as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredCitation {
    n: u32,
    document_id: uuid::Uuid,
    title: String,
    ordinal: u32,
    page: Option<u32>,
    /// Absent from citations stored before sections were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    section: Option<String>,
    char_start: u64,
    char_end: u64,
    score: f32,
    snippet: String,
}

fn message_model(org: OrgId, message: &Message) -> Result<chat_messages::ActiveModel, StoreError> {
    let citations: Vec<StoredCitation> = message
        .citations
        .iter()
        .map(|c| StoredCitation {
            n: c.n,
            document_id: c.document_id.as_uuid(),
            title: c.title.clone(),
            ordinal: c.ordinal,
            page: c.page,
            section: c.section.clone(),
            char_start: c.char_start,
            char_end: c.char_end,
            score: c.score,
            snippet: c.snippet.clone(),
        })
        .collect();
    Ok(chat_messages::ActiveModel {
        id: Set(message.id.as_uuid()),
        org_id: Set(org.as_uuid()),
        conversation_id: Set(message.conversation_id.as_uuid()),
        role: Set(message.role.as_str().to_owned()),
        content: Set(message.content.clone()),
        citations: Set(
            serde_json::to_string(&citations).map_err(|e| corrupt("chat_messages.citations", e))?
        ),
        prompt_tokens: Set(count64(message.usage.prompt_tokens)),
        completion_tokens: Set(count64(message.usage.completion_tokens)),
        latency_ms: Set(count64(message.latency_ms)),
        incomplete: Set(message.incomplete),
        created_at: Set(message.created_at),
    })
}

fn message_from(model: chat_messages::Model) -> Result<Message, StoreError> {
    let citations: Vec<StoredCitation> = serde_json::from_str(&model.citations)
        .map_err(|e| corrupt("chat_messages.citations", e))?;
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Message {
        id: MessageId::from_uuid(model.id),
        conversation_id: ConversationId::from_uuid(model.conversation_id),
        role: Role::parse(&model.role).ok_or_else(|| corrupt("chat_messages.role", &model.role))?,
        content: model.content,
        citations: citations
            .into_iter()
            .map(|c| Citation {
                n: c.n,
                document_id: DocumentId::from_uuid(c.document_id),
                title: c.title,
                ordinal: c.ordinal,
                page: c.page,
                section: c.section,
                char_start: c.char_start,
                char_end: c.char_end,
                score: c.score,
                snippet: c.snippet,
            })
            .collect(),
        usage: TokenUsage {
            prompt_tokens: unsigned(model.prompt_tokens),
            completion_tokens: unsigned(model.completion_tokens),
        },
        latency_ms: unsigned(model.latency_ms),
        incomplete: model.incomplete,
        created_at: model.created_at,
    })
}

impl SqlStore {
    /// The organization's chatbots in id order, from the cache or read into it; `None` when they
    /// are not kept (the cache does not answer now, or the organization has too many).
    async fn kept_chatbots(&self, org: OrgId) -> Result<Option<Arc<[Chatbot]>>, StoreError> {
        match self.auth.chatbots(org) {
            Some(OrgChatbots::All(all)) => return Ok(Some(all)),
            Some(OrgChatbots::TooMany) => return Ok(None),
            None => {}
        }
        let Some(generation) = self.auth.generation() else {
            return Ok(None);
        };
        let rows = chatbots::Entity::of(org)
            .order_by_asc(chatbots::Column::Id)
            .limit(MAX_CHATBOTS_PER_ORG as u64 + 1)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        if rows.len() > MAX_CHATBOTS_PER_ORG {
            self.auth
                .put_chatbots(generation, org, OrgChatbots::TooMany);
            return Ok(None);
        }
        let all: Arc<[Chatbot]> = rows
            .into_iter()
            .map(chatbot_from)
            .collect::<Result<Vec<_>, _>>()?
            .into();
        self.auth
            .put_chatbots(generation, org, OrgChatbots::All(all.clone()));
        Ok(Some(all))
    }
}

// Every write of a chatbot empties the caches (here, and through the epoch elsewhere).
#[async_trait]
impl ChatbotRepo for SqlStore {
    async fn insert(&self, chatbot: &Chatbot) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        chatbots::Entity::insert(chatbot_model(chatbot)?)
            .exec_without_returning(&txn)
            .await
            .map_err(store_error)?;
        self.commit_auth_change(txn).await
    }

    async fn get(&self, org: OrgId, id: ChatbotId) -> Result<Option<Chatbot>, StoreError> {
        if let Some(all) = self.kept_chatbots(org).await? {
            return Ok(all.iter().find(|b| b.id == id).cloned());
        }
        chatbots::Entity::of(org)
            .filter(chatbots::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(chatbot_from)
            .transpose()
    }

    async fn by_slug(&self, org: OrgId, slug: &str) -> Result<Option<Chatbot>, StoreError> {
        if let Some(all) = self.kept_chatbots(org).await? {
            return Ok(all.iter().find(|b| b.slug.as_str() == slug).cloned());
        }
        chatbots::Entity::of(org)
            .filter(chatbots::Column::Slug.eq(slug))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(chatbot_from)
            .transpose()
    }

    async fn list(
        &self,
        org: OrgId,
        only: Option<&[ChatbotId]>,
        page: &PageRequest,
    ) -> Result<Vec<Chatbot>, StoreError> {
        if let Some(all) = self.kept_chatbots(org).await? {
            let after = page.after();
            return Ok(all
                .iter()
                .filter(|b| only.is_none_or(|only| only.contains(&b.id)))
                .filter(|b| after.is_none_or(|after| b.id.as_uuid() > after))
                .take(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX))
                .cloned()
                .collect());
        }
        let mut query = chatbots::Entity::of(org);
        if let Some(only) = only {
            query = query.filter(chatbots::Column::Id.is_in(only.iter().map(|id| id.as_uuid())));
        }
        if let Some(after) = page.after() {
            query = query.filter(chatbots::Column::Id.gt(after));
        }
        query
            .order_by_asc(chatbots::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(chatbot_from)
            .collect()
    }

    async fn update(&self, chatbot: &Chatbot) -> Result<bool, StoreError> {
        let mut model = chatbot_model(chatbot)?;
        model.id = sea_orm::ActiveValue::NotSet;
        model.org_id = sea_orm::ActiveValue::NotSet;
        model.created_at = sea_orm::ActiveValue::NotSet;
        let txn = write_transaction(&self.db).await?;
        let result = chatbots::Entity::update_of(chatbot.org_id)
            .set(model)
            .filter(chatbots::Column::Id.eq(chatbot.id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let updated = result.rows_affected == 1;
        self.commit_auth_change_if(txn, updated).await?;
        Ok(updated)
    }

    async fn delete(&self, org: OrgId, id: ChatbotId) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let result = chatbots::Entity::delete_of(org)
            .filter(chatbots::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let deleted = result.rows_affected == 1;
        self.commit_auth_change_if(txn, deleted).await?;
        Ok(deleted)
    }
}

#[async_trait]
impl docent_keys::ChatbotDirectory for SqlStore {
    async fn existing(&self, org: OrgId, ids: &[ChatbotId]) -> Result<Vec<ChatbotId>, StoreError> {
        let found: Vec<uuid::Uuid> = chatbots::Entity::of(org)
            .select_only()
            .column(chatbots::Column::Id)
            .filter(chatbots::Column::Id.is_in(ids.iter().map(ChatbotId::as_uuid)))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(found.into_iter().map(ChatbotId::from_uuid).collect())
    }
}

#[async_trait]
impl ConversationRepo for SqlStore {
    async fn insert(&self, conversation: &Conversation) -> Result<(), StoreError> {
        let (owner_kind, owner_id) = owner_columns(conversation.owner);
        conversations::Entity::insert(conversations::ActiveModel {
            id: Set(conversation.id.as_uuid()),
            org_id: Set(conversation.org_id.as_uuid()),
            chatbot_id: Set(conversation.chatbot_id.as_uuid()),
            owner_kind: Set(owner_kind.to_owned()),
            owner_id: Set(owner_id),
            title: Set(conversation.title.clone()),
            created_at: Set(conversation.created_at),
            updated_at: Set(conversation.updated_at),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get(
        &self,
        org: OrgId,
        owner: Actor,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        conversations::Entity::of(org)
            .filter(owned_by(owner))
            .filter(conversations::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(conversation_from)
            .transpose()
    }

    async fn list(
        &self,
        org: OrgId,
        owner: Actor,
        chatbot: ChatbotId,
        page: &PageRequest,
    ) -> Result<Vec<Conversation>, StoreError> {
        let mut query = conversations::Entity::of(org)
            .filter(owned_by(owner))
            .filter(conversations::Column::ChatbotId.eq(chatbot.as_uuid()));
        if let Some(after) = page.after() {
            query = query.filter(conversations::Column::Id.gt(after));
        }
        query
            .order_by_asc(conversations::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(conversation_from)
            .collect()
    }

    async fn messages(
        &self,
        org: OrgId,
        conversation: ConversationId,
        page: &PageRequest,
    ) -> Result<Vec<Message>, StoreError> {
        let mut query = messages_of(org, conversation);
        if let Some(after) = page.after() {
            query = query.filter(chat_messages::Column::Id.gt(after));
        }
        query
            .order_by_asc(chat_messages::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(message_from)
            .collect()
    }

    async fn recent(
        &self,
        org: OrgId,
        conversation: ConversationId,
        limit: u64,
    ) -> Result<Vec<Message>, StoreError> {
        let mut messages = messages_of(org, conversation)
            .order_by_desc(chat_messages::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    async fn append_exchange(
        &self,
        org: OrgId,
        question: &Message,
        answer: &Message,
        title: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        let mut touch = conversations::Entity::update_of(org)
            .col_expr(conversations::Column::UpdatedAt, Expr::value(at))
            .filter(conversations::Column::Id.eq(question.conversation_id.as_uuid()));
        if let Some(title) = title {
            touch = touch.col_expr(conversations::Column::Title, Expr::value(title.to_owned()));
        }
        let touched = touch.exec(&txn).await.map_err(store_error)?;
        if touched.rows_affected != 1 {
            // The conversation (or its chatbot) was deleted meanwhile.
            return Err(StoreError::NotFound);
        }
        chat_messages::Entity::insert_many([
            message_model(org, question)?,
            message_model(org, answer)?,
        ])
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }
}
