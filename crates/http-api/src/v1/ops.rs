//! `/healthz` and `/readyz`.

use std::collections::BTreeMap;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::state::ApiState;

/// The operations endpoints.
#[derive(Debug, Clone)]
pub(crate) struct OpsApi {
    state: ApiState,
}

impl OpsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// Liveness or readiness.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct HealthDto {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Each dependency checked and its state (`ok` or `unavailable`).
    pub checks: BTreeMap<String, String>,
}

#[derive(ApiResponse)]
pub(crate) enum ReadyResponse {
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<HealthDto>),
    /// A dependency does not answer.
    #[oai(status = 503)]
    Unavailable(Json<HealthDto>),
}

#[OpenApi(tag = "ApiTags::Ops")]
impl OpsApi {
    /// Liveness
    ///
    /// Answers 200 while the process runs.
    #[oai(path = "/healthz", method = "get", operation_id = "ops_health")]
    async fn health(&self) -> Json<HealthDto> {
        Json(HealthDto {
            status: "ok".to_owned(),
            checks: BTreeMap::new(),
        })
    }

    /// Readiness
    ///
    /// Answers 200 when the database, the vector index and the embedder answer, 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "ops_ready")]
    async fn ready(&self) -> ReadyResponse {
        let Ok(services) = self.state.services() else {
            return ReadyResponse::Unavailable(Json(HealthDto {
                status: "unavailable".to_owned(),
                checks: BTreeMap::new(),
            }));
        };
        let mut checks = BTreeMap::new();
        let mut ready = true;
        for (name, failure) in services.readiness().await {
            let state = match failure {
                None => "ok",
                Some(error) => {
                    tracing::warn!(check = name, %error, "readiness check failed");
                    ready = false;
                    "unavailable"
                }
            };
            checks.insert(name.to_owned(), state.to_owned());
        }
        if ready {
            ReadyResponse::Ready(Json(HealthDto {
                status: "ready".to_owned(),
                checks,
            }))
        } else {
            ReadyResponse::Unavailable(Json(HealthDto {
                status: "unavailable".to_owned(),
                checks,
            }))
        }
    }
}
