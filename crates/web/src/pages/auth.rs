//! Signing up, in and out: the identity service's rules (password policy, throttles, sign-up
//! limits), with the session token in the session cookie.

use docent_identity::{IdentityError, NewSessionInfo};
use docent_kernel::{ErrorKind, SecretString};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;

use super::{Posted, posted, redirect};
use crate::Console;
use crate::session::{SESSION_COOKIE, current, set_cookie};

impl Posted for LoginForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

impl Posted for SignupForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// Where a sign-in page was sent from (the invitation page), to go back to.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    next: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize)]
struct SignupForm {
    csrf: Option<String>,
    next: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn session_info(console: &Console, req: &Request) -> NewSessionInfo {
    NewSessionInfo {
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect()),
        client_addr: super::client_ip(console, req),
    }
}

/// The status and message a failed sign-in or sign-up shows: the service's own message for what
/// the person can fix, a generic one otherwise.
fn refusal(error: &IdentityError) -> (StatusCode, String) {
    let status = match error.kind() {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound
        | ErrorKind::Forbidden
        | ErrorKind::Unavailable
        | ErrorKind::Internal => {
            tracing::warn!(%error, "console sign-in or sign-up failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong on our side. Please try again in a moment.".to_owned(),
            );
        }
    };
    (status, error.to_string())
}

/// The session cookie for a new session.
fn session_cookie(console: &Console, token: &SecretString) -> String {
    use docent_kernel::ExposeSecret as _;
    let hours = u64::from(console.services.config.session.lifetime_hours);
    set_cookie(
        console,
        SESSION_COOKIE,
        token.expose_secret(),
        "Lax",
        Some(hours * 3600),
    )
}

/// What a sign-in or sign-up page shows besides its form.
struct Shown<'a> {
    error: Option<String>,
    email: &'a str,
    name: &'a str,
    next: Option<&'a str>,
}

fn page(
    console: &Console,
    req: &Request,
    template: &str,
    status: StatusCode,
    shown: Shown<'_>,
) -> Response {
    let next = shown.next.map(|n| super::next_page(Some(n)));
    let context = minijinja::context! {
        error => shown.error,
        email => shown.email,
        name => shown.name,
        next,
    };
    super::form_page(console, req, template, status, context)
}

/// The page for a fresh form.
fn fresh(next: Option<&str>) -> Shown<'_> {
    Shown {
        error: None,
        email: "",
        name: "",
        next,
    }
}

/// A sign-in or sign-up form, or, for someone signed in already, where they were going.
async fn entry_form(
    console: &Console,
    req: &Request,
    next: Option<String>,
    template: &str,
) -> Response {
    if current(console, req).await.is_some() {
        return redirect(&super::next_page(next.as_deref()), Vec::new());
    }
    page(
        console,
        req,
        template,
        StatusCode::OK,
        fresh(next.as_deref()),
    )
}

/// `GET /login`.
#[handler]
pub(crate) async fn login_form(
    req: &Request,
    query: Query<NextQuery>,
    console: Data<&Console>,
) -> Response {
    entry_form(&console, req, query.0.next, "login.html").await
}

/// `POST /login`.
#[handler]
pub(crate) async fn login(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<LoginForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let password = SecretString::from(posted.password);
    match console
        .services
        .identity
        .login(&posted.email, &password, session_info(&console, req))
        .await
    {
        Ok((_, issued)) => redirect(
            &super::next_page(posted.next.as_deref()),
            vec![session_cookie(&console, &issued.token)],
        ),
        Err(error) => {
            let (status, message) = refusal(&error);
            let shown = Shown {
                error: Some(message),
                email: &posted.email,
                name: "",
                next: posted.next.as_deref(),
            };
            page(&console, req, "login.html", status, shown)
        }
    }
}

/// `GET /signup`.
#[handler]
pub(crate) async fn signup_form(
    req: &Request,
    query: Query<NextQuery>,
    console: Data<&Console>,
) -> Response {
    entry_form(&console, req, query.0.next, "signup.html").await
}

/// `POST /signup`.
#[handler]
pub(crate) async fn signup(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<SignupForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let password = SecretString::from(posted.password);
    match console
        .services
        .identity
        .signup(
            &posted.email,
            &password,
            &posted.name,
            session_info(&console, req),
        )
        .await
    {
        Ok((_, issued)) => redirect(
            &super::next_page(posted.next.as_deref()),
            vec![
                session_cookie(&console, &issued.token),
                super::flash(
                    &console,
                    "Welcome to docent. Create your first organization.",
                ),
            ],
        ),
        Err(error) => {
            let (status, message) = refusal(&error);
            let shown = Shown {
                error: Some(message),
                email: &posted.email,
                name: &posted.name,
                next: posted.next.as_deref(),
            };
            page(&console, req, "signup.html", status, shown)
        }
    }
}

/// `POST /logout`: ends the session in the store (it stops working everywhere at once) and
/// removes the cookie.
#[handler]
pub(crate) async fn logout(req: &Request, body: Body, console: Data<&Console>) -> Response {
    #[derive(Debug, Deserialize)]
    struct LogoutForm {
        csrf: Option<String>,
    }
    impl Posted for LogoutForm {
        fn csrf(&self) -> Option<&str> {
            self.csrf.as_deref()
        }
    }
    if let Err(refused) = posted::<LogoutForm>(&console, req, body).await {
        return refused;
    }
    if let Some((principal, _)) = current(&console, req).await
        && let Err(error) = console.services.identity.logout(&principal).await
    {
        tracing::warn!(%error, "console sign-out failed");
    }
    redirect(
        "/login",
        vec![
            set_cookie(&console, SESSION_COOKIE, "", "Lax", Some(0)),
            super::flash(&console, "You are signed out."),
        ],
    )
}
