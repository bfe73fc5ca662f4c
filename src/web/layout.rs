//! The pages' frame (head, navigation, who is logged in) and the small formatting helpers
//! they share: local times, ages, values with units, JSON handed to the scripts.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Serialize;

use super::Viewer;

/// Which scripts a page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    None,
    Map,
    Charts,
}

/// A page without navigation (login, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, Scripts::None)) }
            body { (body) }
        }
    }
}

fn head(title: &str, scripts: Scripts) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · roc42" }
        link rel="stylesheet" href="/ui/assets/app.css";
        @match scripts {
            Scripts::Map => {
                link rel="stylesheet" href="/ui/assets/leaflet.css";
                script src="/ui/assets/leaflet.js" defer {}
            }
            Scripts::Charts => {
                link rel="stylesheet" href="/ui/assets/uplot.css";
                script src="/ui/assets/uplot.js" defer {}
            }
            Scripts::None => {}
        }
        @if scripts != Scripts::None {
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// Who is logged in, for the header.
fn who(viewer: &Viewer, commune_name: Option<&str>) -> String {
    match viewer {
        Viewer::Operator => "SIEL operator".into(),
        Viewer::Analyst => "Analyst".into(),
        Viewer::Commune(insee) => match commune_name {
            Some(name) => format!("{name} ({insee})"),
            None => format!("Commune {insee}"),
        },
    }
}

/// A page with the navigation of `viewer`.
pub fn page(title: &str, viewer: &Viewer, commune_name: Option<&str>, scripts: Scripts, body: Markup) -> Markup {
    let operator = *viewer == Viewer::Operator;
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, scripts)) }
            body {
                header.top {
                    a.brand href="/ui/" { "roc42" }
                    nav {
                        a href="/ui/" { "Map" }
                        @if operator {
                            a href="/ui/fleet" { "Fleet health" }
                            a href="/ui/unknown" { "Unknown devices" }
                        }
                        a href="/docs" { "API" }
                    }
                    span.who #who { (who(viewer, commune_name)) }
                    form.logout method="post" action="/ui/logout" {
                        button type="submit" { "Log out" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// JSON for the page's script, in a `<script type="application/json">` it does not run.
pub fn json_script<T: Serialize>(id: &str, class: &str, value: &T) -> Markup {
    // `</` would end the script element early; `\/` is the same JSON string.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into()).replace("</", "<\\/");
    html! { script type="application/json" id=(id) class=(class) { (PreEscaped(text)) } }
}

/// A time zone by IANA name (Europe/Paris when unknown).
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::Paris)
}

/// A time in the commune's zone, to the minute.
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// How long ago, roughly: "4 min ago", "3 h ago", "2 days ago".
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    match s {
        s if s < 0 => "just now".into(),
        s if s < 90 => format!("{s} s ago"),
        s if s < 90 * 60 => format!("{} min ago", s / 60),
        s if s < 48 * 3600 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// A value with its unit, rounded for reading.
pub fn value(v: f64, unit: &str) -> String {
    let digits = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    let unit = self::unit(unit);
    if unit.is_empty() {
        format!("{v:.digits$}")
    } else {
        format!("{v:.digits$} {unit}")
    }
}

/// A SenML/UCUM unit as people write it.
pub fn unit(unit: &str) -> &str {
    match unit {
        "Cel" => "°C",
        "ug/m3" => "µg/m³",
        "%RH" => "% RH",
        "1" => "",
        u => u,
    }
}

/// A share as a percentage.
pub fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_ages_read_well() {
        assert_eq!(value(1234.4, "ppm"), "1234 ppm");
        assert_eq!(value(21.46, "Cel"), "21.5 °C");
        assert_eq!(value(0.5, "1"), "0.50");
        let now = Utc::now();
        assert_eq!(ago(now - chrono::Duration::minutes(5), now), "5 min ago");
        assert_eq!(ago(now - chrono::Duration::hours(30), now), "30 h ago");
        assert_eq!(ago(now - chrono::Duration::days(3), now), "3 days ago");
    }

    #[test]
    fn json_cannot_close_its_script() {
        let m = json_script("d", "c", &serde_json::json!({"name": "</script><script>alert(1)</script>"}));
        assert!(!m.into_string().contains("</script><script>"));
    }
}
