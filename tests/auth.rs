//! Access: tokens (create, list, revoke), authentication, roles, the failed-auth rate
//! limit, and the isolation of communes walked over every route of the OpenAPI document.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{TimeDelta, Utc};
use http_body_util::BodyExt;
use roc42::api::{self, AppState};
use roc42::store::device::{self, NewDevice};
use roc42::store::token::{self, Role};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{self, TestDb};

const EUI_A: &str = "a81758fffe03aaaa";
const EUI_B: &str = "a81758fffe03bbbb";
const INSEE_A: &str = "42218";
const INSEE_B: &str = "42187";
const NAME_B: &str = "sonde-secrete-de-roanne";
const SITE_B: &str = "Ecole secrete de Roanne";

fn router(db: &TestDb) -> axum::Router {
    api::router(AppState::new(db.pool.clone()))
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(router: &axum::Router, method: Method, uri: &str, token: Option<&str>, ip: Option<[u8; 4]>) -> Reply {
    let mut req = Request::builder().method(method.clone()).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = if method == Method::GET {
        Body::empty()
    } else {
        req = req.header(header::CONTENT_TYPE, "application/json");
        Body::from("{}")
    };
    let mut req = req.body(body).unwrap();
    if let Some(ip) = ip {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    }
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(router: &axum::Router, uri: &str, token: Option<&str>) -> Reply {
    call(router, Method::GET, uri, token, None).await
}

/// Devices of communes A and B, a site and a subscription of B, and recent readings of
/// both devices (inside every default time window); returns B's site id.
async fn seed(db: &TestDb) -> i64 {
    for (eui, name, commune) in [(EUI_A, "sonde de Saint-Etienne", INSEE_A), (EUI_B, NAME_B, INSEE_B)] {
        let d = device::upsert(
            &db.pool,
            &NewDevice {
                dev_eui: eui.parse().unwrap(),
                name: name.into(),
                model: "elsys-ers-co2".into(),
                commune: Some(commune.into()),
            },
        )
        .await
        .unwrap();
        for i in 1..=3 {
            sqlx::query("INSERT INTO reading (time, device_id, metric, value) VALUES ($1, $2, 'air.co2', $3)")
                .bind(Utc::now() - TimeDelta::minutes(10 * i))
                .bind(d.id)
                .bind(500.0 + i as f64)
                .execute(&db.pool)
                .await
                .unwrap();
        }
    }
    let site: i64 = sqlx::query_scalar("INSERT INTO site (commune, name) VALUES ($1, $2) RETURNING id")
        .bind(INSEE_B)
        .bind(SITE_B)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE device SET site_id = $1 WHERE dev_eui = $2")
        .bind(site)
        .bind(EUI_B)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO subscription (commune, service) VALUES ($1, 'smart-parking')")
        .bind(INSEE_B)
        .execute(&db.pool)
        .await
        .unwrap();
    site
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked() {
    let db = TestDb::new().await;
    let t = token::create(&db.pool, Role::Commune, Some(INSEE_A), "mairie").await.unwrap();
    assert!(t.token.starts_with("roc42_") && t.token.len() == 6 + 64, "{}", t.token);
    let op = token::create(&db.pool, Role::Operator, None, "siel").await.unwrap();
    assert_ne!(t.token, op.token);

    // The table holds hashes only; a listing shows neither token nor hash.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api_token WHERE token_hash = $1")
        .bind(&token::hash(&t.token)[..])
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let list = token::list(&db.pool).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].id, list[0].role, list[0].commune.as_deref(), list[0].label.as_str()),
        (t.id, Role::Commune, Some(INSEE_A), "mairie")
    );
    let listed = serde_json::to_string(&list).unwrap();
    assert!(!listed.contains(&t.token) && !listed.contains(&hex::encode(token::hash(&t.token))), "{listed}");
    assert!(!listed.contains("hash"), "{listed}");

    let holder = token::get_by_hash(&db.pool, &token::hash(&t.token)).await.unwrap().unwrap();
    assert_eq!((holder.role, holder.commune.as_deref()), (Role::Commune, Some(INSEE_A)));
    assert!(token::revoke(&db.pool, t.id).await.unwrap());
    assert!(!token::revoke(&db.pool, t.id).await.unwrap(), "already revoked");
    assert!(!token::revoke(&db.pool, 999_999).await.unwrap(), "no such token");
    assert!(token::get_by_hash(&db.pool, &token::hash(&t.token)).await.unwrap().is_none());
    assert!(token::list(&db.pool).await.unwrap()[0].revoked_at.is_some());

    // A commune token needs its commune, and only commune tokens have one.
    assert!(token::create(&db.pool, Role::Commune, None, "").await.is_err());
    assert!(token::create(&db.pool, Role::Analyst, Some(INSEE_A), "").await.is_err());
    db.drop_db().await;
}

