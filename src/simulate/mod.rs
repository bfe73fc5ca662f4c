//! The simulator: a fleet of devices in Loire communes publishing realistic ChirpStack v4
//! `up` events (real payload bytes, values that follow the time of day and drift) to an
//! MQTT broker at a chosen rate. Used by `roc42 simulate`, the demo, the bench and tests.

pub mod payloads;

use std::f64::consts::PI;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::custody::Sealer;
use crate::ingest::mqtt::Publisher;
use crate::lorawan::{AppSKey, DevEui};
use crate::store::device;

/// A commune of the Loire (INSEE code, name, centre).
#[derive(Debug, Clone, Copy)]
pub struct Commune {
    pub insee: &'static str,
    pub name: &'static str,
    pub lat: f64,
    pub lon: f64,
}

/// The communes the simulated fleet is spread over.
pub const COMMUNES: &[Commune] = &[
    Commune { insee: "42218", name: "Saint-Étienne", lat: 45.4397, lon: 4.3872 },
    Commune { insee: "42187", name: "Roanne", lat: 46.0367, lon: 4.0683 },
    Commune { insee: "42207", name: "Saint-Chamond", lat: 45.4756, lon: 4.5142 },
    Commune { insee: "42095", name: "Firminy", lat: 45.3886, lon: 4.2883 },
    Commune { insee: "42147", name: "Montbrison", lat: 45.6075, lon: 4.0653 },
];

/// The models the simulator can produce frames for.
pub const MODELS: &[&str] = &["milesight-am319", "elsys-ers-co2", "milesight-ct101", "tekzitel-tekzipark"];

/// One simulated device.
#[derive(Debug, Clone)]
pub struct SimDevice {
    pub dev_eui: DevEui,
    pub name: String,
    pub model: &'static str,
    pub commune: Commune,
    dev_addr: u32,
    f_cnt: u32,
    /// Per-device offsets, so devices of a model differ.
    bias: f64,
    /// Slow drift (random walk) added to the daily pattern.
    drift: f64,
    charge_ah: f64,
    occupied: bool,
    /// When set, the device's frames are encrypted with this key and published as a
    /// network server does when a join server holds the AppSKey (`joinServerContext`).
    pub app_s_key: Option<AppSKey>,
}

/// A deterministic fleet of `n` devices: models and communes in rotation.
pub fn fleet(n: usize, seed: u64) -> Vec<SimDevice> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let model = MODELS[i % MODELS.len()];
            let commune = COMMUNES[(i / MODELS.len()) % COMMUNES.len()];
            // 70b3d5 is an IEEE OUI block used by many LoRaWAN vendors; the seed keeps
            // fleets of different runs apart.
            let dev_eui = DevEui(0x70b3_d500_0000_0000 | ((seed & 0xff) << 24) | (i as u64 & 0xff_ffff));
            let kind = match model {
                "milesight-am319" => "classroom",
                "elsys-ers-co2" => "office",
                "milesight-ct101" => "meter",
                _ => "space",
            };
            SimDevice {
                dev_eui,
                name: format!("{} {kind} {}", commune.name, i + 1),
                model,
                commune,
                dev_addr: rng.random(),
                f_cnt: 0,
                bias: rng.random_range(-1.0..1.0),
                drift: 0.0,
                charge_ah: rng.random_range(100.0..5000.0),
                occupied: rng.random_bool(0.5),
                app_s_key: None,
            }
        })
        .collect()
}

/// Registers the fleet in the device registry (idempotent).
/// Gives every `every`th device a deterministic AppSKey (from the seed and its DevEUI):
/// its frames are then published encrypted, as a network server forwards them when a join
/// server keeps the key.
pub fn give_app_s_keys(devices: &mut [SimDevice], every: usize, seed: u64) {
    for d in devices.iter_mut().step_by(every.max(1)) {
        let mut rng = StdRng::seed_from_u64(seed ^ d.dev_eui.0);
        d.app_s_key = Some(AppSKey(rng.random()));
    }
}

/// Registers the devices; those with an AppSKey get it sealed under `sealer`'s master key.
pub async fn register_with_keys(pool: &PgPool, devices: &[SimDevice], sealer: Option<&Sealer>) -> anyhow::Result<()> {
    if sealer.is_none() && devices.iter().any(|d| d.app_s_key.is_some()) {
        return Err(crate::custody::CustodyError::NoMasterKey.into());
    }
    register(pool, devices).await?;
    for d in devices {
        let Some(key) = &d.app_s_key else { continue };
        let sealer = sealer.ok_or(crate::custody::CustodyError::NoMasterKey)?;
        device::set_app_s_key(pool, d.dev_eui, Some(&sealer.seal(key, d.dev_eui))).await?;
    }
    Ok(())
}

