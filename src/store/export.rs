//! The query behind reading exports: readings (or hourly or daily rollups) with the
//! device, commune, site and service columns analysts join on, streamed row by row.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use sqlx::PgPool;

use super::rollup::Grain;
use crate::analytics::export::ExportRow;

/// Which readings an export holds.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// A commune's INSEE code: the caller's tenancy (`None`: every commune).
    pub scope: Option<String>,
    pub commune: Option<String>,
    pub service: Option<String>,
    pub site_id: Option<i64>,
    pub dev_eui: Option<String>,
    pub metric: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `None`: raw readings.
    pub grain: Option<Grain>,
}

/// The SQL of an export of `grain` (see [`rows`]).
pub fn query(grain: Option<Grain>) -> String {
    let (source, time, values) = match grain {
        None => (
            "reading",
            "time",
            "r.value, NULL::int8 AS count, NULL::float8 AS min, NULL::float8 AS max, NULL::float8 AS last",
        ),
        Some(Grain::Hour) => {
            ("rollup_hour", "bucket", "r.sum / r.count AS value, r.count::int8 AS count, r.min, r.max, r.last")
        }
        Some(Grain::Day) => {
            ("rollup_day", "bucket", "r.sum / r.count AS value, r.count::int8 AS count, r.min, r.max, r.last")
        }
    };
    format!(
        "SELECT r.{time} AS time, d.dev_eui, d.name AS device_name, d.model, d.commune, c.name AS commune_name,
                d.site_id, s.name AS site_name, d.service_id AS service, r.metric, m.unit, {values}
        FROM device d
        JOIN {source} r ON r.device_id = d.id AND r.{time} >= $7 AND r.{time} < $8 AND ($6::text IS NULL OR r.metric = $6)
        LEFT JOIN commune c ON c.insee = d.commune
        LEFT JOIN site s ON s.id = d.site_id
        LEFT JOIN metric m ON m.name = r.metric
        WHERE ($1::text IS NULL OR d.commune = $1) AND ($2::text IS NULL OR d.commune = $2)
            AND ($3::text IS NULL OR d.service_id = $3) AND ($4::int8 IS NULL OR d.site_id = $4)
            AND ($5::text IS NULL OR d.dev_eui = $5)
        ORDER BY d.id, r.metric, r.{time}"
    )
}

/// The rows of an export, in (device, metric, time) order, as the database sends them.
pub fn rows<'a>(
    pool: &'a PgPool,
    sql_text: &'a str,
    f: &'a ExportFilter,
) -> BoxStream<'a, Result<ExportRow, sqlx::Error>> {
    sqlx::query_as::<_, ExportRow>(sql_text)
        .bind(&f.scope)
        .bind(&f.commune)
        .bind(&f.service)
        .bind(f.site_id)
        .bind(&f.dev_eui)
        .bind(&f.metric)
        .bind(f.from)
        .bind(f.to)
        .fetch(pool)
}
