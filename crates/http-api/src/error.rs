//! The one error type of the HTTP API and the exhaustive mapping from every domain error into it.
//!
//! Every error body is `{code, message, request_id}`. Handlers return [`ApiError`]; the request
//! middleware renders it (and every error poem or poem-openapi raise) with the request id. 5xx
//! bodies are generic; their cause is logged with the request id.

use std::time::Duration;

use docent_chat::ChatError;
use docent_documents::DocumentError;
use docent_documents::ports::BlobError;
use docent_identity::IdentityError;
use docent_kernel::{ErrorKind, PagingError, StoreError};
use docent_keys::KeyError;
use docent_providers::ProviderError;
use docent_tenancy::TenancyError;
use poem::http::StatusCode;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type as _;
use poem_openapi::{ApiResponse, Object};

/// The body of every error response.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `org_not_found` or `weak_password`.
    pub code: String,
    /// A human-readable explanation, safe to show to end users.
    pub message: String,
    /// The id of the request, also sent as the `X-Request-Id` header; quote it when reporting a
    /// problem.
    pub request_id: String,
}

/// An error answered to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// The client-safe message.
    pub message: String,
    /// For 429: how long to wait.
    pub retry_after: Option<Duration>,
    /// For 5xx: the cause, logged but never sent.
    pub internal: Option<String>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            internal: None,
        }
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred",
            )
        }
    }

    /// A 503 whose cause is logged, not shown.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "a dependency is unavailable; try again shortly",
            )
        }
    }

    /// A 503 or 500 for a storage or hashing failure, by its kind.
    fn from_failure(kind: ErrorKind, error: &dyn std::fmt::Display) -> Self {
        match kind {
            ErrorKind::Unavailable => Self::unavailable(error),
            ErrorKind::InvalidInput
            | ErrorKind::Unauthenticated
            | ErrorKind::Forbidden
            | ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::RateLimited
            | ErrorKind::Internal => Self::internal(error),
        }
    }

    /// 401 for a missing credential.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this operation needs an `Authorization: Bearer <token>` header",
        )
    }

    /// 429 with a `Retry-After`.
    pub fn rate_limited(
        code: &'static str,
        message: impl Into<String>,
        retry_after: Duration,
    ) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }
}

/// The statuses every operation may answer with an error body.
const DOCUMENTED_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Malformed request (`invalid_request`, `invalid_cursor`, `invalid_limit`, `invalid_token`)",
    ),
    (
        401,
        "Missing or invalid credentials (`unauthenticated`, `invalid_session`, `invalid_credentials`)",
    ),
    (403, "Authenticated but not allowed (`forbidden`, …)"),
    (
        404,
        "Not found, or not visible to the caller (`org_not_found`, …)",
    ),
    (
        409,
        "Conflicts with the current state (`email_taken`, `last_owner`, `duplicate_document`, …)",
    ),
    (413, "The request body or upload is too large (`too_large`)"),
    (
        415,
        "The uploaded file's type is not supported (`unsupported_media_type`)",
    ),
    (
        422,
        "Well-formed but invalid input (`weak_password`, `invalid_email`, `empty_document`, …)",
    ),
    (
        429,
        "Too many requests; see `Retry-After` (`too_many_attempts`, `rate_limited`, `quota_exceeded`)",
    ),
    (
        500,
        "Internal error (`internal_error`); the body says nothing more",
    ),
    (
        502,
        "The model provider refused the call (`provider_error`): a bad key, an unknown model, …",
    ),
    (
        503,
        "A dependency is down (`service_unavailable`, `provider_unavailable`)",
    ),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED_ERRORS
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

impl From<ApiError> for poem::Error {
    fn from(error: ApiError) -> Self {
        let status = error.status;
        poem::Error::new(error, status)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::unavailable(error),
            StoreError::Conflict(_) | StoreError::NotFound | StoreError::Corrupt(_) => {
                Self::internal(error)
            }
        }
    }
}

