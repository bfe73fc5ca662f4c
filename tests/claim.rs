//! Unknown devices through the real Mosquitto and pipeline: uplinks of DevEUIs nobody
//! registered are kept and queued; claiming one registers it and decodes its stored
//! uplinks from the raw frames (encrypted ones with the AppSKey given at the claim); a
//! device imported after its uplinks arrived is decoded by the sweep.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use rand::SeedableRng;
use roc42::store::token::Role;
use serde_json::{json, Value};

use crate::support::{self, TestApp, TestDb};

const MASTER: &str = "8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677";

async fn readings_of(db: &TestDb, eui: &str) -> Vec<(String, f64)> {
    sqlx::query_as(
        "SELECT r.metric, r.value FROM reading r JOIN device d ON d.id = r.device_id WHERE d.dev_eui = $1
         ORDER BY r.time, r.metric",
    )
    .bind(eui)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn unknown_devices_are_queued_then_claimed_and_their_uplinks_decoded() {
    let db = TestDb::new().await;
    let root = format!("claim-{}", support::unique());
    let mut cfg = support::config(&db, &root);
    cfg.keys.master_key = Some(MASTER.into());
    cfg.pipeline.device_cache_ttl_s = 1;
    let app = TestApp::start(&cfg, &db).await;
    let op = support::client(&support::operator_token(&db.pool).await);
    let commune = support::client(&support::token(&db.pool, Role::Commune, Some("42218")).await);

    // Three devices nobody registered: plain frames, encrypted frames, and one that an
    // import will register later.
    let seed = rand::random::<u8>() as u64;
    let mut fleet = roc42::simulate::fleet(3, seed);
    roc42::simulate::give_app_s_keys(&mut fleet[1..2], 1, seed);
    let key = hex::encode(fleet[1].app_s_key.as_ref().unwrap().0);
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let t0 = Utc::now() - TimeDelta::hours(2);
    let mut events: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    for (i, n) in [(0, 5), (1, 3), (2, 2)] {
        for k in 0..n {
            let t = t0 + TimeDelta::minutes(15 * k as i64 + i as i64);
            events[i].push(support::publish_uplink(&publisher, &root, &mut fleet[i], t, &mut rng).await);
        }
    }
    support::eventually("10 unknown uplinks stored", Duration::from_secs(20), || async {
        (db.count("SELECT count(*) FROM uplink WHERE outcome = 'unknown_device'").await == 10).then_some(())
    })
    .await;

    // The queue: the most recently heard first, with counts and the last payload.
    let q: Value = op.get(app.url("/api/v1/devices/unknown")).send().await.unwrap().json().await.unwrap();
    assert_eq!(q["total"], 3, "{q}");
    let entry = |eui: String| q["devices"].as_array().unwrap().iter().find(|d| d["dev_eui"] == eui).cloned().unwrap();
    let (e0, e1) = (entry(fleet[0].dev_eui.to_string()), entry(fleet[1].dev_eui.to_string()));
    assert_eq!((e0["uplinks"].as_i64(), e0["last_encrypted"].as_bool()), (Some(5), Some(false)));
    assert_eq!((e1["uplinks"].as_i64(), e1["last_encrypted"].as_bool()), (Some(3), Some(true)));
    assert_eq!(e0["lns"], "chirpstack");
    assert!(e0["last_rx"].as_array().is_some_and(|rx| !rx.is_empty()), "{e0}");
    assert!(e0["first_seen_at"].as_str() < e0["last_seen_at"].as_str());
    let last: Value = serde_json::from_slice(events[0].last().unwrap()).unwrap();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(last["data"].as_str().unwrap()).unwrap();
    assert_eq!(e0["last_payload"], hex::encode(bytes));
    // Communes and analysts do not see it.
    assert_eq!(commune.get(app.url("/api/v1/devices/unknown")).send().await.unwrap().status(), 403);

    // Claim the first: its 5 stored uplinks become exactly the readings they carry.
    let claim = |name: &str, model: &str, key: Option<&str>| {
        json!({"name": name, "model": model, "commune": "42218", "site": "École Jules Ferry",
               "service": "air-quality-schools", "latitude": 45.44, "longitude": 4.38, "app_s_key": key})
    };
    let url = |i: usize| app.url(&format!("/api/v1/devices/unknown/{}/claim", fleet[i].dev_eui));
    let r = op.post(url(0)).json(&claim("Classe 1", fleet[0].model, None)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["reprocessed"],
        json!({"uplinks": 5, "decoded": 5, "failed": 0, "unknown": 0, "readings": v["reprocessed"]["readings"]})
    );
    let mut expected: Vec<(String, f64)> = Vec::new();
    for e in &events[0] {
        expected.extend(support::expected_readings(e, fleet[0].model));
    }
    assert_eq!(v["reprocessed"]["readings"].as_u64(), Some(expected.len() as u64));
    let mut got = readings_of(&db, &fleet[0].dev_eui.to_string()).await;
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, expected);
    assert!(v["device"]["last_seen_at"].as_str().is_some(), "the claim sets last-seen: {v}");

    // Claim the second with its AppSKey: its encrypted frames are decrypted and decoded.
    let r = op.post(url(1)).json(&claim("Classe 2", fleet[1].model, Some(&key))).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["reprocessed"]["uplinks"].as_u64(), v["reprocessed"]["decoded"].as_u64()), (Some(3), Some(3)), "{v}");
    assert!(!readings_of(&db, &fleet[1].dev_eui.to_string()).await.is_empty());
    let still: i64 = db
        .count(&format!("SELECT count(*) FROM uplink WHERE dev_eui = '{}' AND outcome <> 'decoded'", fleet[1].dev_eui))
        .await;
    assert_eq!(still, 0);

    // Claiming again, or a DevEUI never heard, is a 404; a mismatched body a 400.
    assert_eq!(op.post(url(0)).json(&claim("x", fleet[0].model, None)).send().await.unwrap().status(), 404);
    let never = app.url("/api/v1/devices/unknown/0000000000000abc/claim");
    assert_eq!(op.post(never).json(&claim("x", fleet[0].model, None)).send().await.unwrap().status(), 404);
    let mut mismatched = claim("x", fleet[2].model, None);
    mismatched["dev_eui"] = json!("0000000000000abc");
    assert_eq!(op.post(url(2)).json(&mismatched).send().await.unwrap().status(), 400);

    // The third is registered by a file import instead: the sweep decodes its uplinks.
    let csv = format!(
        "dev_eui,name,model,commune,site,service,latitude,longitude\n{},Compteur,{},42218,Mairie,energy-buildings,45.43,4.39\n",
        fleet[2].dev_eui, fleet[2].model
    );
    roc42::onboarding::import(&db.pool, csv.as_bytes(), None, |_| {}).await.unwrap();
    let eui2 = fleet[2].dev_eui.to_string();
    support::eventually("the sweep decodes the imported device's uplinks", Duration::from_secs(20), || async {
        let left = db
            .count(&format!("SELECT count(*) FROM uplink WHERE dev_eui = '{eui2}' AND outcome = 'unknown_device'"))
            .await;
        (left == 0).then_some(())
    })
    .await;
    let mut expected: Vec<(String, f64)> =
        events[2].iter().flat_map(|e| support::expected_readings(e, fleet[2].model)).collect();
    let mut got = readings_of(&db, &eui2).await;
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, expected);
    let q: Value = op.get(app.url("/api/v1/devices/unknown")).send().await.unwrap().json().await.unwrap();
    assert_eq!(q["total"], 0, "the queue is empty: {q}");

    // New uplinks of a claimed device are decoded by the pipeline as usual (once the
    // registry's cache, 1 s here, has seen it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = support::publish_uplink(&publisher, &root, &mut fleet[0], Utc::now(), &mut rng).await;
    let n = support::expected_readings(&e, fleet[0].model).len();
    let eui0 = fleet[0].dev_eui.to_string();
    support::eventually("a live uplink of the claimed device", Duration::from_secs(20), || async {
        (db.count(&format!("SELECT count(*) FROM uplink WHERE dev_eui = '{eui0}' AND outcome = 'decoded'")).await == 6)
            .then_some(())
    })
    .await;
    assert_eq!(readings_of(&db, &eui0).await.len(), expected_len(&events[0], fleet[0].model) + n);
    app.shutdown().await;
    db.drop_db().await;
}

fn expected_len(events: &[Vec<u8>], model: &str) -> usize {
    events.iter().map(|e| support::expected_readings(e, model).len()).sum()
}
