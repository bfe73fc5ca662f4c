//! The catalogue of services the SIEL offers, the communes and their sites.
//!
//! Handlers resolve what a caller may see through [`Scope`]: today every request sees
//! every commune; a commune principal will be restricted to its own INSEE code (foreign
//! communes answer 404).

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::domain::{self, Commune, Service, Site};

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
    // A commune outside the scope answers like one that does not exist.
    if !scope.allows(&insee) || domain::get_commune(&s.pool, &insee).await?.is_none() {
        return Err(ApiError::NotFound(format!("no commune {insee:?}")));
    }
    let sites = domain::list_sites(&s.pool, &insee).await?;
    Ok(SiteList { commune: insee, sites })
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
