//! AppSKey custody, through the real Mosquitto and PostgreSQL: when the network server
//! forwards the FRMPayload still encrypted (a join server holds the AppSKey), roc42
//! decrypts it with the key it holds for the device (sealed at rest) and decodes it; a
//! wrong key leaves the uplink kept, as received, with a decryption error.

use std::time::Duration;

use base64::Engine;
use chrono::{DurationRound, TimeDelta, Utc};
use rand::SeedableRng;
use roc42::custody::Sealer;
use roc42::lorawan::AppSKey;
use roc42::simulate;
use serde_json::Value;

use crate::support::{self, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(20);
const MASTER: &str = "6f1c2a9e4b7d03f58e21c6a94d0b7e3f2a5c8d1e9b4f07a36c2e5d8b1f4a7c90";

#[tokio::test]
async fn encrypted_frames_decode_with_the_held_appskey_and_a_wrong_key_is_reported() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut cfg = support::config(&db, &root);
    cfg.keys.master_key = Some(MASTER.into());
    let sealer = Sealer::from_hex(MASTER).unwrap();

    // Three devices whose network server forwards encrypted frames: roc42 holds the
    // right key for the first, a wrong one for the second, none for the third.
    let mut fleet = simulate::fleet(3, 77);
    let keys: Vec<AppSKey> = (0..3u8).map(|i| AppSKey([0x10 + i; 16])).collect();
    for (d, k) in fleet.iter_mut().zip(&keys) {
        d.app_s_key = Some(*k);
    }
    simulate::register(&db.pool, &fleet).await.unwrap();
    let seal = |k: &AppSKey, d: &simulate::SimDevice| sealer.seal(k, d.dev_eui);
    roc42::store::device::set_app_s_key(&db.pool, fleet[0].dev_eui, Some(&seal(&keys[0], &fleet[0]))).await.unwrap();
    let wrong = AppSKey([0xee; 16]);
    roc42::store::device::set_app_s_key(&db.pool, fleet[1].dev_eui, Some(&seal(&wrong, &fleet[1]))).await.unwrap();
    // At rest the key is sealed, not in clear.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT app_s_key_sealed FROM device WHERE dev_eui = $1")
        .bind(fleet[0].dev_eui.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!stored.windows(16).any(|w| w == keys[0].0));

    let app = TestApp::start(&cfg, &db).await;
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let t = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).unwrap() - TimeDelta::minutes(3);
    let mut events = Vec::new();
    for d in fleet.iter_mut() {
        for i in 0..2 {
            let at = t + TimeDelta::seconds(i);
            events.push(support::publish_uplink(&publisher, &root, d, at, &mut rng).await);
        }
    }
    support::eventually("every uplink stored", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await == 6).then_some(())
    })
    .await;

    // The right key: readings as the decoder gives them from the plain frame.
    let ev: Value = serde_json::from_slice(&events[1]).unwrap();
    assert!(ev.get("joinServerContext").is_some());
    let data = base64::engine::general_purpose::STANDARD.decode(ev["data"].as_str().unwrap()).unwrap();
    let f_cnt = u32::try_from(ev["fCnt"].as_u64().unwrap()).unwrap();
    let f_port = u8::try_from(ev["fPort"].as_u64().unwrap()).unwrap();
    let plain = roc42::lorawan::decrypt_uplink(&keys[0], ev["devAddr"].as_str(), Some(f_cnt), f_port, &data).unwrap();
    assert_ne!(plain, data);
    let mut want: Vec<(String, f64)> = roc42_decoders::decode(fleet[0].model, f_port, &plain)
        .unwrap()
        .into_iter()
        .map(|r| (r.metric.name().to_owned(), r.value))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<(String, f64)> = sqlx::query_as(
        "SELECT r.metric, r.value FROM reading r JOIN device d ON d.id = r.device_id
         WHERE d.dev_eui = $1 AND r.time = (SELECT max(time) FROM reading r2 WHERE r2.device_id = d.id)
         ORDER BY r.metric",
    )
    .bind(fleet[0].dev_eui.to_string())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    let rows: Vec<(String, String, Option<String>, Vec<u8>)> =
        sqlx::query_as("SELECT dev_eui, outcome, error, payload FROM uplink ORDER BY dev_eui, f_cnt")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for (eui, outcome, error, payload) in &rows {
        let error = error.as_deref().unwrap_or_default();
        if *eui == fleet[0].dev_eui.to_string() {
            assert_eq!(outcome, "decoded", "{error}");
        } else if *eui == fleet[1].dev_eui.to_string() {
            assert_eq!(outcome, "decode_failed");
            assert!(error.starts_with("decryption error"), "{error}");
        } else {
            assert_eq!(outcome, "encrypted");
            assert!(error.contains("holds no AppSKey"), "{error}");
        }
        // The frame is kept as received (encrypted), so it can be decoded again once the
        // key is fixed.
        assert!(events.iter().any(|e| {
            let v: Value = serde_json::from_slice(e).unwrap();
            base64::engine::general_purpose::STANDARD.decode(v["data"].as_str().unwrap()).unwrap() == *payload
        }));
    }
    assert_eq!(
        db.count(
            "SELECT count(*) FROM reading r JOIN device d ON d.id = r.device_id WHERE d.dev_eui <> '{}'"
                .replace("{}", &fleet[0].dev_eui.to_string())
                .as_str()
        )
        .await,
        0
    );

    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}
