//! `roc42 bench-analytics`: a year of 15-minute readings for 4,000 devices (generated in
//! the database), then what analysts and dashboards do with it, timed:
//!
//! 1. generating the raw readings (server-side `INSERT ... SELECT`, a week at a time);
//! 2. rebuilding every rollup from them, set-based ([`rollup::rebuild`]);
//! 3. the incremental refresh of live data: one reading per device in the current hour,
//!    marked as the batch writer marks, then refreshed ([`rollup::refresh`]);
//! 4. the commune-service-year dashboard query (hourly and daily), repeated, over HTTP
//!    to the API, JSON included;
//! 5. exporting a commune's service for the year as Parquet (and a month as CSV)
//!    through the export encoders.
//!
//! Devices are spread over ten communes of the Loire (Saint-Étienne holds 40 %), three
//! services in turn and sites of four devices: Saint-Étienne's air quality is about 530
//! devices at 130 sites.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures_util::TryStreamExt;
use sqlx::PgPool;

use super::export::Format;
use crate::config::{Config, DatabaseConfig};
use crate::store::export::{self, ExportFilter};
use crate::store::{self, rollup};

#[derive(Debug, Clone, clap::Args)]
pub struct AnalyticsBenchOptions {
    /// Devices generated.
    #[arg(long, default_value_t = 4000)]
    pub devices: usize,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// Minutes between two readings of a device.
    #[arg(long, default_value_t = 15)]
    pub interval_min: i64,
    /// Dashboard queries timed (after one untimed warm-up).
    #[arg(long, default_value_t = 30)]
    pub queries: usize,
    /// Database the bench (re)creates for itself, on the configured server.
    #[arg(long, default_value = "roc42_bench_analytics")]
    pub database: String,
    /// Keep the data of a previous run with the same size and only time the queries and
    /// exports.
    #[arg(long)]
    pub reuse: bool,
}

/// Communes the devices are spread over: INSEE code, name, centroid, share (of 100).
const COMMUNES: &[(&str, &str, f64, f64, u32)] = &[
    ("42218", "Saint-Étienne", 45.4397, 4.3872, 40),
    ("42187", "Roanne", 46.0367, 4.0683, 12),
    ("42207", "Saint-Chamond", 45.4756, 4.5142, 8),
    ("42095", "Firminy", 45.3886, 4.2883, 6),
    ("42147", "Montbrison", 45.6075, 4.0653, 6),
    ("42279", "Saint-Priest-en-Jarez", 45.4747, 4.3764, 6),
    ("42005", "Andrézieux-Bouthéon", 45.5264, 4.2603, 6),
    ("42044", "Le Chambon-Feugerolles", 45.3961, 4.3258, 6),
    ("42184", "Riorges", 46.0425, 4.0406, 5),
    ("42094", "Feurs", 45.7433, 4.2269, 5),
];

