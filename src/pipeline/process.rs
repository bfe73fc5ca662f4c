//! The decode stage: for each message, in order,
//! 1. parse it with the adapter of its topic (a message that does not parse is kept as
//!    [`Rejected`] with its raw bytes);
//! 2. resolve the device from the registry (unknown devices are kept, not dropped);
//! 3. decode the payload with the device model's decoder;
//! 4. hand the [`Record`] to the writer.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use roc42_decoders::{model, Reading};
use tokio::sync::mpsc;
use tracing::{debug, error, info};

use super::registry::{DeviceRef, DeviceRegistry};
use super::{DecodedUplink, Outcome, ReadingRow, Record, Rejected};
use crate::ingest::{self, Inbound, Uplink};
use crate::telemetry::names;

/// Runs until `rx` closes, then closes `tx` (the writer flushes and stops).
pub async fn run(mut rx: mpsc::Receiver<Inbound>, tx: mpsc::Sender<Record>, mut registry: DeviceRegistry) {
    while let Some(msg) = rx.recv().await {
        let record = process(msg, &mut registry).await;
        if tx.send(record).await.is_err() {
            break;
        }
    }
    debug!("Decode stage done.");
}

/// The ordered steps for one message.
pub async fn process(msg: Inbound, registry: &mut DeviceRegistry) -> Record {
    let uplink = match ingest::parse(&msg.topic, &msg.payload) {
        Ok(u) => u,
        Err(e) => {
            metrics::counter!(names::REJECTED, "source" => msg.source).increment(1);
            debug!(topic = %msg.topic, error = %e, "Message rejected.");
            let rejected = Rejected::new(msg.source, msg.topic, msg.payload.to_vec(), e.to_string(), msg.received_at);
            return Record::Rejected(rejected, msg.ack);
        }
    };
    let device = resolve(registry, &uplink).await;
    let decoded = decode(uplink, device, msg.received_at);
    metrics::counter!(names::UPLINKS, "outcome" => decoded.outcome.as_str()).increment(1);
    Record::Uplink(Box::new(decoded), msg.ack)
}

/// Registry lookups retry while the database is unavailable: the stage holds (and
/// back-pressure builds) rather than mislabel a known device as unknown.
async fn resolve(registry: &mut DeviceRegistry, uplink: &Uplink) -> Option<DeviceRef> {
    let mut backoff = Duration::from_millis(100);
    let mut logged = false;
    loop {
        match registry.resolve(uplink.dev_eui).await {
            Ok(d) => {
                if logged {
                    info!("Device registry reachable again.");
                }
                return d;
            }
            Err(e) => {
                if !logged {
                    error!(error = %e, "Device registry lookup failed; retrying.");
                    logged = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Decodes an uplink for its device (if any).
pub fn decode(uplink: Uplink, device: Option<DeviceRef>, received_at: DateTime<Utc>) -> DecodedUplink {
    let mut out = DecodedUplink {
        device_id: device.as_ref().map(|d| d.id),
        uplink,
        received_at,
        outcome: Outcome::Decoded,
        error: None,
        readings: Vec::new(),
    };
    let Some(device) = device else {
        out.outcome = Outcome::UnknownDevice;
        return out;
    };
    if out.uplink.f_port == 0 {
        out.outcome = Outcome::MacOnly;
        return out;
    }
    if out.uplink.encrypted {
        out.outcome = Outcome::Encrypted;
        out.error = Some("FRMPayload is encrypted and roc42 holds no AppSKey for this device".into());
        return out;
    }
    let Some(info) = model::get(&device.model) else {
        out.outcome = Outcome::UnknownModel;
        out.error = Some(format!("no decoder for model {:?}", device.model));
        return out;
    };
    match roc42_decoders::decode_with(info, out.uplink.f_port, &out.uplink.payload) {
        Ok(readings) => {
            let time = out.uplink.time;
            out.readings = readings.iter().filter_map(|r| reading_row(time, r)).collect();
        }
        Err(e) => {
            debug!(dev_eui = %out.uplink.dev_eui, error = %e, "Uplink decode failed.");
            out.outcome = Outcome::DecodeFailed;
            out.error = Some(e.to_string());
        }
    }
    out
}

fn reading_row(uplink_time: DateTime<Utc>, r: &Reading) -> Option<ReadingRow> {
    let age = TimeDelta::from_std(r.age).ok()?;
    Some(ReadingRow { time: uplink_time.checked_sub_signed(age)?, metric: r.metric, value: r.value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lorawan::DevEui;

    fn uplink(f_port: u8, payload: &[u8]) -> Uplink {
        Uplink {
            lns: "test",
            dedup_key: "k".into(),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            dev_eui: DevEui(1),
            dev_addr: None,
            f_cnt: Some(1),
            f_port,
            payload: payload.to_vec(),
            encrypted: false,
            rx: vec![],
            tx: None,
            lns_object: None,
        }
    }

    fn dev(model: &str) -> Option<DeviceRef> {
        Some(DeviceRef { id: 7, model: model.into() })
    }

    #[test]
    fn outcomes() {
        let now = Utc::now();
        let ers = hex::decode("0100e202290400270506060308").unwrap();
        let d = decode(uplink(1, &ers), dev("elsys-ers-co2"), now);
        assert_eq!((d.outcome, d.readings.len(), d.device_id), (Outcome::Decoded, 5, Some(7)));
        assert!(d.readings.iter().all(|r| r.time == d.uplink.time));
        assert_eq!(decode(uplink(1, &ers), None, now).outcome, Outcome::UnknownDevice);
        assert_eq!(decode(uplink(0, &[]), dev("elsys-ers"), now).outcome, Outcome::MacOnly);
        let d = decode(uplink(1, &ers), dev("acme-x"), now);
        assert_eq!(d.outcome, Outcome::UnknownModel);
        assert!(d.error.unwrap().contains("acme-x"));
        let d = decode(uplink(1, &[0x06]), dev("elsys-ers-co2"), now);
        assert_eq!(d.outcome, Outcome::DecodeFailed);
        assert!(d.error.unwrap().contains("too short"));
        let mut enc = uplink(1, &ers);
        enc.encrypted = true;
        assert_eq!(decode(enc, dev("elsys-ers-co2"), now).outcome, Outcome::Encrypted);
    }
}
