//! The test harness: fresh databases, unique MQTT names, the app in-process or as a
//! `roc42` child process, and polling helpers (no fixed sleeps).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use roc42::app::{Http, Ingest};
use roc42::config::Config;
use roc42::ingest::mqtt::Publisher;
use roc42::simulate::SimDevice;
use sqlx::PgPool;

pub mod browser;
pub mod proxy;
pub mod serve;

pub fn base_database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mqtt_url() -> String {
    std::env::var("ROC42_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into())
}

/// A short unique id for names.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// A fresh, migrated database, dropped by [`TestDb::drop_db`].
pub struct TestDb {
    pub url: String,
    pub name: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> Self {
        // reqwest's TLS (alert webhooks, test clients) takes the process default provider.
        roc42::install_crypto_provider();
        let name = format!("roc42_test_{}", unique());
        let base = base_database_url();
        let url = match base.rfind('/') {
            Some(i) if !base[..i].ends_with('/') => format!("{}/{name}", &base[..i]),
            _ => format!("{base}/{name}"),
        };
        let cfg = roc42::config::DatabaseConfig { url: url.clone(), max_connections: 8 };
        let pool = roc42::store::connect(&cfg).await.expect("connect to the test database");
        roc42::store::migrate(&pool).await.expect("migrate the test database");
        Self { url, name, pool }
    }

    /// Closes the pool and drops the database.
    pub async fn drop_db(self) {
        self.pool.close().await;
        let admin = sqlx::PgPool::connect(&base_database_url()).await.expect("connect admin");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .execute(&admin)
            .await
            .expect("drop test database");
        admin.close().await;
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect(sql)
    }
}

/// A configuration for one test: its database, a unique client id and topic root, and
/// short batches.
pub fn config(db: &TestDb, topic_root: &str) -> Config {
    let mut cfg = Config::default();
    cfg.database.url = db.url.clone();
    cfg.mqtt.url = mqtt_url();
    cfg.mqtt.client_id = format!("roc42-test-{}", unique());
    cfg.mqtt.topics = vec![format!("{topic_root}/application/+/device/+/event/+")];
    cfg.mqtt.receive_maximum = 1000;
    cfg.mqtt.session_expiry_s = 600; // test sessions must not linger in the broker
    cfg.pipeline.channel_capacity = 2000;
    cfg.pipeline.batch_max_wait_ms = 50;
    cfg.http.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg
}

/// The topic prefix the simulator must use for `topic_root`.
pub fn prefix(topic_root: &str) -> String {
    format!("{topic_root}/")
}

/// The service in-process.
pub struct TestApp {
    pub ingest: Ingest,
    pub http: Http,
}

impl TestApp {
    pub async fn start(cfg: &Config, db: &TestDb) -> Self {
        Self::with_pool(cfg, &db.pool).await
    }

    pub async fn with_pool(cfg: &Config, pool: &PgPool) -> Self {
        let ingest = Ingest::start(cfg, pool.clone()).await.expect("start ingest");
        // A test publishes right away: the consumer's new session must be subscribed first,
        // or the broker drops what comes before.
        tokio::time::timeout(Duration::from_secs(30), ingest.subscribed()).await.expect("the consumer subscribes");
        let http = Http::start_for(cfg, pool.clone(), &ingest).await.expect("start API");
        Self { ingest, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http.addr)
    }

    pub async fn shutdown(self) {
        self.ingest.shutdown().await;
        self.http.shutdown().await;
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A connected publisher with a unique client id.
pub async fn publisher() -> Publisher {
    Publisher::connect(&mqtt_url(), &format!("roc42-test-pub-{}", unique()), 1000).await.expect("connect publisher")
}

/// Publishes one simulated uplink of `device` at `t`; returns the event's JSON.
pub async fn publish_uplink(
    p: &Publisher,
    topic_root: &str,
    device: &mut SimDevice,
    t: chrono::DateTime<chrono::Utc>,
    rng: &mut rand::rngs::StdRng,
) -> Vec<u8> {
    let ev = device.uplink_event(t, rng);
    p.publish(device.topic(&prefix(topic_root)), ev.clone()).await.expect("publish");
    ev
}

/// The readings a published event should produce, decoded independently of the pipeline.
pub fn expected_readings(event: &[u8], model: &str) -> Vec<(String, f64)> {
    let v: serde_json::Value = serde_json::from_slice(event).expect("event JSON");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(v["data"].as_str().expect("data")).expect("base64");
    let f_port = u8::try_from(v["fPort"].as_u64().expect("fPort")).expect("fPort u8");
    let mut r: Vec<(String, f64)> = roc42_decoders::decode(model, f_port, &bytes)
        .expect("decode")
        .into_iter()
        .map(|r| (r.metric.name().to_owned(), r.value))
        .collect();
    r.sort_by(|a, b| a.0.cmp(&b.0));
    r
}

/// The sum of a Prometheus series' samples (all label sets) in this process.
pub fn metric(name: &str, label: &str) -> f64 {
    roc42::telemetry::metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A new API token of `role` (`commune`: its INSEE code, for the commune role).
pub async fn token(pool: &PgPool, role: roc42::store::token::Role, commune: Option<&str>) -> String {
    roc42::store::token::create(pool, role, commune, "test").await.expect("create token").token
}

/// A new operator token: every route.
pub async fn operator_token(pool: &PgPool) -> String {
    token(pool, roc42::store::token::Role::Operator, None).await
}

/// An HTTP client that sends `Authorization: Bearer <token>` on every request.
pub fn client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("token header");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder().default_headers(headers).build().expect("HTTP client")
}

/// `router` with `Authorization: Bearer <token>` added to every request (for `oneshot`).
pub fn with_token(router: axum::Router, token: &str) -> axum::Router {
    let value = axum::http::HeaderValue::from_str(&format!("Bearer {token}")).expect("token header");
    router.layer(axum::middleware::map_request(move |mut req: axum::extract::Request| {
        let value = value.clone();
        async move {
            req.headers_mut().insert(axum::http::header::AUTHORIZATION, value);
            req
        }
    }))
}

/// Sends one request to `router` (`oneshot`): `body` as JSON when given, `csv` as
/// text/csv; returns the status and the body as JSON (or as a JSON string when it is not).
pub async fn request(
    router: &axum::Router,
    method: axum::http::Method,
    uri: &str,
    body: Option<serde_json::Value>,
    csv: Option<&str>,
) -> (axum::http::StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    let body = match (body, csv) {
        (Some(v), _) => {
            req = req.header(axum::http::header::CONTENT_TYPE, "application/json");
            axum::body::Body::from(v.to_string())
        }
        (None, Some(text)) => {
            req = req.header(axum::http::header::CONTENT_TYPE, "text/csv");
            axum::body::Body::from(text.to_owned())
        }
        (None, None) => axum::body::Body::empty(),
    };
    let resp = router.clone().oneshot(req.body(body).expect("request")).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

/// The API router of `db` as the holder of a new token of `role` (`commune`: its INSEE
/// code, for the commune role).
pub async fn router_as(db: &TestDb, role: roc42::store::token::Role, commune: Option<&str>) -> axum::Router {
    let router = roc42::api::router(roc42::api::AppState::new(db.pool.clone()));
    with_token(router, &token(&db.pool, role, commune).await)
}

/// Inserts (or corrects) readings `(device_id, metric, time, value)` and refreshes the rollups.
pub async fn insert_readings(pool: &PgPool, rows: &[(i64, &str, chrono::DateTime<chrono::Utc>, f64)]) {
    upsert_readings(pool, rows).await;
    roc42::store::rollup::refresh_all(pool, None).await.expect("refresh rollups");
}

/// Writes (device, metric, time, value) rows as a reprocessing would, marking their
/// hours, without refreshing the rollups.
pub async fn upsert_readings(pool: &PgPool, rows: &[(i64, &str, chrono::DateTime<chrono::Utc>, f64)]) {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let metrics: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> = rows.iter().map(|r| r.2).collect();
    let values: Vec<f64> = rows.iter().map(|r| r.3).collect();
    roc42::store::reading::upsert(pool, &ids, &metrics, &times, &values).await.expect("insert readings");
}
