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
    /// The object exists already (or a unique name is taken).
    #[error("{0}")]
    Conflict(String),
    /// A device or a file with bad fields: each one.
    #[error("{message}")]
    Invalid { message: String, lines: Vec<crate::onboarding::LineError> },
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
    /// `forbidden`, `too_large`, `conflict`, `invalid`, `rate_limited`, `unavailable`,
    /// `internal`.
    pub code: &'static str,
    /// A message for people.
    pub message: String,
    /// `invalid` only: every bad field of the device or file (`line` 0 for a device sent
    /// as JSON, 1 for a CSV header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<crate::onboarding::LineError>>,
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

impl ApiError {
    /// The HTTP status and stable code of this error; logs internal causes (never sent).
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let message = self.to_string();
        let lines = match self {
            ApiError::Invalid { ref lines, .. } => Some(lines.clone()),
            _ => None,
        };
        let mut resp = (status, Json(ErrorBody { error: ErrorDetail { code, message, lines } })).into_response();
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

/// Stable code of an HTTP error status.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::CONFLICT => "conflict",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// A response layer: errors that axum itself produces (a query, path or JSON body that
/// does not parse, an unknown route, a wrong method) come as plain text; they are given
/// the one error shape, with axum's text as the message.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    // JSON is the API's own shape; HTML, the pages' error pages (`web::PageError`).
    let shaped = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || shaped {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = match String::from_utf8_lossy(&text).trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.to_owned(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = ErrorBody { error: ErrorDetail { code: code_of(status), message, lines: None } };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
