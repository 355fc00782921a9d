//! Forgotten passwords: the request page, and the landing page the reset mail links to
//! (`/reset-password?token=…`), through the identity service's rules — the same answer whether or
//! not the address has an account, the per-client limit, the mail sent detached, the token used
//! once and every session of the account revoked.

use docent_kernel::{ErrorKind, SecretString};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;

use super::{Posted, client_ip, flash, form_page, posted, redirect};
use crate::Console;

#[derive(Debug, Deserialize)]
struct ForgotForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
}

impl Posted for ForgotForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    csrf: Option<String>,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

impl Posted for ResetForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// The token of the landing page's link.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /forgot-password`.
#[handler]
pub(crate) async fn forgot_form(req: &Request, console: Data<&Console>) -> Response {
    let context = minijinja::context! {};
    form_page(&console, req, "forgot.html", StatusCode::OK, context)
}

/// `POST /forgot-password`.
#[handler]
pub(crate) async fn forgot(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<ForgotForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    match console
        .services
        .identity
        .request_password_reset(&posted.email, client_ip(&console, req))
        .await
    {
        Ok(job) => {
            console.services.detach(async move {
                if let Err(error) = job.run().await {
                    tracing::error!(%error, "password reset request failed");
                }
            });
            let sent = "If an account has that address, a link to set a new password is on its way. It works for 30 minutes.";
            redirect("/login", vec![flash(&console, sent)])
        }
        Err(error) => {
            let status = if error.kind() == ErrorKind::RateLimited {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let context = minijinja::context! { error => error.to_string(), email => posted.email };
            form_page(&console, req, "forgot.html", status, context)
        }
    }
}

/// `GET /reset-password?token=…`: the page the reset mail links to.
#[handler]
pub(crate) async fn reset_form(
    req: &Request,
    query: Query<TokenQuery>,
    console: Data<&Console>,
) -> Response {
    let context = minijinja::context! { token => query.0.token };
    form_page(&console, req, "reset.html", StatusCode::OK, context)
}

/// `POST /reset-password`.
#[handler]
pub(crate) async fn reset(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<ResetForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let token = SecretString::from(posted.token.clone());
    let password = SecretString::from(posted.password);
    match console
        .services
        .identity
        .confirm_password_reset(&token, &password)
        .await
    {
        Ok(()) => redirect(
            "/login",
            vec![flash(
                &console,
                "Your password is changed and every session of the account is signed out. Sign in with the new password.",
            )],
        ),
        Err(error) => {
            let (status, message) = match error.kind() {
                ErrorKind::InvalidInput | ErrorKind::Unauthenticated | ErrorKind::NotFound => {
                    (StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
                }
                ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, error.to_string()),
                ErrorKind::Conflict
                | ErrorKind::Forbidden
                | ErrorKind::Unavailable
                | ErrorKind::Internal => {
                    tracing::warn!(%error, "console password reset failed");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Something went wrong on our side. Please try again in a moment."
                            .to_owned(),
                    )
                }
            };
            let context = minijinja::context! { token => posted.token, error => message };
            form_page(&console, req, "reset.html", status, context)
        }
    }
}
