//! Prometheus metrics: request counts and latencies per operation, with the domain's metrics
//! (`docent_app::metrics`: jobs, ingestion, embedding, providers, tokens, quotas), served as text at
//! `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse as _, Response, handler};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every label comes from a closed set, so no request can add label sets (each of which lives as
/// long as the process): the method is one of HTTP's standard ones or `other`, the operation is an
/// `operationId` of the spec (a `&'static str`) or `other`, and the status is one the server sent.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: &'static str,
    operation: &'static str,
}

/// The method as a label: a standard method's name, or `other`.
fn method_label(method: &poem::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

type HistogramFamily = Family<DurationLabels, Histogram, fn() -> Histogram>;

/// The process's HTTP metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub(crate) fn new(domain: &docent_app::metrics::Metrics) -> Self {
        let mut registry = Registry::with_prefix("docent");
        domain.register(&mut registry);
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests by operation and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by operation",
            durations.clone(),
        );
        Self {
            registry,
            requests,
            durations,
        }
    }

    pub(crate) fn observe(
        &self,
        method: &poem::http::Method,
        operation: &'static str,
        status: StatusCode,
        took: Duration,
    ) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                operation,
                status: status.as_u16(),
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels { method, operation })
            .observe(took.as_secs_f64());
    }

    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `GET /metrics`: reads the job queue first, then renders every metric.
pub(crate) fn endpoint(
    metrics: Arc<Metrics>,
    services: docent_app::Services,
) -> impl Endpoint<Output = Response> {
    #[handler]
    async fn render(
        metrics: poem::web::Data<&Arc<Metrics>>,
        services: poem::web::Data<&docent_app::Services>,
    ) -> Response {
        services.refresh_metrics().await;
        match metrics.render() {
            Ok(text) => text
                .with_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                .into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
    poem::EndpointExt::data(poem::EndpointExt::data(render, metrics), services)
}
