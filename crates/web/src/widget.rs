//! The embeddable chat widget: `/widget.js` (a script any website includes) and its two routes,
//! `GET /widget/v1/config` (the chatbot's name and welcome message) and `POST /widget/v1/chat`
//! (a question, answered as Server-Sent Events). Both take a publishable key (`dk_pub_…`) in
//! `X-Docent-Key`, admitted through [`docent_app::Access::widget`]: from the key's allowed
//! origins only (the `Origin` header, checked on every request; CORS answers name that origin and
//! no other), for its one chatbot, within the key's rate limit, one visitor's and one address's,
//! and the organization's quotas. A publishable key opens no other route.
//!
//! A visitor is a random id the script keeps in the browser's storage. Their conversation is
//! titled with a tag derived from that id, and a question continues a conversation only when the
//! tag matches: another visitor of the same site cannot continue (and so read) it.

use docent_app::{AccessError, Widget};
use docent_chat::ChatError;
use docent_kernel::{ConversationId, ErrorKind};
use docent_keys::KeyError;
use poem::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use sha2::{Digest as _, Sha256};

use crate::Console;

/// The header that carries the publishable key.
const KEY_HEADER: &str = "x-docent-key";
/// The longest question body the widget may post.
const MAX_BODY_BYTES: usize = 32 * 1024;

/// The request's `Origin`, if it sent one.
fn origin(req: &Request) -> Option<&str> {
    req.headers().get("origin").and_then(|v| v.to_str().ok())
}

/// `response` with the CORS headers for `origin` (an origin the key allows).
fn allow(mut response: Response, origin: Option<&str>) -> Response {
    let headers = response.headers_mut();
    headers.insert("vary", HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert("access-control-allow-origin", value);
    }
    response
}

/// A refusal as JSON, `{ "code", "message" }`; CORS headers only when the origin is allowed (a
/// refused origin's page cannot even read why).
fn refusal(status: StatusCode, code: &str, message: &str, origin: Option<&str>) -> Response {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .body(body);
    allow(response, origin)
}

/// Why the widget was refused, as its answer.
fn refused(error: &AccessError, origin: Option<&str>) -> Response {
    let (status, code) = match error {
        AccessError::Key(KeyError::OriginRefused) => {
            return refusal(
                StatusCode::FORBIDDEN,
                "origin_refused",
                "this key is not accepted from this website",
                None,
            );
        }
        AccessError::Key(KeyError::RateLimited(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        }
        AccessError::Key(KeyError::InvalidKey) => (StatusCode::UNAUTHORIZED, "invalid_key"),
        AccessError::Identity(_)
        | AccessError::Tenancy(_)
        | AccessError::Key(_)
        | AccessError::SessionRequired => (StatusCode::FORBIDDEN, "forbidden"),
    };
    refusal(status, code, &error.to_string(), origin)
}

/// The visitor admitted by the request's key and origin, or the refusal.
async fn admit(console: &Console, req: &Request) -> Result<Widget, Response> {
    let origin = origin(req);
    let Some(key) = req.headers().get(KEY_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_key",
            "the widget needs its publishable key (data-key)",
            None,
        ));
    };
    console
        .services
        .access
        .widget(key, origin, crate::pages::meta(console, req))
        .await
        .map_err(|error| refused(&error, origin))
}

/// `OPTIONS /widget/v1/*`: the CORS preflight. It cannot carry the key, so it answers any origin;
/// the request that follows is checked.
#[handler]
pub(crate) fn preflight(req: &Request, _console: Data<&Console>) -> Response {
    let mut response = allow(
        Response::builder().status(StatusCode::NO_CONTENT).finish(),
        origin(req),
    );
    let headers = response.headers_mut();
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("content-type, x-docent-key"),
    );
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

/// `GET /widget/v1/config`: the chatbot's name and welcome message.
#[handler]
pub(crate) async fn config(req: &Request, console: Data<&Console>) -> Response {
    let widget = match admit(&console, req).await {
        Ok(widget) => widget,
        Err(refusal) => return refusal,
    };
    let origin = origin(req);
    match console
        .services
        .chat
        .get_chatbot(widget.tenant.ctx(), widget.chatbot)
        .await
    {
        Ok(bot) => {
            let body = serde_json::json!({
                "name": bot.name,
                "welcome": bot.welcome_message,
            });
            allow(
                Response::builder()
                    .header(CONTENT_TYPE, "application/json")
                    .header(CACHE_CONTROL, "no-store")
                    .body(body.to_string()),
                origin,
            )
        }
        Err(error) => chat_refusal(&error, origin),
    }
}