/// The site and service a simulated device of `model` is placed at, and the site's offset
/// from the commune's centre in degrees (latitude, longitude).
fn placement(model: &str) -> (&'static str, &'static str, (f64, f64)) {
    match model {
        "milesight-am319" => ("École Jules Ferry", "air-quality-schools", (0.004, -0.006)),
        "elsys-ers-co2" => ("Groupe scolaire Victor Hugo", "air-quality-schools", (-0.005, 0.003)),
        "milesight-ct101" => ("Hôtel de ville", "energy-buildings", (0.001, 0.001)),
        _ => ("Parking de la gare", "smart-parking", (-0.002, -0.009)),
    }
}

/// Registers the devices (idempotent), each placed at a site of its commune under the
/// service of its model (schools for air quality, the town hall for energy, the station
/// car park for parking), and subscribes the communes to those services.
pub async fn register(pool: &PgPool, devices: &[SimDevice]) -> anyhow::Result<()> {
    let rows: Vec<crate::onboarding::DeviceRow> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (site, service, (dlat, dlon)) = placement(d.model);
            // Devices of a site spread over about a hundred metres around it.
            let jitter = |k: usize| ((i * 7 + k * 3) % 11) as f64 * 0.0001 - 0.0005;
            crate::onboarding::DeviceRow {
                line: 0,
                dev_eui: d.dev_eui,
                name: d.name.clone(),
                model: d.model.to_owned(),
                commune: d.commune.insee.to_owned(),
                site: site.to_owned(),
                service: service.to_owned(),
                latitude: d.commune.lat + dlat + jitter(0),
                longitude: d.commune.lon + dlon + jitter(1),
                app_s_key: None,
            }
        })
        .collect();
    crate::onboarding::apply(pool, &rows, None, true, |_| {}).await.context("register the simulated devices")?;
    let mut subscribed = std::collections::HashSet::new();
    for r in &rows {
        if subscribed.insert((r.commune.as_str(), r.service.as_str())) {
            crate::store::domain::subscribe(pool, &r.commune, &r.service)
                .await
                .with_context(|| format!("subscribe {} to {}", r.commune, r.service))?;
        }
    }
    Ok(())
}

/// Share of the room occupied at `t` (0..1): school/office hours on weekdays, Paris time
/// approximated as UTC+1.
fn occupancy(t: DateTime<Utc>) -> f64 {
    let local = t + TimeDelta::hours(1);
    if local.weekday().num_days_from_monday() >= 5 {
        return 0.0;
    }
    let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
    let bump = |start: f64, end: f64| {
        if h <= start || h >= end {
            0.0
        } else {
            (PI * (h - start) / (end - start)).sin()
        }
    };
    bump(8.0, 12.0).max(bump(13.5, 16.75))
}

/// Outdoor-ish daily temperature swing, -1..1, warmest mid-afternoon.
fn daily(t: DateTime<Utc>) -> f64 {
    let h = f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
    (2.0 * PI * (h - 9.0) / 24.0).sin()
}

