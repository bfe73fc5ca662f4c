//! `roc42 bench`: end-to-end throughput from the real broker to committed readings, with
//! the ceilings it is compared to, measured in the same run on the same rows, and the
//! latency at a steady rate:
//!
//! 1. broker alone: uplinks published as fast as Mosquitto takes them while a consumer
//!    that does nothing but acknowledge receives them (live, as a network server
//!    publishes: the broker takes and delivers at once);
//! 2. database alone: a bare COPY of the same uplink and reading rows into tables without
//!    indexes;
//! 3. combined ceiling: 1 and 2 at the same time (they share the machine's cores);
//! 4. end to end: the same publishing, into the roc42 pipeline, until the last uplink is
//!    committed in the hypertables;
//! 5. latency: uplinks published at a steady rate (1,000/s), each timed from its publish
//!    to the moment it can be queried, and the process's memory meanwhile.
//!
//! `--backlog` measures 1, 3 and 4 as before 2026-12: draining uplinks queued in a
//! persistent session beforehand (the broker only delivers).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use rand::SeedableRng;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use crate::app::Ingest;
use crate::config::{Config, DatabaseConfig};
use crate::ingest::mqtt::Publisher;
use crate::pipeline::{process, registry::DeviceRef};
use crate::{simulate, store};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Uplinks per measurement.
    #[arg(long, default_value_t = 50_000)]
    pub uplinks: usize,
    /// Simulated devices the uplinks come from.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Database the bench (re)creates for itself, on the configured server.
    #[arg(long, default_value = "roc42_bench")]
    pub database: String,
    /// Drain uplinks queued beforehand instead of publishing them live.
    #[arg(long)]
    pub backlog: bool,
    /// Uplinks per second of the latency measurement (0: skip it).
    #[arg(long, default_value_t = 1000.0)]
    pub latency_rate: f64,
    /// Seconds the latency measurement lasts.
    #[arg(long, default_value_t = 20)]
    pub latency_seconds: u64,
}

/// One prepared uplink: its topic and ChirpStack JSON.
#[derive(Clone)]
struct Message {
    topic: String,
    payload: Vec<u8>,
}

