//! The identity ports over sea-orm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_identity::{
    DisplayName, PasswordReset, PasswordResetRepo, Session, SessionRepo, User, UserRepo,
};
use docent_kernel::{Email, PasswordResetId, SessionId, StoreError, TokenHash, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    Set,
};

use super::entity::{password_resets, sessions, users};
use super::{SqlStore, corrupt, store_error, stored_hash, write_transaction};

pub(crate) fn user_from_model(model: users::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(model.id),
        email: Email::parse(&model.email).map_err(|e| corrupt("users.email", e))?,
        name: DisplayName::parse(&model.name).map_err(|e| corrupt("users.name", e))?,
        created_at: model.created_at,
        disabled_at: model.disabled_at,
    })
}

fn session_from_model(model: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(model.id),
        user_id: UserId::from_uuid(model.user_id),
        created_at: model.created_at,
        expires_at: model.expires_at,
        last_seen_at: model.last_seen_at,
        revoked_at: model.revoked_at,
        user_agent: model.user_agent,
        client_addr: model.client_addr,
    }
}

fn reset_from_model(model: password_resets::Model) -> PasswordReset {
    PasswordReset {
        id: PasswordResetId::from_uuid(model.id),
        user_id: UserId::from_uuid(model.user_id),
        created_at: model.created_at,
        expires_at: model.expires_at,
    }
}

