//! Devices and their readings.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use roc42_decoders::Metric;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::lorawan::DevEui;
use crate::store::device::{self, Device, DeviceFilter};
use crate::store::reading;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only devices of this commune (INSEE code).
    pub commune: Option<String>,
    /// Only devices of this model id.
    pub model: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// Devices to skip (default 0).
    pub offset: Option<i64>,
}

/// A page of devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<Device>,
    /// Devices matching the filters, all pages.
    pub total: i64,
}

/// Registered devices, by DevEUI.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(ListQuery),
    responses((status = 200, body = DeviceList), (status = 400, body = ErrorBody)))]
pub async fn list(
    principal: Principal,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DeviceList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let filter = DeviceFilter { commune: q.commune, model: q.model };
    let scope = principal.commune();
    let devices = device::list(&s.pool, scope, &filter, limit, offset).await?;
    let total = device::count(&s.pool, scope, &filter).await?;
    Ok(Json(DeviceList { devices, total }))
}

/// A reading with its unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingDto {
    pub time: DateTime<Utc>,
    #[schema(example = "air.co2")]
    pub metric: String,
    pub value: f64,
    #[schema(example = "ppm")]
    pub unit: &'static str,
}

impl From<reading::ReadingPoint> for ReadingDto {
    fn from(r: reading::ReadingPoint) -> Self {
        let unit = Metric::from_name(&r.metric).map(|m| m.unit()).unwrap_or("");
        Self { time: r.time, metric: r.metric, value: r.value, unit }
    }
}

/// A device with the latest value of each of its metrics (last 30 days).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDetail {
    #[serde(flatten)]
    pub device: Device,
    pub latest: Vec<ReadingDto>,
}

fn parse_eui(s: &str) -> Result<DevEui, ApiError> {
    s.parse().map_err(|e: crate::lorawan::InvalidDevEui| ApiError::BadRequest(e.to_string()))
}

/// The device if the principal may see it; one it may not answers like a missing one.
async fn find(s: &AppState, principal: &Principal, dev_eui: &str) -> Result<Device, ApiError> {
    let eui = parse_eui(dev_eui)?;
    device::get(&s.pool, principal.commune(), eui).await?.ok_or_else(|| ApiError::NotFound(format!("no device {eui}")))
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{dev_eui}", tag = "devices",
    params(("dev_eui" = String, Path, description = "16 hex digits")),
    responses((status = 200, body = DeviceDetail), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    State(s): State<AppState>,
    Path(dev_eui): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    let device = find(&s, &principal, &dev_eui).await?;
    let latest = reading::latest(&s.pool, principal.commune(), device.id, Utc::now() - Duration::days(30)).await?;
    Ok(Json(DeviceDetail { device, latest: latest.into_iter().map(Into::into).collect() }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReadingsQuery {
    /// Canonical metric name (see `/api/v1/metrics`); all metrics when absent.
    pub metric: Option<String>,
    /// Start, RFC 3339, inclusive (default: 24 hours before `to`).
    pub from: Option<DateTime<Utc>>,
    /// End, RFC 3339, exclusive (default: now).
    pub to: Option<DateTime<Utc>>,
    /// Most readings returned, 1 to 100000 (default 10000), oldest first.
    pub limit: Option<i64>,
}

/// Readings of a device.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingList {
    pub dev_eui: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub readings: Vec<ReadingDto>,
}

/// Readings of one device over a period, oldest first.
#[utoipa::path(get, path = "/api/v1/devices/{dev_eui}/readings", tag = "devices",
    params(("dev_eui" = String, Path, description = "16 hex digits"), ReadingsQuery),
    responses((status = 200, body = ReadingList), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn readings(
    principal: Principal,
    State(s): State<AppState>,
    Path(dev_eui): Path<String>,
    Query(q): Query<ReadingsQuery>,
) -> Result<Json<ReadingList>, ApiError> {
    if let Some(m) = &q.metric {
        if Metric::from_name(m).is_none() {
            return Err(ApiError::BadRequest(format!("unknown metric {m:?}; see /api/v1/metrics")));
        }
    }
    let limit = q.limit.unwrap_or(10_000);
    if !(1..=100_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 100000".into()));
    }
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::hours(24));
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    let device = find(&s, &principal, &dev_eui).await?;
    let rows = reading::list(&s.pool, principal.commune(), device.id, q.metric.as_deref(), from, to, limit).await?;
    Ok(Json(ReadingList { dev_eui: device.dev_eui, from, to, readings: rows.into_iter().map(Into::into).collect() }))
}
