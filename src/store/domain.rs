//! The domain tables: communes, their sites, the catalogue of services and the
//! subscriptions of communes to services. Functions a commune can reach take the commune
//! it is restricted to (`None`: all communes).

use std::collections::HashSet;

use roc42_decoders::model::{self, Category};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

/// A commune.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Commune {
    /// INSEE code.
    #[schema(example = "42218")]
    pub insee: String,
    #[schema(example = "Saint-Étienne")]
    pub name: String,
    /// Centroid latitude, WGS 84 degrees.
    pub latitude: f64,
    /// Centroid longitude, WGS 84 degrees.
    pub longitude: f64,
    /// Ids of the services the commune subscribed to.
    #[schema(example = json!(["air-quality-schools"]))]
    pub services: Vec<String>,
}

/// A site of a commune: a school, a town hall, a car park.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Site {
    pub id: i64,
    /// INSEE code of the commune.
    #[schema(example = "42218")]
    pub commune: String,
    #[schema(example = "École Jules Ferry")]
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Devices placed at the site and not retired.
    pub devices: i64,
}

/// A service of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Service {
    #[schema(example = "air-quality-schools")]
    pub id: String,
    #[schema(example = "Air quality in schools")]
    pub name: String,
    pub description: String,
    /// Device-model category the service's built-in models come from.
    #[schema(example = "air_quality")]
    pub category: Option<String>,
    /// Ids of the device models the service supports.
    pub models: Vec<String>,
    /// Canonical metrics the service shows (see `GET /api/v1/metrics`).
    #[schema(example = json!(["air.co2", "air.temperature"]))]
    pub metrics: Vec<String>,
    /// Indicators the service computes: `[{id, name, metric, description}]`.
    #[schema(value_type = Object)]
    pub indicators: sqlx::types::Json<serde_json::Value>,
}

/// A commune's subscription to a service.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Subscription {
    pub commune: String,
    pub service: String,
    pub since: chrono::DateTime<chrono::Utc>,
}

const COMMUNE_COLUMNS: &str = "c.insee, c.name, c.latitude, c.longitude,
    coalesce((SELECT array_agg(s.service ORDER BY s.service) FROM subscription s WHERE s.commune = c.insee),
             '{}') AS services";

/// Communes by INSEE code; only `commune` when given.
pub async fn list_communes(pool: &PgPool, commune: Option<&str>) -> Result<Vec<Commune>, sqlx::Error> {
    let q =
        format!("SELECT {COMMUNE_COLUMNS} FROM commune c WHERE ($1::text IS NULL OR c.insee = $1) ORDER BY c.insee");
    sqlx::query_as::<_, Commune>(&q).bind(commune).fetch_all(pool).await
}

pub async fn get_commune(pool: &PgPool, insee: &str) -> Result<Option<Commune>, sqlx::Error> {
    let q = format!("SELECT {COMMUNE_COLUMNS} FROM commune c WHERE c.insee = $1");
    sqlx::query_as::<_, Commune>(&q).bind(insee).fetch_optional(pool).await
}

/// Creates a commune or renames and moves it.
pub async fn upsert_commune(
    pool: &PgPool,
    insee: &str,
    name: &str,
    latitude: f64,
    longitude: f64,
) -> Result<(), sqlx::Error> {
    const Q: &str = "INSERT INTO commune (insee, name, latitude, longitude) VALUES ($1, $2, $3, $4)
        ON CONFLICT (insee) DO UPDATE SET name = EXCLUDED.name, latitude = EXCLUDED.latitude,
            longitude = EXCLUDED.longitude";
    sqlx::query(Q).bind(insee).bind(name).bind(latitude).bind(longitude).execute(pool).await.map(|_| ())
}

/// The INSEE codes of every commune.
pub async fn commune_codes(pool: &PgPool) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT insee FROM commune").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// Sites of a commune, by name.
pub async fn list_sites(pool: &PgPool, commune: &str) -> Result<Vec<Site>, sqlx::Error> {
    const Q: &str = "SELECT s.id, s.commune, s.name, s.address, s.latitude, s.longitude,
            (SELECT count(*) FROM device d WHERE d.site_id = s.id AND d.retired_at IS NULL) AS devices
        FROM site s WHERE s.commune = $1 ORDER BY s.name, s.id";
    sqlx::query_as::<_, Site>(Q).bind(commune).fetch_all(pool).await
}

