//! Indicators: a site's per service over a period, and the annual OPERAT export of
//! buildings' energy (a CSV the declaration can be filled from).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::analytics::report::{self, SiteIndicators};
use crate::store::domain;

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// Start (RFC 3339); default 30 days before `to` (fleet health: 24 hours).
    pub from: Option<DateTime<Utc>>,
    /// End, excluded (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
}

impl PeriodQuery {
    /// The period (by default the `default` before `to`), at most `max_days` long.
    pub(super) fn check(&self, default: Duration, max_days: i64) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - default);
        if from >= to {
            return Err(ApiError::BadRequest("from must be before to".into()));
        }
        if to - from > Duration::days(max_days) {
            return Err(ApiError::BadRequest(format!("a period of at most {max_days} days")));
        }
        Ok((from, to))
    }
}

/// The indicators of a site's services over a period: CO2 shares above 800 and 1,500
/// ppm of occupied time and the ICONE index per room, particles against the WHO 2021
/// guidelines, energy per day and month with the baseline year, parking occupancy,
/// turnover and average stay.
#[utoipa::path(get, path = "/api/v1/sites/{id}/indicators", tag = "indicators",
    params(("id" = i64, Path, description = "Site id"), PeriodQuery),
    responses((status = 200, body = SiteIndicators), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn site(
    principal: Principal,
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<SiteIndicators>, ApiError> {
    let (from, to) = q.check(Duration::days(30), 366)?;
    let scope = principal.commune();
    let site =
        domain::get_site(&s.pool, scope, id).await?.ok_or_else(|| ApiError::NotFound(format!("no site {id}")))?;
    Ok(Json(report::site(&s.pool, scope, &site, from, to).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OperatQuery {
    /// Calendar year (local time); default last year.
    pub year: Option<i32>,
    /// Only this commune's sites (INSEE code).
    pub commune: Option<String>,
}

/// The annual energy of every building with meters, per carrier, in kWh of final
/// energy, with the fields the OPERAT declaration asks for (EFA identifier, floor area),
/// as CSV (`;`-separated, as French spreadsheets expect).
#[utoipa::path(get, path = "/api/v1/exports/operat", tag = "indicators", params(OperatQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody)))]
pub async fn operat(
    principal: Principal,
    State(s): State<AppState>,
    Query(q): Query<OperatQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let year = q.year.unwrap_or(Utc::now().year() - 1);
    if !(2010..=2100).contains(&year) {
        return Err(ApiError::BadRequest("year must be between 2010 and 2100".into()));
    }
    let lines = report::operat(&s.pool, principal.commune(), q.commune.as_deref(), year).await?;
    // The header line comes from OperatLine's field names; without lines, write it anyway.
    let mut w = csv::WriterBuilder::new().delimiter(b';').has_headers(!lines.is_empty()).from_writer(Vec::new());
    if lines.is_empty() {
        w.write_record([
            "operat_id",
            "site_id",
            "site",
            "commune",
            "year",
            "floor_area_m2",
            "energy",
            "kwh",
            "days_with_data",
        ])
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("write CSV: {e}")))?;
    }
    for l in &lines {
        w.serialize(l).map_err(|e| ApiError::Internal(anyhow::anyhow!("write CSV: {e}")))?;
    }
    let body = w.into_inner().map_err(|e| ApiError::Internal(anyhow::anyhow!("write CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"operat-{year}.csv\"")),
        ],
        body,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ServiceSeriesQuery {
    #[param(example = "air.co2")]
    pub metric: String,
    /// `1h` (default) or `1d` (the commune's local days).
    #[param(value_type = Option<String>)]
    pub bucket: Option<crate::store::reading::Bucket>,
    /// Start (RFC 3339); default a year before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, excluded; default now.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ServiceSeries {
    pub commune: String,
    pub service: String,
    pub metric: String,
    pub unit: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub time_zone: String,
    pub buckets: Vec<crate::store::rollup::ServiceBucket>,
}

/// A commune's service as one series: every device's readings of a metric added up per
/// hour or local day (count, mean, min, max), from the service rollups: a year of hours
/// is 8,760 rows whatever the number of devices. The dashboards' long-range query.
#[utoipa::path(get, path = "/api/v1/communes/{insee}/services/{service}/readings", tag = "indicators",
    params(("insee" = String, Path, description = "INSEE code"), ("service" = String, Path, description = "Service id"),
        ServiceSeriesQuery),
    responses((status = 200, body = ServiceSeries), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn service_series(
    principal: Principal,
    State(s): State<AppState>,
    Path((insee, service)): Path<(String, String)>,
    Query(q): Query<ServiceSeriesQuery>,
) -> Result<Json<ServiceSeries>, ApiError> {
    use crate::store::reading::Bucket;
    if principal.commune().is_some_and(|c| c != insee) {
        return Err(ApiError::NotFound(format!("no commune {insee}")));
    }
    let commune =
        domain::get_commune(&s.pool, &insee).await?.ok_or_else(|| ApiError::NotFound(format!("no commune {insee}")))?;
    if domain::get_service(&s.pool, &service).await?.is_none() {
        return Err(ApiError::NotFound(format!("no service {service:?}")));
    }
    let Some(metric) = roc42_decoders::Metric::from_name(&q.metric) else {
        return Err(ApiError::BadRequest(format!("unknown metric {:?}; see /api/v1/metrics", q.metric)));
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(366));
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    let grain = match q.bucket.unwrap_or(Bucket::Hour) {
        Bucket::Raw => {
            return Err(ApiError::BadRequest("bucket: 1h or 1d (raw readings: /api/v1/sites/{id}/readings)".into()))
        }
        b => b.grain().unwrap_or(crate::store::rollup::Grain::Hour),
    };
    if to - from > Duration::days(3 * 366) {
        return Err(ApiError::BadRequest("at most 3 years at a time".into()));
    }
    let buckets =
        crate::store::rollup::service_series(&s.pool, &insee, &service, &q.metric, from, to, grain, &commune.time_zone)
            .await?;
    Ok(Json(ServiceSeries {
        commune: insee,
        service,
        metric: q.metric.clone(),
        unit: metric.unit(),
        from,
        to,
        time_zone: commune.time_zone,
        buckets,
    }))
}
