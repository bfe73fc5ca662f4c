//! The readings hypertable, as the API reads it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// One stored reading.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct ReadingPoint {
    pub time: DateTime<Utc>,
    /// Canonical metric name, e.g. `air.co2`.
    pub metric: String,
    pub value: f64,
}

/// Readings of one device in `[from, to)`, oldest first, optionally of one metric; none
/// if the device is not in `scope` (a commune's INSEE code; `None`: any commune).
pub async fn list(
    pool: &PgPool,
    scope: Option<&str>,
    device_id: i64,
    metric: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ReadingPoint>, sqlx::Error> {
    const Q: &str = "SELECT time, metric, value FROM reading
        WHERE device_id = $1 AND ($2::text IS NULL OR metric = $2) AND time >= $3 AND time < $4
            AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM device d WHERE d.id = $1 AND d.commune = $6))
        ORDER BY time, metric LIMIT $5";
    sqlx::query_as::<_, ReadingPoint>(Q)
        .bind(device_id)
        .bind(metric)
        .bind(from)
        .bind(to)
        .bind(limit)
        .bind(scope)
        .fetch_all(pool)
        .await
}

/// The latest reading of each metric of a device, within `since`; none if the device is
/// not in `scope` (see [`list`]).
pub async fn latest(
    pool: &PgPool,
    scope: Option<&str>,
    device_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<ReadingPoint>, sqlx::Error> {
    const Q: &str = "SELECT DISTINCT ON (metric) time, metric, value FROM reading
        WHERE device_id = $1 AND time >= $2
            AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM device d WHERE d.id = $1 AND d.commune = $3))
        ORDER BY metric, time DESC";
    sqlx::query_as::<_, ReadingPoint>(Q).bind(device_id).bind(since).bind(scope).fetch_all(pool).await
}

/// Counts readings of a device (tests, bench).
pub async fn count_for_device(pool: &PgPool, device_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM reading WHERE device_id = $1").bind(device_id).fetch_one(pool).await
}
