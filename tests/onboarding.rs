//! The domain and onboarding: the seeded catalogue and communes through the API, and the
//! CSV bulk import (5,000 rows, a file with errors, re-import).

use std::fmt::Write as _;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use roc42::api::{self, AppState};
use roc42::custody::Sealer;
use roc42::onboarding::{self, ImportError, ImportSummary, LineError};
use roc42::store::domain;
use roc42_decoders::model::{self, Category};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::TestDb;

const MASTER: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const COMMUNES: [&str; 5] = ["42218", "42187", "42207", "42095", "42147"];

/// The API router, as an operator.
async fn router(db: &TestDb) -> axum::Router {
    let token = crate::support::operator_token(&db.pool).await;
    let router = api::router(AppState::new(db.pool.clone()));
    crate::support::with_token(router, &token)
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let resp = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// `n` devices over the simulator's communes, 40 sites per commune, each service's
/// built-in models in rotation; every 10th with an AppSKey when `keys`. `tag` goes in
/// the names, so a re-import can be told apart.
fn generate(n: usize, tag: &str, keys: bool) -> String {
    let services = [
        ("air-quality-schools", Category::AirQuality),
        ("energy-buildings", Category::Energy),
        ("smart-parking", Category::Parking),
    ];
    let models: Vec<Vec<&str>> = services
        .iter()
        .map(|(_, c)| model::builtin().iter().filter(|m| m.category == *c).map(|m| m.id.as_str()).collect())
        .collect();
    let mut out = String::from("dev_eui,name,model,commune,site,service,latitude,longitude,app_s_key\n");
    for i in 0..n {
        let s = i % services.len();
        let m = &models[s][(i / services.len()) % models[s].len()];
        let commune = COMMUNES[i % COMMUNES.len()];
        let site = format!("Site {}", (i / COMMUNES.len()) % 40);
        let key = if keys && i % 10 == 0 { format!("{:032x}", i + 1) } else { String::new() };
        let lat = 45.0 + (i % 1000) as f64 / 1000.0;
        let lon = 4.0 + (i % 700) as f64 / 1000.0;
        writeln!(out, "a8175800{i:08x},{tag} device {i},{m},{commune},{site},{},{lat},{lon},{key}", services[s].0)
            .unwrap();
    }
    out
}

#[tokio::test]
async fn import_5000_rows_then_reimport_updates() {
    let db = TestDb::new().await;
    let sealer = Sealer::from_hex(MASTER).unwrap();
    let csv = generate(5000, "first", true);

    let t = Instant::now();
    let summary = onboarding::import(&db.pool, csv.as_bytes(), Some(&sealer), |_| {}).await.unwrap();
    println!("imported 5,000 devices in {:?}", t.elapsed());
    assert_eq!(summary, ImportSummary { devices: 5000, created: 5000, updated: 0, sites_created: 200 });
    assert_eq!(db.count("SELECT count(*) FROM device").await, 5000);
    assert_eq!(db.count("SELECT count(*) FROM site").await, 200);
    assert_eq!(
        db.count("SELECT count(*) FROM device WHERE site_id IS NOT NULL AND service_id IS NOT NULL AND latitude IS NOT NULL AND longitude IS NOT NULL").await,
        5000
    );
    assert_eq!(db.count("SELECT count(*) FROM device WHERE app_s_key_sealed IS NOT NULL").await, 500);
    // The sealed key opens to the key of the file, bound to its device.
    let eui: roc42::lorawan::DevEui = "a817580000000000".parse().unwrap();
    let stored = roc42::store::device::get_ref(&db.pool, eui).await.unwrap().unwrap();
    let key = sealer.open(&stored.app_s_key_sealed.unwrap(), eui).unwrap();
    assert_eq!(key.0, 1u128.to_be_bytes());
    // The site and service are the file's.
    let (site, commune, service): (String, String, String) = sqlx::query_as(
        "SELECT s.name, s.commune, d.service_id FROM device d JOIN site s ON s.id = d.site_id WHERE d.dev_eui = 'a817580000000007'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((site.as_str(), commune.as_str(), service.as_str()), ("Site 1", "42207", "energy-buildings"));

    // Again, with other names and without keys: every device updated, keys kept, no new site.
    let t = Instant::now();
    let csv = generate(5000, "second", false);
    let mut progress = Vec::new();
    let summary = onboarding::import(&db.pool, csv.as_bytes(), Some(&sealer), |n| progress.push(n)).await.unwrap();
    println!("re-imported 5,000 devices in {:?}", t.elapsed());
    assert_eq!(summary, ImportSummary { devices: 5000, created: 0, updated: 5000, sites_created: 0 });
    assert_eq!(progress.last(), Some(&5000));
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(db.count("SELECT count(*) FROM device WHERE name LIKE 'second %'").await, 5000);
    assert_eq!(db.count("SELECT count(*) FROM device WHERE app_s_key_sealed IS NOT NULL").await, 500);
    db.drop_db().await;
}

#[tokio::test]
async fn a_file_with_errors_changes_nothing_and_reports_every_bad_line() {
    let db = TestDb::new().await;
    onboarding::import(&db.pool, generate(20, "good", false).as_bytes(), None, |_| {}).await.unwrap();
    let before: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT dev_eui, name, site_id FROM device ORDER BY dev_eui").fetch_all(&db.pool).await.unwrap();

    // Good lines that would rename every device and create sites, and bad ones among them.
    let mut csv = generate(20, "renamed", false).replace("Site ", "New site ");
    csv.push_str(
        "a81758000000ffff,x,elsys-ers-co2,42218,S,air-quality-schools,45.1,4.1,00112233445566778899aabbccddeeff\n",
    ); // line 22: no master key
    csv.push_str("not-an-eui,x,elsys-ers-co2,42218,S,air-quality-schools,45.1,4.1,\n"); // 23
    csv.push_str("a817580000000001,dup,elsys-ers-co2,42218,S,air-quality-schools,45.1,4.1,\n"); // 24: duplicate of line 3
    csv.push_str("a81758000000fffe,x,no-such-model,00000,S,no-such-service,95,4.1,\n"); // 25: four errors
    let err = onboarding::import(&db.pool, csv.as_bytes(), None, |_| {}).await.unwrap_err();
    let ImportError::Invalid(errors) = err else { panic!("expected a line report, got {err:?}") };
    let got: Vec<(u64, Option<&str>)> = errors.iter().map(|e: &LineError| (e.line, e.column.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (22, Some("app_s_key")),
            (23, Some("dev_eui")),
            (24, Some("dev_eui")),
            (25, Some("model")),
            (25, Some("commune")),
            (25, Some("service")),
            (25, Some("latitude")),
        ]
    );
    assert!(errors[2].reason.contains("line 3"), "{}", errors[2].reason);

    let after: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT dev_eui, name, site_id FROM device ORDER BY dev_eui").fetch_all(&db.pool).await.unwrap();
    assert_eq!(before, after, "nothing changed");
    assert_eq!(db.count("SELECT count(*) FROM site WHERE name LIKE 'New site %'").await, 0);
    db.drop_db().await;
}

#[tokio::test]
async fn catalogue_and_communes() {
    let db = TestDb::new().await;
    let router = router(&db).await;

    let (s, v) = get(&router, "/api/v1/services").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = v["services"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["air-quality-schools", "energy-buildings", "smart-parking"]);
    // Every built-in model is in the service of its category.
    for (i, category) in Category::ALL.iter().enumerate() {
        let service = &v["services"][i];
        assert_eq!(service["category"], category.as_str());
        let models: Vec<&str> = service["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        for m in model::builtin().iter().filter(|m| m.category == *category) {
            assert!(models.contains(&m.id.as_str()), "{} not in {}", m.id, service["id"]);
        }
    }

    let (s, v) = get(&router, "/api/v1/services/smart-parking").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "Smart parking");
    assert!(v["metrics"].as_array().unwrap().contains(&Value::from("parking.occupied")));
    assert!(v["indicators"].as_array().is_some_and(|a| !a.is_empty()));
    let (s, v) = get(&router, "/api/v1/services/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");

    domain::subscribe(&db.pool, "42218", "air-quality-schools").await.unwrap();
    let (s, v) = get(&router, "/api/v1/communes").await;
    assert_eq!(s, StatusCode::OK);
    let communes = v["communes"].as_array().unwrap();
    assert_eq!(communes.len(), 5);
    let se = communes.iter().find(|c| c["insee"] == "42218").unwrap();
    assert_eq!(se["name"], "Saint-Étienne");
    assert_eq!(se["services"], serde_json::json!(["air-quality-schools"]));
    assert!(se["latitude"].as_f64().is_some_and(|l| (45.0..46.0).contains(&l)));

    // The sample file of deploy/ imports, and its sites are listed with their devices.
    let sample = include_str!("../deploy/samples/devices.csv");
    let summary = onboarding::import(&db.pool, sample.as_bytes(), None, |_| {}).await.unwrap();
    assert_eq!(summary.devices, 5);
    let (s, v) = get(&router, "/api/v1/communes/42218/sites").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["sites"].as_array().unwrap().len(), 1);
    assert_eq!(v["sites"][0]["name"], "École Jules Ferry");
    assert_eq!(v["sites"][0]["devices"], 3);
    // A site created by an import is placed at the mean position of its devices.
    assert!((v["sites"][0]["latitude"].as_f64().unwrap() - 45.4412).abs() < 1e-9);
    assert!((v["sites"][0]["longitude"].as_f64().unwrap() - 4.3851).abs() < 1e-9);
    let (_, v) = get(&router, "/api/v1/communes/42187/sites").await;
    assert_eq!(v["sites"][0]["name"], "Hôtel de ville");
    assert_eq!(v["sites"][1]["name"], "Parking de la gare, niveau 0");
    let (s, v) = get(&router, "/api/v1/communes/99999/sites").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");

    let (_, doc) = get(&router, "/openapi.json").await;
    for path in ["/api/v1/services", "/api/v1/services/{id}", "/api/v1/communes", "/api/v1/communes/{insee}/sites"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    db.drop_db().await;
}

/// The API's import route: a 5,000-row file with bad lines changes nothing and reports
/// each of them; the same file without them is written at once.
#[tokio::test]
async fn the_import_route_checks_the_whole_file_then_writes_it_atomically() {
    use axum::http::Method;
    let db = TestDb::new().await;
    let router = router(&db).await;
    let good = generate(5000, "api", false);
    let mut bad = good.clone();
    bad.push_str("a81758000000ffff,x,elsys-ers-co2,99999,S,air-quality-schools,45.1,4.1,\n"); // line 5002
    bad.push_str("a817580000000002,dup,elsys-ers-co2,42218,S,air-quality-schools,45.1,4.1,\n"); // 5003: duplicate
    bad.push_str("a81758000000fffe,x,no-such-model,42218,S,smart-parking,45.1,east,\n"); // 5004: two errors
    let (s, v) = crate::support::request(&router, Method::POST, "/api/v1/devices/import", None, Some(&bad)).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")), "{v}");
    let lines: Vec<(u64, &str)> = v["error"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l["column"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(5002, "commune"), (5003, "dev_eui"), (5004, "model"), (5004, "longitude")]);
    assert_eq!(db.count("SELECT count(*) FROM device").await, 0, "nothing written");
    assert_eq!(db.count("SELECT count(*) FROM site").await, 0);

    let t = Instant::now();
    let (s, v) = crate::support::request(&router, Method::POST, "/api/v1/devices/import", None, Some(&good)).await;
    println!("imported 5,000 devices through the API in {:?}", t.elapsed());
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, serde_json::json!({"devices": 5000, "created": 5000, "updated": 0, "sites_created": 200}));
    assert_eq!(db.count("SELECT count(*) FROM device WHERE name LIKE 'api %'").await, 5000);

    let (s, v) =
        crate::support::request(&router, Method::POST, "/api/v1/devices/import", None, Some("dev_eui\n")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a header without the columns: {v}");
    db.drop_db().await;
}
