//! Alerts: rules per service or device, evaluated as readings are rolled up (threshold
//! and battery rules) and by a periodic sweep (silent devices), with their history and
//! webhook notifications (signed body, retries with backoff).
//!
//! A threshold rule opens an alert once its condition has held for `min_duration`
//! (readings above the threshold, or below for `direction = below`), and resolves it
//! once the value has been back past `clear_threshold` for as long; values between the
//! two thresholds change nothing (hysteresis). Readings are taken in time order from
//! where the last evaluation stopped; a reading older than that (very late data) does not
//! reopen the past.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use utoipa::ToSchema;

use super::indicators::Sample;
use crate::config::AnalyticsConfig;
use crate::store::alert::{self as store, Rule};

/// Which side of the threshold is the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Above,
    Below,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "above" => Some(Direction::Above),
            "below" => Some(Direction::Below),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

/// A threshold with hysteresis and a minimum duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub direction: Direction,
    pub threshold: f64,
    pub clear: f64,
    pub min_duration: Duration,
}

impl Threshold {
    fn alarming(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v > self.threshold,
            Direction::Below => v < self.threshold,
        }
    }

    fn cleared(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v < self.clear,
            Direction::Below => v > self.clear,
        }
    }
}

/// Where a (rule, device) evaluation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// An alert is open.
    pub open: bool,
    /// Since when the condition to change (open, or resolve) has held.
    pub pending_since: Option<DateTime<Utc>>,
}

/// What the readings did to the alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Opened { at: DateTime<Utc>, value: f64 },
    Resolved { at: DateTime<Utc>, value: f64 },
}

/// Steps `state` through `samples` (in time order); returns the changes in order.
pub fn step(rule: &Threshold, state: &mut State, samples: &[Sample]) -> Vec<Change> {
    let mut out = Vec::new();
    for s in samples {
        let toward_change = if state.open { rule.cleared(s.value) } else { rule.alarming(s.value) };
        // Between the thresholds an open alert stays open and a closed one closed; only
        // a value on the changing side keeps the clock running.
        if !toward_change {
            state.pending_since = None;
            continue;
        }
        let since = *state.pending_since.get_or_insert(s.time);
        if s.time - since >= rule.min_duration {
            out.push(if state.open {
                Change::Resolved { at: s.time, value: s.value }
            } else {
                Change::Opened { at: s.time, value: s.value }
            });
            state.open = !state.open;
            state.pending_since = None;
        }
    }
    out
}

/// Whether a device last heard at `last_seen`, usually every `interval`, is silent at
/// `now` for a rule of `factor`.
pub fn silent(last_seen: DateTime<Utc>, interval: Duration, factor: f64, now: DateTime<Utc>) -> bool {
    let limit = Duration::milliseconds((interval.num_milliseconds() as f64 * factor) as i64);
    now - last_seen > limit
}

/// How far back the first evaluation of a rule looks.
const FIRST_LOOK_BACK: Duration = Duration::days(7);

/// Evaluates the threshold and battery rules that apply to these devices on their new
/// readings.
pub async fn evaluate_devices(pool: &PgPool, device_ids: &[i64], now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut changes = 0;
    for (rule, device_id) in store::threshold_pairs(pool, device_ids).await? {
        changes += evaluate(pool, &rule, device_id, now).await?;
    }
    Ok(changes)
}

/// Evaluates one threshold rule for one device, in one transaction that holds its state.
async fn evaluate(pool: &PgPool, rule: &Rule, device_id: i64, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let Some(threshold) = rule.threshold() else { return Ok(0) };
    let Some(metric) = rule.metric.as_deref() else { return Ok(0) };
    let mut tx = pool.begin().await?;
    let (evaluated_to, pending_since, open) =
        store::lock_state(&mut tx, rule.id, device_id, now - FIRST_LOOK_BACK).await?;
    let samples = store::readings_after(&mut tx, device_id, metric, evaluated_to, now).await?;
    let Some(last) = samples.last().map(|s| s.time) else {
        tx.rollback().await?;
        return Ok(0);
    };
    let mut state = State { open: open.is_some(), pending_since };
    let changes = step(&threshold, &mut state, &samples);
    let mut open_id = open;
    for c in &changes {
        match *c {
            Change::Opened { at, value } => {
                let message = format!(
                    "{}: {metric} {} {} ({value})",
                    rule.name,
                    threshold.direction.as_str(),
                    threshold.threshold
                );
                open_id = Some(store::open(&mut tx, rule, device_id, at, value, &message).await?);
            }
            Change::Resolved { at, value } => {
                if let Some(id) = open_id.take() {
                    store::resolve(&mut tx, rule, id, at, Some(value)).await?;
                }
            }
        }
    }
    store::save_state(&mut tx, rule.id, device_id, last, state.pending_since).await?;
    tx.commit().await?;
    Ok(changes.len())
}

