//! The HTTP API: poem + poem-openapi routes, DTOs, the security scheme, error mapping, request ids,
//! metrics, and the generated OpenAPI spec. Handlers only parse, call a service, and convert.

mod auth;
mod contract;
mod error;
mod metrics;
mod middleware;
mod state;
mod v1;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use docent_app::Services;
use poem::listener::TcpAcceptor;
use poem::{IntoEndpoint as _, Route, Server};
use poem_openapi::{ExtraHeader, OpenApiService};

pub use error::{ApiError, ErrorBody};

/// The title of the spec.
const TITLE: &str = "docent";
/// The spec's version: fixed, so the committed spec only changes when the API does.
const SPEC_VERSION: &str = "0.1.0";
/// The server URL written into the spec: fixed for the same reason.
const SPEC_SERVER: &str = "http://127.0.0.1:8080";

fn api_service(api: v1::Api) -> OpenApiService<v1::Api, ()> {
    OpenApiService::new(api, TITLE, SPEC_VERSION)
        .description(
            "docent: document-grounded chatbots for organizations. Authenticate with \
             `Authorization: Bearer <token>` using the session token from sign-up or login. \
             Every error body is `{code, message, request_id}` and every response carries \
             `X-Request-Id`.",
        )
        .server(SPEC_SERVER)
        .extra_response_header::<String, _>(
            ExtraHeader::new("X-Request-Id")
                .description("The id of this request, also in error bodies."),
        )
}

/// The OpenAPI document, as committed at `openapi/openapi.json`.
#[must_use]
pub fn openapi_json() -> String {
    contract::published(&api_service(v1::api(state::ApiState::spec_only())).spec())
}

/// The whole application: API routes, spec, docs, health and metrics, behind the request
/// middleware (request ids, error bodies, metrics, access log, body-size limit).
pub fn app(services: Services) -> poem::endpoint::BoxEndpoint<'static> {
    app_with(services, |route| route)
}

/// [`app`] with more routes (the browser console's) added by `mount`, behind the same
/// middleware.
pub fn app_with(
    services: Services,
    mount: impl FnOnce(Route) -> Route,
) -> poem::endpoint::BoxEndpoint<'static> {
    let metrics = Arc::new(metrics::Metrics::new(&services.metrics));
    let scraped = services.clone();
    let max_body = services.config.http.max_json_body_bytes;
    let max_upload =
        usize::try_from(services.config.documents.max_upload_bytes).unwrap_or(usize::MAX);
    let trust_forwarded_for = services.config.http.trust_forwarded_for;
    let state = state::ApiState::new(services);
    let service = api_service(v1::api(state));
    let spec = contract::published(&service.spec());
    let methods = Arc::new(contract::Methods::of(&spec));
    let api = Route::new()
        .at(
            "/openapi.json",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec.clone())
            })),
        )
        .nest("/docs", service.swagger_ui())
        .at("/metrics", metrics::endpoint(metrics.clone(), scraped));
    // The API's own paths (all under `/v1`, and the two probes) go to the API service; every
    // other path is the console's (`mount`) or not found.
    let endpoint = std::sync::Arc::new(service.into_endpoint());
    let api = api
        .nest_no_strip("/v1", endpoint.clone())
        .at("/healthz", endpoint.clone())
        .at("/readyz", endpoint);
    let route = mount(api);
    middleware::wrap(
        route,
        metrics,
        methods,
        trust_forwarded_for,
        max_body,
        max_upload,
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish for
/// up to ten seconds.
pub async fn serve(
    services: Services,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_with(services, listener, shutdown, |route| route).await
}

/// [`serve`] with more routes (the browser console's) added by `mount`.
pub async fn serve_with(
    services: Services,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    mount: impl FnOnce(Route) -> Route,
) -> std::io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app_with(services, mount),
            shutdown,
            Some(Duration::from_secs(10)),
        )
        .await
}
