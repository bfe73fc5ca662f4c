//! Rollups of readings (hourly in UTC, daily in the commune's local time) and retention.
//!
//! Whatever writes readings marks the (device, UTC hour) it touched in `rollup_pending`,
//! in the same transaction ([`mark`]). [`refresh`] claims marks and recomputes those
//! hours, and the local days that contain them, from the raw readings: a late,
//! out-of-order or reprocessed reading gives the same rollups as a recomputation of
//! everything. Claims skip locked marks, so several roc42 processes can refresh at once.
//! The hours of a commune's devices under one service are also added up
//! (`rollup_service_hour`): a year of a commune's service is 8,760 rows.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

/// Marks the (device, hour) of each reading given as changed. Call it in the transaction
/// that writes the readings.
///
/// Marks are appended, duplicates and all: an insert that had to check a unique key would
/// wait for a refresh holding the same marks to commit (migration
/// `20261203000003_rollup_pending_append.sql`); the refresh deduplicates what it claims.
pub async fn mark(conn: &mut PgConnection, device_ids: &[i64], times: &[DateTime<Utc>]) -> Result<(), sqlx::Error> {
    const Q: &str = "INSERT INTO rollup_pending (device_id, hour) SELECT * FROM UNNEST($1::int8[], $2::timestamptz[])";
    let hours: BTreeSet<(i64, DateTime<Utc>)> = device_ids
        .iter()
        .zip(times)
        .filter_map(|(&id, &t)| Some((id, t.duration_trunc(Duration::hours(1)).ok()?)))
        .collect();
    if hours.is_empty() {
        return Ok(());
    }
    let (ids, hours): (Vec<i64>, Vec<DateTime<Utc>>) = hours.into_iter().unzip();
    sqlx::query(Q).bind(&ids).bind(&hours).execute(conn).await?;
    Ok(())
}

/// What one [`refresh`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Marks consumed.
    pub marks: u64,
    /// Hourly and daily rollup rows written.
    pub hours: u64,
    pub days: u64,
    /// Marks older than `horizon` dropped without recomputation (their raw readings may
    /// be gone: the rollups keep what they had).
    pub frozen: u64,
    /// Service rollup rows written ([`refresh_services`]; [`refresh`] only queues them).
    pub services: u64,
    /// Devices whose readings changed, for the alert evaluation.
    pub devices: Vec<i64>,
}

// Marks are not unique: claimed by their row (ctid), deduplicated by the caller.
const CLAIM: &str = "DELETE FROM rollup_pending p USING (
        SELECT ctid FROM rollup_pending ORDER BY device_id, hour LIMIT $1 FOR UPDATE SKIP LOCKED) c
    WHERE p.ctid = c.ctid
    RETURNING p.device_id, p.hour";

// One refresh at a time per device, whatever the process: a day is added up from the
// device's hours, and two refreshes of different hours of one device, each blind to the
// other's uncommitted hour, would both leave a day missing one of them. The second waits
// for the first to commit; its next statements see that hour. Ids are locked in
// ascending order, so refreshes never deadlock.
const LOCK_DEVICES: &str = "SELECT count(pg_advisory_xact_lock(4242, (id % 2147483647)::int4))
    FROM UNNEST($1::int8[]) AS id";

