//! Device onboarding for operators: create, update (and move), retire; bulk import of a
//! CSV file; the queue of unknown devices (DevEUIs heard but not registered) and their
//! claim, after which their stored uplinks are decoded from the raw frames.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::devices::parse_eui;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::lorawan::{AppSKey, DevEui};
use crate::onboarding::{self, DeviceInput, ImportError, ImportSummary, Known};
use crate::pipeline::models;
use crate::pipeline::reprocess::ReprocessSummary;
use crate::pipeline::Outcome;
use crate::store::device::{self, Device, DeviceChange};
use crate::store::domain;
use crate::store::uplink::{self, Selection, UnknownDevice};

/// Largest CSV file the import route takes.
pub const MAX_IMPORT_BYTES: usize = 32 << 20;

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Invalid(lines) => {
                ApiError::Invalid { message: format!("{} bad line(s); nothing was written", lines.len()), lines }
            }
            ImportError::Read(e) => ApiError::BadRequest(format!("the file is not CSV: {e}")),
            ImportError::Database(e) => e.into(),
        }
    }
}

/// A device registered, and what became of the uplinks it had sent before.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub device: Device,
    /// Its uplinks stored while it was unknown, decoded now.
    pub reprocessed: ReprocessSummary,
}

/// Registers one device (reactivating a retired one), then decodes the uplinks it sent
/// while unknown.
async fn register(s: &AppState, input: &DeviceInput) -> Result<Registered, ApiError> {
    let known = Known::load(&s.pool, s.sealer.is_some()).await?;
    let row = input.check(&known)?;
    onboarding::apply(&s.pool, std::slice::from_ref(&row), s.sealer.as_ref(), true, |_| {}).await?;
    let sel = Selection {
        dev_euis: Some(vec![row.dev_eui.to_string()]),
        outcome: Some(Outcome::UnknownDevice.as_str()),
        ..Selection::default()
    };
    let reprocessed = s.reprocessor().run(&sel, |_| {}).await.map_err(|e| ApiError::Internal(e.into()))?;
    let device = device::get(&s.pool, None, row.dev_eui)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no device {}", row.dev_eui)))?;
    Ok(Registered { device, reprocessed })
}

/// Registers a device at a site (created if new) under a service. A DevEUI already in
/// service answers 409; a retired one is put back in service. Uplinks it sent before are
/// decoded now.
#[utoipa::path(post, path = "/api/v1/devices", tag = "onboarding", request_body = DeviceInput,
    responses((status = 201, body = Registered), (status = 409, body = ErrorBody),
        (status = 422, description = "Invalid fields, each reported", body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    Json(input): Json<DeviceInput>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    if let Ok(eui) = input.dev_eui.parse::<DevEui>() {
        if device::is_active(&s.pool, eui).await? {
            return Err(ApiError::Conflict(format!("device {eui} is registered already; PATCH it")));
        }
    }
    Ok((StatusCode::CREATED, Json(register(&s, &input).await?)))
}

/// Fields of a device to change; absent ones are left as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceUpdate {
    pub name: Option<String>,
    /// Model id (see `GET /api/v1/models`).
    pub model: Option<String>,
    /// Moves the device to another commune, off its site (unless `site_id` is given).
    pub commune: Option<String>,
    /// Moves the device to this site, and to the site's commune.
    pub site_id: Option<i64>,
    /// Service id.
    pub service: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// A new AppSKey, 32 hex digits (stored sealed).
    pub app_s_key: Option<String>,
}

/// Updates a device: renames it, changes its model or service, moves it to another site
/// or commune or position, or gives it an AppSKey.
#[utoipa::path(patch, path = "/api/v1/devices/{dev_eui}", tag = "onboarding", request_body = DeviceUpdate,
    params(("dev_eui" = String, Path, description = "16 hex digits")),
    responses((status = 200, body = Device), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Path(dev_eui): Path<String>,
    Json(u): Json<DeviceUpdate>,
) -> Result<Json<Device>, ApiError> {
    let eui = parse_eui(&dev_eui)?;
    if device::get(&s.pool, None, eui).await?.is_none() {
        return Err(ApiError::NotFound(format!("no device {eui}")));
    }
    if u.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::BadRequest("name cannot be empty".into()));
    }
    if let Some(m) = &u.model {
        if models::find(&s.pool, m).await?.is_none() {
            return Err(ApiError::BadRequest(format!("unknown model {m:?}; GET /api/v1/models lists them")));
        }
    }
    if let Some(c) = &u.commune {
        if domain::get_commune(&s.pool, c).await?.is_none() {
            return Err(ApiError::BadRequest(format!("unknown commune {c:?}")));
        }
    }
    if let Some(id) = u.site_id {
        let site = domain::get_site(&s.pool, None, id).await?;
        match (site, &u.commune) {
            (None, _) => return Err(ApiError::BadRequest(format!("unknown site {id}"))),
            (Some(site), Some(c)) if site.commune != *c => {
                return Err(ApiError::BadRequest(format!("site {id} is in commune {}, not {c}", site.commune)))
            }
            _ => {}
        }
    }
    if let Some(svc) = &u.service {
        if domain::get_service(&s.pool, svc).await?.is_none() {
            return Err(ApiError::BadRequest(format!("unknown service {svc:?}")));
        }
    }
    super::sites::check_position(u.latitude, u.longitude)?;
    let app_s_key_sealed = match (&u.app_s_key, &s.sealer) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ApiError::BadRequest(
                "no master key is configured (ROC42_MASTER_KEY): AppSKeys cannot be stored".into(),
            ))
        }
        (Some(k), Some(sealer)) => {
            let key: AppSKey =
                k.parse().map_err(|e: crate::lorawan::InvalidAppSKey| ApiError::BadRequest(e.to_string()))?;
            Some(sealer.seal(&key, eui))
        }
    };
    let change = DeviceChange {
        name: u.name.map(|n| n.trim().to_owned()),
        model: u.model,
        commune: u.commune,
        site_id: u.site_id,
        service: u.service,
        latitude: u.latitude,
        longitude: u.longitude,
        app_s_key_sealed,
    };
    device::update(&s.pool, eui, &change).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no device {eui}")))
}

