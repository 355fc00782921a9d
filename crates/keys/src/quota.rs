//! Monthly quotas, checked before a model call: a request reserves one message and its estimated
//! tokens against what its organization and its key have left this month, then settles with the
//! usage the provider reported (written to the ledger). Reservations in flight count against the
//! allowance, so concurrent requests cannot overshoot it together; a reservation dropped without
//! settling is released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use docent_kernel::{ApiKeyId, ChatbotId, OrgId};

use crate::usage::UsageTotals;

/// A monthly allowance; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthlyQuota {
    /// Messages per month.
    pub messages: Option<u64>,
    /// Model tokens (prompt + completion) per month.
    pub tokens: Option<u64>,
}

impl MonthlyQuota {
    /// Whether there is any limit at all.
    #[must_use]
    pub const fn is_limited(&self) -> bool {
        self.messages.is_some() || self.tokens.is_some()
    }
}

/// Who a quota belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Holder {
    Org(OrgId),
    Key(ApiKeyId),
}

impl Holder {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Org(_) => "organization",
            Self::Key(_) => "API key",
        }
    }
}

/// One quota to check: its holder, its allowance and what was used this month.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check {
    pub holder: Holder,
    pub quota: MonthlyQuota,
    pub used: UsageTotals,
}

/// Messages and tokens held by reservations in flight, per holder.
#[derive(Debug, Default, Clone)]
pub(crate) struct InFlight(Arc<Mutex<HashMap<Holder, (u64, u64)>>>);

impl InFlight {
    /// Reserves one message and `tokens` on every checked holder if all of them still fit;
    /// otherwise reserves nothing and names the holder and the quota (`message` or `token`).
    pub(crate) fn try_reserve(
        &self,
        checks: &[Check],
        tokens: u64,
    ) -> Result<(), (Holder, &'static str)> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for check in checks {
            let (messages, held_tokens) = held.get(&check.holder).copied().unwrap_or_default();
            if check
                .quota
                .messages
                .is_some_and(|q| check.used.requests + messages + 1 > q)
            {
                return Err((check.holder, "message"));
            }
            let total = check.used.model_tokens() + held_tokens + tokens;
            if check.quota.tokens.is_some_and(|q| total > q) {
                return Err((check.holder, "token"));
            }
        }
        for check in checks {
            let entry = held.entry(check.holder).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.saturating_add(tokens);
        }
        Ok(())
    }

    fn release(&self, holders: &[Holder], tokens: u64) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for holder in holders {
            if let Some(entry) = held.get_mut(holder) {
                entry.0 = entry.0.saturating_sub(1);
                entry.1 = entry.1.saturating_sub(tokens);
                if *entry == (0, 0) {
                    held.remove(holder);
                }
            }
        }
    }
}

/// One reserved message. Settle it with [`crate::KeyService::settle`]; dropping it releases the
/// reservation without recording usage.
#[derive(Debug)]
pub struct Reservation {
    pub(crate) org_id: OrgId,
    pub(crate) chatbot_id: Option<ChatbotId>,
    pub(crate) api_key_id: Option<ApiKeyId>,
    pub(crate) held: Vec<Holder>,
    pub(crate) tokens: u64,
    pub(crate) in_flight: InFlight,
}

impl Reservation {
    pub(crate) fn release(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.in_flight.release(&held, self.tokens);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

/// What a settled request used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportedUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

impl ReportedUsage {
    pub(crate) fn as_totals(self) -> UsageTotals {
        UsageTotals {
            requests: 1,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            embedded_tokens: 0,
        }
    }
}