// Buckets to recompute: `b` (start) and `e` (end) per device, given as arrays $1..$3;
// $4 and $5 bound them all, so TimescaleDB excludes the other chunks once, at executor
// startup, rather than each lateral scan visiting every chunk of the device (35,000
// index entries a year of 15-minute data). The lateral scan uses the unique index
// (device_id, metric, time) by its device prefix within the chunks left, and comes out
// in (metric, time) order: each bucket is added up inside it, with no sort. Grouping
// after the join instead sorted every reading of the claim at once (29,000 hours of
// 500,000 readings: 3.7 s, spilling to disk, against 3.0 s; psql, `roc42_bench`).
fn recompute(table: &str) -> String {
    format!(
        "INSERT INTO {table} (device_id, metric, bucket, count, sum, min, max, first, last, last_time, increase)
        SELECT k.device_id, r.*
        FROM UNNEST($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS k(device_id, b, e)
        CROSS JOIN LATERAL (
            SELECT metric, k.b, count(*), sum(value), min(value), max(value),
                   first(value, time), last(value, time), max(time), {INCREASE}
            FROM (SELECT metric, time, value, lag(value) OVER (PARTITION BY metric ORDER BY time) AS prev
                  FROM reading WHERE device_id = k.device_id AND time >= k.b AND time < k.e
                      AND time >= $4::timestamptz AND time < $5::timestamptz) w
            GROUP BY metric) r
        {UPSERT}"
    )
}

const UPSERT: &str = "ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
            count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
            first = EXCLUDED.first, last = EXCLUDED.last, last_time = EXCLUDED.last_time,
            increase = EXCLUDED.increase";

// A local day that starts and ends on whole UTC hours (every zone roc42 serves in
// France) is added up from the device's hourly rollups, just recomputed: at most 25 rows
// per metric instead of every reading of the day (96 a metric at 15 minutes). The same
// figures as from the readings: the steps of `increase` between two hours are those
// between an hour's last reading and the next hour's first.
fn days_from_hours() -> String {
    format!(
        "INSERT INTO rollup_day (device_id, metric, bucket, count, sum, min, max, first, last, last_time, increase)
        SELECT k.device_id, d.*
        FROM UNNEST($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS k(device_id, b, e)
        CROSS JOIN LATERAL (
            SELECT metric, k.b, sum(count), sum(sum), min(min), max(max),
                   first(first, bucket), last(last, bucket), max(last_time),
                   sum(increase) + coalesce(sum(CASE WHEN prev IS NULL THEN 0 WHEN first >= prev THEN first - prev ELSE first END), 0)
            FROM (SELECT metric, bucket, count, sum, min, max, first, last, last_time, increase,
                         lag(last) OVER (PARTITION BY metric ORDER BY bucket) AS prev
                  FROM rollup_hour WHERE device_id = k.device_id AND bucket >= k.b AND bucket < k.e
                      AND bucket >= $4::timestamptz AND bucket < $5::timestamptz) h
            GROUP BY metric) d
        {UPSERT}"
    )
}

fn clear(table: &str) -> String {
    format!(
        "DELETE FROM {table} h USING UNNEST($1::int8[], $2::timestamptz[]) AS k(device_id, b)
        WHERE h.device_id = k.device_id AND h.bucket = k.b AND h.bucket >= $3::timestamptz AND h.bucket <= $4::timestamptz"
    )
}

/// The earliest and latest of `times` (they are not empty).
fn bounds(starts: &[DateTime<Utc>], ends: &[DateTime<Utc>]) -> (DateTime<Utc>, DateTime<Utc>) {
    let lo = starts.iter().min().copied().unwrap_or_default();
    let hi = ends.iter().max().copied().unwrap_or_default();
    (lo, hi)
}

// The local days containing the claimed hours, per device, with their end (23, 24 or 25
// hours later), in the device's commune's zone (Europe/Paris without a commune).
const DAYS: &str = "SELECT DISTINCT k.device_id, time_bucket('1 day', k.hour, z.tz) AS b,
        ((time_bucket('1 day', k.hour, z.tz) AT TIME ZONE z.tz) + interval '1 day') AT TIME ZONE z.tz AS e
    FROM UNNEST($1::int8[], $2::timestamptz[]) AS k(device_id, hour)
    LEFT JOIN device d ON d.id = k.device_id
    LEFT JOIN commune c ON c.insee = d.commune
    CROSS JOIN LATERAL (SELECT coalesce(c.time_zone, 'Europe/Paris') AS tz) z
    ORDER BY 1, 2";

/// Buckets `[starts[i], ends[i])` of devices `ids[i]`, as three columns.
#[derive(Debug, Default)]
struct Buckets {
    ids: Vec<i64>,
    starts: Vec<DateTime<Utc>>,
    ends: Vec<DateTime<Utc>>,
}

impl Buckets {
    fn push(&mut self, id: i64, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.ids.push(id);
        self.starts.push(start);
        self.ends.push(end);
    }

    /// Clears the buckets in `table` and writes them with `insert` (bound to the
    /// buckets and their bounds); the rows written.
    async fn rewrite(&self, conn: &mut PgConnection, table: &str, insert: &str) -> Result<u64, sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(0);
        }
        let (lo, hi) = bounds(&self.starts, &self.ends);
        sqlx::query(&clear(table)).bind(&self.ids).bind(&self.starts).bind(lo).bind(hi).execute(&mut *conn).await?;
        Ok(sqlx::query(insert)
            .bind(&self.ids)
            .bind(&self.starts)
            .bind(&self.ends)
            .bind(lo)
            .bind(hi)
            .execute(&mut *conn)
            .await?
            .rows_affected())
    }
}

