//! The key service: creating, listing and revoking keys, and authenticating a presented key.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use docent_kernel::{
    ApiKeyId, AuditEvent, AuditLog, ChatbotId, Clock, Page, PageRequest, TenantCtx, UserId,
    record_or_log,
};
use sha2::{Digest as _, Sha256};

use crate::error::KeyError;
use crate::model::{ApiKey, IssuedApiKey, KeyPrincipal, KeySettings, Scope};
use crate::ports::{ApiKeyRepo, ChatbotDirectory, KeyRateLimiter, UsageLedger};
use crate::quota::{Check, Holder, InFlight, MonthlyQuota, ReportedUsage, Reservation};
use crate::secret;
use crate::usage::{DayRange, UsageDelta, UsageFilter, UsageGroup, UsageRow};

/// How long a key may go without its `last_used_at` being written again.
const TOUCH_INTERVAL_SECS: i64 = 60;
/// The highest accepted rate limit.
const MAX_RATE_PER_MINUTE: u32 = 1_000_000;
/// The longest chatbot allow-list.
const MAX_ALLOWED_CHATBOTS: usize = 100;
/// The most origins a publishable key may allow.
const MAX_ORIGINS: usize = 20;
/// A publishable key's rate limit when its creator sets none: it sits in a public page.
pub const PUBLISHABLE_DEFAULT_RATE_PER_MINUTE: u32 = 60;
/// Questions per minute one visitor of a website (one browser) may ask through a publishable key.
pub const VISITOR_RATE_PER_MINUTE: u32 = 10;
/// Questions per minute one network address may ask through a publishable key (visitors behind
/// one address share it; a visitor who changes its id does not escape it).
pub const ADDRESS_RATE_PER_MINUTE: u32 = 60;

/// A key as a client asks for it, before validation.
#[derive(Debug, Clone, Default)]
pub struct KeyRequest {
    /// A label.
    pub name: String,
    /// Scope names.
    pub scopes: Vec<String>,
    /// Allowed chatbots; `None` for all.
    pub chatbot_ids: Option<Vec<ChatbotId>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests per minute.
    pub rate_limit_per_minute: Option<u32>,
    /// Messages per month.
    pub monthly_message_quota: Option<u64>,
    /// Tokens per month.
    pub monthly_token_quota: Option<u64>,
    /// For a publishable key: the web origins it is accepted from.
    pub allowed_origins: Option<Vec<String>>,
}

/// What the key service is built from.
#[derive(Debug, Clone)]
pub struct KeyPorts {
    /// Stores keys.
    pub repo: Arc<dyn ApiKeyRepo>,
    /// Per-key request rate limits.
    pub limiter: Arc<dyn KeyRateLimiter>,
    /// The usage ledger.
    pub usage: Arc<dyn UsageLedger>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Checks that allow-listed chatbots exist.
    pub chatbots: Arc<dyn ChatbotDirectory>,
}

