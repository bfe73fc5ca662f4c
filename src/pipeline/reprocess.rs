//! Decoding stored uplinks again from their raw frames, with the devices and models as
//! they are now: when an unknown device is claimed (its queued uplinks become readings),
//! when a device is registered after its uplinks arrived (the [`sweep`]), and after a
//! decoder fix. Idempotent: running it twice stores the same outcomes and readings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use roc42_decoders::js::{JsLimits, JsPool};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use utoipa::ToSchema;

use super::models::ModelCatalog;
use super::process::{self, Decoded};
use super::registry::DeviceRef;
use super::DecodedUplink;
use crate::custody::Sealer;
use crate::ingest::Uplink;
use crate::lorawan::DevEui;
use crate::store::batch::ReadingCols;
use crate::store::uplink::{self, Redecoded, Selection, StoredUplink};
use crate::store::{self};

/// Uplinks decoded and written per transaction.
const PAGE: i64 = 2000;

/// What a reprocessing run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReprocessSummary {
    /// Stored uplinks decoded again.
    pub uplinks: u64,
    /// ...that now decode.
    pub decoded: u64,
    /// ...whose frame the decoder refused (`decode_failed`), or still encrypted, or of a
    /// model without decoder.
    pub failed: u64,
    /// ...that are still of no device in service.
    pub unknown: u64,
    /// Readings written (new, or corrected).
    pub readings: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReprocessError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("start a JS codec thread: {0}")]
    Js(#[source] std::io::Error),
}

/// Decodes stored uplinks again.
#[derive(Clone)]
pub struct Reprocessor {
    pool: PgPool,
    sealer: Option<Sealer>,
    js_limits: JsLimits,
}

impl Reprocessor {
    /// `sealer` opens the AppSKeys of devices whose frames were stored encrypted;
    /// `js_limits` bound the JS codecs (one thread is used).
    pub fn new(pool: PgPool, sealer: Option<Sealer>, js_limits: JsLimits) -> Self {
        Self { pool, sealer, js_limits: JsLimits { threads: 1, ..js_limits } }
    }

    /// How many stored uplinks `sel` selects (for a progress bar).
    pub async fn count(&self, sel: &Selection) -> Result<i64, sqlx::Error> {
        uplink::count_selected(&self.pool, sel).await
    }

    /// Decodes the uplinks of `sel` again, oldest first, a page per transaction;
    /// `on_progress` gets the uplinks done so far after each page.
    pub async fn run(
        &self,
        sel: &Selection,
        mut on_progress: impl FnMut(u64),
    ) -> Result<ReprocessSummary, ReprocessError> {
        let mut models = ModelCatalog::load(self.pool.clone(), Duration::from_secs(3600)).await?;
        let mut devices: HashMap<DevEui, Option<DeviceRef>> = HashMap::new();
        let mut js: Option<Arc<JsPool>> = None;
        let mut summary = ReprocessSummary::default();
        let mut after = None;
        loop {
            let page = uplink::page(&self.pool, sel, after.clone(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.time, last.dedup_key.clone()));
            let mut up = Redecoded::default();
            let mut rd = ReadingCols::default();
            for stored in page {
                let Some(u) = to_uplink(stored) else { continue };
                let device = match devices.get(&u.dev_eui) {
                    Some(d) => d.clone(),
                    None => {
                        let d = store::device::get_ref(&self.pool, u.dev_eui)
                            .await?
                            .map(|s| DeviceRef::from_stored(u.dev_eui, s, self.sealer.as_ref()));
                        devices.insert(u.dev_eui, d.clone());
                        d
                    }
                };
                let model = match &device {
                    Some(d) => models.get(&d.model).await?,
                    None => None,
                };
                let received_at = Utc::now();
                let d = match process::decode(u, device, model.as_deref(), received_at) {
                    Decoded::Done(d) => d,
                    Decoded::Js(mut d, codec, bytes, decrypted) => {
                        let pool = match &js {
                            Some(p) => Arc::clone(p),
                            None => {
                                let p = Arc::new(JsPool::start(self.js_limits).map_err(ReprocessError::Js)?);
                                js = Some(Arc::clone(&p));
                                p
                            }
                        };
                        let input = roc42_decoders::js::JsInput {
                            f_port: d.uplink.f_port,
                            bytes,
                            recv_time_ms: d.uplink.time.timestamp_millis(),
                        };
                        let result = tokio::task::spawn_blocking(move || pool.decode_blocking(codec, input))
                            .await
                            .unwrap_or_else(|_| Err(roc42_decoders::DecodeError::Codec("a JS worker stopped".into())));
                        process::finish(&mut d, result, decrypted);
                        d
                    }
                };
                tally(&mut summary, &d);
                push(&mut up, &mut rd, d);
            }
            let mut tx = self.pool.begin().await?;
            summary.readings += uplink::store_redecoded(&mut tx, &up, &rd).await?;
            tx.commit().await?;
            on_progress(summary.uplinks);
        }
        Ok(summary)
    }
}

