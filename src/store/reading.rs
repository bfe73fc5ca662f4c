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

/// Writes readings outside the pipeline (operators' corrections, tests, the bench's
/// generator): a reading already stored at that (device, metric, time) takes the new
/// value. Marks their rollups for a refresh in the same transaction.
pub async fn upsert(
    pool: &PgPool,
    device_ids: &[i64],
    metrics: &[&str],
    times: &[DateTime<Utc>],
    values: &[f64],
) -> Result<u64, sqlx::Error> {
    const Q: &str = "INSERT INTO reading (device_id, metric, time, value)
        SELECT * FROM UNNEST($1::int8[], $2::text[], $3::timestamptz[], $4::float8[])
        ON CONFLICT (device_id, metric, time) DO UPDATE SET value = EXCLUDED.value";
    let mut tx = pool.begin().await?;
    let n =
        sqlx::query(Q).bind(device_ids).bind(metrics).bind(times).bind(values).execute(&mut *tx).await?.rows_affected();
    super::rollup::mark(&mut tx, device_ids, times).await?;
    tx.commit().await?;
    Ok(n)
}

/// Counts readings of a device (tests, bench).
pub async fn count_for_device(pool: &PgPool, device_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM reading WHERE device_id = $1").bind(device_id).fetch_one(pool).await
}

/// The ids among `device_ids` that belong to `scope`, as SQL (parameters `$1`: ids,
/// `$2`: scope): every query below restricts its devices with it.
const SCOPED_IDS: &str =
    "ARRAY(SELECT id FROM device WHERE id = ANY($1::int8[]) AND ($2::text IS NULL OR commune = $2))";

/// Aggregation period of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
pub enum Bucket {
    /// Every reading as stored.
    #[serde(rename = "raw")]
    Raw,
    /// Hours.
    #[serde(rename = "1h")]
    Hour,
    /// Days in the commune's local time (23 or 25 hours on DST changes).
    #[serde(rename = "1d")]
    Day,
}

impl Bucket {
    /// The name the API takes (`raw`, `1h`, `1d`).
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Raw => "raw",
            Bucket::Hour => "1h",
            Bucket::Day => "1d",
        }
    }

    /// The rollups the bucket reads; `None` for raw readings.
    pub fn grain(self) -> Option<super::rollup::Grain> {
        match self {
            Bucket::Raw => None,
            Bucket::Hour => Some(super::rollup::Grain::Hour),
            Bucket::Day => Some(super::rollup::Grain::Day),
        }
    }
}

/// The aggregates of one metric of one device over one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct BucketRow {
    #[serde(skip)]
    pub device_id: i64,
    /// Start of the bucket (local midnight for days, as a UTC instant).
    pub time: DateTime<Utc>,
    /// Readings in the bucket.
    pub count: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    /// The latest reading of the bucket.
    pub last: f64,
}

/// Per device and bucket, the aggregates of `metric` over `[from, to)`, oldest first,
/// from the rollups (days are the local days of each device's commune). Devices outside
/// `scope` give nothing; `Bucket::Raw` gives nothing (see [`series`]).
pub async fn buckets(
    pool: &PgPool,
    scope: Option<&str>,
    device_ids: &[i64],
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<BucketRow>, sqlx::Error> {
    let Some(grain) = bucket.grain() else { return Ok(Vec::new()) };
    let rows = super::rollup::rows(pool, scope, device_ids, Some(metric), from, to, grain).await?;
    Ok(rows
        .into_iter()
        .map(|r| BucketRow {
            device_id: r.device_id,
            time: r.time,
            count: r.count,
            avg: r.avg,
            min: r.min,
            max: r.max,
            last: r.last,
        })
        .collect())
}

/// One stored reading of some device.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeviceReading {
    pub device_id: i64,
    pub time: DateTime<Utc>,
    pub metric: String,
    pub value: f64,
}

/// Readings of `metric` of these devices in `[from, to)`, by device then time, at most
/// `limit`; devices outside `scope` give nothing.
pub async fn series(
    pool: &PgPool,
    scope: Option<&str>,
    device_ids: &[i64],
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DeviceReading>, sqlx::Error> {
    let q = format!(
        "SELECT device_id, time, metric, value FROM reading
        WHERE device_id = ANY({SCOPED_IDS}) AND metric = $3 AND time >= $4 AND time < $5
        ORDER BY device_id, time LIMIT $6"
    );
    sqlx::query_as::<_, DeviceReading>(&q)
        .bind(device_ids)
        .bind(scope)
        .bind(metric)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The latest reading since `since` of each (device, metric) pair given (`device_ids[i]`
/// with `metrics[i]`): one index probe per pair. Pairs without a reading, or whose device
/// is outside `scope`, give nothing.
pub async fn latest_of(
    pool: &PgPool,
    scope: Option<&str>,
    device_ids: &[i64],
    metrics: &[&str],
    since: DateTime<Utc>,
) -> Result<Vec<DeviceReading>, sqlx::Error> {
    let q = format!(
        "SELECT p.device_id, r.time, p.metric, r.value
        FROM UNNEST($1::int8[], $3::text[]) AS p(device_id, metric)
        CROSS JOIN LATERAL (SELECT time, value FROM reading
            WHERE device_id = p.device_id AND metric = p.metric AND time >= $4
            ORDER BY time DESC LIMIT 1) r
        WHERE p.device_id = ANY({SCOPED_IDS})
        ORDER BY p.device_id, p.metric"
    );
    sqlx::query_as::<_, DeviceReading>(&q).bind(device_ids).bind(scope).bind(metrics).bind(since).fetch_all(pool).await
}
