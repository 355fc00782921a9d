//! The in-memory store: documents and chunks, provider connections, chatbots, conversations and
//! the audit log, with the job outbox the document repository writes to. It plays the part
//! docent's SQL store plays, behind the same ports and with the same contracts.

mod chat;
mod documents;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use docent_chat::{Chatbot, Conversation, Message};
use docent_documents::jobs::NewJob;
use docent_documents::{Document, StoredChunk};
use docent_kernel::{
    Actor, AuditEvent, AuditFilter, AuditLog, ChatbotId, ConversationId, DocumentId, MessageId,
    OrgId, PageRequest, ProviderId, StoreError, StoredAuditEvent,
};
use docent_providers::{Provider, SealedKey};
use uuid::Uuid;

/// What one organization has.
#[derive(Debug, Default)]
struct Org {
    /// By id, which is creation order (UUIDv7), so lists come out in id order.
    documents: BTreeMap<DocumentId, Document>,
    chunks: HashMap<DocumentId, BTreeMap<u32, StoredChunk>>,
    providers: BTreeMap<ProviderId, (Provider, Option<SealedKey>)>,
    chatbots: BTreeMap<ChatbotId, Chatbot>,
    conversations: BTreeMap<ConversationId, Conversation>,
    messages: BTreeMap<MessageId, Message>,
    audit: Vec<StoredAuditEvent>,
}

#[derive(Debug, Default)]
struct State {
    orgs: HashMap<OrgId, Org>,
    /// Jobs written together with the document changes that need them, until someone runs them.
    jobs: Vec<NewJob>,
}

/// Everything the service stores, in memory, lost when it stops.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// The rows of `items` after the page's cursor, at most `page.fetch_limit()` of them.
fn paged<T: Clone>(
    items: impl Iterator<Item = T>,
    page: &PageRequest,
    id: impl Fn(&T) -> Uuid,
) -> Vec<T> {
    items
        .filter(|item| page.after().is_none_or(|after| id(item) > after))
        .take(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX))
        .collect()
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave a half-done change: every change below is
        // made after its checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on one organization's data: the tenant filter, in this one place.
    fn org<T>(&self, org: OrgId, f: impl FnOnce(&mut Org) -> T) -> T {
        f(self.state().orgs.entry(org).or_default())
    }

    /// Takes the pending jobs of a document out of the outbox, oldest first, to run them.
    pub fn take_jobs(&self, org: OrgId, document: DocumentId) -> Vec<NewJob> {
        let mut state = self.state();
        let (mine, rest) = std::mem::take(&mut state.jobs)
            .into_iter()
            .partition(|job| job.org_id == org && job.document_id == document);
        state.jobs = rest;
        mine
    }

    /// A document's fields changed by `f`; `false` when it does not exist.
    fn update(&self, org: OrgId, id: DocumentId, f: impl FnOnce(&mut Document)) -> bool {
        self.org(org, |o| o.documents.get_mut(&id).map(f).is_some())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.org(event.org_id, |o| {
            o.audit.push(StoredAuditEvent {
                id: event.id,
                actor: event.actor,
                action: event.action.to_owned(),
                target_kind: event.target.0.to_owned(),
                target_id: event.target.1,
                detail: event.detail.clone(),
                request_id: event.request_id.clone(),
                client_addr: event.client_addr.clone(),
                at: event.at,
            });
        });
        Ok(())
    }

    async fn list(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        Ok(self.org(org, |o| {
            let mut events = o.audit.clone();
            events.sort_by_key(|e| std::cmp::Reverse(e.id));
            // Newest first: the cursor is the oldest event of the previous page.
            events
                .into_iter()
                .filter(|e| page.after().is_none_or(|after| e.id < after))
                .filter(|e| {
                    filter.actor_id.is_none_or(|id| match e.actor {
                        Actor::User(user) => user.as_uuid() == id,
                        Actor::ApiKey(key) => key.as_uuid() == id,
                    })
                })
                .filter(|e| filter.action.as_deref().is_none_or(|a| e.action == a))
                .take(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX))
                .collect()
        }))
    }
}
