//! What SIEL operators do through the API: communes, the catalogue of services,
//! subscriptions and sites; devices created, updated, moved and retired (history kept).

use axum::http::{Method, StatusCode};
use chrono::{TimeDelta, Utc};
use roc42::store::token::Role;
use serde_json::{json, Value};

use crate::support::{insert_readings, request, router_as, TestDb};

async fn call(router: &axum::Router, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    request(router, method, uri, body, None).await
}

#[tokio::test]
async fn operators_manage_communes_services_subscriptions_and_sites() {
    let db = TestDb::new().await;
    let op = router_as(&db, Role::Operator, None).await;
    let analyst = router_as(&db, Role::Analyst, None).await;
    let commune = router_as(&db, Role::Commune, Some("42218")).await;

    // Communes.
    let c = json!({"insee": "42279", "name": "Saint-Priest-en-Jarez", "latitude": 45.47, "longitude": 4.37});
    let (s, v) = call(&op, Method::POST, "/api/v1/communes", Some(c.clone())).await;
    assert_eq!((s, v["time_zone"].as_str()), (StatusCode::CREATED, Some("Europe/Paris")), "{v}");
    let renamed = json!({"insee": "42279", "name": "St-Priest", "latitude": 45.47, "longitude": 4.37, "time_zone": "Europe/Paris"});
    let (s, v) = call(&op, Method::POST, "/api/v1/communes", Some(renamed)).await;
    assert_eq!((s, v["name"].as_str()), (StatusCode::OK, Some("St-Priest")));
    for (bad, why) in [
        (json!({"insee": "4227", "name": "x", "latitude": 45.0, "longitude": 4.0}), "INSEE code"),
        (json!({"insee": "42280", "name": "x", "latitude": 95.0, "longitude": 4.0}), "latitude"),
        (
            json!({"insee": "42280", "name": "x", "latitude": 45.0, "longitude": 4.0, "time_zone": "Mars/Olympus"}),
            "zone",
        ),
    ] {
        let (s, v) = call(&op, Method::POST, "/api/v1/communes", Some(bad)).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{why}: {v}");
    }
    let (s, v) = call(&op, Method::POST, "/api/v1/communes", Some(json!({"insee": "42280"}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")), "{v}");

    // Services: a new one, its category's models added; replaced; bad ones refused.
    let water = json!({"name": "Water networks", "description": "Leaks and consumption", "category": "energy",
        "metrics": ["water.volume"], "indicators": [{"id": "daily-volume", "name": "Volume per day", "metric": "water.volume"}]});
    let (s, v) = call(&op, Method::PUT, "/api/v1/services/water-networks", Some(water.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["models"].as_array().unwrap().contains(&json!("milesight-ct101")), "{v}");
    let (s, _) = call(&op, Method::PUT, "/api/v1/services/water-networks", Some(water)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = call(&op, Method::GET, "/api/v1/services", None).await;
    assert_eq!(v["services"].as_array().unwrap().len(), 4);
    for (id, body) in [
        ("Water", json!({"name": "x"})),
        ("water-2", json!({"name": "x", "metrics": ["water.nope"]})),
        ("water-3", json!({"name": "x", "models": ["no-such-model"]})),
        ("water-4", json!({"name": "x", "category": "waste"})),
    ] {
        let (s, v) = call(&op, Method::PUT, &format!("/api/v1/services/{id}"), Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{id}: {v}");
    }

    // Subscriptions.
    let uri = "/api/v1/communes/42279/subscriptions/water-networks";
    assert_eq!(call(&op, Method::PUT, uri, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&op, Method::PUT, uri, None).await.0, StatusCode::NO_CONTENT, "idempotent");
    let (_, v) = call(&op, Method::GET, "/api/v1/subscriptions", None).await;
    assert_eq!(v["subscriptions"][0]["service"], "water-networks");
    let (_, v) = call(&op, Method::GET, "/api/v1/communes/42279", None).await;
    assert_eq!(v["services"], json!(["water-networks"]));
    assert_eq!(
        call(&op, Method::PUT, "/api/v1/communes/42279/subscriptions/nope", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(call(&op, Method::DELETE, uri, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&op, Method::DELETE, uri, None).await.0, StatusCode::NOT_FOUND);

    // Sites.
    let site = json!({"commune": "42279", "name": "Gymnase", "address": "1 rue du Stade", "latitude": 45.47, "longitude": 4.37});
    let (s, v) = call(&op, Method::POST, "/api/v1/sites", Some(site.clone())).await;
    assert_eq!((s, v["devices"].as_i64()), (StatusCode::CREATED, Some(0)), "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(call(&op, Method::POST, "/api/v1/sites", Some(site)).await.0, StatusCode::CONFLICT);
    let (s, v) =
        call(&op, Method::PATCH, &format!("/api/v1/sites/{id}"), Some(json!({"name": "Gymnase municipal"}))).await;
    assert_eq!(
        (s, v["name"].as_str(), v["address"].as_str()),
        (StatusCode::OK, Some("Gymnase municipal"), Some("1 rue du Stade"))
    );
    let (s, _) = call(&op, Method::PATCH, &format!("/api/v1/sites/{id}"), Some(json!({"commune": "42218"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a site does not change commune");
    assert_eq!(
        call(&op, Method::PATCH, "/api/v1/sites/999999", Some(json!({"name": "x"}))).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = call(&op, Method::POST, "/api/v1/sites", Some(json!({"commune": "99999", "name": "x"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Only operators write.
    for r in [&analyst, &commune] {
        let (s, v) = call(r, Method::POST, "/api/v1/sites", Some(json!({"commune": "42218", "name": "x"}))).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        assert_eq!(call(r, Method::PUT, uri, None).await.0, StatusCode::FORBIDDEN);
    }
    db.drop_db().await;
}

fn device(eui: &str, name: &str) -> Value {
    json!({"dev_eui": eui, "name": name, "model": "elsys-ers-co2", "commune": "42218", "site": "École Pasteur",
           "service": "air-quality-schools", "latitude": 45.44, "longitude": 4.39})
}

#[tokio::test]
async fn devices_are_created_updated_moved_and_retired_keeping_their_history() {
    let db = TestDb::new().await;
    let op = router_as(&db, Role::Operator, None).await;
    let eui = "a81758fffe0c0001";

    let (s, v) = call(&op, Method::POST, "/api/v1/devices", Some(device(eui, "Classe 1"))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let d = &v["device"];
    assert_eq!(
        (d["site"].as_str(), d["commune"].as_str(), d["service"].as_str()),
        (Some("École Pasteur"), Some("42218"), Some("air-quality-schools"))
    );
    assert_eq!(v["reprocessed"]["uplinks"], 0);
    let site_se = d["site_id"].as_i64().unwrap();
    let (s, v) = call(&op, Method::POST, "/api/v1/devices", Some(device(eui, "again"))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));

    // Every bad field is reported, in the import's line-report shape (line 0).
    let bad = json!({"dev_eui": "a81758fffe0c", "name": "", "model": "nope", "commune": "99999", "site": "S",
        "service": "air-quality-schools", "latitude": 91.0, "longitude": 4.0, "app_s_key": "00"});
    let (s, v) = call(&op, Method::POST, "/api/v1/devices", Some(bad)).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")), "{v}");
    let columns: Vec<&str> =
        v["error"]["lines"].as_array().unwrap().iter().map(|l| l["column"].as_str().unwrap()).collect();
    assert_eq!(columns, ["dev_eui", "name", "model", "commune", "latitude", "app_s_key"]);

    // Update: rename, change service; then move to a site of another commune.
    let uri = format!("/api/v1/devices/{eui}");
    let (s, v) =
        call(&op, Method::PATCH, &uri, Some(json!({"name": "Classe CP", "service": "energy-buildings"}))).await;
    assert_eq!(
        (s, v["name"].as_str(), v["service"].as_str()),
        (StatusCode::OK, Some("Classe CP"), Some("energy-buildings")),
        "{v}"
    );
    let (_, roanne) = call(
        &op,
        Method::POST,
        "/api/v1/sites",
        Some(json!({"commune": "42187", "name": "Mairie", "latitude": 46.03, "longitude": 4.07})),
    )
    .await;
    let roanne = roanne["id"].as_i64().unwrap();
    let (s, v) =
        call(&op, Method::PATCH, &uri, Some(json!({"site_id": roanne, "latitude": 46.035, "longitude": 4.071}))).await;
    assert_eq!((s, v["commune"].as_str(), v["site"].as_str()), (StatusCode::OK, Some("42187"), Some("Mairie")), "{v}");
    assert_eq!(v["latitude"], 46.035);
    // Moving to another commune without a site takes it off its site.
    let (_, v) = call(&op, Method::PATCH, &uri, Some(json!({"commune": "42218"}))).await;
    assert_eq!((v["commune"].as_str(), v["site_id"].as_i64()), (Some("42218"), None));
    let (_, v) = call(&op, Method::PATCH, &uri, Some(json!({"site_id": site_se}))).await;
    assert_eq!(v["site"], "École Pasteur");
    for (body, why) in [
        (json!({"model": "nope"}), "model"),
        (json!({"site_id": 999999}), "site"),
        (json!({"service": "nope"}), "service"),
        (json!({"site_id": roanne, "commune": "42218"}), "site of another commune"),
        (json!({"latitude": -91.0}), "latitude"),
        (json!({"app_s_key": "000102030405060708090a0b0c0d0e0f"}), "no master key"),
        (json!({"name": " "}), "empty name"),
    ] {
        let (s, v) = call(&op, Method::PATCH, &uri, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {v}");
    }
    assert_eq!(
        call(&op, Method::PATCH, "/api/v1/devices/0000000000000001", Some(json!({"name": "x"}))).await.0,
        StatusCode::NOT_FOUND
    );

    // Retire: out of the lists and of the pipeline's registry, history kept.
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM device WHERE dev_eui = $1").bind(eui).fetch_one(&db.pool).await.unwrap();
    insert_readings(&db.pool, &[(id, "air.co2", Utc::now() - TimeDelta::hours(1), 700.0)]).await;
    let (s, v) = call(&op, Method::POST, &format!("{uri}/retire"), None).await;
    assert_eq!(s, StatusCode::OK);
    let retired_at = v["retired_at"].as_str().unwrap().to_owned();
    let (_, v) = call(&op, Method::POST, &format!("{uri}/retire"), None).await;
    assert_eq!(v["retired_at"].as_str(), Some(retired_at.as_str()), "retired once");
    let (_, v) = call(&op, Method::GET, "/api/v1/devices", None).await;
    assert_eq!(v["total"], 0);
    let (_, v) = call(&op, Method::GET, "/api/v1/devices?include_retired=true", None).await;
    assert_eq!(v["total"], 1);
    let (_, v) = call(&op, Method::GET, &format!("{uri}/readings?metric=air.co2"), None).await;
    assert_eq!(v["readings"][0]["value"], 700.0, "history kept");
    let (_, v) = call(&op, Method::GET, &format!("/api/v1/sites/{site_se}"), None).await;
    assert_eq!((v["site"]["devices"].as_i64(), v["devices"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert!(roc42::store::device::get_ref(&db.pool, eui.parse().unwrap()).await.unwrap().is_none());
    assert_eq!(call(&op, Method::POST, "/api/v1/devices/0000000000000001/retire", None).await.0, StatusCode::NOT_FOUND);

    // Created again: back in service, same device (its history with it).
    let (s, v) = call(&op, Method::POST, "/api/v1/devices", Some(device(eui, "Classe 1 bis"))).await;
    assert_eq!((s, v["device"]["retired_at"].as_str()), (StatusCode::CREATED, None), "{v}");
    let again: i64 =
        sqlx::query_scalar("SELECT id FROM device WHERE dev_eui = $1").bind(eui).fetch_one(&db.pool).await.unwrap();
    assert_eq!(again, id);
    db.drop_db().await;
}
