//! The configuration tree: a TOML file (optional) plus environment overrides, with
//! defaults that work on a development machine (local PostgreSQL and Mosquitto).
//! `deploy/config/example.toml` documents every setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// Everything roc42 can be told.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub mqtt: MqttConfig,
    pub pipeline: PipelineConfig,
    pub codecs: CodecConfig,
    pub keys: KeysConfig,
    pub http: HttpConfig,
    pub pages: PagesConfig,
    pub webhooks: WebhookConfig,
    pub analytics: AnalyticsConfig,
    pub log: LogConfig,
}

/// PostgreSQL with TimescaleDB.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connection URL; env `DATABASE_URL`. Default `postgres://postgres@127.0.0.1:5432/roc42`.
    /// The database is created if it does not exist.
    pub url: String,
    /// Pool size. Default 8.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:5432/roc42".into(), max_connections: 8 }
    }
}

/// The MQTT broker the network server publishes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker URL: `mqtt://host:port` (plain TCP, default port 1883; `tcp://` is the
    /// same) or `mqtts://host:port` (TLS, default port 8883, see [`MqttTlsConfig`]);
    /// env `ROC42_MQTT_URL`. Default `mqtt://127.0.0.1:1883`.
    pub url: String,
    /// Client id of the persistent session: keep it stable across restarts, or the broker
    /// forgets what was not acknowledged. Env `ROC42_MQTT_CLIENT_ID`. Default `roc42-ingest`.
    pub client_id: String,
    /// Topic filters subscribed to; each message is parsed by the adapter its topic names
    /// (ChirpStack v4 `.../device/{dev_eui}/event/{event}`, The Things Stack
    /// `.../v3/{app}/devices/{device}/up`, ThingPark `.../uplink`). Default: every
    /// ChirpStack v4 event, `["application/+/device/+/event/+"]` (the others' filters
    /// depend on the operator's bridge prefix or topic pattern, so none is guessed).
    pub topics: Vec<String>,
    /// Shared-subscription group: when set, subscribes to `$share/<group>/<topic>` so
    /// several roc42 instances split the load. Env `ROC42_MQTT_SHARED_GROUP`. Default none.
    pub shared_group: Option<String>,
    /// How long the broker keeps the session (and queues messages) while roc42 is away,
    /// in seconds. Default 604800 (7 days).
    pub session_expiry_s: u32,
    /// Most unacknowledged messages the broker may send at once (MQTT 5 receive maximum):
    /// bounds what is in flight inside roc42. Default 8192.
    pub receive_maximum: u16,
    /// Keep-alive interval in seconds. Default 30.
    pub keep_alive_s: u64,
    /// Username; env `ROC42_MQTT_USERNAME`. Default none.
    pub username: Option<String>,
    /// Password; env `ROC42_MQTT_PASSWORD` (prefer the environment for secrets). Default none.
    pub password: Option<String>,
    /// TLS settings of an `mqtts://` URL (`[mqtt.tls]`).
    pub tls: MqttTlsConfig,
}

/// TLS to the broker, used when `mqtt.url` is `mqtts://` (rustls; TLS 1.2 and 1.3).
/// Setting any of it with a plain `mqtt://` URL is an error, so a typo in the scheme
/// never silently sends credentials in clear.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttTlsConfig {
    /// PEM file of the CA certificate(s) the broker's certificate must chain to; env
    /// `ROC42_MQTT_CA_FILE`. Default none: the operating system's trust store
    /// (on Debian, `/etc/ssl/certs` from the `ca-certificates` package).
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain, for brokers that require one
    /// (`require_certificate true` in Mosquitto); env `ROC42_MQTT_CLIENT_CERT_FILE`.
    /// Set both this and `client_key_file`, or neither. Default none.
    pub client_cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1); env
    /// `ROC42_MQTT_CLIENT_KEY_FILE`. Default none.
    pub client_key_file: Option<PathBuf>,
    /// Name the broker's certificate must carry, when it differs from the URL's host
    /// (e.g. the URL names an IP address or an internal alias). Default: the URL's host.
    pub server_name: Option<String>,
}

impl MqttTlsConfig {
    fn is_set(&self) -> bool {
        self.ca_file.is_some()
            || self.client_cert_file.is_some()
            || self.client_key_file.is_some()
            || self.server_name.is_some()
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "roc42-ingest".into(),
            topics: vec!["application/+/device/+/event/+".into()],
            shared_group: None,
            session_expiry_s: 7 * 24 * 3600,
            receive_maximum: 8192,
            keep_alive_s: 30,
            username: None,
            password: None,
            tls: MqttTlsConfig::default(),
        }
    }
}

