//! Alert rules, their evaluation state, the alert history and the webhook outbox.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use crate::analytics::alerts::{Direction, Threshold};
use crate::analytics::indicators::Sample;

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    /// `threshold`, `battery` or `silence`.
    #[schema(example = "threshold")]
    pub kind: String,
    /// Every device placed under this service...
    pub service_id: Option<String>,
    /// ...or this one device (its id; `dev_eui` names it).
    #[serde(skip)]
    pub device_id: Option<i64>,
    pub dev_eui: Option<String>,
    #[schema(example = "air.co2")]
    pub metric: Option<String>,
    #[schema(example = "above")]
    pub direction: String,
    pub threshold: Option<f64>,
    pub clear_threshold: Option<f64>,
    pub min_duration_s: i32,
    pub silence_factor: Option<f64>,
    pub webhook_url: Option<String>,
    /// Never shown: whether one is set.
    #[serde(skip)]
    pub webhook_secret: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl Rule {
    /// The threshold of a `threshold` or `battery` rule.
    pub fn threshold(&self) -> Option<Threshold> {
        if self.kind == "silence" {
            return None;
        }
        Some(Threshold {
            direction: Direction::parse(&self.direction)?,
            threshold: self.threshold?,
            clear: self.clear_threshold?,
            min_duration: Duration::seconds(i64::from(self.min_duration_s)),
        })
    }
}

const RULE_COLUMNS: &str = "r.id, r.name, r.kind, r.service_id, r.device_id, d.dev_eui, r.metric, r.direction,
    r.threshold, r.clear_threshold, r.min_duration_s, r.silence_factor, r.webhook_url, r.webhook_secret, r.enabled,
    r.created_at";

/// A rule to create.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    /// `threshold`, `battery` (battery.level below 20 %, cleared above 30 %, unless
    /// given) or `silence`.
    pub kind: String,
    pub service_id: Option<String>,
    pub dev_eui: Option<String>,
    pub metric: Option<String>,
    /// `above` (default) or `below`.
    pub direction: Option<String>,
    pub threshold: Option<f64>,
    /// Where an open alert resolves; default: the threshold itself.
    pub clear_threshold: Option<f64>,
    #[serde(default)]
    pub min_duration_s: i32,
    /// Silence rules: silent after this many usual intervals without an uplink. Default 3.
    pub silence_factor: Option<f64>,
    pub webhook_url: Option<String>,
    /// Signs webhook bodies (HMAC-SHA256).
    pub webhook_secret: Option<String>,
}

/// Creates a rule (already checked by the API); its id.
pub async fn create_rule(pool: &PgPool, r: &RuleInput, device_id: Option<i64>) -> Result<i64, sqlx::Error> {
    const Q: &str = "INSERT INTO alert_rule (name, kind, service_id, device_id, metric, direction, threshold,
            clear_threshold, min_duration_s, silence_factor, webhook_url, webhook_secret)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
    sqlx::query_scalar(Q)
        .bind(&r.name)
        .bind(&r.kind)
        .bind(&r.service_id)
        .bind(device_id)
        .bind(&r.metric)
        .bind(r.direction.as_deref().unwrap_or("above"))
        .bind(r.threshold)
        .bind(r.clear_threshold)
        .bind(r.min_duration_s)
        .bind(r.silence_factor)
        .bind(&r.webhook_url)
        .bind(&r.webhook_secret)
        .fetch_one(pool)
        .await
}

/// Enabled rules, of one kind if given.
pub async fn rules(pool: &PgPool, kind: Option<&str>) -> Result<Vec<Rule>, sqlx::Error> {
    let q = format!(
        "SELECT {RULE_COLUMNS} FROM alert_rule r LEFT JOIN device d ON d.id = r.device_id
        WHERE r.enabled AND ($1::text IS NULL OR r.kind = $1) ORDER BY r.id"
    );
    sqlx::query_as::<_, Rule>(&q).bind(kind).fetch_all(pool).await
}

pub async fn get_rule(pool: &PgPool, id: i64) -> Result<Option<Rule>, sqlx::Error> {
    let q = format!("SELECT {RULE_COLUMNS} FROM alert_rule r LEFT JOIN device d ON d.id = r.device_id WHERE r.id = $1");
    sqlx::query_as::<_, Rule>(&q).bind(id).fetch_optional(pool).await
}

/// Deletes a rule with its alerts; false if there was none.
pub async fn delete_rule(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM alert_rule WHERE id = $1").bind(id).execute(pool).await?.rows_affected() > 0)
}

