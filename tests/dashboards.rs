//! The Grafana dashboards of `dashboards/grafana/dashboards/` against the migrated schema:
//! every panel's SQL (and every variable's query), with Grafana's macros and variables
//! substituted, runs as a commune's dashboard role over sample data and returns data; the
//! same SQL asking for another commune returns what it returns for no commune at all; the
//! role reads nothing but the `dashboard` views. A schema change that breaks a panel
//! fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use roc42::store::dashboard::{self, Communes};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::support::{unique, TestDb};

/// A panel query or a variable query, with where it comes from.
#[derive(Debug)]
struct Query {
    what: String,
    sql: String,
}

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana/dashboards")
}

/// Every dashboard file, parsed.
fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .expect("dashboards/grafana/dashboards")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, v)
        })
        .collect()
}

/// Panels, including those nested in collapsed rows.
fn panels(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// The SQL of every panel target and every query variable of a dashboard.
fn queries(name: &str, dash: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] == "query" {
            let sql = var["query"].as_str().or_else(|| var["query"]["rawSql"].as_str()).unwrap_or_default();
            out.push(Query { what: format!("{name} variable {}", var["name"]), sql: sql.to_owned() });
        }
    }
    for panel in panels(dash) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(sql) = target["rawSql"].as_str() {
                out.push(Query {
                    what: format!("{name} panel {:?} {}", panel["title"], target["refId"]),
                    sql: sql.into(),
                });
            }
        }
    }
    out
}

/// Splits `s` (just after a macro's opening parenthesis) into its top-level arguments and
/// the rest after the closing parenthesis.
fn macro_args(s: &str) -> (Vec<String>, &str) {
    let (mut depth, mut args, mut cur) = (0, Vec::new(), String::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                if !cur.trim().is_empty() {
                    args.push(cur.trim().to_owned());
                }
                return (args, &s[i + 1..]);
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                args.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    panic!("unclosed macro in {s}")
}

/// What Grafana's PostgreSQL data source (TimescaleDB on) sends for `sql`: macros
/// expanded over `[from, to]`, then template variables.
fn expand(sql: &str, from: DateTime<Utc>, to: DateTime<Utc>, vars: &BTreeMap<&str, String>) -> String {
    let iso = |t: DateTime<Utc>| format!("'{}'", t.to_rfc3339_opts(SecondsFormat::Secs, true));
    let interval_s = ((to - from).num_seconds() / 500).max(60);
    let mut out = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find("$__") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let name_len = after.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(after.len());
        let (name, tail) = after.split_at(name_len);
        let (args, tail) = match tail.strip_prefix('(') {
            Some(t) => macro_args(t),
            None => (Vec::new(), tail),
        };
        let arg = |k: usize| args.get(k).unwrap_or_else(|| panic!("$__{name} needs {} arguments", k + 1)).clone();
        let text = match name {
            "timeFilter" => format!("{} BETWEEN {} AND {}", arg(0), iso(from), iso(to)),
            "timeFrom" => iso(from),
            "timeTo" => iso(to),
            "timeGroup" => format!("time_bucket('{interval_s}s', {})", arg(0)),
            "timeGroupAlias" => format!("time_bucket('{interval_s}s', {}) AS \"time\"", arg(0)),
            "interval" => format!("{interval_s}s"),
            "interval_ms" => (interval_s * 1000).to_string(),
            other => panic!("macro $__{other} is not one the dashboards may use"),
        };
        out.push_str(&text);
        rest = tail;
    }
    out.push_str(rest);
    // Longest names first, so `$site` does not eat `$site_id`-like names.
    let mut names: Vec<&&str> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out.replace(&format!("${{{name}}}"), &vars[*name]).replace(&format!("${name}"), &vars[*name]);
    }
    assert!(!out.contains('$'), "an unknown variable is left in:\n{out}");
    out
}

/// Rows as JSON text, sorted.
async fn rows(pool: &PgPool, sql: &str) -> Result<Vec<String>, sqlx::Error> {
    let wrapped = format!("SELECT to_jsonb(q)::text FROM (\n{sql}\n) q");
    let mut v: Vec<String> = sqlx::query_scalar(&wrapped).fetch_all(pool).await?;
    v.sort();
    Ok(v)
}

/// A row holds data: some column other than the time is not null.
fn has_data(row: &str) -> bool {
    let v: Value = serde_json::from_str(row).unwrap();
    v.as_object().unwrap().iter().any(|(k, v)| k != "time" && !v.is_null())
}

/// A pool logged in as `role`.
async fn login(db: &TestDb, role: &str, password: &str) -> PgPool {
    let opts = PgConnectOptions::from_str(&db.url).unwrap().username(role).password(password);
    PgPoolOptions::new().max_connections(2).connect_with(opts).await.unwrap()
}

