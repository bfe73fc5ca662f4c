//! The API router against a real database, request by request (`oneshot`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::BodyExt;
use roc42::api::{self, AppState};
use roc42::store::device::{self, NewDevice};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::TestDb;

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let resp = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

async fn seed(db: &TestDb) -> DateTime<Utc> {
    for (eui, model, commune) in [
        ("a81758fffe0312ab", "elsys-ers-co2", "42218"),
        ("a81758fffe0312ac", "milesight-ct101", "42218"),
        ("a81758fffe0312ad", "tekzitel-tekzipark", "42187"),
    ] {
        device::upsert(
            &db.pool,
            &NewDevice {
                dev_eui: eui.parse().unwrap(),
                name: format!("dev {eui}"),
                model: model.into(),
                commune: Some(commune.into()),
            },
        )
        .await
        .unwrap();
    }
    let t0 = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let id: i64 = sqlx::query_scalar("SELECT id FROM device WHERE dev_eui = 'a81758fffe0312ab'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for i in 0..10 {
        let t = t0 + TimeDelta::minutes(15 * i);
        for (metric, value) in [("air.co2", 400.0 + i as f64), ("air.temperature", 20.0 + i as f64 / 10.0)] {
            sqlx::query("INSERT INTO reading (time, device_id, metric, value) VALUES ($1, $2, $3, $4)")
                .bind(t)
                .bind(id)
                .bind(metric)
                .bind(value)
                .execute(&db.pool)
                .await
                .unwrap();
        }
    }
    t0
}

