//! What ingest could not use: rejected messages, for operators.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::AppState;
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
