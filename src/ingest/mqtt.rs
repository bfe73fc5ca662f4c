//! The MQTT consumer: one MQTT 5 persistent session (stable client id, `clean_start =
//! false`, session expiry), QoS 1, manual acknowledgements sent only after commit.
//!
//! Broker guarantees this relies on: a message not acknowledged is redelivered when the
//! session resumes; the broker never has more than `receive_maximum` unacknowledged
//! messages out, which is what bounds memory here (back-pressure reaches the broker).
//! An `mqtts://` URL connects over TLS (see [`tls`]).

pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{Ack, Inbound};
use crate::config::MqttConfig;
use crate::telemetry::names;

/// Connection epochs, so an acknowledgement is never sent for a message of a session
/// the broker has since forgotten (its packet id could now name another message).
#[derive(Debug)]
struct Session {
    client: AsyncClient,
    /// Incremented at every ConnAck.
    epoch: AtomicU64,
    /// The last epoch whose ConnAck said the session was not present.
    fresh_since: AtomicU64,
    /// Messages received whose acknowledgement has not gone (sent, or dropped).
    pending: AtomicI64,
    /// Its gauge, registered once: it changes twice per message.
    pending_gauge: metrics::Gauge,
}

impl Session {
    fn pending_changed(&self, by: i64) {
        let now = self.pending.fetch_add(by, Ordering::AcqRel) + by;
        self.pending_gauge.set(now as f64);
    }
}

/// Whether the consumer is connected to the broker with its subscriptions acknowledged:
/// what `/ready` reports.
#[derive(Debug, Clone, Default)]
pub struct IngestStatus(Arc<AtomicBool>);

impl IngestStatus {
    pub fn connected(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, up: bool) {
        self.0.store(up, Ordering::Release);
        metrics::gauge!(names::INGEST_CONNECTED).set(if up { 1.0 } else { 0.0 });
    }
}

/// An acknowledgement waiting for its message to be committed.
#[derive(Debug)]
pub struct PendingAck {
    pkid: u16,
    qos: QoS,
    epoch: u64,
    session: Arc<Session>,
}

impl PendingAck {
    pub(super) async fn send(self) {
        // Acks of an older connection are only valid if the broker kept the session since.
        if self.session.fresh_since.load(Ordering::Acquire) > self.epoch {
            debug!(pkid = self.pkid, "Ack dropped: its session is gone, the broker redelivers.");
            return;
        }
        // rumqttc acks a Publish; only its packet id and QoS matter.
        let publish = Publish {
            dup: false,
            qos: self.qos,
            retain: false,
            topic: bytes::Bytes::new(),
            pkid: self.pkid,
            payload: bytes::Bytes::new(),
            properties: None,
        };
        if let Err(e) = self.session.client.ack(&publish).await {
            // Only when the event loop is gone (shutdown): the broker redelivers.
            debug!(error = %e, "Ack not sent.");
            return;
        }
        metrics::counter!(names::ACKED).increment(1);
    }
}

impl Drop for PendingAck {
    // Sent or not (a dropped ack is redelivered by the broker), it no longer waits.
    fn drop(&mut self) {
        self.session.pending_changed(-1);
    }
}

/// A running consumer.
pub struct Consumer {
    session: Arc<Session>,
    eventloop: EventLoop,
    subscriptions: Vec<String>,
    /// Cancelled once the broker has acknowledged every subscription of the first session.
    subscribed: CancellationToken,
    status: IngestStatus,
    /// Messages held here while the pipeline is full, at most (the receive window).
    hold_max: usize,
}

impl Consumer {
    /// Prepares the session; nothing is sent until [`Consumer::run`]. `pipeline_holds`:
    /// how many messages the pipeline behind it can hold, all stages together.
    pub fn new(cfg: &MqttConfig, pipeline_holds: usize) -> anyhow::Result<Self> {
        let mut o = options(cfg, &cfg.client_id)?;
        o.set_clean_start(false)
            .set_session_expiry_interval(Some(cfg.session_expiry_s))
            .set_manual_acks(true)
            .set_receive_maximum(Some(cfg.receive_maximum))
            .set_keep_alive(Duration::from_secs(cfg.keep_alive_s.max(5)))
            .set_max_packet_size(Some(1024 * 1024));
        // Committing must never wait on this channel: the acks it carries leave only when
        // the consumer polls, and the consumer may be holding back from reading while the
        // pipeline is full. It holds acks (about 40 bytes each), not messages: at least
        // one for everything the pipeline and the consumer can hold, and, since rumqttc
        // serves incoming packets before queued requests while a broker that overruns the
        // window keeps sending, room for a million more.
        let hold_max = usize::from(cfg.receive_maximum);
        let cap = (pipeline_holds + 2 * hold_max + 64).max(1 << 20);
        let (client, eventloop) = AsyncClient::new(o, cap);
        let session = Arc::new(Session {
            client,
            epoch: AtomicU64::new(0),
            fresh_since: AtomicU64::new(0),
            pending: AtomicI64::new(0),
            pending_gauge: metrics::gauge!(names::ACKS_PENDING),
        });
        Ok(Self {
            session,
            eventloop,
            subscriptions: cfg.subscriptions(),
            subscribed: CancellationToken::new(),
            status: IngestStatus::default(),
            hold_max,
        })
    }

