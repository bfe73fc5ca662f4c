//! Alerts: their history (a commune sees its own devices'), and operators' rules.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::lorawan::DevEui;
use crate::store::alert::{self as store, Alert, Rule, RuleInput};
use crate::store::{device as device_store, domain};

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertsQuery {
    /// `open`, `resolved` or `all` (default).
    pub state: Option<String>,
    pub dev_eui: Option<String>,
    /// At most this many, newest first (default 100, at most 10000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Alerts {
    pub alerts: Vec<Alert>,
}

/// Alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = Alerts), (status = 400, body = ErrorBody)))]
pub async fn list(
    principal: Principal,
    State(s): State<AppState>,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Alerts>, ApiError> {
    let open = match q.state.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(true),
        Some("resolved") => Some(false),
        Some(other) => return Err(ApiError::BadRequest(format!("state {other:?}: open, resolved or all"))),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 10000".into()));
    }
    let dev_eui = q.dev_eui.map(|d| d.to_ascii_lowercase());
    let alerts = store::list_alerts(&s.pool, principal.commune(), open, dev_eui.as_deref(), limit).await?;
    Ok(Json(Alerts { alerts }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// Alert rules (operators).
#[utoipa::path(get, path = "/api/v1/alerts/rules", tag = "alerts", responses((status = 200, body = Rules)))]
pub async fn rules(State(s): State<AppState>) -> Result<Json<Rules>, ApiError> {
    Ok(Json(Rules { rules: store::rules(&s.pool, None).await? }))
}

/// Creates an alert rule (operators), for every device of a service or for one device.
#[utoipa::path(post, path = "/api/v1/alerts/rules", tag = "alerts", request_body = RuleInput,
    responses((status = 201, body = Rule), (status = 400, body = ErrorBody)))]
pub async fn create_rule(
    State(s): State<AppState>,
    Json(mut input): Json<RuleInput>,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let bad = |m: String| Err(ApiError::BadRequest(m));
    if input.name.trim().is_empty() {
        return bad("name is required".into());
    }
    let device_id = match (&input.service_id, &input.dev_eui) {
        (Some(service), None) => {
            if domain::get_service(&s.pool, service).await?.is_none() {
                return bad(format!("unknown service {service:?}"));
            }
            None
        }
        (None, Some(eui)) => {
            let eui: DevEui = eui.parse().map_err(|e| ApiError::BadRequest(format!("dev_eui: {e}")))?;
            let d = device_store::get(&s.pool, None, eui)
                .await?
                .ok_or_else(|| ApiError::BadRequest(format!("unknown device {eui}")))?;
            Some(d.id)
        }
        _ => return bad("give either service_id or dev_eui".into()),
    };
    match input.kind.as_str() {
        "battery" => {
            input.metric.get_or_insert_with(|| "battery.level".into());
            input.direction.get_or_insert_with(|| "below".into());
            input.threshold.get_or_insert(20.0);
            input.clear_threshold.get_or_insert(30.0);
        }
        "threshold" => {}
        "silence" => {
            let f = *input.silence_factor.get_or_insert(3.0);
            if !(f.is_finite() && f > 1.0) {
                return bad("silence_factor must be above 1".into());
            }
        }
        other => return bad(format!("kind {other:?}: threshold, battery or silence")),
    }
    if input.kind != "silence" {
        let Some(metric) = input.metric.as_deref() else { return bad("metric is required".into()) };
        if roc42_decoders::Metric::from_name(metric).is_none() {
            return bad(format!("unknown metric {metric:?}; see /api/v1/metrics"));
        }
        let direction = input.direction.get_or_insert_with(|| "above".into()).clone();
        let Some(threshold) = input.threshold.filter(|t| t.is_finite()) else {
            return bad("threshold is required".into());
        };
        let clear = *input.clear_threshold.get_or_insert(threshold);
        let ok = match direction.as_str() {
            "above" => clear <= threshold,
            "below" => clear >= threshold,
            other => return bad(format!("direction {other:?}: above or below")),
        };
        if !ok || !clear.is_finite() {
            return bad("clear_threshold must be on the normal side of the threshold (hysteresis)".into());
        }
    }
    if input.min_duration_s < 0 {
        return bad("min_duration_s must not be negative".into());
    }
    if let Some(url) = &input.webhook_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return bad("webhook_url must be an http(s) URL".into());
        }
    }
    let id = store::create_rule(&s.pool, &input, device_id).await?;
    let rule = store::get_rule(&s.pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no rule {id}")))?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Deletes an alert rule and its alerts (operators).
#[utoipa::path(delete, path = "/api/v1/alerts/rules/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Rule id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(State(s): State<AppState>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    if store::delete_rule(&s.pool, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no rule {id}")))
    }
}
