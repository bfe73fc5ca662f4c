//! `roc42 reprocess` as an operator runs it after a decoder fix: stored frames that failed
//! to decode become readings, wrong readings take the right values, and a second run
//! changes nothing.

use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use roc42::store::device::{self, NewDevice};
use serde_json::Value;

use crate::support::TestDb;

/// An Elsys ERS CO2 frame: 5 readings (temperature 22.6 °C, humidity 41 %, light 39 lx,
/// motion 6, CO2 776 ppm).
const FRAME: &str = "0100e202290400270506060308";

fn reprocess(db: &TestDb, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_roc42"))
        .arg("reprocess")
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("ROC42_LOG", "warn")
        .output()
        .expect("run roc42 reprocess");
    assert!(out.status.success(), "roc42 reprocess: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON summary")
}

#[tokio::test]
async fn reprocess_after_a_fix_decodes_stored_frames_idempotently() {
    let db = TestDb::new().await;
    let eui = "a81758fffe0d0001";
    // Registered under the wrong model: its frames were kept as decode_failed.
    let d = device::upsert(
        &db.pool,
        &NewDevice {
            dev_eui: eui.parse().unwrap(),
            name: "salle".into(),
            model: "tekzitel-tekzipark".into(),
            commune: None,
        },
    )
    .await
    .unwrap();
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z").unwrap().into();
    let times: Vec<DateTime<Utc>> = (0..50).map(|i| t0 + TimeDelta::minutes(i)).collect();
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    sqlx::query(
        "INSERT INTO uplink (time, received_at, dedup_key, lns, device_id, dev_eui, f_cnt, f_port, payload, outcome, error)
         SELECT t, t, k, 'chirpstack', $3, $4, 1, 1, $5, 'decode_failed', 'unknown frame' FROM UNNEST($1::timestamptz[], $2::text[]) AS u(t, k)",
    )
    .bind(&times)
    .bind(&keys)
    .bind(d.id)
    .bind(eui)
    .bind(hex::decode(FRAME).unwrap())
    .execute(&db.pool)
    .await
    .unwrap();
    // One wrong reading from an earlier decoder, at the time of the first frame.
    sqlx::query("INSERT INTO reading (time, device_id, metric, value) VALUES ($1, $2, 'air.co2', 7760)")
        .bind(t0)
        .bind(d.id)
        .execute(&db.pool)
        .await
        .unwrap();
    // An uplink outside the range asked for stays as it is.
    sqlx::query(
        "INSERT INTO uplink (time, received_at, dedup_key, lns, device_id, dev_eui, f_port, payload, outcome, error)
         VALUES ($1, $1, 'late', 'chirpstack', $2, $3, 1, $4, 'decode_failed', 'unknown frame')",
    )
    .bind(t0 + TimeDelta::days(2))
    .bind(d.id)
    .bind(eui)
    .bind(hex::decode(FRAME).unwrap())
    .execute(&db.pool)
    .await
    .unwrap();

    // The fix: the right model.
    sqlx::query("UPDATE device SET model = 'elsys-ers-co2' WHERE id = $1").bind(d.id).execute(&db.pool).await.unwrap();
    let args = ["--model", "elsys-ers-co2", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-03T00:00:00Z"];
    let summary = reprocess(&db, &args);
    assert_eq!(summary, serde_json::json!({"uplinks": 50, "decoded": 50, "failed": 0, "unknown": 0, "readings": 250}));
    assert_eq!(db.count("SELECT count(*) FROM reading").await, 250);
    assert_eq!(
        db.count("SELECT count(*) FROM uplink WHERE outcome = 'decoded' AND readings = 5 AND error IS NULL").await,
        50
    );
    assert_eq!(db.count("SELECT count(*) FROM uplink WHERE dedup_key = 'late' AND outcome = 'decode_failed'").await, 1);
    let co2: f64 = sqlx::query_scalar("SELECT value FROM reading WHERE metric = 'air.co2' AND time = $1")
        .bind(t0)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(co2, 776.0, "the wrong reading took the right value");
    let last_seen: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT last_seen_at FROM device WHERE id = $1")
        .bind(d.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(last_seen, Some(t0 + TimeDelta::minutes(49)));

    // Again: the same outcome, nothing added.
    assert_eq!(reprocess(&db, &args)["decoded"], 50);
    assert_eq!(db.count("SELECT count(*) FROM reading").await, 250);
    // Only what failed, for one device: the late frame.
    let s = reprocess(&db, &["--dev-eui", eui, "--outcome", "decode_failed"]);
    assert_eq!((s["uplinks"].as_u64(), s["decoded"].as_u64()), (Some(1), Some(1)));
    assert_eq!(db.count("SELECT count(*) FROM reading").await, 255);
    // What reprocessing wrote reaches the rollups: marked in its transaction.
    roc42::store::rollup::refresh_all(&db.pool, None).await.unwrap();
    assert_eq!(db.count("SELECT coalesce(sum(count), 0)::int8 FROM rollup_hour").await, 255);
    assert_eq!(db.count("SELECT coalesce(sum(count), 0)::int8 FROM rollup_day").await, 255);
    db.drop_db().await;
}
