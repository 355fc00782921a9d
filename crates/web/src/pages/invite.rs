//! The invitation landing page the invitation mail links to (`/accept-invitation?token=…`): a
//! visitor signs in or signs up first (and comes back here), then accepts, through the tenancy
//! service's rules (the invited address only, a token used once, the audit event).

use docent_kernel::{ErrorKind, RequestMeta, SecretString};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;

use super::{Posted, client_ip, flash, form_page, posted, redirect};
use crate::Console;
use crate::session::current;

#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Deserialize)]
struct AcceptForm {
    csrf: Option<String>,
    #[serde(default)]
    token: String,
}

impl Posted for AcceptForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// This page's address for `token`, to come back to after signing in.
fn here(token: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    format!("/accept-invitation?token={encoded}")
}

/// `GET /accept-invitation?token=…`.
#[handler]
pub(crate) async fn landing(
    req: &Request,
    query: Query<TokenQuery>,
    console: Data<&Console>,
) -> Response {
    let token = query.0.token;
    let next: String = url::form_urlencoded::byte_serialize(here(&token).as_bytes()).collect();
    let user = current(&console, req)
        .await
        .map(|(principal, _)| principal.user.email.as_str().to_owned());
    let context = minijinja::context! { token, next, user };
    form_page(&console, req, "invite.html", StatusCode::OK, context)
}

/// `POST /accept-invitation`.
#[handler]
pub(crate) async fn accept(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<AcceptForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let Some((principal, _)) = current(&console, req).await else {
        return redirect(
            &format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(here(&posted.token).as_bytes())
                    .collect::<String>()
            ),
            Vec::new(),
        );
    };
    let meta = RequestMeta {
        request_id: None,
        client_addr: client_ip(&console, req).map(|ip| ip.to_string()),
    };
    let token = SecretString::from(posted.token.clone());
    match console
        .services
        .tenancy
        .accept_invitation(principal.user.id, &principal.user.email, &token, &meta)
        .await
    {
        Ok(joined) => redirect(
            "/",
            vec![flash(
                &console,
                &format!(
                    "You joined {} as {}.",
                    joined.org.name.as_str(),
                    joined.role.as_str()
                ),
            )],
        ),
        Err(error) => {
            let status = match error.kind() {
                ErrorKind::InvalidInput | ErrorKind::Unauthenticated | ErrorKind::NotFound => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::Unavailable | ErrorKind::Internal => StatusCode::SERVICE_UNAVAILABLE,
            };
            let next: String =
                url::form_urlencoded::byte_serialize(here(&posted.token).as_bytes()).collect();
            let context = minijinja::context! {
                token => posted.token,
                next,
                user => principal.user.email.as_str(),
                error => error.to_string(),
            };
            form_page(&console, req, "invite.html", status, context)
        }
    }
}
