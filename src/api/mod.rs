//! The HTTP API (axum): `router(state)` builds every route, so authentication can be
//! added in one place. One file per resource; [`error`] is the one error shape.

pub mod alerts;
pub mod auth;
pub mod catalogue;
pub mod devices;
pub mod docs;
pub mod error;
pub mod experiments;
pub mod exports;
pub mod fleet;
pub mod indicators;
pub mod ingest;
pub mod map;
pub mod meta;
pub mod onboarding;
pub mod sites;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use roc42_decoders::js::JsLimits;
use sqlx::PgPool;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::custody::Sealer;
use crate::pipeline::reprocess::Reprocessor;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: PrometheusHandle,
    /// The webhook routes' secrets and the pipeline they feed (default: disabled).
    pub webhooks: webhooks::Webhooks,
    /// Seals the AppSKeys operators give (none: no master key, keys are refused).
    pub sealer: Option<Sealer>,
    /// Limits of the JS codecs run when stored uplinks are decoded again (claims).
    pub js_limits: JsLimits,
    /// The built-in pages' settings (map tiles, sessions).
    pub pages: crate::config::PagesConfig,
    /// The MQTT consumer's connection, when this process ingests (`/ready`).
    pub ingest: Option<crate::ingest::mqtt::IngestStatus>,
}

impl AppState {
    /// The state with webhooks disabled, no master key and the default codec limits.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            metrics: crate::telemetry::metrics().clone(),
            webhooks: webhooks::Webhooks::default(),
            sealer: None,
            js_limits: JsLimits::default(),
            pages: crate::config::PagesConfig::default(),
            ingest: None,
        }
    }

    /// Decodes stored uplinks again, with this state's keys and limits.
    pub fn reprocessor(&self) -> Reprocessor {
        Reprocessor::new(self.pool.clone(), self.sealer.clone(), self.js_limits)
    }
}

/// Every route of the API, and the built-in pages (`crate::web`).
///
/// Every API route needs a bearer token except [`auth::PUBLIC_ROUTES`]; see [`auth`]. The
/// pages take the same token, or a session opened with it.
pub fn router(state: AppState) -> Router {
    let auth = auth::Auth::new(state.pool.clone());
    let pages = crate::web::router(state.clone(), auth.clone());
    Router::new()
        .route("/health", get(meta::health))
        .route("/ready", get(meta::ready))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi))
        .route(docs::PAGE, get(docs::page))
        .route(docs::SCRIPT, get(docs::script))
        .route(docs::STYLE, get(docs::style))
        .route("/api/v1/models", get(meta::models))
        .route("/api/v1/models/{id}", get(meta::model))
        .route("/api/v1/metrics", get(meta::metric_catalogue))
        .route("/api/v1/services", get(catalogue::services))
        .route("/api/v1/services/{id}", get(catalogue::service).put(catalogue::upsert_service))
        .route("/api/v1/communes", get(catalogue::communes).post(catalogue::upsert_commune))
        .route("/api/v1/communes/{insee}", get(catalogue::commune))
        .route("/api/v1/communes/{insee}/sites", get(catalogue::sites))
        .route(
            "/api/v1/communes/{insee}/subscriptions/{service}",
            put(catalogue::subscribe).delete(catalogue::unsubscribe),
        )
        .route("/api/v1/subscriptions", get(catalogue::subscriptions))
        .route("/api/v1/sites", get(sites::list).post(sites::create))
        .route("/api/v1/sites/{id}", get(sites::get).patch(sites::update))
        .route("/api/v1/sites/{id}/readings", get(sites::readings))
        .route("/api/v1/sites/{id}/indicators", get(indicators::site))
        .route("/api/v1/exports/operat", get(indicators::operat))
        .route("/api/v1/communes/{insee}/services/{service}/readings", get(indicators::service_series))
        .route("/api/v1/exports/readings", get(exports::readings))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/fleet/health", get(fleet::health))
        .route("/api/v1/experiments", get(experiments::list).post(experiments::create))
        .route("/api/v1/experiments/{id}", get(experiments::get))
        .route("/api/v1/experiments/{id}/results", get(experiments::results))
        .route("/api/v1/alerts/rules", get(alerts::rules).post(alerts::create_rule))
        .route("/api/v1/alerts/rules/{id}", axum::routing::delete(alerts::delete_rule))
        .route("/api/v1/devices", get(devices::list).post(onboarding::create))
        .route(
            "/api/v1/devices/import",
            post(onboarding::import).layer(DefaultBodyLimit::max(onboarding::MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/devices/unknown", get(onboarding::unknown))
        .route("/api/v1/devices/unknown/{dev_eui}/claim", post(onboarding::claim))
        .route("/api/v1/devices/{dev_eui}", get(devices::get).patch(onboarding::update))
        .route("/api/v1/devices/{dev_eui}/readings", get(devices::readings))
        .route("/api/v1/devices/{dev_eui}/retire", post(onboarding::retire))
        .route("/api/v1/map/devices", get(map::devices))
        .route("/api/v1/ingest/rejected", get(ingest::rejected))
        .route("/api/v1/ingest/events", get(ingest::events))
        .route(crate::ingest::tts::WEBHOOK_ROUTE, post(webhooks::tts))
        .route(crate::ingest::thingpark::WEBHOOK_ROUTE, post(webhooks::thingpark))
        .route_layer(axum::middleware::from_fn_with_state(auth, auth::authenticate))
        .with_state(state)
        .merge(pages)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(TraceLayer::new_for_http())
}

/// Declares the bearer token every `/api/v1` route needs.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A token from `roc42 tokens create` (operator, analyst or commune)."))
            .build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme("bearer", SecurityScheme::Http(scheme));
        for (path, item) in doc.paths.paths.iter_mut() {
            if auth::PUBLIC_ROUTES.contains(&path.as_str()) {
                continue;
            }
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                op.security =
                    Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
            }
        }
    }
}

/// The OpenAPI document of [`router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "roc42 API",
        description = "LoRaWAN application backend: the catalogue of services, communes, sites, devices and \
            their readings, onboarding, device models. Every `/api/v1` route needs `Authorization: Bearer <token>`; \
            a commune token sees its own commune only, analysts read everything, operators also write."
    ),
    modifiers(&BearerAuth),
    paths(
        meta::health,
        meta::ready,
        meta::models,
        meta::model,
        meta::metric_catalogue,
        catalogue::services,
        catalogue::service,
        catalogue::upsert_service,
        catalogue::communes,
        catalogue::commune,
        catalogue::upsert_commune,
        catalogue::sites,
        catalogue::subscriptions,
        catalogue::subscribe,
        catalogue::unsubscribe,
        sites::list,
        sites::get,
        sites::readings,
        sites::create,
        sites::update,
        indicators::site,
        indicators::operat,
        indicators::service_series,
        exports::readings,
        alerts::list,
        fleet::health,
        experiments::list,
        experiments::get,
        experiments::create,
        experiments::results,
        alerts::rules,
        alerts::create_rule,
        alerts::delete_rule,
        devices::list,
        devices::get,
        devices::readings,
        map::devices,
        onboarding::create,
        onboarding::update,
        onboarding::retire,
        onboarding::import,
        onboarding::unknown,
        onboarding::claim,
        ingest::rejected,
        ingest::events,
        webhooks::tts,
        webhooks::thingpark,
    ),
    components(schemas(
        meta::Readiness,
        error::ErrorBody,
        error::ErrorDetail,
        webhooks::WebhookReply,
        crate::onboarding::LineError,
        crate::pipeline::reprocess::ReprocessSummary
    ))
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