pub async fn run(mut cfg: Config, opts: BenchOptions) -> anyhow::Result<()> {
    anyhow::ensure!(opts.uplinks > 0 && opts.devices > 0, "uplinks and devices must be positive");
    let url = database_url(&cfg.database.url, &opts.database)?;
    reset_database(&cfg.database.url, &opts.database).await?;
    cfg.database = DatabaseConfig { url, ..cfg.database };
    let pool = store::connect(&cfg.database).await?;
    store::migrate(&pool).await?;
    let mut fleet = simulate::fleet(opts.devices, 7);
    simulate::register(&pool, &fleet).await?;

    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let n = opts.uplinks;
    let mode = if opts.backlog { "draining a queued backlog" } else { "published live" };
    println!(
        "roc42 bench: {n} uplinks from {} devices, {mode}, broker {}, database {}",
        opts.devices, cfg.mqtt.url, opts.database
    );
    let gen = |root: &str, fleet: &mut [simulate::SimDevice]| generate(fleet, root, n);

    // The rows a bare COPY writes: the same uplinks, parsed and decoded outside timing.
    let copy_msgs = gen("copy", &mut fleet);
    let (uplink_rows, reading_rows, readings_per_run) = copy_rows(&pool, &copy_msgs).await?;
    drop(copy_msgs);

    // 1. Broker alone.
    let root = format!("bench-{run_id}-broker");
    let msgs = gen(&root, &mut fleet);
    let session = format!("roc42-bench-{run_id}-broker");
    let broker = broker_noop(&cfg, &session, &root, &msgs, opts.backlog).await?;
    drop(msgs);
    println!(
        "  broker alone     {:>9.0} uplinks/s  ({n} delivered to a no-op consumer in {:.2} s)",
        rate(n, broker),
        broker.as_secs_f64()
    );

    // 2. Database alone.
    create_copy_tables(&pool).await?;
    let copy = copy_in(&pool, &uplink_rows, &reading_rows).await?;
    println!(
        "  COPY alone       {:>9.0} uplinks/s  ({n} uplink rows + {readings_per_run} reading rows in {:.2} s)",
        rate(n, copy),
        copy.as_secs_f64()
    );

    // 3. Both at once.
    let root = format!("bench-{run_id}-combined");
    let msgs = gen(&root, &mut fleet);
    let session = format!("roc42-bench-{run_id}-combined");
    create_copy_tables(&pool).await?;
    let (broker_c, copy_c) = if opts.backlog {
        queue(&cfg, &session, &root, &msgs).await?;
        tokio::join!(drain_noop(&cfg, &session, &root, n), copy_in(&pool, &uplink_rows, &reading_rows))
    } else {
        tokio::join!(broker_noop(&cfg, &session, &root, &msgs, false), copy_in(&pool, &uplink_rows, &reading_rows))
    };
    drop(msgs);
    let (broker_c, copy_c) = (broker_c?, copy_c?);
    let combined = broker_c.max(copy_c);
    println!(
        "  combined ceiling {:>9.0} uplinks/s  (broker {:.0}/s while COPY {:.0}/s, sharing the cores)",
        rate(n, combined),
        rate(n, broker_c),
        rate(n, copy_c)
    );
    drop_copy_tables(&pool).await?;

    // 4. End to end.
    let root = format!("bench-{run_id}-e2e");
    let msgs = gen(&root, &mut fleet);
    cfg.mqtt.client_id = format!("roc42-bench-{run_id}-e2e");
    cfg.mqtt.topics = vec![format!("{root}/application/+/device/+/event/up")];
    cfg.mqtt.session_expiry_s = 600;
    if opts.backlog {
        queue(&cfg, &cfg.mqtt.client_id.clone(), &root, &msgs).await?;
    }
    let statements = StatementStats::reset(&pool).await;
    let rss_before = rss_mib();
    let mut rss_peak = rss_before;
    let mut started = Instant::now();
    let ingest = Ingest::start(&cfg, pool.clone()).await?;
    let load = if opts.backlog {
        None
    } else {
        ingest.subscribed().await;
        started = Instant::now();
        let (cfg, msgs) = (cfg.clone(), msgs.clone());
        Some(tokio::spawn(async move { publish(&cfg, "e2e", &msgs, None).await }))
    };
    drop(msgs);
    // Progress from the pipeline's own commit counter (in this process): polling
    // `count(*)` would scan the growing table and take a core from the measurement.
    let committed_before = committed();
    let mut done = 0.0;
    let mut unacked_peak = 0.0f64;
    while done < n as f64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        done = committed() - committed_before;
        rss_peak = rss_peak.max(rss_mib());
        unacked_peak = unacked_peak.max(metric(crate::telemetry::names::ACKS_PENDING));
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "pipeline stalled at {done} of {n} uplinks");
    }
    let e2e = started.elapsed();
    let last: i64 = sqlx::query_scalar("SELECT count(*) FROM uplink").fetch_one(&pool).await?;
    if let Some(load) = load {
        load.await.context("publisher task")??;
    }
    let stored_readings: i64 = sqlx::query_scalar("SELECT count(*) FROM reading").fetch_one(&pool).await?;
    anyhow::ensure!(last == n as i64, "stored {last} uplinks, expected {n}");
    anyhow::ensure!(
        stored_readings == readings_per_run as i64,
        "stored {stored_readings} readings, expected {readings_per_run}"
    );
    println!(
        "  end to end       {:>9.0} uplinks/s  ({n} uplinks, {stored_readings} readings committed in {:.2} s; batches of up to {})",
        rate(n, e2e),
        e2e.as_secs_f64(),
        cfg.pipeline.batch_max_uplinks
    );
    println!(
        "ratios: end to end / combined ceiling {:.2}, / broker alone {:.2}, / COPY alone {:.2}",
        ratio(e2e, combined),
        ratio(e2e, broker),
        ratio(e2e, copy)
    );
    println!(
        "memory: RSS {rss_before:.0} MiB before the pipeline started, {rss_peak:.0} MiB at most under load; \
         at most {unacked_peak:.0} messages unacknowledged (mqtt.receive_maximum {})",
        cfg.mqtt.receive_maximum
    );

    if let Some(stats) = statements {
        stats.print(&pool, &opts.database).await?;
    }

    // 5. Latency at a steady rate, the pipeline still running.
    if opts.latency_rate > 0.0 {
        let count = (opts.latency_rate * opts.latency_seconds as f64).round() as usize;
        let msgs = generate(&mut fleet, &root, count);
        let (lat, rss) = latency(&cfg, &msgs, opts.latency_rate).await?;
        println!(
            "  latency at {:.0}/s  publish -> queryable over {count} uplinks: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms; RSS at most {rss:.0} MiB",
            opts.latency_rate,
            lat.0, lat.1, lat.2, lat.3
        );
    }
    ingest.shutdown().await;
    pool.close().await;
    Ok(())
}