/// Creating, listing, revoking and authenticating API keys.
#[derive(Debug)]
pub struct KeyService {
    repo: Arc<dyn ApiKeyRepo>,
    limiter: Arc<dyn KeyRateLimiter>,
    usage: Arc<dyn UsageLedger>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    chatbots: Arc<dyn ChatbotDirectory>,
    org_quota: MonthlyQuota,
    in_flight: InFlight,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl KeyService {
    /// Builds the service; `org_quota` is the operator's monthly quota of every organization.
    #[must_use]
    pub fn new(ports: KeyPorts, org_quota: MonthlyQuota) -> Self {
        let KeyPorts {
            repo,
            limiter,
            usage,
            audit,
            clock,
            chatbots,
        } = ports;
        Self {
            repo,
            limiter,
            usage,
            audit,
            clock,
            chatbots,
            org_quota,
            in_flight: InFlight::default(),
        }
    }

    /// The operator's monthly quota of every organization.
    #[must_use]
    pub const fn org_quota(&self) -> MonthlyQuota {
        self.org_quota
    }

    fn validate(&self, request: KeyRequest) -> Result<KeySettings, KeyError> {
        let raw = &request.name;
        let name = raw.trim().to_owned();
        if name.is_empty() || raw.chars().count() > 100 || raw.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                "a name has 1 to 100 characters and no control characters",
            ));
        }
        let mut scopes = BTreeSet::new();
        for raw in &request.scopes {
            scopes.insert(Scope::parse(raw).ok_or_else(|| KeyError::UnknownScope(raw.clone()))?);
        }
        if scopes.is_empty() {
            return Err(invalid("scopes", "a key needs at least one scope"));
        }
        if request
            .chatbot_ids
            .as_ref()
            .is_some_and(|ids| ids.is_empty() || ids.len() > MAX_ALLOWED_CHATBOTS)
        {
            return Err(invalid(
                "chatbot_ids",
                format!("name 1 to {MAX_ALLOWED_CHATBOTS} chatbots, or leave it out for all"),
            ));
        }
        if request.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return Err(invalid("expires_at", "must be in the future"));
        }
        if request
            .rate_limit_per_minute
            .is_some_and(|r| r == 0 || r > MAX_RATE_PER_MINUTE)
        {
            return Err(invalid(
                "rate_limit_per_minute",
                "must be between 1 and 1000000",
            ));
        }
        if request.monthly_message_quota == Some(0) || request.monthly_token_quota == Some(0) {
            return Err(invalid("monthly quota", "a quota must be at least 1"));
        }
        let mut rate_limit_per_minute = request.rate_limit_per_minute;
        let allowed_origins = match request.allowed_origins {
            None => None,
            Some(raw) => {
                if scopes.len() != 1 || !scopes.contains(&Scope::Chat) {
                    return Err(invalid(
                        "scopes",
                        "a publishable key has the `chat` scope only",
                    ));
                }
                if request
                    .chatbot_ids
                    .as_ref()
                    .is_none_or(|ids| ids.len() != 1)
                {
                    return Err(invalid(
                        "chatbot_ids",
                        "a publishable key is for exactly one chatbot",
                    ));
                }
                rate_limit_per_minute.get_or_insert(PUBLISHABLE_DEFAULT_RATE_PER_MINUTE);
                Some(origins(&raw)?)
            }
        };
        Ok(KeySettings {
            name,
            scopes,
            chatbot_ids: request.chatbot_ids,
            expires_at: request.expires_at,
            rate_limit_per_minute,
            monthly_message_quota: request.monthly_message_quota,
            monthly_token_quota: request.monthly_token_quota,
            allowed_origins,
        })
    }

    /// Creates a key in the tenant's organization. The caller has checked that `creator` may manage
    /// keys there.
    pub async fn create(
        &self,
        tenant: &TenantCtx,
        creator: UserId,
        request: KeyRequest,
    ) -> Result<IssuedApiKey, KeyError> {
        let mut settings = self.validate(request)?;
        if let Some(ids) = &mut settings.chatbot_ids {
            // Ids in bodies are checked like path ids: another organization's chatbot is unknown.
            ids.sort_by_key(ChatbotId::as_uuid);
            ids.dedup();
            let existing = self.chatbots.existing(tenant.org_id(), ids).await?;
            if let Some(unknown) = ids.iter().find(|id| !existing.contains(id)) {
                return Err(KeyError::ChatbotNotFound(*unknown));
            }
        }
        let (secret, parts) = if settings.is_publishable() {
            secret::generate_publishable()
        } else {
            secret::generate()
        };
        let key = ApiKey {
            id: ApiKeyId::generate(),
            org_id: tenant.org_id(),
            created_by: creator,
            prefix: parts.prefix,
            last4: parts.last4,
            settings,
            created_at: self.clock.now(),
            revoked_at: None,
            last_used_at: None,
        };
        self.repo.insert(&key, &parts.hash).await?;
        let scopes: Vec<&str> = key.settings.scopes.iter().map(|s| s.as_str()).collect();
        let event = AuditEvent::new(
            tenant,
            "api_key.create",
            ("api_key", key.id.as_uuid()),
            key.created_at,
        )
        .with_detail(format!(
            "{} ({}) [{}]",
            key.settings.name,
            key.prefix,
            scopes.join(" ")
        ));
        record_or_log(self.audit.as_ref(), event).await;
        Ok(IssuedApiKey { key, secret })
    }

    /// The organization's keys.
    pub async fn list(
        &self,
        tenant: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, KeyError> {
        let rows = self.repo.list(tenant.org_id(), page).await?;
        Ok(Page::from_rows(rows, page, |k| k.id.as_uuid()))
    }

    /// One of the organization's keys.
    pub async fn get(&self, tenant: &TenantCtx, id: ApiKeyId) -> Result<ApiKey, KeyError> {
        self.repo
            .get(tenant.org_id(), id)
            .await?
            .ok_or(KeyError::NotFound)
    }

    /// Revokes a key; it stops working with the next request, on every replica.
    pub async fn revoke(&self, tenant: &TenantCtx, id: ApiKeyId) -> Result<(), KeyError> {
        let now = self.clock.now();
        if !self.repo.revoke(tenant.org_id(), id, now).await? {
            return Err(KeyError::NotFound);
        }
        let event = AuditEvent::new(tenant, "api_key.revoke", ("api_key", id.as_uuid()), now);
        record_or_log(self.audit.as_ref(), event).await;
        Ok(())
    }

    /// Authenticates a presented key and counts the request against its rate limit. A malformed key
    /// is refused before any lookup; the key is read from storage on every request, so revocation
    /// takes effect at once everywhere.
    pub async fn authenticate(&self, presented: &str) -> Result<KeyPrincipal, KeyError> {
        // A publishable key sits in web pages: it opens the widget's routes only.
        if secret::is_publishable(presented) {
            return Err(KeyError::PublishableOnly);
        }
        self.verify(presented).await
    }

    /// Authenticates a publishable key presented by the chat widget from `origin` (the request's
    /// `Origin` header), and counts the request against its rate limit: `OriginRefused` unless
    /// the origin is one the key allows.
    pub async fn authenticate_publishable(
        &self,
        presented: &str,
        origin: Option<&str>,
    ) -> Result<KeyPrincipal, KeyError> {
        if !secret::is_publishable(presented) {
            return Err(KeyError::InvalidKey);
        }
        let key = self.verify(presented).await?;
        let allowed = key
            .key
            .settings
            .allowed_origins
            .as_deref()
            .unwrap_or_default();
        match origin {
            Some(origin) if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) => Ok(key),
            Some(_) | None => Err(KeyError::OriginRefused),
        }
    }

    /// Counts one question through the publishable key `key` against the limits of its asker:
    /// [`VISITOR_RATE_PER_MINUTE`] for `visitor` (the widget's random id for a browser) and
    /// [`ADDRESS_RATE_PER_MINUTE`] for `address` (so a visitor who changes its id does not escape).
    pub async fn check_visitor(
        &self,
        key: ApiKeyId,
        visitor: &str,
        address: &str,
    ) -> Result<(), KeyError> {
        for (who, per_minute) in [
            (format!("visitor:{visitor}"), VISITOR_RATE_PER_MINUTE),
            (format!("address:{address}"), ADDRESS_RATE_PER_MINUTE),
        ] {
            // One limiter slot per asker of this key, with an id of its own.
            let digest = Sha256::digest(format!("{key}\u{0}{who}").as_bytes());
            let mut bytes = [0_u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            let slot = ApiKeyId::from_uuid(uuid::Uuid::from_bytes(bytes));
            let decision = self.limiter.check(slot, per_minute).await;
            if decision.retry_after.is_some() {
                return Err(KeyError::RateLimited(decision));
            }
        }
        Ok(())
    }

    async fn verify(&self, presented: &str) -> Result<KeyPrincipal, KeyError> {
        let parts = secret::parse(presented).map_err(|_| KeyError::InvalidKey)?;
        let key = self
            .repo
            .find_usable(&parts.hash)
            .await?
            .ok_or(KeyError::InvalidKey)?;
        let now = self.clock.now();
        if !key.is_active(now) {
            return Err(KeyError::InvalidKey);
        }
        if key
            .last_used_at
            .is_none_or(|at| now - at > Duration::seconds(TOUCH_INTERVAL_SECS))
        {
            self.repo.touch(key.id, now).await?;
        }
        let rate = match key.settings.rate_limit_per_minute {
            Some(per_minute) => Some(self.limiter.check(key.id, per_minute).await),
            None => None,
        };
        if let Some(decision) = rate.filter(|d| d.retry_after.is_some()) {
            return Err(KeyError::RateLimited(decision));
        }
        Ok(KeyPrincipal { key, rate })
    }
    /// Reserves one message and `estimated_tokens` before a model call, against the monthly
    /// quotas of the organization and, for a key, of the key (usage so far this UTC month plus
    /// reservations in flight). Fails with `QuotaExceeded` without reserving anything.
    pub async fn reserve(
        &self,
        tenant: &TenantCtx,
        key: Option<&ApiKey>,
        chatbot: Option<ChatbotId>,
        estimated_tokens: u64,
    ) -> Result<Reservation, KeyError> {
        let now = self.clock.now();
        let month = DayRange::month_to_date(now.date_naive());
        let org = tenant.org_id();
        let mut checks = Vec::new();
        if self.org_quota.is_limited() {
            checks.push(Check {
                holder: Holder::Org(org),
                quota: self.org_quota,
                used: self.usage.totals(org, None, &month).await?,
            });
        }
        if let Some(key) = key {
            let quota = MonthlyQuota {
                messages: key.settings.monthly_message_quota,
                tokens: key.settings.monthly_token_quota,
            };
            if quota.is_limited() {
                checks.push(Check {
                    holder: Holder::Key(key.id),
                    quota,
                    used: self.usage.totals(org, Some(key.id), &month).await?,
                });
            }
        }
        self.in_flight
            .try_reserve(&checks, estimated_tokens)
            .map_err(|(holder, what)| KeyError::QuotaExceeded {
                holder: holder.name(),
                what,
                resets_in_secs: seconds_to_next_month(now),
            })?;
        Ok(Reservation {
            org_id: org,
            chatbot_id: chatbot,
            api_key_id: key.map(|k| k.id),
            held: checks.iter().map(|c| c.holder).collect(),
            tokens: estimated_tokens,
            in_flight: self.in_flight.clone(),
        })
    }

    /// Records what a reserved request used, per the provider's report, and releases the
    /// reservation.
    pub async fn settle(
        &self,
        mut reservation: Reservation,
        used: ReportedUsage,
    ) -> Result<(), KeyError> {
        let totals = used.as_totals();
        let delta = UsageDelta {
            org_id: reservation.org_id,
            day: self.clock.now().date_naive(),
            chatbot_id: reservation.chatbot_id,
            api_key_id: reservation.api_key_id,
            requests: totals.requests,
            prompt_tokens: totals.prompt_tokens,
            completion_tokens: totals.completion_tokens,
            embedded_tokens: 0,
        };
        // Written before the release, so no window lets the allowance look larger than it is.
        let written = self.usage.add(&delta).await;
        reservation.release();
        Ok(written?)
    }

    /// The organization's usage over `range`, grouped; for one key when `key` is given (which
    /// must be one of the organization's keys).
    pub async fn usage_report(
        &self,
        tenant: &TenantCtx,
        filter: UsageFilter,
        range: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
        group: UsageGroup,
    ) -> Result<(DayRange, Vec<UsageRow>), KeyError> {
        if let Some(key) = filter.key {
            self.get(tenant, key).await?;
        }
        let range = match range {
            Some((from, to)) => DayRange::new(from, to).map_err(KeyError::InvalidRange)?,
            None => DayRange::month_to_date(self.clock.now().date_naive()),
        };
        let rows = self
            .usage
            .report(tenant.org_id(), &filter, &range, group)
            .await?;
        Ok((range, rows))
    }
}

