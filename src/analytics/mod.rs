//! Turns stored readings into what people decide with: the background upkeep of
//! rollups, retention and alerts ([`Upkeep`]), indicators per service ([`indicators`],
//! gathered per site by [`report`]), alerts ([`alerts`]), fleet health ([`health`]),
//! exports ([`export`]) and their benchmark ([`bench`]). The computations are plain
//! functions over readings, tested with hand-computed values; the SQL they need lives in
//! `store`, the experiments' assembly in `api::experiments`.

pub mod alerts;
pub mod bench;
pub mod export;
pub mod health;
pub mod indicators;
pub mod report;

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::AnalyticsConfig;
use crate::store::rollup;

/// Marks claimed per refresh transaction. Marks repeat (each batch marks the hours of its
/// devices), and a refresh recomputes each (device, hour) once however many marks it
/// claimed for it: the larger the claim, the less a busy network costs per uplink. Under
/// load (`roc42 bench`), claims of 5,000 kept the refresh busy back to back and it used
/// more of the database than the writer.
const REFRESH_BATCH: i64 = 50_000;

/// The background tasks: rollup refresh (and threshold alerts on what it refreshed),
/// retention, the silence sweep and webhook deliveries. Every one works from the
/// database, so several roc42 processes can run them at once, and a crash loses nothing.
pub struct Upkeep {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Upkeep {
    pub fn start(cfg: &AnalyticsConfig, pool: PgPool) -> Self {
        let stop = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(refresher(cfg.clone(), pool.clone(), stop.clone())),
            tokio::spawn(retention(cfg.clone(), pool.clone(), stop.clone())),
            tokio::spawn(alerts::sweeper(cfg.clone(), pool, stop.clone())),
        ];
        Self { stop, tasks }
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Refreshes rollups while marks are waiting, evaluating the threshold alerts of the
/// devices refreshed; then sleeps for the interval. Every `service_rollup_interval`,
/// recomputes the service hours those refreshes queued.
async fn refresher(cfg: AnalyticsConfig, pool: PgPool, stop: CancellationToken) {
    let interval = cfg.rollup_interval();
    let mut services_due = Instant::now() + cfg.service_rollup_interval();
    loop {
        let (_, horizon) = cfg.horizons(Utc::now());
        let mut behind = false;
        match rollup::refresh(&pool, REFRESH_BATCH, horizon).await {
            Ok(r) => {
                metrics::counter!("roc42_rollup_marks_total").increment(r.marks);
                if r.frozen > 0 {
                    warn!(
                        marks = r.frozen,
                        "Readings older than the raw retention changed: their rollups were kept as they were."
                    );
                }
                if !r.devices.is_empty() {
                    if let Err(e) = alerts::evaluate_devices(&pool, &r.devices, Utc::now()).await {
                        warn!(error = %e, "Alert evaluation failed; the sweep will retry.");
                    }
                }
                behind = r.marks as i64 == REFRESH_BATCH;
            }
            Err(e) => warn!(error = %e, "Rollup refresh failed; retrying."),
        }
        if Instant::now() >= services_due {
            refresh_services(&pool).await;
            services_due = Instant::now() + cfg.service_rollup_interval();
        }
        if behind {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Recomputes every service hour queued so far.
async fn refresh_services(pool: &PgPool) {
    loop {
        match rollup::refresh_services(pool, REFRESH_BATCH).await {
            Ok(r) => {
                metrics::counter!("roc42_rollup_service_keys_total").increment(r.queued);
                if (r.queued as i64) < REFRESH_BATCH {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "Service rollup refresh failed; retrying at the next interval.");
                return;
            }
        }
    }
}

/// Drops raw chunks past their retention, every `retention_interval_s`.
async fn retention(cfg: AnalyticsConfig, pool: PgPool, stop: CancellationToken) {
    if cfg.retain_uplinks_days.is_none() && cfg.retain_readings_days.is_none() {
        return;
    }
    loop {
        let (uplinks, readings) = cfg.horizons(Utc::now());
        match rollup::retain(&pool, uplinks, readings).await {
            Ok(d) if d.uplink_chunks + d.reading_chunks > 0 => {
                info!(
                    uplink_chunks = d.uplink_chunks,
                    reading_chunks = d.reading_chunks,
                    "Retention dropped raw chunks."
                )
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "Retention failed; retrying at the next interval."),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(cfg.retention_interval_s.max(1))) => {}
        }
    }
}
