//! Indicators per service, as plain functions over readings (sources in the README):
//! - air quality: share of occupied time above 800 and 1,500 ppm CO2 (arrêté of 27
//!   December 2022), the ICONE confinement index (arrêté of 1 June 2016), PM2.5 and PM10
//!   against the WHO 2021 guideline values;
//! - energy: consumption per local day and month from meter indexes, compared with a
//!   baseline year, and the annual figures of the OPERAT declaration;
//! - parking: occupancy rate per hour, turnover and average stay.
//!
//! A reading holds its value until the next one of its device, for at most
//! [`MAX_HOLD`] for measurements (a gap is missing data, not a constant), and until the
//! next state change for parking states.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest time a measurement stands for when the next one is late.
pub const MAX_HOLD: Duration = Duration::hours(1);

/// A reading of one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub time: DateTime<Utc>,
    pub value: f64,
}

impl Sample {
    pub fn new(time: DateTime<Utc>, value: f64) -> Self {
        Self { time, value }
    }
}

/// A half-open span of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Span {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self { from, to }
    }

    fn overlap(&self, other: &Span) -> Duration {
        let from = self.from.max(other.from);
        let to = self.to.min(other.to);
        if to > from {
            to - from
        } else {
            Duration::zero()
        }
    }
}

/// When a site is occupied: weekly slots in the site's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Occupancy {
    pub slots: Vec<Slot>,
}

/// Days of the week (`mon` ... `sun`) and a local start and end time (`HH:MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Slot {
    #[schema(value_type = Vec<String>, example = json!(["mon", "tue", "thu", "fri"]))]
    pub days: Vec<Day>,
    #[schema(value_type = String, example = "08:30")]
    pub from: HourMinute,
    #[schema(value_type = String, example = "16:30")]
    pub to: HourMinute,
}

/// A day of the week, as `mon` ... `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// A local time of day, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HourMinute(pub NaiveTime);

impl Serialize for HourMinute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format("%H:%M").to_string())
    }
}

impl<'de> Deserialize<'de> for HourMinute {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "24:00" {
            return Ok(HourMinute(NaiveTime::MIN));
        }
        NaiveTime::parse_from_str(&s, "%H:%M")
            .map(HourMinute)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a time of day as HH:MM")))
    }
}

impl Default for Occupancy {
    /// School hours: Monday to Friday, 08:30 to 16:30.
    fn default() -> Self {
        let t = |h, m| HourMinute(NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN));
        Occupancy {
            slots: vec![Slot {
                days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
                from: t(8, 30),
                to: t(16, 30),
            }],
        }
    }
}

impl Occupancy {
    /// Why this schedule is not usable, if it is not.
    pub fn problem(&self) -> Option<String> {
        if self.slots.is_empty() {
            return Some("occupancy needs at least one slot".into());
        }
        for s in &self.slots {
            if s.days.is_empty() {
                return Some("an occupancy slot needs at least one day".into());
            }
            if s.to.0 != NaiveTime::MIN && s.to <= s.from {
                return Some(format!("occupancy slot ends ({}) before it starts ({})", s.to.0, s.from.0));
            }
        }
        None
    }

    /// The occupied spans within `period`, oldest first, in zone `tz`. A slot ending at
    /// `24:00` (written so, or as `00:00`) runs to the next local midnight; local times
    /// that do not exist (spring change) move to the next one that does.
    pub fn spans(&self, period: Span, tz: Tz) -> Vec<Span> {
        let mut out = Vec::new();
        let first = period.from.with_timezone(&tz).date_naive() - Duration::days(1);
        let last = period.to.with_timezone(&tz).date_naive();
        let mut day = first;
        while day <= last {
            for slot in &self.slots {
                if !slot.days.iter().any(|d| d.weekday() == day.weekday()) {
                    continue;
                }
                let start = local(tz, day, slot.from.0);
                let end = if slot.to.0 == NaiveTime::MIN {
                    local(tz, day + Duration::days(1), NaiveTime::MIN)
                } else {
                    local(tz, day, slot.to.0)
                };
                let s = Span::new(start.max(period.from), end.min(period.to));
                if s.to > s.from {
                    out.push(s);
                }
            }
            day += Duration::days(1);
        }
        out.sort_by_key(|s| s.from);
        out
    }
}