impl SimDevice {
    /// The FPort and frame this device sends at `t`.
    pub fn frame(&mut self, t: DateTime<Utc>, rng: &mut impl Rng) -> (u8, Vec<u8>) {
        self.drift = (self.drift + rng.random_range(-0.05..0.05)).clamp(-1.0, 1.0);
        let occ = occupancy(t);
        let noise = |rng: &mut dyn rand::RngCore, s: f64| rng.random_range(-s..s);
        match self.model {
            "milesight-am319" => {
                let co2 = 430.0 + occ * (700.0 + 250.0 * self.bias) + 40.0 * self.drift + noise(rng, 15.0);
                let temp = 20.0 + 1.5 * occ + 0.8 * daily(t) + 0.5 * self.bias + noise(rng, 0.1);
                let rh = 45.0 + 6.0 * self.drift - 3.0 * daily(t) + noise(rng, 0.5);
                let tvoc = 60.0 + 140.0 * occ + noise(rng, 10.0);
                let pm25 = (8.0 + 6.0 * self.drift + 4.0 * occ + noise(rng, 1.0)).max(0.0);
                let p = payloads::milesight_am319(
                    temp,
                    rh,
                    occ > 0.1 && rng.random_bool(0.8),
                    co2,
                    tvoc.max(0.0),
                    1015.0 + 8.0 * self.drift,
                    pm25,
                    pm25 * 1.6,
                );
                (85, p)
            }
            "elsys-ers-co2" => {
                let co2 = 450.0 + occ * (500.0 + 200.0 * self.bias) + 30.0 * self.drift + noise(rng, 10.0);
                let temp = 20.5 + 1.2 * occ + 0.6 * daily(t) + noise(rng, 0.1);
                let light = if occ > 0.0 { 300.0 + 200.0 * occ } else { 5.0 };
                let motion = if occ > 0.1 { rng.random_range(1..20) } else { 0 };
                let vdd = 3.62 - 0.02 * self.bias.abs();
                (5, payloads::elsys_ers_co2(temp, 42.0 + 5.0 * self.drift, light, motion, co2, vdd))
            }
            "milesight-ct101" => {
                // A building's feeder: base load plus occupancy and heating.
                let current = (4.0 + 25.0 * occ + 6.0 * (1.0 - daily(t)) + 3.0 * self.drift + noise(rng, 0.5)).max(0.0);
                self.charge_ah += current * 0.25; // a quarter of an hour of that current
                (85, payloads::milesight_ct101(self.charge_ah, current * 1.3, current * 0.7, current))
            }
            _ => {
                let p_change = 0.1 + 0.5 * occ;
                if rng.random_bool(p_change.clamp(0.0, 1.0)) {
                    self.occupied = !self.occupied;
                }
                let parking_id = (self.dev_eui.0 & 0x7f) as u8;
                (1, payloads::tekzitel_tekzipark(self.occupied, 12.0 + 8.0 * daily(t), parking_id))
            }
        }
    }

    /// A ChirpStack v4 `up` event (JSON, as ChirpStack 4.20 serializes it) for a frame
    /// received at `t`.
    pub fn uplink_event(&mut self, t: DateTime<Utc>, rng: &mut impl Rng) -> Vec<u8> {
        let (f_port, payload) = self.frame(t, rng);
        let data = match &self.app_s_key {
            Some(key) => {
                crate::lorawan::encrypt_uplink(key, self.dev_addr, self.f_cnt.wrapping_add(1), f_port, &payload)
            }
            None => payload,
        };
        self.f_cnt = self.f_cnt.wrapping_add(1);
        let gateways = rng.random_range(1..=3);
        let rx: Vec<_> = (0..gateways)
            .map(|g| {
                json!({
                    "gatewayId": format!("7276ff00{:02x}{:06x}", g, self.commune.insee.parse::<u32>().unwrap_or(0)),
                    "uplinkId": rng.random::<u32>(),
                    "nsTime": t.to_rfc3339(),
                    "rssi": rng.random_range(-120..-60),
                    "snr": (rng.random_range(-15.0..10.0_f64) * 4.0).round() / 4.0,
                    "channel": rng.random_range(0..8),
                    "location": {
                        "latitude": self.commune.lat + 0.01 * f64::from(g),
                        "longitude": self.commune.lon - 0.01 * f64::from(g),
                        "altitude": 520.0
                    },
                    "context": "AAAAAA==",
                    "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
                    "crcStatus": "CRC_OK"
                })
            })
            .collect();
        let sf = rng.random_range(7..=12);
        let event = json!({
            "deduplicationId": uuid::Uuid::new_v4().to_string(),
            "time": t.to_rfc3339(),
            "deviceInfo": {
                "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
                "tenantName": "SIEL",
                "applicationId": APPLICATION_ID,
                "applicationName": "roc42",
                "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
                "deviceProfileName": self.model,
                "deviceName": self.name,
                "devEui": self.dev_eui.to_string(),
                "deviceClassEnabled": "CLASS_A",
                "tags": {"commune": self.commune.insee}
            },
            "devAddr": format!("{:08x}", self.dev_addr),
            "adr": true,
            "dr": 12 - sf,
            "fCnt": self.f_cnt,
            "fPort": f_port,
            "confirmed": false,
            "data": base64::engine::general_purpose::STANDARD.encode(&data),
            "rxInfo": rx,
            "txInfo": {"frequency": 868_100_000 + 200_000 * rng.random_range(0..3), "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": sf, "codeRate": "CR_4_5"}}},
            "regionConfigId": "eu868"
        });
        let mut event = event;
        if self.app_s_key.is_some() {
            // ChirpStack forwards the FRMPayload as received when a join server keeps the
            // AppSKey, and says so with the session's key id.
            event["joinServerContext"] = json!({"sessionKeyId": format!("{:016x}", self.dev_eui.0 ^ 0x5e55)});
        }
        serde_json::to_vec(&event).unwrap_or_default()
    }

    /// The topic ChirpStack publishes this device's `up` events on, under `prefix`
    /// (empty for ChirpStack's default template).
    pub fn topic(&self, prefix: &str) -> String {
        format!("{prefix}application/{APPLICATION_ID}/device/{}/event/up", self.dev_eui)
    }
}

