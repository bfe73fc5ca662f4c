//! A site's indicators over a period, assembled from the store: raw readings where
//! time-weighting needs them (CO2, parking states), daily rollups for the rest (particles,
//! energy), each device by the category of the service it is placed under.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::indicators::{self as ind, Carrier, IndexDay, Sample, Span};
use crate::store::device::{self as device_store, Device, DeviceFilter};
use crate::store::domain::{self, Site};
use crate::store::reading;
use crate::store::rollup::{self, Grain};

/// Devices read for one site report.
const MAX_DEVICES: i64 = 1000;

/// The indicators of one site over `[from, to)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteIndicators {
    pub site_id: i64,
    pub site: String,
    pub commune: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
    /// The occupied slots air-quality indicators use.
    pub occupancy: ind::Occupancy,
    /// One entry per air-quality device (a room).
    pub air_quality: Vec<RoomIndicators>,
    /// One entry per energy carrier metered at the site.
    pub energy: Vec<EnergyIndicators>,
    /// The site's parking spaces as one zone; null without parking sensors.
    pub parking: Option<ZoneIndicators>,
}

/// Air-quality indicators of one device.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomIndicators {
    pub dev_eui: String,
    pub name: String,
    /// Null if the device measures no CO2.
    pub co2: Option<ind::Co2Indicators>,
    pub particles: Vec<ind::ParticleIndicators>,
}

/// Consumption of one carrier at a site, all its meters added.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnergyIndicators {
    pub carrier: Carrier,
    #[schema(example = "energy.active_import")]
    pub metric: &'static str,
    /// Meters (devices) with data.
    pub meters: usize,
    pub total_kwh: f64,
    pub per_day: Vec<DayValue>,
    pub per_month: Vec<DayValue>,
    /// Same calendar days of the baseline year; null if the period spans more than a year.
    pub baseline: Option<ind::Baseline>,
    /// kWh per m2 of floor area, if the site's area is known.
    pub kwh_per_m2: Option<f64>,
}

/// A value per local day (or per month, on its first day).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayValue {
    #[schema(value_type = String, example = "2025-01-31")]
    pub day: NaiveDate,
    pub kwh: f64,
}

/// Parking indicators of a zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneIndicators {
    #[serde(flatten)]
    pub summary: ind::ParkingIndicators,
    /// Occupancy rate (0-1) per UTC hour.
    pub per_hour: Vec<HourValue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HourValue {
    pub time: DateTime<Utc>,
    pub rate: f64,
}

/// The zone a site's commune lives in (Europe/Paris if its name is unknown).
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::Paris)
}

/// The categories of the catalogue's services, by service id.
struct Categories(HashMap<String, String>);

impl Categories {
    async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self(domain::list_services(pool).await?.into_iter().filter_map(|s| Some((s.id, s.category?))).collect()))
    }

    /// The devices placed under a service of `category`.
    fn of<'a>(&self, devices: &'a [Device], category: &str) -> Vec<&'a Device> {
        devices
            .iter()
            .filter(|d| d.service.as_ref().and_then(|s| self.0.get(s)).is_some_and(|c| c == category))
            .collect()
    }
}

/// Every device placed at a site, retired ones included (they reported in the past).
async fn devices_at(pool: &PgPool, scope: Option<&str>, site_id: i64) -> Result<Vec<Device>, sqlx::Error> {
    let filter = DeviceFilter { site_id: Some(site_id), include_retired: true, ..DeviceFilter::default() };
    device_store::list(pool, scope, &filter, MAX_DEVICES, 0).await
}

