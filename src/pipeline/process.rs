//! The decode stage: for each message, in order,
//! 1. parse it with the adapter of its topic (a message that does not parse is kept as
//!    [`Rejected`] with its raw bytes);
//! 2. resolve the device from the registry (unknown devices are kept, not dropped) and
//!    its model from the catalogue;
//! 3. decode the payload: native decoders inline, JS codecs on the [`JsPool`] while the
//!    stage goes on with the next messages (up to `codecs.max_in_flight` held);
//! 4. hand the [`Record`]s to the writer in arrival order (acks depend on it).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::stream::{FuturesOrdered, StreamExt};
use roc42_decoders::js::{JsCodec, JsInput, JsPool};
use roc42_decoders::model::{Decoder, ModelInfo};
use roc42_decoders::{DecodeError, Reading};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info};

use super::models::{ModelCatalog, ModelRef};
use super::registry::{DeviceRef, DeviceRegistry, KeyState};
use super::{DecodedEvent, DecodedUplink, Outcome, ReadingRow, Record, Rejected};
use crate::ingest::{self, Ack, Inbound, Parsed, Uplink};
use crate::lorawan::{self, DevEui};
use crate::telemetry::names;

/// What the stage reads from.
pub struct Lookups {
    pub registry: DeviceRegistry,
    pub models: ModelCatalog,
    pub js: Arc<JsPool>,
}

/// Runs until `rx` closes and every held message is out, then closes `tx` (the writer
/// flushes and stops).
pub async fn run(
    mut rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Record>,
    mut lookups: Lookups,
    max_in_flight: usize,
) {
    let mut held = FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            Some(record) = held.next() => {
                if tx.send(record).await.is_err() {
                    return;
                }
            }
            msg = rx.recv(), if held.len() < max_in_flight => match msg {
                Some(msg) => held.push_back(process(msg, &mut lookups).await),
                None => break,
            },
        }
    }
    while let Some(record) = held.next().await {
        if tx.send(record).await.is_err() {
            return;
        }
    }
    debug!("Decode stage done.");
}

/// The ordered steps for one message; the returned future completes at once unless a
/// JS codec is decoding the frame.
pub async fn process(msg: Inbound, lookups: &mut Lookups) -> impl Future<Output = Record> + use<> {
    let step = prepare(msg, lookups).await;
    async move {
        match step {
            Step::Done(record) => record,
            Step::Js(mut decoded, ack, result, decrypted) => {
                let result = result.await.unwrap_or_else(|_| Err(DecodeError::Codec("a JS worker stopped".into())));
                finish(&mut decoded, result, decrypted);
                count(&decoded);
                Record::Uplink(decoded, ack)
            }
        }
    }
}

enum Step {
    Done(Record),
    Js(Box<DecodedUplink>, Ack, oneshot::Receiver<Result<Vec<Reading>, DecodeError>>, bool),
}

async fn prepare(msg: Inbound, lookups: &mut Lookups) -> Step {
    let uplink = match ingest::parse(&msg.topic, &msg.payload) {
        Ok(Parsed::Uplink(u)) => u,
        Ok(Parsed::Event(event)) => {
            let device = resolve_device(&mut lookups.registry, event.dev_eui).await;
            metrics::counter!(names::EVENTS, "kind" => event.kind).increment(1);
            let readings = match &device {
                Some(_) => event
                    .readings
                    .iter()
                    .filter(|(_, v)| v.is_finite())
                    .map(|&(metric, value)| ReadingRow { time: event.time, metric, value })
                    .collect(),
                None => Vec::new(),
            };
            let d = DecodedEvent { event, received_at: msg.received_at, device_id: device.map(|d| d.id), readings };
            return Step::Done(Record::Event(Box::new(d), msg.ack));
        }
        Err(e) => {
            metrics::counter!(names::REJECTED, "source" => msg.source).increment(1);
            debug!(topic = %msg.topic, error = %e, "Message rejected.");
            let rejected = Rejected::new(msg.source, msg.topic, msg.payload.to_vec(), e.to_string(), msg.received_at);
            return Step::Done(Record::Rejected(rejected, msg.ack));
        }
    };
    let device = resolve_device(&mut lookups.registry, uplink.dev_eui).await;
    let model = match &device {
        Some(d) => resolve_model(&mut lookups.models, &d.model).await,
        None => None,
    };
    match decode(uplink, device, model.as_deref(), msg.received_at) {
        Decoded::Done(d) => {
            count(&d);
            Step::Done(Record::Uplink(Box::new(d), msg.ack))
        }
        Decoded::Js(d, codec, bytes, decrypted) => {
            let (tx, rx) = oneshot::channel();
            let input = JsInput { f_port: d.uplink.f_port, bytes, recv_time_ms: d.uplink.time.timestamp_millis() };
            lookups.js.submit(
                codec,
                input,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            );
            Step::Js(Box::new(d), msg.ack, rx, decrypted)
        }
    }
}

