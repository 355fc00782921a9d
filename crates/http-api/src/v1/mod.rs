//! Version 1 of the API: one module per resource, combined into one tuple type.

mod audit;
mod auth;
mod chatbots;
mod completions;
mod conversations;
mod documents;
mod invitations;
mod keys;
mod members;
mod ops;
mod orgs;
mod providers;
mod usage;
mod users;

use docent_tenancy::Role;
use poem_openapi::{Enum, Tags};

use crate::state::ApiState;

/// The whole API.
pub(crate) type Api = (
    auth::AuthApi,
    users::UsersApi,
    orgs::OrgsApi,
    members::MembersApi,
    invitations::InvitationsApi,
    keys::KeysApi,
    documents::DocumentsApi,
    providers::ProvidersApi,
    chatbots::ChatbotsApi,
    conversations::ConversationsApi,
    completions::CompletionsApi,
    audit::AuditApi,
    usage::UsageApi,
    ops::OpsApi,
);

/// Builds the API objects around `state`.
pub(crate) fn api(state: ApiState) -> Api {
    (
        auth::AuthApi::new(state.clone()),
        users::UsersApi::new(state.clone()),
        orgs::OrgsApi::new(state.clone()),
        members::MembersApi::new(state.clone()),
        invitations::InvitationsApi::new(state.clone()),
        keys::KeysApi::new(state.clone()),
        documents::DocumentsApi::new(state.clone()),
        providers::ProvidersApi::new(state.clone()),
        chatbots::ChatbotsApi::new(state.clone()),
        conversations::ConversationsApi::new(state.clone()),
        completions::CompletionsApi::new(state.clone()),
        audit::AuditApi::new(state.clone()),
        usage::UsageApi::new(state.clone()),
        ops::OpsApi::new(state),
    )
}

/// The tags operations are grouped by.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Sign-up, sign-in, sessions and passwords.
    Auth,
    /// The signed-in user.
    Users,
    /// Organizations.
    Orgs,
    /// Members of an organization and their roles.
    Members,
    /// Invitations to join an organization.
    Invitations,
    /// API keys of an organization.
    ApiKeys,
    /// Documents of an organization: upload, processing status, chunks, search.
    Documents,
    /// Model provider connections of an organization.
    Providers,
    /// Chatbots of an organization, their conversations and answers; the built-in prompt
    /// templates.
    Chatbots,
    /// The OpenAI-compatible chat-completions endpoint.
    Chat,
    /// The audit log of an organization.
    Audit,
    /// Usage of an organization and its keys.
    Usage,
    /// Health, readiness and metrics.
    Ops,
}

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum RoleDto {
    /// Everything, including deleting the organization and managing owners.
    Owner,
    /// Manages members (except owners), invitations and settings.
    Admin,
    /// Uses and changes the organization's content.
    Member,
    /// Reads the organization's content.
    Viewer,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Member => Self::Member,
            Role::Viewer => Self::Viewer,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => Self::Owner,
            RoleDto::Admin => Self::Admin,
            RoleDto::Member => Self::Member,
            RoleDto::Viewer => Self::Viewer,
        }
    }
}

/// Parses `?limit=&cursor=`.
pub(crate) fn page_request(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<docent_kernel::PageRequest, crate::error::ApiError> {
    Ok(docent_kernel::PageRequest::new(limit, cursor)?)
}

/// A stored `f32` as the decimal it was written as, for responses: `0.2` rather than
/// `0.20000000298023224`, which is what widening the `f32` to the JSON number's `f64` gives.
pub(crate) fn decimal(value: f32) -> f64 {
    value
        .to_string()
        .parse()
        .unwrap_or_else(|_| f64::from(value))
}