/// Where the database's time went during the end-to-end run, statement by statement, when
/// the server loads `pg_stat_statements` (`shared_preload_libraries`; see README,
/// Performance). The run's rollup refreshes are included: they share the machine.
struct StatementStats;

impl StatementStats {
    /// Clears the statement statistics (the whole server's: this is a bench machine);
    /// `None` where the extension is not loaded.
    async fn reset(pool: &PgPool) -> Option<StatementStats> {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(pool).await.ok()?;
        sqlx::query("SELECT pg_stat_statements_reset()").execute(pool).await.ok()?;
        Some(StatementStats)
    }

    async fn print(self, pool: &PgPool, database: &str) -> anyhow::Result<()> {
        const TOP: &str =
            "SELECT s.calls, s.total_exec_time, s.rows, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 60)
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = $1 ORDER BY s.total_exec_time DESC LIMIT 8";
        let top: Vec<(i64, f64, i64, String)> = sqlx::query_as(TOP).bind(database).fetch_all(pool).await?;
        println!("database time by statement (pg_stat_statements, end to end and its rollup refreshes):");
        for (calls, ms, rows, query) in top {
            println!("  {ms:>8.0} ms  {calls:>5} calls  {rows:>8} rows  {}", query.trim());
        }
        Ok(())
    }
}

/// Uplinks the pipeline of this process has committed so far (its Prometheus counter).
fn committed() -> f64 {
    metric(crate::telemetry::names::UPLINKS_COMMITTED)
}

/// A metric of this process, summed over its labels.
fn metric(name: &str) -> f64 {
    crate::telemetry::metrics()
        .render()
        .lines()
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The resident memory of this process, in MiB (0 where /proc is not there).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Publishes `msgs` at QoS 1, as fast as the broker takes them or at `per_second`, and
/// waits until the broker acknowledged them all. Returns when each was handed over.
async fn publish(cfg: &Config, name: &str, msgs: &[Message], per_second: Option<f64>) -> anyhow::Result<Vec<Instant>> {
    let id = format!("{}-{name}-pub", cfg.mqtt.client_id);
    let publisher = Publisher::connect_with(&cfg.mqtt, &id, 4096).await?;
    let mut sent = Vec::with_capacity(msgs.len());
    let mut tick = per_second.map(|r| {
        let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / r));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        i
    });
    for m in msgs {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        publisher.publish(m.topic.clone(), m.payload.clone()).await?;
        sent.push(Instant::now());
    }
    publisher.wait_acked(msgs.len() as u64, Duration::from_secs(300)).await?;
    publisher.close().await;
    Ok(sent)
}

/// Publishes `msgs` at `per_second` into the running pipeline, and times each from its
/// publish to the moment the pipeline's commit counter shows it committed (polled every
/// 2 ms; the k-th uplink committed is taken as the k-th published: batches commit in
/// order, two at a time). Returns (p50, p90, p99, max) in ms and the peak RSS in MiB.
async fn latency(cfg: &Config, msgs: &[Message], per_second: f64) -> anyhow::Result<((f64, f64, f64, f64), f64)> {
    let committed_before = committed();
    let (cfg2, owned) = (cfg.clone(), msgs.to_vec());
    let load = tokio::spawn(async move { publish(&cfg2, "latency", &owned, Some(per_second)).await });
    let mut seen: Vec<Instant> = Vec::with_capacity(msgs.len());
    let mut rss = 0.0f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.len() < msgs.len() {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = Instant::now();
        let done = ((committed() - committed_before).max(0.0) as usize).min(msgs.len());
        while seen.len() < done {
            seen.push(now);
        }
        rss = rss.max(rss_mib());
        anyhow::ensure!(now < deadline, "latency run stalled at {} of {}", seen.len(), msgs.len());
    }
    let sent = load.await.context("publisher task")??;
    let mut ms: Vec<f64> =
        sent.iter().zip(&seen).map(|(s, c)| c.saturating_duration_since(*s).as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Ok(((at(0.5), at(0.9), at(0.99), at(1.0)), rss))
}

/// Broker alone: a consumer that only acknowledges, fed live (published while it
/// consumes) or from a backlog queued in its session beforehand; the time until it has
/// the `n`th message, from the first publish (live) or its connection (backlog).
async fn broker_noop(
    cfg: &Config,
    session: &str,
    root: &str,
    msgs: &[Message],
    backlog: bool,
) -> anyhow::Result<Duration> {
    let n = msgs.len();
    if backlog {
        queue(cfg, session, root, msgs).await?;
        return drain_noop(cfg, session, root, n).await;
    }
    let (client, mut el) = subscribed(cfg, session, root).await.context("no-op consumer")?;
    let consumer = tokio::spawn(async move {
        let mut received = 0usize;
        while received < n {
            if let Event::Incoming(Packet::Publish(_)) = el.poll().await.context("no-op consumer")? {
                received += 1;
            }
        }
        let done = Instant::now();
        client.disconnect().await?;
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while el.poll().await.is_ok() {} }).await;
        anyhow::Ok(done)
    });
    let started = Instant::now();
    let publisher_cfg =
        Config { mqtt: crate::config::MqttConfig { client_id: session.to_owned(), ..cfg.mqtt.clone() }, ..cfg.clone() };
    publish(&publisher_cfg, "noop", msgs, None).await?;
    let done = tokio::time::timeout(Duration::from_secs(600), consumer)
        .await
        .context("broker delivery stalled")?
        .context("no-op consumer task")??;
    Ok(done - started)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Throughput of the measurement taking `e2e` relative to the one taking `ceiling`.
