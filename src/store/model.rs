//! The `device_model` table: models operators add at run time (a manifest and its JS
//! codec). Built-in models are not stored; they come with the binary.

use chrono::{DateTime, Utc};
use roc42_decoders::manifest::Manifest;
use sqlx::types::Json;
use sqlx::PgPool;

/// A stored model.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredModel {
    pub id: String,
    pub manifest: Json<Manifest>,
    pub codec: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Creates the model, or replaces its manifest and codec. `updated_at` always moves
/// forward, so the pipeline's reload picks the change up.
pub async fn upsert(pool: &PgPool, manifest: &Manifest, codec: Option<&str>) -> Result<StoredModel, sqlx::Error> {
    const Q: &str = "INSERT INTO device_model (id, manifest, codec) VALUES ($1, $2, $3)
        ON CONFLICT (id) DO UPDATE SET manifest = EXCLUDED.manifest, codec = EXCLUDED.codec,
            updated_at = greatest(now(), device_model.updated_at + interval '1 microsecond')
        RETURNING id, manifest, codec, created_at, updated_at";
    sqlx::query_as::<_, StoredModel>(Q).bind(&manifest.id).bind(Json(manifest)).bind(codec).fetch_one(pool).await
}

/// Every stored model, by id.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredModel>, sqlx::Error> {
    const Q: &str = "SELECT id, manifest, codec, created_at, updated_at FROM device_model ORDER BY id";
    sqlx::query_as::<_, StoredModel>(Q).fetch_all(pool).await
}

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<StoredModel>, sqlx::Error> {
    const Q: &str = "SELECT id, manifest, codec, created_at, updated_at FROM device_model WHERE id = $1";
    sqlx::query_as::<_, StoredModel>(Q).bind(id).fetch_optional(pool).await
}

/// Deletes a model; devices still of that model decode as `unknown_model` until moved.
pub async fn delete(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    const Q: &str = "DELETE FROM device_model WHERE id = $1";
    Ok(sqlx::query(Q).bind(id).execute(pool).await?.rows_affected() > 0)
}
