//! The pipeline: `Inbound` messages -> decode stage -> batch writer, joined by bounded
//! channels, each stage a task with an explicit shutdown that drains in order.
//!
//! - [`process`]: the ordered steps that turn one message into a [`Record`];
//! - [`registry`]: the cached device registry the decode stage reads;
//! - [`models`]: the device models (built-in and operator-added) it decodes with;
//! - [`writer`]: batches records, commits them, then acknowledges them in arrival order;
//! - [`reprocess`]: decodes stored uplinks again (claimed devices, decoder fixes).

pub mod models;
pub mod process;
pub mod registry;
pub mod reprocess;
pub mod writer;

use chrono::{DateTime, Utc};
use roc42_decoders::Metric;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use std::sync::Arc;

use anyhow::Context;
use roc42_decoders::js::JsPool;

use crate::config::{CodecConfig, PipelineConfig};
use crate::custody::Sealer;
use crate::ingest::{Ack, Inbound, LnsEvent, Uplink};

/// What became of an uplink, stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Decoded (possibly to no reading: a device-information frame).
    Decoded,
    /// The decoder rejected the frame; `error` says why.
    DecodeFailed,
    /// No registered device has this DevEUI; kept to be claimed later.
    UnknownDevice,
    /// The device's model has no decoder in this build.
    UnknownModel,
    /// FPort 0: MAC commands only, nothing for the application.
    MacOnly,
    /// The FRMPayload is still encrypted and roc42 does not hold the AppSKey.
    Encrypted,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Decoded,
        Outcome::DecodeFailed,
        Outcome::UnknownDevice,
        Outcome::UnknownModel,
        Outcome::MacOnly,
        Outcome::Encrypted,
    ];

    /// The value stored in `uplink.outcome`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Decoded => "decoded",
            Outcome::DecodeFailed => "decode_failed",
            Outcome::UnknownDevice => "unknown_device",
            Outcome::UnknownModel => "unknown_model",
            Outcome::MacOnly => "mac_only",
            Outcome::Encrypted => "encrypted",
        }
    }
}

/// One reading ready to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadingRow {
    pub time: DateTime<Utc>,
    pub metric: Metric,
    pub value: f64,
}

/// An uplink with its decode result.
#[derive(Debug)]
pub struct DecodedUplink {
    pub uplink: Uplink,
    pub received_at: DateTime<Utc>,
    pub device_id: Option<i64>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub readings: Vec<ReadingRow>,
}

/// A message that could not be parsed: kept with its raw bytes and the error.
#[derive(Debug)]
pub struct Rejected {
    pub source: &'static str,
    pub topic: String,
    pub payload: Vec<u8>,
    pub error: String,
    pub received_at: DateTime<Utc>,
}

impl Rejected {
    /// Builds a rejected message; text that PostgreSQL cannot store (NUL) is replaced,
    /// so keeping it cannot fail in turn.
    pub fn new(
        source: &'static str,
        topic: String,
        payload: Vec<u8>,
        error: String,
        received_at: DateTime<Utc>,
    ) -> Self {
        let clean = |s: String| {
            if s.contains('\0') {
                s.replace('\0', "\u{fffd}")
            } else {
                s
            }
        };
        Self { source, topic: clean(topic), payload, error: clean(error), received_at }
    }

    pub(crate) fn empty() -> Self {
        Self::new("", String::new(), Vec::new(), String::new(), DateTime::<Utc>::MIN_UTC)
    }
}

/// A network-server event with its device (if registered) and the readings it gives.
#[derive(Debug)]
pub struct DecodedEvent {
    pub event: LnsEvent,
    pub received_at: DateTime<Utc>,
    pub device_id: Option<i64>,
    pub readings: Vec<ReadingRow>,
}

/// What the writer stores for one message.
#[derive(Debug)]
pub enum Record {
    Uplink(Box<DecodedUplink>, Ack),
    Event(Box<DecodedEvent>, Ack),
    Rejected(Rejected, Ack),
}

impl Record {
    /// When roc42 received the message.
    pub fn received_at(&self) -> DateTime<Utc> {
        match self {
            Record::Uplink(u, _) => u.received_at,
            Record::Event(e, _) => e.received_at,
            Record::Rejected(r, _) => r.received_at,
        }
    }

    pub fn into_ack(self) -> Ack {
        match self {
            Record::Uplink(_, a) | Record::Event(_, a) | Record::Rejected(_, a) => a,
        }
    }
}

/// A running pipeline (decode stage and writer).
pub struct Pipeline {
    decode: JoinHandle<()>,
    writer: JoinHandle<()>,
    /// Cancelled once the writer has flushed and acked its last batch.
    pub drained: CancellationToken,
}

impl Pipeline {
    /// Starts the stages reading from `inbound`. They stop when `inbound` closes (the
    /// ingest side stops first), after the last batch is committed and acked; `abort`
    /// stops a writer stuck retrying an unavailable database, without acking.
    pub async fn start(
        cfg: &PipelineConfig,
        codecs: &CodecConfig,
        sealer: Option<Sealer>,
        pool: PgPool,
        inbound: mpsc::Receiver<Inbound>,
        abort: CancellationToken,
    ) -> anyhow::Result<Self> {
        let registry = registry::DeviceRegistry::load(pool.clone(), cfg.device_cache_ttl(), sealer).await?;
        let models = models::ModelCatalog::load(pool.clone(), codecs.model_cache_ttl()).await?;
        let js = Arc::new(JsPool::start(codecs.js_limits()).context("start the JS codec threads")?);
        let lookups = process::Lookups { registry, models, js };
        let (rec_tx, rec_rx) = mpsc::channel(cfg.channel_capacity);
        let decode = tokio::spawn(process::run(inbound, rec_tx, lookups, codecs.max_in_flight));
        let drained = CancellationToken::new();
        let writer = tokio::spawn(writer::run(rec_rx, pool, cfg.clone(), abort, drained.clone()));
        Ok(Self { decode, writer, drained })
    }

    /// Waits for both stages to end.
    pub async fn join(self) {
        let _ = self.decode.await;
        let _ = self.writer.await;
        info!("Pipeline drained.");
    }
}

impl PipelineConfig {
    pub fn device_cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.device_cache_ttl_s)
    }
}
