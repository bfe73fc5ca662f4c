//! Operating roc42: readiness follows the database and the broker, and every stage
//! reports metrics (received, decoded, committed, acked, pending acks, latency, lag).

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use rand::SeedableRng;
use roc42::app::{Http, Ingest};
use roc42::simulate;
use serde_json::Value;

use crate::support::{self, TestApp, TestDb};

async fn ready(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn ready_reports_the_broker_and_metrics_cover_every_stage() {
    let db = TestDb::new().await;
    let root = format!("ops-{}", support::unique());
    let cfg = support::config(&db, &root);
    let mut fleet = simulate::fleet(3, 5);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let (status, v) = ready(&app.url("/ready")).await;
    assert_eq!((status, v["broker"].as_str(), v["database"].as_str()), (200, Some("connected"), Some("ok")), "{v}");

    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let t = Utc::now() - TimeDelta::seconds(30);
    for d in fleet.iter_mut() {
        support::publish_uplink(&publisher, &root, d, t, &mut rng).await;
    }
    support::eventually("the uplinks committed", Duration::from_secs(20), || async {
        (db.count("SELECT count(*) FROM uplink").await == 3).then_some(())
    })
    .await;
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    for name in [
        "roc42_ingest_received_total",
        "roc42_uplinks_total",
        "roc42_uplinks_committed_total",
        "roc42_readings_committed_total",
        "roc42_ingest_acked_total",
        "roc42_ingest_acks_pending",
        "roc42_ingest_connected",
        "roc42_batch_messages",
        "roc42_batch_write_seconds",
        "roc42_commit_latency_seconds",
        "roc42_ingest_lag_seconds",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} in /metrics");
    }
    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn not_ready_without_the_broker_and_an_api_only_process_is_ready_with_the_database() {
    let db = TestDb::new().await;
    let mut cfg = support::config(&db, &format!("ops-{}", support::unique()));
    // Nothing listens there: the consumer keeps retrying.
    cfg.mqtt.url = format!("mqtt://127.0.0.1:{}", support::free_port());
    let ingest = Ingest::start(&cfg, db.pool.clone()).await.unwrap();
    let http = Http::start_for(&cfg, db.pool.clone(), &ingest).await.unwrap();
    let (status, v) = ready(&format!("http://{}/ready", http.addr)).await;
    assert_eq!((status, v["broker"].as_str()), (503, Some("disconnected")), "{v}");
    let health = reqwest::get(format!("http://{}/health", http.addr)).await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "alive all the same");
    http.shutdown().await;
    ingest.shutdown().await;

    let api_only = Http::start(&cfg, db.pool.clone()).await.unwrap();
    let (status, v) = ready(&format!("http://{}/ready", api_only.addr)).await;
    assert_eq!((status, v["broker"].as_str()), (200, Some("not_ingesting")), "{v}");
    api_only.shutdown().await;
    db.drop_db().await;
}

/// A burst far beyond a small pipeline's capacity, published faster than it commits:
/// every uplink is stored, once. The consumer once waited on the full pipeline without
/// polling the broker, so the acks of committed batches (which leave through that
/// connection) could not go out and the pipeline deadlocked; Mosquitto 2.0.11 sends
/// beyond the receive window once acks flow, which filled the pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_pipeline_capacity_neither_deadlocks_nor_loses_anything() {
    let db = TestDb::new().await;
    let root = format!("ops-{}", support::unique());
    let mut cfg = support::config(&db, &root);
    cfg.mqtt.receive_maximum = 50;
    cfg.pipeline.channel_capacity = 60;
    cfg.pipeline.batch_max_uplinks = 50;
    cfg.pipeline.writers = 1;
    cfg.codecs.max_in_flight = 16;
    let mut fleet = simulate::fleet(20, 8);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let readings = crate::support::serve::publish(&mut fleet, &root, 4000).await;
    crate::support::serve::assert_exactly_once(&db, 4000, readings).await;
    app.shutdown().await;
    db.drop_db().await;
}
