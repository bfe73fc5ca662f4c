//! What a commune reads every day: its subscriptions, sites, devices with placement,
//! latest values and last-seen, a GeoJSON map, and readings of a device or a site, raw or
//! per hour or local-time day with aggregates (hand-computed here), right across DST.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use roc42::onboarding;
use roc42::store::domain;
use roc42::store::token::Role;
use serde_json::Value;

use crate::support::{insert_readings, request, router_as, TestDb};

const HEADER: &str = "dev_eui,name,model,commune,site,service,latitude,longitude\n";
const SCHOOL_A: &str = "a81758fffe0a0001";
const SCHOOL_B: &str = "a81758fffe0a0002";
const METER: &str = "a81758fffe0a0003";
const ROANNE: &str = "a81758fffe0b0001";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn id_of(db: &TestDb, eui: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM device WHERE dev_eui = $1").bind(eui).fetch_one(&db.pool).await.unwrap()
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, Value) {
    request(router, Method::GET, uri, None, None).await
}

/// Three devices of Saint-Étienne at two sites, one of Roanne; readings of the first two.
async fn seed(db: &TestDb) {
    let csv = format!(
        "{HEADER}{SCHOOL_A},Classe CM1,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools,45.4412,4.3851\n\
         {SCHOOL_B},Classe CE2,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools,45.4414,4.3853\n\
         {METER},Compteur général,milesight-ct101,42218,Hôtel de ville,energy-buildings,45.4340,4.3900\n\
         {ROANNE},Classe de Roanne,elsys-ers-co2,42187,École Jean Macé,air-quality-schools,46.0400,4.0700\n"
    );
    onboarding::import(&db.pool, csv.as_bytes(), None, |_| {}).await.unwrap();
    domain::subscribe(&db.pool, "42218", "air-quality-schools").await.unwrap();
    domain::subscribe(&db.pool, "42218", "energy-buildings").await.unwrap();
    domain::subscribe(&db.pool, "42187", "air-quality-schools").await.unwrap();
    let (a, b, r) = (id_of(db, SCHOOL_A).await, id_of(db, SCHOOL_B).await, id_of(db, ROANNE).await);
    // Recent values for "latest"; an hour of CO2 on 2026-03-02 for the aggregates.
    let now = Utc::now();
    let mut rows = vec![
        (a, "air.co2", now - TimeDelta::minutes(20), 610.0),
        (a, "air.co2", now - TimeDelta::minutes(5), 640.0),
        (a, "air.temperature", now - TimeDelta::minutes(5), 21.5),
        (b, "air.co2", now - TimeDelta::minutes(7), 480.0),
        (r, "air.co2", now - TimeDelta::minutes(3), 999.0),
    ];
    for (i, v) in [400.0, 420.0, 440.0, 410.0, 500.0].into_iter().enumerate() {
        rows.push((a, "air.co2", t("2026-03-02T09:00:00Z") + TimeDelta::minutes(15 * i as i64), v));
    }
    rows.push((b, "air.co2", t("2026-03-02T09:30:00Z"), 800.0));
    insert_readings(&db.pool, &rows).await;
    sqlx::query("UPDATE device SET last_seen_at = $1 WHERE dev_eui = $2")
        .bind(now - TimeDelta::minutes(5))
        .bind(SCHOOL_A)
        .execute(&db.pool)
        .await
        .unwrap();
}

fn latest<'a>(device: &'a Value, metric: &str) -> Option<&'a Value> {
    device["latest"].as_array()?.iter().find(|r| r["metric"] == metric)
}

