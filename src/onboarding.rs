//! Device onboarding for operators: bulk import of a CSV file of devices (`roc42 devices
//! import`, and the API's import route). The whole file is checked first and every bad
//! line reported; only a file without errors is applied, in one transaction.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::custody::Sealer;
use crate::lorawan::{AppSKey, DevEui};
use crate::pipeline::models;
use crate::store::{device, domain};

/// Columns a file must have (any order; names are case-insensitive).
pub const REQUIRED_COLUMNS: [&str; 8] =
    ["dev_eui", "name", "model", "commune", "site", "service", "latitude", "longitude"];
/// Columns a file may have.
pub const OPTIONAL_COLUMNS: [&str; 1] = ["app_s_key"];

/// Devices written per statement: big enough that a file of thousands of rows takes a few
/// round trips, small enough that one statement's arrays stay in the low megabytes.
const BATCH_ROWS: usize = 1000;

/// Why one line of the file is bad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LineError {
    /// Line of the file, 1 for the header.
    pub line: u64,
    /// Column concerned, if one is.
    #[schema(example = "dev_eui")]
    pub column: Option<String>,
    #[schema(example = "invalid DevEUI \"a8175\": expected 16 hexadecimal digits")]
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has bad lines: all of them, in file order. Nothing was written.
    #[error("{} bad line(s) in the file; nothing was imported", .0.len())]
    Invalid(Vec<LineError>),
    #[error("read the file: {0}")]
    Read(#[source] csv::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportSummary {
    /// Devices in the file.
    pub devices: usize,
    /// Devices that were not registered before.
    pub created: i64,
    /// Devices that were, now updated.
    pub updated: i64,
    /// Sites created on the fly.
    pub sites_created: u64,
}

/// A checked line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub line: u64,
    pub dev_eui: DevEui,
    pub name: String,
    pub model: String,
    pub commune: String,
    pub site: String,
    pub service: String,
    pub latitude: f64,
    pub longitude: f64,
    pub app_s_key: Option<AppSKey>,
}

/// What the lines of a file may refer to.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// INSEE codes.
    pub communes: HashSet<String>,
    /// Service ids.
    pub services: HashSet<String>,
    /// Model ids, built-in and added.
    pub models: HashSet<String>,
    /// Whether a master key is configured (AppSKeys can be stored).
    pub master_key: bool,
}

impl Known {
    /// The communes, services and models of the database (added models that build, as the
    /// decode stage sees them).
    pub async fn load(pool: &PgPool, master_key: bool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            communes: domain::commune_codes(pool).await?,
            services: domain::service_ids(pool).await?,
            models: models::list_all(pool).await?.iter().map(|m| m.id.clone()).collect(),
            master_key,
        })
    }
}

