//! Stored uplinks read back: the unknown-device queue (uplinks of DevEUIs no device in
//! service has) and the pages `pipeline::reprocess` decodes again from the raw frames,
//! with the statements that store the new results.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::batch::ReadingCols;

/// A DevEUI heard but not registered (or retired), from its stored uplinks.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct UnknownDevice {
    #[schema(example = "a81758fffe0399aa")]
    pub dev_eui: String,
    /// Network time of its first and last stored uplinks.
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Uplinks stored.
    pub uplinks: i64,
    /// Adapter of the last uplink (`chirpstack`, `tts`, `thingpark`).
    pub lns: String,
    pub last_f_port: i16,
    pub last_f_cnt: Option<i64>,
    /// FRMPayload of the last uplink, in hex (still encrypted if `last_encrypted`).
    #[schema(example = "0100e202290400270506060308")]
    pub last_payload: String,
    pub last_encrypted: bool,
    /// Gateways that heard the last uplink, with RSSI and SNR.
    #[schema(value_type = Object)]
    pub last_rx: sqlx::types::Json<serde_json::Value>,
    /// The network server's own decoding of the last uplink, if it sent one.
    #[schema(value_type = Option<Object>)]
    pub last_lns_object: Option<sqlx::types::Json<serde_json::Value>>,
    /// A device with this DevEUI is in service already: its uplinks are being decoded
    /// again (within `pipeline.device_cache_ttl_s`).
    pub registered: bool,
}

const UNKNOWN: &str = "
WITH g AS (
    SELECT dev_eui, min(time) AS first_seen_at, max(time) AS last_seen_at, count(*) AS uplinks
    FROM uplink WHERE outcome = 'unknown_device' AND ($1::text IS NULL OR dev_eui = $1)
    GROUP BY dev_eui
    ORDER BY last_seen_at DESC, dev_eui LIMIT $2 OFFSET $3)
SELECT g.dev_eui, g.first_seen_at, g.last_seen_at, g.uplinks, l.lns, l.f_port AS last_f_port,
       l.f_cnt AS last_f_cnt, encode(l.payload, 'hex') AS last_payload, l.encrypted AS last_encrypted,
       l.rx AS last_rx, l.lns_object AS last_lns_object,
       EXISTS (SELECT 1 FROM device d WHERE d.dev_eui = g.dev_eui AND d.retired_at IS NULL) AS registered
FROM g CROSS JOIN LATERAL (
    SELECT lns, f_port, f_cnt, payload, encrypted, rx, lns_object FROM uplink u
    WHERE u.dev_eui = g.dev_eui AND u.outcome = 'unknown_device' AND u.time = g.last_seen_at LIMIT 1) l
ORDER BY g.last_seen_at DESC, g.dev_eui";

/// A page of the unknown-device queue, the most recently heard first; only `dev_eui`
/// when given.
pub async fn list_unknown(
    pool: &PgPool,
    dev_eui: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<UnknownDevice>, sqlx::Error> {
    sqlx::query_as::<_, UnknownDevice>(UNKNOWN).bind(dev_eui).bind(limit).bind(offset).fetch_all(pool).await
}

/// DevEUIs in the unknown-device queue.
pub async fn count_unknown(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(DISTINCT dev_eui) FROM uplink WHERE outcome = 'unknown_device'")
        .fetch_one(pool)
        .await
}

/// DevEUIs with uplinks kept as `unknown_device` since `since` that a device in service
/// now has: registered after those uplinks were stored (or while the decode stage's cache
/// still said unknown).
pub async fn claimed_since(pool: &PgPool, since: DateTime<Utc>) -> Result<Vec<String>, sqlx::Error> {
    const Q: &str = "SELECT DISTINCT u.dev_eui FROM uplink u JOIN device d ON d.dev_eui = u.dev_eui
        WHERE u.outcome = 'unknown_device' AND u.time >= $1 AND d.retired_at IS NULL ORDER BY 1";
    sqlx::query_scalar(Q).bind(since).fetch_all(pool).await
}

/// Which stored uplinks to decode again.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these DevEUIs (lower-case hex).
    pub dev_euis: Option<Vec<String>>,
    /// Only uplinks of devices of this model.
    pub model: Option<String>,
    /// Network time range, `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only uplinks kept with this outcome.
    pub outcome: Option<&'static str>,
}

/// One stored uplink, as decoding needs it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredUplink {
    pub time: DateTime<Utc>,
    pub dedup_key: String,
    pub received_at: DateTime<Utc>,
    pub dev_eui: String,
    pub dev_addr: Option<String>,
    pub f_cnt: Option<i64>,
    pub f_port: i16,
    pub payload: Vec<u8>,
    pub encrypted: bool,
}

const SELECT_FILTER: &str = "($1::text[] IS NULL OR u.dev_eui = ANY($1))
    AND ($2::text IS NULL OR u.dev_eui IN (SELECT dev_eui FROM device WHERE model = $2))
    AND ($3::timestamptz IS NULL OR u.time >= $3) AND ($4::timestamptz IS NULL OR u.time < $4)
    AND ($5::text IS NULL OR u.outcome = $5)";

