//! The device registry table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::lorawan::DevEui;

/// A registered device, with where it is placed.
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
    /// Site the device is placed at.
    pub site_id: Option<i64>,
    /// Name of that site.
    #[schema(example = "École Jules Ferry")]
    pub site: Option<String>,
    /// Service of the catalogue the device serves.
    #[schema(example = "air-quality-schools")]
    pub service: Option<String>,
    /// Latitude, WGS 84 degrees.
    pub latitude: Option<f64>,
    /// Longitude, WGS 84 degrees.
    pub longitude: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Network time of the last uplink stored.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When the device was retired: its history is kept, its new uplinks are treated as
    /// those of an unknown device until it is claimed again.
    pub retired_at: Option<DateTime<Utc>>,
}

/// A device to create or update (CLI, tests): no placement.
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
    pub site_id: Option<i64>,
    pub service: Option<String>,
    /// Also list retired devices.
    pub include_retired: bool,
}

const COLUMNS: &str = "d.id, d.dev_eui, d.name, d.model, d.commune, d.site_id, s.name AS site,
    d.service_id AS service, d.latitude, d.longitude, d.created_at, d.updated_at, d.last_seen_at, d.retired_at";

/// The device, if it exists and belongs to `scope` (a commune's INSEE code; `None`:
/// any commune). A device outside the scope is `None`, like a missing one.
pub async fn get(pool: &PgPool, scope: Option<&str>, dev_eui: DevEui) -> Result<Option<Device>, sqlx::Error> {
    let q = format!(
        "SELECT {COLUMNS} FROM device d LEFT JOIN site s ON s.id = d.site_id
        WHERE d.dev_eui = $1 AND ($2::text IS NULL OR d.commune = $2)"
    );
    sqlx::query_as::<_, Device>(&q).bind(dev_eui.to_string()).bind(scope).fetch_optional(pool).await
}

const FILTER: &str = "($1::text IS NULL OR d.commune = $1) AND ($2::text IS NULL OR d.model = $2)
    AND ($3::text IS NULL OR d.commune = $3) AND ($4::int8 IS NULL OR d.site_id = $4)
    AND ($5::text IS NULL OR d.service_id = $5) AND ($6 OR d.retired_at IS NULL)";