fn chat_refusal(error: &ChatError, origin: Option<&str>) -> Response {
    let (status, message) = crate::pages::failure(error.kind(), error);
    let code = match error.kind() {
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::NotFound => "not_found",
        ErrorKind::RateLimited => "quota_exceeded",
        ErrorKind::Unauthenticated | ErrorKind::Forbidden => "forbidden",
        ErrorKind::Conflict | ErrorKind::Unavailable | ErrorKind::Internal => "unavailable",
    };
    refusal(status, code, &message, origin)
}

#[derive(Debug, serde::Deserialize)]
struct Question {
    question: String,
    #[serde(default)]
    conversation: Option<String>,
    visitor: String,
}

/// The tag a visitor's conversations carry in their title: not the id itself, which stays in the
/// visitor's browser.
fn visitor_tag(visitor: &str) -> String {
    hex::encode(&Sha256::digest(visitor.as_bytes())[..6])
}

/// A visitor id as the script makes them: 16 to 64 letters, digits, `-` or `_`.
fn valid_visitor(visitor: &str) -> bool {
    (16..=64).contains(&visitor.len())
        && visitor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `POST /widget/v1/chat`: answers a visitor's question as Server-Sent Events: `conversation`
/// (its id, to send with the next question), `delta` (text), `citations` (number, title, page,
/// section and the passage's start), `done`, or `error` (in words).
#[handler]
pub(crate) async fn chat(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let widget = match admit(&console, req).await {
        Ok(widget) => widget,
        Err(refusal) => return refusal,
    };
    let origin = origin(req);
    let bytes = match body.into_bytes_limit(MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_input",
                "the question is too long",
                origin,
            );
        }
    };
    let Ok(asked) = serde_json::from_slice::<Question>(&bytes) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "send JSON with `question` and `visitor`",
            origin,
        );
    };
    if !valid_visitor(&asked.visitor) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "`visitor` is 16 to 64 letters, digits, '-' or '_'",
            origin,
        );
    }
    let address =
        crate::pages::client_ip(&console, req).map_or_else(String::new, |ip| ip.to_string());
    if let Err(error) = console
        .services
        .keys
        .check_visitor(widget.key, &asked.visitor, &address)
        .await
    {
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!("{error}; wait a minute and ask again"),
            origin,
        );
    }
    let chat = &console.services.chat;
    let tenant = widget.tenant.ctx();
    let tag = format!("Visitor {}:", visitor_tag(&asked.visitor));
    let mut conversation = None;
    if let Some(id) = asked
        .conversation
        .as_deref()
        .and_then(|c| c.parse::<uuid::Uuid>().ok())
        .map(ConversationId::from_uuid)
        && let Ok(found) = chat.conversation(tenant, widget.chatbot, id).await
        && found.title.starts_with(&tag)
    {
        conversation = Some(found.id);
    }
    let conversation = match conversation {
        Some(id) => id,
        None => {
            let first: String = asked
                .question
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            match chat
                .start_conversation(
                    tenant,
                    widget.chatbot,
                    Some(format!("{tag} {}", first.trim())),
                )
                .await
            {
                Ok((started, _)) => started.id,
                Err(error) => return chat_refusal(&error, origin),
            }
        }
    };
    let answer = match chat
        .ask(tenant, widget.chatbot, conversation, asked.question)
        .await
    {
        Ok(answer) => answer,
        Err(error) => return chat_refusal(&error, origin),
    };
    let response = crate::answers::stream(conversation, answer, |c| {
        serde_json::json!({
            "n": c.n,
            "title": c.title,
            "page": c.page,
            "section": c.section,
            "snippet": c.snippet,
        })
    });
    allow(response, origin)
}

/// `GET /widget.js`: the widget's script, for any website.
#[handler]
pub(crate) fn script(_console: Data<&Console>) -> Response {
    Response::builder()
        .header(CONTENT_TYPE, "text/javascript; charset=utf-8")
        .header(CACHE_CONTROL, "public, max-age=300")
        .header("access-control-allow-origin", "*")
        .header("cross-origin-resource-policy", "cross-origin")
        .header("x-content-type-options", "nosniff")
        .body(include_str!("../static/widget.js"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_stays_small() {
        // The bound is 30 KB gzipped; uncompressed text under 29 KB is below it whatever
        // gzip makes of it (about 4.5 KB today).
        assert!(include_str!("../static/widget.js").len() < 29 * 1024);
    }

    #[test]
    fn visitor_ids_are_checked_and_tagged_without_revealing_them() {
        assert!(valid_visitor("0123456789abcdefXYZ_-"));
        assert!(!valid_visitor("short"));
        assert!(!valid_visitor("0123456789abcdef<script>"));
        let tag = visitor_tag("0123456789abcdef");
        assert_eq!(tag.len(), 12);
        assert!(!tag.contains("0123456789abcdef"));
        assert_ne!(tag, visitor_tag("0123456789abcdeg"));
    }
}
