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
    /// IANA time zone its local days are cut in.
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
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
    /// Time zone of its commune (local days).
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
    /// Devices placed at the site and not retired.
    pub devices: i64,
    /// When the site is occupied (air-quality indicators); null: school hours,
    /// Monday to Friday 08:30-16:30.
    #[schema(value_type = Option<crate::analytics::indicators::Occupancy>)]
    pub occupancy: Option<sqlx::types::Json<crate::analytics::indicators::Occupancy>>,
    /// Heated floor area, in m2 (OPERAT: "surface de plancher").
    pub floor_area_m2: Option<f64>,
    /// The building's identifier in OPERAT (its EFA reference).
    pub operat_id: Option<String>,
    /// Reference year energy is compared with (décret tertiaire); null: the year before.
    pub baseline_year: Option<i32>,
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

const COMMUNE_COLUMNS: &str = "c.insee, c.name, c.latitude, c.longitude, c.time_zone,
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

/// A commune to create or update.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommuneInput {
    /// INSEE code (5 characters, 2A/2B for Corsica).
    #[schema(example = "42279")]
    pub insee: String,
    #[schema(example = "Saint-Priest-en-Jarez")]
    pub name: String,
    /// Centroid, WGS 84 degrees.
    pub latitude: f64,
    pub longitude: f64,
    /// IANA time zone (default `Europe/Paris`).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Creates a commune or renames and moves it; true if it was created. The database
/// checks the INSEE code and coordinates.
pub async fn upsert_commune(pool: &PgPool, c: &CommuneInput) -> Result<bool, sqlx::Error> {
    const Q: &str = "INSERT INTO commune (insee, name, latitude, longitude, time_zone)
        VALUES ($1, $2, $3, $4, coalesce($5, 'Europe/Paris'))
        ON CONFLICT (insee) DO UPDATE SET name = EXCLUDED.name, latitude = EXCLUDED.latitude,
            longitude = EXCLUDED.longitude, time_zone = coalesce($5, commune.time_zone)
        RETURNING (xmax = 0)";
    sqlx::query_scalar(Q)
        .bind(&c.insee)
        .bind(&c.name)
        .bind(c.latitude)
        .bind(c.longitude)
        .bind(&c.time_zone)
        .fetch_one(pool)
        .await
}

/// Whether PostgreSQL knows this IANA time zone.
pub async fn is_time_zone(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(name)
        .fetch_one(pool)
        .await
}

/// The INSEE codes of every commune.
pub async fn commune_codes(pool: &PgPool) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT insee FROM commune").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

const SITE_COLUMNS: &str = "s.id, s.commune, s.name, s.address, s.latitude, s.longitude, c.time_zone,
    (SELECT count(*) FROM device d WHERE d.site_id = s.id AND d.retired_at IS NULL) AS devices,
    s.occupancy, s.floor_area_m2, s.operat_id, s.baseline_year";

/// Sites of `scope` (a commune's INSEE code; `None`: all), only `commune`'s when given,
/// by commune then name.
pub async fn list_sites(pool: &PgPool, scope: Option<&str>, commune: Option<&str>) -> Result<Vec<Site>, sqlx::Error> {
    let q = format!(
        "SELECT {SITE_COLUMNS} FROM site s JOIN commune c ON c.insee = s.commune
        WHERE ($1::text IS NULL OR s.commune = $1) AND ($2::text IS NULL OR s.commune = $2)
        ORDER BY s.commune, s.name, s.id"
    );
    sqlx::query_as::<_, Site>(&q).bind(scope).bind(commune).fetch_all(pool).await
}

/// The site, if it exists and belongs to `scope` (see [`list_sites`]).
pub async fn get_site(pool: &PgPool, scope: Option<&str>, id: i64) -> Result<Option<Site>, sqlx::Error> {
    let q = format!(
        "SELECT {SITE_COLUMNS} FROM site s JOIN commune c ON c.insee = s.commune
        WHERE s.id = $1 AND ($2::text IS NULL OR s.commune = $2)"
    );
    sqlx::query_as::<_, Site>(&q).bind(id).bind(scope).fetch_optional(pool).await
}