impl From<PagingError> for ApiError {
    fn from(error: PagingError) -> Self {
        let code = match error {
            PagingError::InvalidLimit => "invalid_limit",
            PagingError::InvalidCursor => "invalid_cursor",
        };
        Self::new(StatusCode::BAD_REQUEST, code, error.to_string())
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            IdentityError::InvalidEmail(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"),
            IdentityError::InvalidName(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_name"),
            IdentityError::WeakPassword(_) => (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
            IdentityError::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            IdentityError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            IdentityError::WrongCurrentPassword => {
                (StatusCode::FORBIDDEN, "invalid_current_password")
            }
            IdentityError::TooManyAttempts { retry_after } => {
                return Self::rate_limited("too_many_attempts", message, *retry_after);
            }
            IdentityError::TooManyRequests { retry_after, .. } => {
                return Self::rate_limited("rate_limited", message, *retry_after);
            }
            IdentityError::InvalidSession => (StatusCode::UNAUTHORIZED, "invalid_session"),
            IdentityError::InvalidResetToken => (StatusCode::BAD_REQUEST, "invalid_token"),
            IdentityError::SessionNotFound => (StatusCode::NOT_FOUND, "session_not_found"),
            IdentityError::UserNotFound => (StatusCode::NOT_FOUND, "user_not_found"),
            IdentityError::Store(_) | IdentityError::Hashing(_) => {
                return Self::from_failure(error.kind(), &error);
            }
        };
        Self::new(status, code, message)
    }
}

impl From<TenancyError> for ApiError {
    fn from(error: TenancyError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            TenancyError::Invalid { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                match *field {
                    "name" => "invalid_name",
                    "slug" => "invalid_slug",
                    "email" => "invalid_email",
                    _ => "invalid_input",
                },
            ),
            TenancyError::OrgNotFound => (StatusCode::NOT_FOUND, "org_not_found"),
            TenancyError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            TenancyError::MemberNotFound => (StatusCode::NOT_FOUND, "member_not_found"),
            TenancyError::InvitationNotFound => (StatusCode::NOT_FOUND, "invitation_not_found"),
            TenancyError::InvalidInvitation => (StatusCode::BAD_REQUEST, "invalid_token"),
            TenancyError::InvitationEmailMismatch => {
                (StatusCode::FORBIDDEN, "invitation_email_mismatch")
            }
            TenancyError::LastOwner => (StatusCode::CONFLICT, "last_owner"),
            TenancyError::AlreadyMember => (StatusCode::CONFLICT, "already_member"),
            TenancyError::SlugTaken => (StatusCode::CONFLICT, "slug_taken"),
            TenancyError::MailUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "mail_unavailable"),
            TenancyError::TooManyInvitations(_, retry_after) => {
                return Self::rate_limited("rate_limited", message, *retry_after);
            }
            TenancyError::Paging(paging) => return (*paging).into(),
            TenancyError::Store(_) => {
                return Self::from_failure(error.kind(), &error);
            }
        };
        Self::new(status, code, message)
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            KeyError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_key_settings"),
            KeyError::UnknownScope(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_scope"),
            KeyError::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            KeyError::InsufficientScope(_) | KeyError::CreatorLacks(_) => {
                (StatusCode::FORBIDDEN, "insufficient_scope")
            }
            KeyError::PublishableOnly => (StatusCode::FORBIDDEN, "publishable_key"),
            KeyError::OriginRefused => (StatusCode::FORBIDDEN, "origin_refused"),
            KeyError::RateLimited(decision) => {
                let wait = decision.retry_after.unwrap_or(decision.reset);
                return Self::rate_limited("rate_limited", message, wait);
            }
            KeyError::QuotaExceeded { resets_in_secs, .. } => {
                let wait = std::time::Duration::from_secs(*resets_in_secs);
                return Self::rate_limited("quota_exceeded", message, wait);
            }
            KeyError::InvalidRange(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_range"),
            KeyError::NotFound => (StatusCode::NOT_FOUND, "api_key_not_found"),
            KeyError::ChatbotNotFound(_) => (StatusCode::NOT_FOUND, "chatbot_not_found"),
            KeyError::Paging(paging) => return (*paging).into(),
            KeyError::Store(_) => return Self::from_failure(error.kind(), &error),
        };
        Self::new(status, code, message)
    }
}

impl From<DocumentError> for ApiError {
    fn from(error: DocumentError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            DocumentError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            DocumentError::Empty => (StatusCode::UNPROCESSABLE_ENTITY, "empty_document"),
            DocumentError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            DocumentError::Unreadable(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            DocumentError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            DocumentError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate_document"),
            DocumentError::Busy => (StatusCode::CONFLICT, "document_busy"),
            DocumentError::NotFound | DocumentError::Blob(BlobError::NotFound) => {
                (StatusCode::NOT_FOUND, "document_not_found")
            }
            DocumentError::Paging(paging) => return (*paging).into(),
            DocumentError::Blob(BlobError::Unavailable(_))
            | DocumentError::Index(_)
            | DocumentError::Embed(_)
            | DocumentError::Store(_) => return Self::from_failure(error.kind(), &error),
        };
        Self::new(status, code, message)
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            ProviderError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            ProviderError::BaseUrlRefused(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "base_url_refused")
            }
            ProviderError::NotFound => (StatusCode::NOT_FOUND, "provider_not_found"),
            ProviderError::InUse => (StatusCode::CONFLICT, "provider_in_use"),
            ProviderError::Paging(paging) => return (*paging).into(),
            ProviderError::Seal(_) | ProviderError::Store(_) => {
                return Self::from_failure(error.kind(), &error);
            }
        };
        Self::new(status, code, message)
    }
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        use docent_providers::ChatError as ModelError;
        let error = match error {
            ChatError::Provider(inner) => return inner.into(),
            ChatError::Documents(inner) => return inner.into(),
            other @ (ChatError::Invalid { .. }
            | ChatError::ChatbotNotFound
            | ChatError::AccessRevoked
            | ChatError::ConversationNotFound
            | ChatError::SlugTaken(_)
            | ChatError::QuotaExceeded { .. }
            | ChatError::Model(_)
            | ChatError::Paging(_)
            | ChatError::Store(_)) => other,
        };
        let message = error.to_string();
        let (status, code) = match &error {
            ChatError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            ChatError::ChatbotNotFound => (StatusCode::NOT_FOUND, "chatbot_not_found"),
            ChatError::AccessRevoked => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            ChatError::ConversationNotFound => (StatusCode::NOT_FOUND, "conversation_not_found"),
            ChatError::SlugTaken(_) => (StatusCode::CONFLICT, "slug_taken"),
            ChatError::QuotaExceeded { resets_in_secs, .. } => {
                let wait = Duration::from_secs(*resets_in_secs);
                return Self::rate_limited("quota_exceeded", message, wait);
            }
            ChatError::Model(ModelError::Transient { retry_after, .. }) => {
                return Self {
                    retry_after: *retry_after,
                    internal: Some(message),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "provider_unavailable",
                        "the model provider is unavailable (rate limited, overloaded or \
                         unreachable) after retries; try again shortly",
                    )
                };
            }
            ChatError::Model(ModelError::Permanent(_)) => {
                // The provider's own words may carry internals (a proxy's page, a key's
                // fragment): logged, not shown. The provider test endpoint shows them to admins.
                return Self {
                    internal: Some(message),
                    ..Self::new(
                        StatusCode::BAD_GATEWAY,
                        "provider_error",
                        "the model provider refused the request (check the provider connection's \
                         key and the chatbot's model)",
                    )
                };
            }
            ChatError::Model(ModelError::ContextTooLong(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "context_too_long")
            }
            ChatError::Paging(paging) => return (*paging).into(),
            ChatError::Store(_) => return Self::from_failure(error.kind(), &error),
            // Mapped above.
            ChatError::Provider(_) | ChatError::Documents(_) => return Self::internal(&error),
        };
        Self::new(status, code, message)
    }
}

