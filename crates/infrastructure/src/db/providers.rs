//! Provider connections over sea-orm. Every query of one organization's connections starts from
//! the tenant filter ([`OrgScoped`]); the sealed key leaves this module only through the port's
//! sealed-key methods.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use docent_kernel::{OrgId, PageRequest, ProviderId, StoreError};
use docent_providers::{Provider, ProviderKind, ProviderRepo, SealedKey};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Set,
};

use super::entity::providers::{self, Column};
use super::scope::OrgScoped as _;
use super::{SqlStore, corrupt, store_error};

fn provider_from(model: providers::Model) -> Result<Provider, StoreError> {
    Ok(Provider {
        id: ProviderId::from_uuid(model.id),
        org_id: OrgId::from_uuid(model.org_id),
        name: model.name,
        kind: ProviderKind::parse(&model.kind)
            .ok_or_else(|| corrupt("providers.kind", &model.kind))?,
        base_url: model.base_url,
        default_model: model.default_model,
        api_version: model.api_version,
        api_key_last4: model.api_key_last4,
        timeout_secs: u32::try_from(model.timeout_secs).unwrap_or(60),
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn sealed_from(
    key_id: Option<String>,
    sealed: Option<String>,
) -> Result<Option<SealedKey>, StoreError> {
    match (key_id, sealed) {
        (Some(key_id), Some(sealed)) => Ok(Some(SealedKey {
            key_id,
            ciphertext: STANDARD
                .decode(sealed)
                .map_err(|e| corrupt("providers.api_key_sealed", e))?,
        })),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(corrupt(
            "providers.api_key_sealed",
            "key id without key or key without id",
        )),
    }
}

fn stored_timeout(timeout: u32) -> i32 {
    i32::try_from(timeout).unwrap_or(i32::MAX)
}

#[async_trait]
impl ProviderRepo for SqlStore {
    async fn insert(&self, provider: &Provider, key: Option<&SealedKey>) -> Result<(), StoreError> {
        providers::Entity::insert(providers::ActiveModel {
            id: Set(provider.id.as_uuid()),
            org_id: Set(provider.org_id.as_uuid()),
            name: Set(provider.name.clone()),
            kind: Set(provider.kind.as_str().to_owned()),
            base_url: Set(provider.base_url.clone()),
            default_model: Set(provider.default_model.clone()),
            api_version: Set(provider.api_version.clone()),
            timeout_secs: Set(stored_timeout(provider.timeout_secs)),
            api_key_last4: Set(provider.api_key_last4.clone()),
            api_key_key_id: Set(key.map(|k| k.key_id.clone())),
            api_key_sealed: Set(key.map(|k| STANDARD.encode(&k.ciphertext))),
            created_at: Set(provider.created_at),
            updated_at: Set(provider.updated_at),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, org: OrgId, id: ProviderId) -> Result<Option<Provider>, StoreError> {
        providers::Entity::of(org)
            .filter(Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(provider_from)
            .transpose()
    }

    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<Provider>, StoreError> {
        let mut query = providers::Entity::of(org);
        if let Some(after) = page.after() {
            query = query.filter(Column::Id.gt(after));
        }
        query
            .order_by_asc(Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(provider_from)
            .collect()
    }

    async fn update(
        &self,
        provider: &Provider,
        key: Option<Option<&SealedKey>>,
    ) -> Result<bool, StoreError> {
        let mut update = providers::Entity::update_of(provider.org_id)
            .filter(Column::Id.eq(provider.id.as_uuid()))
            .col_expr(Column::Name, Expr::value(provider.name.clone()))
            .col_expr(Column::BaseUrl, Expr::value(provider.base_url.clone()))
            .col_expr(
                Column::DefaultModel,
                Expr::value(provider.default_model.clone()),
            )
            .col_expr(
                Column::ApiVersion,
                Expr::value(provider.api_version.clone()),
            )
            .col_expr(
                Column::TimeoutSecs,
                Expr::value(stored_timeout(provider.timeout_secs)),
            )
            .col_expr(
                Column::ApiKeyLast4,
                Expr::value(provider.api_key_last4.clone()),
            )
            .col_expr(Column::UpdatedAt, Expr::value(provider.updated_at));
        if let Some(key) = key {
            update = update
                .col_expr(
                    Column::ApiKeyKeyId,
                    Expr::value(key.map(|k| k.key_id.clone())),
                )
                .col_expr(
                    Column::ApiKeySealed,
                    Expr::value(key.map(|k| STANDARD.encode(&k.ciphertext))),
                );
        }
        let result = update.exec(&self.db).await.map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete(&self, org: OrgId, id: ProviderId) -> Result<bool, StoreError> {
        let result = providers::Entity::delete_of(org)
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn sealed_key(
        &self,
        org: OrgId,
        id: ProviderId,
    ) -> Result<Option<SealedKey>, StoreError> {
        let Some(model) = providers::Entity::of(org)
            .filter(Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        sealed_from(model.api_key_key_id, model.api_key_sealed)
    }

    async fn sealed_keys(
        &self,
        after: Option<ProviderId>,
        limit: u64,
    ) -> Result<Vec<(OrgId, ProviderId, SealedKey)>, StoreError> {
        // Every organization's: only the master-key rotation reads this.
        let mut query = providers::Entity::find().filter(Column::ApiKeySealed.is_not_null());
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after.as_uuid()));
        }
        let rows = query
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(sealed) = sealed_from(row.api_key_key_id, row.api_key_sealed)? {
                keys.push((
                    OrgId::from_uuid(row.org_id),
                    ProviderId::from_uuid(row.id),
                    sealed,
                ));
            }
        }
        Ok(keys)
    }

    async fn replace_sealed_key(
        &self,
        org: OrgId,
        id: ProviderId,
        expected: &SealedKey,
        key: &SealedKey,
    ) -> Result<bool, StoreError> {
        let result = providers::Entity::update_of(org)
            .filter(Column::Id.eq(id.as_uuid()))
            .col_expr(Column::ApiKeyKeyId, Expr::value(key.key_id.clone()))
            .col_expr(
                Column::ApiKeySealed,
                Expr::value(STANDARD.encode(&key.ciphertext)),
            )
            .filter(Column::ApiKeySealed.eq(STANDARD.encode(&expected.ciphertext)))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }
}
