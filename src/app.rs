//! Wiring only: connect the pool and migrate, start the stages (MQTT consumer, pipeline,
//! API), and shut them down in order: stop reading the broker, drain decode, flush and
//! ack the last batch, finish HTTP requests, close the pool.

use std::net::SocketAddr;

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::analytics::Upkeep;
use crate::api::webhooks::Webhooks;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::mqtt::Consumer;
use crate::ingest::Inbound;
use crate::pipeline::reprocess::{self, Reprocessor};
use crate::pipeline::Pipeline;
use crate::{store, telemetry};

/// Connects to the database (creating it if needed) and applies migrations.
pub async fn database(cfg: &Config) -> anyhow::Result<PgPool> {
    let pool = store::connect(&cfg.database).await?;
    store::migrate(&pool).await?;
    Ok(pool)
}

/// The ingest side running: MQTT consumer and pipeline.
pub struct Ingest {
    stop: CancellationToken,
    abort: CancellationToken,
    consumer: JoinHandle<()>,
    pipeline: Pipeline,
    sweep: JoinHandle<()>,
    upkeep: Upkeep,
    inbound: mpsc::WeakSender<Inbound>,
    subscribed: CancellationToken,
    status: crate::ingest::mqtt::IngestStatus,
}

impl Ingest {
    /// Starts the pipeline and the MQTT consumer feeding it.
    pub async fn start(cfg: &Config, pool: PgPool) -> anyhow::Result<Self> {
        // The recorder must exist before the first event is counted.
        telemetry::metrics();
        let (tx, rx) = mpsc::channel(cfg.pipeline.channel_capacity);
        let inbound = tx.downgrade();
        let abort = CancellationToken::new();
        let sealer = crate::custody::Sealer::from_config(cfg.keys.master_key.as_deref())?;
        let reprocessor = Reprocessor::new(pool.clone(), sealer.clone(), cfg.codecs.js_limits());
        let pool_for_upkeep = pool.clone();
        let pipeline = Pipeline::start(&cfg.pipeline, &cfg.codecs, sealer, pool, rx, abort.clone()).await?;
        // Every message inside the pipeline may have its acknowledgement queued at once.
        let p = &cfg.pipeline;
        let holds = 2 * p.channel_capacity + cfg.codecs.max_in_flight + (p.writers + 1) * p.batch_max_uplinks;
        let consumer = Consumer::new(&cfg.mqtt, holds)?;
        let stop = CancellationToken::new();
        let subscribed = consumer.subscribed();
        let status = consumer.status();
        let consumer = tokio::spawn(consumer.run(tx, stop.clone(), pipeline.drained.clone()));
        // Uplinks stored as unknown_device while the decode stage's cache still said
        // unknown, or before their device was imported, are decoded once it is registered.
        let sweep = tokio::spawn(reprocess::sweep(reprocessor, cfg.pipeline.device_cache_ttl(), stop.clone()));
        // Rollups follow what the pipeline commits; retention and alerts run beside it.
        let upkeep = Upkeep::start(&cfg.analytics, pool_for_upkeep);
        Ok(Self { stop, abort, consumer, pipeline, sweep, upkeep, inbound, subscribed, status })
    }

    /// Resolves once the broker has acknowledged the consumer's subscriptions: what is
    /// published from then on is delivered (before, a new session would miss it).
    pub async fn subscribed(&self) {
        self.subscribed.cancelled().await;
    }

    /// Whether the MQTT consumer is connected and subscribed (for `/ready`).
    pub fn status(&self) -> crate::ingest::mqtt::IngestStatus {
        self.status.clone()
    }

    /// The pipeline's inbound channel, for the webhooks. Weak: once the MQTT consumer
    /// stops, the channel closes and the pipeline drains whatever the HTTP side holds.
    pub fn inbound(&self) -> mpsc::WeakSender<Inbound> {
        self.inbound.clone()
    }

    /// Graceful stop: no new messages, the last batch committed and acked.
    pub async fn shutdown(self) {
        self.stop.cancel();
        // A writer stuck retrying an unreachable database gives up after a grace period;
        // what it held is redelivered by the broker.
        let abort = self.abort.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            abort.cancel();
        });
        self.pipeline.join().await;
        let _ = self.consumer.await;
        let _ = self.sweep.await;
        self.upkeep.shutdown().await;
        timer.abort();
    }
}

/// The HTTP API running.
pub struct Http {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Http {
    /// The API on `cfg.http.addr` with the webhook routes disabled.
    pub async fn start(cfg: &Config, pool: PgPool) -> anyhow::Result<Self> {
        Self::start_with(cfg, pool, Webhooks::default()).await
    }

    /// The API of a process that ingests: webhooks feeding `ingest`'s pipeline (when their
    /// secrets are set), and `/ready` following its broker connection.
    pub async fn start_for(cfg: &Config, pool: PgPool, ingest: &Ingest) -> anyhow::Result<Self> {
        let webhooks = Webhooks::new(&cfg.webhooks, Some(ingest.inbound()));
        Self::start_inner(cfg, pool, webhooks, Some(ingest.status())).await
    }

    /// The API on `cfg.http.addr` with `webhooks` (see [`Webhooks::new`]), the master key
    /// and codec limits of `cfg`.
    pub async fn start_with(cfg: &Config, pool: PgPool, webhooks: Webhooks) -> anyhow::Result<Self> {
        Self::start_inner(cfg, pool, webhooks, None).await
    }

    async fn start_inner(
        cfg: &Config,
        pool: PgPool,
        webhooks: Webhooks,
        ingest: Option<crate::ingest::mqtt::IngestStatus>,
    ) -> anyhow::Result<Self> {
        let addr = cfg.http.addr;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let state = AppState {
            webhooks,
            sealer: crate::custody::Sealer::from_config(cfg.keys.master_key.as_deref())?,
            js_limits: cfg.codecs.js_limits(),
            pages: cfg.pages.clone(),
            ingest,
            ..AppState::new(pool)
        };
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(api::serve(listener, api::router(state), async move { s.cancelled().await }));
        info!(%addr, "API listening.");
        Ok(Self { addr, stop, task })
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// `roc42 serve`: everything until SIGINT/SIGTERM.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let pool = database(&cfg).await?;
    let ingest = Ingest::start(&cfg, pool.clone()).await?;
    let http = Http::start_for(&cfg, pool.clone(), &ingest).await?;
    shutdown_signal().await;
    info!("Shutting down.");
    ingest.shutdown().await;
    http.shutdown().await;
    pool.close().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
