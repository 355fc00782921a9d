//! Authentication as a type: the bearer security scheme only parses the header; turning the token
//! into a principal is the identity service's job, reached through [`crate::state::ApiState`].

use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

/// `Authorization: Bearer <token>` with a session token (`dss_…`) from sign-up or login.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "dss_…")]
pub(crate) struct BearerAuth(pub Bearer);

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerAuth(..)")
    }
}
