//! Devices and their readings: lists with placement, latest values and last-seen; one
//! device; its readings raw or per bucket (hours, local-time days) with aggregates.

use std::collections::HashMap;

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
use crate::pipeline;
use crate::store::device::{self, Device, DeviceFilter};
use crate::store::domain;
use crate::store::reading::{self, Bucket, BucketRow};

/// Latest values are looked for this far back.
const LATEST_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only devices of this commune (INSEE code).
    pub commune: Option<String>,
    /// Only devices of this model id.
    pub model: Option<String>,
    /// Only devices placed at this site.
    pub site_id: Option<i64>,
    /// Only devices under this service.
    pub service: Option<String>,
    /// Also list retired devices (default false).
    #[serde(default)]
    pub include_retired: bool,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// Devices to skip (default 0).
    pub offset: Option<i64>,
}

/// A reading with its unit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadingDto {
    pub time: DateTime<Utc>,
    #[schema(example = "air.co2")]
    pub metric: String,
    pub value: f64,
    #[schema(example = "ppm")]
    pub unit: &'static str,
}

fn unit(metric: &str) -> &'static str {
    Metric::from_name(metric).map(|m| m.unit()).unwrap_or("")
}

impl From<reading::ReadingPoint> for ReadingDto {
    fn from(r: reading::ReadingPoint) -> Self {
        Self { unit: unit(&r.metric), time: r.time, metric: r.metric, value: r.value }
    }
}

impl From<reading::DeviceReading> for ReadingDto {
    fn from(r: reading::DeviceReading) -> Self {
        Self { unit: unit(&r.metric), time: r.time, metric: r.metric, value: r.value }
    }
}

/// A device with the latest value of each of its metrics (last 30 days).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDetail {
    #[serde(flatten)]
    pub device: Device,
    pub latest: Vec<ReadingDto>,
}

/// A page of devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceDetail>,
    /// Devices matching the filters, all pages.
    pub total: i64,
}

/// Devices with their latest values (one index probe per device and metric of its model,
/// plus the device-status metrics every network server reports).
pub(super) async fn with_latest(
    s: &AppState,
    scope: Option<&str>,
    devices: Vec<Device>,
) -> Result<Vec<DeviceDetail>, ApiError> {
    let models: HashMap<String, Vec<&'static str>> = pipeline::models::list_all(&s.pool)
        .await?
        .iter()
        .map(|m| (m.id.clone(), m.metrics.iter().map(|x| x.name()).collect()))
        .collect();
    let status = [Metric::BatteryLevel.name(), Metric::RadioMargin.name()];
    let (mut ids, mut metrics) = (Vec::new(), Vec::new());
    for d in &devices {
        let of_model = models.get(&d.model).map(Vec::as_slice).unwrap_or_default();
        for m in of_model.iter().chain(status.iter().filter(|m| !of_model.contains(m))) {
            ids.push(d.id);
            metrics.push(*m);
        }
    }
    let since = Utc::now() - Duration::days(LATEST_WINDOW_DAYS);
    let mut latest: HashMap<i64, Vec<ReadingDto>> = HashMap::new();
    for r in reading::latest_of(&s.pool, scope, &ids, &metrics, since).await? {
        latest.entry(r.device_id).or_default().push(r.into());
    }
    Ok(devices
        .into_iter()
        .map(|device| {
            let latest = latest.remove(&device.id).unwrap_or_default();
            DeviceDetail { device, latest }
        })
        .collect())
}

/// Registered devices, by DevEUI, with where they are, when they were last heard and
/// their latest values. A commune sees its own only.
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
    let filter = DeviceFilter {
        commune: q.commune,
        model: q.model,
        site_id: q.site_id,
        service: q.service,
        include_retired: q.include_retired,
    };
    let scope = principal.commune();
    let devices = device::list(&s.pool, scope, &filter, limit, offset).await?;
    let total = device::count(&s.pool, scope, &filter).await?;
    Ok(Json(DeviceList { devices: with_latest(&s, scope, devices).await?, total }))
}

pub(super) fn parse_eui(s: &str) -> Result<DevEui, ApiError> {
    s.parse().map_err(|e: crate::lorawan::InvalidDevEui| ApiError::BadRequest(e.to_string()))
}

/// The device if the principal may see it; one it may not answers like a missing one.
pub(super) async fn find(s: &AppState, principal: &Principal, dev_eui: &str) -> Result<Device, ApiError> {
    let eui = parse_eui(dev_eui)?;
    device::get(&s.pool, principal.commune(), eui).await?.ok_or_else(|| ApiError::NotFound(format!("no device {eui}")))
}

/// One device, with its placement and latest values.
#[utoipa::path(get, path = "/api/v1/devices/{dev_eui}", tag = "devices",
    params(("dev_eui" = String, Path, description = "16 hex digits")),
    responses((status = 200, body = DeviceDetail), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    State(s): State<AppState>,
    Path(dev_eui): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    let device = find(&s, &principal, &dev_eui).await?;
    let mut one = with_latest(&s, principal.commune(), vec![device]).await?;
    one.pop().map(Json).ok_or_else(|| ApiError::NotFound(format!("no device {dev_eui}")))
}

