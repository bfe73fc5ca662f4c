//! The Things Stack and ThingPark adapters end to end: over MQTT through the real
//! Mosquitto, and over their webhooks, to readings in PostgreSQL.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use roc42::store::device::{self, NewDevice};
use serde_json::{json, Value};

use crate::support::{self, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(20);
/// An Elsys ERS CO2 frame (TTN device-repository example): 5 readings.
const ERS: &str = "0100e202290400270506060308";
const TTS_SECRET: &str = "tts-secret-0123456789";
const TP_SECRET: &str = "thingpark-secret-0123456789";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn register(db: &TestDb, eui: &str) -> i64 {
    let d = NewDevice { dev_eui: eui.parse().unwrap(), name: eui.into(), model: "elsys-ers-co2".into(), commune: None };
    device::upsert(&db.pool, &d).await.unwrap().id
}

/// A TTS uplink message (the minimal fixture's shape) carrying the ERS frame.
fn tts_uplink(eui: &str, f_cnt: u32, received_at: &str, as_up: &str) -> Value {
    let mut m = fixture("tts_v3_up_minimal.json");
    m["end_device_ids"]["dev_eui"] = json!(eui.to_uppercase());
    m["correlation_ids"][0] = json!(as_up);
    let up = &mut m["uplink_message"];
    up["f_port"] = json!(1);
    up["f_cnt"] = json!(f_cnt);
    up["frm_payload"] = json!(base64::engine::general_purpose::STANDARD.encode(hex::decode(ERS).unwrap()));
    up["received_at"] = json!(received_at);
    m
}

fn config(db: &TestDb, root: &str) -> roc42::config::Config {
    let mut cfg = support::config(db, root);
    cfg.mqtt.topics = vec![
        format!("{root}/v3/+/devices/+/up"),
        format!("{root}/v3/+/devices/+/join"),
        format!("{root}/things/+/uplink"),
    ];
    cfg.webhooks.tts_secret = Some(TTS_SECRET.into());
    cfg.webhooks.thingpark_secret = Some(TP_SECRET.into());
    cfg
}

async fn post(app: &TestApp, route: &str, secret: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(app.url(route)).header("content-type", "application/json").body(body);
    if let Some(s) = secret {
        req = req.header("X-Roc42-Secret", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn readings(db: &TestDb, device_id: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM reading WHERE device_id = $1")
        .bind(device_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn rejected(db: &TestDb) -> Vec<(String, String, Vec<u8>, String)> {
    sqlx::query_as("SELECT source, topic, payload, error FROM ingest_rejected ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn tts_over_mqtt_uplinks_and_joins_and_a_malformed_message_does_not_stop_the_consumer() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let cfg = config(&db, &root);
    let eui = "a81758fffe0312ab";
    let id = register(&db, eui).await;
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let topic = |kind: &str| format!("{root}/v3/roc42@ttn/devices/ers-co2-1/{kind}");

    publisher.publish(topic("up"), b"{\"end_device_ids\": oops".to_vec()).await.unwrap();
    let up = tts_uplink(eui, 7, "2025-03-04T08:00:00.120Z", "as:up:01JNKM5D3R0Q9W7Y2X4Z6B8C0D");
    publisher.publish(topic("up"), serde_json::to_vec(&up).unwrap()).await.unwrap();
    let mut join = fixture("tts_v3_join.json");
    join["end_device_ids"]["dev_eui"] = json!(eui.to_uppercase());
    publisher.publish(topic("join"), serde_json::to_vec(&join).unwrap()).await.unwrap();

    support::eventually("the TTS uplink's readings", WAIT, || async { (readings(&db, id).await == 5).then_some(()) })
        .await;
    let (lns, dedup_key, f_cnt, rx): (String, String, i64, Value) =
        sqlx::query_as("SELECT lns, dedup_key, f_cnt, rx FROM uplink WHERE dev_eui = $1")
            .bind(eui)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((lns.as_str(), dedup_key.as_str(), f_cnt), ("tts", "as:up:01JNKM5D3R0Q9W7Y2X4Z6B8C0D", 7));
    assert_eq!(rx[0]["gateway_id"], "roc42-gw-1");
    let time: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(time) FROM reading").fetch_one(&db.pool).await.unwrap();
    assert_eq!(time.to_rfc3339(), "2025-03-04T08:00:00.120+00:00", "the Network Server's time");
    support::eventually("the join event", WAIT, || async {
        (db.count("SELECT count(*) FROM lns_event WHERE kind = 'join' AND lns = 'tts'").await == 1).then_some(())
    })
    .await;
    let r = rejected(&db).await;
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0.as_str(), r[0].1.as_str()), ("mqtt", topic("up").as_str()));
    assert_eq!(r[0].2, b"{\"end_device_ids\": oops", "raw bytes kept");
    assert!(r[0].3.contains("malformed JSON"), "{}", r[0].3);

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn tts_webhook_answers_only_after_commit_checks_its_secret_and_deduplicates_retries() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut cfg = config(&db, &root);
    cfg.webhooks.thingpark_secret = None;
    let eui = "a81758fffe0312ac";
    let id = register(&db, eui).await;
    let app = TestApp::start(&cfg, &db).await;
    let route = "/api/v1/ingest/tts";
    let body =
        serde_json::to_vec(&tts_uplink(eui, 1, "2025-03-04T09:00:00Z", "as:up:01JNKQ0000000000000000000A")).unwrap();

    let (s, v) = post(&app, route, None, body.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"]["code"], "unauthorized");
    let (s, _) = post(&app, route, Some("not-the-secret-at-all"), body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(&app, "/api/v1/ingest/thingpark", Some(TP_SECRET), body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no secret: the route is disabled");
    assert_eq!(
        db.count("SELECT count(*) FROM uplink").await + db.count("SELECT count(*) FROM ingest_rejected").await,
        0
    );

    let (s, v) = post(&app, route, Some(TTS_SECRET), body.clone()).await;
    assert_eq!((s, v["status"].as_str(), v["kind"].as_str()), (StatusCode::OK, Some("stored"), Some("uplink")));
    // The answer came after COMMIT: the readings are there already, no polling.
    assert_eq!(readings(&db, id).await, 5);
    // A retry (the LNS did not get our answer) is deduplicated.
    let (s, _) = post(&app, route, Some(TTS_SECRET), body).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((readings(&db, id).await, db.count("SELECT count(*) FROM uplink").await), (5, 1));

    // A message that does not parse is kept raw, then answered 200 "rejected".
    let (s, v) = post(&app, route, Some(TTS_SECRET), br#"{"uplink_message": {}}"#.to_vec()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("rejected")));
    assert!(v["error"].as_str().unwrap().contains("end_device_ids.dev_eui"), "{v}");
    let r = rejected(&db).await;
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].0.as_str(), r[0].1.as_str(), r[0].2.as_slice()),
        ("http", route, &br#"{"uplink_message": {}}"#[..])
    );
    // Still taking messages.
    let next =
        serde_json::to_vec(&tts_uplink(eui, 2, "2025-03-04T09:10:00Z", "as:up:01JNKQ0000000000000000000B")).unwrap();
    assert_eq!(post(&app, route, Some(TTS_SECRET), next).await.0, StatusCode::OK);
    assert_eq!(readings(&db, id).await, 10);

    app.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn thingpark_over_mqtt_and_http_in_both_number_styles() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let cfg = config(&db, &root);
    let eui = "a81758fffe0312ab"; // the 2024 fixture's device
    let id = register(&db, eui).await;
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let topic = format!("{root}/things/{}/uplink", eui.to_uppercase());

    // MQTT: a malformed message, then the 2018 (string-valued) shape with an ERS frame.
    publisher.publish(topic.clone(), br#"{"DevEUI_uplink": {"DevEUI": "A81758FFFE0312AB"}}"#.to_vec()).await.unwrap();
    let mut v2018 = fixture("thingpark_uplink_2018.json");
    v2018["DevEUI_uplink"]["DevEUI"] = json!(eui.to_uppercase());
    v2018["DevEUI_uplink"]["payload_hex"] = json!(ERS);
    publisher.publish(topic.clone(), serde_json::to_vec(&v2018).unwrap()).await.unwrap();
    support::eventually("the MQTT uplink's readings", WAIT, || async { (readings(&db, id).await == 5).then_some(()) })
        .await;

    // HTTP: the 2024 (numeric) shape, then the same without its root at another time.
    let route = "/api/v1/ingest/thingpark";
    let v2024 = fixture("thingpark_uplink_2024.json");
    let (s, v) = post(&app, route, Some(TP_SECRET), serde_json::to_vec(&v2024).unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("stored")), "{v}");
    assert_eq!(readings(&db, id).await, 10);
    let mut bare = v2024["DevEUI_uplink"].clone();
    bare["Time"] = json!("2024-03-12T09:51:07.315+01:00");
    bare["FCntUp"] = json!("369");
    assert_eq!(post(&app, route, Some(TP_SECRET), serde_json::to_vec(&bare).unwrap()).await.0, StatusCode::OK);
    assert_eq!(readings(&db, id).await, 15);
    let (s, v) = post(&app, route, Some(TP_SECRET), b"payload_hex=0102".to_vec()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("rejected")));

    let rows: Vec<(String, i64, Value)> =
        sqlx::query_as("SELECT lns, f_cnt, tx FROM uplink WHERE dev_eui = $1 ORDER BY time")
            .bind(eui)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let f_cnts: Vec<i64> = rows.iter().map(|r| r.1).collect();
    assert_eq!(f_cnts, [1174, 368, 369]);
    assert!(rows.iter().all(|r| r.0 == "thingpark"));
    assert_eq!(rows[0].2["frequency"], 868_100_000);
    let r = rejected(&db).await;
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0.as_str(), r[0].1.as_str()), ("mqtt", topic.as_str()));
    assert!(r[0].3.contains("Time"), "{}", r[0].3);
    assert_eq!((r[1].0.as_str(), r[1].1.as_str(), r[1].2.as_slice()), ("http", route, &b"payload_hex=0102"[..]));

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn webhooks_answer_503_without_ingest() {
    let db = TestDb::new().await;
    let cfg = config(&db, "unused");
    let webhooks = roc42::api::webhooks::Webhooks::new(&cfg.webhooks, None);
    let http = roc42::app::Http::start_with(&cfg, db.pool.clone(), webhooks).await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/v1/ingest/tts", http.addr))
        .header("X-Roc42-Secret", TTS_SECRET)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let big = vec![b' '; cfg.webhooks.max_body_bytes + 1];
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/v1/ingest/thingpark", http.addr))
        .header("X-Roc42-Secret", TP_SECRET)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    http.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_webhook_not_committed_in_time_answers_503_and_its_retry_is_deduplicated() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut cfg = config(&db, &root);
    cfg.webhooks.commit_timeout_ms = 300;
    let eui = "a81758fffe0312ad";
    let id = register(&db, eui).await;
    let app = TestApp::start(&cfg, &db).await;
    let body =
        serde_json::to_vec(&tts_uplink(eui, 3, "2025-03-04T10:00:00Z", "as:up:01JNKR0000000000000000000C")).unwrap();
    // The writer blocks on this lock until it is released.
    let mut lock = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let (s, v) = post(&app, "/api/v1/ingest/tts", Some(TTS_SECRET), body.clone()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));
    lock.rollback().await.unwrap();
    // The LNS retries: the first copy is committed by now or with this one, once.
    let (s, _) = post(&app, "/api/v1/ingest/tts", Some(TTS_SECRET), body).await;
    assert_eq!(s, StatusCode::OK);
    support::eventually("both copies processed", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await == 1).then_some(())
    })
    .await;
    assert_eq!(readings(&db, id).await, 5);
    app.shutdown().await;
    db.drop_db().await;
}
