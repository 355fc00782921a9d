//! What the chat services need from storage and from the quota keeper.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{Actor, ChatbotId, ConversationId, OrgId, PageRequest, StoreError, TenantCtx};

use crate::error::ChatError;
use crate::model::{Chatbot, Conversation, Message, TokenUsage};

/// Stores chatbots. Every method is scoped to one organization.
#[async_trait]
pub trait ChatbotRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new chatbot; `Conflict` when its slug is taken in the organization.
    async fn insert(&self, chatbot: &Chatbot) -> Result<(), StoreError>;

    /// One chatbot of `org`.
    async fn get(&self, org: OrgId, id: ChatbotId) -> Result<Option<Chatbot>, StoreError>;

    /// The chatbot of `org` with this slug.
    async fn by_slug(&self, org: OrgId, slug: &str) -> Result<Option<Chatbot>, StoreError>;

    /// The chatbots of `org`, by id, fetching `page.fetch_limit()` rows; only `only` when given.
    async fn list(
        &self,
        org: OrgId,
        only: Option<&[ChatbotId]>,
        page: &PageRequest,
    ) -> Result<Vec<Chatbot>, StoreError>;

    /// Replaces a chatbot's settings; `false` when it is gone. `Conflict` on a taken slug.
    async fn update(&self, chatbot: &Chatbot) -> Result<bool, StoreError>;

    /// Deletes a chatbot with its conversations; `false` when it is gone.
    async fn delete(&self, org: OrgId, id: ChatbotId) -> Result<bool, StoreError>;
}

/// Stores conversations and their messages. Reads are scoped to one organization and one owner.
#[async_trait]
pub trait ConversationRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new conversation.
    async fn insert(&self, conversation: &Conversation) -> Result<(), StoreError>;

    /// One conversation of `org` and `owner`.
    async fn get(
        &self,
        org: OrgId,
        owner: Actor,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError>;

    /// The conversations of `owner` with a chatbot, by id, fetching `page.fetch_limit()` rows.
    async fn list(
        &self,
        org: OrgId,
        owner: Actor,
        chatbot: ChatbotId,
        page: &PageRequest,
    ) -> Result<Vec<Conversation>, StoreError>;

    /// Messages of a conversation (of `org`), oldest first, after the cursor.
    async fn messages(
        &self,
        org: OrgId,
        conversation: ConversationId,
        page: &PageRequest,
    ) -> Result<Vec<Message>, StoreError>;

    /// The latest `limit` messages of a conversation, oldest first.
    async fn recent(
        &self,
        org: OrgId,
        conversation: ConversationId,
        limit: u64,
    ) -> Result<Vec<Message>, StoreError>;

    /// Adds a question and its answer in one transaction and touches the conversation (setting
    /// its title when `title` is given).
    async fn append_exchange(
        &self,
        org: OrgId,
        question: &Message,
        answer: &Message,
        title: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// A reservation against the monthly quotas, made before a model call.
#[async_trait]
pub trait UsageHold: Send + std::fmt::Debug {
    /// Records what the message used and releases the reservation.
    async fn settle(self: Box<Self>, used: TokenUsage);
}

/// The monthly quotas of the organization and the calling key (kept by the key service; reached
/// through this port so `chat` does not depend on `keys`).
#[async_trait]
pub trait UsageGate: Send + Sync + std::fmt::Debug {
    /// Reserves one message and `estimated_tokens`; `QuotaExceeded` when they do not fit.
    async fn reserve(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        estimated_tokens: u64,
    ) -> Result<Box<dyn UsageHold>, ChatError>;
}
