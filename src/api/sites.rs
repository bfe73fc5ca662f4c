//! Sites (a school, a town hall, a car park): a commune's list, one site with its devices
//! and their latest values, the readings of a site by metric, and operators' writes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::devices::{self, BucketDto, DeviceDetail, ReadingsQuery};
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::device::{self as device_store, DeviceFilter};
use crate::store::domain::{self, Site, SiteInput};
use crate::store::reading::{self, Bucket};

/// Most devices a site's detail and readings cover.
const MAX_SITE_DEVICES: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct SitesQuery {
    /// Only the sites of this commune (INSEE code).
    pub commune: Option<String>,
}

/// Sites.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sites {
    pub sites: Vec<Site>,
}

/// The sites the caller may see (a commune: its own), by commune then name.
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", params(SitesQuery),
    responses((status = 200, body = Sites)))]
pub async fn list(
    principal: Principal,
    State(s): State<AppState>,
    Query(q): Query<SitesQuery>,
) -> Result<Json<Sites>, ApiError> {
    let sites = domain::list_sites(&s.pool, principal.commune(), q.commune.as_deref()).await?;
    Ok(Json(Sites { sites }))
}

async fn find(s: &AppState, principal: &Principal, id: i64) -> Result<Site, ApiError> {
    domain::get_site(&s.pool, principal.commune(), id).await?.ok_or_else(|| ApiError::NotFound(format!("no site {id}")))
}

/// A site with its devices in service and their latest values.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteDetail {
    pub site: Site,
    pub devices: Vec<DeviceDetail>,
}

/// One site, with its devices and their latest values.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites",
    params(("id" = i64, Path, description = "Site id")),
    responses((status = 200, body = SiteDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SiteDetail>, ApiError> {
    let site = find(&s, &principal, id).await?;
    let scope = principal.commune();
    let filter = DeviceFilter { site_id: Some(site.id), ..DeviceFilter::default() };
    let list = device_store::list(&s.pool, scope, &filter, MAX_SITE_DEVICES, 0).await?;
    let devices = devices::with_latest(&s, scope, list).await?;
    Ok(Json(SiteDetail { site, devices }))
}

/// One device's series at a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceSeries {
    pub dev_eui: String,
    pub name: String,
    /// Raw readings (`bucket=raw`): `[time, value]` pairs would be smaller, objects are clearer.
    pub readings: Vec<Point>,
    pub buckets: Vec<BucketDto>,
}

/// A raw reading of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    pub time: chrono::DateTime<chrono::Utc>,
    pub value: f64,
}

/// The readings of one metric at a site, one series per device.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteReadings {
    pub site_id: i64,
    #[schema(example = "air.co2")]
    pub metric: String,
    #[schema(example = "ppm")]
    pub unit: &'static str,
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = String, example = "1h")]
    pub bucket: Bucket,
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
    pub series: Vec<DeviceSeries>,
}

