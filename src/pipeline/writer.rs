//! The batch writer: gathers records until `batch_max_uplinks` or `batch_max_wait`,
//! writes the batch in one transaction, and only after COMMIT acknowledges every message
//! of the batch, in arrival order.
//!
//! Transient database errors (connection lost, pool exhausted, serialization failure)
//! are retried with backoff and nothing is acked meanwhile. A permanent error in a batch
//! (a row the database refuses) is isolated by writing the records one by one; a record
//! that still fails is kept in `ingest_rejected` with the error, so nothing is dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{Record, Rejected};
use crate::config::PipelineConfig;
use crate::store;
use crate::telemetry::names;

/// Runs until `rx` closes (then flushes) or `abort` is cancelled while a write is being
/// retried (then stops without acking: the broker redelivers). Cancels `drained` at the end.
///
/// Up to `cfg.writers` batches are written at once, each in its own transaction on its
/// own connection, so the database works on one batch while the next is gathered and
/// sent; acknowledgements still go out strictly in arrival order: a batch is acked only
/// after every batch before it was.
pub async fn run(
    mut rx: mpsc::Receiver<Record>,
    pool: PgPool,
    cfg: PipelineConfig,
    abort: CancellationToken,
    drained: CancellationToken,
) {
    let max = cfg.batch_max_uplinks;
    let writers = cfg.writers.max(1);
    let mut batch: Vec<Record> = Vec::with_capacity(max);
    let mut deadline = None;
    let mut closed = false;
    let mut in_flight: VecDeque<JoinHandle<(bool, Vec<Record>)>> = VecDeque::new();
    loop {
        let ready =
            !batch.is_empty() && (batch.len() >= max || closed || deadline.is_some_and(|d| Instant::now() >= d));
        if ready && in_flight.len() < writers {
            let mut b = std::mem::replace(&mut batch, Vec::with_capacity(max));
            let (pool, abort) = (pool.clone(), abort.clone());
            in_flight.push_back(tokio::spawn(async move {
                let ok = write(&pool, &mut b, &abort).await;
                (ok, b)
            }));
            deadline = None;
            continue;
        }
        if closed && batch.is_empty() && in_flight.is_empty() {
            break;
        }
        let gather = !closed && batch.len() < max;
        let room = max.saturating_sub(batch.len()).max(1);
        let wait = deadline.filter(|_| !ready).map(tokio::time::Instant::from_std);
        tokio::select! {
            done = async {
                match in_flight.front_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            }, if !in_flight.is_empty() => {
                in_flight.pop_front();
                match done {
                    Ok((true, records)) => {
                        for record in records {
                            record.into_ack().send().await;
                        }
                    }
                    // Aborted (or the task failed): nothing after it may be acked either.
                    Ok((false, _)) => break,
                    Err(e) => {
                        error!(error = %e, "Batch write task failed; stopping the writer without acking.");
                        break;
                    }
                }
            }
            n = rx.recv_many(&mut batch, room), if gather => {
                if n == 0 {
                    closed = true;
                } else if deadline.is_none() {
                    deadline = Some(Instant::now() + cfg.batch_max_wait());
                }
            }
            _ = async {
                match wait {
                    Some(w) => tokio::time::sleep_until(w).await,
                    None => std::future::pending().await,
                }
            }, if wait.is_some() => {}
        }
    }
    for h in in_flight {
        h.abort();
    }
    debug!("Writer done.");
    drained.cancel();
}

/// Latency of a committed batch: from its oldest message's arrival, and from the network
/// time of its newest uplink (once per batch, not per message).
fn record_latency(batch: &[Record]) {
    let now = chrono::Utc::now();
    let seconds = |t: chrono::DateTime<chrono::Utc>| (now - t).num_milliseconds().max(0) as f64 / 1000.0;
    if let Some(oldest) = batch.iter().map(Record::received_at).min() {
        metrics::histogram!(names::COMMIT_LATENCY).record(seconds(oldest));
    }
    let newest = batch
        .iter()
        .filter_map(|r| match r {
            Record::Uplink(u, _) => Some(u.uplink.time),
            _ => None,
        })
        .max();
    if let Some(t) = newest {
        metrics::gauge!(names::INGEST_LAG).set(seconds(t));
    }
}