/// Two communes with a school (CO2 and particle sensors), a town hall (a meter), a car
/// park (two spaces) and a silent sensor each; ten days of 15-minute readings and uplinks
/// (some lost, some failing to decode), an unknown device, an open alert; rollups built.
async fn sample_data(db: &TestDb) {
    let mut csv = String::from("dev_eui,name,model,commune,site,service,latitude,longitude\n");
    for (commune, n) in [("42218", 1), ("42187", 2)] {
        for (i, (name, model, site, service)) in [
            ("Salle 1", "elsys-ers-co2", "École Jules Ferry", "air-quality-schools"),
            ("Salle 2", "decentlab-dl-pm", "École Jules Ferry", "air-quality-schools"),
            ("Compteur général", "milesight-ct101", "Mairie", "energy-buildings"),
            ("Place 1", "nwave-nps405", "Parking de la gare", "smart-parking"),
            ("Place 2", "nwave-nps405", "Parking de la gare", "smart-parking"),
            ("Salle 3", "elsys-ers-co2", "École Jules Ferry", "air-quality-schools"),
        ]
        .iter()
        .enumerate()
        {
            csv.push_str(&format!("a81758fffe0d{n:02}{i:02},{name},{model},{commune},{site},{service},45.4,4.3\n"));
        }
    }
    roc42::onboarding::import(&db.pool, csv.as_bytes(), None, |_| {}).await.unwrap();
    let start = Utc::now() - Duration::days(10);
    const READINGS: &str = "
        WITH t AS (SELECT t, extract(epoch FROM t) AS e, row_number() OVER (ORDER BY t) AS n
                   FROM generate_series($1::timestamptz, now(), interval '15 minutes') t),
             m(kind, metric) AS (VALUES
                 ('co2', 'air.co2'), ('co2', 'air.temperature'), ('co2', 'air.relative_humidity'),
                 ('co2', 'battery.level'), ('pm', 'air.pm25'), ('pm', 'air.pm10'), ('pm', 'air.co2'),
                 ('meter', 'energy.active_import'), ('meter', 'power.active'), ('space', 'parking.occupied'),
                 ('space', 'battery.level'))
        INSERT INTO reading (time, device_id, metric, value)
        SELECT t.t, d.id, m.metric, CASE m.metric
            WHEN 'air.co2' THEN 500 + 1400 * sin(t.e / 7200.0) ^ 2
            WHEN 'air.temperature' THEN 20 + 2 * sin(t.e / 20000.0)
            WHEN 'air.relative_humidity' THEN 45 + 10 * sin(t.e / 30000.0)
            WHEN 'air.pm25' THEN 8 + 7 * sin(t.e / 40000.0)
            WHEN 'air.pm10' THEN 20 + 15 * sin(t.e / 40000.0)
            WHEN 'battery.level' THEN CASE WHEN d.name = 'Place 2' THEN 15 ELSE 80 END
            WHEN 'energy.active_import' THEN 1000000 + t.n * 2500
            WHEN 'power.active' THEN 10000 + 2000 * sin(t.e / 10000.0)
            WHEN 'parking.occupied' THEN (floor(t.e / 3600)::bigint % 3 = 0)::int
            END
        FROM t
        CROSS JOIN device d
        JOIN m ON m.kind = CASE d.model WHEN 'elsys-ers-co2' THEN 'co2' WHEN 'decentlab-dl-pm' THEN 'pm'
                                        WHEN 'milesight-ct101' THEN 'meter' ELSE 'space' END
        WHERE d.name <> 'Salle 3' OR t.t < now() - interval '5 hours'";
    sqlx::query(READINGS).bind(start).execute(&db.pool).await.unwrap();
    const UPLINKS: &str = "
        INSERT INTO uplink (time, received_at, dedup_key, lns, device_id, dev_eui, f_cnt, f_port, payload, rx,
                            outcome, error, readings)
        SELECT t, t, d.dev_eui || n, 'chirpstack', d.id, d.dev_eui, n, 1, '\\x01'::bytea,
               jsonb_build_array(jsonb_build_object('gateway_id', 'gw-' || (n % 2), 'rssi', -90 - (n % 30), 'snr', 7.5 - (n % 10))),
               CASE WHEN d.model = 'decentlab-dl-pm' AND n % 50 = 0 THEN 'decode_failed' ELSE 'decoded' END,
               CASE WHEN d.model = 'decentlab-dl-pm' AND n % 50 = 0 THEN 'unsupported protocol version 3' END,
               2
        FROM device d
        CROSS JOIN LATERAL (SELECT t, row_number() OVER (ORDER BY t) AS n
                            FROM generate_series($1::timestamptz, now(), interval '15 minutes') t) s
        WHERE n % 7 <> 0 AND (d.name <> 'Salle 3' OR t < now() - interval '5 hours')";
    sqlx::query(UPLINKS).bind(start).execute(&db.pool).await.unwrap();
    const UNKNOWN: &str = "
        INSERT INTO uplink (time, received_at, dedup_key, lns, dev_eui, f_cnt, f_port, payload, rx, outcome)
        SELECT t, t, 'unknown' || t, 'chirpstack', '0011223344556677', 1, 2, '\\x02'::bytea,
               '[{\"gateway_id\": \"gw-1\", \"rssi\": -112, \"snr\": -3}]', 'unknown_device'
        FROM generate_series(now() - interval '3 hours', now(), interval '30 minutes') t";
    sqlx::query(UNKNOWN).execute(&db.pool).await.unwrap();
    sqlx::query(
        "UPDATE device SET last_seen_at = CASE WHEN name = 'Salle 3' THEN now() - interval '5 hours' ELSE now() END",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    const ALERT: &str = "
        WITH r AS (INSERT INTO alert_rule (name, kind, service_id, metric, threshold, clear_threshold, min_duration_s)
                   VALUES ('CO2 high', 'threshold', 'air-quality-schools', 'air.co2', 1500, 1200, 600) RETURNING id)
        INSERT INTO alert (rule_id, device_id, opened_at, open_value, message)
        SELECT r.id, d.id, now() - interval '1 hour', 1650, 'air.co2 above 1500 for 10 min'
        FROM r, device d WHERE d.name = 'Salle 1'";
    sqlx::query(ALERT).execute(&db.pool).await.unwrap();
    roc42::store::rollup::rebuild(&db.pool, start - Duration::days(1), Utc::now() + Duration::hours(1), |_| {})
        .await
        .unwrap();
}

/// The template variables of a commune: itself, and every site of it (Grafana's "All").
async fn vars_of(pool: &PgPool, commune: &str) -> BTreeMap<&'static str, String> {
    let sites: Vec<i64> = sqlx::query_scalar("SELECT id FROM site WHERE commune = $1 ORDER BY id")
        .bind(commune)
        .fetch_all(pool)
        .await
        .unwrap();
    let sites = if sites.is_empty() {
        "'-1'".to_owned()
    } else {
        sites.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(",")
    };
    BTreeMap::from([("commune", commune.to_owned()), ("site", sites)])
}

