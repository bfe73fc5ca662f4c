//! Rollups, retention, indicators, exports and alerts against the real database, with
//! expected values computed by hand (or, for rollups, by recomputing from raw in SQL).

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, DurationRound, Utc};
use roc42::onboarding;
use roc42::store::domain::{self, SiteInput};
use roc42::store::rollup;
use roc42::store::token::Role;
use serde_json::{json, Value};

use crate::support::{insert_readings, request, router_as, upsert_readings, TestDb};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn id_of(db: &TestDb, eui: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM device WHERE dev_eui = $1").bind(eui).fetch_one(&db.pool).await.unwrap()
}

async fn import(db: &TestDb, lines: &str) {
    let lines: String = lines.lines().map(|l| format!("{l},45.44,4.39\n")).collect();
    let csv = format!("dev_eui,name,model,commune,site,service,latitude,longitude\n{lines}");
    onboarding::import(&db.pool, csv.as_bytes(), None, |_| {}).await.unwrap();
}

/// The rollups as stored and as recomputed from every raw reading, rounded, sorted.
async fn rollups_vs_recomputation(db: &TestDb, table: &str, bucket: &str) -> (Vec<String>, Vec<String>) {
    let stored = format!(
        "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', device_id, metric, bucket, count, round(sum::numeric, 6),
            min, max, first, last, last_time, round(increase::numeric, 6))
        FROM {table} ORDER BY device_id, metric, bucket"
    );
    let recomputed = format!(
        "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', device_id, metric, b, count(*), round(sum(value)::numeric, 6),
            min(value), max(value), first(value, time), last(value, time), max(time),
            round(coalesce(sum(CASE WHEN prev IS NULL THEN 0 WHEN value >= prev THEN value - prev ELSE value END), 0)::numeric, 6))
        FROM (SELECT r.*, {bucket} AS b,
                     lag(value) OVER (PARTITION BY device_id, metric, {bucket} ORDER BY time) AS prev
              FROM reading r JOIN device d ON d.id = r.device_id LEFT JOIN commune c ON c.insee = d.commune) x
        GROUP BY device_id, metric, b ORDER BY device_id, metric, b"
    );
    let a: Vec<String> = sqlx::query_scalar(&stored).fetch_all(&db.pool).await.unwrap();
    let b: Vec<String> = sqlx::query_scalar(&recomputed).fetch_all(&db.pool).await.unwrap();
    (a, b)
}

/// The daily rollups equal a recomputation from the raw readings in each device's
/// commune's zone.
async fn assert_days_equal_a_recomputation(db: &TestDb) {
    let (stored, recomputed) =
        rollups_vs_recomputation(db, "rollup_day", "time_bucket('1 day', time, coalesce(c.time_zone, 'Europe/Paris'))")
            .await;
    assert_eq!(stored, recomputed);
}