/// A site to create, or the fields of a site to change (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteInput {
    /// INSEE code; required to create, not changeable.
    #[schema(example = "42218")]
    pub commune: Option<String>,
    #[schema(example = "École Jules Ferry")]
    pub name: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Weekly occupied slots in local time, e.g. `{"slots": [{"days": ["mon", "tue"], "from": "08:30", "to": "16:30"}]}`.
    pub occupancy: Option<crate::analytics::indicators::Occupancy>,
    pub floor_area_m2: Option<f64>,
    pub operat_id: Option<String>,
    pub baseline_year: Option<i32>,
}

/// Creates a site; `None` if the commune already has a site of that name.
pub async fn create_site(pool: &PgPool, commune: &str, s: &SiteInput) -> Result<Option<i64>, sqlx::Error> {
    const Q: &str = "INSERT INTO site (commune, name, address, latitude, longitude, occupancy, floor_area_m2,
            operat_id, baseline_year) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (commune, name) DO NOTHING RETURNING id";
    sqlx::query_scalar(Q)
        .bind(commune)
        .bind(s.name.as_deref().unwrap_or_default())
        .bind(&s.address)
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(s.occupancy.as_ref().map(sqlx::types::Json))
        .bind(s.floor_area_m2)
        .bind(&s.operat_id)
        .bind(s.baseline_year)
        .fetch_optional(pool)
        .await
}

/// Changes a site's name, address or position; false if there is no such site.
pub async fn update_site(pool: &PgPool, id: i64, s: &SiteInput) -> Result<bool, sqlx::Error> {
    const Q: &str = "UPDATE site SET name = coalesce($2, name), address = coalesce($3, address),
            latitude = coalesce($4, latitude), longitude = coalesce($5, longitude),
            occupancy = coalesce($6, occupancy), floor_area_m2 = coalesce($7, floor_area_m2),
            operat_id = coalesce($8, operat_id), baseline_year = coalesce($9, baseline_year)
        WHERE id = $1";
    let n = sqlx::query(Q)
        .bind(id)
        .bind(&s.name)
        .bind(&s.address)
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(s.occupancy.as_ref().map(sqlx::types::Json))
        .bind(s.floor_area_m2)
        .bind(&s.operat_id)
        .bind(s.baseline_year)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n > 0)
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

/// A service of the catalogue to create or replace.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    #[schema(example = "Water networks")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `air_quality`, `energy` or `parking`: its built-in models are added to `models`.
    #[serde(default)]
    pub category: Option<String>,
    /// Device model ids.
    #[serde(default)]
    pub models: Vec<String>,
    /// Canonical metrics it shows.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Indicators: `[{id, name, metric, description}]`.
    #[serde(default = "empty_array")]
    #[schema(value_type = Object)]
    pub indicators: serde_json::Value,
}

fn empty_array() -> serde_json::Value {
    serde_json::Value::Array(Vec::new())
}

/// Creates or replaces a service; true if it was created.
pub async fn upsert_service(pool: &PgPool, id: &str, s: &ServiceInput) -> Result<bool, sqlx::Error> {
    const Q: &str = "INSERT INTO service (id, name, description, category, models, metrics, indicators)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
            category = EXCLUDED.category, models = EXCLUDED.models, metrics = EXCLUDED.metrics,
            indicators = EXCLUDED.indicators
        RETURNING (xmax = 0)";
    let created = sqlx::query_scalar(Q)
        .bind(id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.category)
        .bind(&s.models)
        .bind(&s.metrics)
        .bind(sqlx::types::Json(&s.indicators))
        .fetch_one(pool)
        .await?;
    sync_service_models(pool).await?;
    Ok(created)
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

/// Copies the binary's metric catalogue into table `metric` (names, units, kinds), for
/// SQL users. Idempotent; run after every migration.
pub async fn sync_metrics(pool: &PgPool) -> Result<(), sqlx::Error> {
    const Q: &str = "INSERT INTO metric (name, unit, kind, description)
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
        ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, kind = EXCLUDED.kind, description = EXCLUDED.description
        WHERE (metric.unit, metric.kind, metric.description) IS DISTINCT FROM (EXCLUDED.unit, EXCLUDED.kind, EXCLUDED.description)";
    let all = roc42_decoders::Metric::ALL.iter().map(|m| m.info());
    let (mut names, mut units, mut kinds, mut descriptions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for m in all {
        names.push(m.name);
        units.push(m.unit);
        kinds.push(m.kind.as_str());
        descriptions.push(m.description);
    }
    sqlx::query(Q).bind(&names).bind(&units).bind(&kinds).bind(&descriptions).execute(pool).await.map(|_| ())
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