#[tokio::test]
async fn every_panel_runs_on_the_schema_and_shows_a_commune_only_its_own_data() {
    let db = TestDb::new().await;
    sample_data(&db).await;
    let (se, roanne, ops) =
        (format!("grafana_se_{}", unique()), format!("grafana_ro_{}", unique()), format!("grafana_ops_{}", unique()));
    let password = "dashboard-test-password";
    dashboard::grant(&db.pool, &se, password, &Communes::Only(vec!["42218".into()])).await.unwrap();
    dashboard::grant(&db.pool, &roanne, password, &Communes::Only(vec!["42187".into()])).await.unwrap();
    dashboard::grant(&db.pool, &ops, password, &Communes::All).await.unwrap();
    let se_pool = login(&db, &se, password).await;
    let ops_pool = login(&db, &ops, password).await;

    // The role reads the views and nothing else.
    for table in ["reading", "device", "uplink", "api_token", "dashboard_role", "analytics.reading"] {
        let e = sqlx::query(&format!("SELECT 1 FROM {table} LIMIT 1")).execute(&se_pool).await.unwrap_err();
        assert!(e.to_string().contains("permission denied"), "{table}: {e}");
    }
    let communes: Vec<String> =
        sqlx::query_scalar("SELECT insee FROM dashboard.commune").fetch_all(&se_pool).await.unwrap();
    assert_eq!(communes, ["42218"]);

    let now = Utc::now();
    let ranges = [("6 hours", now - Duration::hours(6), now), ("9 days", now - Duration::days(9), now)];
    let own = vars_of(&db.pool, "42218").await;
    let other = vars_of(&db.pool, "42187").await;
    let nobody = BTreeMap::from([("commune", "00000".to_owned()), ("site", "'-1'".to_owned())]);

    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["air-quality.json", "energy.json", "fleet-health.json", "parking.json"]);
    let mut checked = 0;
    for (name, dash) in &all {
        assert!(dash["uid"].as_str().is_some_and(|u| u.starts_with("roc42-")), "{name}: a stable uid");
        let vars: Vec<&str> =
            dash["templating"]["list"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
        assert!(vars.contains(&"commune"), "{name} has a commune variable: {vars:?}");
        for panel in panels(dash) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert_eq!(target["datasource"]["uid"], "roc42", "{name} {:?}: the roc42 data source", panel["title"]);
            }
        }
        // Fleet health is the operators' dashboard (unknown devices belong to no commune).
        let operators = name.as_str() == "fleet-health.json";
        for q in queries(name, dash) {
            for (range, from, to) in &ranges {
                let sql = expand(&q.sql, *from, *to, &own);
                let viewer = if operators { &ops_pool } else { &se_pool };
                let mine = rows(viewer, &sql).await.unwrap_or_else(|e| panic!("{} over {range}: {e}\n{sql}", q.what));
                assert!(mine.iter().any(|r| has_data(r)), "{} over {range} shows no data: {mine:?}\n{sql}", q.what);
                // (The commune variable lists every commune to operators: by design.)
                if !operators && q.sql.contains("$commune") {
                    let as_ops = rows(&ops_pool, &sql).await.unwrap();
                    assert_eq!(as_ops.len(), mine.len(), "{} over {range}: the commune sees all of its own", q.what);
                }

                // As 42218, asking for 42187 gives what asking for no commune gives.
                let theirs = rows(&se_pool, &expand(&q.sql, *from, *to, &other)).await.unwrap();
                let none = rows(&se_pool, &expand(&q.sql, *from, *to, &nobody)).await.unwrap();
                assert_eq!(theirs, none, "{} over {range}: commune 42218 sees nothing of 42187", q.what);
                let as_ops = rows(&ops_pool, &expand(&q.sql, *from, *to, &other)).await.unwrap();
                assert!(as_ops.iter().any(|r| has_data(r)), "{} over {range}: 42187 has data", q.what);
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "{checked} panel queries checked");

    se_pool.close().await;
    ops_pool.close().await;
    for role in [&se, &roanne, &ops] {
        assert!(dashboard::revoke(&db.pool, role).await.unwrap());
    }
    db.drop_db().await;
}

