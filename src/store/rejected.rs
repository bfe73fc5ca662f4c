//! Messages kept because they could not be parsed or stored, for operators.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// A rejected message with its raw bytes and the error.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct RejectedMessage {
    pub id: i64,
    /// Transport or stage: `mqtt`, `chirpstack`, ...
    pub source: String,
    pub topic: String,
    /// The raw message, hex-encoded.
    #[sqlx(skip)]
    pub payload_hex: String,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub error: String,
    pub received_at: DateTime<Utc>,
    pub last_received_at: DateTime<Utc>,
    pub times_seen: i32,
}

/// The most recently seen rejected messages first.
pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<RejectedMessage>, sqlx::Error> {
    const Q: &str = "SELECT id, source, topic, payload, error, received_at, last_received_at, times_seen
        FROM ingest_rejected ORDER BY last_received_at DESC, id DESC LIMIT $1";
    let mut rows = sqlx::query_as::<_, RejectedMessage>(Q).bind(limit).fetch_all(pool).await?;
    for r in &mut rows {
        r.payload_hex = hex::encode(&r.payload);
    }
    Ok(rows)
}
