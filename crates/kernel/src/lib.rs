//! The shared vocabulary of docent: typed ids, the tenant context, error kinds, paging, the clock,
//! e-mail addresses, secret tokens, the store error every repository port returns, and the outbound
//! mail and action-limiter ports. It holds only what several domain crates must agree on, and no
//! infrastructure types.

pub mod audit;
pub mod clock;
pub mod email;
pub mod error;
pub mod id;
pub mod limit;
pub mod mail;
pub mod paging;
pub mod slug;
pub mod tenant;
pub mod token;

pub use audit::{AuditEvent, AuditFilter, AuditLog, StoredAuditEvent, record_or_log};
pub use clock::{Clock, ManualClock, SystemClock};
pub use email::{Email, EmailError};
pub use error::{ErrorKind, StoreError};
pub use id::{
    ApiKeyId, ChatbotId, ConversationId, DocumentId, InvitationId, JobId, MessageId, OrgId,
    PasswordResetId, ProviderId, SessionId, UserId,
};
pub use limit::{Allowance, CountingLimiter, Limiter};
pub use mail::{MailError, Mailer, OutgoingMail};
pub use paging::{Cursor, Page, PageRequest, PagingError};
pub use secrecy::{ExposeSecret, SecretString};
pub use slug::Slug;
pub use tenant::{Actor, RequestMeta, TenantCtx};
pub use token::{TokenHash, TokenKind};
