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
    /// Start (RFC 3339); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, excluded (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
}

impl PeriodQuery {
    /// The period, at most `max_days` long.
    pub(super) fn check(&self, max_days: i64) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - Duration::days(30));
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
    let (from, to) = q.check(366)?;
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