/// Creates the sites of these (commune, name) pairs that do not exist yet, placed at the
/// mean of the coordinates given for each (those of the devices found there); returns how
/// many were created and the ids of all of them as `(id, commune, name)`. Existing sites
/// are left as they are. Two statements for any number of sites.
pub async fn ensure_sites(
    conn: &mut PgConnection,
    communes: &[String],
    names: &[String],
    latitudes: &[f64],
    longitudes: &[f64],
) -> Result<(u64, Vec<(i64, String, String)>), sqlx::Error> {
    const INSERT: &str = "INSERT INTO site (commune, name, latitude, longitude)
        SELECT c, n, avg(la), avg(lo) FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::float8[]) AS t (c, n, la, lo)
        GROUP BY c, n
        ON CONFLICT (commune, name) DO NOTHING";
    const SELECT: &str = "SELECT s.id, s.commune, s.name FROM site s
        JOIN (SELECT DISTINCT c, n FROM UNNEST($1::text[], $2::text[]) AS t (c, n)) t
          ON s.commune = t.c AND s.name = t.n";
    let created = sqlx::query(INSERT)
        .bind(communes)
        .bind(names)
        .bind(latitudes)
        .bind(longitudes)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let sites = sqlx::query_as(SELECT).bind(communes).bind(names).fetch_all(&mut *conn).await?;
    Ok((created, sites))
}

const SERVICE_COLUMNS: &str = "id, name, description, category, models, metrics, indicators";

/// The catalogue, by id.
pub async fn list_services(pool: &PgPool) -> Result<Vec<Service>, sqlx::Error> {
    let q = format!("SELECT {SERVICE_COLUMNS} FROM service ORDER BY id");
    sqlx::query_as::<_, Service>(&q).fetch_all(pool).await
}

pub async fn get_service(pool: &PgPool, id: &str) -> Result<Option<Service>, sqlx::Error> {
    let q = format!("SELECT {SERVICE_COLUMNS} FROM service WHERE id = $1");
    sqlx::query_as::<_, Service>(&q).bind(id).fetch_optional(pool).await
}

/// The ids of every service.
pub async fn service_ids(pool: &PgPool) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM service").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// Adds the built-in device models of each category to the `models` of the services of
/// that category (never removes one), so the catalogue follows the models compiled in.
/// Idempotent; run after every migration.
pub async fn sync_service_models(pool: &PgPool) -> Result<(), sqlx::Error> {
    const Q: &str =
        "UPDATE service SET models = ARRAY(SELECT DISTINCT m FROM unnest(models || $2::text[]) AS m ORDER BY m)
        WHERE category = $1 AND NOT (models @> $2::text[])";
    for category in Category::ALL {
        let ids: Vec<&str> =
            model::builtin().iter().filter(|m| m.category == category).map(|m| m.id.as_str()).collect();
        sqlx::query(Q).bind(category.as_str()).bind(&ids).execute(pool).await?;
    }
    Ok(())
}

/// Subscriptions, by commune then service; only `commune`'s when given.
pub async fn list_subscriptions(pool: &PgPool, commune: Option<&str>) -> Result<Vec<Subscription>, sqlx::Error> {
    const Q: &str = "SELECT commune, service, since FROM subscription
        WHERE ($1::text IS NULL OR commune = $1) ORDER BY commune, service";
    sqlx::query_as::<_, Subscription>(Q).bind(commune).fetch_all(pool).await
}

/// Subscribes a commune to a service (no-op if it already is).
pub async fn subscribe(pool: &PgPool, commune: &str, service: &str) -> Result<(), sqlx::Error> {
    const Q: &str = "INSERT INTO subscription (commune, service) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    sqlx::query(Q).bind(commune).bind(service).execute(pool).await.map(|_| ())
}

/// Ends a subscription; false if there was none.
pub async fn unsubscribe(pool: &PgPool, commune: &str, service: &str) -> Result<bool, sqlx::Error> {
    const Q: &str = "DELETE FROM subscription WHERE commune = $1 AND service = $2";
    Ok(sqlx::query(Q).bind(commune).bind(service).execute(pool).await?.rows_affected() > 0)
}