/// The instant of a local date and time; a time skipped by a DST change moves forward.
fn local(tz: Tz, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = day.and_time(time);
    for minutes in [0, 30, 60, 90, 120] {
        if let Some(t) = tz.from_local_datetime(&(naive + Duration::minutes(minutes))).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&naive)
}

/// The span each sample stands for: until the next sample, at most `max_hold`, and not
/// past `end`.
fn holds(samples: &[Sample], max_hold: Option<Duration>, end: DateTime<Utc>) -> impl Iterator<Item = (Span, f64)> + '_ {
    samples.iter().enumerate().map(move |(i, s)| {
        let next = samples.get(i + 1).map(|n| n.time).unwrap_or(end);
        let mut to = next.min(end);
        if let Some(h) = max_hold {
            to = to.min(s.time + h);
        }
        (Span::new(s.time, to.max(s.time)), s.value)
    })
}

/// Occupied time covered by samples, split by value band.
fn occupied_time(
    samples: &[Sample],
    occupied: &[Span],
    end: DateTime<Utc>,
    band: impl Fn(f64) -> usize,
) -> [Duration; 3] {
    let mut out = [Duration::zero(); 3];
    for (hold, value) in holds(samples, Some(MAX_HOLD), end) {
        let i = band(value).min(2);
        // Occupied spans are sorted: only those overlapping this hold count.
        let start = occupied.partition_point(|o| o.to <= hold.from);
        for o in &occupied[start..] {
            if o.from >= hold.to {
                break;
            }
            out[i] += o.overlap(&hold);
        }
    }
    out
}

fn hours(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 3_600_000.0
}

/// CO2 of one room over a period, during occupied time.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Co2Indicators {
    /// Occupied hours in the period (the schedule's).
    pub occupied_hours: f64,
    /// Occupied hours covered by readings.
    pub measured_hours: f64,
    /// Share (0-1) of the measured occupied time above 800 ppm; null without data.
    pub share_above_800: Option<f64>,
    /// Share (0-1) of the measured occupied time above 1,500 ppm.
    pub share_above_1500: Option<f64>,
    /// ICONE confinement index, 0 (none) to 5 (extreme), rounded; null without data.
    pub icone: Option<u8>,
    /// The index before rounding.
    pub icone_exact: Option<f64>,
    /// f1: share of the measured occupied time between 1,000 and 1,700 ppm.
    pub icone_f1: Option<f64>,
    /// f2: share of the measured occupied time above 1,700 ppm.
    pub icone_f2: Option<f64>,
}

/// The arrêté of 27 December 2022 thresholds (ppm): ventilate above the first,
/// investigate above the second.
pub const CO2_THRESHOLDS: [f64; 2] = [800.0, 1500.0];

/// CO2 indicators of one room: `samples` sorted by time, `occupied` from
/// [`Occupancy::spans`], `end` the end of the period.
pub fn co2(samples: &[Sample], occupied: &[Span], end: DateTime<Utc>) -> Co2Indicators {
    let occupied_hours = hours(occupied.iter().map(|s| s.to - s.from).sum());
    let by_threshold = occupied_time(samples, occupied, end, |v| {
        if v > CO2_THRESHOLDS[1] {
            2
        } else if v > CO2_THRESHOLDS[0] {
            1
        } else {
            0
        }
    });
    let icone_bands = occupied_time(samples, occupied, end, |v| {
        if v > 1700.0 {
            2
        } else if v > 1000.0 {
            1
        } else {
            0
        }
    });
    let measured: Duration = by_threshold.iter().copied().sum();
    let share = |d: Duration| (measured > Duration::zero()).then(|| hours(d) / hours(measured));
    let f1 = share(icone_bands[1]);
    let f2 = share(icone_bands[2]);
    let exact = f1.zip(f2).map(|(f1, f2)| icone(f1, f2));
    Co2Indicators {
        occupied_hours,
        measured_hours: hours(measured),
        share_above_800: share(by_threshold[1] + by_threshold[2]),
        share_above_1500: share(by_threshold[2]),
        icone: exact.map(|x| x.round().clamp(0.0, 5.0) as u8),
        icone_exact: exact,
        icone_f1: f1,
        icone_f2: f2,
    }
}