#[tokio::test]
async fn grants_refuse_foreign_roles_and_unknown_communes() {
    let db = TestDb::new().await;
    let foreign = format!("someone_{}", unique());
    sqlx::query(&format!("CREATE ROLE {foreign} LOGIN")).execute(&db.pool).await.unwrap();
    let e = dashboard::grant(&db.pool, &foreign, "pw", &Communes::All).await.unwrap_err();
    assert!(matches!(e, dashboard::GrantError::Taken(_)), "{e}");
    let role = format!("grafana_{}", unique());
    let e = dashboard::grant(&db.pool, &role, "pw", &Communes::Only(vec!["99999".into()])).await.unwrap_err();
    assert!(matches!(e, dashboard::GrantError::UnknownCommune(_)), "{e}");
    let e = dashboard::grant(&db.pool, "Robert'); DROP TABLE reading;--", "pw", &Communes::All).await.unwrap_err();
    assert!(matches!(e, dashboard::GrantError::BadName(_)), "{e}");
    // A password with quotes is a password, not SQL.
    dashboard::grant(&db.pool, &role, "it's a 'secret'", &Communes::Only(vec!["42218".into()])).await.unwrap();
    let pool = login(&db, &role, "it's a 'secret'").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dashboard.commune").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1);
    pool.close().await;
    let listed = dashboard::list(&db.pool).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].communes, ["42218"]);
    assert!(dashboard::revoke(&db.pool, &role).await.unwrap());
    assert!(!dashboard::revoke(&db.pool, &role).await.unwrap());
    sqlx::query(&format!("DROP ROLE {foreign}")).execute(&db.pool).await.unwrap();
    db.drop_db().await;
}

#[test]
fn macros_expand_as_grafana_does() {
    let from = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let to = from + Duration::days(1);
    let vars = BTreeMap::from([("commune", "42218".to_owned()), ("site", "'1','2'".to_owned())]);
    let sql = "SELECT $__timeGroupAlias(time, $__interval), avg(value) FROM t WHERE $__timeFilter(time) \
               AND commune = '$commune' AND site_id::text IN (${site}) AND $__timeTo()::timestamptz > now()";
    assert_eq!(
        expand(sql, from, to, &vars),
        "SELECT time_bucket('172s', time) AS \"time\", avg(value) FROM t WHERE time BETWEEN \
         '2026-12-01T00:00:00Z' AND '2026-12-02T00:00:00Z' AND commune = '42218' AND site_id::text IN ('1','2') \
         AND '2026-12-02T00:00:00Z'::timestamptz > now()"
    );
}
