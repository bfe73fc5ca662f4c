//! The `lns_event` table: network-server events other than uplinks (join, status, log,
//! ack, txack, location), for operators.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// A stored network-server event.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct StoredEvent {
    pub id: i64,
    /// When the network server saw it.
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Which adapter: `chirpstack`, ...
    pub lns: String,
    /// `join`, `status`, `log`, `ack`, `txack` or `location`.
    pub kind: String,
    #[schema(example = "a81758fffe0312ab")]
    pub dev_eui: String,
    /// Log events: `INFO`, `WARNING` or `ERROR`.
    pub level: Option<String>,
    /// Log events: the network server's code, e.g. `UPLINK_CODEC`, `UPLINK_MIC`.
    pub code: Option<String>,
    pub description: Option<String>,
    /// The event as the network server sent it.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// Filters of [`list`].
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub dev_eui: Option<String>,
    pub kind: Option<String>,
    pub level: Option<String>,
}

/// The most recent events first.
pub async fn list(pool: &PgPool, f: &EventFilter, limit: i64) -> Result<Vec<StoredEvent>, sqlx::Error> {
    const Q: &str = "SELECT id, time, received_at, lns, kind, dev_eui, level, code, description, body
        FROM lns_event
        WHERE ($1::text IS NULL OR dev_eui = $1) AND ($2::text IS NULL OR kind = $2)
          AND ($3::text IS NULL OR level = $3)
        ORDER BY time DESC, id DESC LIMIT $4";
    sqlx::query_as::<_, StoredEvent>(Q).bind(&f.dev_eui).bind(&f.kind).bind(&f.level).bind(limit).fetch_all(pool).await
}