/// The ChirpStack application the simulated devices belong to.
pub const APPLICATION_ID: &str = "17c82e96-be03-4f38-aef3-f83d48582d97";

/// What and how fast to publish.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The broker: URL, TLS settings and credentials.
    pub mqtt: crate::config::MqttConfig,
    /// Uplinks per second across the fleet.
    pub rate: f64,
    /// Stop after this many uplinks (live), if set.
    pub count: Option<u64>,
    /// First publish this much history (one uplink per device every 15 minutes).
    pub backfill: Option<Duration>,
    /// Topic prefix (ChirpStack's `event_topic` template may add one).
    pub topic_prefix: String,
    pub seed: u64,
}

/// Publishes until `cancel`, or until `count` uplinks. Returns the number published.
pub async fn run(devices: &mut [SimDevice], opts: &SimOptions, cancel: CancellationToken) -> anyhow::Result<u64> {
    anyhow::ensure!(!devices.is_empty(), "the fleet is empty");
    anyhow::ensure!(opts.rate > 0.0, "rate must be positive");
    let client_id = format!("roc42-sim-{}", uuid::Uuid::new_v4().simple());
    let publisher = Publisher::connect_with(&opts.mqtt, &client_id, 1024).await?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut sent = 0u64;
    if let Some(span) = opts.backfill {
        let step = TimeDelta::minutes(15);
        let now = Utc::now();
        let mut t = now - TimeDelta::from_std(span).context("backfill span")?;
        while t < now && !cancel.is_cancelled() {
            for d in devices.iter_mut() {
                let payload = d.uplink_event(t, &mut rng);
                publisher.publish(d.topic(&opts.topic_prefix), payload).await?;
                sent += 1;
            }
            t += step;
        }
        info!(uplinks = sent, "History published.");
    }
    let tick = Duration::from_millis(100);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let per_tick = opts.rate * tick.as_secs_f64();
    let mut budget = 0.0;
    let mut next = 0usize;
    let mut live = 0u64;
    'outer: loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        budget += per_tick;
        while budget >= 1.0 {
            if opts.count.is_some_and(|c| live >= c) {
                break 'outer;
            }
            let d = &mut devices[next % devices.len()];
            next += 1;
            let payload = d.uplink_event(Utc::now(), &mut rng);
            publisher.publish(d.topic(&opts.topic_prefix), payload).await?;
            budget -= 1.0;
            live += 1;
        }
    }
    sent += live;
    publisher.wait_acked(sent, Duration::from_secs(30)).await?;
    publisher.close().await;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_is_deterministic_and_varied() {
        let a = fleet(12, 7);
        let b = fleet(12, 7);
        assert_eq!(a.iter().map(|d| d.dev_eui).collect::<Vec<_>>(), b.iter().map(|d| d.dev_eui).collect::<Vec<_>>());
        let models: std::collections::HashSet<_> = a.iter().map(|d| d.model).collect();
        assert_eq!(models.len(), MODELS.len());
        let eui: std::collections::HashSet<_> = a.iter().map(|d| d.dev_eui).collect();
        assert_eq!(eui.len(), 12);
        assert_ne!(fleet(1, 8)[0].dev_eui, a[0].dev_eui);
    }

    #[test]
    fn events_parse_and_decode() {
        let mut rng = StdRng::seed_from_u64(1);
        for mut d in fleet(8, 3) {
            let t = Utc::now();
            let ev = d.uplink_event(t, &mut rng);
            let crate::ingest::Parsed::Uplink(u) = crate::ingest::parse(&d.topic(""), &ev).unwrap() else {
                panic!("the simulator publishes uplinks")
            };
            assert_eq!(u.dev_eui, d.dev_eui);
            assert_eq!(u.f_cnt, Some(1));
            let readings = roc42_decoders::decode(d.model, u.f_port, &u.payload).unwrap();
            assert!(!readings.is_empty(), "{}", d.model);
        }
    }

    #[test]
    fn school_hours_are_occupied_weekends_are_not() {
        let monday_10h = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z").unwrap().with_timezone(&Utc);
        let sunday_10h = DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z").unwrap().with_timezone(&Utc);
        assert!(occupancy(monday_10h) > 0.5);
        assert_eq!(occupancy(sunday_10h), 0.0);
    }
}
