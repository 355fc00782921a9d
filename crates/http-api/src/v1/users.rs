//! `/v1/users/me`: the signed-in user.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::auth::UserDto;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The user endpoints.
#[derive(Debug, Clone)]
pub(crate) struct UsersApi {
    state: ApiState,
}

impl UsersApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// Changes to the signed-in user's profile; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UpdateMeRequest {
    /// A new display name (1–100 characters).
    #[oai(validator(max_length = 400))]
    pub name: Option<String>,
}

#[OpenApi(prefix_path = "/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// Get the signed-in user
    #[oai(path = "/me", method = "get", operation_id = "user_me_get")]
    async fn me(&self, auth: Auth) -> Result<Json<UserDto>, ApiError> {
        let principal = self.state.principal(&auth).await?;
        Ok(Json(UserDto::from(&principal.user)))
    }

    /// Update the signed-in user
    ///
    /// Changes the display name. The e-mail address cannot be changed here.
    #[oai(path = "/me", method = "patch", operation_id = "user_me_update")]
    async fn update_me(
        &self,
        auth: Auth,
        body: Json<UpdateMeRequest>,
    ) -> Result<Json<UserDto>, ApiError> {
        let principal = self.state.principal(&auth).await?;
        let user = self
            .state
            .identity()?
            .update_profile(&principal, body.0.name.as_deref())
            .await?;
        Ok(Json(UserDto::from(&user)))
    }
}