fn ratio(e2e: Duration, ceiling: Duration) -> f64 {
    ceiling.as_secs_f64() / e2e.as_secs_f64().max(1e-9)
}

/// The configured server's URL with another database name.
pub(crate) fn database_url(url: &str, database: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database name {database:?}: letters, digits and _ only"
    );
    let opts: PgConnectOptions = url.parse().context("parse database URL")?;
    let base = match opts.get_database() {
        Some(db) => url.rsplit_once(db).map(|(b, _)| b.to_owned()).unwrap_or_else(|| format!("{url}/")),
        None => format!("{}/", url.trim_end_matches('/')),
    };
    Ok(format!("{base}{database}"))
}

pub(crate) async fn reset_database(url: &str, database: &str) -> anyhow::Result<()> {
    let admin_url = database_url(url, "postgres")?;
    let admin = PgPool::connect(&admin_url).await.context("connect to the postgres database")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&admin).await?;
    admin.close().await;
    Ok(())
}

/// `n` uplinks round-robin over the fleet, a second apart in network time.
fn generate(fleet: &mut [simulate::SimDevice], root: &str, n: usize) -> Vec<Message> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let start = Utc::now() - TimeDelta::days(2);
    let prefix = format!("{root}/");
    (0..n)
        .map(|i| {
            let d = &mut fleet[i % fleet.len()];
            let t = start + TimeDelta::seconds(i as i64);
            Message { topic: d.topic(&prefix), payload: d.uplink_event(t, &mut rng) }
        })
        .collect()
}

fn session_options(cfg: &Config, client_id: &str) -> anyhow::Result<MqttOptions> {
    let mut o = crate::ingest::mqtt::options(&cfg.mqtt, client_id)?;
    o.set_clean_start(false)
        .set_session_expiry_interval(Some(600))
        .set_receive_maximum(Some(cfg.mqtt.receive_maximum))
        .set_max_packet_size(Some(1024 * 1024))
        .set_keep_alive(Duration::from_secs(30));
    Ok(o)
}

/// Connects the persistent session `client_id` and subscribes it to the uplinks under
/// `root`, returning once the broker confirmed the subscription.
async fn subscribed(
    cfg: &Config,
    client_id: &str,
    root: &str,
) -> anyhow::Result<(AsyncClient, rumqttc::v5::EventLoop)> {
    let (client, mut el) = AsyncClient::new(session_options(cfg, client_id)?, 16);
    let filter = format!("{root}/application/+/device/+/event/up");
    loop {
        match el.poll().await? {
            Event::Incoming(Packet::ConnAck(_)) => client.subscribe(filter.clone(), QoS::AtLeastOnce).await?,
            Event::Incoming(Packet::SubAck(_)) => return Ok((client, el)),
            _ => {}
        }
    }
}