/// Writes `batch` until it is committed (true) or `abort` fires (false). Records the
/// database refuses for good are turned into `Rejected` records in place.
async fn write(pool: &PgPool, batch: &mut [Record], abort: &CancellationToken) -> bool {
    let mut backoff = Duration::from_millis(100);
    let mut outage = false;
    loop {
        let started = Instant::now();
        let result = store::batch::write(pool, batch).await;
        match result {
            Ok(stats) => {
                if outage {
                    info!("Database reachable again; writing resumed.");
                }
                metrics::histogram!(names::BATCH_SECONDS).record(started.elapsed().as_secs_f64());
                record_latency(batch);
                metrics::histogram!(names::BATCH_SIZE).record(batch.len() as f64);
                metrics::counter!(names::UPLINKS_COMMITTED).increment(stats.uplinks);
                metrics::counter!(names::READINGS).increment(stats.readings);
                debug!(
                    messages = batch.len(),
                    uplinks = stats.uplinks,
                    readings = stats.readings,
                    ms = started.elapsed().as_millis() as u64,
                    "Batch committed."
                );
                return true;
            }
            Err(e) if store::is_transient(&e) => {
                metrics::counter!(names::BATCH_ERRORS, "kind" => "transient").increment(1);
                if !outage {
                    error!(error = %e, messages = batch.len(), "Batch write failed; retrying without acking.");
                    outage = true;
                }
            }
            Err(e) => {
                metrics::counter!(names::BATCH_ERRORS, "kind" => "permanent").increment(1);
                warn!(error = %e, messages = batch.len(), "Batch refused; writing its records one by one.");
                match isolate(pool, batch).await {
                    Ok(()) => return true,
                    Err(e) => {
                        if !outage {
                            error!(error = %e, "Writing records one by one failed; retrying.");
                            outage = true;
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = abort.cancelled() => {
                warn!(messages = batch.len(), "Writer stopped before commit; the broker will redeliver.");
                return false;
            }
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Writes each record in its own transaction; a record refused for good becomes a
/// `Rejected` (raw frame and error) and is written as such.
async fn isolate(pool: &PgPool, batch: &mut [Record]) -> Result<(), sqlx::Error> {
    for record in batch.iter_mut() {
        match store::batch::write(pool, std::slice::from_ref(record)).await {
            Ok(_) => {}
            Err(e) if store::is_transient(&e) => return Err(e),
            Err(e) => {
                let taken = std::mem::replace(record, Record::Rejected(Rejected::empty(), crate::ingest::Ack::None));
                *record = into_rejected(taken, format!("database refused the record: {e}"));
                store::batch::write(pool, std::slice::from_ref(record)).await?;
            }
        }
    }
    Ok(())
}

/// Keeps what the database refused where an operator sees it (`ingest_rejected`).
fn into_rejected(record: Record, error: String) -> Record {
    match record {
        Record::Uplink(d, ack) => Record::Rejected(
            Rejected::new(
                d.uplink.lns,
                format!("device/{}/uplink/{}", d.uplink.dev_eui, d.uplink.dedup_key),
                d.uplink.payload,
                error,
                d.received_at,
            ),
            ack,
        ),
        Record::Event(d, ack) => Record::Rejected(
            Rejected::new(
                d.event.lns,
                format!("device/{}/event/{}/{}", d.event.dev_eui, d.event.kind, d.event.dedup_key),
                serde_json::to_vec(&d.event.body).unwrap_or_default(),
                error,
                d.received_at,
            ),
            ack,
        ),
        Record::Rejected(r, ack) => {
            let e = format!("{}; {error}", r.error);
            Record::Rejected(Rejected::new(r.source, r.topic, r.payload, e, r.received_at), ack)
        }
    }
}
