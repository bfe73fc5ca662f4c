//! Experiments analysts follow: which devices (by service and commune, or listed) over
//! which period.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Experiment {
    pub id: i64,
    #[schema(example = "CO2 in Saint-Étienne's schools, winter 2026")]
    pub name: String,
    #[schema(example = "air quality")]
    pub theme: String,
    pub description: String,
    /// Devices placed under these services...
    pub services: Vec<String>,
    /// ...in these communes (all if empty)...
    pub communes: Vec<String>,
    /// ...and these devices, whatever their service.
    pub dev_euis: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentInput {
    pub name: String,
    #[serde(default)]
    pub theme: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub communes: Vec<String>,
    #[serde(default)]
    pub dev_euis: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, theme, description, services, communes, dev_euis, starts_at, ends_at, created_at";

pub async fn create(pool: &PgPool, e: &ExperimentInput) -> Result<i64, sqlx::Error> {
    const Q: &str =
        "INSERT INTO experiment (name, theme, description, services, communes, dev_euis, starts_at, ends_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    sqlx::query_scalar(Q)
        .bind(&e.name)
        .bind(&e.theme)
        .bind(&e.description)
        .bind(&e.services)
        .bind(&e.communes)
        .bind(&e.dev_euis)
        .bind(e.starts_at)
        .bind(e.ends_at)
        .fetch_one(pool)
        .await
}

/// Experiments, newest first; a commune (`scope`) sees those that name it.
pub async fn list(pool: &PgPool, scope: Option<&str>) -> Result<Vec<Experiment>, sqlx::Error> {
    let q = format!("SELECT {COLUMNS} FROM experiment WHERE $1::text IS NULL OR $1 = ANY(communes) ORDER BY starts_at DESC, id DESC");
    sqlx::query_as::<_, Experiment>(&q).bind(scope).fetch_all(pool).await
}

pub async fn get(pool: &PgPool, scope: Option<&str>, id: i64) -> Result<Option<Experiment>, sqlx::Error> {
    let q = format!("SELECT {COLUMNS} FROM experiment WHERE id = $1 AND ($2::text IS NULL OR $2 = ANY(communes))");
    sqlx::query_as::<_, Experiment>(&q).bind(id).bind(scope).fetch_optional(pool).await
}

/// The ids of an experiment's devices (of `scope` only, for a commune), by id.
pub async fn device_ids(pool: &PgPool, e: &Experiment, scope: Option<&str>) -> Result<Vec<i64>, sqlx::Error> {
    const Q: &str = "SELECT id FROM device
        WHERE ((service_id = ANY($1::text[]) AND (cardinality($2::text[]) = 0 OR commune = ANY($2::text[])))
               OR dev_eui = ANY($3::text[]))
            AND ($4::text IS NULL OR commune = $4)
            AND (retired_at IS NULL OR retired_at > $5)
        ORDER BY id";
    sqlx::query_scalar(Q)
        .bind(&e.services)
        .bind(&e.communes)
        .bind(&e.dev_euis)
        .bind(scope)
        .bind(e.starts_at)
        .fetch_all(pool)
        .await
}

/// Per metric of these devices over `[from, to)`, from the daily rollups: readings, mean,
/// lowest, highest, devices with data.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct MetricStats {
    pub metric: String,
    pub unit: Option<String>,
    pub devices: i64,
    pub readings: i64,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

pub async fn metric_stats(
    pool: &PgPool,
    ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MetricStats>, sqlx::Error> {
    const Q: &str = "SELECT r.metric, m.unit, count(DISTINCT r.device_id) AS devices, sum(r.count)::int8 AS readings,
            sum(r.sum) / sum(r.count) AS mean, min(r.min) AS min, max(r.max) AS max
        FROM rollup_hour r LEFT JOIN metric m ON m.name = r.metric
        WHERE r.device_id = ANY($1::int8[]) AND r.bucket >= $2 AND r.bucket < $3
        GROUP BY r.metric, m.unit ORDER BY r.metric";
    sqlx::query_as::<_, MetricStats>(Q).bind(ids).bind(from).bind(to).fetch_all(pool).await
}

/// UTC days with at least one reading, per device.
pub async fn days_with_data(
    pool: &PgPool,
    ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    const Q: &str = "SELECT device_id, count(DISTINCT time_bucket('1 day', bucket))::int8 FROM rollup_hour
        WHERE device_id = ANY($1::int8[]) AND bucket >= $2 AND bucket < $3 GROUP BY device_id";
    sqlx::query_as(Q).bind(ids).bind(from).bind(to).fetch_all(pool).await
}