/// The readings of one metric at a site (every device placed there that measures it),
/// raw or per hour or local day with count, avg, min, max and last.
#[utoipa::path(get, path = "/api/v1/sites/{id}/readings", tag = "sites",
    params(("id" = i64, Path, description = "Site id"), ReadingsQuery),
    responses((status = 200, body = SiteReadings), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn readings(
    principal: Principal,
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<ReadingsQuery>,
) -> Result<Json<SiteReadings>, ApiError> {
    let site = find(&s, &principal, id).await?;
    let p = q.check(true)?;
    let metric = p.metric.clone().unwrap_or_default();
    let scope = principal.commune();
    let filter = DeviceFilter { site_id: Some(site.id), include_retired: true, ..DeviceFilter::default() };
    let list = device_store::list(&s.pool, scope, &filter, MAX_SITE_DEVICES, 0).await?;
    let ids: Vec<i64> = list.iter().map(|d| d.id).collect();
    let mut series: Vec<DeviceSeries> = list
        .iter()
        .map(|d| DeviceSeries { dev_eui: d.dev_eui.clone(), name: d.name.clone(), readings: vec![], buckets: vec![] })
        .collect();
    // Series by device id: a site's readings come by the thousand.
    let positions: std::collections::HashMap<i64, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let index = |device_id: i64| positions.get(&device_id).copied();
    if p.bucket == Bucket::Raw {
        for r in reading::series(&s.pool, scope, &ids, &metric, p.from, p.to, p.limit).await? {
            if let Some(i) = index(r.device_id) {
                series[i].readings.push(Point { time: r.time, value: r.value });
            }
        }
    } else {
        let rows = reading::buckets(&s.pool, scope, &ids, &metric, p.from, p.to, p.bucket).await?;
        for b in rows {
            if let Some(i) = index(b.device_id) {
                series[i].buckets.push(BucketDto::new(&metric, b));
            }
        }
    }
    series.retain(|d| !d.readings.is_empty() || !d.buckets.is_empty());
    Ok(Json(SiteReadings {
        site_id: site.id,
        unit: roc42_decoders::Metric::from_name(&metric).map(|m| m.unit()).unwrap_or(""),
        metric,
        from: p.from,
        to: p.to,
        bucket: p.bucket,
        time_zone: site.time_zone,
        series,
    }))
}

/// Coordinates given in a request, WGS 84 degrees: within ±90 and ±180.
pub(super) fn check_position(latitude: Option<f64>, longitude: Option<f64>) -> Result<(), ApiError> {
    if latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        return Err(ApiError::BadRequest("latitude must be between -90 and 90".into()));
    }
    if longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        return Err(ApiError::BadRequest("longitude must be between -180 and 180".into()));
    }
    Ok(())
}

/// The fields of a site write that have a range: position, occupancy, area, year.
fn check_site(input: &SiteInput) -> Result<(), ApiError> {
    check_position(input.latitude, input.longitude)?;
    if let Some(problem) = input.occupancy.as_ref().and_then(|o| o.problem()) {
        return Err(ApiError::BadRequest(problem));
    }
    if input.floor_area_m2.is_some_and(|a| !(a.is_finite() && a > 0.0)) {
        return Err(ApiError::BadRequest("floor_area_m2 must be a positive number".into()));
    }
    if input.baseline_year.is_some_and(|y| !(2010..=2100).contains(&y)) {
        return Err(ApiError::BadRequest(
            "baseline_year must be between 2010 and 2100 (the décret tertiaire's floor)".into(),
        ));
    }
    Ok(())
}

/// Creates a site in a commune (operators).
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", request_body = SiteInput,
    responses((status = 201, body = Site), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    Json(input): Json<SiteInput>,
) -> Result<(StatusCode, Json<Site>), ApiError> {
    let commune = input.commune.as_deref().ok_or_else(|| ApiError::BadRequest("commune is required".into()))?;
    if input.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    check_site(&input)?;
    if domain::get_commune(&s.pool, commune).await?.is_none() {
        return Err(ApiError::BadRequest(format!("unknown commune {commune:?}")));
    }
    let id = domain::create_site(&s.pool, commune, &input)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("commune {commune} already has a site of that name")))?;
    let site = domain::get_site(&s.pool, None, id).await?.ok_or_else(|| ApiError::NotFound(format!("no site {id}")))?;
    Ok((StatusCode::CREATED, Json(site)))
}

/// Renames a site, or changes its address or position (operators). Its commune does not
/// change: move its devices to a site of the other commune instead.
#[utoipa::path(patch, path = "/api/v1/sites/{id}", tag = "sites", request_body = SiteInput,
    params(("id" = i64, Path, description = "Site id")),
    responses((status = 200, body = Site), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Json(input): Json<SiteInput>,
) -> Result<Json<Site>, ApiError> {
    let site = domain::get_site(&s.pool, None, id).await?.ok_or_else(|| ApiError::NotFound(format!("no site {id}")))?;
    if input.commune.as_deref().is_some_and(|c| c != site.commune) {
        return Err(ApiError::BadRequest("a site's commune cannot change".into()));
    }
    if input.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::BadRequest("name cannot be empty".into()));
    }
    check_site(&input)?;
    match domain::update_site(&s.pool, id, &input).await {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(ApiError::Conflict(format!("commune {} already has a site of that name", site.commune)))
        }
        Err(e) => return Err(e.into()),
    }
    domain::get_site(&s.pool, None, id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no site {id}")))
}
