//! The console's pages and what every page shares: the security headers, HTML and redirect
//! answers, the one-time flash message, and reading a posted form.

pub(crate) mod account;
pub(crate) mod auth;
pub(crate) mod chatbots;
pub(crate) mod documents;
pub(crate) mod home;
pub(crate) mod invite;
pub(crate) mod keys;
pub(crate) mod org;
pub(crate) mod providers;
pub(crate) mod reset;
pub(crate) mod usage;

use docent_kernel::{ErrorKind, RequestMeta};
use poem::http::StatusCode;
use poem::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use poem::web::Data;
use poem::{Body, Endpoint, EndpointExt as _, IntoResponse as _, Request, Response, handler};
use serde::de::DeserializeOwned;

use crate::Console;
use crate::session::{cookie, set_cookie};

/// No scripts or styles but the console's own files, nothing framed, forms only to this site.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The cookie of the one-time message shown by the next page.
const FLASH_COOKIE: &str = "docent_flash";

/// `ep` with the console's state and the security headers on every answer.
pub(crate) fn secured(
    ep: poem::endpoint::BoxEndpoint<'static>,
    console: Console,
) -> poem::endpoint::BoxEndpoint<'static> {
    ep.data(console)
        .around(|ep, req| async move {
            let mut response = ep.call(req).await?.into_response();
            let headers = response.headers_mut();
            for (name, value) in [
                ("content-security-policy", CSP),
                ("referrer-policy", "same-origin"),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("cross-origin-opener-policy", "same-origin"),
            ] {
                headers.insert(name, poem::http::HeaderValue::from_static(value));
            }
            Ok(response)
        })
        .boxed()
}

/// An HTML page with `status`, setting `cookies`.
pub(crate) fn html(status: StatusCode, body: String, cookies: Vec<String>) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .header(CACHE_CONTROL, "no-store")
        .body(body);
    for cookie in cookies {
        if let Ok(value) = poem::http::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// A page with forms: `template` rendered with `context`, the CSRF token its forms carry and the
/// one-time flash message, setting the cookies those need.
pub(crate) fn form_page(
    console: &Console,
    req: &Request,
    template: &str,
    status: StatusCode,
    context: minijinja::Value,
) -> Response {
    let (token, set) = crate::csrf::token(console, req);
    let (message, mut cookies) = take_flash(console, req);
    cookies.extend(set);
    let body = console.render.page(
        template,
        minijinja::context! { csrf => token, flash => message, ..context },
    );
    html(status, body, cookies)
}

/// A `303 See Other` to `to`, setting `cookies`.
pub(crate) fn redirect(to: &str, cookies: Vec<String>) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, to)
        .finish();
    for cookie in cookies {
        if let Ok(value) = poem::http::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The `Set-Cookie` that shows `message` on the next page once.
pub(crate) fn flash(console: &Console, message: &str) -> String {
    let short: String = message.chars().take(200).collect();
    set_cookie(console, FLASH_COOKIE, &hex::encode(short), "Lax", Some(60))
}

/// The flash message of the request, if any, and the `Set-Cookie` that removes it.
pub(crate) fn take_flash(console: &Console, req: &Request) -> (Option<String>, Vec<String>) {
    let Some(raw) = cookie(req, FLASH_COOKIE) else {
        return (None, Vec::new());
    };
    let message = hex::decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    (
        message,
        vec![set_cookie(console, FLASH_COOKIE, "", "Lax", Some(0))],
    )
}

/// The client's address: the rightmost `X-Forwarded-For` entry (the one the trusted proxy
/// appended) when `http.trust_forwarded_for` is set, as for the API, else the peer's.
pub(crate) fn client_ip(console: &Console, req: &Request) -> Option<std::net::IpAddr> {
    if console.services.config.http.trust_forwarded_for
        && let Some(forwarded) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(forwarded);
    }
    req.remote_addr().as_socket_addr().map(|a| a.ip())
}

/// Where to go after signing in: `next` when it is a path on this site, else home.
pub(crate) fn next_page(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.contains('\\')
                && !next.chars().any(char::is_control) =>
        {
            next.to_owned()
        }
        Some(_) | None => "/".to_owned(),
    }
}

/// A posted `application/x-www-form-urlencoded` body, or `None` when it is not one.
pub(crate) async fn form<T: DeserializeOwned>(body: Body) -> Option<T> {
    let text = body.into_string().await.ok()?;
    serde_urlencoded::from_str(&text).ok()
}

/// A posted form that carries the CSRF token.
pub(crate) trait Posted: DeserializeOwned {
    /// The token the form sent.
    fn csrf(&self) -> Option<&str>;
}