fn on_the_hour(t: DateTime<Utc>) -> bool {
    t.timestamp().rem_euclid(3600) == 0
}

/// Claims up to `limit` marks and recomputes their hours and days, in one transaction,
/// and queues the service hours they touch for [`refresh_services`]. Marks before
/// `horizon` (raw retention) are dropped, not recomputed.
pub async fn refresh(pool: &PgPool, limit: i64, horizon: Option<DateTime<Utc>>) -> Result<Refreshed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut claimed: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(CLAIM).bind(limit).fetch_all(&mut *tx).await?;
    let mut out = Refreshed { marks: claimed.len() as u64, ..Refreshed::default() };
    claimed.sort_unstable();
    claimed.dedup();
    let before = claimed.len();
    if let Some(h) = horizon {
        claimed.retain(|(_, hour)| *hour >= h);
    }
    out.frozen = (before - claimed.len()) as u64;
    if claimed.is_empty() {
        tx.commit().await?;
        return Ok(out);
    }
    let (ids, hours): (Vec<i64>, Vec<DateTime<Utc>>) = claimed.iter().copied().unzip();
    let mut devices = ids.clone();
    devices.dedup();
    sqlx::query(LOCK_DEVICES).bind(&devices).execute(&mut *tx).await?;

    let mut hourly = Buckets::default();
    for (&id, &h) in ids.iter().zip(&hours) {
        hourly.push(id, h, h + Duration::hours(1));
    }
    out.hours = hourly.rewrite(&mut tx, "rollup_hour", &recompute("rollup_hour")).await?;
    let days: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as(DAYS).bind(&ids).bind(&hours).fetch_all(&mut *tx).await?;
    let (mut from_hours, mut from_readings) = (Buckets::default(), Buckets::default());
    for (id, b, e) in days {
        let whole_hours = on_the_hour(b) && on_the_hour(e);
        if whole_hours { &mut from_hours } else { &mut from_readings }.push(id, b, e);
    }
    out.days = from_hours.rewrite(&mut tx, "rollup_day", &days_from_hours()).await?
        + from_readings.rewrite(&mut tx, "rollup_day", &recompute("rollup_day")).await?;
    sqlx::query(QUEUE_SERVICES).bind(&ids).bind(&hours).execute(&mut *tx).await?;
    tx.commit().await?;
    out.devices = devices;
    Ok(out)
}

// The (commune, service, hour) of the given (device, hour) marks, queued.
const QUEUE_SERVICES: &str = "INSERT INTO rollup_service_pending (commune, service, hour)
    SELECT DISTINCT d.commune, d.service_id, k.hour
    FROM UNNEST($1::int8[], $2::timestamptz[]) AS k(device_id, hour) JOIN device d ON d.id = k.device_id
    WHERE d.commune IS NOT NULL AND d.service_id IS NOT NULL";

const CLAIM_SERVICES: &str = "DELETE FROM rollup_service_pending p USING (
        SELECT ctid FROM rollup_service_pending ORDER BY commune, service, hour LIMIT $1 FOR UPDATE SKIP LOCKED) c
    WHERE p.ctid = c.ctid
    RETURNING p.commune, p.service, p.hour";

const CLEAR_SERVICES: &str = "DELETE FROM rollup_service_hour h
    USING UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS k(commune, service, hour)
    WHERE h.commune = k.commune AND h.service = k.service AND h.bucket = k.hour
        AND h.bucket >= $4::timestamptz AND h.bucket <= $5::timestamptz";