/// Fails with `InsufficientScope` unless the principal carries `scope`.
pub fn require_scope(principal: &KeyPrincipal, scope: Scope) -> Result<(), KeyError> {
    if principal.has_scope(scope) {
        Ok(())
    } else {
        Err(KeyError::InsufficientScope(scope))
    }
}

/// Seconds from `now` to the start of the next UTC month, when monthly quotas reset.
fn seconds_to_next_month(now: DateTime<Utc>) -> u64 {
    use chrono::Datelike as _;
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    chrono::NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|start| start.and_utc() - now)
        .and_then(|left| u64::try_from(left.num_seconds()).ok())
        .unwrap_or(0)
}

/// The origins a publishable key allows, normalized (`scheme://host[:port]`, lower case, no
/// path), or why they are not origins.
fn origins(raw: &[String]) -> Result<Vec<String>, KeyError> {
    let mut out: Vec<String> = Vec::new();
    for entry in raw.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let refused = || {
            invalid(
                "allowed_origins",
                format!("{entry:?} is not a web origin such as https://example.com"),
            )
        };
        let (scheme, rest) = entry.split_once("://").ok_or_else(refused)?;
        let scheme = scheme.to_ascii_lowercase();
        let host = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
        let well_formed = matches!(scheme.as_str(), "http" | "https")
            && !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !well_formed {
            return Err(refused());
        }
        let origin = format!("{scheme}://{host}");
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    if out.is_empty() || out.len() > MAX_ORIGINS {
        return Err(invalid(
            "allowed_origins",
            format!("a publishable key allows 1 to {MAX_ORIGINS} web origins"),
        ));
    }
    Ok(out)
}