/// Creates the persistent session `client_id` subscribed under `root`, then publishes
/// `msgs` while it is offline, so they wait in the broker.
async fn queue(cfg: &Config, client_id: &str, root: &str, msgs: &[Message]) -> anyhow::Result<()> {
    let (client, mut el) = subscribed(cfg, client_id, root).await.context("bench session")?;
    client.disconnect().await?;
    while let Ok(ev) = el.poll().await {
        if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
    let publisher = Publisher::connect_with(&cfg.mqtt, &format!("{client_id}-pub"), 4096).await?;
    for m in msgs {
        publisher.publish(m.topic.clone(), m.payload.clone()).await?;
    }
    publisher.wait_acked(msgs.len() as u64, Duration::from_secs(300)).await?;
    publisher.close().await;
    Ok(())
}

/// Resumes `client_id`'s session and acknowledges everything as it arrives; returns the
/// time from the connection to the `n`th message.
async fn drain_noop(cfg: &Config, client_id: &str, root: &str, n: usize) -> anyhow::Result<Duration> {
    let (client, mut el) = AsyncClient::new(session_options(cfg, client_id)?, 16);
    let filter = format!("{root}/application/+/device/+/event/up");
    let mut received = 0usize;
    let started = Instant::now();
    loop {
        match el.poll().await.context("no-op consumer")? {
            Event::Incoming(Packet::ConnAck(_)) => client.subscribe(filter.clone(), QoS::AtLeastOnce).await?,
            Event::Incoming(Packet::Publish(_)) => {
                received += 1;
                if received == n {
                    break;
                }
            }
            _ => {}
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "broker drain stalled");
    }
    let took = started.elapsed();
    // The session is not needed any more: end it.
    client.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while el.poll().await.is_ok() {} }).await;
    Ok(took)
}

/// COPY text rows for the uplinks and readings the messages carry (decoded as the
/// pipeline would), and the reading count.
async fn copy_rows(pool: &PgPool, msgs: &[Message]) -> anyhow::Result<(String, String, usize)> {
    let devices = store::device::list_refs(pool).await?;
    let by_eui: std::collections::HashMap<_, DeviceRef> =
        devices.into_iter().map(|(eui, d)| (eui, DeviceRef::from_stored(eui, d, None))).collect();
    let (mut up, mut rd) = (String::new(), String::new());
    let mut readings = 0;
    let now = Utc::now();
    for m in msgs {
        let crate::ingest::Parsed::Uplink(u) = crate::ingest::parse(&m.topic, &m.payload).context("bench message")?
        else {
            anyhow::bail!("bench messages are uplinks");
        };
        let device = by_eui.get(&u.dev_eui).cloned();
        let model = device.as_ref().and_then(|d| roc42_decoders::model::get(&d.model));
        let d = match process::decode(u, device, model, now) {
            process::Decoded::Done(d) => d,
            process::Decoded::Js(..) => anyhow::bail!("the bench fleet has only built-in (native) models"),
        };
        let u = &d.uplink;
        let _ = writeln!(
            up,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t\\\\x{}\t{}\t{}\t{}",
            u.time.to_rfc3339(),
            d.received_at.to_rfc3339(),
            u.dedup_key,
            u.lns,
            d.device_id.map(|i| i.to_string()).unwrap_or_else(|| "\\N".into()),
            u.dev_eui,
            u.dev_addr.as_deref().unwrap_or("\\N"),
            u.f_cnt.map(|c| c.to_string()).unwrap_or_else(|| "\\N".into()),
            u.f_port,
            hex::encode(&u.payload),
            serde_json::to_string(&u.rx)?.replace('\\', "\\\\"),
            d.outcome.as_str(),
            d.readings.len(),
        );
        if let Some(id) = d.device_id {
            for r in &d.readings {
                let _ = writeln!(rd, "{}\t{id}\t{}\t{}", r.time.to_rfc3339(), r.metric.name(), r.value);
                readings += 1;
            }
        }
    }
    Ok((up, rd, readings))
}

async fn create_copy_tables(pool: &PgPool) -> anyhow::Result<()> {
    drop_copy_tables(pool).await?;
    sqlx::query(
        "CREATE TABLE bench_copy_uplink (time timestamptz, received_at timestamptz, dedup_key text, lns text,
         device_id bigint, dev_eui text, dev_addr text, f_cnt bigint, f_port smallint, payload bytea, rx jsonb,
         outcome text, readings smallint)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE TABLE bench_copy_reading (time timestamptz, device_id bigint, metric text, value double precision)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn drop_copy_tables(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("DROP TABLE IF EXISTS bench_copy_uplink, bench_copy_reading").execute(pool).await?;
    Ok(())
}

/// One COPY per table on one connection, in one transaction.
async fn copy_in(pool: &PgPool, uplinks: &str, readings: &str) -> anyhow::Result<Duration> {
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    for (sql, data) in
        [("COPY bench_copy_uplink FROM STDIN", uplinks), ("COPY bench_copy_reading FROM STDIN", readings)]
    {
        let mut copy = conn.copy_in_raw(sql).await?;
        for chunk in data.as_bytes().chunks(1 << 20) {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/roc42", "roc42_bench").unwrap(),
            "postgres://postgres@127.0.0.1:5432/roc42_bench"
        );
        assert!(database_url("postgres://h/roc42", "x; drop").is_err());
    }
}