// The (rule, device) pairs a rule applies to: its device, or the devices in service
// under its service.
const APPLIES: &str =
    "(r.device_id = d.id OR (r.service_id IS NOT NULL AND r.service_id = d.service_id AND d.retired_at IS NULL))";

/// The threshold and battery rules that apply to these devices, with each device.
pub async fn threshold_pairs(pool: &PgPool, device_ids: &[i64]) -> Result<Vec<(Rule, i64)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Pair {
        #[sqlx(flatten)]
        rule: Rule,
        target: i64,
    }
    let q = format!(
        "SELECT {RULE_COLUMNS}, t.id AS target FROM alert_rule r
        JOIN device t ON t.id = ANY($1::int8[])
        LEFT JOIN device d ON d.id = r.device_id
        WHERE r.enabled AND r.kind IN ('threshold', 'battery')
            AND (r.device_id = t.id OR (r.service_id IS NOT NULL AND r.service_id = t.service_id AND t.retired_at IS NULL))
        ORDER BY r.id, t.id"
    );
    let rows: Vec<Pair> = sqlx::query_as(&q).bind(device_ids).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|p| (p.rule, p.target)).collect())
}

/// Devices some threshold or battery rule applies to.
pub async fn devices_with_threshold_rules(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let q = format!(
        "SELECT DISTINCT d.id FROM alert_rule r JOIN device d ON {APPLIES}
        WHERE r.enabled AND r.kind IN ('threshold', 'battery') ORDER BY d.id"
    );
    sqlx::query_scalar(&q).fetch_all(pool).await
}

/// Locks (creating it at `start`) the evaluation state of (rule, device): where it
/// stopped, since when its condition holds, and the open alert's id.
pub async fn lock_state(
    conn: &mut PgConnection,
    rule_id: i64,
    device_id: i64,
    start: DateTime<Utc>,
) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>, Option<i64>), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alert_state (rule_id, device_id, evaluated_to) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(rule_id)
    .bind(device_id)
    .bind(start)
    .execute(&mut *conn)
    .await?;
    let (to, pending): (DateTime<Utc>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT evaluated_to, pending_since FROM alert_state WHERE rule_id = $1 AND device_id = $2 FOR UPDATE",
    )
    .bind(rule_id)
    .bind(device_id)
    .fetch_one(&mut *conn)
    .await?;
    let open: Option<i64> =
        sqlx::query_scalar("SELECT id FROM alert WHERE rule_id = $1 AND device_id = $2 AND resolved_at IS NULL")
            .bind(rule_id)
            .bind(device_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok((to, pending, open))
}

pub async fn save_state(
    conn: &mut PgConnection,
    rule_id: i64,
    device_id: i64,
    evaluated_to: DateTime<Utc>,
    pending_since: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE alert_state SET evaluated_to = $3, pending_since = $4 WHERE rule_id = $1 AND device_id = $2")
        .bind(rule_id)
        .bind(device_id)
        .bind(evaluated_to)
        .bind(pending_since)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Readings of a device's metric in `(after, until]`, oldest first.
pub async fn readings_after(
    conn: &mut PgConnection,
    device_id: i64,
    metric: &str,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Sample>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, f64)> = sqlx::query_as(
        "SELECT time, value FROM reading WHERE device_id = $1 AND metric = $2 AND time > $3 AND time <= $4 ORDER BY time",
    )
    .bind(device_id)
    .bind(metric)
    .bind(after)
    .bind(until)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(t, v)| Sample::new(t, v)).collect())
}

/// Opens an alert (and queues its webhook); its id.
pub async fn open(
    conn: &mut PgConnection,
    rule: &Rule,
    device_id: i64,
    at: DateTime<Utc>,
    value: impl Into<Option<f64>>,
    message: &str,
) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alert (rule_id, device_id, opened_at, open_value, message) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(rule.id)
    .bind(device_id)
    .bind(at)
    .bind(value.into())
    .bind(message)
    .fetch_one(&mut *conn)
    .await?;
    notify(conn, rule, id, "alert.opened").await?;
    Ok(id)
}

/// Resolves an alert (and queues its webhook).
pub async fn resolve(
    conn: &mut PgConnection,
    rule: &Rule,
    alert_id: i64,
    at: DateTime<Utc>,
    value: Option<f64>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE alert SET resolved_at = $2, resolve_value = $3 WHERE id = $1 AND resolved_at IS NULL")
        .bind(alert_id)
        .bind(at)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    notify(conn, rule, alert_id, "alert.resolved").await
}

