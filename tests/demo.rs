//! `roc42 demo` as the README runs it: embedded broker, simulator, pipeline and API in
//! one process, against a fresh database.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{self, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_simulated_readings_and_stops_cleanly() {
    let db = TestDb::new().await;
    let http = support::client(&support::operator_token(&db.pool).await);
    let http_port = support::free_port();
    let broker_port = support::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_roc42"))
        .args(["demo", "--devices", "8", "--rate", "20", "--backfill-hours", "2", "--duration-s", "10"])
        .args(["--broker-port", &broker_port.to_string()])
        .env("DATABASE_URL", &db.url)
        .env("ROC42_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("ROC42_LOG", "warn")
        .env_remove("ROC42_MQTT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn roc42 demo");
    let base = format!("http://127.0.0.1:{http_port}");

    // Every simulated device gets readings: 2 hours of history, 8 per device, then live.
    let devices: Value = support::eventually("the demo's devices with readings", Duration::from_secs(30), || {
        let url = format!("{base}/api/v1/devices");
        let http = http.clone();
        async move {
            let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            let all_seen = v["devices"].as_array()?.iter().all(|d| d["last_seen_at"].is_string());
            (v["total"] == 8 && all_seen).then_some(v)
        }
    })
    .await;
    let first = devices["devices"][0]["dev_eui"].as_str().unwrap().to_owned();
    let readings: Value = support::eventually("a device's history", Duration::from_secs(30), || {
        let url = format!("{base}/api/v1/devices/{first}/readings?metric=air.co2");
        let http = http.clone();
        async move {
            let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (v["readings"].as_array()?.len() >= 8).then_some(v)
        }
    })
    .await;
    let co2 = readings["readings"][0]["value"].as_f64().unwrap();
    assert!((350.0..2500.0).contains(&co2), "plausible CO2: {co2}");

    // As a commune: the fleet is placed at its sites under its services, on its map.
    let se = support::client(&support::token(&db.pool, roc42::store::token::Role::Commune, Some("42218")).await);
    let sites: Value = se.get(format!("{base}/api/v1/sites")).send().await.unwrap().json().await.unwrap();
    let sites = sites["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 4, "two schools, the town hall, the car park: {sites:?}");
    assert!(sites.iter().all(|s| s["commune"] == "42218" && s["devices"] == 1 && s["latitude"].is_f64()));
    let subs: Value = se.get(format!("{base}/api/v1/subscriptions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 3, "{subs}");
    let map: Value = se.get(format!("{base}/api/v1/map/devices")).send().await.unwrap().json().await.unwrap();
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 4);
    assert!(features.iter().all(|f| f["geometry"]["type"] == "Point"), "{map}");
    let docs = se.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);

    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "demo exited with {}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("roc42 demo is running"), "{stdout}");
    assert!(stdout.contains(&format!("{base}/api/v1/devices")), "it prints where to look: {stdout}");
    assert!(stdout.contains(&format!("{base}/ui/")), "and where the pages are: {stdout}");
    assert!(stdout.contains("Token of the commune of Saint-Étienne (42218): roc42_"), "{stdout}");
    db.drop_db().await;
}
