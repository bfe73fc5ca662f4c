//! Service routes: health, Prometheus metrics, the OpenAPI document, and the catalogues
//! of device models and canonical metrics.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use roc42_decoders::model::ModelInfo;
use roc42_decoders::Metric;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{ApiDoc, AppState};
use crate::pipeline;

/// Liveness and database reachability.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    pub version: &'static str,
}

/// Health: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let db_ok = database_answers(&s).await;
    let body = Health {
        status: if db_ok { "ok" } else { "degraded" },
        database: if db_ok { "ok" } else { "unreachable" },
        version: env!("CARGO_PKG_VERSION"),
    };
    (if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

async fn database_answers(s: &AppState) -> bool {
    sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&s.pool).await.is_ok()
}

/// Whether this instance can do its work.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    /// `connected` (and subscribed), `disconnected`, or `not_ingesting` (an API-only process).
    pub broker: &'static str,
}

/// Readiness: 200 when the database answers and, if this process ingests, the MQTT
/// consumer is connected and subscribed; 503 otherwise (a load balancer or orchestrator
/// then sends no traffic here). `/health` only says the process is alive.
#[utoipa::path(get, path = "/ready", tag = "service",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    let db_ok = database_answers(&s).await;
    let broker = match &s.ingest {
        None => "not_ingesting",
        Some(status) if status.connected() => "connected",
        Some(_) => "disconnected",
    };
    let ok = db_ok && broker != "disconnected";
    let body = Readiness {
        status: if ok { "ready" } else { "not_ready" },
        database: if db_ok { "ok" } else { "unreachable" },
        broker,
    };
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// Prometheus text exposition.
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// A device model roc42 decodes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDto {
    #[schema(example = "milesight-am319")]
    pub id: String,
    pub vendor: String,
    pub model: String,
    /// `air_quality`, `energy` or `parking`.
    pub category: &'static str,
    /// LoRaWAN class: `A`, `B` or `C`.
    pub lorawan_class: String,
    /// FPort the model sends its measurements on.
    pub uplink_port: u8,
    pub description: String,
    /// Canonical metrics the model measures.
    pub metrics: Vec<&'static str>,
    /// Decoder kind: `native` (compiled in) or `js` (a sandboxed codec).
    pub decoder: &'static str,
    /// Compiled in, rather than added by an operator.
    pub builtin: bool,
}

impl From<&ModelInfo> for ModelDto {
    fn from(m: &ModelInfo) -> Self {
        Self {
            id: m.id.clone(),
            vendor: m.vendor.clone(),
            model: m.model.clone(),
            category: m.category.as_str(),
            lorawan_class: m.lorawan_class.clone(),
            uplink_port: m.uplink_port,
            description: m.description.clone(),
            metrics: m.metrics.iter().map(|x| x.name()).collect(),
            decoder: m.decoder_kind(),
            builtin: m.builtin,
        }
    }
}

/// The device models roc42 can decode: built-in ones, then those operators added.
#[utoipa::path(get, path = "/api/v1/models", tag = "catalogue",
    responses((status = 200, body = [ModelDto]), (status = 503, body = ErrorBody)))]
pub async fn models(State(s): State<AppState>) -> Result<Json<Vec<ModelDto>>, ApiError> {
    let all = pipeline::models::list_all(&s.pool).await?;
    Ok(Json(all.iter().map(|m| ModelDto::from(&**m)).collect()))
}

/// One device model.
#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "catalogue",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = ModelDto), (status = 404, body = ErrorBody)))]
pub async fn model(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<ModelDto>, ApiError> {
    match pipeline::models::find(&s.pool, &id).await? {
        Some(m) => Ok(Json(ModelDto::from(&*m))),
        None => Err(ApiError::NotFound(format!("no device model {id:?}"))),
    }
}

/// A canonical metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricDto {
    #[schema(example = "air.co2")]
    pub name: &'static str,
    /// SenML/UCUM unit.
    #[schema(example = "ppm")]
    pub unit: &'static str,
    /// `gauge`, `counter` or `state`.
    pub kind: &'static str,
    pub description: &'static str,
}

/// The canonical metric catalogue.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "catalogue", responses((status = 200, body = [MetricDto])))]
pub async fn metric_catalogue() -> Json<Vec<MetricDto>> {
    Json(
        Metric::ALL
            .iter()
            .map(|m| {
                let i = m.info();
                MetricDto { name: i.name, unit: i.unit, kind: i.kind.as_str(), description: i.description }
            })
            .collect(),
    )
}
