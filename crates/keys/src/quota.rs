//! Monthly quotas, checked before a model call: a request reserves one message and its estimated
//! tokens against the key's remaining allowance, then settles with the usage the provider reported
//! (written to the ledger). Reservations in flight count against the allowance, so concurrent
//! requests cannot overshoot it together; a reservation dropped without settling is released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use docent_kernel::{ApiKeyId, ChatbotId, OrgId};

use crate::usage::UsageTotals;

/// Messages and tokens held by reservations in flight, per key.
#[derive(Debug, Default, Clone)]
pub(crate) struct InFlight(Arc<Mutex<HashMap<ApiKeyId, (u64, u64)>>>);

impl InFlight {
    /// Reserves `tokens` and one message for `key` if `fits` says the total still fits.
    pub(crate) fn try_reserve(
        &self,
        key: ApiKeyId,
        tokens: u64,
        fits: impl FnOnce(u64, u64) -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = held.entry(key).or_insert((0, 0));
        fits(entry.0, entry.1)?;
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(tokens);
        Ok(())
    }

    fn release(&self, key: ApiKeyId, tokens: u64) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = held.get_mut(&key) {
            entry.0 = entry.0.saturating_sub(1);
            entry.1 = entry.1.saturating_sub(tokens);
            if *entry == (0, 0) {
                held.remove(&key);
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
    pub(crate) key: Option<(ApiKeyId, u64, InFlight)>,
}

impl Reservation {
    pub(crate) fn release(&mut self) {
        if let Some((key, tokens, in_flight)) = self.key.take() {
            in_flight.release(key, tokens);
        }
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
