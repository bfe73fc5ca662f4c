//! The pages: a commune's map (sites and devices, latest values, alert state), a site
//! (charts per metric over a chosen period, the service's indicators), and for operators
//! fleet health and the unknown-device queue. Data comes from the API's handlers, called
//! as the logged-in principal, so a page shows exactly what the API would show.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};
use roc42_decoders::Metric;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::layout::{self, ago, local, percent, value, Scripts};
use super::{PageError, Viewer};
use crate::api::devices::ReadingsQuery;
use crate::api::error::ApiError;
use crate::api::indicators::PeriodQuery;
use crate::api::onboarding::UnknownQuery;
use crate::api::{self, AppState};
use crate::store::alert::{self as alert_store, Alert};
use crate::store::device::DeviceFilter;
use crate::store::domain;
use crate::store::reading::Bucket;

/// A device not heard for this long is shown as silent.
const SILENT_AFTER_H: i64 = 3;

/// Metrics of the device table, not charted: the device's own state.
fn is_device_state(metric: &str) -> bool {
    metric.starts_with("battery.") || metric.starts_with("radio.")
}

/// Lines drawn on a metric's chart: the thresholds its indicators use.
fn thresholds(metric: &str) -> Vec<Value> {
    match metric {
        // Arrêté du 27 décembre 2022: ventilate above 800 ppm, investigate above 1,500.
        "air.co2" => vec![
            json!({"value": 800, "label": "800 ppm: ventilate", "color": "#d99a00"}),
            json!({"value": 1500, "label": "1500 ppm: investigate", "color": "#c0392b"}),
        ],
        // WHO global air quality guidelines (2021), 24-hour levels.
        "air.pm25" => vec![json!({"value": 15, "label": "WHO 24-h guideline", "color": "#c0392b"})],
        "air.pm10" => vec![json!({"value": 45, "label": "WHO 24-h guideline", "color": "#c0392b"})],
        _ => vec![],
    }
}

fn unit_of(metric: &str) -> &'static str {
    Metric::from_name(metric).map(|m| m.unit()).unwrap_or("")
}

fn label_of(metric: &str) -> String {
    Metric::from_name(metric).map_or_else(|| metric.to_owned(), |m| m.info().description.to_owned())
}

/// Devices with an open alert, with its messages.
fn open_alerts(alerts: &[Alert]) -> HashMap<&str, Vec<&Alert>> {
    let mut by_device: HashMap<&str, Vec<&Alert>> = HashMap::new();
    for a in alerts.iter().filter(|a| a.resolved_at.is_none()) {
        by_device.entry(a.dev_eui.as_str()).or_default().push(a);
    }
    by_device
}

/// `ok`, `alert` (an open alert) or `silent` (not heard for [`SILENT_AFTER_H`]).
fn state(last_seen: Option<DateTime<Utc>>, alerts: bool, now: DateTime<Utc>) -> &'static str {
    if alerts {
        "alert"
    } else if last_seen.is_none_or(|t| now - t > Duration::hours(SILENT_AFTER_H)) {
        "silent"
    } else {
        "ok"
    }
}

/// A summary count that needs attention is shown in red.
fn flag(count: usize) -> Option<&'static str> {
    (count > 0).then_some("state-alert")
}

fn state_label(state: &str) -> &'static str {
    match state {
        "alert" => "Alert",
        "silent" => "Silent",
        _ => "OK",
    }
}

#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    /// Operators and analysts: one commune's map (default every commune).
    commune: Option<String>,
}

