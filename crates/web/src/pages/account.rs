//! The signed-in person's account: profile, password change and active sessions with revoke,
//! through the identity service (a password change keeps this session and ends the others).

use docent_identity::Principal;
use docent_kernel::SecretString;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::{Posted, flash, form_page, posted, redirect};
use crate::Console;
use crate::session::current;

#[derive(Debug, Serialize)]
struct SessionRow {
    id: String,
    created_at: String,
    last_seen_at: String,
    user_agent: Option<String>,
    client_addr: Option<String>,
    current: bool,
}

#[derive(Debug, Deserialize)]
struct AccountForm {
    csrf: Option<String>,
    /// `profile`, `password` or `revoke`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    session: String,
}

impl Posted for AccountForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

async fn render(
    console: &Console,
    req: &Request,
    principal: &Principal,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let sessions = match console.services.identity.list_sessions(principal).await {
        Ok(sessions) => sessions,
        Err(error) => {
            tracing::warn!(%error, "the console could not list sessions");
            Vec::new()
        }
    };
    let rows: Vec<SessionRow> = sessions
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == principal.session_id,
            id: s.id.to_string(),
            created_at: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_seen_at: s.last_seen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            user_agent: s.user_agent,
            client_addr: s.client_addr,
        })
        .collect();
    let context = minijinja::context! {
        user => minijinja::context! {
            name => principal.user.name.as_str(),
            email => principal.user.email.as_str(),
        },
        sessions => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        error,
    };
    form_page(console, req, "account.html", status, context)
}

/// `GET /account`.
#[handler]
pub(crate) async fn account(req: &Request, console: Data<&Console>) -> Response {
    match current(&console, req).await {
        Some((principal, _)) => render(&console, req, &principal, StatusCode::OK, None).await,
        None => redirect("/login?next=%2Faccount", Vec::new()),
    }
}

/// `POST /account`: one of its forms.
#[handler]
pub(crate) async fn update(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<AccountForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let Some((principal, _)) = current(&console, req).await else {
        return redirect("/login?next=%2Faccount", Vec::new());
    };
    let identity = &console.services.identity;
    let outcome = match posted.action.as_str() {
        "profile" => identity
            .update_profile(&principal, Some(&posted.name))
            .await
            .map(|_| "Your name is changed."),
        "password" => identity
            .change_password(
                &principal,
                &SecretString::from(posted.current_password),
                &SecretString::from(posted.new_password),
            )
            .await
            .map(|()| "Your password is changed; your other sessions are signed out."),
        "revoke" => match posted.session.parse() {
            Ok(id) => identity
                .revoke_session(&principal, id)
                .await
                .map(|()| "The session is signed out."),
            Err(_) => Err(docent_identity::IdentityError::SessionNotFound),
        },
        _ => return super::forbidden(&console),
    };
    match outcome {
        Ok(done) => redirect("/account", vec![flash(&console, done)]),
        Err(error) => {
            let (status, message) = super::failure(error.kind(), &error);
            render(&console, req, &principal, status, Some(message)).await
        }
    }
}
