//! The device registry table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::lorawan::DevEui;
use crate::pipeline::registry::DeviceRef;

/// A registered device.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Device {
    #[serde(skip)]
    pub id: i64,
    /// 16 lower-case hex digits.
    #[schema(example = "a81758fffe0312ab")]
    pub dev_eui: String,
    pub name: String,
    /// Device model id (see `GET /api/v1/models`).
    #[schema(example = "milesight-am319")]
    pub model: String,
    /// INSEE code of the commune.
    #[schema(example = "42218")]
    pub commune: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Network time of the last uplink stored.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// A device to create or update.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub dev_eui: DevEui,
    pub name: String,
    pub model: String,
    pub commune: Option<String>,
}

/// Filters of [`list`].
#[derive(Debug, Default, Clone)]
pub struct DeviceFilter {
    pub commune: Option<String>,
    pub model: Option<String>,
}

pub async fn get(pool: &PgPool, dev_eui: DevEui) -> Result<Option<Device>, sqlx::Error> {
    const Q: &str =
        "SELECT id, dev_eui, name, model, commune, created_at, updated_at, last_seen_at FROM device WHERE dev_eui = $1";
    sqlx::query_as::<_, Device>(Q).bind(dev_eui.to_string()).fetch_optional(pool).await
}

pub async fn list(pool: &PgPool, filter: &DeviceFilter, limit: i64, offset: i64) -> Result<Vec<Device>, sqlx::Error> {
    const Q: &str = "SELECT id, dev_eui, name, model, commune, created_at, updated_at, last_seen_at FROM device
        WHERE ($1::text IS NULL OR commune = $1) AND ($2::text IS NULL OR model = $2)
        ORDER BY dev_eui LIMIT $3 OFFSET $4";
    sqlx::query_as::<_, Device>(Q)
        .bind(&filter.commune)
        .bind(&filter.model)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

pub async fn count(pool: &PgPool, filter: &DeviceFilter) -> Result<i64, sqlx::Error> {
    const Q: &str =
        "SELECT count(*) FROM device WHERE ($1::text IS NULL OR commune = $1) AND ($2::text IS NULL OR model = $2)";
    sqlx::query_scalar(Q).bind(&filter.commune).bind(&filter.model).fetch_one(pool).await
}

/// Creates the device, or updates its name, model and commune.
pub async fn upsert(pool: &PgPool, d: &NewDevice) -> Result<Device, sqlx::Error> {
    const Q: &str = "INSERT INTO device (dev_eui, name, model, commune) VALUES ($1, $2, $3, $4)
        ON CONFLICT (dev_eui) DO UPDATE SET name = EXCLUDED.name, model = EXCLUDED.model,
            commune = EXCLUDED.commune, updated_at = now()
        RETURNING id, dev_eui, name, model, commune, created_at, updated_at, last_seen_at";
    sqlx::query_as::<_, Device>(Q)
        .bind(d.dev_eui.to_string())
        .bind(&d.name)
        .bind(&d.model)
        .bind(&d.commune)
        .fetch_one(pool)
        .await
}

/// Every device as the pipeline needs it.
pub async fn list_refs(pool: &PgPool) -> Result<Vec<(DevEui, DeviceRef)>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, dev_eui, model FROM device").fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(|(id, eui, model)| Some((eui.parse().ok()?, DeviceRef { id, model }))).collect())
}

pub async fn get_ref(pool: &PgPool, dev_eui: DevEui) -> Result<Option<DeviceRef>, sqlx::Error> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT id, model FROM device WHERE dev_eui = $1")
        .bind(dev_eui.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(id, model)| DeviceRef { id, model }))
}