/// A page of the devices of `scope` (see [`get`]) matching `filter`, by DevEUI.
pub async fn list(
    pool: &PgPool,
    scope: Option<&str>,
    filter: &DeviceFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Device>, sqlx::Error> {
    let q = format!(
        "SELECT {COLUMNS} FROM device d LEFT JOIN site s ON s.id = d.site_id WHERE {FILTER}
        ORDER BY d.dev_eui LIMIT $7 OFFSET $8"
    );
    sqlx::query_as::<_, Device>(&q)
        .bind(scope)
        .bind(&filter.model)
        .bind(&filter.commune)
        .bind(filter.site_id)
        .bind(&filter.service)
        .bind(filter.include_retired)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

/// How many devices of `scope` (see [`get`]) match `filter`.
pub async fn count(pool: &PgPool, scope: Option<&str>, filter: &DeviceFilter) -> Result<i64, sqlx::Error> {
    let q = format!("SELECT count(*) FROM device d WHERE {FILTER}");
    sqlx::query_scalar(&q)
        .bind(scope)
        .bind(&filter.model)
        .bind(&filter.commune)
        .bind(filter.site_id)
        .bind(&filter.service)
        .bind(filter.include_retired)
        .fetch_one(pool)
        .await
}

/// Creates the device, or updates its name, model and commune.
pub async fn upsert(pool: &PgPool, d: &NewDevice) -> Result<Device, sqlx::Error> {
    const Q: &str = "INSERT INTO device (dev_eui, name, model, commune) VALUES ($1, $2, $3, $4)
        ON CONFLICT (dev_eui) DO UPDATE SET name = EXCLUDED.name, model = EXCLUDED.model,
            commune = EXCLUDED.commune, updated_at = now()";
    sqlx::query(Q).bind(d.dev_eui.to_string()).bind(&d.name).bind(&d.model).bind(&d.commune).execute(pool).await?;
    get(pool, None, d.dev_eui).await?.ok_or(sqlx::Error::RowNotFound)
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DeviceChange {
    pub name: Option<String>,
    pub model: Option<String>,
    /// Moves the device to another commune (and off its site, unless `site_id` is given).
    pub commune: Option<String>,
    /// Moves the device to this site (and its commune).
    pub site_id: Option<i64>,
    pub service: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// A new sealed AppSKey.
    pub app_s_key_sealed: Option<Vec<u8>>,
}

/// Applies `change` to the device; `None` if there is no such device. The caller has
/// checked that the site, commune, service and model exist.
pub async fn update(pool: &PgPool, dev_eui: DevEui, change: &DeviceChange) -> Result<Option<Device>, sqlx::Error> {
    const Q: &str = "UPDATE device d SET
            name = coalesce($2, d.name),
            model = coalesce($3, d.model),
            commune = coalesce((SELECT s.commune FROM site s WHERE s.id = $5), $4, d.commune),
            site_id = CASE WHEN $5::int8 IS NOT NULL THEN $5
                           WHEN $4::text IS NOT NULL AND $4 IS DISTINCT FROM d.commune THEN NULL
                           ELSE d.site_id END,
            service_id = coalesce($6, d.service_id),
            latitude = coalesce($7, d.latitude),
            longitude = coalesce($8, d.longitude),
            app_s_key_sealed = coalesce($9, d.app_s_key_sealed),
            updated_at = now()
        WHERE d.dev_eui = $1";
    let n = sqlx::query(Q)
        .bind(dev_eui.to_string())
        .bind(&change.name)
        .bind(&change.model)
        .bind(&change.commune)
        .bind(change.site_id)
        .bind(&change.service)
        .bind(change.latitude)
        .bind(change.longitude)
        .bind(change.app_s_key_sealed.as_deref())
        .execute(pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(None);
    }
    get(pool, None, dev_eui).await
}

/// Retires the device (its history is kept); `None` if there is no such device. A device
/// already retired keeps its first retirement time.
pub async fn retire(pool: &PgPool, dev_eui: DevEui) -> Result<Option<Device>, sqlx::Error> {
    const Q: &str = "UPDATE device SET retired_at = coalesce(retired_at, now()), updated_at = now() WHERE dev_eui = $1";
    if sqlx::query(Q).bind(dev_eui.to_string()).execute(pool).await?.rows_affected() == 0 {
        return Ok(None);
    }
    get(pool, None, dev_eui).await
}

/// Whether a device with this DevEUI is registered and not retired.
pub async fn is_active(pool: &PgPool, dev_eui: DevEui) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM device WHERE dev_eui = $1 AND retired_at IS NULL)")
        .bind(dev_eui.to_string())
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

/// Every device in service (not retired) as the pipeline needs it.
pub async fn list_refs(pool: &PgPool) -> Result<Vec<(DevEui, StoredRef)>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, dev_eui, model, app_s_key_sealed FROM device WHERE retired_at IS NULL")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, eui, model, app_s_key_sealed)| {
            Some((eui.parse().ok()?, StoredRef { id, model, app_s_key_sealed }))
        })
        .collect())
}

pub async fn get_ref(pool: &PgPool, dev_eui: DevEui) -> Result<Option<StoredRef>, sqlx::Error> {
    let row: Option<(i64, String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, model, app_s_key_sealed FROM device WHERE dev_eui = $1 AND retired_at IS NULL")
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
/// trip for the whole slice); returns how many were created. `reactivate`: retired
/// devices among them are put back in service (a claim); else they stay retired.
pub async fn upsert_batch(
    conn: &mut sqlx::PgConnection,
    rows: &[PlacedDevice],
    reactivate: bool,
) -> Result<i64, sqlx::Error> {
    const Q: &str = "WITH u AS (
        INSERT INTO device (dev_eui, name, model, commune, site_id, service_id, latitude, longitude, app_s_key_sealed)
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[],
                             $7::float8[], $8::float8[], $9::bytea[])
        ON CONFLICT (dev_eui) DO UPDATE SET name = EXCLUDED.name, model = EXCLUDED.model,
            commune = EXCLUDED.commune, site_id = EXCLUDED.site_id, service_id = EXCLUDED.service_id,
            latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
            app_s_key_sealed = coalesce(EXCLUDED.app_s_key_sealed, device.app_s_key_sealed), updated_at = now(),
            retired_at = CASE WHEN $10 THEN NULL ELSE device.retired_at END
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
        .bind(reactivate)
        .fetch_one(conn)
        .await
}