/// Opens or resolves the silence alerts of every silence rule.
pub async fn sweep_silence(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut changes = 0;
    for rule in store::rules(pool, Some("silence")).await? {
        let factor = rule.silence_factor.unwrap_or(3.0);
        for d in store::silence_candidates(pool, &rule).await? {
            let (Some(last_seen), Some(interval_s)) = (d.last_seen_at, d.interval_s) else { continue };
            let interval = Duration::milliseconds((interval_s * 1000.0) as i64);
            let is_silent = silent(last_seen, interval, factor, now);
            let mut tx = pool.begin().await?;
            match (is_silent, d.open_alert) {
                (true, None) => {
                    let message = format!(
                        "{}: no uplink since {} (usually every {:.0} s)",
                        rule.name,
                        last_seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        interval_s
                    );
                    store::open(&mut tx, &rule, d.device_id, now, None, &message).await?;
                    changes += 1;
                }
                (false, Some(id)) => {
                    store::resolve(&mut tx, &rule, id, last_seen, None).await?;
                    changes += 1;
                }
                _ => {}
            }
            tx.commit().await?;
        }
    }
    Ok(changes)
}

/// Evaluates every threshold rule for every device it applies to (catches up what the
/// refresher's evaluation missed, e.g. after a failure).
pub async fn sweep_thresholds(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let ids = store::devices_with_threshold_rules(pool).await?;
    evaluate_devices(pool, &ids, now).await
}

type HmacSha256 = Hmac<Sha256>;

/// The signature of a webhook body: hex HMAC-SHA256 of `{timestamp}.{body}` under the
/// rule's secret, sent as `X-Roc42-Signature: sha256=<hex>` with `X-Roc42-Timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Delay before attempt `n + 1` after `n` failed attempts: 2 s doubling, at most 10 min.
pub fn backoff(attempts: i32) -> Duration {
    Duration::seconds(2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(600))
}

