//! Browser sessions: the session token of the identity service in an `HttpOnly`, `SameSite=Lax`
//! cookie (`Secure` over TLS). The cookie holds nothing else, so signing out, revoking a session,
//! disabling the account or a password change end it at once, exactly as for API clients.

use docent_identity::Principal;
use poem::Request;

use crate::Console;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "docent_session";

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value: `HttpOnly`, `Path=/`, the given `SameSite`, `Secure` over TLS, and
/// `Max-Age` when given (0 removes the cookie).
pub(crate) fn set_cookie(
    console: &Console,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<u64>,
) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if console.secure_cookies {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The signed-in user of the request, with the session's token, if its cookie holds a live
/// session.
pub(crate) async fn current(console: &Console, req: &Request) -> Option<(Principal, String)> {
    let token = cookie(req, SESSION_COOKIE)?;
    // Session tokens are plain ASCII; anything else is not one of ours.
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    match console.services.identity.authenticate(&token).await {
        Ok(principal) => Some((principal, token)),
        Err(_) => None,
    }
}
