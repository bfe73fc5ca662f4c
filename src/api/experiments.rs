//! Experiments for analysts: definitions (operators write them) and their results:
//! devices, data completeness, indicators of the sites involved, metric statistics.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::analytics::health::{self, FrameLoss};
use crate::analytics::report::{self, SiteIndicators};
use crate::store::device::{self as device_store, DeviceFilter};
use crate::store::domain;
use crate::store::experiment::{self as store, Experiment, ExperimentInput, MetricStats};

#[derive(Debug, Serialize, ToSchema)]
pub struct Experiments {
    pub experiments: Vec<Experiment>,
}

/// Experiments, newest first (a commune: those that name it).
#[utoipa::path(get, path = "/api/v1/experiments", tag = "experiments", responses((status = 200, body = Experiments)))]
pub async fn list(principal: Principal, State(s): State<AppState>) -> Result<Json<Experiments>, ApiError> {
    Ok(Json(Experiments { experiments: store::list(&s.pool, principal.commune()).await? }))
}

async fn find(s: &AppState, principal: &Principal, id: i64) -> Result<Experiment, ApiError> {
    store::get(&s.pool, principal.commune(), id).await?.ok_or_else(|| ApiError::NotFound(format!("no experiment {id}")))
}

/// One experiment.
#[utoipa::path(get, path = "/api/v1/experiments/{id}", tag = "experiments",
    params(("id" = i64, Path, description = "Experiment id")),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Experiment>, ApiError> {
    Ok(Json(find(&s, &principal, id).await?))
}

/// Creates an experiment (operators).
#[utoipa::path(post, path = "/api/v1/experiments", tag = "experiments", request_body = ExperimentInput,
    responses((status = 201, body = Experiment), (status = 400, body = ErrorBody)))]
pub async fn create(
    principal: Principal,
    State(s): State<AppState>,
    Json(mut input): Json<ExperimentInput>,
) -> Result<(StatusCode, Json<Experiment>), ApiError> {
    if input.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    if input.ends_at <= input.starts_at {
        return Err(ApiError::BadRequest("ends_at must be after starts_at".into()));
    }
    if input.services.is_empty() && input.dev_euis.is_empty() {
        return Err(ApiError::BadRequest("give services (with communes, or all) or dev_euis".into()));
    }
    let services = domain::service_ids(&s.pool).await?;
    if let Some(bad) = input.services.iter().find(|x| !services.contains(*x)) {
        return Err(ApiError::BadRequest(format!("unknown service {bad:?}")));
    }
    let communes = domain::commune_codes(&s.pool).await?;
    if let Some(bad) = input.communes.iter().find(|x| !communes.contains(*x)) {
        return Err(ApiError::BadRequest(format!("unknown commune {bad:?}")));
    }
    for eui in &mut input.dev_euis {
        let parsed: crate::lorawan::DevEui = eui.parse().map_err(|e| ApiError::BadRequest(format!("dev_euis: {e}")))?;
        *eui = parsed.to_string();
    }
    let id = store::create(&s.pool, &input).await?;
    Ok((StatusCode::CREATED, Json(find(&s, &principal, id).await?)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentResults {
    pub experiment: Experiment,
    /// The period results cover: the experiment's, up to now.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub devices: Vec<ExperimentDevice>,
    /// Over all devices: frames received of those sent.
    pub completeness: Option<f64>,
    pub metrics: Vec<MetricStats>,
    /// Indicators of every site the devices are at (over at most the first 366 days).
    pub sites: Vec<SiteIndicators>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentDevice {
    pub dev_eui: String,
    pub name: String,
    pub model: String,
    pub commune: Option<String>,
    pub site_id: Option<i64>,
    pub service: Option<String>,
    pub frames: FrameLoss,
    /// Frames received of those sent (1 - loss rate).
    pub completeness: Option<f64>,
    /// UTC days with readings, of the days in the period.
    pub days_with_data: i64,
    pub days: i64,
}

/// Results of an experiment.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/results", tag = "experiments",
    params(("id" = i64, Path, description = "Experiment id")),
    responses((status = 200, body = ExperimentResults), (status = 404, body = ErrorBody)))]
pub async fn results(
    principal: Principal,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ExperimentResults>, ApiError> {
    let e = find(&s, &principal, id).await?;
    let scope = principal.commune();
    let from = e.starts_at;
    let to = e.ends_at.min(Utc::now()).max(from);
    let ids = store::device_ids(&s.pool, &e, scope).await?;
    let wanted: BTreeSet<i64> = ids.iter().copied().collect();
    let filter = DeviceFilter { include_retired: true, ..DeviceFilter::default() };
    let all = device_store::list(&s.pool, scope, &filter, 100_000, 0).await?;
    let devices: Vec<_> = all.into_iter().filter(|d| wanted.contains(&d.id)).collect();
    let losses = health::losses(&s.pool, Some(&ids), from, to).await?;
    let days: HashMap<i64, i64> = store::days_with_data(&s.pool, &ids, from, to).await?.into_iter().collect();
    let period_days = ((to - from).num_hours() as f64 / 24.0).ceil() as i64;
    let (mut received, mut expected) = (0u64, 0u64);
    let out: Vec<ExperimentDevice> = devices
        .iter()
        .map(|d| {
            let frames = losses.get(&d.id).copied().unwrap_or_default();
            received += frames.received;
            expected += frames.expected;
            ExperimentDevice {
                dev_eui: d.dev_eui.clone(),
                name: d.name.clone(),
                model: d.model.clone(),
                commune: d.commune.clone(),
                site_id: d.site_id,
                service: d.service.clone(),
                completeness: frames.loss_rate.map(|r| 1.0 - r),
                frames,
                days_with_data: days.get(&d.id).copied().unwrap_or(0),
                days: period_days,
            }
        })
        .collect();
    let mut sites = Vec::new();
    let site_ids: BTreeSet<i64> = devices.iter().filter_map(|d| d.site_id).collect();
    let site_to = to.min(from + Duration::days(366));
    for site_id in site_ids {
        if let Some(site) = domain::get_site(&s.pool, scope, site_id).await? {
            if site_to > from {
                sites.push(report::site(&s.pool, scope, &site, from, site_to).await?);
            }
        }
    }
    Ok(Json(ExperimentResults {
        metrics: store::metric_stats(&s.pool, &ids, from, to).await?,
        completeness: (expected > 0).then(|| received as f64 / expected as f64),
        experiment: e,
        from,
        to,
        devices: out,
        sites,
    }))
}