const SERVICES: [(&str, &str, &str); 3] = [
    ("air-quality-schools", "elsys-ers-co2", "air.co2"),
    ("energy-buildings", "milesight-ct101", "energy.active_import"),
    ("smart-parking", "nwave-nps405", "parking.occupied"),
];

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(mut cfg: Config, opts: AnalyticsBenchOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.devices > 0 && opts.days > 0 && opts.interval_min > 0,
        "devices, days and interval must be positive"
    );
    let url = crate::bench::database_url(&cfg.database.url, &opts.database)?;
    if !opts.reuse {
        crate::bench::reset_database(&cfg.database.url, &opts.database).await?;
    }
    cfg.database = DatabaseConfig { url, max_connections: 4 };
    let pool = store::connect(&cfg.database).await?;
    store::migrate(&pool).await?;
    let to = Utc::now().duration_trunc(TimeDelta::hours(1))?;
    let from = to - TimeDelta::days(opts.days);
    let mut report = String::new();
    let line = |report: &mut String, s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    line(
        &mut report,
        format!(
            "# roc42 bench-analytics: {} devices, {} days, a reading every {} min",
            opts.devices, opts.days, opts.interval_min
        ),
    );

    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM device").fetch_one(&pool).await?;
    if !opts.reuse || existing != opts.devices as i64 {
        anyhow::ensure!(
            existing == 0,
            "--reuse: the database holds {existing} devices, not {}; run without --reuse",
            opts.devices
        );
        setup(&pool, opts.devices).await?;
        let t = Instant::now();
        let rows = generate(&pool, from, to, opts.interval_min).await?;
        let d = t.elapsed();
        line(
            &mut report,
            format!("generate raw readings: {rows} rows in {:.0} s, {:.0} rows/s", secs(d), rows as f64 / secs(d)),
        );
        let t = Instant::now();
        let r = rollup::rebuild(&pool, from, to, |at| {
            eprint!("\rrollups rebuilt up to {}  ", at.format("%Y-%m-%d"));
        })
        .await?;
        eprintln!();
        let d = t.elapsed();
        line(
            &mut report,
            format!(
                "rebuild rollups: {} hourly, {} daily, {} service rows in {:.0} s, {:.0} raw rows/s",
                r.hours,
                r.days,
                r.services,
                secs(d),
                rows as f64 / secs(d)
            ),
        );
        sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    }
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM reading").fetch_one(&pool).await?;
    let size: String =
        sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size(current_database()))").fetch_one(&pool).await?;
    line(&mut report, format!("database: {raw} raw readings, {size}"));

    incremental(&pool, to, &mut report, &line).await?;
    cfg.http.addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let http = crate::app::Http::start(&cfg, pool.clone()).await?;
    dashboard(&pool, http.addr, from, to, opts.queries, &mut report, &line).await?;
    http.shutdown().await;
    exports(&pool, from, to, &mut report, &line).await?;
    line(
        &mut report,
        format!("(period: {} days up to {})", opts.days, to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    pool.close().await;
    Ok(())
}

/// Communes, sites of four devices, devices spread by weight, services in turn.
async fn setup(pool: &PgPool, devices: usize) -> anyhow::Result<()> {
    for (insee, name, lat, lon, _) in COMMUNES {
        sqlx::query(
            "INSERT INTO commune (insee, name, latitude, longitude) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(insee)
        .bind(name)
        .bind(lat)
        .bind(lon)
        .execute(pool)
        .await?;
    }
    let total: u32 = COMMUNES.iter().map(|c| c.4).sum();
    let (mut euis, mut names, mut models, mut communes, mut services, mut sites) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut i = 0usize;
    for (insee, name, _, _, weight) in COMMUNES {
        let n = (devices as f64 * f64::from(*weight) / f64::from(total)).round() as usize;
        let n = n.min(devices - i);
        for k in 0..n {
            let (service, model, _) = SERVICES[k % 3];
            euis.push(format!("b0b0b0{:010x}", i));
            names.push(format!("{name} {k}"));
            models.push(model);
            communes.push(*insee);
            services.push(service);
            sites.push(format!("{name} site {}", k / 12 * 3 + k % 3));
            i += 1;
        }
    }
    while i < devices {
        let (service, model, _) = SERVICES[i % 3];
        euis.push(format!("b0b0b0{:010x}", i));
        names.push(format!("Saint-Étienne extra {i}"));
        models.push(model);
        communes.push("42218");
        services.push(service);
        sites.push(format!("Saint-Étienne extra site {}", i / 4));
        i += 1;
    }
    sqlx::query(
        "INSERT INTO site (commune, name) SELECT DISTINCT c, s FROM UNNEST($1::text[], $2::text[]) AS x(c, s)
         ON CONFLICT DO NOTHING",
    )
    .bind(&communes)
    .bind(&sites)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO device (dev_eui, name, model, commune, service_id, site_id)
         SELECT e, n, m, c, sv, (SELECT id FROM site WHERE commune = c AND name = st)
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(e, n, m, c, sv, st)",
    )
    .bind(&euis)
    .bind(&names)
    .bind(&models)
    .bind(&communes)
    .bind(&services)
    .bind(&sites)
    .execute(pool)
    .await?;
    Ok(())
}

/// Raw readings, a week per statement: CO2 with a daily cycle, a meter index growing by
/// 10-29 Wh per reading, parking states flipping at random.
async fn generate(pool: &PgPool, from: DateTime<Utc>, to: DateTime<Utc>, interval_min: i64) -> anyhow::Result<u64> {
    const Q: &str = "INSERT INTO reading (time, device_id, metric, value)
        SELECT t, d.id,
            CASE d.service_id WHEN 'air-quality-schools' THEN 'air.co2' WHEN 'energy-buildings' THEN 'energy.active_import'
                ELSE 'parking.occupied' END,
            CASE d.service_id
                WHEN 'air-quality-schools' THEN round((650 + 350 * sin(extract(epoch FROM t) / 13751 + d.id) + 80 * random())::numeric, 0)::float8
                WHEN 'energy-buildings' THEN (extract(epoch FROM t - $3) / ($4 * 60)) * (10 + d.id % 20)
                ELSE (random() < 0.4)::int::float8 END
        FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 microsecond', make_interval(mins => $4::int)) AS t
        CROSS JOIN device d";
    let mut rows = 0;
    let mut a = from;
    while a < to {
        let b = (a + TimeDelta::days(7)).min(to);
        rows +=
            sqlx::query(Q).bind(a).bind(b).bind(from).bind(interval_min as i32).execute(pool).await?.rows_affected();
        eprint!("\rreadings generated up to {}", b.format("%Y-%m-%d"));
        a = b;
    }
    eprintln!();
    Ok(rows)
}

type Line = dyn Fn(&mut String, String);

/// Live data: one reading per device in the current hour, as the batch writer writes
/// and marks them, then the refresh that follows (hours, days, services).
async fn incremental(pool: &PgPool, to: DateTime<Utc>, report: &mut String, line: &Line) -> anyhow::Result<()> {
    let devices: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, service_id FROM device ORDER BY id").fetch_all(pool).await?;
    let mut times = Vec::new();
    for round in 0..4 {
        let t = to + TimeDelta::minutes(15 * round);
        let ids: Vec<i64> = devices.iter().map(|d| d.0).collect();
        let metrics: Vec<&str> =
            devices.iter().map(|d| SERVICES.iter().find(|s| s.0 == d.1).map(|s| s.2).unwrap_or("air.co2")).collect();
        let at = vec![t; ids.len()];
        let values: Vec<f64> = ids.iter().map(|&i| 500.0 + (i % 300) as f64).collect();
        store::reading::upsert(pool, &ids, &metrics, &at, &values).await?;
        let start = Instant::now();
        let r = rollup::refresh_all(pool, None).await?;
        times.push((start.elapsed(), r.marks));
    }
    let marks: u64 = times.iter().map(|t| t.1).sum();
    let total: Duration = times.iter().map(|t| t.0).sum();
    line(
        report,
        format!(
            "incremental refresh: {} rounds of {} marks (one reading per device), {:.0} ms per round, {:.0} marks/s",
            times.len(),
            devices.len(),
            secs(total) * 1000.0 / times.len() as f64,
            marks as f64 / secs(total)
        ),
    );
    Ok(())
}

/// The commune-service-year query, over HTTP to the API (JSON included).
async fn dashboard(
    pool: &PgPool,
    addr: std::net::SocketAddr,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: usize,
    report: &mut String,
    line: &Line,
) -> anyhow::Result<()> {
    let token = store::token::create(pool, store::token::Role::Commune, Some("42218"), "bench").await?.token;
    let client = reqwest::Client::new();
    let devices: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM device WHERE commune = '42218' AND service_id = 'air-quality-schools'",
    )
    .fetch_one(pool)
    .await?;
    for bucket in ["1h", "1d"] {
        let uri = format!(
            "http://{addr}/api/v1/communes/42218/services/air-quality-schools/readings?metric=air.co2&bucket={bucket}&from={}&to={}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let mut times = Vec::with_capacity(n);
        let mut points = 0;
        for i in 0..=n {
            let start = Instant::now();
            let resp = client.get(&uri).bearer_auth(&token).send().await?;
            anyhow::ensure!(resp.status().is_success(), "dashboard query answered {}", resp.status());
            let body = resp.bytes().await?;
            let elapsed = start.elapsed();
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            points = v["buckets"].as_array().map_or(0, Vec::len);
            if i > 0 {
                times.push(elapsed);
            }
        }
        times.sort();
        line(
            report,
            format!(
                "dashboard {bucket}: Saint-Étienne air quality ({devices} devices), the whole period -> {points} points: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({n} queries)",
                secs(percentile(&times, 0.5)) * 1000.0,
                secs(percentile(&times, 0.95)) * 1000.0,
                secs(percentile(&times, 1.0)) * 1000.0
            ),
        );
    }
    Ok(())
}

/// Exports through the same encoders as the API, bytes counted (not kept).
async fn exports(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    report: &mut String,
    line: &Line,
) -> anyhow::Result<()> {
    for (format, from, label) in
        [(Format::Parquet, from, "the whole period"), (Format::Csv, to - TimeDelta::days(30), "30 days")]
    {
        let filter = ExportFilter {
            commune: Some("42218".into()),
            service: Some("air-quality-schools".into()),
            from,
            to,
            ..ExportFilter::default()
        };
        let sql = export::query(None);
        let mut encoder = format.encoder().context("encoder")?;
        let start = Instant::now();
        let mut rows = export::rows(pool, &sql, &filter);
        let (mut n, mut bytes) = (0u64, 0usize);
        while let Some(row) = rows.try_next().await? {
            encoder.push(&row)?;
            bytes += encoder.take().len();
            n += 1;
        }
        bytes += encoder.finish()?.len();
        let d = start.elapsed();
        line(
            report,
            format!(
                "export {} of Saint-Étienne air quality, {label}: {n} rows, {:.1} MB in {:.1} s: {:.0} rows/s, {:.1} MB/s",
                format.extension(),
                bytes as f64 / 1e6,
                secs(d),
                n as f64 / secs(d),
                bytes as f64 / 1e6 / secs(d)
            ),
        );
    }
    Ok(())
}
