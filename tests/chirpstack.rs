//! ChirpStack v4, complete, through the real Mosquitto and PostgreSQL: every event kind,
//! in both marshalings (JSON and protobuf, told apart per message), shaped exactly as
//! ChirpStack 4.20 emits them (fixtures in tests/fixtures/, re-encoded to protobuf with
//! ChirpStack's own `chirpstack_api` types).

use std::time::Duration;

use chirpstack_api::integration as pb;
use chirpstack_api::prost::Message;
use serde_json::Value;

use crate::support::{self, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(20);
const EUI: &str = "a81758fffe0312ab";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/chirpstack_v4_{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn protobuf<M: Message + serde::de::DeserializeOwned>(json: &str) -> Vec<u8> {
    serde_json::from_str::<M>(json).unwrap().encode_to_vec()
}

#[tokio::test]
async fn every_event_kind_in_both_marshalings_is_stored() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let cfg = support::config(&db, &root);
    let d = roc42::store::device::NewDevice {
        dev_eui: EUI.parse().unwrap(),
        name: "ers-ecole-101".into(),
        model: "elsys-ers".into(),
        commune: Some("42218".into()),
    };
    roc42::store::device::upsert(&db.pool, &d).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let topic = |kind: &str| format!("{root}/application/17c82e96/device/{EUI}/event/{kind}");

    // JSON: status, log, join, ack, txack, location; protobuf: the uplink and a second
    // status event (another deduplication id).
    for kind in ["status", "log", "join", "ack", "txack", "location"] {
        publisher.publish(topic(kind), fixture(kind).into_bytes()).await.unwrap();
    }
    publisher.publish(topic("up"), protobuf::<pb::UplinkEvent>(&fixture("up"))).await.unwrap();
    let status2 = fixture("status")
        .replace("5f2a9c1e-7d43-4b8e-9a61-0c2d8e4f1b37", "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
        .replace("10:50:02.114207", "11:50:02")
        .replace("87.5", "86");
    publisher.publish(topic("status"), protobuf::<pb::StatusEvent>(&status2)).await.unwrap();
    // A redelivered event changes nothing.
    publisher.publish(topic("log"), fixture("log").into_bytes()).await.unwrap();

    support::eventually("7 events and the uplink", WAIT, || async {
        let events = db.count("SELECT count(*) FROM lns_event").await;
        let uplinks = db.count("SELECT count(*) FROM uplink").await;
        (events == 7 && uplinks == 1).then_some(())
    })
    .await;
    // The protobuf uplink decoded like its JSON twin.
    let (outcome, f_cnt): (String, i64) =
        sqlx::query_as("SELECT outcome, f_cnt FROM uplink").fetch_one(&db.pool).await.unwrap();
    assert_eq!((outcome.as_str(), f_cnt), ("decoded", 65541));
    assert_eq!(db.count("SELECT count(*) FROM reading WHERE metric = 'air.temperature'").await, 1);
    // Status events gave device-status readings at their own times.
    let status: Vec<(String, f64)> = sqlx::query_as(
        "SELECT metric, value FROM reading WHERE metric IN ('battery.level', 'radio.margin') ORDER BY time, metric",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        status,
        [
            ("battery.level".to_owned(), 87.5),
            ("radio.margin".to_owned(), 7.0),
            ("battery.level".to_owned(), 86.0),
            ("radio.margin".to_owned(), 7.0)
        ]
    );
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM lns_event ORDER BY kind").fetch_all(&db.pool).await.unwrap();
    assert_eq!(kinds, ["ack", "join", "location", "log", "status", "status", "txack"]);

    // Operators see the codec error through the API.
    let http = support::client(&support::operator_token(&db.pool).await);
    let logs: Value = http
        .get(app.url(&format!("/api/v1/ingest/events?kind=log&level=error&dev_eui={EUI}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(logs[0]["code"], "UPLINK_CODEC");
    assert!(logs[0]["description"].as_str().unwrap().contains("ReferenceError"));
    let all: Value = http.get(app.url("/api/v1/ingest/events")).send().await.unwrap().json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 7);
    let bad = http.get(app.url("/api/v1/ingest/events?dev_eui=nope")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    // A malformed protobuf event is kept with its raw bytes, and the consumer goes on.
    publisher.publish(topic("status"), vec![0x12, 0x05, 0x01]).await.unwrap();
    support::eventually("the rejected protobuf", WAIT, || async {
        (db.count("SELECT count(*) FROM ingest_rejected WHERE error LIKE 'malformed protobuf%'").await == 1)
            .then_some(())
    })
    .await;

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}
