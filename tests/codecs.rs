//! Operator-added models with JS codecs, through the real Mosquitto and PostgreSQL: a
//! model is added from its manifest, its devices' uplinks decode in the sandbox, and
//! codecs that loop forever or allocate without bound fail their own uplinks with a
//! clear error while every other uplink keeps flowing.

use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DurationRound, TimeDelta, Utc};
use roc42::lorawan::DevEui;
use roc42::pipeline::models;
use roc42::store;
use roc42_decoders::manifest::Manifest;
use serde_json::{json, Value};

use crate::support::{self, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(30);

fn example_model() -> (Manifest, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/models/example-co2");
    let manifest = Manifest::parse(&std::fs::read_to_string(format!("{dir}/manifest.toml")).unwrap()).unwrap();
    (manifest, std::fs::read_to_string(format!("{dir}/codec.js")).unwrap())
}

/// A manifest for a codec written here; `trap` runs when the first byte is 0xff, so the
/// codec passes the check at `models add` and misbehaves only on those frames.
fn trap_model(id: &str, trap: &str) -> (Manifest, String) {
    let text = format!(
        "id = \"{id}\"\nvendor = \"Test\"\nmodel = \"{id}\"\ncategory = \"energy\"\nuplink_port = 2\n\
         [decoder]\njs = \"{id}.js\"\n[[decoder.mapping]]\nfield = \"index\"\nmetric = \"pulse.count\"\n\
         [[examples]]\nf_port = 2\nhex = \"0001\"\nreadings = {{ \"pulse.count\" = 1.0 }}\n"
    );
    let codec = format!(
        "function decodeUplink(input) {{\n  var b = input.bytes;\n  if (b[0] === 0xff) {{ {trap} }}\n  \
         return {{ data: {{ index: (b[0] << 8) | b[1] }} }};\n}}\n"
    );
    (Manifest::parse(&text).unwrap(), codec)
}

/// A ChirpStack v4 `up` event carrying `bytes`.
fn event(eui: DevEui, f_cnt: u32, f_port: u8, bytes: &[u8], t: chrono::DateTime<Utc>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "deduplicationId": uuid::Uuid::new_v4().to_string(),
        "time": t.to_rfc3339(),
        "deviceInfo": {"tenantId": "t", "applicationId": "a", "deviceProfileName": "p", "deviceName": "d",
                       "devEui": eui.to_string()},
        "devAddr": "01020304",
        "fCnt": f_cnt,
        "fPort": f_port,
        "data": base64::engine::general_purpose::STANDARD.encode(bytes),
        "rxInfo": [],
    }))
    .unwrap()
}