const SERVICES: &str =
    "INSERT INTO rollup_service_hour (commune, service, metric, bucket, devices, count, sum, min, max)
    SELECT k.commune, k.service, h.metric, k.hour, count(*), sum(h.count), sum(h.sum), min(h.min), max(h.max)
    FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS k(commune, service, hour)
    JOIN device d ON d.commune = k.commune AND d.service_id = k.service
    JOIN rollup_hour h ON h.device_id = d.id AND h.bucket = k.hour AND h.bucket >= $4::timestamptz AND h.bucket <= $5::timestamptz
    GROUP BY k.commune, k.service, h.metric, k.hour
    ON CONFLICT (commune, service, metric, bucket) DO UPDATE SET devices = EXCLUDED.devices, count = EXCLUDED.count,
        sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max";

/// What one [`refresh_services`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServicesRefreshed {
    /// Queued keys consumed (a key queued many times counts each time).
    pub queued: u64,
    /// Service rollup rows written.
    pub rows: u64,
}

/// Claims up to `limit` queued service hours and recomputes each once from the hourly
/// rollups of the (commune, service)'s devices, in one transaction.
pub async fn refresh_services(pool: &PgPool, limit: i64) -> Result<ServicesRefreshed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut keys: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as(CLAIM_SERVICES).bind(limit).fetch_all(&mut *tx).await?;
    let mut out = ServicesRefreshed { queued: keys.len() as u64, rows: 0 };
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        let communes: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        let services: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        let hours: Vec<DateTime<Utc>> = keys.iter().map(|k| k.2).collect();
        let (lo, hi) = bounds(&hours, &hours);
        for (sql, rows) in [(CLEAR_SERVICES, false), (SERVICES, true)] {
            let n = sqlx::query(sql)
                .bind(&communes)
                .bind(&services)
                .bind(&hours)
                .bind(lo)
                .bind(hi)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if rows {
                out.rows = n;
            }
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// What a [`rebuild`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    pub hours: u64,
    pub days: u64,
    pub services: u64,
}

const INCREASE: &str =
    "coalesce(sum(CASE WHEN prev IS NULL THEN 0 WHEN value >= prev THEN value - prev ELSE value END), 0)";

/// Recomputes every rollup whose bucket starts in `[from, to)` from the raw readings,
/// set-based, a week at a time (one transaction each): faster than marks for a backfill
/// or after importing history (`roc42 rebuild-rollups`, the bench). Marks of those hours
/// are consumed; changes committed meanwhile mark again and are refreshed as usual.
pub async fn rebuild(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut progress: impl FnMut(DateTime<Utc>),
) -> Result<Rebuilt, sqlx::Error> {
    let hours = format!(
        "INSERT INTO rollup_hour (device_id, metric, bucket, count, sum, min, max, first, last, last_time, increase)
        SELECT device_id, metric, b, count(*), sum(value), min(value), max(value), first(value, time), last(value, time),
               max(time), {INCREASE}
        FROM (SELECT device_id, metric, time, value, time_bucket('1 hour', time) AS b,
                     lag(value) OVER (PARTITION BY device_id, metric, time_bucket('1 hour', time) ORDER BY time) AS prev
              FROM reading WHERE time >= $1 AND time < $2) x
        GROUP BY device_id, metric, b"
    );
    // A local day starting before `to` ends before `to` + 26 hours.
    let days = format!(
        "INSERT INTO rollup_day (device_id, metric, bucket, count, sum, min, max, first, last, last_time, increase)
        SELECT device_id, metric, b, count(*), sum(value), min(value), max(value), first(value, time), last(value, time),
               max(time), {INCREASE}
        FROM (SELECT r.device_id, r.metric, r.time, r.value, z.b,
                     lag(r.value) OVER (PARTITION BY r.device_id, r.metric, z.b ORDER BY r.time) AS prev
              FROM reading r
              LEFT JOIN device d ON d.id = r.device_id
              LEFT JOIN commune c ON c.insee = d.commune
              CROSS JOIN LATERAL (SELECT time_bucket('1 day', r.time, coalesce(c.time_zone, 'Europe/Paris')) AS b) z
              WHERE r.time >= $1 AND r.time < $2 + interval '26 hours') x
        WHERE b >= $1 AND b < $2
        GROUP BY device_id, metric, b"
    );
    const SERVICES_ALL: &str =
        "INSERT INTO rollup_service_hour (commune, service, metric, bucket, devices, count, sum, min, max)
        SELECT d.commune, d.service_id, h.metric, h.bucket, count(*), sum(h.count), sum(h.sum), min(h.min), max(h.max)
        FROM rollup_hour h JOIN device d ON d.id = h.device_id
        WHERE h.bucket >= $1 AND h.bucket < $2 AND d.commune IS NOT NULL AND d.service_id IS NOT NULL
        GROUP BY 1, 2, 3, 4";
    let mut out = Rebuilt::default();
    let mut a = from.duration_trunc(Duration::hours(1)).unwrap_or(from);
    while a < to {
        let b = (a + Duration::days(7)).min(to);
        let mut tx = pool.begin().await?;
        for pending in ["rollup_pending", "rollup_service_pending"] {
            sqlx::query(&format!("DELETE FROM {pending} WHERE hour >= $1 AND hour < $2"))
                .bind(a)
                .bind(b)
                .execute(&mut *tx)
                .await?;
        }
        for table in ["rollup_hour", "rollup_day", "rollup_service_hour"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE bucket >= $1 AND bucket < $2"))
                .bind(a)
                .bind(b)
                .execute(&mut *tx)
                .await?;
        }
        out.hours += sqlx::query(&hours).bind(a).bind(b).execute(&mut *tx).await?.rows_affected();
        out.days += sqlx::query(&days).bind(a).bind(b).execute(&mut *tx).await?.rows_affected();
        out.services += sqlx::query(SERVICES_ALL).bind(a).bind(b).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        progress(b);
        a = b;
    }
    Ok(out)
}