/// The ICONE index from f1 (share of values in ]1000, 1700] ppm) and f2 (share above
/// 1700 ppm): (2.5 / log10 2) x log10(1 + f1 + 3 f2), from 0 to 5.
pub fn icone(f1: f64, f2: f64) -> f64 {
    2.5 / std::f64::consts::LOG10_2 * (1.0 + f1 + 3.0 * f2).log10()
}

/// Particles of one sensor against the WHO 2021 air quality guideline levels.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ParticleIndicators {
    #[schema(example = "air.pm25")]
    pub metric: String,
    /// Mean of the daily means over the period, in ug/m3.
    pub mean: Option<f64>,
    /// WHO 2021 annual guideline level (PM2.5: 5, PM10: 15 ug/m3).
    pub annual_guideline: f64,
    /// WHO 2021 24-hour guideline level (PM2.5: 15, PM10: 45 ug/m3).
    pub daily_guideline: f64,
    /// The period's mean over the annual guideline (1: at the guideline).
    pub mean_to_guideline: Option<f64>,
    /// Local days with data.
    pub days: usize,
    /// Days whose mean exceeds the 24-hour guideline (WHO: 3 to 4 a year at most).
    pub days_above_daily_guideline: usize,
}

/// WHO 2021 guideline levels (annual, 24-hour) for a particle metric.
pub fn who_2021(metric: &str) -> Option<(f64, f64)> {
    match metric {
        "air.pm25" => Some((5.0, 15.0)),
        "air.pm10" => Some((15.0, 45.0)),
        _ => None,
    }
}

/// Particle indicators from the daily means of one sensor.
pub fn particles(metric: &str, daily_means: &[f64]) -> Option<ParticleIndicators> {
    let (annual, daily) = who_2021(metric)?;
    let days = daily_means.len();
    let mean = (days > 0).then(|| daily_means.iter().sum::<f64>() / days as f64);
    Some(ParticleIndicators {
        metric: metric.to_owned(),
        mean,
        annual_guideline: annual,
        daily_guideline: daily,
        mean_to_guideline: mean.map(|m| m / annual),
        days,
        days_above_daily_guideline: daily_means.iter().filter(|&&m| m > daily).count(),
    })
}

/// One local-day rollup of a meter index: its first and last values and the increase
/// between its readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexDay {
    pub day: NaiveDate,
    pub first: f64,
    pub last: f64,
    pub increase: f64,
}

/// A counter's step from `a` to `b`: a decrease is a reset (meter replaced or wrapped),
/// and the new value is what was used since.
pub fn step(a: f64, b: f64) -> f64 {
    if b >= a {
        b - a
    } else {
        b
    }
}

/// Consumption per local day of one meter, from its daily rollups sorted by day: the
/// increase within the day, plus the step from the previous day with data (the last
/// reading of that day to the first of this one, assigned to this day).
pub fn daily_consumption(days: &[IndexDay]) -> Vec<(NaiveDate, f64)> {
    let mut out = Vec::with_capacity(days.len());
    let mut prev: Option<f64> = None;
    for d in days {
        let across = prev.map(|p| step(p, d.first)).unwrap_or(0.0);
        out.push((d.day, d.increase + across));
        prev = Some(d.last);
    }
    out
}

/// Sums daily values by calendar month (the first day of the month).
pub fn monthly(daily: &[(NaiveDate, f64)]) -> Vec<(NaiveDate, f64)> {
    let mut months: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for (day, v) in daily {
        let m = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(*day);
        *months.entry(m).or_default() += v;
    }
    months.into_iter().collect()
}

/// An energy carrier as the OPERAT declaration names it, and the metric that measures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    /// Électricité: `energy.active_import`.
    Electricity,
    /// Réseau de chaleur (or the building's own heat meter): `heat.energy`.
    Heat,
}

impl Carrier {
    pub const ALL: [Carrier; 2] = [Carrier::Electricity, Carrier::Heat];

    pub fn metric(self) -> &'static str {
        match self {
            Carrier::Electricity => "energy.active_import",
            Carrier::Heat => "heat.energy",
        }
    }

    /// The name OPERAT gives the energy.
    pub fn operat_name(self) -> &'static str {
        match self {
            Carrier::Electricity => "Electricite",
            Carrier::Heat => "Reseau de chaleur",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Electricity => "electricity",
            Carrier::Heat => "heat",
        }
    }
}

