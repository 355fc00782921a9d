//! CSRF protection for every state-changing form: a random token in an `HttpOnly`,
//! `SameSite=Strict` cookie that the page also writes into the form (double submit), compared in
//! constant time on the post; and the post must not come from another site (`Origin` naming
//! another host, or `Sec-Fetch-Site: cross-site`). A form from another site can neither read the
//! cookie nor make the browser send it.

use poem::Request;
use rand::RngCore as _;

use crate::Console;
use crate::session::{cookie, set_cookie};

/// The cookie that carries the token.
const CSRF_COOKIE: &str = "docent_csrf";

/// The form field that carries the token.
pub const CSRF_FIELD: &str = "csrf";

/// The request's token if it has a well-formed one, or a new one with the `Set-Cookie` that
/// gives it to the browser.
pub(crate) fn token(console: &Console, req: &Request) -> (String, Option<String>) {
    match cookie(req, CSRF_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(token) => (token, None),
        None => {
            let mut bytes = [0_u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = hex::encode(bytes);
            let set = set_cookie(console, CSRF_COOKIE, &token, "Strict", None);
            (token, Some(set))
        }
    }
}

/// Whether a form post carries the cookie's token and comes from this site.
pub(crate) fn verify(req: &Request, submitted: Option<&str>) -> bool {
    let same_site = same_site(req);
    let Some(expected) = cookie(req, CSRF_COOKIE) else {
        return false;
    };
    let Some(submitted) = submitted else {
        return false;
    };
    same_site && constant_time_eq(expected.as_bytes(), submitted.as_bytes())
}

/// Whether the browser says the request comes from this site (absent headers say nothing:
/// the token check still applies).
fn same_site(req: &Request) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if header("sec-fetch-site").is_some_and(|site| site != "same-origin" && site != "none") {
        return false;
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => url::Url::parse(&origin).is_ok_and(|origin| {
            let port = origin.port().map_or_else(String::new, |p| format!(":{p}"));
            origin
                .host_str()
                .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(&host))
        }),
        // "null" or no Host: not a post this site's pages make.
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
