//! `/v1/orgs/{org_id}/usage` and `/v1/orgs/{org_id}/api-keys/{key_id}/usage`: the usage ledger.

use chrono::NaiveDate;
use docent_app::Need;
use docent_kernel::ApiKeyId;
use docent_keys::{DayRange, UsageFilter, UsageGroup, UsageRow};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The usage endpoints.
#[derive(Debug, Clone)]
pub(crate) struct UsageApi {
    state: ApiState,
}

impl UsageApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum GroupBy {
    /// One row per UTC day.
    Day,
    /// One row per chatbot (`group` is `null` for usage outside chatbots).
    Chatbot,
    /// One row per API key (`group` is `null` for usage by signed-in users).
    ApiKey,
}

impl From<GroupBy> for UsageGroup {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Day => Self::Day,
            GroupBy::Chatbot => Self::Chatbot,
            GroupBy::ApiKey => Self::ApiKey,
        }
    }
}

/// One row of a usage report.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UsageRowDto {
    /// The day (`YYYY-MM-DD`), chatbot id or key id; `null` for "no chatbot" or "no key".
    pub group: Option<String>,
    /// Requests (chat messages).
    pub requests: u64,
    /// Prompt tokens as reported by the model provider.
    pub prompt_tokens: u64,
    /// Completion tokens as reported by the model provider.
    pub completion_tokens: u64,
    /// Tokens embedded.
    pub embedded_tokens: u64,
}

impl From<&UsageRow> for UsageRowDto {
    fn from(r: &UsageRow) -> Self {
        Self {
            group: r.group.clone(),
            requests: r.totals.requests,
            prompt_tokens: r.totals.prompt_tokens,
            completion_tokens: r.totals.completion_tokens,
            embedded_tokens: r.totals.embedded_tokens,
        }
    }
}

/// A usage report.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UsageReport {
    /// The first day covered (UTC).
    pub from: NaiveDate,
    /// The last day covered (UTC).
    pub to: NaiveDate,
    /// How rows are grouped.
    pub group_by: GroupBy,
    /// The rows, ordered by group.
    pub items: Vec<UsageRowDto>,
}

fn report(range: DayRange, group_by: GroupBy, rows: &[UsageRow]) -> UsageReport {
    UsageReport {
        from: range.from(),
        to: range.to(),
        group_by,
        items: rows.iter().map(UsageRowDto::from).collect(),
    }
}

fn range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Option<(NaiveDate, NaiveDate)>, ApiError> {
    match (from, to) {
        (Some(from), Some(to)) => Ok(Some((from, to))),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(ApiError::new(
            poem::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_range",
            "give both `from` and `to`, or neither for the current month",
        )),
    }
}

#[OpenApi(tag = "ApiTags::Usage")]
impl UsageApi {
    /// Get the organization's usage
    ///
    /// Sums from the usage ledger over `from`..=`to` (UTC days, at most 366; default: this month
    /// so far). Members of any role, or an API key with the `usage:read` scope.
    #[oai(
        path = "/v1/orgs/:org_id/usage",
        method = "get",
        operation_id = "usage_get"
    )]
    async fn org_usage(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// The first day, `YYYY-MM-DD`.
        from: Query<Option<NaiveDate>>,
        /// The last day, `YYYY-MM-DD`.
        to: Query<Option<NaiveDate>>,
        /// `day` (default), `chatbot` or `api_key`.
        group_by: Query<Option<GroupBy>>,
    ) -> Result<Json<UsageReport>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::UsageRead).await?;
        let group_by = group_by.0.unwrap_or(GroupBy::Day);
        let (range, rows) = self
            .state
            .keys()?
            .usage_report(
                tenant.ctx(),
                UsageFilter::default(),
                range(from.0, to.0)?,
                group_by.into(),
            )
            .await?;
        Ok(Json(report(range, group_by, &rows)))
    }

    /// Get an API key's usage
    ///
    /// Like the organization's usage, for one key. Owners and admins, with a user session.
    #[oai(
        path = "/v1/orgs/:org_id/api-keys/:key_id/usage",
        method = "get",
        operation_id = "api_key_usage_get"
    )]
    async fn key_usage(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        key_id: Path<Uuid>,
        /// The first day, `YYYY-MM-DD`.
        from: Query<Option<NaiveDate>>,
        /// The last day, `YYYY-MM-DD`.
        to: Query<Option<NaiveDate>>,
        /// `day` (default), `chatbot` or `api_key`.
        group_by: Query<Option<GroupBy>>,
    ) -> Result<Json<UsageReport>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Keys).await?;
        let access = &tenant.member()?.access;
        let group_by = group_by.0.unwrap_or(GroupBy::Day);
        let (range, rows) = self
            .state
            .keys()?
            .usage_report(
                &access.tenant,
                UsageFilter::key(ApiKeyId::from_uuid(key_id.0)),
                range(from.0, to.0)?,
                group_by.into(),
            )
            .await?;
        Ok(Json(report(range, group_by, &rows)))
    }
}
