//! The one error type of the API: every failure answers the same JSON shape
//! `{"error": {"code", "message"}}`, and internal details stay in the logs.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// No credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials, but wrong.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed authentications from this client: retry after this many seconds.
    #[error("too many failed authentications; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// Ingest cannot take the message now (not running, or not committed in time).
    #[error("{0}")]
    IngestUnavailable(String),
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `not_found`, `bad_request`, `unauthorized`,
    /// `forbidden`, `too_large`, `rate_limited`, `unavailable`, `internal`.
    pub code: &'static str,
    /// A message for people.
    pub message: String,
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::store::is_transient(&e) {
            ApiError::Unavailable(e)
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::IngestUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Unavailable(e) => {
                tracing::warn!(error = %e, "API request failed: database unavailable.");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "API request failed.");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut resp =
            (status, Json(ErrorBody { error: ErrorDetail { code, message: self.to_string() } })).into_response();
        match &self {
            ApiError::Unauthorized(_) => {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after_s } => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            _ => {}
        }
        resp
    }
}
