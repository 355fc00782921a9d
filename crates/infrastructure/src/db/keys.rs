//! The API-key port over sea-orm.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{ApiKeyId, ChatbotId, OrgId, PageRequest, StoreError, TokenHash, UserId};
use docent_keys::{ApiKey, ApiKeyRepo, KeySettings, Scope};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, EntityTrait as _, JoinType, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, RelationTrait as _, Set,
};

use super::entity::{api_keys, memberships, organizations, users};
use super::scope::OrgScoped as _;
use super::{SqlStore, corrupt, store_error, stored_hash, write_transaction};

fn key_from(model: api_keys::Model) -> Result<ApiKey, StoreError> {
    let scopes = model
        .scopes
        .split_whitespace()
        .map(|s| Scope::parse(s).ok_or_else(|| corrupt("api_keys.scopes", s)))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let chatbot_ids = model
        .chatbot_ids
        .map(|ids| {
            ids.split_whitespace()
                .map(|id| {
                    id.parse::<ChatbotId>()
                        .map_err(|e| corrupt("api_keys.chatbot_ids", e))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(model.id),
        org_id: OrgId::from_uuid(model.org_id),
        created_by: UserId::from_uuid(model.created_by),
        prefix: model.prefix,
        last4: model.last4,
        settings: KeySettings {
            name: model.name,
            scopes,
            chatbot_ids,
            expires_at: model.expires_at,
            rate_limit_per_minute: model
                .rate_limit_per_minute
                .and_then(|v| u32::try_from(v).ok()),
            monthly_message_quota: positive(model.monthly_message_quota),
            monthly_token_quota: positive(model.monthly_token_quota),
            allowed_origins: model
                .allowed_origins
                .map(|o| o.split(' ').map(str::to_owned).collect()),
        },
        created_at: model.created_at,
        revoked_at: model.revoked_at,
        last_used_at: model.last_used_at,
    })
}

fn stored_i64(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

#[async_trait]
impl ApiKeyRepo for SqlStore {
    async fn insert(&self, key: &ApiKey, hash: &TokenHash) -> Result<(), StoreError> {
        let settings = &key.settings;
        api_keys::ActiveModel {
            id: Set(key.id.as_uuid()),
            org_id: Set(key.org_id.as_uuid()),
            created_by: Set(key.created_by.as_uuid()),
            name: Set(settings.name.clone()),
            prefix: Set(key.prefix.clone()),
            last4: Set(key.last4.clone()),
            token_hash: Set(hash.to_hex()),
            scopes: Set(settings
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")),
            chatbot_ids: Set(settings.chatbot_ids.as_ref().map(|ids| {
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            })),
            expires_at: Set(settings.expires_at),
            rate_limit_per_minute: Set(settings
                .rate_limit_per_minute
                .map(|v| i32::try_from(v).unwrap_or(i32::MAX))),
            monthly_message_quota: Set(stored_i64(settings.monthly_message_quota)),
            monthly_token_quota: Set(stored_i64(settings.monthly_token_quota)),
            created_at: Set(key.created_at),
            revoked_at: Set(key.revoked_at),
            last_used_at: Set(key.last_used_at),
            allowed_origins: Set(settings.allowed_origins.as_ref().map(|o| o.join(" "))),
        }
        .insert(&self.db)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<ApiKey>, StoreError> {
        let mut query = api_keys::Entity::of(org);
        if let Some(after) = page.after() {
            query = query.filter(api_keys::Column::Id.gt(after));
        }
        query
            .order_by_asc(api_keys::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(key_from)
            .collect()
    }

    async fn get(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        api_keys::Entity::of(org)
            .filter(api_keys::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(key_from)
            .transpose()
    }

    async fn revoke(
        &self,
        org: OrgId,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let result = api_keys::Entity::update_of(org)
            .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
            .filter(api_keys::Column::Id.eq(id.as_uuid()))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        self.commit_auth_change_if(txn, result.rows_affected > 0)
            .await?;
        Ok(result.rows_affected == 1)
    }

    async fn find_usable(&self, hash: &TokenHash) -> Result<Option<ApiKey>, StoreError> {
        if let Some(key) = self.auth.key(hash) {
            return Ok(Some(key));
        }
        let generation = self.auth.generation();
        // One query: the key, its organization (not deleted), its creator (not disabled) and the
        // creator's membership (still in the organization).
        let found = api_keys::Entity::find()
            .join(JoinType::InnerJoin, api_keys::Relation::Organization.def())
            .join(JoinType::InnerJoin, api_keys::Relation::Creator.def())
            .join(
                JoinType::InnerJoin,
                api_keys::Relation::CreatorMembership.def(),
            )
            .filter(api_keys::Column::TokenHash.eq(hash.to_hex()))
            .filter(organizations::Column::DeletedAt.is_null())
            .filter(users::Column::DisabledAt.is_null())
            .filter(memberships::Column::UserId.is_not_null())
            .one(&self.db)
            .await
            .map_err(store_error)?;
        let Some(model) = found else {
            return Ok(None);
        };
        if &stored_hash("api_keys.token_hash", &model.token_hash)? != hash {
            return Ok(None);
        }
        let key = key_from(model)?;
        if let Some(generation) = generation {
            self.auth.put_key(generation, hash, key.clone());
        }
        Ok(Some(key))
    }

    async fn touch(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(now))
            .filter(api_keys::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        self.auth.touch_key(id, now);
        Ok(())
    }
}