#[tokio::test]
async fn rollups_equal_a_recomputation_after_out_of_order_inserts_and_corrections() {
    let db = TestDb::new().await;
    // Two devices in Saint-Étienne (Paris time), one in a commune on Réunion time (UTC+4).
    domain::upsert_commune(
        &db.pool,
        &domain::CommuneInput {
            insee: "97411".into(),
            name: "Saint-Denis".into(),
            latitude: -20.88,
            longitude: 55.45,
            time_zone: Some("Indian/Reunion".into()),
        },
    )
    .await
    .unwrap();
    import(
        &db,
        "a81758fffe0c0001,Salle 1,elsys-ers-co2,42218,École A,air-quality-schools\n\
         a81758fffe0c0002,Compteur,milesight-ct101,42218,Mairie,energy-buildings\n\
         a81758fffe0c0003,Salle R,elsys-ers-co2,97411,École R,air-quality-schools\n",
    )
    .await;
    let ids = [
        id_of(&db, "a81758fffe0c0001").await,
        id_of(&db, "a81758fffe0c0002").await,
        id_of(&db, "a81758fffe0c0003").await,
    ];

    // Readings every 10 minutes over three days across the spring DST change (Paris,
    // 2026-03-29 02:00 -> 03:00), a CO2 gauge and an energy index with a reset.
    let start = t("2026-03-27T20:00:00Z");
    let mut rows: Vec<(i64, &str, DateTime<Utc>, f64)> = Vec::new();
    for i in 0..(3 * 144) {
        let time = start + Duration::minutes(10 * i);
        rows.push((ids[0], "air.co2", time, 400.0 + ((i * 37) % 900) as f64));
        rows.push((ids[2], "air.co2", time, 500.0 + ((i * 53) % 700) as f64));
        let index = if i < 200 { 10_000.0 + 25.0 * i as f64 } else { 30.0 * (i - 200) as f64 };
        rows.push((ids[1], "energy.active_import", time, index));
    }
    // Shuffled deterministically, written in uneven batches, rollups refreshed partly in
    // between (as the background task would, at any moment).
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut seed: u64 = 42;
    for i in (1..order.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, (seed >> 33) as usize % (i + 1));
    }
    for (n, chunk) in order.chunks(97).enumerate() {
        let batch: Vec<_> = chunk.iter().map(|&i| rows[i]).collect();
        upsert_readings(&db.pool, &batch).await;
        if n % 3 == 0 {
            rollup::refresh(&db.pool, 7, None).await.unwrap();
        }
    }
    // Corrections (a reprocessed decoder) and very late data for an old hour.
    insert_readings(
        &db.pool,
        &[
            (ids[0], "air.co2", start + Duration::minutes(10), 5000.0),
            (ids[0], "air.co2", start + Duration::minutes(13), 1.0),
            (ids[1], "energy.active_import", start + Duration::minutes(20 * 144 + 5), 99.0),
        ],
    )
    .await;
    assert_eq!(rollup::pending(&db.pool).await.unwrap(), 0);

    let (stored, recomputed) = rollups_vs_recomputation(&db, "rollup_hour", "time_bucket('1 hour', time)").await;
    assert_eq!(stored.len(), 3 * 72, "72 hours of 3 devices");
    assert_eq!(stored, recomputed);
    assert_days_equal_a_recomputation(&db).await;
    // The spring-change day in Paris has 23 hours of readings (138 of them), Réunion's 24.
    let counts: Vec<(i64, DateTime<Utc>, i32)> = sqlx::query_as(
        "SELECT device_id, bucket, count FROM rollup_day WHERE metric = 'air.co2' AND bucket >= '2026-03-28T20:00:00Z'
         AND bucket < '2026-03-29T23:00:00Z' ORDER BY device_id, bucket",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(counts.contains(&(ids[0], t("2026-03-28T23:00:00Z"), 138)), "{counts:?}");
    assert!(counts.contains(&(ids[2], t("2026-03-28T20:00:00Z"), 144)), "{counts:?}");

    // Service rollups add up the devices' hours.
    const SERVICES: &str = "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', commune, service, metric, bucket, devices, count,
        round(sum::numeric, 6), min) FROM rollup_service_hour ORDER BY 1";
    const SERVICES_BY_HAND: &str = "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', d.commune, d.service_id, h.metric, h.bucket,
        count(*), sum(h.count), round(sum(h.sum)::numeric, 6), min(h.min))
        FROM rollup_hour h JOIN device d ON d.id = h.device_id GROUP BY d.commune, d.service_id, h.metric, h.bucket ORDER BY 1";
    let services: Vec<String> = sqlx::query_scalar(SERVICES).fetch_all(&db.pool).await.unwrap();
    let by_hand: Vec<String> = sqlx::query_scalar(SERVICES_BY_HAND).fetch_all(&db.pool).await.unwrap();
    assert_eq!(services.len(), 3 * 72);
    assert_eq!(services, by_hand);

    // A set-based rebuild gives the same rollups as the marks did.
    let (hours_before, _) = rollups_vs_recomputation(&db, "rollup_hour", "time_bucket('1 hour', time)").await;
    let (days_before, _) = rollups_vs_recomputation(&db, "rollup_day", "time_bucket('1 day', time, 'UTC')").await;
    let r = rollup::rebuild(&db.pool, start - Duration::days(2), start + Duration::days(5), |_| {}).await.unwrap();
    assert_eq!((r.hours, r.services), (3 * 72, 3 * 72));
    let (hours_after, _) = rollups_vs_recomputation(&db, "rollup_hour", "time_bucket('1 hour', time)").await;
    let (days_after, _) = rollups_vs_recomputation(&db, "rollup_day", "time_bucket('1 day', time, 'UTC')").await;
    assert_eq!((hours_after, days_after), (hours_before, days_before));
    let services_after: Vec<String> = sqlx::query_scalar(SERVICES).fetch_all(&db.pool).await.unwrap();
    assert_eq!(services_after, services);
}

#[tokio::test]
async fn days_that_do_not_start_on_a_whole_hour_are_rolled_up_from_the_readings() {
    // Local days are added up from the hourly rollups when they start on a whole UTC
    // hour; in a zone half an hour off (India, UTC+5:30) they are recomputed from the
    // readings, and must still equal a recomputation.
    let db = TestDb::new().await;
    domain::upsert_commune(
        &db.pool,
        &domain::CommuneInput {
            insee: "97412".into(),
            name: "Half-hour town".into(),
            latitude: 12.97,
            longitude: 77.59,
            time_zone: Some("Asia/Kolkata".into()),
        },
    )
    .await
    .unwrap();
    import(
        &db,
        "a81758fffe0c0011,Compteur K,milesight-ct101,97412,Mairie K,energy-buildings\n\
         a81758fffe0c0012,Compteur P,milesight-ct101,42218,Mairie P,energy-buildings\n",
    )
    .await;
    let ids = [id_of(&db, "a81758fffe0c0011").await, id_of(&db, "a81758fffe0c0012").await];
    let start = t("2026-06-01T00:05:00Z");
    for (n, chunk) in (0..(2 * 96)).collect::<Vec<i64>>().chunks(13).enumerate() {
        let mut rows = Vec::new();
        for &i in chunk {
            let index = if i == 100 { 3.0 } else { 1000.0 + 7.5 * i as f64 };
            for id in ids {
                rows.push((id, "energy.active_import", start + Duration::minutes(15 * i), index));
            }
        }
        upsert_readings(&db.pool, &rows).await;
        if n % 2 == 0 {
            rollup::refresh(&db.pool, 11, None).await.unwrap();
        }
    }
    rollup::refresh_all(&db.pool, None).await.unwrap();
    assert_days_equal_a_recomputation(&db).await;
    let kolkata_midnight: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT DISTINCT bucket FROM rollup_day WHERE device_id = $1 ORDER BY 1")
            .bind(ids[0])
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(kolkata_midnight.contains(&t("2026-06-01T18:30:00Z")), "{kolkata_midnight:?}");
}