    /// Connected and subscribed, or not; follows reconnections.
    pub fn status(&self) -> IngestStatus {
        self.status.clone()
    }

    /// Cancelled once the broker has acknowledged every subscription (the first time):
    /// from then on, what is published to the topics reaches this consumer.
    pub fn subscribed(&self) -> CancellationToken {
        self.subscribed.clone()
    }

    /// Reads the broker until `stop` is cancelled, sending each message to `tx`.
    /// Then keeps the connection up (so the last acks go out) until `drained` is
    /// cancelled or a grace period passes, and disconnects.
    pub async fn run(mut self, tx: mpsc::Sender<Inbound>, stop: CancellationToken, drained: CancellationToken) {
        let mut outage_logged = false;
        let mut backoff = Duration::from_millis(200);
        // SubAcks still awaited since the last ConnAck.
        let mut pending_subacks = 0usize;
        // Messages received that the pipeline has no room for yet. The event loop is
        // polled all the same: acknowledgements of committed batches only leave through
        // it, and so do keep-alive pings. Waiting on a full pipeline without polling
        // stalled the writer's acks behind this loop (a deadlock, seen with `roc42 bench`)
        // and let the broker drop the connection after 1.5 keep-alives.
        //
        // The broker's receive window should bound this queue, but Mosquitto 2.0.11
        // overruns it once acknowledgements flow (measured: 23,000 unacknowledged with a
        // window of 8,192; its issue #2301). So reading stops while a whole window waits
        // here; the acks channel holds an ack for everything the pipeline can hold, so
        // the pipeline drains meanwhile, and reading resumes.
        let mut waiting: std::collections::VecDeque<Inbound> = std::collections::VecDeque::new();
        loop {
            let ev = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                permit = tx.reserve(), if !waiting.is_empty() => {
                    match (permit, waiting.pop_front()) {
                        (Ok(permit), Some(inbound)) => permit.send(inbound),
                        _ => break,
                    }
                    continue;
                }
                ev = self.eventloop.poll(), if waiting.len() < self.hold_max => ev,
            };
            match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff = Duration::from_millis(200);
                    outage_logged = false;
                    if ack.code != ConnectReturnCode::Success {
                        error!(code = ?ack.code, "Broker refused the connection.");
                        continue;
                    }
                    let epoch = self.session.epoch.fetch_add(1, Ordering::AcqRel) + 1;
                    if !ack.session_present {
                        self.session.fresh_since.store(epoch, Ordering::Release);
                    }
                    metrics::counter!(names::INGEST_CONNECTIONS).increment(1);
                    info!(session_present = ack.session_present, subscriptions = ?self.subscriptions, "Connected to the broker.");
                    // rumqttc does not resubscribe by itself, and a broker may have lost the
                    // session even when it says otherwise: subscribe on every ConnAck.
                    pending_subacks = 0;
                    for filter in &self.subscriptions {
                        match self.session.client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                            Ok(()) => pending_subacks += 1,
                            Err(e) => warn!(error = %e, filter, "Subscribe request failed."),
                        }
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(s))) => {
                    debug!(reasons = ?s.return_codes, "Subscribed.");
                    pending_subacks = pending_subacks.saturating_sub(1);
                    if pending_subacks == 0 {
                        self.subscribed.cancel();
                        self.status.set(true);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let Some(inbound) = self.inbound(p) else {
                        continue;
                    };
                    // In arrival order: behind whatever already waits.
                    if waiting.is_empty() {
                        match tx.try_send(inbound) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(inbound)) => waiting.push_back(inbound),
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    } else {
                        waiting.push_back(inbound);
                    }
                }
                Ok(Event::Incoming(Packet::Disconnect(d))) => {
                    self.status.set(false);
                    warn!(reason = ?d.reason_code, "Broker disconnected us.");
                }
                Ok(_) => {}
                Err(e) => {
                    self.status.set(false);
                    if !outage_logged {
                        error!(error = %e, "Broker connection lost; reconnecting.");
                        outage_logged = true;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        drop(tx);
        self.status.set(false);
        self.finish(drained).await;
    }

    fn inbound(&self, p: Publish) -> Option<Inbound> {
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        metrics::counter!(names::INGEST_RECEIVED, "source" => "mqtt").increment(1);
        let ack = if p.qos == QoS::AtMostOnce {
            Ack::None
        } else {
            self.session.pending_changed(1);
            Ack::Mqtt(PendingAck {
                pkid: p.pkid,
                qos: p.qos,
                epoch: self.session.epoch.load(Ordering::Acquire),
                session: self.session.clone(),
            })
        };
        Some(Inbound { source: "mqtt", topic, payload: p.payload, received_at: Utc::now(), ack })
    }

    /// Shutdown: keep polling (acks only leave through the event loop) without taking new
    /// messages, until the pipeline has acked its last batch; then disconnect.
    async fn finish(mut self, drained: CancellationToken) {
        let grace = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                _ = drained.cancelled() => break,
                _ = &mut grace => { warn!("Pipeline did not drain in time; unacked messages will be redelivered."); break }
                ev = self.eventloop.poll() => if ev.is_err() { break },
            }
        }
        let _ = self.session.client.disconnect().await;
        let flush = async {
            while let Ok(ev) = self.eventloop.poll().await {
                if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
        info!("Disconnected from the broker.");
    }
}

