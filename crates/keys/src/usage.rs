//! Usage: the daily ledger per organization, chatbot and key, the report over it, and the monthly
//! quota check that runs before a model call (reserve, then settle with the reported usage).

use chrono::{Datelike as _, NaiveDate};
use docent_kernel::{ApiKeyId, ChatbotId, OrgId};

/// What one request used, added to the ledger of its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageDelta {
    /// The organization.
    pub org_id: OrgId,
    /// The UTC day.
    pub day: NaiveDate,
    /// The chatbot, if the usage was a chat.
    pub chatbot_id: Option<ChatbotId>,
    /// The key, if a key made the request.
    pub api_key_id: Option<ApiKeyId>,
    /// Requests (chat messages).
    pub requests: u64,
    /// Prompt tokens reported by the model provider.
    pub prompt_tokens: u64,
    /// Completion tokens reported by the model provider.
    pub completion_tokens: u64,
    /// Tokens embedded (ingestion and queries).
    pub embedded_tokens: u64,
}

/// Which part of an organization's usage a report covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// Only what this key did.
    pub key: Option<ApiKeyId>,
    /// Only this chatbot's chats.
    pub chatbot: Option<ChatbotId>,
}

impl UsageFilter {
    /// One key's usage.
    #[must_use]
    pub const fn key(key: ApiKeyId) -> Self {
        Self {
            key: Some(key),
            chatbot: None,
        }
    }
}

/// Summed usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// Requests.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Embedded tokens.
    pub embedded_tokens: u64,
}

impl UsageTotals {
    /// Prompt plus completion tokens: what a token quota counts.
    #[must_use]
    pub const fn model_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// How a usage report is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    /// One row per day.
    Day,
    /// One row per chatbot (`None` for usage outside chatbots).
    Chatbot,
    /// One row per key (`None` for usage by signed-in users).
    ApiKey,
}

/// One row of a usage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The day, chatbot id or key id of the row; `None` for "no chatbot" or "no key".
    pub group: Option<String>,
    /// The sums.
    pub totals: UsageTotals,
}

/// A validated, inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl DayRange {
    /// The longest range a report may span.
    pub const MAX_DAYS: i64 = 366;

    /// Checks `from <= to` and the length.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, &'static str> {
        if from > to {
            return Err("`from` is after `to`");
        }
        if (to - from).num_days() >= Self::MAX_DAYS {
            return Err("a range spans at most 366 days");
        }
        Ok(Self { from, to })
    }

    /// The calendar month (UTC) that contains `day`, up to `day`.
    #[must_use]
    pub fn month_to_date(day: NaiveDate) -> Self {
        Self {
            from: day.with_day(1).unwrap_or(day),
            to: day,
        }
    }

    /// The first day.
    #[must_use]
    pub const fn from(&self) -> NaiveDate {
        self.from
    }

    /// The last day.
    #[must_use]
    pub const fn to(&self) -> NaiveDate {
        self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_bounded_and_ordered() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(DayRange::new(day("2026-01-02"), day("2026-01-01")).is_err());
        // 367 days inclusive is too long; 366 is the most.
        assert!(DayRange::new(day("2024-12-31"), day("2026-01-01")).is_err());
        assert!(DayRange::new(day("2025-01-01"), day("2026-01-01")).is_ok());
        let month = DayRange::month_to_date(day("2026-11-26"));
        assert_eq!(
            (month.from(), month.to()),
            (day("2026-11-01"), day("2026-11-26"))
        );
    }
}