fn count(d: &DecodedUplink) {
    metrics::counter!(names::UPLINKS, "outcome" => d.outcome.as_str()).increment(1);
}

/// Lookups retry while the database is unavailable: the stage holds (and back-pressure
/// builds) rather than mislabel a known device or model as unknown.
struct Retry {
    what: &'static str,
    backoff: Duration,
    logged: bool,
}

impl Retry {
    fn new(what: &'static str) -> Self {
        Self { what, backoff: Duration::from_millis(100), logged: false }
    }

    fn succeeded(&self) {
        if self.logged {
            info!("{} reachable again.", self.what);
        }
    }

    async fn failed(&mut self, e: &sqlx::Error) {
        if !self.logged {
            error!(error = %e, "{} lookup failed; retrying.", self.what);
            self.logged = true;
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
    }
}

async fn resolve_device(registry: &mut DeviceRegistry, dev_eui: DevEui) -> Option<DeviceRef> {
    let mut retry = Retry::new("Device registry");
    loop {
        match registry.resolve(dev_eui).await {
            Ok(d) => {
                retry.succeeded();
                return d;
            }
            Err(e) => retry.failed(&e).await,
        }
    }
}

async fn resolve_model(models: &mut ModelCatalog, id: &str) -> Option<ModelRef> {
    let mut retry = Retry::new("Device model catalogue");
    loop {
        match models.get(id).await {
            Ok(m) => {
                retry.succeeded();
                return m;
            }
            Err(e) => retry.failed(&e).await,
        }
    }
}

/// The result of [`decode`]: complete, or waiting for a JS codec.
pub enum Decoded {
    Done(DecodedUplink),
    /// The uplink, its model's codec, the bytes to decode and whether they were decrypted.
    Js(DecodedUplink, Arc<JsCodec>, Vec<u8>, bool),
}

/// Decodes an uplink for its device (if any) and model (if known).
pub fn decode(
    uplink: Uplink,
    device: Option<DeviceRef>,
    model: Option<&ModelInfo>,
    received_at: DateTime<Utc>,
) -> Decoded {
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
        return Decoded::Done(out);
    };
    if out.uplink.f_port == 0 {
        out.outcome = Outcome::MacOnly;
        return Decoded::Done(out);
    }
    // The FRMPayload decrypted, when the network server forwarded it encrypted and roc42
    // holds the device's AppSKey; else the frame is decoded as received (and the uplink
    // keeps it as received either way).
    let decrypted = if out.uplink.encrypted {
        let key = match &device.app_s_key {
            KeyState::Held(key) => key,
            KeyState::None => {
                out.outcome = Outcome::Encrypted;
                out.error = Some("FRMPayload is encrypted and roc42 holds no AppSKey for this device".into());
                return Decoded::Done(out);
            }
            KeyState::Unusable(why) => {
                out.outcome = Outcome::Encrypted;
                out.error = Some(format!("FRMPayload is encrypted and the device's AppSKey is unusable: {why}"));
                return Decoded::Done(out);
            }
        };
        let u = &out.uplink;
        match lorawan::decrypt_uplink(key, u.dev_addr.as_deref(), u.f_cnt, u.f_port, &u.payload) {
            Ok(p) => Some(p),
            Err(e) => {
                out.outcome = Outcome::DecodeFailed;
                out.error = Some(format!("cannot decrypt the FRMPayload: {e}"));
                return Decoded::Done(out);
            }
        }
    } else {
        None
    };
    let Some(info) = model else {
        out.outcome = Outcome::UnknownModel;
        out.error = Some(format!("no decoder for model {:?}", device.model));
        return Decoded::Done(out);
    };
    match &info.decoder {
        Decoder::Js(codec) => {
            let was_decrypted = decrypted.is_some();
            let bytes = decrypted.unwrap_or_else(|| out.uplink.payload.clone());
            Decoded::Js(out, Arc::clone(codec), bytes, was_decrypted)
        }
        Decoder::Native(_) => {
            // Native decoders read the payload in place: no copy on the hot path.
            let bytes = decrypted.as_deref().unwrap_or(&out.uplink.payload);
            let result = roc42_decoders::decode_with(info, out.uplink.f_port, bytes);
            finish(&mut out, result, decrypted.is_some());
            Decoded::Done(out)
        }
    }
}