/// Connection options for `cfg`'s broker under `client_id`: address, TLS when the URL
/// is `mqtts://` (no fallback to plain TCP), credentials.
pub fn options(cfg: &MqttConfig, client_id: &str) -> anyhow::Result<MqttOptions> {
    let broker = cfg.broker()?;
    let mut o = MqttOptions::new(client_id, broker.host, broker.port);
    if broker.tls {
        let tls = tls::client_config(&cfg.tls).context("TLS settings of the broker")?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    }
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    Ok(o)
}

/// A QoS 1 publisher (simulator, bench, tests) with a count of the publishes the
/// broker acknowledged; what the broker did not acknowledge before a lost connection is
/// published again after it.
pub struct Publisher {
    pub client: AsyncClient,
    /// PUBACKs received from the broker.
    pub acked: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Connects to `url` (no credentials; `mqtts://` trusts the system roots) and returns
    /// once the broker accepted the connection.
    pub async fn connect(url: &str, client_id: &str, cap: usize) -> anyhow::Result<Self> {
        Self::connect_with(&MqttConfig { url: url.to_owned(), ..MqttConfig::default() }, client_id, cap).await
    }

    /// Connects to `cfg`'s broker with its TLS settings and credentials (its client id,
    /// topic and session settings are the consumer's, not used here), and returns once
    /// the broker accepted the connection.
    pub async fn connect_with(cfg: &MqttConfig, client_id: &str, cap: usize) -> anyhow::Result<Self> {
        let url = &cfg.url;
        let mut o = options(cfg, client_id)?;
        // A session the broker keeps for 5 minutes: after a reconnection (the broker
        // restarted), rumqttc publishes again what the broker had not acknowledged; with
        // a new session it would drop those, as a QoS 1 publisher must not.
        o.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(Some(1024 * 1024))
            .set_clean_start(false)
            .set_session_expiry_interval(Some(300));
        let (client, mut el) = AsyncClient::new(o, cap);
        let acked = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let counter = acked.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(rumqttc::v5::ConnectionError::RequestsDone) => break,
                    Err(e) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(e));
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        ready_rx.await.context("publisher event loop ended")?.with_context(|| format!("connect to broker {url}"))?;
        Ok(Self { client, acked, task })
    }

    /// Publishes at QoS 1 (waits only for room in the request queue).
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> anyhow::Result<()> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.context("publish")
    }

    /// Waits until the broker acknowledged `n` publishes in all, or `timeout` passes.
    pub async fn wait_acked(&self, n: u64, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.acked.load(Ordering::Relaxed) < n {
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("broker acknowledged {} of {n} publishes", self.acked.load(Ordering::Relaxed));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Disconnects cleanly.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}
