//! `/v1/auth`: sign-up, sign-in, sign-out, sessions, password change and reset.

use chrono::{DateTime, Utc};
use docent_identity::{IssuedSession, NewSessionInfo, Session, User};
use docent_kernel::{ExposeSecret as _, SecretString, SessionId};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Password;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::middleware::ClientInfo;
use crate::state::ApiState;

/// The auth endpoints.
#[derive(Debug, Clone)]
pub(crate) struct AuthApi {
    state: ApiState,
}

impl AuthApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// A user as others may see it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UserDto {
    /// The user's id.
    pub id: Uuid,
    /// The normalized (lower-case) e-mail address.
    pub email: String,
    /// The display name.
    pub name: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserDto {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            created_at: user.created_at,
        }
    }
}

/// A new session's bearer token.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionTokenDto {
    /// Send as `Authorization: Bearer <token>`. Shown only here.
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

/// The answer to sign-up and login.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AuthResponse {
    /// The signed-in user.
    pub user: UserDto,
    /// The new session.
    pub session: SessionTokenDto,
}

fn auth_response(user: &User, issued: &IssuedSession) -> AuthResponse {
    AuthResponse {
        user: UserDto::from(user),
        session: SessionTokenDto {
            token: issued.token.expose_secret().to_owned(),
            expires_at: issued.session.expires_at,
        },
    }
}

/// Sign-up details.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SignupRequest {
    /// The e-mail address; compared case-insensitively.
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// At least 10 characters from at least two classes (lower-case, upper-case, digits, other),
    /// not a common password, not containing the e-mail address.
    #[oai(validator(max_length = 1024))]
    pub password: Password,
    /// The display name (1–100 characters).
    #[oai(validator(max_length = 400))]
    pub name: String,
}

/// Login details.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct LoginRequest {
    /// The e-mail address.
    #[oai(validator(max_length = 1024))]
    pub email: String,
    /// The password.
    #[oai(validator(max_length = 1024))]
    pub password: Password,
}

/// Where to send a reset link.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PasswordResetRequest {
    /// The account's e-mail address.
    #[oai(validator(max_length = 1024))]
    pub email: String,
}

/// A reset token and the new password.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PasswordResetConfirm {
    /// The token from the reset e-mail.
    #[oai(validator(max_length = 1024))]
    pub token: Password,
    /// The new password (same policy as sign-up).
    #[oai(validator(max_length = 1024))]
    pub password: Password,
}

/// A password change.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChangePasswordRequest {
    /// The current password.
    #[oai(validator(max_length = 1024))]
    pub current_password: Password,
    /// The new password (same policy as sign-up).
    #[oai(validator(max_length = 1024))]
    pub new_password: Password,
}

/// The acknowledgement of a reset request; the same whether or not the account exists.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct Accepted {
    /// Always `accepted`.
    pub status: String,
}

/// A session of the signed-in user.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionDto {
    /// The session's id (not a credential).
    pub id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// The user agent that created it.
    pub user_agent: Option<String>,
    /// The client address that created it.
    pub client_addr: Option<String>,
    /// Whether this is the session of the current request.
    pub current: bool,
}

impl SessionDto {
    fn new(session: &Session, current: SessionId) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            last_seen_at: session.last_seen_at,
            user_agent: session.user_agent.clone(),
            client_addr: session.client_addr.clone(),
            current: session.id == current,
        }
    }
}

/// The signed-in user's active sessions.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionList {
    /// Oldest first.
    pub items: Vec<SessionDto>,
}

#[derive(ApiResponse)]
pub(crate) enum SignupResponse {
    /// The account was created and signed in.
    #[oai(status = 201)]
    Created(Json<AuthResponse>),
}