async fn notify(conn: &mut PgConnection, rule: &Rule, alert_id: i64, event: &str) -> Result<(), sqlx::Error> {
    let Some(url) = rule.webhook_url.as_deref() else { return Ok(()) };
    let alert = get_alert_on(&mut *conn, alert_id).await?;
    let body = serde_json::json!({ "event": event, "rule": { "id": rule.id, "name": rule.name, "kind": rule.kind }, "alert": alert });
    sqlx::query("INSERT INTO alert_notification (alert_id, url, secret, body) VALUES ($1, $2, $3, $4)")
        .bind(alert_id)
        .bind(url)
        .bind(&rule.webhook_secret)
        .bind(Json(body))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Devices of a silence rule, with their last uplink, usual interval (median gap of
/// their last 20 uplinks, in seconds) and open alert.
#[derive(Debug, sqlx::FromRow)]
pub struct SilenceCandidate {
    pub device_id: i64,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub interval_s: Option<f64>,
    pub open_alert: Option<i64>,
}

pub async fn silence_candidates(pool: &PgPool, rule: &Rule) -> Result<Vec<SilenceCandidate>, sqlx::Error> {
    let q = format!(
        "SELECT d.id AS device_id, d.last_seen_at,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g) FROM (
                SELECT extract(epoch FROM time - lag(time) OVER (ORDER BY time))::float8 AS g
                FROM (SELECT time FROM uplink WHERE dev_eui = d.dev_eui ORDER BY time DESC LIMIT 21) x) y
             WHERE g > 0) AS interval_s,
            (SELECT id FROM alert a WHERE a.rule_id = r.id AND a.device_id = d.id AND a.resolved_at IS NULL) AS open_alert
        FROM alert_rule r JOIN device d ON {APPLIES}
        WHERE r.id = $1 ORDER BY d.id"
    );
    sqlx::query_as::<_, SilenceCandidate>(&q).bind(rule.id).fetch_all(pool).await
}

/// One alert, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub rule_id: i64,
    pub rule: String,
    pub kind: String,
    pub dev_eui: String,
    pub device: String,
    pub commune: Option<String>,
    pub site_id: Option<i64>,
    pub metric: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub open_value: Option<f64>,
    pub resolve_value: Option<f64>,
    pub message: String,
}

const ALERT_SELECT: &str = "SELECT a.id, a.rule_id, r.name AS rule, r.kind, d.dev_eui, d.name AS device, d.commune,
        d.site_id, r.metric, a.opened_at, a.resolved_at, a.open_value, a.resolve_value, a.message
    FROM alert a JOIN alert_rule r ON r.id = a.rule_id JOIN device d ON d.id = a.device_id";

async fn get_alert_on(conn: &mut PgConnection, id: i64) -> Result<Alert, sqlx::Error> {
    sqlx::query_as::<_, Alert>(&format!("{ALERT_SELECT} WHERE a.id = $1")).bind(id).fetch_one(conn).await
}

/// Alerts, newest first: open ones only if `open`, of `scope`'s devices (a commune), of
/// one device if given.
pub async fn list_alerts(
    pool: &PgPool,
    scope: Option<&str>,
    open: Option<bool>,
    dev_eui: Option<&str>,
    limit: i64,
) -> Result<Vec<Alert>, sqlx::Error> {
    let q = format!(
        "{ALERT_SELECT} WHERE ($1::text IS NULL OR d.commune = $1)
            AND ($2::bool IS NULL OR (a.resolved_at IS NULL) = $2) AND ($3::text IS NULL OR d.dev_eui = $3)
        ORDER BY a.opened_at DESC, a.id DESC LIMIT $4"
    );
    sqlx::query_as::<_, Alert>(&q).bind(scope).bind(open).bind(dev_eui).bind(limit).fetch_all(pool).await
}

/// A webhook delivery to attempt.
#[derive(Debug, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub url: String,
    pub secret: Option<String>,
    pub body: Json<serde_json::Value>,
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries for a minute (a crashed sender's are retried then).
pub async fn claim_due(pool: &PgPool, max_attempts: i32, limit: i64) -> Result<Vec<Notification>, sqlx::Error> {
    const Q: &str = "UPDATE alert_notification n SET next_attempt_at = now() + interval '1 minute'
        FROM (SELECT id FROM alert_notification WHERE delivered_at IS NULL AND attempts < $1 AND next_attempt_at <= now()
              ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) c
        WHERE n.id = c.id RETURNING n.id, n.url, n.secret, n.body, n.attempts";
    sqlx::query_as::<_, Notification>(Q).bind(max_attempts).bind(limit).fetch_all(pool).await
}

pub async fn delivered(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_notification SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ())
}

pub async fn failed(pool: &PgPool, id: i64, error: &str, next: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_notification SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(next)
    .execute(pool)
    .await
    .map(|_| ())
}