#[tokio::test]
async fn devices_readings_and_errors() {
    let db = TestDb::new().await;
    let t0 = seed(&db).await;
    let router = api::router(AppState::new(db.pool.clone()));
    let router = crate::support::with_token(router, &crate::support::operator_token(&db.pool).await);

    let (s, v) = get(&router, "/api/v1/devices").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 3);
    assert_eq!(v["devices"][0]["dev_eui"], "a81758fffe0312ab");
    assert!(v["devices"][0].get("id").is_none(), "internal ids are not exposed");
    let (_, v) = get(&router, "/api/v1/devices?commune=42187").await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["devices"][0]["model"], "tekzitel-tekzipark");
    let (_, v) = get(&router, "/api/v1/devices?model=milesight-ct101&limit=1").await;
    assert_eq!(v["devices"].as_array().unwrap().len(), 1);
    let (_, v) = get(&router, "/api/v1/devices?limit=1&offset=2").await;
    assert_eq!(v["devices"][0]["dev_eui"], "a81758fffe0312ad");
    let (s, v) = get(&router, "/api/v1/devices?limit=0").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));

    let (s, v) = get(&router, "/api/v1/devices/A81758FFFE0312AB").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "dev a81758fffe0312ab");
    assert_eq!(v["commune"], "42218");
    let (s, v) = get(&router, "/api/v1/devices/0000000000000001").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, _) = get(&router, "/api/v1/devices/not-an-eui").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let range = |from: DateTime<Utc>, to: DateTime<Utc>| {
        format!("from={}&to={}", from.to_rfc3339().replace('+', "%2B"), to.to_rfc3339().replace('+', "%2B"))
    };
    let base = "/api/v1/devices/a81758fffe0312ab/readings";
    let (s, v) = get(&router, &format!("{base}?metric=air.co2&{}", range(t0, t0 + TimeDelta::hours(1)))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = v["readings"].as_array().unwrap();
    assert_eq!(r.len(), 4, "four 15-minute readings in [t0, t0+1h)");
    assert_eq!(r[0]["value"], 400.0);
    assert_eq!(r[0]["unit"], "ppm");
    assert_eq!(r[3]["time"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), t0 + TimeDelta::minutes(45));
    let (_, v) = get(&router, &format!("{base}?{}", range(t0, t0 + TimeDelta::days(1)))).await;
    assert_eq!(v["readings"].as_array().unwrap().len(), 20, "all metrics");
    let (_, v) = get(&router, &format!("{base}?limit=3&{}", range(t0, t0 + TimeDelta::days(1)))).await;
    assert_eq!(v["readings"].as_array().unwrap().len(), 3);
    let (s, v) = get(&router, &format!("{base}?metric=air.nope")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("unknown metric"));
    let (s, _) = get(&router, &format!("{base}?{}", range(t0, t0))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Default window is the last 24 hours: the seeded March data is not in it.
    let (_, v) = get(&router, base).await;
    assert_eq!(v["readings"].as_array().unwrap().len(), 0);

    db.drop_db().await;
}

#[tokio::test]
async fn service_routes_and_openapi() {
    let db = TestDb::new().await;
    let router = api::router(AppState::new(db.pool.clone()));
    let router = crate::support::with_token(router, &crate::support::operator_token(&db.pool).await);
    let (s, v) = get(&router, "/health").await;
    assert_eq!((s, v["status"].as_str(), v["database"].as_str()), (StatusCode::OK, Some("ok"), Some("ok")));
    let (s, v) = get(&router, "/api/v1/models").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.as_array().unwrap().iter().any(|m| m["id"] == "milesight-am319" && m["category"] == "air_quality"));
    let (_, v) = get(&router, "/api/v1/metrics").await;
    assert!(v.as_array().unwrap().iter().any(|m| m["name"] == "air.co2" && m["unit"] == "ppm"));
    let (s, _) = get(&router, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = get(&router, "/api/v1/ingest/rejected").await;
    assert_eq!((s, v.as_array().map(Vec::len)), (StatusCode::OK, Some(0)));

    let (s, doc) = get(&router, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/api/v1/models",
        "/api/v1/metrics",
        "/api/v1/devices",
        "/api/v1/devices/{dev_eui}",
        "/api/v1/devices/{dev_eui}/readings",
        "/api/v1/ingest/rejected",
        "/api/v1/ingest/tts",
        "/api/v1/ingest/thingpark",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    // Every documented GET route answers (with valid path parameters substituted, and
    // the metric that series of readings need).
    for (p, _) in paths.iter().filter(|(_, item)| item.get("get").is_some()) {
        let mut uri = p.replace("{dev_eui}", "0000000000000001").replace("{id}", "1").replace("{insee}", "42218");
        if uri.ends_with("/readings") {
            uri.push_str("?metric=air.co2");
        }
        let (s, v) = get(&router, &uri).await;
        assert!(s == StatusCode::OK || s == StatusCode::NOT_FOUND, "{uri}: {s}");
        if s == StatusCode::NOT_FOUND {
            assert_eq!(v["error"]["code"], "not_found", "{uri}: one error shape");
        }
    }
    // The bearer scheme is declared, and required by every /api/v1 operation.
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["paths"]["/health"]["get"]["security"].is_null());
    assert_eq!(doc["paths"]["/api/v1/devices"]["get"]["security"][0]["bearer"], serde_json::json!([]));
    // The browsable UI is served from the binary (no CDN), with the document it reads.
    let (s, page) = get(&router, "/docs").await;
    assert_eq!(s, StatusCode::OK);
    let page = page.as_str().unwrap_or_default().to_owned();
    assert!(page.contains("/openapi.json") && page.contains("/docs/swagger-ui-bundle.js"), "{page}");
    assert!(!page.contains("https://"), "the docs page must work offline");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let (s, body) = get(&router, asset).await;
        assert_eq!(s, StatusCode::OK, "{asset}");
        assert!(body.as_str().is_some_and(|b| b.len() > 100_000), "{asset} is the real asset");
    }
    // Errors axum itself produces come in the same JSON shape.
    let (s, v) = get(&router, "/api/v1/devices/0000000000000001/readings?from=yesterday").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{v}");
    let (s, v) = get(&router, "/api/v1/no-such-route").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{v}");

    // Health degrades (503) when the database is gone.
    db.pool.close().await;
    let (s, v) = get(&router, "/health").await;
    assert_eq!((s, v["database"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unreachable")));
    let admin = sqlx::PgPool::connect(&crate::support::base_database_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name)).execute(&admin).await.unwrap();
}