/// A period, a metric and a bucket: what a series of readings is asked with.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReadingsQuery {
    /// Canonical metric name (see `/api/v1/metrics`); all metrics when absent (raw
    /// readings of a device only: buckets and sites need one).
    pub metric: Option<String>,
    /// Start, RFC 3339, inclusive (default: 24 hours before `to`).
    pub from: Option<DateTime<Utc>>,
    /// End, RFC 3339, exclusive (default: now).
    pub to: Option<DateTime<Utc>>,
    /// `raw` (default), `1h`, or `1d` (days in the commune's local time: 23 or 25 hours
    /// when daylight saving time starts or ends). Buckets carry count, avg, min, max and
    /// last.
    #[param(value_type = Option<String>)]
    pub bucket: Option<Bucket>,
    /// Most raw readings returned, 1 to 100000 (default 10000), oldest first.
    pub limit: Option<i64>,
}

/// A checked [`ReadingsQuery`].
pub(super) struct Period {
    pub metric: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    pub limit: i64,
}

impl ReadingsQuery {
    pub(super) fn check(self, metric_required: bool) -> Result<Period, ApiError> {
        if let Some(m) = &self.metric {
            if Metric::from_name(m).is_none() {
                return Err(ApiError::BadRequest(format!("unknown metric {m:?}; see /api/v1/metrics")));
            }
        }
        let bucket = self.bucket.unwrap_or(Bucket::Raw);
        if self.metric.is_none() && (metric_required || bucket != Bucket::Raw) {
            return Err(ApiError::BadRequest("metric is required here".into()));
        }
        let limit = self.limit.unwrap_or(10_000);
        if !(1..=100_000).contains(&limit) {
            return Err(ApiError::BadRequest("limit must be between 1 and 100000".into()));
        }
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - Duration::hours(24));
        if from >= to {
            return Err(ApiError::BadRequest("from must be before to".into()));
        }
        if bucket == Bucket::Hour && to - from > Duration::days(3 * 366) {
            return Err(ApiError::BadRequest("hourly buckets: at most 3 years at a time".into()));
        }
        Ok(Period { metric: self.metric, from, to, bucket, limit })
    }
}

/// The aggregates of a metric over one bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketDto {
    /// Start of the bucket (a local midnight for days), as a UTC instant.
    pub time: DateTime<Utc>,
    #[schema(example = "air.co2")]
    pub metric: String,
    #[schema(example = "ppm")]
    pub unit: &'static str,
    /// Readings in the bucket.
    pub count: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    /// The latest reading in the bucket.
    pub last: f64,
}

impl BucketDto {
    pub(super) fn new(metric: &str, b: BucketRow) -> Self {
        Self {
            time: b.time,
            metric: metric.to_owned(),
            unit: unit(metric),
            count: b.count,
            avg: b.avg,
            min: b.min,
            max: b.max,
            last: b.last,
        }
    }
}

/// Readings of a device: `readings` when raw, `buckets` otherwise.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingList {
    pub dev_eui: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(value_type = String, example = "1d")]
    pub bucket: Bucket,
    /// Time zone local days are cut in.
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
    pub readings: Vec<ReadingDto>,
    pub buckets: Vec<BucketDto>,
}

/// The time zone of a commune's local days (`Europe/Paris` for a device without one).
pub(super) async fn time_zone(s: &AppState, commune: Option<&str>) -> Result<String, ApiError> {
    let tz = match commune {
        Some(c) => domain::get_commune(&s.pool, c).await?.map(|c| c.time_zone),
        None => None,
    };
    Ok(tz.unwrap_or_else(|| "Europe/Paris".into()))
}

/// Readings of one device over a period, oldest first: raw, or per hour or local day
/// with count, avg, min, max and last.
#[utoipa::path(get, path = "/api/v1/devices/{dev_eui}/readings", tag = "devices",
    params(("dev_eui" = String, Path, description = "16 hex digits"), ReadingsQuery),
    responses((status = 200, body = ReadingList), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn readings(
    principal: Principal,
    State(s): State<AppState>,
    Path(dev_eui): Path<String>,
    Query(q): Query<ReadingsQuery>,
) -> Result<Json<ReadingList>, ApiError> {
    let p = q.check(false)?;
    let device = find(&s, &principal, &dev_eui).await?;
    let time_zone = time_zone(&s, device.commune.as_deref()).await?;
    let scope = principal.commune();
    let (mut readings, mut buckets) = (Vec::new(), Vec::new());
    match (&p.metric, p.bucket) {
        (_, Bucket::Raw) => {
            let rows = reading::list(&s.pool, scope, device.id, p.metric.as_deref(), p.from, p.to, p.limit).await?;
            readings = rows.into_iter().map(Into::into).collect();
        }
        (Some(metric), bucket) => {
            let rows = reading::buckets(&s.pool, scope, &[device.id], metric, p.from, p.to, bucket).await?;
            buckets = rows.into_iter().map(|b| BucketDto::new(metric, b)).collect();
        }
        (None, _) => return Err(ApiError::BadRequest("metric is required here".into())),
    }
    Ok(Json(ReadingList {
        dev_eui: device.dev_eui,
        from: p.from,
        to: p.to,
        bucket: p.bucket,
        time_zone,
        readings,
        buckets,
    }))
}