#[tokio::test]
async fn a_commune_reads_its_subscriptions_sites_devices_and_map() {
    let db = TestDb::new().await;
    seed(&db).await;
    let se = router_as(&db, Role::Commune, Some("42218")).await;

    let (s, v) = get(&se, "/api/v1/subscriptions").await;
    assert_eq!(s, StatusCode::OK);
    let subs: Vec<(&str, &str)> = v["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["commune"].as_str().unwrap(), x["service"].as_str().unwrap()))
        .collect();
    assert_eq!(subs, [("42218", "air-quality-schools"), ("42218", "energy-buildings")]);

    let (s, v) = get(&se, "/api/v1/sites").await;
    assert_eq!(s, StatusCode::OK);
    let sites = v["sites"].as_array().unwrap();
    let mut names: Vec<&str> = sites.iter().map(|x| x["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Hôtel de ville", "École Jules Ferry"]);
    let school = sites.iter().find(|x| x["name"] == "École Jules Ferry").unwrap();
    assert_eq!((school["devices"].as_i64(), school["time_zone"].as_str()), (Some(2), Some("Europe/Paris")));
    let school = school["id"].as_i64().unwrap();

    // A site with its devices and their latest values.
    let (s, v) = get(&se, &format!("/api/v1/sites/{school}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["site"]["name"].as_str(), v["site"]["devices"].as_i64()), (Some("École Jules Ferry"), Some(2)));
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0]["dev_eui"], SCHOOL_A);
    let co2 = latest(&devices[0], "air.co2").unwrap();
    assert_eq!((co2["value"].as_f64(), co2["unit"].as_str()), (Some(640.0), Some("ppm")));
    assert_eq!(latest(&devices[0], "air.temperature").unwrap()["unit"], "Cel");
    assert_eq!(latest(&devices[1], "air.co2").unwrap()["value"], 480.0);

    // My devices: placement, last seen, latest values.
    let (s, v) = get(&se, "/api/v1/devices").await;
    assert_eq!((s, v["total"].as_i64()), (StatusCode::OK, Some(3)));
    let a = &v["devices"][0];
    assert_eq!((a["dev_eui"].as_str(), a["site"].as_str()), (Some(SCHOOL_A), Some("École Jules Ferry")));
    assert_eq!((a["service"].as_str(), a["latitude"].as_f64()), (Some("air-quality-schools"), Some(45.4412)));
    assert!(a["last_seen_at"].as_str().is_some(), "{a}");
    assert_eq!(latest(a, "air.co2").unwrap()["value"], 640.0);
    assert!(v["devices"][2]["latest"].as_array().unwrap().is_empty(), "the meter sent nothing");
    let (_, v) = get(&se, "/api/v1/devices?service=energy-buildings").await;
    assert_eq!((v["total"].as_i64(), v["devices"][0]["dev_eui"].as_str()), (Some(1), Some(METER)));
    let (_, v) = get(&se, &format!("/api/v1/devices?site_id={school}")).await;
    assert_eq!(v["total"], 2);

    // The map: GeoJSON points [longitude, latitude], with the latest values.
    let (s, v) = get(&se, "/api/v1/map/devices").await;
    assert_eq!((s, v["type"].as_str()), (StatusCode::OK, Some("FeatureCollection")));
    let features = v["features"].as_array().unwrap();
    assert_eq!(features.len(), 3, "Roanne's device is not on Saint-Étienne's map");
    let f = features.iter().find(|f| f["id"] == SCHOOL_A).unwrap();
    assert_eq!((f["type"].as_str(), f["geometry"]["type"].as_str()), (Some("Feature"), Some("Point")));
    assert_eq!(f["geometry"]["coordinates"], serde_json::json!([4.3851, 45.4412]));
    assert_eq!(f["properties"]["latest"]["air.co2"]["value"], 640.0);
    assert_eq!(f["properties"]["site"], "École Jules Ferry");
    let (_, v) = get(&se, "/api/v1/map/devices?service=air-quality-schools").await;
    assert_eq!(v["features"].as_array().unwrap().len(), 2);

    // Roanne's objects answer like missing ones.
    let roanne_site: i64 =
        sqlx::query_scalar("SELECT id FROM site WHERE commune = '42187'").fetch_one(&db.pool).await.unwrap();
    for uri in [
        format!("/api/v1/sites/{roanne_site}"),
        format!("/api/v1/sites/{roanne_site}/readings?metric=air.co2"),
        format!("/api/v1/devices/{ROANNE}"),
        "/api/v1/communes/42187".into(),
    ] {
        let (s, v) = get(&se, &uri).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{uri}");
    }
    let (s, v) = get(&se, "/api/v1/communes/42218").await;
    assert_eq!((s, v["services"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)));
    db.drop_db().await;
}

#[tokio::test]
async fn readings_raw_and_per_bucket_with_aggregates() {
    let db = TestDb::new().await;
    seed(&db).await;
    let se = router_as(&db, Role::Commune, Some("42218")).await;
    let period = "from=2026-03-02T08:00:00Z&to=2026-03-02T12:00:00Z";

    // One device, hourly: 09:00-10:00 has 400, 420, 440, 410; 10:00-11:00 has 500.
    let (s, v) = get(&se, &format!("/api/v1/devices/{SCHOOL_A}/readings?metric=air.co2&bucket=1h&{period}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["bucket"], "1h");
    let b = v["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(t(b[0]["time"].as_str().unwrap()), t("2026-03-02T09:00:00Z"));
    assert_eq!(
        (
            b[0]["count"].as_i64(),
            b[0]["avg"].as_f64(),
            b[0]["min"].as_f64(),
            b[0]["max"].as_f64(),
            b[0]["last"].as_f64()
        ),
        (Some(4), Some(417.5), Some(400.0), Some(440.0), Some(410.0))
    );
    assert_eq!(
        (b[1]["count"].as_i64(), b[1]["last"].as_f64(), b[1]["unit"].as_str()),
        (Some(1), Some(500.0), Some("ppm"))
    );
    assert!(v["readings"].as_array().unwrap().is_empty());

    // Raw, the same period.
    let (_, v) = get(&se, &format!("/api/v1/devices/{SCHOOL_A}/readings?metric=air.co2&{period}")).await;
    let values: Vec<f64> = v["readings"].as_array().unwrap().iter().map(|r| r["value"].as_f64().unwrap()).collect();
    assert_eq!(values, [400.0, 420.0, 440.0, 410.0, 500.0]);

    // A local day (Paris, winter time: 2026-03-02 starts at 2026-03-01T23:00Z).
    let (_, v) = get(&se, &format!("/api/v1/devices/{SCHOOL_A}/readings?metric=air.co2&bucket=1d&{period}")).await;
    let b = &v["buckets"][0];
    assert_eq!(t(b["time"].as_str().unwrap()), t("2026-03-01T23:00:00Z"));
    assert_eq!((b["count"].as_i64(), b["avg"].as_f64(), b["max"].as_f64()), (Some(5), Some(434.0), Some(500.0)));

    // A site: one series per device that has the metric.
    let school: i64 =
        sqlx::query_scalar("SELECT id FROM site WHERE name = 'École Jules Ferry'").fetch_one(&db.pool).await.unwrap();
    let (s, v) = get(&se, &format!("/api/v1/sites/{school}/readings?metric=air.co2&bucket=1h&{period}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!((series[0]["dev_eui"].as_str(), series[0]["buckets"][0]["avg"].as_f64()), (Some(SCHOOL_A), Some(417.5)));
    assert_eq!((series[1]["dev_eui"].as_str(), series[1]["buckets"][0]["max"].as_f64()), (Some(SCHOOL_B), Some(800.0)));
    let (_, v) = get(&se, &format!("/api/v1/sites/{school}/readings?metric=air.co2&{period}")).await;
    assert_eq!(v["series"][1]["readings"], serde_json::json!([{"time": "2026-03-02T09:30:00Z", "value": 800.0}]));

    // Bad requests say what is wrong.
    for (uri, why) in [
        (format!("/api/v1/sites/{school}/readings"), "a site needs a metric"),
        (format!("/api/v1/devices/{SCHOOL_A}/readings?bucket=1d"), "buckets need a metric"),
        (format!("/api/v1/devices/{SCHOOL_A}/readings?metric=air.co2&bucket=1w"), "unknown bucket"),
        (format!("/api/v1/devices/{SCHOOL_A}/readings?metric=air.nope"), "unknown metric"),
        (
            format!("/api/v1/devices/{SCHOOL_A}/readings?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"),
            "empty period",
        ),
    ] {
        let (s, v) = get(&se, &uri).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{why}: {v}");
    }
    db.drop_db().await;
}

/// Daily buckets are local days: the last Sunday of March has 23 hours of data, the last
/// Sunday of October 25 (readings every 15 minutes: 92 and 100 of them).
#[tokio::test]
async fn daily_buckets_follow_daylight_saving_time() {
    let db = TestDb::new().await;
    seed(&db).await;
    let id = id_of(&db, METER).await;
    let mut rows = Vec::new();
    for start in ["2026-03-27T00:00:00Z", "2026-10-23T00:00:00Z"] {
        for i in 0..(4 * 24 * 4) {
            rows.push((id, "power.active", t(start) + TimeDelta::minutes(15 * i), i as f64));
        }
    }
    insert_readings(&db.pool, &rows).await;
    let router = router_as(&db, Role::Analyst, None).await;
    let day = |from: &str, to: &str| {
        format!("/api/v1/devices/{METER}/readings?metric=power.active&bucket=1d&from={from}&to={to}")
    };

    // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
    let (s, v) = get(&router, &day("2026-03-28T23:00:00Z", "2026-03-30T22:00:00Z")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let b = v["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(t(b[0]["time"].as_str().unwrap()), t("2026-03-28T23:00:00Z"), "local midnight, CET");
    assert_eq!(b[0]["count"], 92, "23 hours");
    // The day's last reading is at 23:45 CEST = 21:45Z, sample (2 days + 21 h 45) / 15 min.
    assert_eq!(b[0]["last"].as_f64(), Some(((2 * 24 + 21) * 4 + 3) as f64));
    assert_eq!(t(b[1]["time"].as_str().unwrap()), t("2026-03-29T22:00:00Z"), "local midnight, CEST");
    assert_eq!(b[1]["count"], 96);

    // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET.
    let (_, v) = get(&router, &day("2026-10-24T22:00:00Z", "2026-10-26T23:00:00Z")).await;
    let b = v["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(t(b[0]["time"].as_str().unwrap()), t("2026-10-24T22:00:00Z"));
    assert_eq!(b[0]["count"], 100, "25 hours");
    assert_eq!(t(b[1]["time"].as_str().unwrap()), t("2026-10-25T23:00:00Z"));
    assert_eq!(b[1]["count"], 96);

    // Hourly buckets on the short day: 23 of them.
    let (_, v) = get(
        &router,
        &format!("/api/v1/devices/{METER}/readings?metric=power.active&bucket=1h&from=2026-03-28T23:00:00Z&to=2026-03-29T22:00:00Z"),
    )
    .await;
    let b = v["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 23);
    assert!(b.iter().all(|x| x["count"] == 4));
    db.drop_db().await;
}