/// Comparison of a period's consumption with the same days of a baseline year.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Baseline {
    pub year: i32,
    /// Consumption of the baseline's same calendar days, in kWh.
    pub kwh: f64,
    /// Relative change of the period against the baseline (-0.4: 40 % less).
    pub change: Option<f64>,
    /// The décret tertiaire's targets against the reference year: -40 % in 2030, -50 % in 2040, -60 % in 2050.
    pub targets: Vec<(i32, f64)>,
}

/// The décret tertiaire's reduction targets against the reference year.
pub const TERTIARY_TARGETS: [(i32, f64); 3] = [(2030, -0.40), (2040, -0.50), (2050, -0.60)];

pub fn baseline(year: i32, current_kwh: f64, baseline_kwh: f64) -> Baseline {
    Baseline {
        year,
        kwh: baseline_kwh,
        change: (baseline_kwh > 0.0).then(|| current_kwh / baseline_kwh - 1.0),
        targets: TERTIARY_TARGETS.to_vec(),
    }
}

/// A parking space's state changes: samples of `parking.occupied` (1 occupied, 0 free).
/// Occupancy of a zone per hour: the mean over its spaces of the share of the hour each
/// was occupied, among the spaces whose state is known then.
pub fn occupancy_per_hour(spaces: &[Vec<Sample>], period: Span) -> Vec<(DateTime<Utc>, f64)> {
    let mut out = Vec::new();
    let mut hour = period.from;
    while hour < period.to {
        let slot = Span::new(hour, (hour + Duration::hours(1)).min(period.to));
        let (mut occupied, mut known) = (Duration::zero(), Duration::zero());
        for states in spaces {
            for (hold, v) in holds(states, None, period.to) {
                let o = hold.overlap(&slot);
                known += o;
                if v >= 0.5 {
                    occupied += o;
                }
            }
        }
        if known > Duration::zero() {
            out.push((hour, hours(occupied) / hours(known)));
        }
        hour = slot.to;
    }
    out
}

/// A zone's parking activity over a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ParkingIndicators {
    /// Spaces with at least one state known in the period.
    pub spaces: usize,
    /// Share (0-1) of the known space-time that was occupied.
    pub occupancy_rate: Option<f64>,
    /// Arrivals (a free space becoming occupied) in the period.
    pub arrivals: usize,
    /// Arrivals per space per local day.
    pub turnover_per_day: Option<f64>,
    /// Mean length of the stays that began and ended in the period, in minutes.
    pub average_stay_minutes: Option<f64>,
    /// Stays counted in the average.
    pub stays: usize,
}