/// Retires a device: its history stays, and uplinks it still sends are kept as those of
/// an unknown device (claim it to put it back in service).
#[utoipa::path(post, path = "/api/v1/devices/{dev_eui}/retire", tag = "onboarding",
    params(("dev_eui" = String, Path, description = "16 hex digits")),
    responses((status = 200, body = Device), (status = 404, body = ErrorBody)))]
pub async fn retire(State(s): State<AppState>, Path(dev_eui): Path<String>) -> Result<Json<Device>, ApiError> {
    let eui = parse_eui(&dev_eui)?;
    device::retire(&s.pool, eui).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no device {eui}")))
}

/// Registers or updates the devices of a CSV file (the columns of `roc42 devices
/// import`: dev_eui, name, model, commune, site, service, latitude, longitude, and
/// optionally app_s_key). The whole file is checked first: any bad line answers 422 with
/// every bad line and nothing is written; a good file is written in one transaction.
#[utoipa::path(post, path = "/api/v1/devices/import", tag = "onboarding",
    request_body(content = String, content_type = "text/csv", description = "The CSV file (`,`, or `;` with decimal commas)"),
    responses((status = 200, body = ImportSummary), (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, description = "Every bad line", body = ErrorBody)))]
pub async fn import(State(s): State<AppState>, body: Bytes) -> Result<Json<ImportSummary>, ApiError> {
    let summary = onboarding::import(&s.pool, &body[..], s.sealer.as_ref(), |_| {}).await?;
    Ok(Json(summary))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UnknownQuery {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// DevEUIs to skip (default 0).
    pub offset: Option<i64>,
}

/// The unknown-device queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnknownList {
    pub devices: Vec<UnknownDevice>,
    /// DevEUIs in the queue, all pages.
    pub total: i64,
}

/// DevEUIs whose uplinks were stored while no device in service had them, the most
/// recently heard first: first and last seen, uplinks, the last payload and radio.
#[utoipa::path(get, path = "/api/v1/devices/unknown", tag = "onboarding", params(UnknownQuery),
    responses((status = 200, body = UnknownList), (status = 400, body = ErrorBody)))]
pub async fn unknown(State(s): State<AppState>, Query(q): Query<UnknownQuery>) -> Result<Json<UnknownList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let devices = uplink::list_unknown(&s.pool, None, limit, q.offset.unwrap_or(0).max(0)).await?;
    Ok(Json(UnknownList { devices, total: uplink::count_unknown(&s.pool).await? }))
}

/// Claims an unknown device: registers it (its DevEUI from the path; the body's
/// `dev_eui`, if any, must match) and decodes the uplinks stored while it was unknown.
#[utoipa::path(post, path = "/api/v1/devices/unknown/{dev_eui}/claim", tag = "onboarding", request_body = DeviceInput,
    params(("dev_eui" = String, Path, description = "16 hex digits")),
    responses((status = 200, body = Registered), (status = 404, description = "Not in the queue", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn claim(
    State(s): State<AppState>,
    Path(dev_eui): Path<String>,
    Json(mut input): Json<DeviceInput>,
) -> Result<Json<Registered>, ApiError> {
    let eui = parse_eui(&dev_eui)?;
    if !input.dev_eui.is_empty() && input.dev_eui.parse::<DevEui>().ok() != Some(eui) {
        return Err(ApiError::BadRequest("the body's dev_eui is not the path's".into()));
    }
    if uplink::list_unknown(&s.pool, Some(&eui.to_string()), 1, 0).await?.is_empty() {
        return Err(ApiError::NotFound(format!("no unknown device {eui}")));
    }
    input.dev_eui = eui.to_string();
    Ok(Json(register(&s, &input).await?))
}