/// Parses and checks a whole file; every bad line is reported, not just the first.
/// A `;`-separated header (a spreadsheet's French CSV export) switches to `;` as the
/// separator and accepts decimal commas in coordinates.
pub fn parse(input: impl Read, known: &Known) -> Result<Vec<DeviceRow>, ImportError> {
    let mut input = std::io::BufReader::new(input);
    let semicolons = sniff_semicolons(&mut input).map_err(|e| ImportError::Read(e.into()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(if semicolons { b';' } else { b',' })
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut errors = Vec::new();
    let header_err =
        |column: Option<&str>, reason: String| LineError { line: 1, column: column.map(Into::into), reason };

    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) if e.is_io_error() => return Err(ImportError::Read(e)),
        Err(e) => return Err(ImportError::Invalid(vec![header_err(None, e.to_string())])),
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.to_ascii_lowercase();
        match REQUIRED_COLUMNS.iter().chain(&OPTIONAL_COLUMNS).find(|c| **c == h) {
            Some(c) if index.contains_key(c) => errors.push(header_err(Some(c), "column given twice".into())),
            Some(c) => {
                index.insert(c, i);
            }
            None => errors.push(header_err(
                Some(&h),
                format!(
                    "unknown column; expected {} and optionally {}",
                    REQUIRED_COLUMNS.join(", "),
                    OPTIONAL_COLUMNS.join(", ")
                ),
            )),
        }
    }
    for c in REQUIRED_COLUMNS {
        if !index.contains_key(c) {
            errors.push(header_err(Some(c), "missing column".into()));
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }

    let mut rows = Vec::new();
    let mut seen: HashMap<DevEui, u64> = HashMap::new();
    for record in rdr.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) if e.is_io_error() => return Err(ImportError::Read(e)),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(LineError { line, column: None, reason: e.to_string() });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            errors.push(LineError {
                line,
                column: None,
                reason: format!("{} fields, the header has {}", record.len(), headers.len()),
            });
            continue;
        }
        let field = |c: &str| index.get(c).and_then(|&i| record.get(i)).unwrap_or("");
        let before = errors.len();
        if let Ok(eui) = field("dev_eui").parse::<DevEui>() {
            if let Some(first) = seen.get(&eui) {
                errors.push(LineError {
                    line,
                    column: Some("dev_eui".into()),
                    reason: format!("DevEUI {eui} is also on line {first}"),
                });
            } else {
                seen.insert(eui, line);
            }
        }
        let row = check(line, field, known, semicolons, &mut errors);
        if let (Some(row), true) = (row, errors.len() == before) {
            rows.push(row);
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Invalid(errors))
    }
}

/// Checks the fields of one device (`field(column)`: its text, empty when absent); the
/// errors found are appended to `errors`, in column order. `decimal_comma`: coordinates
/// may use a decimal comma.
fn check<'a>(
    line: u64,
    field: impl Fn(&str) -> &'a str,
    known: &Known,
    decimal_comma: bool,
    errors: &mut Vec<LineError>,
) -> Option<DeviceRow> {
    let before = errors.len();
    let mut bad = |column: &str, reason: String| {
        errors.push(LineError { line, column: Some(column.into()), reason });
    };
    let dev_eui = field("dev_eui").parse::<DevEui>().map_err(|e| bad("dev_eui", e.to_string())).ok();
    let name = field("name");
    if name.is_empty() {
        bad("name", "empty".into());
    }
    let model = field("model");
    if !known.models.contains(model) {
        bad("model", format!("unknown model {model:?}; `roc42 models` lists them"));
    }
    let commune = field("commune");
    if !known.communes.contains(commune) {
        bad("commune", format!("unknown commune {commune:?} (INSEE code)"));
    }
    let site = field("site");
    if site.is_empty() {
        bad("site", "empty".into());
    }
    let service = field("service");
    if !known.services.contains(service) {
        bad("service", format!("unknown service {service:?}; GET /api/v1/services lists them"));
    }
    let latitude = coordinate(field("latitude"), 90.0, decimal_comma).map_err(|r| bad("latitude", r)).ok();
    let longitude = coordinate(field("longitude"), 180.0, decimal_comma).map_err(|r| bad("longitude", r)).ok();
    let app_s_key = match field("app_s_key") {
        "" => None,
        k => match k.parse::<AppSKey>() {
            Ok(_) if !known.master_key => {
                bad("app_s_key", "no master key is configured (ROC42_MASTER_KEY): AppSKeys cannot be stored".into());
                None
            }
            Ok(key) => Some(key),
            Err(e) => {
                bad("app_s_key", e.to_string());
                None
            }
        },
    };
    let ok = errors.len() == before;
    match (dev_eui, latitude, longitude) {
        (Some(dev_eui), Some(latitude), Some(longitude)) if ok => Some(DeviceRow {
            line,
            dev_eui,
            name: name.to_owned(),
            model: model.to_owned(),
            commune: commune.to_owned(),
            site: site.to_owned(),
            service: service.to_owned(),
            latitude,
            longitude,
            app_s_key,
        }),
        _ => None,
    }
}

