//! The request middleware: assigns the request id, records who the client is, renders every error
//! as `{code, message, request_id}`, sets `X-Request-Id` (and `Retry-After` on 429), records
//! metrics and writes the access log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use poem::http::StatusCode;
use poem::http::header::{CONTENT_LENGTH, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use poem::{Body, Endpoint, EndpointExt as _, IntoResponse as _, Request, Response};
use poem_openapi::OperationId;
use tokio::io::AsyncReadExt as _;
use tracing::Instrument as _;

use docent_kernel::RequestMeta;
use docent_keys::RateDecision;

use crate::error::{ApiError, ErrorBody, from_framework};
use crate::metrics::Metrics;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const RATE_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATE_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RATE_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

tokio::task_local! {
    /// The rate-limit state of the API key that made the current request, set while
    /// authenticating it and turned into `X-RateLimit-*` headers on the way out.
    static KEY_RATE: std::cell::Cell<Option<RateDecision>>;
    /// Where the current request came from, for audit events.
    static REQUEST: RequestMeta;
}

/// Where the current request came from (empty outside a request).
pub(crate) fn request_meta() -> RequestMeta {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// Records the current request's key rate-limit state (a no-op outside a request).
pub(crate) fn record_key_rate(decision: Option<RateDecision>) {
    // Outside a request scope there is nothing to record.
    let _ = KEY_RATE.try_with(|cell| cell.set(decision));
}

fn whole_seconds(duration: std::time::Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Who is calling, recorded on every request for handlers.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    /// The client address (from `X-Forwarded-For` only when configured to trust it).
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// A client-supplied request id is kept when it is short and plain; otherwise a new one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

fn client_info(req: &Request, trust_forwarded_for: bool) -> ClientInfo {
    let forwarded = trust_forwarded_for
        .then(|| {
            req.headers()
                .get(FORWARDED_FOR)
                .and_then(|v| v.to_str().ok())
                // The rightmost entry is the one the trusted proxy appended; entries to its left
                // come from the client and can be forged.
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    let direct = req
        .remote_addr()
        .as_socket_addr()
        .map(std::net::SocketAddr::ip);
    ClientInfo {
        ip: forwarded.or(direct),
        user_agent: req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Renders an error body.
pub(crate) fn error_response(error: &ApiError, request_id: &str) -> Response {
    let body = ErrorBody {
        code: error.code.to_owned(),
        message: error.message.clone(),
        request_id: request_id.to_owned(),
    };
    let json = serde_json::json!({
        "code": body.code,
        "message": body.message,
        "request_id": body.request_id,
    });
    let mut response = Response::builder()
        .status(error.status)
        .content_type("application/json; charset=utf-8")
        .body(json.to_string());
    if let Some(wait) = error.retry_after {
        let secs = whole_seconds(wait).max(1);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Refuses a request that carries an API key in its query string: URLs end up in logs, proxies
/// and browser histories, so keys are accepted only in headers.
fn refuse_key_in_query(req: &Request) -> Result<(), ApiError> {
    let query = req.uri().query().unwrap_or_default();
    let carries_key = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, value)| value))
        .any(|value| {
            value.starts_with("dk_") || value.starts_with("dk%5F") || value.starts_with("dk%5f")
        });
    if carries_key {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "api_key_in_query",
            "API keys are accepted only in the Authorization or X-Api-Key header; a key sent in a \
             URL may have been logged along the way, so revoke it and create a new one",
        ));
    }
    Ok(())
}

/// Refuses a declared body over `max` bytes with 413, and cuts an undeclared (chunked) body after
/// `max` bytes so that it fails to parse instead of filling memory.
fn limit_body(req: &mut Request, max: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than {max} bytes"),
        )),
        Some(_) => Ok(()),
        None => {
            let body = req.take_body();
            req.set_body(Body::from_async_read(
                body.into_async_read().take(max as u64 + 1),
            ));
            Ok(())
        }
    }
}

/// Refuses a JSON body whose values do not have the types the operation's schema declares
/// ([`crate::contract::Methods::check_body`]) with 400 `invalid_request`, naming the field.
async fn check_json_body(
    req: &mut Request,
    methods: &crate::contract::Methods,
) -> Result<(), ApiError> {
    let is_json = req
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return Ok(());
    }
    let body = req.take_body().into_bytes().await.map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body could not be read: {error}"),
        )
    })?;
    let checked = methods.check_body(req.method().as_str(), req.uri().path(), &body);
    req.set_body(body);
    checked.map_err(|reason| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", reason))
}