/// Parking indicators over `period` from each space's state samples (sorted by time);
/// `days` is the number of local days in the period.
pub fn parking(spaces: &[Vec<Sample>], period: Span, days: f64) -> ParkingIndicators {
    let (mut occupied, mut known) = (Duration::zero(), Duration::zero());
    let (mut arrivals, mut stays, mut stay_total) = (0usize, 0usize, Duration::zero());
    let mut with_data = 0;
    for states in spaces {
        let states: Vec<Sample> =
            states.iter().copied().filter(|s| s.time >= period.from && s.time < period.to).collect();
        if states.is_empty() {
            continue;
        }
        with_data += 1;
        for (hold, v) in holds(&states, None, period.to) {
            known += hold.to - hold.from;
            if v >= 0.5 {
                occupied += hold.to - hold.from;
            }
        }
        let mut arrived: Option<DateTime<Utc>> = None;
        for pair in states.windows(2) {
            let (a, b) = (pair[0].value >= 0.5, pair[1].value >= 0.5);
            if !a && b {
                arrivals += 1;
                arrived = Some(pair[1].time);
            } else if a && !b {
                if let Some(t) = arrived.take() {
                    stays += 1;
                    stay_total += pair[1].time - t;
                }
            }
        }
    }
    ParkingIndicators {
        spaces: with_data,
        occupancy_rate: (known > Duration::zero()).then(|| hours(occupied) / hours(known)),
        arrivals,
        turnover_per_day: (with_data > 0 && days > 0.0).then(|| arrivals as f64 / (with_data as f64 * days)),
        average_stay_minutes: (stays > 0).then(|| stay_total.num_seconds() as f64 / 60.0 / stays as f64),
        stays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn paris() -> Tz {
        chrono_tz::Europe::Paris
    }

    #[test]
    fn school_hours_are_local_and_skip_the_weekend() {
        // Friday 3 to Monday 6 January 2025, Paris is UTC+1.
        let spans =
            Occupancy::default().spans(Span::new(t("2025-01-03T00:00:00Z"), t("2025-01-07T00:00:00Z")), paris());
        assert_eq!(
            spans,
            vec![
                Span::new(t("2025-01-03T07:30:00Z"), t("2025-01-03T15:30:00Z")),
                Span::new(t("2025-01-06T07:30:00Z"), t("2025-01-06T15:30:00Z")),
            ]
        );
        // In summer time (UTC+2) the same hours are an hour earlier in UTC.
        let summer =
            Occupancy::default().spans(Span::new(t("2025-06-02T00:00:00Z"), t("2025-06-03T00:00:00Z")), paris());
        assert_eq!(summer, vec![Span::new(t("2025-06-02T06:30:00Z"), t("2025-06-02T14:30:00Z"))]);
    }

    #[test]
    fn occupancy_parses_and_checks() {
        let o: Occupancy =
            serde_json::from_str(r#"{"slots": [{"days": ["wed"], "from": "08:30", "to": "12:00"}]}"#).unwrap();
        assert_eq!(o.problem(), None);
        let bad: Occupancy =
            serde_json::from_str(r#"{"slots": [{"days": ["wed"], "from": "12:00", "to": "08:00"}]}"#).unwrap();
        assert!(bad.problem().is_some());
        assert!(serde_json::from_str::<Occupancy>(r#"{"slots": [{"days": ["wed"], "from": "8h", "to": "12:00"}]}"#)
            .is_err());
    }

    #[test]
    fn co2_shares_and_icone_by_hand() {
        // One occupied hour, 09:00-10:00 UTC, readings every 10 minutes:
        // 600, 900, 1200, 1600, 1800, 700 ppm -> each stands for 10 minutes.
        let occupied = [Span::new(t("2025-01-06T09:00:00Z"), t("2025-01-06T10:00:00Z"))];
        let values = [600.0, 900.0, 1200.0, 1600.0, 1800.0, 700.0];
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(t("2025-01-06T09:00:00Z") + Duration::minutes(10 * i as i64), v))
            .collect();
        // A reading before the occupied hour does not count, one after neither.
        let mut all = vec![Sample::new(t("2025-01-06T08:00:00Z"), 5000.0)];
        all.extend(samples);
        all.push(Sample::new(t("2025-01-06T10:00:00Z"), 5000.0));
        let c = co2(&all, &occupied, t("2025-01-07T00:00:00Z"));
        assert_eq!(c.occupied_hours, 1.0);
        assert!((c.measured_hours - 1.0).abs() < 1e-9);
        // Above 800: 900, 1200, 1600, 1800 -> 4/6; above 1500: 1600, 1800 -> 2/6.
        assert!((c.share_above_800.unwrap() - 4.0 / 6.0).abs() < 1e-9);
        assert!((c.share_above_1500.unwrap() - 2.0 / 6.0).abs() < 1e-9);
        // f1: ]1000, 1700] -> 1200, 1600 = 2/6; f2: > 1700 -> 1800 = 1/6.
        // ICONE = 8.3048 x log10(1 + 1/3 + 1/2) = 8.3048 x 0.26324 = 2.186 -> 2.
        assert!((c.icone_f1.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!((c.icone_f2.unwrap() - 1.0 / 6.0).abs() < 1e-9);
        assert!((c.icone_exact.unwrap() - 2.1862).abs() < 1e-3, "{:?}", c.icone_exact);
        assert_eq!(c.icone, Some(2));
    }

    #[test]
    fn icone_bounds() {
        assert_eq!(icone(0.0, 0.0), 0.0);
        // Every value above 1700 ppm: log10(4) x 2.5 / log10(2) = 5.
        assert!((icone(0.0, 1.0) - 5.0).abs() < 1e-9);
        // Half the time between 1000 and 1700: 8.3048 x log10(1.5) = 1.462.
        assert!((icone(0.5, 0.0) - 1.4624).abs() < 1e-3);
    }

    #[test]
    fn a_gap_is_missing_data_not_a_constant() {
        // One reading at 09:00 above 1500, then nothing for 3 hours of occupancy.
        let occupied = [Span::new(t("2025-01-06T09:00:00Z"), t("2025-01-06T12:00:00Z"))];
        let c = co2(&[Sample::new(t("2025-01-06T09:00:00Z"), 2000.0)], &occupied, t("2025-01-06T12:00:00Z"));
        assert_eq!(c.occupied_hours, 3.0);
        assert!((c.measured_hours - 1.0).abs() < 1e-9);
        assert_eq!(c.share_above_1500, Some(1.0));
        let none = co2(&[], &occupied, t("2025-01-06T12:00:00Z"));
        assert_eq!((none.share_above_800, none.icone), (None, None));
    }

    #[test]
    fn particles_against_who_2021() {
        // PM2.5 daily means 4, 10, 20 -> mean 11.333, 2.27 x the annual 5; one day above 15.
        let p = particles("air.pm25", &[4.0, 10.0, 20.0]).unwrap();
        assert!((p.mean.unwrap() - 34.0 / 3.0).abs() < 1e-9);
        assert!((p.mean_to_guideline.unwrap() - 34.0 / 15.0).abs() < 1e-9);
        assert_eq!((p.days, p.days_above_daily_guideline), (3, 1));
        let p10 = particles("air.pm10", &[50.0, 45.0]).unwrap();
        assert_eq!((p10.annual_guideline, p10.daily_guideline, p10.days_above_daily_guideline), (15.0, 45.0, 1));
        assert!(particles("air.co2", &[1.0]).is_none());
    }

    #[test]
    fn energy_per_day_and_month_with_a_meter_reset() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // Index in Wh: day 1 1000 -> 1500 (increase 500); day 2 starts at 1600 (100
        // overnight) and ends at 2100; day 3 the meter was replaced: 2100 -> 50 (reset:
        // 50 used since), then 50 -> 250 within the day.
        let days = [
            IndexDay { day: d("2025-01-31"), first: 1000.0, last: 1500.0, increase: 500.0 },
            IndexDay { day: d("2025-02-01"), first: 1600.0, last: 2100.0, increase: 500.0 },
            IndexDay { day: d("2025-02-02"), first: 50.0, last: 250.0, increase: 200.0 },
        ];
        let daily = daily_consumption(&days);
        assert_eq!(daily, vec![(d("2025-01-31"), 500.0), (d("2025-02-01"), 600.0), (d("2025-02-02"), 250.0)]);
        assert_eq!(monthly(&daily), vec![(d("2025-01-01"), 500.0), (d("2025-02-01"), 850.0)]);
        let b = baseline(2024, 850.0, 1000.0);
        assert!((b.change.unwrap() + 0.15).abs() < 1e-9);
    }

    #[test]
    fn parking_by_hand() {
        let period = Span::new(t("2025-01-06T08:00:00Z"), t("2025-01-06T10:00:00Z"));
        // Space A: free at 08:00, a car 08:15-08:45, another from 09:30 (still there at 10:00).
        let a = vec![
            Sample::new(t("2025-01-06T08:00:00Z"), 0.0),
            Sample::new(t("2025-01-06T08:15:00Z"), 1.0),
            Sample::new(t("2025-01-06T08:45:00Z"), 0.0),
            Sample::new(t("2025-01-06T09:30:00Z"), 1.0),
        ];
        // Space B: occupied all along (known from 08:00), never leaves.
        let b = vec![Sample::new(t("2025-01-06T08:00:00Z"), 1.0)];
        let per_hour = occupancy_per_hour(&[a.clone(), b.clone()], period);
        // 08-09: A 30 of 60 min, B 60 -> 0.75; 09-10: A 30, B 60 -> 0.75.
        assert_eq!(per_hour, vec![(t("2025-01-06T08:00:00Z"), 0.75), (t("2025-01-06T09:00:00Z"), 0.75)]);
        let p = parking(&[a, b], period, 1.0);
        assert_eq!(p.spaces, 2);
        assert_eq!(p.occupancy_rate, Some(0.75));
        // Arrivals: A at 08:15 and 09:30 (B's car was there before we knew): 2 over 2 spaces.
        assert_eq!((p.arrivals, p.turnover_per_day), (2, Some(1.0)));
        // One completed stay: 30 minutes.
        assert_eq!((p.stays, p.average_stay_minutes), (1, Some(30.0)));
    }
}