#[tokio::test]
async fn the_pipeline_keeps_rollups_current() {
    // The batch writer marks what it writes: readings that arrive through MQTT end up in
    // the hourly rollups without anyone calling refresh.
    use rand::SeedableRng;
    let db = TestDb::new().await;
    let root = format!("it-{}", crate::support::unique());
    let mut cfg = crate::support::config(&db, &root);
    cfg.analytics.rollup_interval_ms = 100;
    cfg.analytics.service_rollup_interval_ms = 300;
    let mut fleet = roc42::simulate::fleet(4, 7);
    roc42::simulate::register(&db.pool, &fleet).await.unwrap();
    // An alert rule every CO2 reading trips, with a webhook: evaluated and delivered by
    // the background tasks alone.
    let (url, got) = receiver(0).await;
    let rule = json!({"name": "any CO2", "kind": "threshold", "service_id": "air-quality-schools", "metric": "air.co2",
        "threshold": 0.0, "webhook_url": url, "webhook_secret": "s3cret"});
    let (s, v) =
        request(&router_as(&db, Role::Operator, None).await, Method::POST, "/api/v1/alerts/rules", Some(rule), None)
            .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let app = crate::support::TestApp::start(&cfg, &db).await;
    let publisher = crate::support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // Ten uplinks per device, 15 minutes apart, the last ones first (out of order).
    let start = Utc::now() - Duration::hours(3);
    for k in (0..10).rev() {
        for d in fleet.iter_mut() {
            crate::support::publish_uplink(&publisher, &root, d, start + Duration::minutes(15 * k), &mut rng).await;
        }
    }
    let wait = std::time::Duration::from_secs(30);
    crate::support::eventually("uplinks stored", wait, || async {
        (db.count("SELECT count(*) FROM uplink").await >= 40).then_some(())
    })
    .await;
    crate::support::eventually("rollups caught up", wait, || async {
        let rolled: Option<i64> =
            sqlx::query_scalar("SELECT sum(count)::int8 FROM rollup_hour").fetch_one(&db.pool).await.unwrap();
        (rolled == Some(db.count("SELECT count(*) FROM reading").await) && rolled > Some(0)).then_some(())
    })
    .await;
    // The service hours the refreshes queued, recomputed at their own cadence.
    crate::support::eventually("service rollups caught up", wait, || async {
        let services: Option<i64> =
            sqlx::query_scalar("SELECT sum(count)::int8 FROM rollup_service_hour").fetch_one(&db.pool).await.unwrap();
        let placed: Option<i64> = sqlx::query_scalar(
            "SELECT sum(h.count)::int8 FROM rollup_hour h JOIN device d ON d.id = h.device_id
             WHERE d.commune IS NOT NULL AND d.service_id IS NOT NULL",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        (services == placed && services > Some(0)).then_some(())
    })
    .await;
    crate::support::eventually("an alert opened and its webhook delivered", wait, || {
        let got = got.clone();
        async move {
            let got = got.lock().unwrap();
            got.iter().any(|g| g.0["event"] == "alert.opened" && g.1 == g.2).then_some(())
        }
    })
    .await;
    publisher.close().await;
    app.shutdown().await;
    let (stored, recomputed) = rollups_vs_recomputation(&db, "rollup_hour", "time_bucket('1 hour', time)").await;
    assert_eq!(stored, recomputed);
    assert_days_equal_a_recomputation(&db).await;
}

#[tokio::test]
async fn retention_drops_raw_chunks_and_keeps_rollups() {
    let db = TestDb::new().await;
    import(&db, "a81758fffe0d0001,Salle,elsys-ers-co2,42218,École A,air-quality-schools\n").await;
    let id = id_of(&db, "a81758fffe0d0001").await;
    let now = Utc::now();
    // On the hour: its two readings share one hourly bucket.
    let old = (now - Duration::days(400)).duration_trunc(Duration::hours(1)).unwrap();
    insert_readings(
        &db.pool,
        &[
            (id, "air.co2", old, 700.0),
            (id, "air.co2", old + Duration::minutes(10), 900.0),
            (id, "air.co2", now, 450.0),
        ],
    )
    .await;
    let dropped =
        rollup::retain(&db.pool, Some(now - Duration::days(365)), Some(now - Duration::days(365))).await.unwrap();
    assert!(dropped.reading_chunks >= 1, "{dropped:?}");
    let raw: Vec<f64> =
        sqlx::query_scalar("SELECT value FROM reading ORDER BY time").fetch_all(&db.pool).await.unwrap();
    assert_eq!(raw, [450.0]);
    let hour: (i32, f64) = sqlx::query_as("SELECT count, sum FROM rollup_hour WHERE bucket < $1")
        .bind(now - Duration::days(300))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(hour, (2, 1600.0));
    // A reading arriving for that dropped period leaves the old rollup as it was.
    roc42::store::reading::upsert(&db.pool, &[id], &["air.co2"], &[old + Duration::minutes(20)], &[1000.0])
        .await
        .unwrap();
    let r = rollup::refresh_all(&db.pool, Some(now - Duration::days(365))).await.unwrap();
    assert_eq!(r.frozen, 1);
    let hour: (i32, f64) = sqlx::query_as("SELECT count, sum FROM rollup_hour WHERE bucket < $1")
        .bind(now - Duration::days(300))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(hour, (2, 1600.0));
}

const ROOM: &str = "a81758fffe0e0001";
const PM: &str = "a81758fffe0e0002";
const METER: &str = "a81758fffe0e0003";
const SPACE_A: &str = "a81758fffe0e0004";
const SPACE_B: &str = "a81758fffe0e0005";

/// A school with a classroom CO2 sensor, a particle sensor, an electricity meter and two
/// parking spaces, all at one site of Saint-Étienne; one Monday 2026-01-05 of data.
async fn school(db: &TestDb) -> i64 {
    import(
        db,
        &format!(
            "{ROOM},Salle CM2,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools\n\
             {PM},Particules cour,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools\n\
             {METER},Compteur général,milesight-ct101,42218,École Jules Ferry,energy-buildings\n\
             {SPACE_A},Place 1,nwave-nps405,42218,École Jules Ferry,smart-parking\n\
             {SPACE_B},Place 2,nwave-nps405,42218,École Jules Ferry,smart-parking\n"
        ),
    )
    .await;
    let site: i64 =
        sqlx::query_scalar("SELECT id FROM site WHERE name = 'École Jules Ferry'").fetch_one(&db.pool).await.unwrap();
    // Occupied Mondays 10:00-11:00 local (09:00-10:00 UTC in winter); 1200 m2; baseline 2025.
    let occupancy =
        serde_json::from_value(json!({"slots": [{"days": ["mon"], "from": "10:00", "to": "11:00"}]})).unwrap();
    let input = SiteInput {
        occupancy: Some(occupancy),
        floor_area_m2: Some(1200.0),
        operat_id: Some("EFA-42218-0001".into()),
        baseline_year: Some(2025),
        ..SiteInput::default()
    };
    domain::update_site(&db.pool, site, &input).await.unwrap();
    let (room, pm, meter, a, b) = (
        id_of(db, ROOM).await,
        id_of(db, PM).await,
        id_of(db, METER).await,
        id_of(db, SPACE_A).await,
        id_of(db, SPACE_B).await,
    );
    let mut rows = Vec::new();
    // CO2 every 10 minutes from 09:00 UTC: 600, 900, 1200, 1600, 1800, 700 (see the unit
    // test: above 800 4/6, above 1500 2/6, ICONE 2); a reading outside occupancy too.
    for (i, v) in [600.0, 900.0, 1200.0, 1600.0, 1800.0, 700.0].into_iter().enumerate() {
        rows.push((room, "air.co2", t("2026-01-05T09:00:00Z") + Duration::minutes(10 * i as i64), v));
    }
    rows.push((room, "air.co2", t("2026-01-05T14:00:00Z"), 3000.0));
    // PM2.5: Monday 10 and 30 (mean 20), Tuesday 4: daily means 20 and 4.
    rows.push((pm, "air.pm25", t("2026-01-05T08:00:00Z"), 10.0));
    rows.push((pm, "air.pm25", t("2026-01-05T12:00:00Z"), 30.0));
    rows.push((pm, "air.pm25", t("2026-01-06T08:00:00Z"), 4.0));
    // Meter index in Wh: Sunday 1000 -> 5000; Monday 6000 -> 20000; Tuesday 21000 -> 23000.
    for (time, v) in [
        ("2026-01-04T08:00:00Z", 1000.0),
        ("2026-01-04T20:00:00Z", 5000.0),
        ("2026-01-05T08:00:00Z", 6000.0),
        ("2026-01-05T20:00:00Z", 20000.0),
        ("2026-01-06T08:00:00Z", 21000.0),
        ("2026-01-06T20:00:00Z", 23000.0),
        // Baseline year: the same Monday and Tuesday of 2025 used 10 kWh each.
        ("2025-01-04T20:00:00Z", 0.0),
        ("2025-01-05T20:00:00Z", 10000.0),
        ("2025-01-06T20:00:00Z", 20000.0),
    ] {
        rows.push((meter, "energy.active_import", t(time), v));
    }
    // Parking 08:00-10:00 UTC: space A free, a car 08:15-08:45, another from 09:30; space B
    // occupied since Sunday.
    for (time, v) in [
        ("2026-01-05T07:00:00Z", 0.0),
        ("2026-01-05T08:15:00Z", 1.0),
        ("2026-01-05T08:45:00Z", 0.0),
        ("2026-01-05T09:30:00Z", 1.0),
    ] {
        rows.push((a, "parking.occupied", t(time), v));
    }
    rows.push((b, "parking.occupied", t("2026-01-04T18:00:00Z"), 1.0));
    insert_readings(&db.pool, &rows).await;
    site
}

#[tokio::test]
async fn site_indicators_match_hand_computed_values() {
    let db = TestDb::new().await;
    let site = school(&db).await;
    let se = router_as(&db, Role::Commune, Some("42218")).await;

    // Monday 2026-01-05, 08:00-10:00 UTC for parking; the day for the rest.
    let (s, v) = request(
        &se,
        Method::GET,
        &format!("/api/v1/sites/{site}/indicators?from=2026-01-05T08:00:00Z&to=2026-01-05T10:00:00Z"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let p = &v["parking"];
    assert_eq!((p["spaces"].as_i64(), p["occupancy_rate"].as_f64()), (Some(2), Some(0.75)), "{p}");
    // Arrivals: A at 08:15 and 09:30; B was there before. 2 arrivals / 2 spaces / 1 day.
    assert_eq!((p["arrivals"].as_i64(), p["turnover_per_day"].as_f64()), (Some(2), Some(1.0)));
    assert_eq!((p["stays"].as_i64(), p["average_stay_minutes"].as_f64()), (Some(1), Some(30.0)));
    let hours: Vec<f64> = p["per_hour"].as_array().unwrap().iter().map(|h| h["rate"].as_f64().unwrap()).collect();
    assert_eq!(hours, [0.75, 0.75]);

    let day = "from=2026-01-04T23:00:00Z&to=2026-01-05T23:00:00Z";
    let (s, v) = request(&se, Method::GET, &format!("/api/v1/sites/{site}/indicators?{day}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rooms = v["air_quality"].as_array().unwrap();
    let room = rooms.iter().find(|r| r["dev_eui"] == ROOM).unwrap();
    let co2 = &room["co2"];
    assert_eq!(co2["occupied_hours"].as_f64(), Some(1.0));
    assert!((co2["share_above_800"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-9, "{co2}");
    assert!((co2["share_above_1500"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9);
    assert_eq!(co2["icone"].as_i64(), Some(2));
    assert!((co2["icone_exact"].as_f64().unwrap() - 2.1862).abs() < 1e-3);
    let pm = rooms.iter().find(|r| r["dev_eui"] == PM).unwrap();
    let pm25 = &pm["particles"][0];
    // Monday only: daily mean 20 against the WHO 24-hour 15 and annual 5.
    assert_eq!(
        (pm25["metric"].as_str(), pm25["mean"].as_f64(), pm25["days_above_daily_guideline"].as_i64()),
        (Some("air.pm25"), Some(20.0), Some(1))
    );
    assert_eq!(pm25["mean_to_guideline"].as_f64(), Some(4.0));

    // Energy on Monday: 5000 -> 6000 overnight plus 6000 -> 20000 = 15 kWh; the baseline
    // (Monday 2025-01-05 local): 0 -> 10000 = 10 kWh, +50 %.
    let e = &v["energy"][0];
    assert_eq!(
        (e["carrier"].as_str(), e["meters"].as_i64(), e["total_kwh"].as_f64()),
        (Some("electricity"), Some(1), Some(15.0)),
        "{e}"
    );
    assert_eq!(e["per_day"], json!([{"day": "2026-01-05", "kwh": 15.0}]));
    assert_eq!(
        (e["baseline"]["year"].as_i64(), e["baseline"]["kwh"].as_f64(), e["baseline"]["change"].as_f64()),
        (Some(2025), Some(10.0), Some(0.5))
    );
    assert_eq!(e["kwh_per_m2"].as_f64(), Some(15.0 / 1200.0));

    // Another commune sees no such site.
    let roanne = router_as(&db, Role::Commune, Some("42187")).await;
    let (s, _) = request(&roanne, Method::GET, &format!("/api/v1/sites/{site}/indicators?{day}"), None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The commune's service as one series: the two air devices' CO2 (7 readings) and
    // particles are apart by metric; one local day, then its hours.
    let series = "/api/v1/communes/42218/services/air-quality-schools/readings?metric=air.co2";
    let (s, v) = request(&se, Method::GET, &format!("{series}&bucket=1d&{day}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["buckets"].as_array().unwrap().len(), 1);
    let b = &v["buckets"][0];
    assert_eq!(
        (b["count"].as_i64(), b["avg"].as_f64(), b["min"].as_f64(), b["max"].as_f64(), b["devices"].as_i64()),
        (Some(7), Some(1400.0), Some(600.0), Some(3000.0), Some(1))
    );
    let (_, v) = request(&se, Method::GET, &format!("{series}&{day}"), None, None).await;
    let hours: Vec<(i64, f64)> = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["count"].as_i64().unwrap(), b["avg"].as_f64().unwrap()))
        .collect();
    assert_eq!(hours, [(6, 6800.0 / 6.0), (1, 3000.0)]);
    let (s, _) = request(&roanne, Method::GET, &format!("{series}&{day}"), None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another commune's series");
}

/// GET `uri` through the router; status, content type and body bytes.
async fn get_bytes(router: &axum::Router, uri: &str) -> (StatusCode, String, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, ct, body)
}

#[tokio::test]
async fn operat_export_gives_a_year_per_building_in_kwh() {
    let db = TestDb::new().await;
    school(&db).await;
    let op = router_as(&db, Role::Operator, None).await;
    let (s, ct, body) = get_bytes(&op, "/api/v1/exports/operat?year=2026").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "operat_id;site_id;site;commune;year;floor_area_m2;energy;kwh;days_with_data");
    // 2026 (local): Sunday 4 -> 4 kWh... the 1000 -> 5000 of Sunday, 15 Monday, 3 Tuesday = 22 kWh.
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("EFA-42218-0001;"), "{}", lines[1]);
    assert!(lines[1].ends_with(";2026;1200;Electricite;22;3"), "{}", lines[1]);
}

#[tokio::test]
async fn readings_export_as_csv_and_parquet_with_join_columns_and_tenancy() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let db = TestDb::new().await;
    school(&db).await;
    import(&db, "a81758fffe0f0001,Roanne,elsys-ers-co2,42187,École Jean Macé,air-quality-schools\n").await;
    let other = id_of(&db, "a81758fffe0f0001").await;
    insert_readings(&db.pool, &[(other, "air.co2", t("2026-01-05T09:00:00Z"), 555.0)]).await;
    let period = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";

    let op = router_as(&db, Role::Analyst, None).await;
    let (s, ct, body) = get_bytes(&op, &format!("/api/v1/exports/readings?metric=air.co2&{period}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time,dev_eui,device_name,model,commune,commune_name,site_id,site_name,service,metric,unit,value,count,min,max,last");
    assert_eq!(lines.len(), 1 + 7 + 1);
    assert!(
        lines[1].starts_with(&format!("2026-01-05T09:00:00Z,{ROOM},Salle CM2,elsys-ers-co2,42218,Saint-Étienne,")),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(",École Jules Ferry,air-quality-schools,air.co2,ppm,600,,,,"), "{}", lines[1]);

    // A commune exports its own devices only; Parquet has the same rows.
    let se = router_as(&db, Role::Commune, Some("42218")).await;
    let (s, ct, body) = get_bytes(&se, &format!("/api/v1/exports/readings?format=parquet&{period}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/vnd.apache.parquet");
    let reader = SerializedFileReader::new(bytes::Bytes::from(body)).unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM reading r JOIN device d ON d.id = r.device_id WHERE d.commune = '42218' AND r.time >= '2026-01-01' AND r.time < '2026-02-01'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), total);
    let communes: std::collections::HashSet<String> =
        reader.get_row_iter(None).unwrap().map(|r| r.unwrap().get_string(4).unwrap().clone()).collect();
    assert_eq!(communes, ["42218".to_owned()].into_iter().collect());

    // Daily rollups: the CO2 room's Monday (7 readings, mean of 600..3000).
    let (_, _, body) = get_bytes(&op, &format!("/api/v1/exports/readings?bucket=1d&dev_eui={ROOM}&{period}")).await;
    let text = String::from_utf8(body).unwrap();
    let line = text.lines().nth(1).unwrap();
    assert!(line.starts_with("2026-01-04T23:00:00Z,"), "{line}");
    assert!(line.ends_with(",air.co2,ppm,1400,7,600,3000,3000"), "{line}");
}

#[tokio::test]
async fn the_analyst_role_reads_the_views_and_nothing_else() {
    let db = TestDb::new().await;
    school(&db).await;
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET ROLE roc42_analyst").execute(&mut *conn).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM analytics.reading WHERE commune = '42218' AND unit IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(n > 20, "{n}");
    let daily: i64 =
        sqlx::query_scalar("SELECT count(*) FROM analytics.reading_daily").fetch_one(&mut *conn).await.unwrap();
    assert!(daily > 0);
    for denied in ["SELECT count(*) FROM reading", "SELECT count(*) FROM api_token", "DELETE FROM analytics.metric"] {
        let e = sqlx::query(denied).execute(&mut *conn).await.unwrap_err();
        assert!(
            e.to_string().contains("permission denied") || e.to_string().contains("cannot delete"),
            "{denied}: {e}"
        );
    }
    sqlx::query("RESET ROLE").execute(&mut *conn).await.unwrap();
}

/// A webhook receiver that fails its first `fail` requests, then records bodies and headers.
async fn receiver(fail: usize) -> (String, Arc<Mutex<Vec<(Value, String, String)>>>) {
    let got: Arc<Mutex<Vec<(Value, String, String)>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0usize));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (g, calls) = (g.clone(), calls.clone());
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n <= fail {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let h = |k: &str| headers.get(k).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                let ts = h("x-roc42-timestamp");
                let sig = h("x-roc42-signature");
                let expected =
                    format!("sha256={}", roc42::analytics::alerts::signature("s3cret", ts.parse().unwrap(), &body));
                g.lock().unwrap().push((serde_json::from_slice(&body).unwrap(), sig, expected));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn alerts_open_and_resolve_with_hysteresis_and_notify_signed_with_retries() {
    use roc42::analytics::alerts;
    let db = TestDb::new().await;
    import(&db, &format!("{ROOM},Salle CM2,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools\n")).await;
    let room = id_of(&db, ROOM).await;
    let (url, got) = receiver(1).await;
    let op = router_as(&db, Role::Operator, None).await;
    let rule = json!({"name": "CO2 high", "kind": "threshold", "service_id": "air-quality-schools", "metric": "air.co2",
        "threshold": 1500.0, "clear_threshold": 1200.0, "min_duration_s": 600, "webhook_url": url, "webhook_secret": "s3cret"});
    let (s, v) = request(&op, Method::POST, "/api/v1/alerts/rules", Some(rule), None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // A commune cannot see or write rules.
    let se = router_as(&db, Role::Commune, Some("42218")).await;
    let (s, _) = request(&se, Method::GET, "/api/v1/alerts/rules", None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = request(
        &op,
        Method::POST,
        "/api/v1/alerts/rules",
        Some(json!({"name": "x", "kind": "threshold",
        "service_id": "air-quality-schools", "metric": "air.co2", "threshold": 1000.0, "clear_threshold": 1100.0})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a clear threshold above an 'above' threshold is refused");

    let base = Utc::now() - Duration::hours(2);
    let at = |m: i64| base + Duration::minutes(m);
    // 1600 for 5 minutes then 1400: too short. Then above from 10 to 20: opens at 20.
    insert_readings(
        &db.pool,
        &[(room, "air.co2", at(0), 1600.0), (room, "air.co2", at(5), 1600.0), (room, "air.co2", at(8), 1400.0)],
    )
    .await;
    assert_eq!(alerts::evaluate_devices(&db.pool, &[room], Utc::now()).await.unwrap(), 0);
    insert_readings(
        &db.pool,
        &[(room, "air.co2", at(10), 1550.0), (room, "air.co2", at(15), 1700.0), (room, "air.co2", at(20), 1600.0)],
    )
    .await;
    assert_eq!(alerts::evaluate_devices(&db.pool, &[room], Utc::now()).await.unwrap(), 1);
    let (_, v) = request(&se, Method::GET, "/api/v1/alerts?state=open", None, None).await;
    let open = v["alerts"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{v}");
    assert_eq!(t(open[0]["opened_at"].as_str().unwrap()), at(20).duration_trunc_micros());
    assert_eq!(open[0]["open_value"].as_f64(), Some(1600.0));
    // 1300 (between the thresholds) keeps it open; below 1200 for 10 minutes resolves.
    insert_readings(&db.pool, &[(room, "air.co2", at(30), 1300.0), (room, "air.co2", at(60), 1300.0)]).await;
    assert_eq!(alerts::evaluate_devices(&db.pool, &[room], Utc::now()).await.unwrap(), 0);
    insert_readings(
        &db.pool,
        &[
            (room, "air.co2", at(70), 1100.0),
            (room, "air.co2", at(75), 1250.0),
            (room, "air.co2", at(80), 900.0),
            (room, "air.co2", at(90), 950.0),
        ],
    )
    .await;
    assert_eq!(alerts::evaluate_devices(&db.pool, &[room], Utc::now()).await.unwrap(), 1);
    let (_, v) = request(&se, Method::GET, "/api/v1/alerts", None, None).await;
    let all = v["alerts"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(t(all[0]["resolved_at"].as_str().unwrap()), at(90).duration_trunc_micros());
    // Roanne sees none of it.
    let roanne = router_as(&db, Role::Commune, Some("42187")).await;
    let (_, v) = request(&roanne, Method::GET, "/api/v1/alerts", None, None).await;
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0);

    // Webhooks: the first attempt fails (500), the retry is delivered, signed.
    let client = reqwest::Client::new();
    assert_eq!(alerts::deliver_due(&db.pool, &client, 8).await.unwrap(), 1, "one of two delivered, one failed");
    sqlx::query("UPDATE alert_notification SET next_attempt_at = now() WHERE delivered_at IS NULL")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(alerts::deliver_due(&db.pool, &client, 8).await.unwrap(), 1);
    let got = got.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|g| g.0["event"].as_str().unwrap()).collect();
    assert_eq!(events.len(), 2);
    assert!(events.contains(&"alert.opened") && events.contains(&"alert.resolved"), "{events:?}");
    for (body, sig, expected) in &got {
        assert_eq!(sig, expected, "signature of {body}");
        assert_eq!(body["alert"]["dev_eui"], ROOM);
    }
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM alert_notification ORDER BY attempts")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(attempts, [1, 2]);
}

#[tokio::test]
async fn silent_devices_and_low_batteries_raise_alerts() {
    use roc42::analytics::alerts;
    let db = TestDb::new().await;
    import(&db, &format!("{ROOM},Salle CM2,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools\n")).await;
    let room = id_of(&db, ROOM).await;
    let op = router_as(&db, Role::Operator, None).await;
    for rule in [
        json!({"name": "Silent", "kind": "silence", "dev_eui": ROOM, "silence_factor": 3.0}),
        json!({"name": "Battery", "kind": "battery", "service_id": "air-quality-schools"}),
    ] {
        let (s, v) = request(&op, Method::POST, "/api/v1/alerts/rules", Some(rule), None).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    // Uplinks every 15 minutes until 2 hours ago: silent for more than 3 x 15 minutes.
    let now = Utc::now();
    for i in 0..10 {
        let time = now - Duration::hours(2) - Duration::minutes(15 * (9 - i));
        sqlx::query(
            "INSERT INTO uplink (time, received_at, dedup_key, lns, device_id, dev_eui, f_port, payload, outcome)
            VALUES ($1, $1, $2, 'chirpstack', $3, $4, 1, '\\x00', 'decoded')",
        )
        .bind(time)
        .bind(format!("k{i}"))
        .bind(room)
        .bind(ROOM)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE device SET last_seen_at = $1 WHERE id = $2")
        .bind(now - Duration::hours(2))
        .bind(room)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(alerts::sweep_silence(&db.pool, now).await.unwrap(), 1);
    assert_eq!(alerts::sweep_silence(&db.pool, now).await.unwrap(), 0, "already open");
    sqlx::query("UPDATE device SET last_seen_at = $1 WHERE id = $2")
        .bind(now - Duration::minutes(1))
        .bind(room)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(alerts::sweep_silence(&db.pool, now).await.unwrap(), 1, "resolved");

    // Battery: 25 % is fine, 18 % opens (below 20), 28 % stays open (below 30), 35 % resolves.
    insert_readings(
        &db.pool,
        &[
            (room, "battery.level", now - Duration::minutes(40), 25.0),
            (room, "battery.level", now - Duration::minutes(30), 18.0),
            (room, "battery.level", now - Duration::minutes(20), 28.0),
        ],
    )
    .await;
    assert_eq!(alerts::sweep_thresholds(&db.pool, now).await.unwrap(), 1);
    insert_readings(&db.pool, &[(room, "battery.level", now - Duration::minutes(10), 35.0)]).await;
    assert_eq!(alerts::sweep_thresholds(&db.pool, now).await.unwrap(), 1);
    let kinds: Vec<(String, bool)> = sqlx::query_as(
        "SELECT r.kind, a.resolved_at IS NOT NULL FROM alert a JOIN alert_rule r ON r.id = a.rule_id ORDER BY a.id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(kinds, [("silence".to_owned(), true), ("battery".to_owned(), true)]);
}

trait TruncMicros {
    fn duration_trunc_micros(self) -> Self;
}

impl TruncMicros for DateTime<Utc> {
    /// PostgreSQL keeps microseconds.
    fn duration_trunc_micros(self) -> Self {
        DateTime::from_timestamp_micros(self.timestamp_micros()).unwrap()
    }
}

/// Stores an uplink as the pipeline would, with its frame counter and gateways.
async fn uplink(db: &TestDb, device_id: i64, eui: &str, time: DateTime<Utc>, f_cnt: i64, rx: Value) {
    sqlx::query(
        "INSERT INTO uplink (time, received_at, dedup_key, lns, device_id, dev_eui, f_cnt, f_port, payload, rx, outcome)
         VALUES ($1, $1, $2, 'chirpstack', $3, $4, $5, 1, '\\x00', $6, 'decoded')",
    )
    .bind(time)
    .bind(format!("{eui}-{}", time.timestamp_micros()))
    .bind(device_id)
    .bind(eui)
    .bind(f_cnt)
    .bind(rx)
    .execute(&db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn fleet_health_counts_losses_across_a_rejoin_and_summarises_gateways() {
    let db = TestDb::new().await;
    import(&db, &format!("{ROOM},Salle CM2,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools\n")).await;
    let room = id_of(&db, ROOM).await;
    let base = Utc::now() - Duration::hours(5);
    // Counters 10, 11, 13, 14 (12 lost), a join, then 0, 1, 2, 5 (3 and 4 lost): 8
    // received of 11 sent (10-14 and 0-5), 3 lost.
    // Gateway A hears every uplink at -100 dBm; gateway B the first four, at -80.
    for (i, f) in [10, 11, 13, 14, 0, 1, 2, 5].into_iter().enumerate() {
        let mut rx = vec![json!({"gateway_id": "gw-a", "rssi": -100, "snr": 2.0})];
        if i < 4 {
            rx.push(json!({"gateway_id": "gw-b", "rssi": -80, "snr": 8.0}));
        }
        uplink(&db, room, ROOM, base + Duration::minutes(15 * i as i64), f, Value::Array(rx)).await;
    }
    sqlx::query(
        "INSERT INTO lns_event (time, received_at, dedup_key, lns, kind, dev_eui, device_id, body)
        VALUES ($1, $1, 'join-1', 'chirpstack', 'join', $2, $3, '{}')",
    )
    .bind(base + Duration::minutes(50))
    .bind(ROOM)
    .bind(room)
    .execute(&db.pool)
    .await
    .unwrap();
    insert_readings(&db.pool, &[(room, "battery.level", base, 87.0)]).await;

    let op = router_as(&db, Role::Operator, None).await;
    let (s, v) = request(&op, Method::GET, "/api/v1/fleet/health", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = &v["devices"][0];
    assert_eq!(d["dev_eui"], ROOM);
    assert_eq!(
        (d["received"].as_i64(), d["expected"].as_i64(), d["lost"].as_i64(), d["sessions"].as_i64()),
        (Some(8), Some(11), Some(3), Some(2)),
        "{d}"
    );
    assert_eq!(d["loss_rate"].as_f64(), Some(3.0 / 11.0));
    assert_eq!(d["battery_level"].as_f64(), Some(87.0));
    // Best gateway per uplink: -80 four times, -100 four times.
    assert_eq!(
        (d["rssi"]["min"].as_f64(), d["rssi"]["median"].as_f64(), d["rssi"]["max"].as_f64()),
        (Some(-100.0), Some(-90.0), Some(-80.0))
    );
    assert_eq!(d["gateways"], json!(["gw-a", "gw-b"]));
    let gws = v["gateways"].as_array().unwrap();
    assert_eq!(
        (gws[0]["gateway_id"].as_str(), gws[0]["uplinks"].as_i64(), gws[0]["median_rssi"].as_f64()),
        (Some("gw-a"), Some(8), Some(-100.0))
    );
    assert_eq!(
        (gws[1]["gateway_id"].as_str(), gws[1]["uplinks"].as_i64(), gws[1]["median_snr"].as_f64()),
        (Some("gw-b"), Some(4), Some(8.0))
    );
    assert_eq!(v["decode_failures"][0]["model"], "elsys-ers-co2");
    assert_eq!(
        (v["decode_failures"][0]["uplinks"].as_i64(), v["decode_failures"][0]["decode_failed"].as_i64()),
        (Some(8), Some(0))
    );
    // Operators only: gateways serve every commune.
    let se = router_as(&db, Role::Commune, Some("42218")).await;
    let (s, _) = request(&se, Method::GET, "/api/v1/fleet/health", None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn experiment_results_give_devices_completeness_metrics_and_indicators() {
    let db = TestDb::new().await;
    school(&db).await;
    let room = id_of(&db, ROOM).await;
    // Three frames of ROOM in January, counters 1, 2, 4: 3 of 4 received.
    for (day, f) in [(5, 1), (6, 2), (7, 4)] {
        uplink(&db, room, ROOM, t(&format!("2026-01-{day:02}T12:00:00Z")), f, json!([])).await;
    }
    let op = router_as(&db, Role::Operator, None).await;
    let body = json!({"name": "CO2 des écoles, janvier 2026", "theme": "air quality", "services": ["air-quality-schools"],
        "communes": ["42218"], "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z"});
    let (s, v) = request(&op, Method::POST, "/api/v1/experiments", Some(body), None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let analyst = router_as(&db, Role::Analyst, None).await;
    let (s, v) = request(&analyst, Method::GET, &format!("/api/v1/experiments/{id}/results"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let euis: Vec<&str> = v["devices"].as_array().unwrap().iter().map(|d| d["dev_eui"].as_str().unwrap()).collect();
    assert_eq!(euis, [ROOM, PM], "the air-quality devices of the commune, not the meter or the parking");
    let d = &v["devices"][0];
    assert_eq!(
        (d["frames"]["received"].as_i64(), d["frames"]["expected"].as_i64(), d["completeness"].as_f64()),
        (Some(3), Some(4), Some(0.75))
    );
    assert_eq!((d["days_with_data"].as_i64(), d["days"].as_i64()), (Some(1), Some(31)));
    assert_eq!(v["completeness"].as_f64(), Some(0.75));
    let co2 = v["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "air.co2").unwrap();
    assert_eq!(
        (
            co2["readings"].as_i64(),
            co2["mean"].as_f64(),
            co2["min"].as_f64(),
            co2["max"].as_f64(),
            co2["unit"].as_str()
        ),
        (Some(7), Some(1400.0), Some(600.0), Some(3000.0), Some("ppm"))
    );
    // The school's indicators over January: four occupied Monday hours, one measured.
    let room_ind = v["sites"][0]["air_quality"].as_array().unwrap().iter().find(|r| r["dev_eui"] == ROOM).unwrap();
    assert_eq!((room_ind["co2"]["occupied_hours"].as_f64(), room_ind["co2"]["icone"].as_i64()), (Some(4.0), Some(2)));
    // A commune not named by the experiment does not see it.
    let roanne = router_as(&db, Role::Commune, Some("42187")).await;
    let (s, _) = request(&roanne, Method::GET, &format!("/api/v1/experiments/{id}/results"), None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = request(&roanne, Method::GET, "/api/v1/experiments", None, None).await;
    assert_eq!(v["experiments"].as_array().unwrap().len(), 0);
}