/// The posted form, if it is one and its CSRF token is the page's and it comes from this site;
/// otherwise the refusal to answer with.
pub(crate) async fn posted<T: Posted>(
    console: &Console,
    req: &Request,
    body: Body,
) -> Result<T, Response> {
    match form::<T>(body).await {
        Some(posted) if crate::csrf::verify(req, posted.csrf()) => Ok(posted),
        Some(_) | None => Err(forbidden(console)),
    }
}

/// A posted form read as its fields in order, for forms with repeated fields (checkboxes).
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or `""`.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The posted form as [`Fields`], if its CSRF token is the page's and it comes from this site;
/// otherwise the refusal to answer with.
pub(crate) async fn posted_fields(
    console: &Console,
    req: &Request,
    body: Body,
) -> Result<Fields, Response> {
    let Ok(text) = body.into_string().await else {
        return Err(forbidden(console));
    };
    let fields = Fields(
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    );
    if crate::csrf::verify(req, Some(fields.get(crate::csrf::CSRF_FIELD))) {
        Ok(fields)
    } else {
        Err(forbidden(console))
    }
}

/// The status and the message a page shows for a service's error: its own words for what the
/// person can fix, a general sentence (the details go to the log) for a failure of ours.
pub(crate) fn failure(kind: ErrorKind, error: &dyn std::fmt::Display) -> (StatusCode, String) {
    let status = match kind {
        ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthenticated | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match kind {
        ErrorKind::Unavailable | ErrorKind::Internal => {
            tracing::error!(%error, "a console page could not do what was asked");
            "Something went wrong on our side; nothing was changed. Try again in a moment."
                .to_owned()
        }
        ErrorKind::InvalidInput
        | ErrorKind::Unauthenticated
        | ErrorKind::Forbidden
        | ErrorKind::NotFound
        | ErrorKind::Conflict
        | ErrorKind::RateLimited => error.to_string(),
    };
    (status, message)
}

/// The items of a listing a page shows, or none (logged) when the listing failed: the page still
/// renders, with the rest of what it shows.
pub(crate) fn listed<T, E: std::fmt::Display>(
    what: &str,
    listing: Result<docent_kernel::Page<T>, E>,
) -> Vec<T> {
    match listing {
        Ok(page) => page.items,
        Err(error) => {
            tracing::warn!(%error, what, "the console could not list");
            Vec::new()
        }
    }
}

/// Where the request came from, for audit events and limits.
pub(crate) fn meta(console: &Console, req: &Request) -> RequestMeta {
    RequestMeta {
        request_id: req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client_addr: client_ip(console, req).map(|ip| ip.to_string()),
    }
}

/// The request's query string as `T`, or `T::default()` when it has none or it does not parse
/// (a page never answers a malformed query with an error of the JSON API).
pub(crate) fn query<T: DeserializeOwned + Default>(req: &Request) -> T {
    req.uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

/// An error page with `status`.
pub(crate) fn error_page(
    console: &Console,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let body = console
        .render
        .page("error.html", minijinja::context! { title, message });
    html(status, body, Vec::new())
}

/// The page for a refused post (a missing or wrong CSRF token, a cross-site post).
pub(crate) fn forbidden(console: &Console) -> Response {
    let body = console.render.page(
        "error.html",
        minijinja::context! {
            title => "This form has expired",
            message => "The form was not sent from this site's page, or it is too old. Go back, reload the page and try again.",
        },
    );
    html(StatusCode::FORBIDDEN, body, Vec::new())
}

/// `GET /static/favicon.svg`.
#[handler]
pub(crate) fn favicon(_console: Data<&Console>) -> Response {
    Response::builder()
        .header(CONTENT_TYPE, "image/svg+xml")
        .header(CACHE_CONTROL, "public, max-age=86400")
        .body(include_str!("../../static/favicon.svg"))
}

/// `GET /static/console.js`: the pages' progressive enhancement (uploads with progress, live
/// status); every page works without it.
#[handler]
pub(crate) fn script(_console: Data<&Console>) -> Response {
    Response::builder()
        .header(CONTENT_TYPE, "text/javascript; charset=utf-8")
        .header(CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../../static/console.js"))
}

/// `GET /static/console.css`.
#[handler]
pub(crate) fn stylesheet(_console: Data<&Console>) -> Response {
    Response::builder()
        .header(CONTENT_TYPE, "text/css; charset=utf-8")
        .header(CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../../static/console.css"))
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn only_paths_on_this_site_are_followed_after_sign_in() {
        assert_eq!(
            next_page(Some("/accept-invitation?token=x")),
            "/accept-invitation?token=x"
        );
        for hostile in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/x\ny",
            "evil",
        ] {
            assert_eq!(next_page(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(next_page(None), "/");
    }
}
