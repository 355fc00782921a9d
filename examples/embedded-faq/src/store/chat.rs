//! The provider, chatbot and conversation repositories.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_chat::{Chatbot, ChatbotRepo, Conversation, ConversationRepo, Message};
use docent_kernel::{Actor, ChatbotId, ConversationId, OrgId, PageRequest, ProviderId, StoreError};
use docent_providers::{Provider, ProviderRepo, SealedKey};

use super::{MemoryStore, Org, paged};

#[async_trait]
impl ProviderRepo for MemoryStore {
    async fn insert(&self, provider: &Provider, key: Option<&SealedKey>) -> Result<(), StoreError> {
        self.org(provider.org_id, |o| {
            if o.providers.contains_key(&provider.id) {
                return Err(StoreError::Conflict("unique"));
            }
            o.providers
                .insert(provider.id, (provider.clone(), key.cloned()));
            Ok(())
        })
    }

    async fn get(&self, org: OrgId, id: ProviderId) -> Result<Option<Provider>, StoreError> {
        Ok(self.org(org, |o| o.providers.get(&id).map(|(p, _)| p.clone())))
    }

    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<Provider>, StoreError> {
        Ok(self.org(org, |o| {
            paged(o.providers.values().map(|(p, _)| p.clone()), page, |p| {
                p.id.as_uuid()
            })
        }))
    }

    async fn update(
        &self,
        provider: &Provider,
        key: Option<Option<&SealedKey>>,
    ) -> Result<bool, StoreError> {
        Ok(self.org(provider.org_id, |o| {
            let Some((stored, sealed)) = o.providers.get_mut(&provider.id) else {
                return false;
            };
            *stored = provider.clone();
            if let Some(key) = key {
                *sealed = key.cloned();
            }
            true
        }))
    }

    async fn delete(&self, org: OrgId, id: ProviderId) -> Result<bool, StoreError> {
        self.org(org, |o| {
            // Chatbots refer to their provider, as a foreign key does.
            if o.chatbots.values().any(|b| b.provider_id == id) {
                return Err(StoreError::Conflict("foreign_key"));
            }
            Ok(o.providers.remove(&id).is_some())
        })
    }

    async fn sealed_key(
        &self,
        org: OrgId,
        id: ProviderId,
    ) -> Result<Option<SealedKey>, StoreError> {
        Ok(self.org(org, |o| o.providers.get(&id).and_then(|(_, k)| k.clone())))
    }

    async fn sealed_keys(
        &self,
        after: Option<ProviderId>,
        limit: u64,
    ) -> Result<Vec<(OrgId, ProviderId, SealedKey)>, StoreError> {
        let state = self.state();
        let mut keys: Vec<_> = state
            .orgs
            .iter()
            .flat_map(|(org, o)| {
                o.providers
                    .iter()
                    .filter_map(move |(id, (_, key))| Some((*org, *id, key.clone()?)))
            })
            .filter(|(_, id, _)| after.is_none_or(|after| *id > after))
            .collect();
        keys.sort_by_key(|(_, id, _)| *id);
        keys.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(keys)
    }

    async fn replace_sealed_key(
        &self,
        org: OrgId,
        id: ProviderId,
        expected: &SealedKey,
        key: &SealedKey,
    ) -> Result<bool, StoreError> {
        Ok(self.org(org, |o| match o.providers.get_mut(&id) {
            Some((_, sealed)) if sealed.as_ref() == Some(expected) => {
                *sealed = Some(key.clone());
                true
            }
            Some(_) | None => false,
        }))
    }
}

/// Checks a chatbot's references and uniqueness as the SQL constraints do.
fn check_chatbot(o: &Org, bot: &Chatbot) -> Result<(), StoreError> {
    if !o.providers.contains_key(&bot.provider_id) {
        return Err(StoreError::Conflict("foreign_key"));
    }
    if o.chatbots
        .values()
        .any(|b| b.id != bot.id && b.slug == bot.slug)
    {
        return Err(StoreError::Conflict("unique"));
    }
    Ok(())
}

#[async_trait]
impl ChatbotRepo for MemoryStore {
    async fn insert(&self, chatbot: &Chatbot) -> Result<(), StoreError> {
        self.org(chatbot.org_id, |o| {
            if o.chatbots.contains_key(&chatbot.id) {
                return Err(StoreError::Conflict("unique"));
            }
            check_chatbot(o, chatbot)?;
            o.chatbots.insert(chatbot.id, chatbot.clone());
            Ok(())
        })
    }