/// Refreshes until no mark and no queued service hour is left (tests, `roc42 bench`,
/// before retention).
pub async fn refresh_all(pool: &PgPool, horizon: Option<DateTime<Utc>>) -> Result<Refreshed, sqlx::Error> {
    let mut total = Refreshed::default();
    loop {
        let r = refresh(pool, 5000, horizon).await?;
        if r.marks == 0 {
            break;
        }
        total.marks += r.marks;
        total.hours += r.hours;
        total.days += r.days;
        total.frozen += r.frozen;
        total.devices.extend(r.devices);
    }
    loop {
        let r = refresh_services(pool, 5000).await?;
        if r.queued == 0 {
            return Ok(total);
        }
        total.services += r.rows;
    }
}

/// Marks and queued service hours waiting for a refresh.
pub async fn pending(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT (SELECT count(*) FROM rollup_pending) + (SELECT count(*) FROM rollup_service_pending)")
        .fetch_one(pool)
        .await
}

/// One rollup row, as the API and indicators read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct RollupRow {
    #[serde(skip)]
    pub device_id: i64,
    #[serde(skip)]
    pub metric: String,
    /// Start of the bucket (local midnight for days, as a UTC instant).
    pub time: DateTime<Utc>,
    /// Readings in the bucket.
    pub count: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub first: f64,
    /// The latest reading of the bucket.
    pub last: f64,
    /// Sum of the counter steps inside the bucket (a decrease counts as a reset).
    #[serde(skip)]
    pub increase: f64,
}

/// Hourly or daily rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    fn table(self) -> &'static str {
        match self {
            Grain::Hour => "rollup_hour",
            Grain::Day => "rollup_day",
        }
    }
}

