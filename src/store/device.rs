//! The device registry table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::lorawan::DevEui;

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

/// The device, if it exists and belongs to `scope` (a commune's INSEE code; `None`:
/// any commune). A device outside the scope is `None`, like a missing one.
pub async fn get(pool: &PgPool, scope: Option<&str>, dev_eui: DevEui) -> Result<Option<Device>, sqlx::Error> {
    const Q: &str = "SELECT id, dev_eui, name, model, commune, created_at, updated_at, last_seen_at FROM device
        WHERE dev_eui = $1 AND ($2::text IS NULL OR commune = $2)";
    sqlx::query_as::<_, Device>(Q).bind(dev_eui.to_string()).bind(scope).fetch_optional(pool).await
}

/// A page of the devices of `scope` (see [`get`]) matching `filter`, by DevEUI.
pub async fn list(
    pool: &PgPool,
    scope: Option<&str>,
    filter: &DeviceFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Device>, sqlx::Error> {
    const Q: &str = "SELECT id, dev_eui, name, model, commune, created_at, updated_at, last_seen_at FROM device
        WHERE ($1::text IS NULL OR commune = $1) AND ($2::text IS NULL OR model = $2)
            AND ($5::text IS NULL OR commune = $5)
        ORDER BY dev_eui LIMIT $3 OFFSET $4";
    sqlx::query_as::<_, Device>(Q)
        .bind(&filter.commune)
        .bind(&filter.model)
        .bind(limit)
        .bind(offset)
        .bind(scope)
        .fetch_all(pool)
        .await
}

/// How many devices of `scope` (see [`get`]) match `filter`.
pub async fn count(pool: &PgPool, scope: Option<&str>, filter: &DeviceFilter) -> Result<i64, sqlx::Error> {
    const Q: &str = "SELECT count(*) FROM device WHERE ($1::text IS NULL OR commune = $1)
        AND ($2::text IS NULL OR model = $2) AND ($3::text IS NULL OR commune = $3)";
    sqlx::query_scalar(Q).bind(&filter.commune).bind(&filter.model).bind(scope).fetch_one(pool).await
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

/// A device as the pipeline needs it: id, model, and its sealed AppSKey if roc42 holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRef {
    pub id: i64,
    pub model: String,
    pub app_s_key_sealed: Option<Vec<u8>>,
}

/// Every device as the pipeline needs it.
pub async fn list_refs(pool: &PgPool) -> Result<Vec<(DevEui, StoredRef)>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, dev_eui, model, app_s_key_sealed FROM device").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, eui, model, app_s_key_sealed)| {
            Some((eui.parse().ok()?, StoredRef { id, model, app_s_key_sealed }))
        })
        .collect())
}

pub async fn get_ref(pool: &PgPool, dev_eui: DevEui) -> Result<Option<StoredRef>, sqlx::Error> {
    let row: Option<(i64, String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, model, app_s_key_sealed FROM device WHERE dev_eui = $1")
            .bind(dev_eui.to_string())
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id, model, app_s_key_sealed)| StoredRef { id, model, app_s_key_sealed }))
}

/// Sets (or with `None`, forgets) the device's sealed AppSKey; false if no such device.
pub async fn set_app_s_key(pool: &PgPool, dev_eui: DevEui, sealed: Option<&[u8]>) -> Result<bool, sqlx::Error> {
    const Q: &str = "UPDATE device SET app_s_key_sealed = $2, updated_at = now() WHERE dev_eui = $1";
    Ok(sqlx::query(Q).bind(dev_eui.to_string()).bind(sealed).execute(pool).await?.rows_affected() > 0)
}

/// A device placed at a site under a service, as [`upsert_batch`] writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedDevice {
    pub dev_eui: DevEui,
    pub name: String,
    pub model: String,
    pub commune: String,
    pub site_id: Option<i64>,
    pub service_id: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Sealed AppSKey; `None` keeps the one stored, if any.
    pub app_s_key_sealed: Option<Vec<u8>>,
}

/// Creates or updates these devices in one statement (arrays through UNNEST, so one round
/// trip for the whole slice); returns how many were created. Retired devices stay retired.
pub async fn upsert_batch(conn: &mut sqlx::PgConnection, rows: &[PlacedDevice]) -> Result<i64, sqlx::Error> {
    const Q: &str = "WITH u AS (
        INSERT INTO device (dev_eui, name, model, commune, site_id, service_id, latitude, longitude, app_s_key_sealed)
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[],
                             $7::float8[], $8::float8[], $9::bytea[])
        ON CONFLICT (dev_eui) DO UPDATE SET name = EXCLUDED.name, model = EXCLUDED.model,
            commune = EXCLUDED.commune, site_id = EXCLUDED.site_id, service_id = EXCLUDED.service_id,
            latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
            app_s_key_sealed = coalesce(EXCLUDED.app_s_key_sealed, device.app_s_key_sealed), updated_at = now()
        RETURNING (xmax = 0) AS created)
        SELECT count(*) FILTER (WHERE created) FROM u";
    sqlx::query_scalar(Q)
        .bind(rows.iter().map(|d| d.dev_eui.to_string()).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.name.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.model.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.commune.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.site_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.service_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.latitude).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.longitude).collect::<Vec<_>>())
        .bind(rows.iter().map(|d| d.app_s_key_sealed.as_deref()).collect::<Vec<_>>())
        .fetch_one(conn)
        .await
}