    async fn get(&self, org: OrgId, id: ChatbotId) -> Result<Option<Chatbot>, StoreError> {
        Ok(self.org(org, |o| o.chatbots.get(&id).cloned()))
    }

    async fn by_slug(&self, org: OrgId, slug: &str) -> Result<Option<Chatbot>, StoreError> {
        Ok(self.org(org, |o| {
            o.chatbots
                .values()
                .find(|b| b.slug.as_str() == slug)
                .cloned()
        }))
    }

    async fn list(
        &self,
        org: OrgId,
        only: Option<&[ChatbotId]>,
        page: &PageRequest,
    ) -> Result<Vec<Chatbot>, StoreError> {
        Ok(self.org(org, |o| {
            let allowed = o
                .chatbots
                .values()
                .filter(|b| only.is_none_or(|only| only.contains(&b.id)));
            paged(allowed.cloned(), page, |b| b.id.as_uuid())
        }))
    }

    async fn update(&self, chatbot: &Chatbot) -> Result<bool, StoreError> {
        self.org(chatbot.org_id, |o| {
            if !o.chatbots.contains_key(&chatbot.id) {
                return Ok(false);
            }
            check_chatbot(o, chatbot)?;
            o.chatbots.insert(chatbot.id, chatbot.clone());
            Ok(true)
        })
    }

    async fn delete(&self, org: OrgId, id: ChatbotId) -> Result<bool, StoreError> {
        Ok(self.org(org, |o| {
            if o.chatbots.remove(&id).is_none() {
                return false;
            }
            // Its conversations and their messages go with it.
            let gone: Vec<ConversationId> = o
                .conversations
                .values()
                .filter(|c| c.chatbot_id == id)
                .map(|c| c.id)
                .collect();
            o.conversations.retain(|cid, _| !gone.contains(cid));
            o.messages.retain(|_, m| !gone.contains(&m.conversation_id));
            true
        }))
    }
}

#[async_trait]
impl ConversationRepo for MemoryStore {
    async fn insert(&self, conversation: &Conversation) -> Result<(), StoreError> {
        self.org(conversation.org_id, |o| {
            if !o.chatbots.contains_key(&conversation.chatbot_id) {
                return Err(StoreError::Conflict("foreign_key"));
            }
            o.conversations
                .insert(conversation.id, conversation.clone());
            Ok(())
        })
    }

    async fn get(
        &self,
        org: OrgId,
        owner: Actor,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        Ok(self.org(org, |o| {
            o.conversations
                .get(&id)
                .filter(|c| c.owner == owner)
                .cloned()
        }))
    }

    async fn list(
        &self,
        org: OrgId,
        owner: Actor,
        chatbot: ChatbotId,
        page: &PageRequest,
    ) -> Result<Vec<Conversation>, StoreError> {
        Ok(self.org(org, |o| {
            let mine = o
                .conversations
                .values()
                .filter(|c| c.owner == owner && c.chatbot_id == chatbot);
            paged(mine.cloned(), page, |c| c.id.as_uuid())
        }))
    }

    async fn messages(
        &self,
        org: OrgId,
        conversation: ConversationId,
        page: &PageRequest,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self.org(org, |o| {
            let of = o
                .messages
                .values()
                .filter(|m| m.conversation_id == conversation);
            paged(of.cloned(), page, |m| m.id.as_uuid())
        }))
    }

    async fn recent(
        &self,
        org: OrgId,
        conversation: ConversationId,
        limit: u64,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self.org(org, |o| {
            let mut latest: Vec<Message> = o
                .messages
                .values()
                .rev()
                .filter(|m| m.conversation_id == conversation)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .cloned()
                .collect();
            latest.reverse();
            latest
        }))
    }

    async fn append_exchange(
        &self,
        org: OrgId,
        question: &Message,
        answer: &Message,
        title: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.org(org, |o| {
            // The conversation (or its chatbot) was deleted while the answer was made.
            let conversation = o
                .conversations
                .get_mut(&question.conversation_id)
                .ok_or(StoreError::NotFound)?;
            conversation.updated_at = at;
            if let Some(title) = title {
                title.clone_into(&mut conversation.title);
            }
            for message in [question, answer] {
                o.messages.insert(message.id, message.clone());
            }
            Ok(())
        })
    }
}