/// Stores a decoder's result in the uplink. `decrypted`: the frame was decrypted with the
/// AppSKey roc42 holds, which AES-CTR cannot check: a frame that then does not decode
/// most likely means the key is wrong, and the error says so.
pub fn finish(out: &mut DecodedUplink, result: Result<Vec<Reading>, DecodeError>, decrypted: bool) {
    match result {
        Ok(readings) => {
            let time = out.uplink.time;
            out.readings = readings.iter().filter_map(|r| reading_row(time, r)).collect();
        }
        Err(e) => {
            debug!(dev_eui = %out.uplink.dev_eui, error = %e, "Uplink decode failed.");
            out.outcome = Outcome::DecodeFailed;
            out.error = Some(if decrypted {
                format!("decryption error: the FRMPayload decrypted with the AppSKey roc42 holds does not decode (is the key right?): {e}")
            } else {
                e.to_string()
            });
        }
    }
}

fn reading_row(uplink_time: DateTime<Utc>, r: &Reading) -> Option<ReadingRow> {
    let age = TimeDelta::from_std(r.age).ok()?;
    Some(ReadingRow { time: uplink_time.checked_sub_signed(age)?, metric: r.metric, value: r.value })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        Some(DeviceRef { id: 7, model: model.into(), app_s_key: KeyState::None })
    }

    /// Decodes with a built-in model, which never needs the JS pool.
    fn native(u: Uplink, device: Option<DeviceRef>, now: DateTime<Utc>) -> DecodedUplink {
        let info = device.as_ref().and_then(|d| roc42_decoders::model::get(&d.model));
        match decode(u, device, info, now) {
            Decoded::Done(d) => d,
            Decoded::Js(..) => panic!("built-in models are native"),
        }
    }

    #[test]
    fn outcomes() {
        let now = Utc::now();
        let ers = hex::decode("0100e202290400270506060308").unwrap();
        let d = native(uplink(1, &ers), dev("elsys-ers-co2"), now);
        assert_eq!((d.outcome, d.readings.len(), d.device_id), (Outcome::Decoded, 5, Some(7)));
        assert!(d.readings.iter().all(|r| r.time == d.uplink.time));
        assert_eq!(native(uplink(1, &ers), None, now).outcome, Outcome::UnknownDevice);
        assert_eq!(native(uplink(0, &[]), dev("elsys-ers"), now).outcome, Outcome::MacOnly);
        let d = native(uplink(1, &ers), dev("acme-x"), now);
        assert_eq!(d.outcome, Outcome::UnknownModel);
        assert!(d.error.unwrap().contains("acme-x"));
        let d = native(uplink(1, &[0x06]), dev("elsys-ers-co2"), now);
        assert_eq!(d.outcome, Outcome::DecodeFailed);
        assert!(d.error.unwrap().contains("too short"));
        let mut enc = uplink(1, &ers);
        enc.encrypted = true;
        assert_eq!(native(enc, dev("elsys-ers-co2"), now).outcome, Outcome::Encrypted);
    }
}