impl MqttConfig {
    /// Checks the URL and, for `mqtts://`, loads the TLS files now, so a missing file or a
    /// bad PEM stops roc42 at startup rather than at its first connection.
    pub fn validate(&self) -> anyhow::Result<()> {
        let broker = self.broker()?;
        if broker.tls {
            crate::ingest::mqtt::tls::client_config(&self.tls)?;
        } else if self.tls.is_set() {
            anyhow::bail!("mqtt.tls is set but mqtt.url {:?} is plain MQTT: use mqtts://host:port for TLS", self.url);
        }
        Ok(())
    }

    /// The filters actually subscribed to, with the shared-subscription prefix if any.
    pub fn subscriptions(&self) -> Vec<String> {
        self.topics
            .iter()
            .map(|t| match &self.shared_group {
                Some(g) => format!("$share/{g}/{t}"),
                None => t.clone(),
            })
            .collect()
    }

    /// Host and port from `url`.
    pub fn host_port(&self) -> anyhow::Result<(String, u16)> {
        broker_host_port(&self.url)
    }

    /// Host, port and transport from `url`.
    pub fn broker(&self) -> anyhow::Result<BrokerAddr> {
        BrokerAddr::parse(&self.url)
    }
}

/// Where the broker listens, as `mqtt.url` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS.
    pub tls: bool,
}

impl BrokerAddr {
    /// Parses `mqtt://host:port`, `tcp://host:port` or a bare `host:port` (plain, default
    /// port 1883) and `mqtts://host:port` (TLS, default port 8883).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let (rest, tls) = if let Some(r) = url.strip_prefix("mqtts://") {
            (r, true)
        } else {
            (url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).unwrap_or(url), false)
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains("://") {
            anyhow::bail!("unsupported broker URL scheme in {url:?} (use mqtt://host:port or mqtts://host:port)");
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().with_context(|| format!("bad port in broker URL {url:?}"))?),
            None => (rest, default_port),
        };
        if host.is_empty() {
            anyhow::bail!("no host in broker URL {url:?}");
        }
        Ok(Self { host: host.to_owned(), port, tls })
    }
}

/// Splits a broker URL (see [`BrokerAddr::parse`]) into host and port.
pub fn broker_host_port(url: &str) -> anyhow::Result<(String, u16)> {
    BrokerAddr::parse(url).map(|b| (b.host, b.port))
}

/// The stages between the broker and the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// A batch is written when it holds this many uplinks. Default 4000.
    pub batch_max_uplinks: usize,
    /// ...or when its first uplink has waited this long, in milliseconds. Default 200.
    pub batch_max_wait_ms: u64,
    /// Capacity of each channel between stages, in messages. Default 16384 (it must exceed
    /// `mqtt.receive_maximum`, so the broker, not a full channel, is what holds messages back).
    pub channel_capacity: usize,
    /// How long a device-registry lookup (hit or miss) is cached, in seconds. Default 30.
    pub device_cache_ttl_s: u64,
    /// Batches written at once, each on its own connection (acks stay in arrival
    /// order). Must be below `database.max_connections`. Default 2.
    pub writers: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_max_uplinks: 4000,
            batch_max_wait_ms: 200,
            channel_capacity: 16384,
            device_cache_ttl_s: 30,
            writers: 2,
        }
    }
}

impl PipelineConfig {
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }
}

/// Key custody.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Master key that seals device AppSKeys at rest (AES-256-GCM), 64 hex digits; env
    /// `ROC42_MASTER_KEY` (prefer it: keep the key out of files). Default none: roc42 then
    /// holds no AppSKey, and frames the network server forwards encrypted are kept as
    /// such (outcome `encrypted`). Generate one with `openssl rand -hex 32`.
    pub master_key: Option<String>,
}