/// Revokes the sessions of `user` except `keep`, inside the caller's transaction.
async fn revoke_sessions<C: sea_orm::ConnectionTrait>(
    conn: &C,
    user: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let mut update = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(user.as_uuid()))
        .filter(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(sessions::Column::Id.ne(keep.as_uuid()));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Marks every unused reset of `user` used, inside the caller's transaction.
async fn invalidate_resets<C: sea_orm::ConnectionTrait>(
    conn: &C,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    password_resets::Entity::update_many()
        .col_expr(password_resets::Column::UsedAt, Expr::value(now))
        .filter(password_resets::Column::UserId.eq(user.as_uuid()))
        .filter(password_resets::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl UserRepo for SqlStore {
    async fn insert(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        users::ActiveModel {
            id: Set(user.id.as_uuid()),
            email: Set(user.email.as_str().to_owned()),
            name: Set(user.name.as_str().to_owned()),
            password_hash: Set(password_hash.to_owned()),
            created_at: Set(user.created_at),
            updated_at: Set(user.created_at),
            disabled_at: Set(user.disabled_at),
        }
        .insert(&self.db)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<(User, String)>, StoreError> {
        let model = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        model
            .map(|m| {
                let hash = m.password_hash.clone();
                user_from_model(m).map(|u| (u, hash))
            })
            .transpose()
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(user_from_model)
            .transpose()
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StoreError> {
        Ok(users::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(|m| m.password_hash))
    }

    async fn update_name(&self, id: UserId, name: &DisplayName) -> Result<User, StoreError> {
        // A signed-in user's name travels with the verified session: the change invalidates it.
        let txn = write_transaction(&self.db).await?;
        let model = users::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await
            .map_err(store_error)?
            .ok_or(StoreError::NotFound)?;
        let mut active: users::ActiveModel = model.into();
        active.name = Set(name.as_str().to_owned());
        active.updated_at = Set(Utc::now());
        let saved = active.update(&txn).await.map_err(store_error)?;
        self.commit_auth_change(txn).await?;
        user_from_model(saved)
    }

    async fn set_disabled(&self, id: UserId, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::DisabledAt, Expr::value(at))
            .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if updated.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(at) = at {
            revoke_sessions(&txn, id, None, at)
                .await
                .map_err(store_error)?;
        }
        self.commit_auth_change(txn).await
    }

    async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if updated.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        revoke_sessions(&txn, id, keep, now)
            .await
            .map_err(store_error)?;
        invalidate_resets(&txn, id, now)
            .await
            .map_err(store_error)?;
        self.commit_auth_change(txn).await
    }
}

#[async_trait]
impl SessionRepo for SqlStore {
    async fn insert(&self, session: &Session, token: &TokenHash) -> Result<(), StoreError> {
        sessions::ActiveModel {
            id: Set(session.id.as_uuid()),
            user_id: Set(session.user_id.as_uuid()),
            token_hash: Set(token.to_hex()),
            created_at: Set(session.created_at),
            expires_at: Set(session.expires_at),
            last_seen_at: Set(session.last_seen_at),
            revoked_at: Set(session.revoked_at),
            user_agent: Set(session.user_agent.clone()),
            client_addr: Set(session.client_addr.clone()),
        }
        .insert(&self.db)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_active(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        if let Some(found) = self.auth.session(token, now) {
            return Ok(Some(found));
        }
        let generation = self.auth.generation();
        let found = sessions::Entity::find()
            .find_also_related(users::Entity)
            .filter(sessions::Column::TokenHash.eq(token.to_hex()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .filter(users::Column::DisabledAt.is_null())
            .one(&self.db)
            .await
            .map_err(store_error)?;
        let Some((session, Some(user))) = found else {
            return Ok(None);
        };
        // The lookup is by hash through a unique index; comparing the stored hash once more in
        // constant time keeps the check independent of how the database compares strings.
        let stored = stored_hash("sessions.token_hash", &session.token_hash)?;
        if &stored != token {
            return Ok(None);
        }
        let found = (session_from_model(session), user_from_model(user)?);
        if let Some(generation) = generation {
            self.auth.put_session(generation, token, found.clone());
        }
        Ok(Some(found))
    }

    async fn touch(&self, id: SessionId, now: DateTime<Utc>) -> Result<(), StoreError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        self.auth.touch_session(id, now);
        Ok(())
    }

    async fn list_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .order_by_asc(sessions::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(session_from_model)
            .collect())
    }

    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::UserId.eq(user.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        self.commit_auth_change_if(txn, result.rows_affected > 0)
            .await?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_all(&self, user: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::UserId.eq(user.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        self.commit_auth_change_if(txn, result.rows_affected > 0)
            .await?;
        Ok(result.rows_affected)
    }
}

#[async_trait]
impl PasswordResetRepo for SqlStore {
    async fn replace(&self, reset: &PasswordReset, token: &TokenHash) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        invalidate_resets(&txn, reset.user_id, reset.created_at)
            .await
            .map_err(store_error)?;
        password_resets::ActiveModel {
            id: Set(reset.id.as_uuid()),
            user_id: Set(reset.user_id.as_uuid()),
            token_hash: Set(token.to_hex()),
            created_at: Set(reset.created_at),
            expires_at: Set(reset.expires_at),
            used_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    async fn latest_request(&self, user: UserId) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(password_resets::Entity::find()
            .filter(password_resets::Column::UserId.eq(user.as_uuid()))
            .order_by_desc(password_resets::Column::CreatedAt)
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(|m| m.created_at))
    }

    async fn find_valid(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<PasswordReset>, StoreError> {
        let found = password_resets::Entity::find()
            .filter(password_resets::Column::TokenHash.eq(token.to_hex()))
            .filter(password_resets::Column::UsedAt.is_null())
            .filter(password_resets::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        match found {
            Some(model)
                if &stored_hash("password_resets.token_hash", &model.token_hash)? == token =>
            {
                Ok(Some(reset_from_model(model)))
            }
            _ => Ok(None),
        }
    }

    async fn complete(
        &self,
        reset: &PasswordReset,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        // Claiming the reset first, conditionally, makes a concurrent second use see zero rows.
        let claimed = password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(now))
            .filter(password_resets::Column::Id.eq(reset.id.as_uuid()))
            .filter(password_resets::Column::UsedAt.is_null())
            .filter(password_resets::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if claimed.rows_affected != 1 {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(reset.user_id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        revoke_sessions(&txn, reset.user_id, None, now)
            .await
            .map_err(store_error)?;
        invalidate_resets(&txn, reset.user_id, now)
            .await
            .map_err(store_error)?;
        self.commit_auth_change(txn).await?;
        Ok(true)
    }
}
