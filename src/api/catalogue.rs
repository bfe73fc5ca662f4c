//! The catalogue of services the SIEL offers, the communes, their sites and their
//! subscriptions to services; operators' writes to them.
//!
//! Handlers resolve what a caller may see through [`Scope`]: operators and analysts see
//! every commune, a commune its own (foreign communes answer 404).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::domain::{self, Commune, CommuneInput, Service, ServiceInput, Site, Subscription};

/// The communes a request may see: `None` for all of them.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub commune: Option<String>,
}

impl Scope {
    /// Every commune (operators, analysts).
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether `insee` is visible.
    pub fn allows(&self, insee: &str) -> bool {
        self.commune.as_deref().is_none_or(|c| c == insee)
    }
}

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<Service>,
}

/// The services the SIEL offers, by id.
#[utoipa::path(get, path = "/api/v1/services", tag = "catalogue",
    responses((status = 200, body = ServiceList)))]
pub async fn services(State(s): State<AppState>) -> Result<Json<ServiceList>, ApiError> {
    Ok(Json(ServiceList { services: domain::list_services(&s.pool).await? }))
}

/// One service of the catalogue.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "catalogue",
    params(("id" = String, Path, description = "Service id, e.g. `air-quality-schools`")),
    responses((status = 200, body = Service), (status = 404, body = ErrorBody)))]
pub async fn service(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Service>, ApiError> {
    domain::get_service(&s.pool, &id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no service {id:?}")))
}

/// Communes.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommuneList {
    pub communes: Vec<Commune>,
}

/// The communes (with the services each subscribed to), by INSEE code.
#[utoipa::path(get, path = "/api/v1/communes", tag = "catalogue",
    responses((status = 200, body = CommuneList)))]
pub async fn communes(principal: Principal, State(s): State<AppState>) -> Result<Json<CommuneList>, ApiError> {
    list_communes(&s, &principal.scope()).await.map(Json)
}

async fn list_communes(s: &AppState, scope: &Scope) -> Result<CommuneList, ApiError> {
    Ok(CommuneList { communes: domain::list_communes(&s.pool, scope.commune.as_deref()).await? })
}

/// Sites of a commune.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    pub commune: String,
    pub sites: Vec<Site>,
}

/// The sites of a commune, by name, with their count of devices in service.
#[utoipa::path(get, path = "/api/v1/communes/{insee}/sites", tag = "catalogue",
    params(("insee" = String, Path, description = "INSEE code of the commune")),
    responses((status = 200, body = SiteList), (status = 404, body = ErrorBody)))]
pub async fn sites(
    principal: Principal,
    State(s): State<AppState>,
    Path(insee): Path<String>,
) -> Result<Json<SiteList>, ApiError> {
    list_sites(&s, &principal.scope(), insee).await.map(Json)
}

async fn list_sites(s: &AppState, scope: &Scope, insee: String) -> Result<SiteList, ApiError> {
    find_commune(s, scope, &insee).await?;
    let sites = domain::list_sites(&s.pool, scope.commune.as_deref(), Some(&insee)).await?;
    Ok(SiteList { commune: insee, sites })
}

/// The commune if the scope allows it; one outside it answers like one that does not exist.
async fn find_commune(s: &AppState, scope: &Scope, insee: &str) -> Result<Commune, ApiError> {
    match scope.allows(insee) {
        true => domain::get_commune(&s.pool, insee).await?,
        false => None,
    }
    .ok_or_else(|| ApiError::NotFound(format!("no commune {insee:?}")))
}

/// One commune, with the services it subscribed to.
#[utoipa::path(get, path = "/api/v1/communes/{insee}", tag = "catalogue",
    params(("insee" = String, Path, description = "INSEE code of the commune")),
    responses((status = 200, body = Commune), (status = 404, body = ErrorBody)))]
pub async fn commune(
    principal: Principal,
    State(s): State<AppState>,
    Path(insee): Path<String>,
) -> Result<Json<Commune>, ApiError> {
    find_commune(&s, &principal.scope(), &insee).await.map(Json)
}

/// Adds a commune, or renames or moves one (operators).
#[utoipa::path(post, path = "/api/v1/communes", tag = "catalogue", request_body = CommuneInput,
    responses((status = 201, body = Commune), (status = 200, body = Commune), (status = 400, body = ErrorBody)))]
