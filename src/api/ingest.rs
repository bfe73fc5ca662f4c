//! What ingest kept for operators: rejected messages, and the network server's events
//! other than uplinks (joins, device status, codec and MIC errors, ...).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::lorawan::DevEui;
use crate::store::event::{self, EventFilter, StoredEvent};
use crate::store::rejected::{self, RejectedMessage};

#[derive(Debug, Deserialize, IntoParams)]
pub struct RejectedQuery {
    /// Most messages returned, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// Messages that could not be parsed or stored, most recently seen first, with their
/// raw bytes and the error.
#[utoipa::path(get, path = "/api/v1/ingest/rejected", tag = "ingest", params(RejectedQuery),
    responses((status = 200, body = [RejectedMessage]), (status = 400, body = ErrorBody)))]
pub async fn rejected(
    State(s): State<AppState>,
    Query(q): Query<RejectedQuery>,
) -> Result<Json<Vec<RejectedMessage>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(rejected::list(&s.pool, limit).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventQuery {
    /// Only this device's events (DevEUI).
    pub dev_eui: Option<String>,
    /// Only this kind: `join`, `status`, `log`, `ack`, `txack`, `location`.
    pub kind: Option<String>,
    /// Only log events of this level: `INFO`, `WARNING`, `ERROR`.
    pub level: Option<String>,
    /// Most events returned, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// The network server's events other than uplinks, most recent first: joins, device
/// status (battery, margin), log events (codec and MIC errors), acknowledgements.
#[utoipa::path(get, path = "/api/v1/ingest/events", tag = "ingest", params(EventQuery),
    responses((status = 200, body = [StoredEvent]), (status = 400, body = ErrorBody)))]
pub async fn events(
    State(s): State<AppState>,
    Query(q): Query<EventQuery>,
) -> Result<Json<Vec<StoredEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let dev_eui = match q.dev_eui {
        Some(e) => Some(e.parse::<DevEui>().map_err(|e| ApiError::BadRequest(e.to_string()))?.to_string()),
        None => None,
    };
    let filter = EventFilter { dev_eui, kind: q.kind, level: q.level.map(|l| l.to_uppercase()) };
    Ok(Json(event::list(&s.pool, &filter, limit).await?))
}