/// The map: sites and devices with latest values and alert state.
pub async fn home(viewer: Viewer, State(s): State<AppState>, Query(q): Query<HomeQuery>) -> Result<Markup, PageError> {
    let scope = viewer.commune();
    let communes = domain::list_communes(&s.pool, scope).await?;
    let chosen = q.commune.filter(|c| !c.is_empty()).or_else(|| scope.map(str::to_owned));
    let commune = chosen.as_deref().and_then(|c| communes.iter().find(|x| x.insee == c));
    if chosen.is_some() && commune.is_none() {
        return Err(ApiError::NotFound("no such commune".into()).into());
    }
    let tz = layout::zone(commune.map_or("Europe/Paris", |c| c.time_zone.as_str()));
    let filter = DeviceFilter { commune: chosen.clone(), ..DeviceFilter::default() };
    let mut features = api::map::features(&s, scope, filter).await?;
    let sites = domain::list_sites(&s.pool, scope, chosen.as_deref()).await?;
    let alerts = alert_store::list_alerts(&s.pool, scope, Some(true), None, 10_000).await?;
    let open = open_alerts(&alerts);
    let now = Utc::now();

    // What the map's popups and the table show, added to each feature.
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    for f in &mut features {
        let p = &mut f["properties"];
        let dev_eui = p["dev_eui"].as_str().unwrap_or_default().to_owned();
        let last_seen = p["last_seen_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
        let dev_alerts = open.get(dev_eui.as_str());
        let st = state(last_seen, dev_alerts.is_some(), now);
        *counts.entry(st).or_default() += 1;
        let latest: Vec<String> = p["latest"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(metric, r)| {
                        Some(format!("{}: {}", short_metric(metric), value(r["value"].as_f64()?, unit_of(metric))))
                    })
                    .collect()
            })
            .unwrap_or_default();
        p["state"] = json!(st);
        p["latest_text"] = json!(latest);
        p["last_seen_text"] = json!(last_seen.map_or("never heard".into(), |t| format!("heard {}", ago(t, now))));
        p["alerts_text"] = json!(dev_alerts.map(|a| a.iter().map(|a| a.message.clone()).collect::<Vec<_>>()));
    }
    let site_points: Vec<Value> = sites
        .iter()
        .filter_map(|site| {
            Some(json!({"id": site.id, "name": site.name, "devices": site.devices,
                "lat": site.latitude?, "lon": site.longitude?, "url": format!("/ui/sites/{}", site.id)}))
        })
        .collect();
    let data = json!({
        "tiles": {"url": s.pages.tile_url, "attribution": s.pages.tile_attribution},
        "center": commune.map(|c| [c.latitude, c.longitude]),
        "sites": site_points,
        "devices": {"type": "FeatureCollection", "features": features},
    });
    let title = commune.map_or_else(|| "Every commune".to_owned(), |c| format!("{} ({})", c.name, c.insee));
    let commune_name = match &viewer {
        Viewer::Commune(_) => commune.map(|c| c.name.as_str()),
        _ => None,
    };
    let body = html! {
        h1 { (title) }
        @if scope.is_none() {
            form.inline method="get" action="/ui/" {
                label for="commune" { "Commune " }
                select #commune name="commune" {
                    option value="" { "Every commune" }
                    @for c in &communes {
                        option value=(c.insee) selected[chosen.as_deref() == Some(c.insee.as_str())] { (c.name) " (" (c.insee) ")" }
                    }
                }
                button type="submit" { "Show" }
            }
        }
        p.summary {
            span { (sites.len()) " sites" }
            span { (features.len()) " devices" }
            @let (alerting, silent) = (counts.get("alert").copied().unwrap_or(0), counts.get("silent").copied().unwrap_or(0));
            span class=[flag(alerting)] { (alerting) " with an open alert" }
            span class=[flag(silent)] { (silent) " silent for " (SILENT_AFTER_H) " h or more" }
        }
        div #map role="region" aria-label="Map of sites and devices" {}
        (layout::json_script("map-data", "", &data))
        h2 { "Sites" }
        table #sites {
            thead { tr { th { "Site" } th { "Address" } th.num { "Devices" } } }
            tbody {
                @for site in &sites {
                    tr {
                        td { a href=(format!("/ui/sites/{}", site.id)) { (site.name) } }
                        td { (site.address.as_deref().unwrap_or("")) }
                        td.num { (site.devices) }
                    }
                }
            }
        }
        h2 { "Devices" }
        table #devices {
            thead { tr { th { "State" } th { "Device" } th { "Site" } th { "Service" } th { "Last heard" } th { "Latest values" } } }
            tbody {
                @for f in &features {
                    @let p = &f["properties"];
                    @let st = p["state"].as_str().unwrap_or("ok");
                    tr.device data-dev-eui=(p["dev_eui"].as_str().unwrap_or_default()) {
                        td { span class=(format!("badge state-{st}")) { (state_label(st)) } }
                        td { (p["name"].as_str().unwrap_or_default()) br; small.mono { (p["dev_eui"].as_str().unwrap_or_default()) } }
                        td {
                            @if let Some(id) = p["site_id"].as_i64() {
                                a href=(format!("/ui/sites/{id}")) { (p["site"].as_str().unwrap_or_default()) }
                            }
                        }
                        td { (p["service"].as_str().unwrap_or_default()) }
                        td {
                            @if let Some(t) = p["last_seen_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()) {
                                span title=(local(t, tz)) { (ago(t, now)) }
                            } @else { "never" }
                        }
                        td {
                            @for line in p["latest_text"].as_array().into_iter().flatten() {
                                span.value { (line.as_str().unwrap_or_default()) }
                            }
                            @for a in p["alerts_text"].as_array().into_iter().flatten() {
                                div.alert-text { (a.as_str().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Map", &viewer, commune_name, Scripts::Map, body))
}

/// `air.co2` -> `CO2`: short names for popups.
fn short_metric(metric: &str) -> String {
    match metric {
        "air.co2" => "CO2".into(),
        "air.pm25" => "PM2.5".into(),
        "air.pm10" => "PM10".into(),
        m => m.rsplit('.').next().unwrap_or(m).replace('_', " "),
    }
}

#[derive(Debug, Deserialize)]
pub struct SiteQuery {
    /// `24h`, `7d` (default), `30d` or `365d`.
    period: Option<String>,
    /// A custom period: local dates, `to` included.
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// The periods offered, with the bucket their charts use.
const PERIODS: &[(&str, &str, i64, Bucket)] = &[
    ("24h", "24 hours", 1, Bucket::Raw),
    ("7d", "7 days", 7, Bucket::Hour),
    ("30d", "30 days", 30, Bucket::Hour),
    ("365d", "a year", 365, Bucket::Day),
];

/// The chosen period: (from, to, bucket, label).
fn period(
    q: &SiteQuery,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Bucket, String), ApiError> {
    if let (Some(from), Some(to)) = (q.from, q.to) {
        let start = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(tz).earliest())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| ApiError::BadRequest(format!("no local midnight on {d}")))
        };
        let (a, b) = (start(from)?, start(to + Duration::days(1))?);
        if a >= b || b - a > Duration::days(366) {
            return Err(ApiError::BadRequest("from must be before to, at most a year apart".into()));
        }
        let bucket = match (b - a).num_days() {
            0..=2 => Bucket::Raw,
            3..=60 => Bucket::Hour,
            _ => Bucket::Day,
        };
        return Ok((a, b, bucket, format!("{from} to {to}")));
    }
    let key = q.period.as_deref().unwrap_or("7d");
    let (_, label, days, bucket) = PERIODS
        .iter()
        .find(|p| p.0 == key)
        .ok_or_else(|| ApiError::BadRequest(format!("period {key:?}: 24h, 7d, 30d or 365d")))?;
    Ok((now - Duration::days(*days), now, *bucket, format!("the last {label}")))
}

/// A chart for the page's script: one series per device (or per indicator).
#[derive(Debug, Serialize)]
struct Chart {
    id: String,
    title: String,
    unit: String,
    /// `line` or `bars`.
    kind: &'static str,
    thresholds: Vec<Value>,
    series: Vec<ChartSeries>,
}

#[derive(Debug, Serialize)]
struct ChartSeries {
    name: String,
    /// Unix seconds.
    t: Vec<i64>,
    v: Vec<f64>,
}

/// A site: its devices with latest values and alert state, a chart per metric over the
/// period, and its indicators.
pub async fn site(
    viewer: Viewer,
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<SiteQuery>,
) -> Result<Markup, PageError> {
    let Json(detail) = api::sites::get(viewer.clone(), State(s.clone()), Path(id)).await?;
    let tz = layout::zone(&detail.site.time_zone);
    let now = Utc::now();
    let (from, to, bucket, period_label) = period(&q, tz, now)?;
    let scope = viewer.commune();
    let alerts = alert_store::list_alerts(&s.pool, scope, Some(true), None, 10_000).await?;
    let open = open_alerts(&alerts);

    // A chart per metric the site's devices measure, in the catalogue's order.
    let measured: BTreeSet<usize> = detail
        .devices
        .iter()
        .flat_map(|d| d.latest.iter())
        .filter(|r| !is_device_state(&r.metric))
        .filter_map(|r| Metric::ALL.iter().position(|m| m.name() == r.metric))
        .collect();
    let mut charts = Vec::new();
    for metric in measured.into_iter().map(|i| Metric::ALL[i].name()) {
        let query = ReadingsQuery {
            metric: Some(metric.to_owned()),
            from: Some(from),
            to: Some(to),
            bucket: Some(bucket),
            limit: Some(100_000),
        };
        let Json(r) = api::sites::readings(viewer.clone(), State(s.clone()), Path(id), Query(query)).await?;
        let series: Vec<ChartSeries> = r
            .series
            .into_iter()
            .map(|d| {
                let (t, v) = if bucket == Bucket::Raw {
                    d.readings.iter().map(|p| (p.time.timestamp(), p.value)).unzip()
                } else {
                    d.buckets.iter().map(|b| (b.time.timestamp(), b.avg)).unzip()
                };
                ChartSeries { name: d.name, t, v }
            })
            .collect();
        charts.push(Chart {
            id: format!("chart-{}", metric.replace('.', "-")),
            title: label_of(metric),
            unit: layout::unit(unit_of(metric)).to_owned(),
            kind: if metric == "parking.occupied" { "step" } else { "line" },
            thresholds: thresholds(metric),
            series,
        });
    }
    let Json(ind) = api::indicators::site(
        viewer.clone(),
        State(s.clone()),
        Path(id),
        Query(PeriodQuery { from: Some(from), to: Some(to) }),
    )
    .await?;
    for e in &ind.energy {
        let (t, v) = e.per_day.iter().filter_map(|d| Some((day_start(d.day, tz)?.timestamp(), d.kwh))).unzip();
        charts.push(Chart {
            id: format!("chart-energy-{}", e.metric.replace('.', "-")),
            title: format!("{} per day", carrier_label(e.metric)),
            unit: "kWh".into(),
            kind: "bars",
            thresholds: vec![],
            series: vec![ChartSeries { name: "kWh".into(), t, v }],
        });
    }
    if let Some(p) = &ind.parking {
        let (t, v) = p.per_hour.iter().map(|h| (h.time.timestamp(), h.rate * 100.0)).unzip();
        charts.push(Chart {
            id: "chart-parking-rate".into(),
            title: "Occupancy rate per hour".into(),
            unit: "%".into(),
            kind: "line",
            thresholds: vec![json!({"value": 85, "label": "85 %", "color": "#d99a00"})],
            series: vec![ChartSeries { name: "occupancy".into(), t, v }],
        });
    }

    let commune_name = match &viewer {
        Viewer::Commune(insee) => domain::get_commune(&s.pool, insee).await?.map(|c| c.name),
        _ => None,
    };
    let site = &detail.site;
    let export = format!(
        "/api/v1/exports/readings?format=csv&bucket={}&site_id={}&from={}&to={}",
        bucket.as_str(),
        site.id,
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let body = html! {
        p.crumbs { a href=(format!("/ui/?commune={}", site.commune)) { "Map" } " › " (site.name) }
        h1 { (site.name) }
        @if let Some(a) = &site.address { p.lead { (a) } }
        form.inline #period method="get" action=(format!("/ui/sites/{}", site.id)) {
            @for (key, label, _, _) in PERIODS {
                @let current = q.from.is_none() && q.period.as_deref().unwrap_or("7d") == *key;
                button type="submit" name="period" value=(key) class=[current.then_some("current")] { (label) }
            }
            label { " or from " input type="date" name="from" value=[q.from.map(|d| d.to_string())]; }
            label { " to " input type="date" name="to" value=[q.to.map(|d| d.to_string())]; }
            button type="submit" { "Show" }
        }
        p.hint { "Showing " (period_label) " (" (local(from, tz)) " to " (local(to, tz)) ", " (detail.site.time_zone) "). "
            a href=(export) { "Download these readings (CSV)" } }
        h2 { "Devices" }
        table #site-devices {
            thead { tr { th { "State" } th { "Device" } th { "Model" } th { "Last heard" } th { "Latest values" } } }
            tbody {
                @for d in &detail.devices {
                    @let dev_alerts = open.get(d.device.dev_eui.as_str());
                    @let st = state(d.device.last_seen_at, dev_alerts.is_some(), now);
                    tr.device data-dev-eui=(d.device.dev_eui) {
                        td { span class=(format!("badge state-{st}")) { (state_label(st)) } }
                        td { (d.device.name) br; small.mono { (d.device.dev_eui) } }
                        td { (d.device.model) }
                        td {
                            @if let Some(t) = d.device.last_seen_at { span title=(local(t, tz)) { (ago(t, now)) } } @else { "never" }
                        }
                        td {
                            @for r in &d.latest {
                                span.value title=(local(r.time, tz)) { (short_metric(&r.metric)) ": " (value(r.value, r.unit)) }
                            }
                            @for a in dev_alerts.into_iter().flatten() {
                                div.alert-text { (a.rule) ": " (a.message) " (since " (local(a.opened_at, tz)) ")" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Measurements" }
        @if charts.is_empty() { p { "No measurements over this period." } }
        div.charts {
            @for c in &charts {
                figure.chart #(c.id) {
                    figcaption { (c.title) @if !c.unit.is_empty() { " (" (c.unit) ")" } }
                    div.plot {}
                    (layout::json_script(&format!("{}-data", c.id), "chart-data", c))
                    @if c.series.iter().all(|s| s.t.is_empty()) { p.hint { "No data over this period." } }
                }
            }
        }
        (indicators(&ind, tz))
    };
    Ok(layout::page(&site.name, &viewer, commune_name.as_deref(), Scripts::Charts, body))
}

fn carrier_label(metric: &str) -> &'static str {
    if metric == "heat.energy" {
        "Heat"
    } else {
        "Electricity"
    }
}

/// The local midnight starting `day`, as an instant.
fn day_start(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)?.and_local_timezone(tz).earliest().map(|t| t.with_timezone(&Utc))
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".into(), f)
}

/// The site's indicators, by service category.
fn indicators(ind: &crate::analytics::report::SiteIndicators, tz: Tz) -> Markup {
    let none = ind.air_quality.is_empty() && ind.energy.is_empty() && ind.parking.is_none();
    html! {
        h2 { "Indicators" }
        p.hint { "Over " (local(ind.from, tz)) " to " (local(ind.to, tz)) "." }
        @if none { p { "This site has no device under a service with indicators." } }
        @if !ind.air_quality.is_empty() {
            h3 { "Air quality, per room (occupied hours)" }
            table #indicators-air {
                thead { tr {
                    th { "Room" } th.num { "Hours measured" } th.num { "Above 800 ppm" } th.num { "Above 1500 ppm" }
                    th.num { "ICONE (0–5)" } th { "Particles (WHO 2021)" }
                } }
                tbody {
                    @for r in &ind.air_quality {
                        tr {
                            td { (r.name) }
                            @if let Some(c) = &r.co2 {
                                td.num { (format!("{:.1} / {:.1}", c.measured_hours, c.occupied_hours)) }
                                td.num { (opt(c.share_above_800, percent)) }
                                td.num { (opt(c.share_above_1500, percent)) }
                                td.num { (c.icone.map_or("–".into(), |i| i.to_string()))
                                    @if let Some(x) = c.icone_exact { small { (format!(" ({x:.2})")) } } }
                            } @else { td.num { "–" } td.num { "–" } td.num { "–" } td.num { "–" } }
                            td {
                                @for p in &r.particles {
                                    div { (short_metric(&p.metric)) ": mean " (opt(p.mean, |m| value(m, "ug/m3")))
                                        ", " (opt(p.mean_to_guideline, |x| format!("{x:.1}×"))) " the annual guideline, "
                                        (p.days_above_daily_guideline) " of " (p.days) " days above the 24-h one" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @for e in &ind.energy {
            h3 { (carrier_label(e.metric)) }
            table.indicators-energy {
                tbody {
                    tr { th { "Consumption" } td.num { (format!("{:.1} kWh", e.total_kwh)) } }
                    tr { th { "Meters" } td.num { (e.meters) } }
                    @if let Some(a) = e.kwh_per_m2 { tr { th { "Per m²" } td.num { (format!("{a:.2} kWh/m²")) } } }
                    @if let Some(b) = &e.baseline {
                        tr { th { "Same days of " (b.year) } td.num { (format!("{:.1} kWh", b.kwh)) } }
                        tr { th { "Change" } td.num { (opt(b.change, |c| format!("{:+.1} %", c * 100.0))) } }
                    }
                }
            }
        }
        @if let Some(p) = &ind.parking {
            h3 { "Parking" }
            table #indicators-parking {
                tbody {
                    tr { th { "Spaces" } td.num { (p.summary.spaces) } }
                    tr { th { "Occupancy rate" } td.num { (opt(p.summary.occupancy_rate, percent)) } }
                    tr { th { "Arrivals" } td.num { (p.summary.arrivals) } }
                    tr { th { "Turnover (arrivals per space per day)" } td.num { (opt(p.summary.turnover_per_day, |x| format!("{x:.2}"))) } }
                    tr { th { "Average stay" } td.num { (opt(p.summary.average_stay_minutes, |m| format!("{m:.0} min"))) } }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct FleetQuery {
    /// Hours back, 1 to 744 (default 24).
    hours: Option<i64>,
}

fn operators_only(viewer: &Viewer) -> Result<(), PageError> {
    match viewer {
        Viewer::Operator => Ok(()),
        _ => Err(ApiError::Forbidden("this page is for SIEL operators".into()).into()),
    }
}

/// Fleet health (operators): silent devices, frame loss, battery, radio; gateways;
/// decode failures per model.
pub async fn fleet(
    viewer: Viewer,
    State(s): State<AppState>,
    Query(q): Query<FleetQuery>,
) -> Result<Markup, PageError> {
    operators_only(&viewer)?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=744).contains(&hours) {
        return Err(ApiError::BadRequest("hours: 1 to 744".into()).into());
    }
    let now = Utc::now();
    let period = PeriodQuery { from: Some(now - Duration::hours(hours)), to: Some(now) };
    let Json(mut h) = api::fleet::health(State(s.clone()), Query(period)).await?;
    let tz = chrono_tz::Europe::Paris;
    let silent = |d: &api::fleet::DeviceHealth| state(d.last_seen_at, false, now) == "silent";
    // Worst first: silent, then the most frames lost, then the lowest battery.
    h.devices.sort_by(|a, b| {
        silent(b)
            .cmp(&silent(a))
            .then(b.frames.loss_rate.unwrap_or(0.0).total_cmp(&a.frames.loss_rate.unwrap_or(0.0)))
            .then(a.battery_level.unwrap_or(100.0).total_cmp(&b.battery_level.unwrap_or(100.0)))
    });
    let n_silent = h.devices.iter().filter(|d| silent(d)).count();
    let lossy = h.devices.iter().filter(|d| d.frames.loss_rate.is_some_and(|r| r > 0.1)).count();
    let low = h.devices.iter().filter(|d| d.battery_level.is_some_and(|b| b < 20.0)).count();
    let body = html! {
        h1 { "Fleet health" }
        form.inline method="get" action="/ui/fleet" {
            @for (v, label) in [(24, "24 hours"), (168, "7 days"), (720, "30 days")] {
                button type="submit" name="hours" value=(v) class=[(hours == v).then_some("current")] { (label) }
            }
        }
        p.summary {
            span { (h.devices.len()) " devices" }
            span #silent-count class=[flag(n_silent)] { (n_silent) " silent for " (SILENT_AFTER_H) " h or more" }
            span class=[flag(lossy)] { (lossy) " losing over 10 % of frames" }
            span class=[flag(low)] { (low) " with a battery below 20 %" }
            span { (h.gateways.len()) " gateways" }
        }
        h2 { "Devices" }
        table #fleet-devices {
            thead { tr {
                th { "Device" } th { "Commune" } th { "Model" } th { "Last heard" } th.num { "Frames" } th.num { "Lost" }
                th.num { "Battery" } th.num { "RSSI median" } th.num { "SNR median" } th { "Gateways" }
            } }
            tbody {
                @for d in &h.devices {
                    tr.device class=[silent(d).then_some("silent")] data-dev-eui=(d.dev_eui) {
                        td { @if let Some(site) = d.site_id { a href=(format!("/ui/sites/{site}")) { (d.name) } } @else { (d.name) }
                            br; small.mono { (d.dev_eui) } }
                        td { (d.commune.as_deref().unwrap_or("–")) }
                        td { (d.model) }
                        td { @if let Some(t) = d.last_seen_at { span title=(local(t, tz)) { (ago(t, now)) } } @else { "never" } }
                        td.num { (d.frames.received) " / " (d.frames.expected) }
                        td.num { (opt(d.frames.loss_rate, percent)) }
                        td.num { (opt(d.battery_level, |b| format!("{b:.0} %"))) }
                        td.num { (opt(d.rssi.as_ref().and_then(|r| r.median), |v| format!("{v:.0} dBm"))) }
                        td.num { (opt(d.snr.as_ref().and_then(|r| r.median), |v| format!("{v:.1} dB"))) }
                        td { (d.gateways.join(", ")) }
                    }
                }
            }
        }
        h2 { "Gateways" }
        table #fleet-gateways {
            thead { tr { th { "Gateway" } th.num { "Devices" } th.num { "Uplinks" } th.num { "RSSI median" } th.num { "SNR median" } th { "Last heard" } } }
            tbody {
                @for g in &h.gateways {
                    tr {
                        td.mono { (g.gateway_id) }
                        td.num { (g.devices) }
                        td.num { (g.uplinks) }
                        td.num { (opt(g.median_rssi, |v| format!("{v:.0} dBm"))) }
                        td.num { (opt(g.median_snr, |v| format!("{v:.1} dB"))) }
                        td { (ago(g.last_heard_at, now)) }
                    }
                }
            }
        }
        h2 { "Decoding per model" }
        table #fleet-models {
            thead { tr { th { "Model" } th.num { "Uplinks" } th.num { "Failed" } th { "Most frequent error" } } }
            tbody {
                @for m in &h.decode_failures {
                    tr {
                        td { (m.model) }
                        td.num { (m.uplinks) }
                        td.num { (m.decode_failed) }
                        td { (m.top_error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    Ok(layout::page("Fleet health", &viewer, None, Scripts::None, body))
}

/// The unknown-device queue (operators): DevEUIs heard while no device in service had them.
pub async fn unknown(viewer: Viewer, State(s): State<AppState>) -> Result<Markup, PageError> {
    operators_only(&viewer)?;
    let Json(list) = api::onboarding::unknown(State(s), Query(UnknownQuery { limit: Some(500), offset: None })).await?;
    let now = Utc::now();
    let tz = chrono_tz::Europe::Paris;
    let body = html! {
        h1 { "Unknown devices" }
        p.lead { (list.total) " DevEUIs were heard while no device in service had them. Their uplinks are kept: "
            "claim one (" code { "POST /api/v1/devices/unknown/{dev_eui}/claim" } ", or register it with "
            code { "roc42 devices import" } ") and they are decoded from the stored frames." }
        table #unknown-devices {
            thead { tr {
                th { "DevEUI" } th { "First heard" } th { "Last heard" } th.num { "Uplinks" } th { "Network server" }
                th.num { "FPort" } th { "Last payload" } th { "Best gateway" } th { "State" }
            } }
            tbody {
                @for d in &list.devices {
                    @let best = best_gateway(&d.last_rx.0);
                    tr data-dev-eui=(d.dev_eui) {
                        td.mono { (d.dev_eui) }
                        td { (local(d.first_seen_at, tz)) }
                        td { span title=(local(d.last_seen_at, tz)) { (ago(d.last_seen_at, now)) } }
                        td.num { (d.uplinks) }
                        td { (d.lns) }
                        td.num { (d.last_f_port) }
                        td.mono.payload { (d.last_payload) @if d.last_encrypted { " (encrypted)" } }
                        td { (best) }
                        td { @if d.registered { "registered, being decoded" } @else { "waiting" } }
                    }
                }
            }
        }
    };
    Ok(layout::page("Unknown devices", &viewer, None, Scripts::None, body))
}

/// "gw-1, -97 dBm, SNR 7.5" for the gateway with the best RSSI of an uplink's `rx`.
fn best_gateway(rx: &Value) -> String {
    rx.as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| Some((g["gateway_id"].as_str().unwrap_or("?"), g["rssi"].as_f64()?, g["snr"].as_f64())))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or_else(String::new, |(id, rssi, snr)| match snr {
            Some(snr) => format!("{id}, {rssi:.0} dBm, SNR {snr:.1}"),
            None => format!("{id}, {rssi:.0} dBm"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_buckets() {
        let now = Utc::now();
        let tz = chrono_tz::Europe::Paris;
        let q = |p: &str| SiteQuery { period: Some(p.into()), from: None, to: None };
        assert_eq!(period(&q("24h"), tz, now).unwrap().2, Bucket::Raw);
        assert_eq!(period(&q("365d"), tz, now).unwrap().2, Bucket::Day);
        assert!(period(&q("2w"), tz, now).is_err());
        let custom = SiteQuery {
            period: None,
            from: NaiveDate::from_ymd_opt(2026, 3, 29),
            to: NaiveDate::from_ymd_opt(2026, 3, 29),
        };
        let (a, b, bucket, _) = period(&custom, tz, now).unwrap();
        // The spring DST Sunday is 23 hours long.
        assert_eq!(b - a, Duration::hours(23));
        assert_eq!(bucket, Bucket::Raw);
    }

    #[test]
    fn states() {
        let now = Utc::now();
        assert_eq!(state(Some(now), true, now), "alert");
        assert_eq!(state(Some(now - Duration::hours(4)), false, now), "silent");
        assert_eq!(state(None, false, now), "silent");
        assert_eq!(state(Some(now - Duration::minutes(20)), false, now), "ok");
    }

    #[test]
    fn best_gateway_by_rssi() {
        let rx = json!([{"gateway_id": "a", "rssi": -110, "snr": 1.0}, {"gateway_id": "b", "rssi": -95, "snr": 6.5}]);
        assert_eq!(best_gateway(&rx), "b, -95 dBm, SNR 6.5");
        assert_eq!(best_gateway(&json!({})), "");
    }
}
