//! The usage ledger over sea-orm: additive upserts and grouped sums.

use async_trait::async_trait;
use docent_kernel::{ApiKeyId, OrgId, StoreError};
use docent_keys::{
    DayRange, UsageDelta, UsageFilter, UsageGroup, UsageLedger, UsageRow, UsageTotals,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, FromQueryResult, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select, Set,
};
use uuid::Uuid;

use super::entity::usage_daily::{self, Column};
use super::scope::OrgScoped as _;
use super::{SqlStore, store_error};

const DAY_FORMAT: &str = "%Y-%m-%d";

fn stored(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn counted(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// `CAST(SUM(column) AS BIGINT)`: PostgreSQL sums BIGINTs into NUMERIC otherwise.
fn sum(column: Column) -> SimpleExpr {
    Expr::expr(Func::sum(Expr::col(column))).cast_as(Alias::new("BIGINT"))
}

#[derive(Debug, FromQueryResult)]
struct SumRow {
    group_key: Option<String>,
    requests: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    embedded_tokens: Option<i64>,
}

impl SumRow {
    fn totals(&self) -> UsageTotals {
        UsageTotals {
            requests: counted(self.requests),
            prompt_tokens: counted(self.prompt_tokens),
            completion_tokens: counted(self.completion_tokens),
            embedded_tokens: counted(self.embedded_tokens),
        }
    }
}

/// The rows of `org` (and one key) within `range`: the ledger's tenant filter.
fn rows(org: OrgId, filter: &UsageFilter, range: &DayRange) -> Select<usage_daily::Entity> {
    let mut query = usage_daily::Entity::of(org)
        .filter(Column::Day.gte(range.from().format(DAY_FORMAT).to_string()))
        .filter(Column::Day.lte(range.to().format(DAY_FORMAT).to_string()));
    if let Some(key) = filter.key {
        query = query.filter(Column::ApiKeyId.eq(key.as_uuid()));
    }
    if let Some(chatbot) = filter.chatbot {
        query = query.filter(Column::ChatbotId.eq(chatbot.as_uuid()));
    }
    query
}

fn with_sums(query: Select<usage_daily::Entity>) -> Select<usage_daily::Entity> {
    query
        .expr_as(sum(Column::Requests), "requests")
        .expr_as(sum(Column::PromptTokens), "prompt_tokens")
        .expr_as(sum(Column::CompletionTokens), "completion_tokens")
        .expr_as(sum(Column::EmbeddedTokens), "embedded_tokens")
}

#[async_trait]
impl UsageLedger for SqlStore {
    async fn add(&self, delta: &UsageDelta) -> Result<(), StoreError> {
        let row = usage_daily::ActiveModel {
            org_id: Set(delta.org_id.as_uuid()),
            day: Set(delta.day.format(DAY_FORMAT).to_string()),
            chatbot_id: Set(delta.chatbot_id.map_or(Uuid::nil(), |c| c.as_uuid())),
            api_key_id: Set(delta.api_key_id.map_or(Uuid::nil(), |k| k.as_uuid())),
            requests: Set(stored(delta.requests)),
            prompt_tokens: Set(stored(delta.prompt_tokens)),
            completion_tokens: Set(stored(delta.completion_tokens)),
            embedded_tokens: Set(stored(delta.embedded_tokens)),
        };
        // One statement: concurrent additions to the same row cannot lose each other.
        let add = |column: Column, name: &str| {
            (
                column,
                Expr::col((usage_daily::Entity, column))
                    .add(Expr::cust(format!("excluded.{name}"))),
            )
        };
        let on_conflict = OnConflict::columns([
            Column::OrgId,
            Column::Day,
            Column::ChatbotId,
            Column::ApiKeyId,
        ])
        .values([
            add(Column::Requests, "requests"),
            add(Column::PromptTokens, "prompt_tokens"),
            add(Column::CompletionTokens, "completion_tokens"),
            add(Column::EmbeddedTokens, "embedded_tokens"),
        ])
        .to_owned();
        usage_daily::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn totals(
        &self,
        org: OrgId,
        key: Option<ApiKeyId>,
        range: &DayRange,
    ) -> Result<UsageTotals, StoreError> {
        let filter = UsageFilter { key, chatbot: None };
        let row = with_sums(rows(org, &filter, range).select_only())
            .expr_as(Expr::val(Option::<String>::None), "group_key")
            .into_model::<SumRow>()
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(row.map(|r| r.totals()).unwrap_or_default())
    }

    async fn report(
        &self,
        org: OrgId,
        filter: &UsageFilter,
        range: &DayRange,
        group: UsageGroup,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let column = match group {
            UsageGroup::Day => Column::Day,
            UsageGroup::Chatbot => Column::ChatbotId,
            UsageGroup::ApiKey => Column::ApiKeyId,
        };
        let query = with_sums(rows(org, filter, range).select_only())
            .column_as(column, "group_key")
            .group_by(column)
            .order_by_asc(column);
        let rows = match group {
            UsageGroup::Day => query.into_model::<SumRow>().all(&self.db).await,
            // Ids are read as UUIDs (stored as BLOB on SQLite, uuid on PostgreSQL), then printed.
            UsageGroup::Chatbot | UsageGroup::ApiKey => {
                return id_report(&self.db, query).await;
            }
        }
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| UsageRow {
                totals: r.totals(),
                group: r.group_key,
            })
            .collect())
    }
}

#[derive(Debug, FromQueryResult)]
struct IdSumRow {
    group_key: Uuid,
    requests: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    embedded_tokens: Option<i64>,
}

async fn id_report(
    db: &sea_orm::DatabaseConnection,
    query: Select<usage_daily::Entity>,
) -> Result<Vec<UsageRow>, StoreError> {
    let rows = query
        .into_model::<IdSumRow>()
        .all(db)
        .await
        .map_err(store_error)?;
    Ok(rows
        .into_iter()
        .map(|r| UsageRow {
            group: (!r.group_key.is_nil()).then(|| r.group_key.to_string()),
            totals: SumRow {
                group_key: None,
                requests: r.requests,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                embedded_tokens: r.embedded_tokens,
            }
            .totals(),
        })
        .collect())
}