#[tokio::test]
async fn js_codecs_decode_and_bad_ones_are_contained_while_others_flow() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut cfg = support::config(&db, &root);
    cfg.codecs.js_threads = 2;
    // Long enough that the allocation bomb reaches the memory limit first even on a busy
    // machine.
    cfg.codecs.js_time_limit_ms = 400;
    cfg.codecs.js_memory_limit_mib = 16;
    let limits = cfg.codecs.js_limits();

    // Models go in through the same path as `roc42 models add`.
    let (m, codec) = example_model();
    models::add(&db.pool, m, Some(codec), limits).await.unwrap();
    let (m, codec) = trap_model("test-loop", "for (;;) {}");
    models::add(&db.pool, m, Some(codec), limits).await.unwrap();
    let (m, codec) = trap_model("test-bomb", "var a = []; for (;;) a.push(new Array(65536).fill(b[1]));");
    models::add(&db.pool, m, Some(codec), limits).await.unwrap();
    // A codec that misbehaves on every frame is refused at the door.
    let (m, codec) = trap_model("test-always-loops", "");
    let e = models::add(&db.pool, m, Some(codec.replace("if (b[0] === 0xff) {  }", "for (;;) {}")), limits)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("time limit"), "{e}");
    // And a built-in id cannot be taken.
    let (mut m, codec) = example_model();
    m.id = "elsys-ers-co2".into();
    assert!(models::add(&db.pool, m, Some(codec), limits).await.unwrap_err().to_string().contains("built-in"));

    let devices = [
        (DevEui(0x70b3_d5e7_5e00_0001), "example-co2"),
        (DevEui(0x70b3_d5e7_5e00_0002), "test-loop"),
        (DevEui(0x70b3_d5e7_5e00_0003), "test-bomb"),
        (DevEui(0x70b3_d5e7_5e00_0004), "elsys-ers-co2"),
    ];
    for (eui, model) in devices {
        let d = store::device::NewDevice { dev_eui: eui, name: model.into(), model: model.into(), commune: None };
        store::device::upsert(&db.pool, &d).await.unwrap();
    }
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let topic = |eui: DevEui| format!("{root}/application/a/device/{eui}/event/up");

    // Rounds of: a good JS frame, a looping one, a bombing one, a native one.
    const ROUNDS: u32 = 12;
    let t0 = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).unwrap() - TimeDelta::hours(1);
    let started = Instant::now();
    for i in 0..ROUNDS {
        let t = t0 + TimeDelta::seconds(i64::from(i));
        let co2 = 400 + u16::try_from(i).unwrap();
        let good = [vec![0x01], co2.to_be_bytes().to_vec(), vec![0x08, 0x98, 0x5a, 0x0b, 0xb8]].concat();
        publisher.publish(topic(devices[0].0), event(devices[0].0, i, 1, &good, t)).await.unwrap();
        publisher.publish(topic(devices[1].0), event(devices[1].0, i, 2, &[0xff, 1], t)).await.unwrap();
        publisher.publish(topic(devices[2].0), event(devices[2].0, i, 2, &[0xff, 2], t)).await.unwrap();
        let ers = hex::decode("0100e202290400270506060308").unwrap();
        publisher.publish(topic(devices[3].0), event(devices[3].0, i, 5, &ers, t)).await.unwrap();
    }
    let total = i64::from(ROUNDS) * 4;
    support::eventually("every uplink stored", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await == total).then_some(())
    })
    .await;
    let elapsed = started.elapsed();

    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT u.dev_eui, u.outcome, u.error, (SELECT count(*) FROM reading r WHERE r.device_id = u.device_id
            AND r.time = u.time) FROM uplink u ORDER BY u.time, u.dev_eui",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for (eui, outcome, error, readings) in &rows {
        let model = devices.iter().find(|d| d.0.to_string() == *eui).unwrap().1;
        match model {
            "example-co2" => assert_eq!((outcome.as_str(), *readings), ("decoded", 4), "{error:?}"),
            "elsys-ers-co2" => assert_eq!((outcome.as_str(), *readings), ("decoded", 5), "{error:?}"),
            "test-loop" => {
                assert_eq!(outcome, "decode_failed");
                assert_eq!(error.as_deref(), Some("codec stopped: it ran past its time limit of 400 ms"));
            }
            _ => {
                assert_eq!(outcome, "decode_failed");
                let e = error.as_deref().unwrap();
                assert!(e.contains("memory limit of 16777216 bytes"), "{e}");
            }
        }
    }
    // The JS readings are right, at the network time.
    let co2: Vec<(chrono::DateTime<Utc>, f64)> = sqlx::query_as(
        "SELECT time, value FROM reading r JOIN device d ON d.id = r.device_id
         WHERE d.model = 'example-co2' AND metric = 'air.co2' ORDER BY time",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let want: Vec<_> = (0..ROUNDS).map(|i| (t0 + TimeDelta::seconds(i64::from(i)), f64::from(400 + i))).collect();
    assert_eq!(co2, want);
    // The bad codecs cost their own time limits on the worker threads, not the sum of
    // everything queued behind them: 12 loops x 400 ms over 2 threads is 2.4 s.
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");

    // The catalogue lists the added models with their decoder kind.
    let http = support::client(&support::operator_token(&db.pool).await);
    let list: Value = http.get(app.url("/api/v1/models")).send().await.unwrap().json().await.unwrap();
    let example = list.as_array().unwrap().iter().find(|m| m["id"] == "example-co2").unwrap();
    assert_eq!((example["decoder"].as_str(), example["builtin"].as_bool()), (Some("js"), Some(false)));
    assert_eq!(example["metrics"].as_array().unwrap().len(), 4);
    let one: Value = http.get(app.url("/api/v1/models/elsys-ers-co2")).send().await.unwrap().json().await.unwrap();
    assert_eq!((one["decoder"].as_str(), one["builtin"].as_bool()), (Some("native"), Some(true)));
    assert_eq!(http.get(app.url("/api/v1/models/nope")).send().await.unwrap().status(), 404);

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_changed_codec_is_picked_up_without_a_restart() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut cfg = support::config(&db, &root);
    cfg.codecs.model_cache_ttl_s = 0;
    let limits = cfg.codecs.js_limits();
    let eui = DevEui(0x70b3_d5e7_5e00_0010);
    let d = store::device::NewDevice { dev_eui: eui, name: "meter".into(), model: "test-meter".into(), commune: None };
    store::device::upsert(&db.pool, &d).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let topic = format!("{root}/application/a/device/{eui}/event/up");
    let t = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).unwrap() - TimeDelta::minutes(10);

    // Before the model exists: kept as unknown_model.
    publisher.publish(topic.clone(), event(eui, 1, 2, &[0, 7], t)).await.unwrap();
    support::eventually("the unknown_model uplink", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink WHERE outcome = 'unknown_model'").await == 1).then_some(())
    })
    .await;
    // Added: decoded with it.
    let (m, codec) = trap_model("test-meter", "return { errors: ['trap'] };");
    models::add(&db.pool, m.clone(), Some(codec.clone()), limits).await.unwrap();
    publisher.publish(topic.clone(), event(eui, 2, 2, &[0, 7], t + TimeDelta::seconds(1))).await.unwrap();
    // Changed (the index is now scaled by 10 in the codec): the next uplink uses it.
    support::eventually("the first decoded uplink", WAIT, || async {
        (db.count("SELECT count(*) FROM reading WHERE value = 7").await == 1).then_some(())
    })
    .await;
    models::add(&db.pool, m, Some(codec.replace("(b[0] << 8) | b[1]", "((b[0] << 8) | b[1]) * 10")), limits)
        .await
        .unwrap_err(); // the manifest's example (index 1) no longer holds: refused
    let (m2, codec2) = trap_model("test-meter", "return { errors: ['trap'] };");
    let mut m2 = m2;
    m2.decoder = roc42_decoders::manifest::DecoderSpec::Js {
        js: "test-meter.js".into(),
        mapping: vec![roc42_decoders::manifest::MappingSpec {
            field: "index".into(),
            metric: "pulse.count".into(),
            scale: 10.0,
        }],
    };
    m2.examples[0].readings.insert("pulse.count".into(), 10.0);
    models::add(&db.pool, m2, Some(codec2), limits).await.unwrap();
    publisher.publish(topic.clone(), event(eui, 3, 2, &[0, 7], t + TimeDelta::seconds(2))).await.unwrap();
    support::eventually("the uplink decoded with the new mapping", WAIT, || async {
        (db.count("SELECT count(*) FROM reading WHERE value = 70").await == 1).then_some(())
    })
    .await;

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}
