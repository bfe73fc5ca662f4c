//! Maps: the caller's devices as a GeoJSON feature collection (RFC 7946) with their
//! latest values, for a commune's map of its sites and sensors.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::devices::with_latest;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::device::{self, DeviceFilter};
use crate::store::domain;

/// Most devices on one map.
const MAX_FEATURES: i64 = 20_000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct MapQuery {
    /// Only devices of this commune (INSEE code).
    pub commune: Option<String>,
    /// Only devices under this service.
    pub service: Option<String>,
    /// Only devices at this site.
    pub site_id: Option<i64>,
}

/// A GeoJSON FeatureCollection: one Point feature per device (at its own position, else
/// its site's; `geometry` null when neither is known), `properties` with dev_eui, name,
/// model, commune, site_id, site, service, last_seen_at and `latest`
/// (`{metric: {value, unit, time}}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureCollection {
    #[schema(example = "FeatureCollection")]
    pub r#type: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub features: Vec<Value>,
}

/// The caller's devices in service as GeoJSON, with their latest values.
#[utoipa::path(get, path = "/api/v1/map/devices", tag = "devices", params(MapQuery),
    responses((status = 200, body = FeatureCollection, content_type = "application/geo+json"),
        (status = 400, body = ErrorBody)))]
pub async fn devices(
    principal: Principal,
    State(s): State<AppState>,
    Query(q): Query<MapQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = DeviceFilter { commune: q.commune, service: q.service, site_id: q.site_id, ..DeviceFilter::default() };
    let features = features(&s, principal.commune(), filter).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        Json(FeatureCollection { r#type: "FeatureCollection", features }),
    ))
}

/// The devices in service matching `filter`, within `scope` (a commune's own), as GeoJSON
/// features with their latest values: the API's map and the built-in map page.
pub async fn features(s: &AppState, scope: Option<&str>, filter: DeviceFilter) -> Result<Vec<Value>, ApiError> {
    let list = device::list(&s.pool, scope, &filter, MAX_FEATURES, 0).await?;
    let sites: std::collections::HashMap<i64, (Option<f64>, Option<f64>)> =
        domain::list_sites(&s.pool, scope, filter.commune.as_deref())
            .await?
            .into_iter()
            .map(|s| (s.id, (s.latitude, s.longitude)))
            .collect();
    Ok(with_latest(s, scope, list)
        .await?
        .into_iter()
        .map(|d| {
            let site_pos = d.device.site_id.and_then(|id| sites.get(&id)).copied().unwrap_or((None, None));
            let position = match (d.device.latitude, d.device.longitude, site_pos) {
                (Some(lat), Some(lon), _) | (_, _, (Some(lat), Some(lon))) => Some((lat, lon)),
                _ => None,
            };
            // GeoJSON positions are [longitude, latitude].
            let geometry =
                position.map_or(Value::Null, |(lat, lon)| json!({"type": "Point", "coordinates": [lon, lat]}));
            let latest: Map<String, Value> = d
                .latest
                .iter()
                .map(|r| (r.metric.clone(), json!({"value": r.value, "unit": r.unit, "time": r.time})))
                .collect();
            let dev = &d.device;
            json!({
                "type": "Feature",
                "id": dev.dev_eui,
                "geometry": geometry,
                "properties": {
                    "dev_eui": dev.dev_eui, "name": dev.name, "model": dev.model, "commune": dev.commune,
                    "site_id": dev.site_id, "site": dev.site, "service": dev.service,
                    "last_seen_at": dev.last_seen_at, "latest": latest,
                },
            })
        })
        .collect())
}