/// The error for a poem or poem-openapi error that did not come from a handler: parse failures,
/// missing credentials, unknown routes, oversized bodies. `malformed_id` names the path parameter
/// of the request that is not an id, when one is not (the framework's own message names it by
/// position, `param2`).
pub(crate) fn from_framework(error: &poem::Error, malformed_id: Option<&str>) -> ApiError {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError,
    };
    if error.is::<AuthorizationError>() {
        return ApiError::unauthenticated();
    }
    // poem-openapi's "failed to parse path `param0`: …" names the parameter by position.
    let message = error.to_string();
    if let (Some(name), Some(rest)) = (malformed_id, message.strip_prefix("failed to parse path")) {
        let reason = rest.split_once(": ").map_or(rest, |(_, reason)| reason);
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("`{name}` is not a valid id (a UUID): {reason}"),
        );
    }
    if error.is::<ParseParamError>()
        || error.is::<ParseRequestPayloadError>()
        || error.is::<ContentTypeError>()
    {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            error.to_string(),
        );
    }
    let status = error.status();
    match status {
        StatusCode::NOT_FOUND => ApiError::new(status, "not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "this route does not accept this method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "too_large", "the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported_media_type", error.to_string())
        }
        s if s.is_server_error() => ApiError::internal(error),
        s if s == StatusCode::UNAUTHORIZED => ApiError::unauthenticated(),
        s => ApiError::new(s, "invalid_request", error.to_string()),
    }
}
