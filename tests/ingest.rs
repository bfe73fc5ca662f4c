//! Broker -> pipeline -> database -> API, through the real Mosquitto and PostgreSQL.

use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use rand::SeedableRng;
use roc42::simulate;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::Value;

use crate::support::{self, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn uplinks_from_the_broker_appear_as_readings_through_the_api() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let cfg = support::config(&db, &root);
    let mut fleet = simulate::fleet(4, 1);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let t = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).unwrap() - TimeDelta::minutes(5);
    let mut events = Vec::new();
    for d in fleet.iter_mut() {
        let ev = support::publish_uplink(&publisher, &root, d, t, &mut rng).await;
        events.push((d.dev_eui, d.model, ev));
    }
    let http = support::client(&support::operator_token(&db.pool).await);
    for (eui, model, ev) in &events {
        let url = app.url(&format!(
            "/api/v1/devices/{eui}/readings?from={}",
            (t - TimeDelta::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
        let want = support::expected_readings(ev, model);
        let body: Value = support::eventually("readings through the API", WAIT, || {
            let http = http.clone();
            let url = url.clone();
            let n = want.len();
            async move {
                let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
                (v["readings"].as_array()?.len() == n).then_some(v)
            }
        })
        .await;
        let mut got: Vec<(String, f64)> = body["readings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"].as_str().unwrap().to_owned(), r["value"].as_f64().unwrap()))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "{model}");
        for r in body["readings"].as_array().unwrap() {
            assert_eq!(r["time"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap(), t, "network time kept");
            assert!(!r["unit"].as_str().unwrap().is_empty());
        }
    }
    // The raw frames are kept with their radio metadata.
    let (outcome, rx, f_cnt): (String, Value, i64) =
        sqlx::query_as("SELECT outcome, rx, f_cnt FROM uplink WHERE dev_eui = $1")
            .bind(events[0].0.to_string())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(outcome, "decoded");
    assert_eq!(f_cnt, 1);
    assert!(rx[0]["gateway_id"].as_str().is_some() && rx[0]["rssi"].as_i64().is_some());
    // And the device says when it was last seen.
    let dev: Value =
        http.get(app.url(&format!("/api/v1/devices/{}", events[0].0))).send().await.unwrap().json().await.unwrap();
    assert_eq!(dev["last_seen_at"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap(), t);
    assert!(!dev["latest"].as_array().unwrap().is_empty());

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn redelivered_uplinks_are_stored_once_and_the_batches_after_them_too() {
    // Batches insert plainly and fall back to skipping duplicates when a redelivery makes
    // the plain insert fail: duplicates inside a batch, across batches, and fresh uplinks
    // after them are all stored exactly once.
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let cfg = support::config(&db, &root);
    let mut fleet = simulate::fleet(4, 5);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let t = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).unwrap() - TimeDelta::minutes(30);
    let mut first = Vec::new();
    for d in fleet.iter_mut() {
        let ev = support::publish_uplink(&publisher, &root, d, t, &mut rng).await;
        // The same message again at once: most likely in the same batch.
        publisher.publish(d.topic(&support::prefix(&root)), ev.clone()).await.unwrap();
        first.push((d.topic(&support::prefix(&root)), d.model, ev));
    }
    let readings_of = |evs: &[(String, &str, Vec<u8>)]| -> i64 {
        evs.iter().map(|(_, model, ev)| support::expected_readings(ev, model).len() as i64).sum()
    };
    let want = readings_of(&first);
    support::eventually("the first uplinks stored", WAIT, || async {
        (db.count("SELECT count(*) FROM reading").await == want).then_some(())
    })
    .await;
    // Redelivered later, in batches of their own, then fresh uplinks.
    for (topic, _, ev) in &first {
        publisher.publish(topic.clone(), ev.clone()).await.unwrap();
    }
    let mut fresh = Vec::new();
    for d in fleet.iter_mut() {
        let ev = support::publish_uplink(&publisher, &root, d, t + TimeDelta::minutes(15), &mut rng).await;
        fresh.push((d.topic(&support::prefix(&root)), d.model, ev));
    }
    let want = want + readings_of(&fresh);
    support::eventually("the fresh uplinks stored", WAIT, || async {
        (db.count("SELECT count(*) FROM reading").await == want).then_some(())
    })
    .await;
    app.shutdown().await;
    assert_eq!(db.count("SELECT count(*) FROM uplink").await, 2 * fleet.len() as i64);
    assert_eq!(db.count("SELECT count(*) FROM reading").await, want);
    assert_eq!(db.count("SELECT count(*) FROM ingest_rejected").await, 0);
    publisher.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn malformed_and_unknown_messages_are_kept_acked_and_do_not_stop_the_consumer() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let cfg = support::config(&db, &root);
    let mut fleet = simulate::fleet(2, 2);
    simulate::register(&db.pool, &fleet[..1]).await.unwrap(); // fleet[1] stays unknown
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let topic = |eui: &str| format!("{root}/application/x/device/{eui}/event/up");

    // 1. Not JSON.
    publisher.publish(topic("0000000000000001"), b"{\"deduplicationId\": oops".to_vec()).await.unwrap();
    // 2. JSON, but not an uplink event (no deviceInfo).
    publisher.publish(topic("0000000000000002"), br#"{"hello":"world"}"#.to_vec()).await.unwrap();
    // 3. A known device whose frame is truncated.
    let known = fleet[0].dev_eui;
    let mut bad: Value = serde_json::from_slice(&fleet[0].uplink_event(Utc::now(), &mut rng)).unwrap();
    bad["data"] = Value::String("Bw==".into()); // 0x07: a CO2 field with no value
    bad["deduplicationId"] = Value::String(uuid::Uuid::new_v4().to_string());
    publisher.publish(topic(&known.to_string()), serde_json::to_vec(&bad).unwrap()).await.unwrap();
    // 4. An unknown device.
    let unknown = fleet[1].dev_eui;
    support::publish_uplink(&publisher, &root, &mut fleet[1], Utc::now(), &mut rng).await;
    // 5. A good uplink after all that: the consumer must still be going.
    let good = support::publish_uplink(&publisher, &root, &mut fleet[0], Utc::now(), &mut rng).await;
    let want = support::expected_readings(&good, fleet[0].model).len() as i64;

    support::eventually("the good uplink's readings", WAIT, || async {
        (db.count("SELECT count(*) FROM reading").await == want).then_some(())
    })
    .await;
    support::eventually("the rejected messages", WAIT, || async {
        (db.count("SELECT count(*) FROM ingest_rejected").await == 2).then_some(())
    })
    .await;
    let rows: Vec<(Vec<u8>, String, String)> =
        sqlx::query_as("SELECT payload, error, topic FROM ingest_rejected ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows[0].0, b"{\"deduplicationId\": oops", "raw bytes kept");
    assert!(rows[0].1.contains("malformed JSON"), "{}", rows[0].1);
    assert!(rows[0].2.ends_with("0000000000000001/event/up"));
    assert!(rows[1].1.contains("deviceInfo"), "{}", rows[1].1);
    let outcomes: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT dev_eui, outcome, error FROM uplink ORDER BY received_at")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.contains(&(unknown.to_string(), "unknown_device".into(), None)));
    let failed = outcomes.iter().find(|o| o.1 == "decode_failed").expect("decode_failed uplink");
    assert_eq!(failed.0, known.to_string());
    assert!(failed.2.as_deref().unwrap().contains("too short"));

    // Operators see the rejected messages through the API.
    let http = support::client(&support::operator_token(&db.pool).await);
    let rejected: Value = http.get(app.url("/api/v1/ingest/rejected")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rejected.as_array().unwrap().len(), 2);
    assert!(rejected[0]["payload_hex"].as_str().is_some());

    // Everything was acknowledged: after a restart of the session, only a message
    // published since arrives (anything unacked would come first).
    app.shutdown().await;
    let sentinel = topic("00000000000000ff");
    publisher.publish(sentinel.clone(), b"sentinel".to_vec()).await.unwrap();
    publisher.wait_acked(6, WAIT).await.unwrap();
    let received = receive_until(&cfg, &sentinel).await;
    assert_eq!(received, vec![sentinel], "messages were redelivered: not acked");

    publisher.close().await;
    db.drop_db().await;
}

/// Resumes the consumer's session and returns the topics received up to `last`.
async fn receive_until(cfg: &roc42::config::Config, last: &str) -> Vec<String> {
    let (host, port) = cfg.mqtt.host_port().unwrap();
    let mut o = MqttOptions::new(cfg.mqtt.client_id.clone(), host, port);
    o.set_clean_start(false).set_session_expiry_interval(Some(60)).set_manual_acks(false);
    let (client, mut el) = AsyncClient::new(o, 10);
    let mut topics = Vec::new();
    let done = tokio::time::timeout(WAIT, async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for filter in cfg.mqtt.subscriptions() {
                        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let t = String::from_utf8_lossy(&p.topic).into_owned();
                    let end = t == last;
                    topics.push(t);
                    if end {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("session check: {e}"),
            }
        }
    })
    .await;
    assert!(done.is_ok(), "sentinel never arrived; got {topics:?}");
    let _ = client.disconnect().await;
    topics
}

#[tokio::test]
async fn a_database_refusing_writes_holds_the_acks_and_loses_nothing() {
    let db = TestDb::new().await;
    // New sessions on this database give up waiting for a lock after 100 ms: the writer
    // then meets a transient error (55P03) on every attempt while the lock is held.
    sqlx::query(&format!("ALTER DATABASE {} SET lock_timeout = '100ms'", db.name)).execute(&db.pool).await.unwrap();
    let app_pool = roc42::store::connect(&roc42::config::DatabaseConfig { url: db.url.clone(), max_connections: 4 })
        .await
        .unwrap();
    let root = format!("it-{}", support::unique());
    let cfg = support::config(&db, &root);
    let mut fleet = simulate::fleet(5, 4);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let mut lock = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();

    let errors_before = support::metric("roc42_batch_errors_total", "transient");
    let app = TestApp::with_pool(&cfg, &app_pool).await;
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let t0 = Utc::now() - TimeDelta::hours(1);
    let mut readings = 0;
    for i in 0..50 {
        let d = &mut fleet[i % 5];
        let model = d.model;
        let ev = support::publish_uplink(&publisher, &root, d, t0 + TimeDelta::seconds(i as i64), &mut rng).await;
        readings += support::expected_readings(&ev, model).len() as i64;
    }
    support::eventually("the writer retrying", WAIT, || async {
        (support::metric("roc42_batch_errors_total", "transient") >= errors_before + 2.0).then_some(())
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM uplink").await, 0, "a failed batch commits nothing");
    let http = reqwest::get(app.url("/health")).await.unwrap();
    assert!(http.status().is_success(), "the API stays up while writes fail");

    lock.rollback().await.unwrap();
    support::eventually("every uplink once the database accepts writes", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await == 50).then_some(())
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM reading").await, readings);

    // Acked once committed: nothing comes back after a restart of the session.
    app.shutdown().await;
    let sentinel = format!("{root}/application/x/device/00000000000000ff/event/up");
    publisher.publish(sentinel.clone(), b"sentinel".to_vec()).await.unwrap();
    publisher.wait_acked(51, WAIT).await.unwrap();
    assert_eq!(receive_until(&cfg, &sentinel).await, vec![sentinel]);
    publisher.close().await;
    app_pool.close().await;
    db.drop_db().await;
}