/// The indicators of `site` over `[from, to)`; `scope` restricts devices to a commune.
pub async fn site(
    pool: &PgPool,
    scope: Option<&str>,
    site: &Site,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<SiteIndicators, sqlx::Error> {
    let devices = devices_at(pool, scope, site.id).await?;
    let categories = Categories::load(pool).await?;
    let tz = zone(&site.time_zone);
    let occupancy = site.occupancy.as_ref().map(|o| o.0.clone()).unwrap_or_default();
    let period = Span::new(from, to);
    let air = categories.of(&devices, "air_quality");
    let energy_devices = categories.of(&devices, "energy");
    let parking_devices = categories.of(&devices, "parking");
    Ok(SiteIndicators {
        site_id: site.id,
        site: site.name.clone(),
        commune: site.commune.clone(),
        from,
        to,
        time_zone: site.time_zone.clone(),
        air_quality: rooms(pool, scope, &air, &occupancy, period, tz).await?,
        occupancy,
        energy: energy(pool, scope, &energy_devices, site, period, tz).await?,
        parking: parking(pool, scope, &parking_devices, period, tz).await?,
    })
}

/// Raw samples of `metric` for these devices in `[from, to)`, by device.
pub async fn samples(
    pool: &PgPool,
    scope: Option<&str>,
    ids: &[i64],
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, Vec<Sample>>, sqlx::Error> {
    let mut out: HashMap<i64, Vec<Sample>> = HashMap::new();
    for r in reading::series(pool, scope, ids, metric, from, to, i64::MAX).await? {
        out.entry(r.device_id).or_default().push(Sample::new(r.time, r.value));
    }
    Ok(out)
}

/// Air-quality indicators per room.
pub async fn rooms(
    pool: &PgPool,
    scope: Option<&str>,
    devices: &[&Device],
    occupancy: &ind::Occupancy,
    period: Span,
    tz: Tz,
) -> Result<Vec<RoomIndicators>, sqlx::Error> {
    let ids: Vec<i64> = devices.iter().map(|d| d.id).collect();
    let occupied = occupancy.spans(period, tz);
    // A reading just before the period stands for its first minutes.
    let co2 = samples(pool, scope, &ids, "air.co2", period.from - ind::MAX_HOLD, period.to).await?;
    let mut pm: HashMap<(i64, &str), Vec<f64>> = HashMap::new();
    for metric in ["air.pm25", "air.pm10"] {
        for r in rollup::rows(pool, scope, &ids, Some(metric), period.from, period.to, Grain::Day).await? {
            pm.entry((r.device_id, metric)).or_default().push(r.avg);
        }
    }
    Ok(devices
        .iter()
        .map(|d| RoomIndicators {
            dev_eui: d.dev_eui.clone(),
            name: d.name.clone(),
            co2: co2.get(&d.id).map(|s| ind::co2(s, &occupied, period.to)),
            particles: ["air.pm25", "air.pm10"]
                .iter()
                .filter_map(|m| pm.get(&(d.id, *m)).and_then(|means| ind::particles(m, means)))
                .collect(),
        })
        .collect())
}

/// Daily consumption (kWh) of every meter of `devices` for `carrier` over `period`,
/// added per local day; and the number of meters with data.
async fn consumption(
    pool: &PgPool,
    scope: Option<&str>,
    ids: &[i64],
    carrier: Carrier,
    period: Span,
    tz: Tz,
) -> Result<(Vec<(NaiveDate, f64)>, usize), sqlx::Error> {
    // The day before the period gives the step into its first day.
    let rows =
        rollup::rows(pool, scope, ids, Some(carrier.metric()), period.from - Duration::days(35), period.to, Grain::Day)
            .await?;
    let mut by_device: HashMap<i64, Vec<IndexDay>> = HashMap::new();
    for r in rows {
        let day = r.time.with_timezone(&tz).date_naive();
        by_device.entry(r.device_id).or_default().push(IndexDay {
            day,
            first: r.first,
            last: r.last,
            increase: r.increase,
        });
    }
    let first_day = period.from.with_timezone(&tz).date_naive();
    let mut total: std::collections::BTreeMap<NaiveDate, f64> = std::collections::BTreeMap::new();
    let mut meters = 0;
    for days in by_device.values() {
        let mut any = false;
        for (day, wh) in ind::daily_consumption(days) {
            if day >= first_day {
                *total.entry(day).or_default() += wh / 1000.0;
                any = true;
            }
        }
        meters += usize::from(any);
    }
    Ok((total.into_iter().collect(), meters))
}

async fn energy(
    pool: &PgPool,
    scope: Option<&str>,
    devices: &[&Device],
    site: &Site,
    period: Span,
    tz: Tz,
) -> Result<Vec<EnergyIndicators>, sqlx::Error> {
    let ids: Vec<i64> = devices.iter().map(|d| d.id).collect();
    let mut out = Vec::new();
    for carrier in Carrier::ALL {
        let (daily, meters) = consumption(pool, scope, &ids, carrier, period, tz).await?;
        if meters == 0 {
            continue;
        }
        let total: f64 = daily.iter().map(|d| d.1).sum();
        let start_year = period.from.with_timezone(&tz).year();
        let baseline_year = site.baseline_year.unwrap_or(start_year - 1);
        let shift = |t: DateTime<Utc>| -> Option<DateTime<Utc>> {
            let local = t.with_timezone(&tz).naive_local();
            let years = local.year() - (start_year - baseline_year);
            let moved = local.with_year(years).or_else(|| (local - Duration::days(1)).with_year(years))?;
            tz.from_local_datetime(&moved).earliest().map(|t| t.with_timezone(&Utc))
        };
        let baseline = match (period.to - period.from <= Duration::days(366), shift(period.from), shift(period.to)) {
            (true, Some(from), Some(to)) if baseline_year != start_year => {
                let (days, _) = consumption(pool, scope, &ids, carrier, Span::new(from, to), tz).await?;
                let base: f64 = days.iter().map(|d| d.1).sum();
                Some(ind::baseline(baseline_year, total, base))
            }
            _ => None,
        };
        out.push(EnergyIndicators {
            carrier,
            metric: carrier.metric(),
            meters,
            total_kwh: total,
            per_month: ind::monthly(&daily).into_iter().map(|(day, kwh)| DayValue { day, kwh }).collect(),
            per_day: daily.into_iter().map(|(day, kwh)| DayValue { day, kwh }).collect(),
            baseline,
            kwh_per_m2: site.floor_area_m2.map(|a| total / a),
        });
    }
    Ok(out)
}

async fn parking(
    pool: &PgPool,
    scope: Option<&str>,
    devices: &[&Device],
    period: Span,
    tz: Tz,
) -> Result<Option<ZoneIndicators>, sqlx::Error> {
    if devices.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = devices.iter().map(|d| d.id).collect();
    // The state at the start is the last one before it (sensors report changes and a
    // heartbeat, at least daily).
    let mut states = samples(pool, scope, &ids, "parking.occupied", period.from - Duration::days(2), period.to).await?;
    let spaces: Vec<Vec<Sample>> = ids
        .iter()
        .filter_map(|id| states.remove(id))
        .map(|s| {
            let (before, during): (Vec<Sample>, Vec<Sample>) = s.into_iter().partition(|x| x.time < period.from);
            let start: Option<Sample> = before.last().map(|b| Sample::new(period.from, b.value));
            // A reading exactly at the start replaces the carried-over state.
            let mut v: Vec<Sample> =
                start.filter(|s| during.first().is_none_or(|d| d.time > s.time)).into_iter().collect();
            v.extend(during);
            v
        })
        .filter(|v| !v.is_empty())
        .collect();
    let local_days = {
        let a = period.from.with_timezone(&tz).date_naive();
        let b = (period.to - Duration::milliseconds(1)).with_timezone(&tz).date_naive();
        ((b - a).num_days() + 1) as f64
    };
    Ok(Some(ZoneIndicators {
        summary: ind::parking(&spaces, period, local_days),
        per_hour: ind::occupancy_per_hour(&spaces, period)
            .into_iter()
            .map(|(time, rate)| HourValue { time, rate })
            .collect(),
    }))
}

/// One line of the OPERAT annual export: a site's consumption of one carrier in a year.
#[derive(Debug, Serialize)]
pub struct OperatLine {
    pub operat_id: String,
    pub site_id: i64,
    pub site: String,
    pub commune: String,
    pub year: i32,
    pub floor_area_m2: String,
    pub energy: &'static str,
    pub kwh: String,
    pub days_with_data: usize,
}

/// The OPERAT lines of every site of `scope` (and `commune`) with meters, for `year`.
pub async fn operat(
    pool: &PgPool,
    scope: Option<&str>,
    commune: Option<&str>,
    year: i32,
) -> Result<Vec<OperatLine>, sqlx::Error> {
    let mut out = Vec::new();
    let categories = Categories::load(pool).await?;
    for site in domain::list_sites(pool, scope, commune).await? {
        let tz = zone(&site.time_zone);
        let (Some(from), Some(to)) = (
            tz.with_ymd_and_hms(year, 1, 1, 0, 0, 0).earliest(),
            tz.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).earliest(),
        ) else {
            continue;
        };
        let devices = devices_at(pool, scope, site.id).await?;
        let ids: Vec<i64> = categories.of(&devices, "energy").iter().map(|d| d.id).collect();
        if ids.is_empty() {
            continue;
        }
        for carrier in Carrier::ALL {
            let period = Span::new(from.with_timezone(&Utc), to.with_timezone(&Utc));
            let (daily, meters) = consumption(pool, scope, &ids, carrier, period, tz).await?;
            if meters == 0 {
                continue;
            }
            out.push(OperatLine {
                operat_id: site.operat_id.clone().unwrap_or_default(),
                site_id: site.id,
                site: site.name.clone(),
                commune: site.commune.clone(),
                year,
                floor_area_m2: site.floor_area_m2.map(|a| format!("{a:.0}")).unwrap_or_default(),
                energy: carrier.operat_name(),
                kwh: format!("{:.0}", daily.iter().map(|d| d.1).sum::<f64>()),
                days_with_data: daily.len(),
            });
        }
    }
    Ok(out)
}
