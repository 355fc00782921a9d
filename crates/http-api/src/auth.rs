//! Authentication as a type: the security schemes only parse headers; turning a credential into a
//! caller is the identity and key services' job, reached through [`crate::state::ApiState`].
//!
//! One parser serves both credentials: `Authorization: Bearer <token>` carries a session token
//! (`dss_…`) or an API key (`dk_live_…`), and `X-Api-Key: dk_live_…` carries an API key.

use docent_app::Credential;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

/// `Authorization: Bearer <token>`: a session token from sign-up or login (`dss_…`), or an API key
/// (`dk_live_…`).
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "dss_… session token or dk_live_… API key"
)]
pub(crate) struct BearerAuth(pub Bearer);

/// `X-Api-Key: dk_live_…`: an API key.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "X-Api-Key", key_in = "header")]
pub(crate) struct ApiKeyAuth(pub ApiKey);

/// Either credential.
#[derive(SecurityScheme)]
pub(crate) enum Auth {
    /// `Authorization: Bearer`.
    Bearer(BearerAuth),
    /// `X-Api-Key`.
    ApiKey(ApiKeyAuth),
}

impl Auth {
    /// The presented credential.
    pub(crate) fn credential(&self) -> Credential<'_> {
        match self {
            Self::Bearer(bearer) => Credential::Bearer(&bearer.0.token),
            Self::ApiKey(key) => Credential::ApiKey(&key.0.key),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({:?})", self.credential())
    }
}
