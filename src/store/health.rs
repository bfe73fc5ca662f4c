//! The queries behind fleet health: frame counters, radio quality per device and per
//! gateway, decode failures per model, over a period.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// Frame counters of registered devices' uplinks in `[from, to)` (of `ids` only, if
/// given): (device, time, f_cnt), by device then time.
pub async fn frame_counters(
    pool: &PgPool,
    ids: Option<&[i64]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>, i64)>, sqlx::Error> {
    const Q: &str = "SELECT device_id, time, f_cnt FROM uplink
        WHERE time >= $1 AND time < $2 AND device_id IS NOT NULL AND f_cnt IS NOT NULL
            AND ($3::int8[] IS NULL OR device_id = ANY($3))
        ORDER BY device_id, time";
    sqlx::query_as(Q).bind(from).bind(to).bind(ids).fetch_all(pool).await
}

/// Join events in `[from, to)` (of `ids` only, if given): (device, time), by device then time.
pub async fn joins(
    pool: &PgPool,
    ids: Option<&[i64]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>)>, sqlx::Error> {
    const Q: &str = "SELECT device_id, time FROM lns_event
        WHERE kind = 'join' AND time >= $1 AND time < $2 AND device_id IS NOT NULL
            AND ($3::int8[] IS NULL OR device_id = ANY($3))
        ORDER BY device_id, time";
    sqlx::query_as(Q).bind(from).bind(to).bind(ids).fetch_all(pool).await
}

/// Percentiles of a radio measure.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Spread {
    pub min: Option<f64>,
    pub p10: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
}

/// Radio quality of one device over the period, from the best gateway of each uplink.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRadio {
    pub device_id: i64,
    pub uplinks: i64,
    pub rssi: Vec<Option<f64>>,
    pub snr: Vec<Option<f64>>,
    pub gateways: Vec<String>,
}

pub async fn device_radio(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DeviceRadio>, sqlx::Error> {
    const Q: &str = "SELECT device_id, count(*) AS uplinks,
            ARRAY[min(rssi), percentile_cont(0.1) WITHIN GROUP (ORDER BY rssi), percentile_cont(0.5) WITHIN GROUP (ORDER BY rssi),
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY rssi), max(rssi)] AS rssi,
            ARRAY[min(snr), percentile_cont(0.1) WITHIN GROUP (ORDER BY snr), percentile_cont(0.5) WITHIN GROUP (ORDER BY snr),
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY snr), max(snr)] AS snr,
            ARRAY(SELECT DISTINCT g FROM unnest(array_agg(gws)) AS x(a), unnest(string_to_array(a, ' ')) AS g WHERE g <> '' ORDER BY g) AS gateways
        FROM (SELECT u.device_id,
                     (SELECT max((g->>'rssi')::float8) FROM jsonb_array_elements(u.rx) g) AS rssi,
                     (SELECT max((g->>'snr')::float8) FROM jsonb_array_elements(u.rx) g) AS snr,
                     (SELECT string_agg(g->>'gateway_id', ' ') FROM jsonb_array_elements(u.rx) g) AS gws
              FROM uplink u WHERE u.time >= $1 AND u.time < $2 AND u.device_id IS NOT NULL) x
        GROUP BY device_id ORDER BY device_id";
    sqlx::query_as::<_, DeviceRadio>(Q).bind(from).bind(to).fetch_all(pool).await
}

/// What one gateway heard over the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct GatewayHealth {
    pub gateway_id: String,
    /// Distinct devices (registered or not) heard.
    pub devices: i64,
    pub uplinks: i64,
    pub median_rssi: Option<f64>,
    pub median_snr: Option<f64>,
    pub last_heard_at: DateTime<Utc>,
}

pub async fn gateways(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<GatewayHealth>, sqlx::Error> {
    const Q: &str = "SELECT g->>'gateway_id' AS gateway_id, count(DISTINCT u.dev_eui) AS devices, count(*) AS uplinks,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY (g->>'rssi')::float8) AS median_rssi,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY (g->>'snr')::float8) AS median_snr,
            max(u.time) AS last_heard_at
        FROM uplink u CROSS JOIN LATERAL jsonb_array_elements(u.rx) g
        WHERE u.time >= $1 AND u.time < $2 AND g->>'gateway_id' IS NOT NULL
        GROUP BY 1 ORDER BY 1";
    sqlx::query_as::<_, GatewayHealth>(Q).bind(from).bind(to).fetch_all(pool).await
}

/// Decode outcomes of one model's uplinks over the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct ModelFailures {
    pub model: String,
    pub uplinks: i64,
    pub decode_failed: i64,
    /// The most frequent error, if any failed.
    pub top_error: Option<String>,
}

pub async fn decode_failures(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ModelFailures>, sqlx::Error> {
    const Q: &str =
        "SELECT d.model, count(*) AS uplinks, count(*) FILTER (WHERE u.outcome = 'decode_failed') AS decode_failed,
            mode() WITHIN GROUP (ORDER BY u.error) FILTER (WHERE u.outcome = 'decode_failed') AS top_error
        FROM uplink u JOIN device d ON d.id = u.device_id
        WHERE u.time >= $1 AND u.time < $2
        GROUP BY d.model ORDER BY d.model";
    sqlx::query_as::<_, ModelFailures>(Q).bind(from).bind(to).fetch_all(pool).await
}
