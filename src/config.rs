//! The configuration tree: a TOML file (optional) plus environment overrides, with
//! defaults that work on a development machine (local PostgreSQL and Mosquitto).
//! `deploy/config/example.toml` documents every setting.

use std::net::SocketAddr;
use std::path::Path;
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
    pub http: HttpConfig,
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
    /// Broker URL, `mqtt://host:port`; env `ROC42_MQTT_URL`. Default `mqtt://127.0.0.1:1883`.
    pub url: String,
    /// Client id of the persistent session: keep it stable across restarts, or the broker
    /// forgets what was not acknowledged. Env `ROC42_MQTT_CLIENT_ID`. Default `roc42-ingest`.
    pub client_id: String,
    /// Topic filter of ChirpStack v4 uplink events. Default `application/+/device/+/event/up`.
    pub topic: String,
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
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "roc42-ingest".into(),
            topic: "application/+/device/+/event/up".into(),
            shared_group: None,
            session_expiry_s: 7 * 24 * 3600,
            receive_maximum: 8192,
            keep_alive_s: 30,
            username: None,
            password: None,
        }
    }
}

impl MqttConfig {
    /// The filter actually subscribed to, with the shared-subscription prefix if any.
    pub fn subscription(&self) -> String {
        match &self.shared_group {
            Some(g) => format!("$share/{g}/{}", self.topic),
            None => self.topic.clone(),
        }
    }

    /// Host and port from `url`.
    pub fn host_port(&self) -> anyhow::Result<(String, u16)> {
        broker_host_port(&self.url)
    }
}

/// Splits `mqtt://host:port` (or `tcp://`, or a bare `host:port`) into host and port.
pub fn broker_host_port(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).unwrap_or(url).trim_end_matches('/');
    if rest.contains("://") {
        anyhow::bail!("unsupported broker URL scheme in {url:?} (use mqtt://host:port)");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().with_context(|| format!("bad port in broker URL {url:?}"))?),
        None => (rest, 1883),
    };
    if host.is_empty() {
        anyhow::bail!("no host in broker URL {url:?}");
    }
    Ok((host.to_owned(), port))
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
        if let Some(v) = var("ROC42_HTTP_ADDR") {
            self.http.addr = v.parse().with_context(|| format!("ROC42_HTTP_ADDR={v:?} is not host:port"))?;
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
        self.mqtt.host_port()?;
        if self.mqtt.client_id.is_empty() {
            anyhow::bail!("mqtt.client_id must not be empty: the persistent session needs a stable id");
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
        let c = &self.codecs;
        if c.js_threads == 0 || c.max_in_flight == 0 || c.js_time_limit_ms == 0 {
            anyhow::bail!("codecs.js_threads, codecs.max_in_flight and codecs.js_time_limit_ms must be at least 1");
        }
        if c.js_memory_limit_mib < 4 {
            anyhow::bail!("codecs.js_memory_limit_mib must be at least 4 (a QuickJS context alone takes about 1 MiB)");
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
        assert_eq!(cfg.mqtt.topic, d.mqtt.topic);
        assert_eq!(cfg.mqtt.receive_maximum, d.mqtt.receive_maximum);
        assert_eq!(cfg.pipeline.batch_max_uplinks, d.pipeline.batch_max_uplinks);
        assert_eq!(cfg.http.addr, d.http.addr);
        assert_eq!(cfg.codecs.js_time_limit_ms, d.codecs.js_time_limit_ms);
        assert_eq!(cfg.codecs.js_memory_limit_mib, d.codecs.js_memory_limit_mib);
        assert_eq!(cfg.codecs.max_in_flight, d.codecs.max_in_flight);
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
        assert_eq!(cfg.mqtt.subscription(), "$share/roc42/application/+/device/+/event/up");
        assert_eq!(cfg.http.addr.port(), 9000);
        assert!(cfg.apply_env(|k| (k == "ROC42_HTTP_ADDR").then(|| "nope".into())).is_err());
    }

    #[test]
    fn broker_urls() {
        assert_eq!(broker_host_port("mqtt://127.0.0.1:1883").unwrap(), ("127.0.0.1".into(), 1883));
        assert_eq!(broker_host_port("tcp://h/").unwrap(), ("h".into(), 1883));
        assert!(broker_host_port("mqtts://h:8883").is_err());
        assert!(broker_host_port("mqtt://:1883").is_err());
    }
}
