//! The built-in pages in a real browser (headless Chromium) against `roc42 demo`: a commune
//! logs in with its token, sees its devices only on its map, opens a site and sees a chart
//! with data; operators see fleet health and the unknown-device queue. Screenshots go to
//! `target/test-artifacts/pages/`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use roc42::store::token::Role;
use serde_json::{json, Value};

use crate::support::browser::{artifacts, Browser};
use crate::support::{self, TestDb};

/// Kills the demo when the test ends, passed or not.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn dev_euis(client: &reqwest::Client, base: &str) -> BTreeSet<String> {
    let v: Value = client.get(format!("{base}/api/v1/devices?limit=1000")).send().await.unwrap().json().await.unwrap();
    v["devices"].as_array().unwrap().iter().map(|d| d["dev_eui"].as_str().unwrap().to_owned()).collect()
}

async fn log_in(browser: &Browser, base: &str, token: &str) {
    browser.goto(&format!("{base}/ui/")).await;
    assert!(browser.url().await.contains("/ui/login?next="), "the pages ask for a login first");
    let field = browser.find("#token").await;
    browser.type_into(&field, token).await;
    let button = browser.find("#login").await;
    browser.click(&button).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commune_logs_in_and_sees_its_map_and_a_site_chart_in_chromium() {
    let db = TestDb::new().await;
    let http_port = support::free_port();
    let broker_port = support::free_port();
    let _demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_roc42"))
            .args(["demo", "--devices", "16", "--rate", "10", "--backfill-hours", "24", "--duration-s", "600"])
            .args(["--broker-port", &broker_port.to_string()])
            .env("DATABASE_URL", &db.url)
            .env("ROC42_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("ROC42_LOG", "warn")
            .env_remove("ROC42_MQTT_URL")
            .env_remove("ROC42_TILE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn roc42 demo"),
    );
    let base = format!("http://127.0.0.1:{http_port}");
    let commune_token = support::token(&db.pool, Role::Commune, Some("42218")).await;
    let operator_token = support::operator_token(&db.pool).await;
    let (se, ops) = (support::client(&commune_token), support::client(&operator_token));

    // The demo's day of history is in: every device heard lately, CO2 rolled up per hour.
    support::eventually("the demo's history", Duration::from_secs(90), || {
        let (ops, base, pool) = (ops.clone(), base.clone(), db.pool.clone());
        async move {
            let v: Value = ops.get(format!("{base}/api/v1/devices?limit=1000")).send().await.ok()?.json().await.ok()?;
            // Heard lately: the backfill has reached the present, so the map shows them live.
            let recent = chrono::Utc::now() - chrono::Duration::minutes(30);
            let all_heard = v["devices"].as_array()?.iter().all(|d| {
                d["last_seen_at"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()) > Some(recent)
            });
            let hours: i64 = sqlx::query_scalar("SELECT count(*) FROM rollup_hour WHERE metric = 'air.co2'")
                .fetch_one(&pool)
                .await
                .ok()?;
            (v["total"] == 16 && all_heard && hours > 20).then_some(())
        }
    })
    .await;
    let own = dev_euis(&se, &base).await;
    let everyone = dev_euis(&ops, &base).await;
    let others: Vec<&String> = everyone.difference(&own).collect();
    assert!(!own.is_empty() && !others.is_empty(), "the demo spreads its fleet: {own:?} {everyone:?}");

    let browser = Browser::start().await;
    let shots = artifacts().join("pages");

    // The commune logs in and lands on its map: its devices, and nobody else's.
    log_in(&browser, &base, &commune_token).await;
    let shown = browser
        .until("the map's device markers", "return window.roc42 && window.roc42.devices.map(d => d.dev_eui);")
        .await;
    let shown: BTreeSet<String> = shown.as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
    assert_eq!(shown, own, "the map shows the commune's devices");
    let markers = browser.run("return document.querySelectorAll('path.roc42-device').length;", json!([])).await;
    assert_eq!(markers, json!(own.len()), "one marker per device, drawn");
    let page = browser.run("return document.documentElement.outerHTML;", json!([])).await;
    let page = page.as_str().unwrap();
    for other in &others {
        assert!(!page.contains(other.as_str()), "another commune's device {other} is not on the page");
    }
    let who = browser.run("return document.getElementById('who').textContent;", json!([])).await;
    assert_eq!(who, "Saint-Étienne (42218)");
    let sites = browser.run("return document.querySelectorAll('.roc42-site').length;", json!([])).await;
    assert_eq!(sites, json!(4), "two schools, the town hall and the car park");
    browser.screenshot(&shots.join("commune-map.png")).await;

    // A school: its CO2 chart has a day of data.
    let clicked = browser
        .run(
            "const a = [...document.querySelectorAll('#sites a')].find(a => a.textContent.startsWith('École'));\
             a.click(); return a.textContent;",
            json!([]),
        )
        .await;
    let charts = browser
        .until(
            "the site's charts",
            "return location.pathname.startsWith('/ui/sites/') && window.roc42Charts && window.roc42Charts.length \
             && window.roc42Charts.map(c => ({id: c.id, points: c.points, series: c.series}));",
        )
        .await;
    let co2 = charts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "chart-air-co2")
        .unwrap_or_else(|| panic!("a CO2 chart on {clicked}: {charts}"));
    assert!(co2["points"].as_u64().unwrap() >= 20, "a day of hourly CO2: {co2}");
    assert!(co2["series"].as_u64().unwrap() >= 1);
    let canvas = browser.run("return !!document.querySelector('#chart-air-co2 canvas');", json!([])).await;
    assert_eq!(canvas, json!(true), "uPlot drew it");
    let h1 = browser.run("return document.querySelector('h1').textContent;", json!([])).await;
    assert_eq!(h1, clicked);
    browser.screenshot(&shots.join("commune-site.png")).await;
    browser.run("document.getElementById('chart-air-co2').scrollIntoView();", json!([])).await;
    browser.screenshot(&shots.join("commune-site-co2.png")).await;

    // Another commune's site is not found; operators' pages are forbidden.
    let theirs: i64 =
        sqlx::query_scalar("SELECT min(id) FROM site WHERE commune <> '42218'").fetch_one(&db.pool).await.unwrap();
    browser.goto(&format!("{base}/ui/sites/{theirs}")).await;
    let h1 = browser.run("return document.querySelector('h1').textContent;", json!([])).await;
    assert_eq!(h1, "Not Found");
    browser.goto(&format!("{base}/ui/fleet")).await;
    let h1 = browser.run("return document.querySelector('h1').textContent;", json!([])).await;
    assert_eq!(h1, "Forbidden");

    // Logging out ends the session.
    browser.goto(&format!("{base}/ui/")).await;
    let logout = browser.find("form.logout button").await;
    browser.click(&logout).await;
    browser.goto(&format!("{base}/ui/")).await;
    assert!(browser.url().await.contains("/ui/login"), "logged out");

    // An operator: every device on the map, fleet health and the unknown-device queue.
    log_in(&browser, &base, &operator_token).await;
    let shown = browser.until("the operator's map", "return window.roc42 && window.roc42.devices.length;").await;
    assert_eq!(shown, json!(everyone.len()));
    browser.goto(&format!("{base}/ui/fleet")).await;
    let rows = browser.run("return document.querySelectorAll('#fleet-devices tbody tr').length;", json!([])).await;
    assert_eq!(rows, json!(everyone.len()), "fleet health lists every device");
    browser.screenshot(&shots.join("operator-fleet.png")).await;
    browser.goto(&format!("{base}/ui/unknown")).await;
    let h1 = browser.run("return document.querySelector('h1').textContent;", json!([])).await;
    assert_eq!(h1, "Unknown devices");

    browser.quit().await;
    drop(_demo);
    db.drop_db().await;
}
