//! The HTTP API (axum): `router(state)` builds every route, so authentication can be
//! added in one place. One file per resource; [`error`] is the one error shape.

pub mod auth;
pub mod catalogue;
pub mod devices;
pub mod error;
pub mod ingest;
pub mod meta;
pub mod webhooks;

use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: PrometheusHandle,
    /// The webhook routes' secrets and the pipeline they feed (default: disabled).
    pub webhooks: webhooks::Webhooks,
}

/// Every route of the API.
///
/// Every route needs a bearer token except [`auth::PUBLIC_ROUTES`]; see [`auth`].
pub fn router(state: AppState) -> Router {
    let auth = auth::Auth::new(state.pool.clone());
    Router::new()
        .route("/health", get(meta::health))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi))
        .route("/api/v1/models", get(meta::models))
        .route("/api/v1/models/{id}", get(meta::model))
        .route("/api/v1/metrics", get(meta::metric_catalogue))
        .route("/api/v1/services", get(catalogue::services))
        .route("/api/v1/services/{id}", get(catalogue::service))
        .route("/api/v1/communes", get(catalogue::communes))
        .route("/api/v1/communes/{insee}/sites", get(catalogue::sites))
        .route("/api/v1/devices", get(devices::list))
        .route("/api/v1/devices/{dev_eui}", get(devices::get))
        .route("/api/v1/devices/{dev_eui}/readings", get(devices::readings))
        .route("/api/v1/ingest/rejected", get(ingest::rejected))
        .route("/api/v1/ingest/events", get(ingest::events))
        .route(crate::ingest::tts::WEBHOOK_ROUTE, post(webhooks::tts))
        .route(crate::ingest::thingpark::WEBHOOK_ROUTE, post(webhooks::thingpark))
        .route_layer(axum::middleware::from_fn_with_state(auth, auth::authenticate))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The OpenAPI document of [`router`].
#[derive(OpenApi)]
#[openapi(
    info(title = "roc42 API", description = "LoRaWAN application backend: devices, readings, device models."),
    paths(
        meta::health,
        meta::models,
        meta::model,
        meta::metric_catalogue,
        catalogue::services,
        catalogue::service,
        catalogue::communes,
        catalogue::sites,
        devices::list,
        devices::get,
        devices::readings,
        ingest::rejected,
        ingest::events,
        webhooks::tts,
        webhooks::thingpark,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, webhooks::WebhookReply))
)]
pub struct ApiDoc;

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The client's address feeds the failed-auth rate limit.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}