/// An uplink as stored, in the shape the decode step takes (radio metadata is not needed).
fn to_uplink(s: StoredUplink) -> Option<Uplink> {
    let dev_eui = match s.dev_eui.parse::<DevEui>() {
        Ok(eui) => eui,
        Err(e) => {
            // The table's CHECK-free column came from an adapter that validated it.
            warn!(dev_eui = %s.dev_eui, error = %e, "Stored uplink with an unreadable DevEUI skipped.");
            return None;
        }
    };
    Some(Uplink {
        lns: "stored",
        dedup_key: s.dedup_key,
        time: s.time,
        dev_eui,
        dev_addr: s.dev_addr,
        f_cnt: s.f_cnt.and_then(|f| u32::try_from(f).ok()),
        f_port: u8::try_from(s.f_port).unwrap_or(0),
        payload: s.payload,
        encrypted: s.encrypted,
        rx: Vec::new(),
        tx: None,
        lns_object: None,
    })
}

fn tally(s: &mut ReprocessSummary, d: &DecodedUplink) {
    use super::Outcome;
    s.uplinks += 1;
    match d.outcome {
        Outcome::Decoded | Outcome::MacOnly => s.decoded += 1,
        Outcome::UnknownDevice => s.unknown += 1,
        Outcome::DecodeFailed | Outcome::UnknownModel | Outcome::Encrypted => s.failed += 1,
    }
}

fn push(up: &mut Redecoded, rd: &mut ReadingCols, d: DecodedUplink) {
    if let Some(id) = d.device_id {
        rd.push_all(id, &d.readings);
    }
    up.time.push(d.uplink.time);
    up.dedup_key.push(d.uplink.dedup_key);
    up.device_id.push(d.device_id);
    up.outcome.push(d.outcome.as_str());
    up.error.push(d.error);
    up.readings.push(i16::try_from(d.readings.len()).unwrap_or(i16::MAX));
}

/// How far back the sweep looks for uplinks of devices registered after them.
pub const SWEEP_WINDOW: TimeDelta = TimeDelta::days(7);

/// Every `every`, decodes again the uplinks of the last [`SWEEP_WINDOW`] kept as
/// `unknown_device` whose DevEUI a device in service now has: a device imported or
/// created after its first uplinks, or claimed while the decode stage's cache still said
/// unknown. Runs until `stop`.
pub async fn sweep(reprocessor: Reprocessor, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let since = Utc::now() - SWEEP_WINDOW;
        let euis = match uplink::claimed_since(&reprocessor.pool, since).await {
            Ok(e) if e.is_empty() => continue,
            Ok(e) => e,
            Err(e) => {
                debug!(error = %e, "Claimed-device sweep: lookup failed; next time.");
                continue;
            }
        };
        let sel = Selection {
            dev_euis: Some(euis.clone()),
            from: Some(since),
            outcome: Some(super::Outcome::UnknownDevice.as_str()),
            ..Selection::default()
        };
        match reprocessor.run(&sel, |_| {}).await {
            Ok(s) => info!(
                devices = euis.len(),
                uplinks = s.uplinks,
                readings = s.readings,
                "Decoded the stored uplinks of newly registered devices."
            ),
            Err(e) => warn!(error = %e, "Claimed-device sweep failed; next time."),
        }
    }
}
