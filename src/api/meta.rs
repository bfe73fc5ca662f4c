//! Service routes: health, Prometheus metrics, the OpenAPI document, and the catalogues
//! of device models and canonical metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use roc42_decoders::{model, Metric};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::{ApiDoc, AppState};

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
    let db_ok = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&s.pool).await.is_ok();
    let body = Health {
        status: if db_ok { "ok" } else { "degraded" },
        database: if db_ok { "ok" } else { "unreachable" },
        version: env!("CARGO_PKG_VERSION"),
    };
    (if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
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
    pub id: &'static str,
    pub vendor: &'static str,
    pub model: &'static str,
    /// `air_quality`, `energy` or `parking`.
    pub category: &'static str,
    pub lorawan_class: &'static str,
    /// Decoder kind: `native`.
    pub decoder: &'static str,
}

/// The device models roc42 can decode.
#[utoipa::path(get, path = "/api/v1/models", tag = "catalogue", responses((status = 200, body = [ModelDto])))]
pub async fn models() -> Json<Vec<ModelDto>> {
    Json(
        model::MODELS
            .iter()
            .map(|m| ModelDto {
                id: m.id,
                vendor: m.vendor,
                model: m.model,
                category: m.category.as_str(),
                lorawan_class: m.lorawan_class,
                decoder: "native",
            })
            .collect(),
    )
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
