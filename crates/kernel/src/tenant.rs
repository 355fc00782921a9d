//! The tenant context: which organization a request acts in, and who is acting.

use std::sync::Arc;

use crate::id::{ApiKeyId, ChatbotId, OrgId, UserId};

/// Who performs an action inside an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user.
    User(UserId),
    /// An API key of the organization.
    ApiKey(ApiKeyId),
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The client address.
    pub client_addr: Option<String>,
}

/// The organization a request acts in, the actor, and the chatbots the actor may use — produced
/// only after the actor's access to the organization was checked. Every tenant-scoped service
/// method takes one as its first parameter.
///
/// Only the services that check access build one: `docent-tenancy` for members (its policy) and
/// `docent-keys` for API keys (with the key's chatbot allow-list). The architecture test in
/// `tests/` fails when any other crate's code calls [`TenantCtx::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCtx {
    org_id: OrgId,
    actor: Actor,
    request: RequestMeta,
    /// The chatbots the actor may use; `None` for all of the organization's.
    chatbots: Option<Arc<[ChatbotId]>>,
}

impl TenantCtx {
    /// A context for `actor` in `org_id`, allowed every chatbot; call only after authorizing the
    /// actor (see the type's documentation for who may).
    #[must_use]
    pub fn new(org_id: OrgId, actor: Actor) -> Self {
        Self {
            org_id,
            actor,
            request: RequestMeta::default(),
            chatbots: None,
        }
    }

    /// The same context, limited to `chatbots` (an API key's allow-list) when given.
    #[must_use]
    pub fn with_chatbots(mut self, chatbots: Option<Vec<ChatbotId>>) -> Self {
        self.chatbots = chatbots.map(Arc::from);
        self
    }

    /// The chatbots the actor may use; `None` for all of the organization's.
    #[must_use]
    pub fn chatbots(&self) -> Option<&[ChatbotId]> {
        self.chatbots.as_deref()
    }

    /// Whether the actor may use `chatbot`: to a key with an allow-list, the organization's other
    /// chatbots do not exist.
    #[must_use]
    pub fn may_use_chatbot(&self, chatbot: ChatbotId) -> bool {
        self.chatbots
            .as_deref()
            .is_none_or(|allowed| allowed.contains(&chatbot))
    }

    /// The same context, with where the request came from.
    #[must_use]
    pub fn with_request(mut self, request: RequestMeta) -> Self {
        self.request = request;
        self
    }

    /// Where the request came from.
    #[must_use]
    pub fn request(&self) -> &RequestMeta {
        &self.request
    }

    /// The organization.
    #[must_use]
    pub const fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// The actor.
    #[must_use]
    pub const fn actor(&self) -> Actor {
        self.actor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_list_limits_the_chatbots() {
        let org = OrgId::generate();
        let (a, b) = (ChatbotId::generate(), ChatbotId::generate());
        let all = TenantCtx::new(org, Actor::User(UserId::generate()));
        assert!(all.may_use_chatbot(a) && all.chatbots().is_none());
        let limited =
            TenantCtx::new(org, Actor::ApiKey(ApiKeyId::generate())).with_chatbots(Some(vec![a]));
        assert!(limited.may_use_chatbot(a));
        assert!(!limited.may_use_chatbot(b));
        assert_eq!(limited.chatbots(), Some(&[a][..]));
    }
}