/// How many stored uplinks `sel` selects.
pub async fn count_selected(pool: &PgPool, sel: &Selection) -> Result<i64, sqlx::Error> {
    let q = format!("SELECT count(*) FROM uplink u WHERE {SELECT_FILTER}");
    sqlx::query_scalar(&q)
        .bind(&sel.dev_euis)
        .bind(&sel.model)
        .bind(sel.from)
        .bind(sel.to)
        .bind(sel.outcome)
        .fetch_one(pool)
        .await
}

/// The next page of `sel` after `after` (network time, dedup key), oldest first.
pub async fn page(
    pool: &PgPool,
    sel: &Selection,
    after: Option<(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<Vec<StoredUplink>, sqlx::Error> {
    let q = format!(
        "SELECT u.time, u.dedup_key, u.received_at, u.dev_eui, u.dev_addr, u.f_cnt, u.f_port, u.payload, u.encrypted
        FROM uplink u WHERE {SELECT_FILTER} AND ($6::timestamptz IS NULL OR (u.time, u.dedup_key) > ($6, $7))
        ORDER BY u.time, u.dedup_key LIMIT $8"
    );
    let (t, k) = after.unzip();
    sqlx::query_as::<_, StoredUplink>(&q)
        .bind(&sel.dev_euis)
        .bind(&sel.model)
        .bind(sel.from)
        .bind(sel.to)
        .bind(sel.outcome)
        .bind(t)
        .bind(k)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// New decode results of stored uplinks, column by column.
#[derive(Debug, Default)]
pub struct Redecoded {
    pub time: Vec<DateTime<Utc>>,
    pub dedup_key: Vec<String>,
    pub device_id: Vec<Option<i64>>,
    pub outcome: Vec<&'static str>,
    pub error: Vec<Option<String>>,
    pub readings: Vec<i16>,
}

/// Stores new decode results in one transaction: the uplinks' outcomes, their readings
/// (a reading already stored takes the new value: a fixed decoder corrects it), and the
/// devices' last-seen times. Returns the readings written.
pub async fn store_redecoded(conn: &mut PgConnection, up: &Redecoded, rd: &ReadingCols) -> Result<u64, sqlx::Error> {
    const UPDATE: &str = "UPDATE uplink u SET device_id = v.d, outcome = v.o, error = v.e, readings = v.n
        FROM UNNEST($1::timestamptz[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int2[]) AS v(t, k, d, o, e, n)
        WHERE u.time = v.t AND u.dedup_key = v.k";
    const READINGS: &str = "INSERT INTO reading (time, device_id, metric, value)
        SELECT * FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::float8[])
        ON CONFLICT (device_id, metric, time) DO UPDATE SET value = EXCLUDED.value";
    const LAST_SEEN: &str = "UPDATE device d SET last_seen_at = v.t
        FROM (SELECT id, max(t) AS t FROM UNNEST($1::int8[], $2::timestamptz[]) AS x(id, t) GROUP BY id ORDER BY id) v
        WHERE d.id = v.id AND (d.last_seen_at IS NULL OR d.last_seen_at < v.t)";
    sqlx::query(UPDATE)
        .bind(&up.time)
        .bind(&up.dedup_key)
        .bind(&up.device_id)
        .bind(&up.outcome)
        .bind(&up.error)
        .bind(&up.readings)
        .execute(&mut *conn)
        .await?;
    let mut written = 0;
    // ON CONFLICT DO UPDATE refuses a row twice in one statement: a decoder giving two
    // values at one time for one metric keeps the last.
    let mut seen = std::collections::HashMap::with_capacity(rd.time.len());
    for i in 0..rd.time.len() {
        seen.insert((rd.device_id[i], rd.metric[i], rd.time[i]), i);
    }
    if !seen.is_empty() {
        let mut keep: Vec<usize> = seen.into_values().collect();
        keep.sort_unstable();
        let time: Vec<_> = keep.iter().map(|&i| rd.time[i]).collect();
        let device_id: Vec<_> = keep.iter().map(|&i| rd.device_id[i]).collect();
        let metric: Vec<_> = keep.iter().map(|&i| rd.metric[i]).collect();
        let value: Vec<_> = keep.iter().map(|&i| rd.value[i]).collect();
        written = sqlx::query(READINGS)
            .bind(&time)
            .bind(&device_id)
            .bind(&metric)
            .bind(&value)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        super::rollup::mark(&mut *conn, &device_id, &time).await?;
    }
    let (ids, times): (Vec<i64>, Vec<DateTime<Utc>>) =
        up.device_id.iter().zip(&up.time).filter_map(|(d, t)| Some(((*d)?, *t))).unzip();
    if !ids.is_empty() {
        sqlx::query(LAST_SEEN).bind(&ids).bind(&times).execute(&mut *conn).await?;
    }
    Ok(written)
}
