//! sea-orm entities. They never leave this crate: repositories convert them to domain types.

pub mod api_keys;
pub mod audit_events;
pub mod chat_messages;
pub mod chatbots;
pub mod conversations;
pub mod document_chunks;
pub mod documents;
pub mod invitations;
pub mod jobs;
pub mod memberships;
pub mod organizations;
pub mod password_resets;
pub mod providers;
pub mod sessions;
pub mod usage_daily;
pub mod users;