/// One device to register, as the API's create and claim routes take it (the columns of
/// the CSV file).
#[derive(Debug, Clone, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// 16 hex digits (separators allowed). Taken from the path when claiming.
    #[serde(default)]
    #[schema(example = "a81758fffe0312ab")]
    pub dev_eui: String,
    #[schema(example = "Classe CM1")]
    pub name: String,
    /// Model id (see `GET /api/v1/models`).
    #[schema(example = "elsys-ers-co2")]
    pub model: String,
    /// INSEE code.
    #[schema(example = "42218")]
    pub commune: String,
    /// Site name in the commune; created if new.
    #[schema(example = "École Jules Ferry")]
    pub site: String,
    /// Service id of the catalogue.
    #[schema(example = "air-quality-schools")]
    pub service: String,
    pub latitude: f64,
    pub longitude: f64,
    /// AppSKey, 32 hex digits, when the network server forwards frames encrypted.
    #[serde(default)]
    pub app_s_key: Option<String>,
}

impl DeviceInput {
    /// Checks the device as one line of a file would be (`line` 0).
    pub fn check(&self, known: &Known) -> Result<DeviceRow, ImportError> {
        let (lat, lon) = (self.latitude.to_string(), self.longitude.to_string());
        let field = |c: &str| match c {
            "dev_eui" => self.dev_eui.as_str(),
            "name" => self.name.trim(),
            "model" => self.model.trim(),
            "commune" => self.commune.trim(),
            "site" => self.site.trim(),
            "service" => self.service.trim(),
            "latitude" => lat.as_str(),
            "longitude" => lon.as_str(),
            "app_s_key" => self.app_s_key.as_deref().unwrap_or(""),
            _ => "",
        };
        let mut errors = Vec::new();
        match check(0, field, known, false, &mut errors) {
            Some(row) if errors.is_empty() => Ok(row),
            _ => Err(ImportError::Invalid(errors)),
        }
    }
}

/// Whether the header line is `;`-separated (it has `;` and no `,`).
fn sniff_semicolons(input: &mut impl std::io::BufRead) -> std::io::Result<bool> {
    let buf = input.fill_buf()?;
    let first = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(first.contains(&b';') && !first.contains(&b','))
}

/// A latitude (`max` 90) or longitude (`max` 180) in decimal degrees.
fn coordinate(s: &str, max: f64, decimal_comma: bool) -> Result<f64, String> {
    let text = if decimal_comma { s.replace(',', ".") } else { s.to_owned() };
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= max => Ok(v),
        Ok(_) => Err(format!("{s:?} is out of range (-{max} to {max} degrees)")),
        Err(_) if s.is_empty() => Err("empty".into()),
        Err(_) => Err(format!("{s:?} is not a number of decimal degrees")),
    }
}

