//! API keys: the key format (`dk_live_…` with a checksum), hashing, scopes, chatbot allow-lists,
//! expiry and revocation, and authenticating a presented key. Rate limits, monthly quotas, the usage
//! ledger and audit events build on this crate as the API-key issue continues.

pub mod error;
pub mod model;
pub mod ports;
pub mod quota;
pub mod secret;
pub mod service;
pub mod usage;

pub use error::KeyError;
pub use model::{ApiKey, IssuedApiKey, KeyPrincipal, KeySettings, Scope};
pub use ports::{ApiKeyRepo, ChatbotDirectory, KeyRateLimiter, RateDecision, UsageLedger};
pub use quota::{MonthlyQuota, ReportedUsage, Reservation};
pub use secret::{KeyFormatError, KeyParts};
pub use service::{
    ADDRESS_RATE_PER_MINUTE, KeyPorts, KeyRequest, KeyService, PUBLISHABLE_DEFAULT_RATE_PER_MINUTE,
    VISITOR_RATE_PER_MINUTE, require_scope,
};
pub use usage::{DayRange, UsageDelta, UsageFilter, UsageGroup, UsageRow, UsageTotals};
