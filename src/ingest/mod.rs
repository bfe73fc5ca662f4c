//! Ingest: everything between the network server and the pipeline. The MQTT loop
//! ([`mqtt`]) and the webhooks (`api::webhooks`) turn messages into [`Inbound`]s; one
//! adapter per LNS format ([`chirpstack`], [`tts`], [`thingpark`]) turns an `Inbound`
//! into the neutral [`Uplink`], or into an [`LnsEvent`] for the network server's other
//! events (join, status, log, ...).

pub mod chirpstack;
mod lenient;
pub mod mqtt;
pub mod thingpark;
pub mod tts;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::lorawan::DevEui;

/// One message as it came from a transport, with what is needed to acknowledge it once
/// whatever it carried is committed.
#[derive(Debug)]
pub struct Inbound {
    /// The transport: `mqtt` or `http` (webhooks).
    pub source: &'static str,
    /// MQTT topic (or HTTP route) it came on.
    pub topic: String,
    pub payload: Bytes,
    /// When roc42 received it.
    pub received_at: DateTime<Utc>,
    pub ack: Ack,
}

/// How to tell the sender that a message is durably stored.
#[derive(Debug)]
pub enum Ack {
    /// A QoS 1 publish to acknowledge on its MQTT session.
    Mqtt(mqtt::PendingAck),
    /// An HTTP request (webhook) waiting for its response: answered 2xx once committed.
    Http(tokio::sync::oneshot::Sender<()>),
    /// Nothing to acknowledge (QoS 0, or a message replayed from storage).
    None,
}

impl Ack {
    /// Sends the acknowledgement. Call in arrival order, only after commit.
    pub async fn send(self) {
        match self {
            Ack::Mqtt(a) => a.send().await,
            // The client may have gone: its retry is then deduplicated.
            Ack::Http(tx) => drop(tx.send(())),
            Ack::None => {}
        }
    }
}

/// What one message carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Uplink(Uplink),
    /// Another network-server event (join, status, log, ack, txack, location).
    Event(LnsEvent),
}

/// A network-server event other than an uplink, in the same shape whatever the source:
/// kept for operators (`lns_event`), and a device status also gives device-status
/// readings.
#[derive(Debug, Clone, PartialEq)]
pub struct LnsEvent {
    /// Which adapter produced it, e.g. `chirpstack`.
    pub lns: &'static str,
    /// `join`, `status`, `log`, `ack`, `txack` or `location`.
    pub kind: &'static str,
    /// Idempotency key (the LNS's own id, else a hash of the event).
    pub dedup_key: String,
    pub time: DateTime<Utc>,
    pub dev_eui: DevEui,
    /// Log events: `INFO`, `WARNING` or `ERROR`.
    pub level: Option<String>,
    /// Log events: the LNS's code, e.g. `UPLINK_CODEC`, `UPLINK_MIC`.
    pub code: Option<String>,
    /// Log events: the LNS's description; ack events: acknowledged or not.
    pub description: Option<String>,
    /// Device-status readings the event carries (battery level, link margin).
    pub readings: Vec<(roc42_decoders::Metric, f64)>,
    /// The event as the LNS sent it (protobuf events in their JSON form).
    pub body: serde_json::Value,
}

/// An uplink in the same shape whatever network server sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    /// Which adapter produced it, e.g. `chirpstack`.
    pub lns: &'static str,
    /// Idempotency key: the LNS's own id (ChirpStack `deduplicationId`), else a hash of
    /// (dev_eui, f_cnt, payload, time). A redelivered message has the same key.
    pub dedup_key: String,
    /// When the frame was received by the network (gateway or LNS time).
    pub time: DateTime<Utc>,
    pub dev_eui: DevEui,
    /// Device address, 8 hex digits MSB first, when the LNS gives it.
    pub dev_addr: Option<String>,
    /// Full 32-bit uplink frame counter.
    pub f_cnt: Option<u32>,
    pub f_port: u8,
    /// FRMPayload: decrypted unless `encrypted`.
    pub payload: Vec<u8>,
    /// The FRMPayload is still encrypted (a join server holds the AppSKey).
    pub encrypted: bool,
    /// One entry per gateway that heard the frame.
    pub rx: Vec<RxGateway>,
    pub tx: Option<TxParams>,
    /// What the LNS's own codec decoded, kept as-is (roc42 decodes from `payload`).
    pub lns_object: Option<serde_json::Value>,
}

/// Radio metadata of one gateway that heard the frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RxGateway {
    pub gateway_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rssi: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
}

/// Transmission parameters of the frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxParams {
    /// Hz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spreading_factor: Option<u32>,
    /// Hz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dr: Option<u32>,
}

/// Why a message could not be turned into an uplink. The raw message is kept with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("topic {0:?} is not a known network-server topic")]
    Topic(String),
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    #[error("event {0:?} is not one roc42 knows")]
    EventKind(String),
    #[error("invalid field {field}: {reason}")]
    Field { field: &'static str, reason: String },
}

/// Picks the adapter for a message by its topic (or webhook route) and parses it.
/// Each adapter claims its own topics; no topic matches two of them.
pub fn parse(topic: &str, payload: &[u8]) -> Result<Parsed, ParseError> {
    if let Some(kind) = chirpstack::event_kind(topic) {
        chirpstack::parse(kind, payload)
    } else if let Some(kind) = tts::topic_kind(topic) {
        tts::parse(kind, payload)
    } else if thingpark::claims_topic(topic) || topic == thingpark::WEBHOOK_ROUTE {
        thingpark::parse(payload)
    } else if topic == tts::WEBHOOK_ROUTE {
        tts::parse_webhook(payload)
    } else {
        Err(ParseError::Topic(topic.to_owned()))
    }
}