pub async fn upsert_commune(
    State(s): State<AppState>,
    Json(c): Json<CommuneInput>,
) -> Result<(StatusCode, Json<Commune>), ApiError> {
    let insee_ok = c.insee.len() == 5
        && c.insee.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 1 && (b == b'A' || b == b'B')));
    if !insee_ok {
        return Err(ApiError::BadRequest(format!(
            "{:?} is not an INSEE code (5 characters, 2A/2B for Corsica)",
            c.insee
        )));
    }
    if c.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    super::sites::check_position(Some(c.latitude), Some(c.longitude))?;
    if let Some(tz) = &c.time_zone {
        if !domain::is_time_zone(&s.pool, tz).await? {
            return Err(ApiError::BadRequest(format!("unknown time zone {tz:?} (IANA name, e.g. Europe/Paris)")));
        }
    }
    let created = domain::upsert_commune(&s.pool, &c).await?;
    let commune = find_commune(&s, &Scope::all(), &c.insee).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(commune)))
}

/// Subscriptions of communes to services.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<Subscription>,
}

/// The caller's subscriptions (a commune: its own; operators and analysts: every
/// commune's), by commune then service.
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "catalogue",
    responses((status = 200, body = SubscriptionList)))]
pub async fn subscriptions(
    principal: Principal,
    State(s): State<AppState>,
) -> Result<Json<SubscriptionList>, ApiError> {
    Ok(Json(SubscriptionList { subscriptions: domain::list_subscriptions(&s.pool, principal.commune()).await? }))
}

/// Subscribes a commune to a service of the catalogue (operators); no-op if it is.
#[utoipa::path(put, path = "/api/v1/communes/{insee}/subscriptions/{service}", tag = "catalogue",
    params(("insee" = String, Path, description = "INSEE code"), ("service" = String, Path, description = "Service id")),
    responses((status = 204, description = "Subscribed"), (status = 404, body = ErrorBody)))]
pub async fn subscribe(
    State(s): State<AppState>,
    Path((insee, service)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    find_commune(&s, &Scope::all(), &insee).await?;
    if domain::get_service(&s.pool, &service).await?.is_none() {
        return Err(ApiError::NotFound(format!("no service {service:?}")));
    }
    domain::subscribe(&s.pool, &insee, &service).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends a commune's subscription to a service (operators).
#[utoipa::path(delete, path = "/api/v1/communes/{insee}/subscriptions/{service}", tag = "catalogue",
    params(("insee" = String, Path, description = "INSEE code"), ("service" = String, Path, description = "Service id")),
    responses((status = 204, description = "Unsubscribed"), (status = 404, body = ErrorBody)))]
pub async fn unsubscribe(
    State(s): State<AppState>,
    Path((insee, service)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    match domain::unsubscribe(&s.pool, &insee, &service).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound(format!("commune {insee:?} has no subscription to {service:?}"))),
    }
}

/// Adds a service to the catalogue, or replaces one (operators). The built-in models of
/// its `category` are added to its `models`.
#[utoipa::path(put, path = "/api/v1/services/{id}", tag = "catalogue", request_body = ServiceInput,
    params(("id" = String, Path, description = "Service id: lower-case words joined by `-`")),
    responses((status = 201, body = Service), (status = 200, body = Service), (status = 400, body = ErrorBody)))]
pub async fn upsert_service(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<ServiceInput>,
) -> Result<(StatusCode, Json<Service>), ApiError> {
    let id_ok = !id.is_empty()
        && id.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if !id_ok {
        return Err(ApiError::BadRequest(format!("{id:?} is not a service id (lower-case words joined by -)")));
    }
    if input.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    if let Some(c) = &input.category {
        if !roc42_decoders::model::Category::ALL.iter().any(|k| k.as_str() == c) {
            return Err(ApiError::BadRequest(format!("unknown category {c:?}: air_quality, energy or parking")));
        }
    }
    if let Some(m) = input.metrics.iter().find(|m| roc42_decoders::Metric::from_name(m).is_none()) {
        return Err(ApiError::BadRequest(format!("unknown metric {m:?}; see /api/v1/metrics")));
    }
    let known: std::collections::HashSet<String> =
        crate::pipeline::models::list_all(&s.pool).await?.iter().map(|m| m.id.clone()).collect();
    if let Some(m) = input.models.iter().find(|m| !known.contains(*m)) {
        return Err(ApiError::BadRequest(format!("unknown model {m:?}; see /api/v1/models")));
    }
    if !input.indicators.is_array() {
        return Err(ApiError::BadRequest("indicators must be an array".into()));
    }
    let created = domain::upsert_service(&s.pool, &id, &input).await?;
    let service =
        domain::get_service(&s.pool, &id).await?.ok_or_else(|| ApiError::NotFound(format!("no service {id:?}")))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(service)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope() {
        assert!(Scope::all().allows("42218"));
        let one = Scope { commune: Some("42218".into()) };
        assert!(one.allows("42218"));
        assert!(!one.allows("42187"));
    }
}
