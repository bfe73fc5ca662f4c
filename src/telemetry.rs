//! Logs (`tracing`, text or JSON) and metrics (the `metrics` facade with a Prometheus
//! recorder, served at `/metrics`). Metric names are listed in [`names`].

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogConfig, LogFormat};

/// Installs the global log subscriber. Safe to call more than once (later calls no-op).
pub fn init_logs(cfg: &LogConfig) {
    let filter = EnvFilter::try_new(&cfg.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only if another recorder is installed, in which case ours just renders empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Metric names, in one place so dashboards and tests agree with the code.
pub mod names {
    /// Messages received from the broker, by `source`.
    pub const INGEST_RECEIVED: &str = "roc42_ingest_received_total";
    /// Broker (re)connections.
    pub const INGEST_CONNECTIONS: &str = "roc42_ingest_connections_total";
    /// Uplinks by decode `outcome`.
    pub const UPLINKS: &str = "roc42_uplinks_total";
    /// Messages that could not be parsed, kept in `ingest_rejected`.
    pub const REJECTED: &str = "roc42_ingest_rejected_total";
    /// Network-server events other than uplinks, by `kind` (join, status, log, ...).
    pub const EVENTS: &str = "roc42_lns_events_total";
    /// Readings committed.
    pub const READINGS: &str = "roc42_readings_committed_total";
    /// Uplinks committed (new rows; redeliveries are not counted).
    pub const UPLINKS_COMMITTED: &str = "roc42_uplinks_committed_total";
    /// Messages acknowledged to the broker after commit.
    pub const ACKED: &str = "roc42_ingest_acked_total";
    /// Batch size in messages.
    pub const BATCH_SIZE: &str = "roc42_batch_messages";
    /// Batch write time (seconds), transaction included.
    pub const BATCH_SECONDS: &str = "roc42_batch_write_seconds";
    /// Batch write attempts that failed, by `kind` (transient or permanent).
    pub const BATCH_ERRORS: &str = "roc42_batch_errors_total";
    /// Batches written again skipping duplicates after their plain insert met one (a
    /// redelivery).
    pub const BATCH_DUPLICATES: &str = "roc42_batch_duplicates_total";
    /// 1 while the MQTT consumer is connected and subscribed, else 0.
    pub const INGEST_CONNECTED: &str = "roc42_ingest_connected";
    /// MQTT messages received and not yet acknowledged (bounded by `mqtt.receive_maximum`).
    pub const ACKS_PENDING: &str = "roc42_ingest_acks_pending";
    /// Seconds from receiving a batch's oldest message to its commit.
    pub const COMMIT_LATENCY: &str = "roc42_commit_latency_seconds";
    /// Seconds between the network time of the newest uplink of the last batch committed
    /// and its commit: how far behind the network server the store is.
    pub const INGEST_LAG: &str = "roc42_ingest_lag_seconds";
}