#[tokio::test]
async fn authentication_and_roles() {
    let db = TestDb::new().await;
    seed(&db).await;
    let router = router(&db);
    let operator = support::operator_token(&db.pool).await;
    let analyst = support::token(&db.pool, Role::Analyst, None).await;
    let commune_a = support::token(&db.pool, Role::Commune, Some(INSEE_A)).await;

    // Public routes need nothing.
    for uri in ["/health", "/metrics", "/openapi.json"] {
        assert_eq!(get(&router, uri, None).await.status, StatusCode::OK, "{uri}");
    }
    // Everything else: 401 with WWW-Authenticate and the one error shape.
    for (token, why) in [(None, "no token"), (Some("roc42_nope"), "unknown token"), (Some(""), "empty token")] {
        let r = get(&router, "/api/v1/models", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer", "{why}");
        assert_eq!(r.json()["error"]["code"], "unauthorized", "{why}");
    }
    let basic = router
        .clone()
        .oneshot(
            Request::get("/api/v1/devices")
                .header(header::AUTHORIZATION, format!("Basic {operator}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED, "only the Bearer scheme");

    // Operators: everything; the use is recorded.
    assert_eq!(get(&router, "/api/v1/ingest/rejected", Some(&operator)).await.status, StatusCode::OK);
    assert_eq!(get(&router, "/api/v1/ingest/events", Some(&operator)).await.status, StatusCode::OK);
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_token WHERE role = 'operator' AND last_used_at IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(used, 1);

    // Analysts read every commune's devices, not what ingest kept, and write nothing.
    let r = get(&router, "/api/v1/devices", Some(&analyst)).await;
    assert_eq!((r.status, r.json()["total"].as_i64()), (StatusCode::OK, Some(2)));
    assert_eq!(get(&router, &format!("/api/v1/devices/{EUI_B}"), Some(&analyst)).await.status, StatusCode::OK);
    assert_eq!(get(&router, "/api/v1/models", Some(&analyst)).await.status, StatusCode::OK);
    for uri in ["/api/v1/ingest/rejected", "/api/v1/ingest/events"] {
        let r = get(&router, uri, Some(&analyst)).await;
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{uri}");
    }

    // A commune reads its own devices and readings, and the catalogues.
    let r = get(&router, "/api/v1/devices", Some(&commune_a)).await;
    let v = r.json();
    assert_eq!((r.status, v["total"].as_i64()), (StatusCode::OK, Some(1)));
    assert_eq!(v["devices"][0]["dev_eui"], EUI_A);
    assert_eq!(get(&router, "/api/v1/devices?commune=42187", Some(&commune_a)).await.json()["total"], 0);
    assert_eq!(get(&router, &format!("/api/v1/devices/{EUI_A}"), Some(&commune_a)).await.status, StatusCode::OK);
    let r = get(&router, &format!("/api/v1/devices/{EUI_A}/readings"), Some(&commune_a)).await;
    assert_eq!((r.status, r.json()["readings"].as_array().map(Vec::len)), (StatusCode::OK, Some(3)));
    assert_eq!(get(&router, "/api/v1/metrics", Some(&commune_a)).await.status, StatusCode::OK);
    assert_eq!(get(&router, "/api/v1/ingest/rejected", Some(&commune_a)).await.status, StatusCode::FORBIDDEN);
    // Another commune's device answers exactly like a device that does not exist.
    for suffix in ["", "/readings"] {
        let foreign = get(&router, &format!("/api/v1/devices/{EUI_B}{suffix}"), Some(&commune_a)).await;
        let missing = get(&router, &format!("/api/v1/devices/0000000000000001{suffix}"), Some(&commune_a)).await;
        assert_eq!((foreign.status, missing.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert_eq!(foreign.json()["error"]["code"], missing.json()["error"]["code"]);
        assert_eq!(foreign.body.replace(EUI_B, "X"), missing.body.replace("0000000000000001", "X"));
    }

    // A revoked token is refused (revoked before this router ever saw it: a token the
    // router has cached stops working within auth::CACHE_TTL).
    let revoked = token::create(&db.pool, Role::Operator, None, "gone").await.unwrap();
    token::revoke(&db.pool, revoked.id).await.unwrap();
    assert_eq!(get(&router, "/api/v1/models", Some(&revoked.token)).await.status, StatusCode::UNAUTHORIZED);
    db.drop_db().await;
}

#[tokio::test]
async fn failed_authentication_is_rate_limited_per_client() {
    let db = TestDb::new().await;
    let router = router(&db);
    let operator = support::operator_token(&db.pool).await;
    let attacker = Some([192, 0, 2, 1]);
    for i in 0..10 {
        let r = call(&router, Method::GET, "/api/v1/devices", Some(&format!("roc42_guess{i}")), attacker).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let r = call(&router, Method::GET, "/api/v1/devices", Some("roc42_guess10"), attacker).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    let retry: u64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry), "Retry-After {retry}");
    // Blocked means blocked, even with a good token (no oracle for guesses)...
    let r = call(&router, Method::GET, "/api/v1/devices", Some(&operator), attacker).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // ...but only that client; public routes stay open.
    let r = call(&router, Method::GET, "/api/v1/devices", Some(&operator), Some([192, 0, 2, 2])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(call(&router, Method::GET, "/health", None, attacker).await.status, StatusCode::OK);
    db.drop_db().await;
}

/// Values of `name` to try for a path or query parameter: commune B's objects.
fn candidates(name: &str, site_b: i64) -> Vec<String> {
    let name = name.to_ascii_lowercase();
    if name.contains("eui") {
        vec![EUI_B.into(), EUI_B.to_uppercase()]
    } else if name.contains("insee") || name.contains("commune") {
        vec![INSEE_B.into()]
    } else if name.contains("site") {
        vec![site_b.to_string()]
    } else {
        // An id of unknown kind: every kind of B object.
        vec![EUI_B.into(), INSEE_B.into(), site_b.to_string()]
    }
}

/// Every request the OpenAPI document allows, with B's objects in every parameter:
/// (method, uri) pairs. Query parameters are tried all unset, then all set to B.
fn requests(doc: &Value, site_b: i64) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (template, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
                continue;
            }
            let params: Vec<&Value> = op["parameters"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
            // Path templates with every combination of candidates.
            let mut uris = vec![template.clone()];
            let mut rest = template.as_str();
            while let Some(start) = rest.find('{') {
                let end = rest[start..].find('}').expect("closing brace") + start;
                let name = &rest[start + 1..end];
                let placeholder = format!("{{{name}}}");
                uris = uris
                    .iter()
                    .flat_map(|u| {
                        candidates(name, site_b)
                            .into_iter()
                            .map(|c| u.replacen(&placeholder, &c, 1))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                rest = &rest[end + 1..];
            }
            let query: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| {
                    let name = p["name"].as_str()?;
                    let lower = name.to_ascii_lowercase();
                    let targets_b = ["eui", "insee", "commune", "site"].iter().any(|k| lower.contains(k));
                    targets_b.then(|| format!("{name}={}", candidates(name, site_b)[0]))
                })
                .collect();
            for uri in uris {
                out.push((method.clone(), uri.clone()));
                if !query.is_empty() {
                    out.push((method.clone(), format!("{uri}?{}", query.join("&"))));
                }
            }
        }
    }
    out
}

/// Commune A walks every route of the OpenAPI document against B's objects: nothing of
/// B comes back. A route added to the document is walked too.
#[tokio::test]
async fn a_commune_sees_nothing_of_another_through_any_route() {
    let db = TestDb::new().await;
    let site_b = seed(&db).await;
    let router = router(&db);
    let token_a = support::token(&db.pool, Role::Commune, Some(INSEE_A)).await;
    let token_b = support::token(&db.pool, Role::Commune, Some(INSEE_B)).await;

    let doc = get(&router, "/openapi.json", None).await.json();
    let mut walk = requests(&doc, site_b);
    // Public routes outside the document.
    walk.push((Method::GET, "/metrics".into()));
    assert!(walk.len() >= 20, "the walk covers the document: {walk:?}");
    let commune_b_name: String = sqlx::query_scalar("SELECT name FROM commune WHERE insee = $1")
        .bind(INSEE_B)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let markers =
        [EUI_B.to_owned(), EUI_B.to_uppercase(), NAME_B.into(), INSEE_B.into(), commune_b_name, SITE_B.into()];

    let mut b_sees_itself = 0;
    for (method, uri) in &walk {
        let r = call(&router, method.clone(), uri, Some(&token_a), None).await;
        let targets_b = markers.iter().any(|m| uri.contains(m.as_str())) || uri.contains(&format!("/{site_b}"));
        if targets_b || *method != Method::GET {
            assert!(
                matches!(r.status.as_u16(), 400 | 403 | 404 | 405 | 413 | 415 | 422),
                "{method} {uri} as commune A: {} {}",
                r.status,
                r.body
            );
        } else {
            assert!(
                r.status.is_success() || r.status == StatusCode::FORBIDDEN,
                "{method} {uri}: {} {}",
                r.status,
                r.body
            );
        }
        // An error may echo what was asked; nothing else of B may appear.
        let mut body = r.body.clone();
        if !r.status.is_success() {
            for m in &markers {
                if uri.to_lowercase().contains(&m.to_lowercase()) {
                    body = body.replace(&m.to_lowercase(), "").replace(&m.to_uppercase(), "");
                }
            }
        }
        for m in &markers {
            assert!(!body.contains(m.as_str()), "{method} {uri} as commune A leaks {m:?}: {}", r.body);
        }

        // The same request as commune B finds B's objects: the markers are reachable,
        // so their absence above means something.
        let r = call(&router, method.clone(), uri, Some(&token_b), None).await;
        if r.status.is_success() && (r.body.contains(EUI_B) || r.body.contains(NAME_B)) {
            b_sees_itself += 1;
        }
    }
    assert!(b_sees_itself >= 3, "commune B sees its own device through the walk ({b_sees_itself} routes)");
    db.drop_db().await;
}

async fn with_cookie(router: &axum::Router, method: Method, uri: &str, cookie: &str) -> StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, format!("theme=dark; roc42_session={cookie}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    router.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn a_page_session_reads_as_its_token_and_never_writes() {
    let db = TestDb::new().await;
    let app = router(&db);
    let t = token::create(&db.pool, Role::Operator, None, "pages").await.unwrap();
    let secret = roc42::store::session::create(&db.pool, t.id, Utc::now() + TimeDelta::hours(1)).await.unwrap();
    assert_eq!(with_cookie(&app, Method::GET, "/api/v1/devices", &secret).await, StatusCode::OK);
    // Writes need the token itself: no other site can make a logged-in browser write.
    assert_eq!(with_cookie(&app, Method::POST, "/api/v1/sites", &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(with_cookie(&app, Method::GET, "/api/v1/devices", "not-a-session").await, StatusCode::UNAUTHORIZED);

    // An expired session, and the session of a revoked token, read nothing.
    let expired = roc42::store::session::create(&db.pool, t.id, Utc::now() - TimeDelta::minutes(1)).await.unwrap();
    assert_eq!(with_cookie(&app, Method::GET, "/api/v1/devices", &expired).await, StatusCode::UNAUTHORIZED);
    assert!(token::revoke(&db.pool, t.id).await.unwrap());
    // A new router: its lookup cache has not seen this session before the revocation.
    let fresh = router(&db);
    assert_eq!(with_cookie(&fresh, Method::GET, "/api/v1/devices", &secret).await, StatusCode::UNAUTHORIZED);
    db.drop_db().await;
}