/// Rollups of `metric` (all metrics if `None`) for these devices over the buckets that
/// overlap `[from, to)` (so the local day or hour `from` falls in is whole), by device,
/// metric and time. Devices outside `scope` (a commune's INSEE code) give nothing.
#[allow(clippy::too_many_arguments)]
pub async fn rows(
    pool: &PgPool,
    scope: Option<&str>,
    device_ids: &[i64],
    metric: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    grain: Grain,
) -> Result<Vec<RollupRow>, sqlx::Error> {
    let start = match grain {
        Grain::Hour => "time_bucket('1 hour', $4::timestamptz)",
        Grain::Day => "time_bucket('1 day', $4::timestamptz, coalesce(c.time_zone, 'Europe/Paris'))",
    };
    let q = format!(
        "SELECT r.device_id, r.metric, r.bucket AS time, r.count::int8 AS count, r.sum / r.count AS avg, r.min, r.max,
                r.first, r.last, r.increase
        FROM device d
        LEFT JOIN commune c ON c.insee = d.commune
        JOIN {} r ON r.device_id = d.id AND ($3::text IS NULL OR r.metric = $3) AND r.bucket >= {start} AND r.bucket < $5
        WHERE d.id = ANY($1::int8[]) AND ($2::text IS NULL OR d.commune = $2)
        ORDER BY r.device_id, r.metric, r.bucket",
        grain.table()
    );
    sqlx::query_as::<_, RollupRow>(&q)
        .bind(device_ids)
        .bind(scope)
        .bind(metric)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await
}

/// One bucket of a commune's service: its devices' readings added up.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct ServiceBucket {
    /// Start of the bucket (local midnight for days), as a UTC instant.
    pub time: DateTime<Utc>,
    /// Devices with readings in the bucket (for days: the most in any hour).
    pub devices: i64,
    pub count: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

/// The series of `metric` over the devices of `commune` under `service`, per hour or
/// local day of `time_zone`, for the buckets overlapping `[from, to)`.
#[allow(clippy::too_many_arguments)]
pub async fn service_series(
    pool: &PgPool,
    commune: &str,
    service: &str,
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    grain: Grain,
    time_zone: &str,
) -> Result<Vec<ServiceBucket>, sqlx::Error> {
    const HOURS: &str = "SELECT bucket AS time, devices::int8 AS devices, count, sum / count AS avg, min, max
        FROM rollup_service_hour
        WHERE commune = $1 AND service = $2 AND metric = $3 AND bucket >= time_bucket('1 hour', $4::timestamptz) AND bucket < $5
        ORDER BY bucket";
    // Days from hours: exact where the zone's offset is whole hours (every French
    // commune's but the Marquesas').
    const DAYS: &str = "SELECT time_bucket('1 day', bucket, $6) AS time, max(devices)::int8 AS devices,
            sum(count)::int8 AS count, sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max
        FROM rollup_service_hour
        WHERE commune = $1 AND service = $2 AND metric = $3 AND bucket >= time_bucket('1 day', $4::timestamptz, $6) AND bucket < $5
        GROUP BY 1 ORDER BY 1";
    let q = match grain {
        Grain::Hour => HOURS,
        Grain::Day => DAYS,
    };
    sqlx::query_as::<_, ServiceBucket>(q)
        .bind(commune)
        .bind(service)
        .bind(metric)
        .bind(from)
        .bind(to)
        .bind(time_zone)
        .fetch_all(pool)
        .await
}

/// What retention dropped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub uplink_chunks: u64,
    pub reading_chunks: u64,
}

/// Drops the chunks of raw uplinks and readings entirely older than the given instants
/// (rollups are kept). Pending marks are refreshed first, so no rollup misses what is
/// dropped.
pub async fn retain(
    pool: &PgPool,
    uplinks_before: Option<DateTime<Utc>>,
    readings_before: Option<DateTime<Utc>>,
) -> Result<Dropped, sqlx::Error> {
    refresh_all(pool, None).await?;
    let mut out = Dropped::default();
    if let Some(t) = uplinks_before {
        let dropped: Vec<String> =
            sqlx::query_scalar("SELECT drop_chunks('uplink', older_than => $1::timestamptz)::text")
                .bind(t)
                .fetch_all(pool)
                .await?;
        out.uplink_chunks = dropped.len() as u64;
    }
    if let Some(t) = readings_before {
        let dropped: Vec<String> =
            sqlx::query_scalar("SELECT drop_chunks('reading', older_than => $1::timestamptz)::text")
                .bind(t)
                .fetch_all(pool)
                .await?;
        out.reading_chunks = dropped.len() as u64;
    }
    Ok(out)
}