/// Device models added at run time and their sandboxed JS codecs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodecConfig {
    /// Threads running JS codecs, one QuickJS runtime each. Default 2.
    pub js_threads: usize,
    /// Time limit of one codec call, in milliseconds. Default 100 (as ChirpStack).
    pub js_time_limit_ms: u64,
    /// Memory limit of each JS runtime, in MiB. Default 32.
    pub js_memory_limit_mib: usize,
    /// Uplinks the decode stage holds while their JS codecs run (order is kept). Default 1024.
    pub max_in_flight: usize,
    /// Seconds between reloads of the models operators added (a changed codec is used
    /// within this delay; a device of a model not yet loaded triggers a reload). Default 30.
    pub model_cache_ttl_s: u64,
}

impl Default for CodecConfig {
    fn default() -> Self {
        Self {
            js_threads: 2,
            js_time_limit_ms: 100,
            js_memory_limit_mib: 32,
            max_in_flight: 1024,
            model_cache_ttl_s: 30,
        }
    }
}

impl CodecConfig {
    pub fn js_limits(&self) -> roc42_decoders::js::JsLimits {
        roc42_decoders::js::JsLimits {
            time: Duration::from_millis(self.js_time_limit_ms),
            memory_bytes: self.js_memory_limit_mib.saturating_mul(1 << 20),
            threads: self.js_threads,
            ..roc42_decoders::js::JsLimits::default()
        }
    }

    pub fn model_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.model_cache_ttl_s)
    }
}

/// The HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address; env `ROC42_HTTP_ADDR`. Default `127.0.0.1:8080`.
    pub addr: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { addr: SocketAddr::from(([127, 0, 0, 1], 8080)) }
    }
}

/// The built-in pages (`/ui/`): maps, sites, fleet health.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// Map tiles, a `{z}/{x}/{y}` URL template (`{s}` for subdomains); env
    /// `ROC42_TILE_URL`. Empty: no tiles, sites and devices on a plain background (as
    /// when the browser cannot reach the tile server). Default OpenStreetMap's
    /// `https://tile.openstreetmap.org/{z}/{x}/{y}.png`: mind its usage policy, and run
    /// your own tile server for heavy use.
    pub tile_url: String,
    /// Attribution shown on the map for those tiles (HTML allowed). Default
    /// `&copy; OpenStreetMap contributors`.
    pub tile_attribution: String,
    /// How long a login lasts, in hours. Default 12.
    pub session_hours: u32,
    /// Mark the session cookie `Secure` (sent over HTTPS only): set it when roc42 is served
    /// over HTTPS, as it should be beyond the local network. Default false.
    pub secure_cookie: bool,
}

impl Default for PagesConfig {
    fn default() -> Self {
        Self {
            tile_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            tile_attribution: "&copy; OpenStreetMap contributors".into(),
            session_hours: 12,
            secure_cookie: false,
        }
    }
}

/// HTTP ingest: the webhook routes network servers POST uplinks to
/// (`/api/v1/ingest/tts`, `/api/v1/ingest/thingpark`), fed into the same pipeline as MQTT.
/// A route whose secret is not set answers 404.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Shared secret The Things Stack sends in the `X-Roc42-Secret` header (or as
    /// `Authorization: Bearer <secret>`); env `ROC42_TTS_WEBHOOK_SECRET`. Default none:
    /// the TTS route is disabled.
    pub tts_secret: Option<String>,
    /// Shared secret of the ThingPark HTTP connection, sent the same way; env
    /// `ROC42_THINGPARK_WEBHOOK_SECRET`. Default none: the ThingPark route is disabled.
    pub thingpark_secret: Option<String>,
    /// Largest request body accepted, in bytes (larger: 413, not kept). Default 1048576.
    pub max_body_bytes: usize,
    /// How long a request waits for its message to be committed before answering 503
    /// (the network server then retries; the retry is deduplicated), in milliseconds.
    /// Keep it below the sender's own timeout (TTS: 10 s). Default 5000.
    pub commit_timeout_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { tts_secret: None, thingpark_secret: None, max_body_bytes: 1 << 20, commit_timeout_ms: 5000 }
    }
}

impl std::fmt::Debug for WebhookConfig {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("WebhookConfig")
            .field("tts_secret", &set(&self.tts_secret))
            .field("thingpark_secret", &set(&self.thingpark_secret))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("commit_timeout_ms", &self.commit_timeout_ms)
            .finish()
    }
}

impl WebhookConfig {
    pub fn commit_timeout(&self) -> Duration {
        Duration::from_millis(self.commit_timeout_ms)
    }
}