#[derive(ApiResponse)]
pub(crate) enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub(crate) enum AcceptedResponse {
    /// Accepted; if an active account has this address, a reset link is on its way.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

fn secret(password: Password) -> SecretString {
    SecretString::from(password.0)
}

fn session_info(client: &ClientInfo) -> NewSessionInfo {
    NewSessionInfo {
        user_agent: client.user_agent.clone(),
        client_addr: client.ip,
    }
}

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account
    ///
    /// Creates a user and signs them in. The e-mail address is normalized (trimmed,
    /// lower-cased) and must be unused. Sign-ups are limited per client address (429
    /// `rate_limited` with `Retry-After`; the operator sets `limits.signups_per_client_per_hour`).
    #[oai(path = "/signup", method = "post", operation_id = "auth_signup")]
    async fn signup(
        &self,
        body: Json<SignupRequest>,
        client: poem::web::Data<&ClientInfo>,
    ) -> Result<SignupResponse, ApiError> {
        let Json(body) = body;
        let (user, issued) = self
            .state
            .identity()?
            .signup(
                &body.email,
                &secret(body.password),
                &body.name,
                session_info(&client),
            )
            .await?;
        Ok(SignupResponse::Created(Json(auth_response(&user, &issued))))
    }

    /// Sign in
    ///
    /// Wrong e-mail and wrong password answer the same `invalid_credentials`. Repeated failures
    /// for one address or from one client answer 429 with `Retry-After`.
    #[oai(path = "/login", method = "post", operation_id = "auth_login")]
    async fn login(
        &self,
        body: Json<LoginRequest>,
        client: poem::web::Data<&ClientInfo>,
    ) -> Result<Json<AuthResponse>, ApiError> {
        let Json(body) = body;
        let (user, issued) = self
            .state
            .identity()?
            .login(&body.email, &secret(body.password), session_info(&client))
            .await?;
        Ok(Json(auth_response(&user, &issued)))
    }

    /// Sign out
    ///
    /// Revokes the session of this request; its token stops working at once.
    #[oai(path = "/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(&self, auth: Auth) -> Result<NoContent, ApiError> {
        let principal = self.state.principal(&auth).await?;
        self.state.identity()?.logout(&principal).await?;
        Ok(NoContent::Done)
    }

    /// Request a password reset
    ///
    /// Answers 202 with the same body whether or not the account exists. If it does, a link
    /// with a single-use token valid for 30 minutes is mailed to it (at most one a minute per
    /// account). A client address that asks too often gets 429 `rate_limited` with
    /// `Retry-After`, whatever the address asked about.
    #[oai(
        path = "/password-reset",
        method = "post",
        operation_id = "auth_password_reset_request"
    )]
    async fn password_reset(
        &self,
        client: poem::web::Data<&ClientInfo>,
        body: Json<PasswordResetRequest>,
    ) -> Result<AcceptedResponse, ApiError> {
        // Refused at once when this client asked too often; otherwise the work runs detached so
        // that the answer and its timing do not depend on whether the account exists or on how
        // fast the mail server is. Under a flood, requests beyond the bound are dropped (the
        // answer stays the same).
        let job = self
            .state
            .identity()?
            .request_password_reset(&body.0.email, client.ip)
            .await?;
        self.state.services()?.detach(async move {
            if let Err(error) = job.run().await {
                tracing::error!(%error, "password reset request failed");
            }
        });
        Ok(AcceptedResponse::Accepted(Json(Accepted {
            status: "accepted".to_owned(),
        })))
    }

    /// Confirm a password reset
    ///
    /// Sets a new password with the token from the reset e-mail. The token works once; every
    /// session of the account is revoked.
    #[oai(
        path = "/password-reset/confirm",
        method = "post",
        operation_id = "auth_password_reset_confirm"
    )]
    async fn password_reset_confirm(
        &self,
        body: Json<PasswordResetConfirm>,
    ) -> Result<NoContent, ApiError> {
        let Json(body) = body;
        self.state
            .identity()?
            .confirm_password_reset(&secret(body.token), &secret(body.password))
            .await?;
        Ok(NoContent::Done)
    }

    /// Change the password
    ///
    /// Needs the current password. Every other session of the account is revoked.
    #[oai(
        path = "/password",
        method = "post",
        operation_id = "auth_password_change"
    )]
    async fn change_password(
        &self,
        auth: Auth,
        body: Json<ChangePasswordRequest>,
    ) -> Result<NoContent, ApiError> {
        let principal = self.state.principal(&auth).await?;
        let Json(body) = body;
        self.state
            .identity()?
            .change_password(
                &principal,
                &secret(body.current_password),
                &secret(body.new_password),
            )
            .await?;
        Ok(NoContent::Done)
    }

    /// List sessions
    ///
    /// The signed-in user's active sessions.
    #[oai(path = "/sessions", method = "get", operation_id = "auth_session_list")]
    async fn sessions(&self, auth: Auth) -> Result<Json<SessionList>, ApiError> {
        let principal = self.state.principal(&auth).await?;
        let sessions = self.state.identity()?.list_sessions(&principal).await?;
        Ok(Json(SessionList {
            items: sessions
                .iter()
                .map(|s| SessionDto::new(s, principal.session_id))
                .collect(),
        }))
    }

    /// Revoke a session
    ///
    /// Signs out one of the signed-in user's sessions (this one included).
    #[oai(
        path = "/sessions/:session_id",
        method = "delete",
        operation_id = "auth_session_delete"
    )]
    async fn revoke_session(
        &self,
        auth: Auth,
        session_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let principal = self.state.principal(&auth).await?;
        self.state
            .identity()?
            .revoke_session(&principal, SessionId::from_uuid(session_id.0))
            .await?;
        Ok(NoContent::Done)
    }
}
