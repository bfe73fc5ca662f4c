//! Fleet health for operators: every device's uplinks against its frame counters,
//! battery and radio; every gateway; decode failures per model.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::indicators::PeriodQuery;
use super::AppState;
use crate::analytics::health::{self, FrameLoss};
use crate::store::device::{self as device_store, DeviceFilter};
use crate::store::health::{self as store, GatewayHealth, ModelFailures, Spread};
use crate::store::reading;

/// Devices a health report covers.
const MAX_DEVICES: i64 = 100_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct FleetHealth {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub devices: Vec<DeviceHealth>,
    pub gateways: Vec<GatewayHealth>,
    pub decode_failures: Vec<ModelFailures>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceHealth {
    pub dev_eui: String,
    pub name: String,
    pub model: String,
    pub commune: Option<String>,
    pub site_id: Option<i64>,
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub frames: FrameLoss,
    /// Latest battery level (%) within 30 days.
    pub battery_level: Option<f64>,
    /// RSSI (dBm) and SNR (dB) of the best gateway of each uplink.
    pub rssi: Option<Spread>,
    pub snr: Option<Spread>,
    /// Gateways that heard it.
    pub gateways: Vec<String>,
}

fn spread(v: &[Option<f64>]) -> Option<Spread> {
    let get = |i: usize| v.get(i).copied().flatten();
    get(2).map(|_| Spread { min: get(0), p10: get(1), median: get(2), p90: get(3), max: get(4) })
}

/// The fleet's health over a period (default: the last 24 hours; at most 31 days).
#[utoipa::path(get, path = "/api/v1/fleet/health", tag = "fleet", params(PeriodQuery),
    responses((status = 200, body = FleetHealth), (status = 400, body = ErrorBody)))]
pub async fn health(State(s): State<AppState>, Query(q): Query<PeriodQuery>) -> Result<Json<FleetHealth>, ApiError> {
    let (from, to) = q.check(Duration::hours(24), 31)?;
    let devices = device_store::list(&s.pool, None, &DeviceFilter::default(), MAX_DEVICES, 0).await?;
    let losses = health::losses(&s.pool, None, from, to).await?;
    let mut radio: HashMap<i64, store::DeviceRadio> =
        store::device_radio(&s.pool, from, to).await?.into_iter().map(|r| (r.device_id, r)).collect();
    let ids: Vec<i64> = devices.iter().map(|d| d.id).collect();
    let metrics = vec!["battery.level"; ids.len()];
    let battery: HashMap<i64, f64> = reading::latest_of(&s.pool, None, &ids, &metrics, to - Duration::days(30))
        .await?
        .into_iter()
        .map(|r| (r.device_id, r.value))
        .collect();
    let devices = devices
        .into_iter()
        .map(|d| {
            let frames = losses.get(&d.id).copied().unwrap_or_default();
            let r = radio.remove(&d.id);
            DeviceHealth {
                frames,
                battery_level: battery.get(&d.id).copied(),
                rssi: r.as_ref().and_then(|r| spread(&r.rssi)),
                snr: r.as_ref().and_then(|r| spread(&r.snr)),
                gateways: r.map(|r| r.gateways).unwrap_or_default(),
                dev_eui: d.dev_eui,
                name: d.name,
                model: d.model,
                commune: d.commune,
                site_id: d.site_id,
                last_seen_at: d.last_seen_at,
            }
        })
        .collect();
    Ok(Json(FleetHealth {
        from,
        to,
        devices,
        gateways: store::gateways(&s.pool, from, to).await?,
        decode_failures: store::decode_failures(&s.pool, from, to).await?,
    }))
}