/// What roc42 computes in the background: rollups, retention, alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// How often changed readings are rolled up (and threshold alerts evaluated), in
    /// milliseconds. Default 1000.
    pub rollup_interval_ms: u64,
    /// How often the service hours (a commune's devices under one service added up) that
    /// refreshes queued are recomputed, in milliseconds. Each is recomputed once however
    /// many of its devices changed meanwhile. Default 10000.
    pub service_rollup_interval_ms: u64,
    /// Raw uplinks older than this many days are dropped, by chunk; env
    /// `ROC42_RETAIN_UPLINKS_DAYS`. Default none: kept forever.
    pub retain_uplinks_days: Option<u32>,
    /// Raw readings older than this many days are dropped, by chunk (rollups are kept);
    /// env `ROC42_RETAIN_READINGS_DAYS`. Default none: kept forever.
    pub retain_readings_days: Option<u32>,
    /// How often retention runs, in seconds. Default 3600.
    pub retention_interval_s: u64,
    /// How often silent devices are looked for and alert webhooks retried, in seconds.
    /// Default 30.
    pub sweep_interval_s: u64,
    /// Webhook attempts before a notification is given up (it stays in
    /// `alert_notification` with its last error). Default 8 (backoff 2 s doubling, up to ~4 min).
    pub webhook_max_attempts: i32,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            rollup_interval_ms: 1000,
            service_rollup_interval_ms: 10_000,
            retain_uplinks_days: None,
            retain_readings_days: None,
            retention_interval_s: 3600,
            sweep_interval_s: 30,
            webhook_max_attempts: 8,
        }
    }
}

impl AnalyticsConfig {
    pub fn rollup_interval(&self) -> Duration {
        Duration::from_millis(self.rollup_interval_ms.max(10))
    }

    pub fn service_rollup_interval(&self) -> Duration {
        Duration::from_millis(self.service_rollup_interval_ms.max(10))
    }

    /// Instants before which raw uplinks and readings go, as of `now`.
    pub fn horizons(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>) {
        let before = |d: Option<u32>| d.map(|d| now - chrono::Duration::days(i64::from(d)));
        (before(self.retain_uplinks_days), before(self.retain_readings_days))
    }
}

/// Logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter directives; env `ROC42_LOG` (or `RUST_LOG`). Default `info,rumqttd=off,sqlx::postgres::notice=warn` (the demo's embedded broker is chatty).
    pub filter: String,
    /// `text` for people, `json` for log collectors; env `ROC42_LOG_FORMAT`. Default `text`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info,rumqttd=off,sqlx::postgres::notice=warn".into(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Reads `path` (if given) and applies the environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("read config {}", p.display()))?;
                Self::from_toml(&text).with_context(|| format!("parse config {}", p.display()))?
            }
            None => Self::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }

    /// Applies environment overrides, read through `var` (so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = var("ROC42_RETAIN_UPLINKS_DAYS") {
            self.analytics.retain_uplinks_days = if v.is_empty() {
                None
            } else {
                Some(v.parse().context("ROC42_RETAIN_UPLINKS_DAYS: a number of days")?)
            };
        }
        if let Some(v) = var("ROC42_RETAIN_READINGS_DAYS") {
            self.analytics.retain_readings_days = if v.is_empty() {
                None
            } else {
                Some(v.parse().context("ROC42_RETAIN_READINGS_DAYS: a number of days")?)
            };
        }
        if let Some(v) = var("ROC42_MQTT_URL") {
            self.mqtt.url = v;
        }
        if let Some(v) = var("ROC42_MQTT_CLIENT_ID") {
            self.mqtt.client_id = v;
        }
        if let Some(v) = var("ROC42_MQTT_SHARED_GROUP") {
            self.mqtt.shared_group = Some(v).filter(|g| !g.is_empty());
        }
        if let Some(v) = var("ROC42_MQTT_USERNAME") {
            self.mqtt.username = Some(v);
        }
        if let Some(v) = var("ROC42_MQTT_PASSWORD") {
            self.mqtt.password = Some(v);
        }
        // An empty value unsets the file (back to the system roots, or no client certificate).
        if let Some(v) = var("ROC42_MQTT_CA_FILE") {
            self.mqtt.tls.ca_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = var("ROC42_MQTT_CLIENT_CERT_FILE") {
            self.mqtt.tls.client_cert_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = var("ROC42_MQTT_CLIENT_KEY_FILE") {
            self.mqtt.tls.client_key_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = var("ROC42_MASTER_KEY") {
            self.keys.master_key = Some(v).filter(|k| !k.is_empty());
        }
        if let Some(v) = var("ROC42_HTTP_ADDR") {
            self.http.addr = v.parse().with_context(|| format!("ROC42_HTTP_ADDR={v:?} is not host:port"))?;
        }
        if let Some(v) = var("ROC42_TILE_URL") {
            self.pages.tile_url = v;
        }
        // An empty value disables the route.
        if let Some(v) = var("ROC42_TTS_WEBHOOK_SECRET") {
            self.webhooks.tts_secret = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = var("ROC42_THINGPARK_WEBHOOK_SECRET") {
            self.webhooks.thingpark_secret = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = var("ROC42_LOG").or_else(|| var("RUST_LOG")) {
            self.log.filter = v;
        }
        if let Some(v) = var("ROC42_LOG_FORMAT") {
            self.log.format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => anyhow::bail!("ROC42_LOG_FORMAT={v:?}: expected text or json"),
            };
        }
        self.validate()
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.mqtt.validate()?;
        if self.mqtt.client_id.is_empty() {
            anyhow::bail!("mqtt.client_id must not be empty: the persistent session needs a stable id");
        }
        if self.mqtt.topics.is_empty() || self.mqtt.topics.iter().any(|t| t.trim().is_empty()) {
            anyhow::bail!("mqtt.topics must list at least one topic filter, none empty");
        }
        if self.mqtt.receive_maximum == 0 {
            anyhow::bail!("mqtt.receive_maximum must be at least 1");
        }
        if self.pipeline.batch_max_uplinks == 0 {
            anyhow::bail!("pipeline.batch_max_uplinks must be at least 1");
        }
        if self.pipeline.writers == 0 || self.pipeline.writers >= self.database.max_connections as usize {
            anyhow::bail!("pipeline.writers must be at least 1 and below database.max_connections");
        }
        if self.pipeline.channel_capacity <= usize::from(self.mqtt.receive_maximum) {
            anyhow::bail!("pipeline.channel_capacity must exceed mqtt.receive_maximum");
        }
        let w = &self.webhooks;
        if [&w.tts_secret, &w.thingpark_secret].into_iter().flatten().any(|s| s.len() < 16) {
            anyhow::bail!("webhooks secrets must be at least 16 characters (unset one to disable its route)");
        }
        if w.max_body_bytes == 0 || w.commit_timeout_ms == 0 {
            anyhow::bail!("webhooks.max_body_bytes and webhooks.commit_timeout_ms must be at least 1");
        }
        crate::custody::Sealer::from_config(self.keys.master_key.as_deref())?;
        let c = &self.codecs;
        if c.js_threads == 0 || c.max_in_flight == 0 || c.js_time_limit_ms == 0 {
            anyhow::bail!("codecs.js_threads, codecs.max_in_flight and codecs.js_time_limit_ms must be at least 1");
        }
        if c.js_memory_limit_mib < 4 {
            anyhow::bail!("codecs.js_memory_limit_mib must be at least 4 (a QuickJS context alone takes about 1 MiB)");
        }
        let p = &self.pages;
        if !(p.tile_url.is_empty() || p.tile_url.starts_with("https://") || p.tile_url.starts_with("http://")) {
            anyhow::bail!("pages.tile_url must be an http(s) URL template, or empty for no tiles");
        }
        if p.session_hours == 0 {
            anyhow::bail!("pages.session_hours must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../deploy/config/example.toml");
        let cfg = Config::from_toml(text).unwrap();
        let d = Config::default();
        assert_eq!(cfg.database.url, d.database.url);
        assert_eq!(cfg.mqtt.topics, d.mqtt.topics);
        assert_eq!(cfg.mqtt.receive_maximum, d.mqtt.receive_maximum);
        assert!(!cfg.mqtt.tls.is_set(), "[mqtt.tls] is commented out: the defaults");
        assert_eq!(cfg.pipeline.batch_max_uplinks, d.pipeline.batch_max_uplinks);
        assert_eq!(cfg.http.addr, d.http.addr);
        assert_eq!(cfg.webhooks.max_body_bytes, d.webhooks.max_body_bytes);
        assert_eq!(cfg.webhooks.commit_timeout_ms, d.webhooks.commit_timeout_ms);
        assert!(cfg.webhooks.tts_secret.is_none() && cfg.webhooks.thingpark_secret.is_none());
        assert_eq!(cfg.codecs.js_time_limit_ms, d.codecs.js_time_limit_ms);
        assert_eq!(cfg.codecs.js_memory_limit_mib, d.codecs.js_memory_limit_mib);
        assert_eq!(cfg.codecs.max_in_flight, d.codecs.max_in_flight);
    }

    #[test]
    fn webhook_secrets_from_the_environment_and_never_in_debug_output() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "ROC42_TTS_WEBHOOK_SECRET" => Some("s3cret-s3cret-s3cret".into()),
            "ROC42_THINGPARK_WEBHOOK_SECRET" => Some(String::new()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.webhooks.tts_secret.as_deref(), Some("s3cret-s3cret-s3cret"));
        assert_eq!(cfg.webhooks.thingpark_secret, None, "empty disables the route");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        assert!(cfg.apply_env(|k| (k == "ROC42_TTS_WEBHOOK_SECRET").then(|| "short".into())).is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Config::from_toml("[mqtt]\nurll = 'x'\n").is_err());
    }

    #[test]
    fn env_overrides_and_validation() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "ROC42_MQTT_URL" => Some("mqtt://broker.example:1884".into()),
            "ROC42_HTTP_ADDR" => Some("0.0.0.0:9000".into()),
            "ROC42_MQTT_SHARED_GROUP" => Some("roc42".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.mqtt.host_port().unwrap(), ("broker.example".into(), 1884));
        assert_eq!(cfg.mqtt.subscriptions(), ["$share/roc42/application/+/device/+/event/+"]);
        assert_eq!(cfg.http.addr.port(), 9000);
        assert!(cfg.apply_env(|k| (k == "ROC42_HTTP_ADDR").then(|| "nope".into())).is_err());
    }

    #[test]
    fn tls_settings_from_the_file_and_the_environment() {
        let mut cfg =
            Config::from_toml("[mqtt]\nurl = 'mqtts://broker.example'\n[mqtt.tls]\nserver_name = 'mqtt.example.org'\n")
                .unwrap();
        assert_eq!(cfg.mqtt.tls.server_name.as_deref(), Some("mqtt.example.org"));
        // The files are read at startup: a missing one is an error naming its setting.
        let e = cfg
            .apply_env(|k| match k {
                "ROC42_MQTT_CA_FILE" => Some("/nonexistent/ca.pem".into()),
                "ROC42_MQTT_CLIENT_CERT_FILE" => Some("/nonexistent/c.pem".into()),
                "ROC42_MQTT_CLIENT_KEY_FILE" => Some("/nonexistent/c.key".into()),
                _ => None,
            })
            .unwrap_err();
        assert!(format!("{e:#}").contains("read mqtt.tls.ca_file /nonexistent/ca.pem"), "{e:#}");
        assert_eq!(cfg.mqtt.tls.client_cert_file.as_deref(), Some(Path::new("/nonexistent/c.pem")));
        assert_eq!(cfg.mqtt.tls.client_key_file.as_deref(), Some(Path::new("/nonexistent/c.key")));
        // Empty values unset them again: the system roots, no client certificate.
        cfg.apply_env(|k| k.ends_with("_FILE").then(String::new)).unwrap();
        assert!(cfg.mqtt.tls.ca_file.is_none() && cfg.mqtt.tls.client_cert_file.is_none());
        // TLS settings with a plain URL would silently not be used: refused.
        let e = cfg.apply_env(|k| (k == "ROC42_MQTT_URL").then(|| "mqtt://broker.example".into())).unwrap_err();
        assert!(e.to_string().contains("mqtt.tls is set but mqtt.url"), "{e}");
    }

    #[test]
    fn broker_urls() {
        assert_eq!(broker_host_port("mqtt://127.0.0.1:1883").unwrap(), ("127.0.0.1".into(), 1883));
        assert_eq!(broker_host_port("tcp://h/").unwrap(), ("h".into(), 1883));
        assert_eq!(
            BrokerAddr::parse("mqtts://broker.example").unwrap(),
            BrokerAddr { host: "broker.example".into(), port: 8883, tls: true }
        );
        assert_eq!(BrokerAddr::parse("mqtts://h:8884/").unwrap().port, 8884);
        assert!(!BrokerAddr::parse("mqtt://h").unwrap().tls);
        assert!(broker_host_port("ssl://h:8883").is_err());
        assert!(broker_host_port("mqtt://:1883").is_err());
    }
}