/// Writes checked rows in one transaction: sites created per (commune, site name) at the
/// mean position of their devices, devices upserted with their site, service and
/// coordinates, AppSKeys sealed (a row without one keeps the device's stored key).
/// `on_progress` gets the devices written so far after each batch.
///
/// `reactivate`: retired devices among the rows are put back in service (a claim or a
/// create); a file import leaves them retired.
pub async fn apply(
    pool: &PgPool,
    rows: &[DeviceRow],
    sealer: Option<&Sealer>,
    reactivate: bool,
    mut on_progress: impl FnMut(usize),
) -> Result<ImportSummary, ImportError> {
    if rows.iter().any(|r| r.app_s_key.is_some()) && sealer.is_none() {
        // parse() reports this per line when told there is no master key.
        return Err(ImportError::Invalid(
            rows.iter()
                .filter(|r| r.app_s_key.is_some())
                .map(|r| LineError {
                    line: r.line,
                    column: Some("app_s_key".into()),
                    reason: "no master key is configured (ROC42_MASTER_KEY): AppSKeys cannot be stored".into(),
                })
                .collect(),
        ));
    }
    let mut tx = pool.begin().await?;
    let communes: Vec<String> = rows.iter().map(|r| r.commune.clone()).collect();
    let names: Vec<String> = rows.iter().map(|r| r.site.clone()).collect();
    let latitudes: Vec<f64> = rows.iter().map(|r| r.latitude).collect();
    let longitudes: Vec<f64> = rows.iter().map(|r| r.longitude).collect();
    let (sites_created, sites) = domain::ensure_sites(&mut tx, &communes, &names, &latitudes, &longitudes).await?;
    let site_ids: HashMap<(String, String), i64> = sites.into_iter().map(|(id, c, n)| ((c, n), id)).collect();

    let mut created = 0;
    for (i, chunk) in rows.chunks(BATCH_ROWS).enumerate() {
        let batch: Vec<device::PlacedDevice> = chunk
            .iter()
            .map(|r| device::PlacedDevice {
                dev_eui: r.dev_eui,
                name: r.name.clone(),
                model: r.model.clone(),
                commune: r.commune.clone(),
                site_id: site_ids.get(&(r.commune.clone(), r.site.clone())).copied(),
                service_id: Some(r.service.clone()),
                latitude: Some(r.latitude),
                longitude: Some(r.longitude),
                app_s_key_sealed: r.app_s_key.as_ref().zip(sealer).map(|(k, s)| s.seal(k, r.dev_eui)),
            })
            .collect();
        created += device::upsert_batch(&mut tx, &batch, reactivate).await?;
        on_progress((i * BATCH_ROWS + chunk.len()).min(rows.len()));
    }
    tx.commit().await?;
    let devices = rows.len();
    Ok(ImportSummary { devices, created, updated: devices as i64 - created, sites_created })
}