/// Sends the notifications that are due; returns how many were delivered.
pub async fn deliver_due(pool: &PgPool, client: &reqwest::Client, max_attempts: i32) -> Result<usize, sqlx::Error> {
    let mut delivered = 0;
    for n in store::claim_due(pool, max_attempts, 20).await? {
        let body = serde_json::to_vec(&n.body).unwrap_or_default();
        let ts = Utc::now().timestamp();
        let mut req = client
            .post(&n.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Roc42-Timestamp", ts.to_string())
            .header("X-Roc42-Delivery", n.id.to_string());
        if let Some(secret) = n.secret.as_deref() {
            req = req.header("X-Roc42-Signature", format!("sha256={}", signature(secret, ts, &body)));
        }
        let outcome = match req.body(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => {
                store::delivered(pool, n.id).await?;
                delivered += 1;
            }
            Err(e) => {
                debug!(notification = n.id, error = %e, "Alert webhook failed; retrying later.");
                store::failed(pool, n.id, &e, Utc::now() + backoff(n.attempts + 1)).await?;
                if n.attempts + 1 >= max_attempts {
                    warn!(notification = n.id, url = %n.url, error = %e, "Alert webhook given up after its last attempt.");
                }
            }
        }
    }
    Ok(delivered)
}

/// The periodic sweep: silent devices, threshold catch-up, webhook deliveries.
pub async fn sweeper(cfg: AnalyticsConfig, pool: PgPool, stop: CancellationToken) {
    crate::install_crypto_provider();
    let client = match reqwest::Client::builder().timeout(StdDuration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "No HTTP client: alert webhooks are not sent.");
            return;
        }
    };
    let every = StdDuration::from_secs(cfg.sweep_interval_s.max(1));
    let mut last_full = tokio::time::Instant::now() - every;
    loop {
        let now = Utc::now();
        if last_full.elapsed() >= every {
            last_full = tokio::time::Instant::now();
            if let Err(e) = sweep_silence(&pool, now).await {
                warn!(error = %e, "Silence sweep failed.");
            }
            if let Err(e) = sweep_thresholds(&pool, now).await {
                warn!(error = %e, "Threshold sweep failed.");
            }
        }
        if let Err(e) = deliver_due(&pool, &client, cfg.webhook_max_attempts).await {
            warn!(error = %e, "Alert webhook delivery failed.");
        }
        // Deliveries are looked at every second; sweeps every interval.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_735_689_600 + min * 60, 0).unwrap_or_default()
    }

    fn samples(values: &[(i64, f64)]) -> Vec<Sample> {
        values.iter().map(|&(m, v)| Sample::new(t(m), v)).collect()
    }

    #[test]
    fn hysteresis_and_minimum_duration() {
        // CO2 above 1500 for 10 minutes opens; below 1200 for 10 minutes resolves.
        let rule = Threshold {
            direction: Direction::Above,
            threshold: 1500.0,
            clear: 1200.0,
            min_duration: Duration::minutes(10),
        };
        let mut st = State { open: false, pending_since: None };
        // 1600 at 0 and 5, back to 1400 at 8: not 10 minutes, nothing opens, clock reset.
        assert!(step(&rule, &mut st, &samples(&[(0, 1600.0), (5, 1600.0), (8, 1400.0)])).is_empty());
        assert_eq!(st, State { open: false, pending_since: None });
        // Above from 10 to 20: opens at 20.
        let c = step(&rule, &mut st, &samples(&[(10, 1550.0), (15, 1700.0), (20, 1600.0)]));
        assert_eq!(c, vec![Change::Opened { at: t(20), value: 1600.0 }]);
        // 1300 is between the thresholds: stays open however long.
        assert!(step(&rule, &mut st, &samples(&[(30, 1300.0), (60, 1300.0)])).is_empty());
        assert!(st.open);
        // Below 1200 at 70 and 75, 1250 at 78 (not cleared: the clock restarts), then
        // below from 80 to 90: resolves at 90.
        let c = step(
            &rule,
            &mut st,
            &samples(&[(70, 1100.0), (75, 1000.0), (78, 1250.0), (80, 900.0), (85, 900.0), (90, 950.0)]),
        );
        assert_eq!(c, vec![Change::Resolved { at: t(90), value: 950.0 }]);
        assert_eq!(st, State { open: false, pending_since: None });
    }

    #[test]
    fn below_rules_and_no_minimum() {
        // Battery below 20 % opens at once, resolves above 30 %.
        let rule =
            Threshold { direction: Direction::Below, threshold: 20.0, clear: 30.0, min_duration: Duration::zero() };
        let mut st = State { open: false, pending_since: None };
        let c = step(&rule, &mut st, &samples(&[(0, 25.0), (1, 19.0), (2, 25.0), (3, 31.0), (4, 18.0)]));
        assert_eq!(
            c,
            vec![
                Change::Opened { at: t(1), value: 19.0 },
                Change::Resolved { at: t(3), value: 31.0 },
                Change::Opened { at: t(4), value: 18.0 }
            ]
        );
    }

    #[test]
    fn silence_is_a_multiple_of_the_usual_interval() {
        let interval = Duration::minutes(15);
        assert!(!silent(t(0), interval, 3.0, t(45)));
        assert!(silent(t(0), interval, 3.0, t(46)));
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(signature("secret", 1_700_000_000, b"{}"), signature("secret", 1_700_000_001, b"{}"));
        assert_eq!(signature("secret", 1, b"x").len(), 64);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(3), Duration::seconds(8));
        assert_eq!(backoff(30), Duration::seconds(600));
    }
}