/// Room for a multipart form's boundaries, headers and small fields around the file.
const UPLOAD_FRAMING: usize = 64 * 1024;

/// Wraps the application in the request middleware.
pub(crate) fn wrap(
    app: impl Endpoint + 'static,
    metrics: Arc<Metrics>,
    methods: Arc<crate::contract::Methods>,
    trust_forwarded_for: bool,
    max_body: usize,
    max_upload: usize,
) -> poem::endpoint::BoxEndpoint<'static> {
    let app = app.map_to_response().boxed();
    app.around(move |ep, mut req| {
        let metrics = metrics.clone();
        let methods = methods.clone();
        async move {
            let started = Instant::now();
            let id = request_id(&req);
            let client = client_info(&req, trust_forwarded_for);
            req.extensions_mut().insert(client.clone());
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let span = tracing::info_span!("request", request_id = %id, %method, %path);
            // File uploads (multipart) may be as large as the upload limit plus the form's
            // framing; everything else is JSON and gets the JSON limit.
            let is_upload = req
                .headers()
                .get(poem::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
            let max = if is_upload {
                max_upload.saturating_add(UPLOAD_FRAMING)
            } else {
                max_body
            };
            let mut checked = refuse_key_in_query(&req).and_then(|()| limit_body(&mut req, max));
            if checked.is_ok() {
                checked = check_json_body(&mut req, &methods).await;
            }
            let meta = RequestMeta {
                request_id: Some(id.clone()),
                client_addr: client.ip.map(|ip| ip.to_string()),
            };
            let handled = KEY_RATE.scope(std::cell::Cell::new(None), async {
                let result = match checked {
                    Ok(()) => ep.call(req).instrument(span.clone()).await,
                    Err(error) => Err(error.into()),
                };
                (result, KEY_RATE.with(std::cell::Cell::get))
            });
            let (result, key_rate) = REQUEST.scope(meta, handled).await;
            let (mut response, operation) = match result {
                Ok(response) => {
                    let operation = response.data::<OperationId>().map_or("other", |o| o.0);
                    (response.into_response(), operation)
                }
                Err(error) => {
                    let operation = error.data::<OperationId>().map_or("other", |o| o.0);
                    let api_error = error
                        .downcast_ref::<ApiError>()
                        .cloned()
                        .unwrap_or_else(|| from_framework(&error, methods.malformed_id(&path)));
                    if let Some(cause) = &api_error.internal {
                        tracing::error!(parent: &span, %cause, code = api_error.code, "request failed");
                    }
                    (error_response(&api_error, &id), operation)
                }
            };
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            // A method the path does not take: say which it does.
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(allowed) = methods.allowed(&path)
                && let Ok(value) = HeaderValue::from_str(allowed)
            {
                response.headers_mut().insert(poem::http::header::ALLOW, value);
            }
            if let Some(rate) = key_rate {
                let headers = response.headers_mut();
                headers.insert(RATE_LIMIT, HeaderValue::from(rate.limit));
                headers.insert(RATE_REMAINING, HeaderValue::from(rate.remaining));
                headers.insert(RATE_RESET, HeaderValue::from(whole_seconds(rate.reset)));
            }
            let took = started.elapsed();
            let status = response.status();
            metrics.observe(&method, operation, status, took);
            tracing::info!(
                parent: &span,
                status = status.as_u16(),
                operation,
                millis = took.as_millis() as u64,
                "request"
            );
            Ok(response)
        }
    })
    .boxed()
}