/// Parses, checks and applies a file: what `roc42 devices import` and the API's import
/// route do.
pub async fn import(
    pool: &PgPool,
    input: impl Read,
    sealer: Option<&Sealer>,
    on_progress: impl FnMut(usize),
) -> Result<ImportSummary, ImportError> {
    let known = Known::load(pool, sealer.is_some()).await?;
    let rows = parse(input, &known)?;
    apply(pool, &rows, sealer, false, on_progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known {
            communes: ["42218", "42187"].map(String::from).into(),
            services: ["air-quality-schools", "smart-parking"].map(String::from).into(),
            models: ["elsys-ers-co2", "tekzitel-tekzipark"].map(String::from).into(),
            master_key: true,
        }
    }

    const HEADER: &str = "dev_eui,name,model,commune,site,service,latitude,longitude,app_s_key\n";

    fn errors(text: &str, known: &Known) -> Vec<(u64, Option<String>)> {
        match parse(text.as_bytes(), known) {
            Err(ImportError::Invalid(e)) => e.into_iter().map(|e| (e.line, e.column)).collect(),
            other => panic!("expected errors, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_good_file() {
        let text = format!(
            "{HEADER}a81758fffe0312ab,Classe CE1,elsys-ers-co2,42218,École Jules Ferry,air-quality-schools,45.44,4.38,\n\
             A8-17-58-FF-FE-03-12-AC, Place 1 ,tekzitel-tekzipark,42187,\"Parking, gare\",smart-parking,46.04,4.07,000102030405060708090a0b0c0d0e0f\n"
        );
        let rows = parse(text.as_bytes(), &known()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].site, "École Jules Ferry");
        assert_eq!(rows[0].app_s_key, None);
        assert_eq!(rows[1].dev_eui.to_string(), "a81758fffe0312ac");
        assert_eq!(rows[1].name, "Place 1");
        assert_eq!(rows[1].site, "Parking, gare");
        assert!(rows[1].app_s_key.is_some());
        assert_eq!((rows[1].latitude, rows[1].longitude), (46.04, 4.07));
    }

    #[test]
    fn columns_in_any_order_app_s_key_optional_and_semicolons() {
        let text = "Commune;DEV_EUI;name;model;site;service;longitude;latitude\n\
                    42218;a81758fffe0312ab;x;elsys-ers-co2;École;air-quality-schools;4,38;45,44\n";
        let rows = parse(text.as_bytes(), &known()).unwrap();
        assert_eq!((rows[0].latitude, rows[0].longitude), (45.44, 4.38));
        assert_eq!(rows[0].commune, "42218");
    }

    #[test]
    fn reports_every_bad_line_and_column() {
        let text = format!(
            "{HEADER}\
             a81758fffe0312ab,ok,elsys-ers-co2,42218,S,air-quality-schools,45.4,4.3,\n\
             a81758fffe03,bad eui,elsys-ers-co2,42218,S,air-quality-schools,45.4,4.3,\n\
             a81758fffe0312ac,bad model,no-such-model,42218,S,air-quality-schools,45.4,4.3,\n\
             a81758fffe0312ad,bad commune,elsys-ers-co2,99999,S,air-quality-schools,45.4,4.3,\n\
             a81758fffe0312ae,bad service,elsys-ers-co2,42218,S,no-such-service,45.4,4.3,\n\
             a81758fffe0312ab,duplicate,elsys-ers-co2,42218,S,air-quality-schools,45.4,4.3,\n\
             a81758fffe0312af,bad coordinates,elsys-ers-co2,42218,S,air-quality-schools,91,east,\n\
             a81758fffe0312b0,bad key,elsys-ers-co2,42218,S,air-quality-schools,45.4,4.3,00112233\n\
             a81758fffe0312b1,,elsys-ers-co2,42218,,air-quality-schools,45.4,4.3,\n\
             a81758fffe0312b2,short line\n"
        );
        let col = |c: &str| Some(c.to_owned());
        assert_eq!(
            errors(&text, &known()),
            vec![
                (3, col("dev_eui")),
                (4, col("model")),
                (5, col("commune")),
                (6, col("service")),
                (7, col("dev_eui")),
                (8, col("latitude")),
                (8, col("longitude")),
                (9, col("app_s_key")),
                (10, col("name")),
                (10, col("site")),
                (11, None),
            ]
        );
    }

    #[test]
    fn app_s_key_needs_a_master_key() {
        let text = format!(
            "{HEADER}a81758fffe0312ab,x,elsys-ers-co2,42218,S,air-quality-schools,45.4,4.3,000102030405060708090a0b0c0d0e0f\n"
        );
        let no_key = Known { master_key: false, ..known() };
        assert_eq!(errors(&text, &no_key), vec![(2, Some("app_s_key".to_owned()))]);
    }

    #[test]
    fn header_problems_are_reported_on_line_1() {
        let text = "dev_eui,name,modle,commune,site,service,latitude,latitude\n";
        let mut got = errors(text, &known());
        got.sort();
        let col = |c: &str| (1, Some(c.to_owned()));
        assert_eq!(got, vec![col("latitude"), col("longitude"), col("model"), col("modle")]);
        assert_eq!(errors("", &known()).len(), REQUIRED_COLUMNS.len());
    }

    #[test]
    fn a_header_only_file_has_no_rows() {
        assert_eq!(parse(HEADER.as_bytes(), &known()).unwrap(), vec![]);
    }

    #[test]
    fn coordinates() {
        assert_eq!(coordinate("-90", 90.0, false), Ok(-90.0));
        assert_eq!(coordinate("4,5", 180.0, true), Ok(4.5));
        assert!(coordinate("4,5", 180.0, false).is_err());
        assert!(coordinate("NaN", 90.0, false).is_err());
        assert!(coordinate("inf", 180.0, false).is_err());
        assert!(coordinate("180.5", 180.0, false).is_err());
        assert_eq!(coordinate("", 90.0, false), Err("empty".into()));
    }
}
