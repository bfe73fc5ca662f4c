//! Device models as the decode stage sees them: the built-in ones (compiled in), then
//! those operators added (`device_model` table), reloaded every TTL and at once when a
//! device names a model not loaded yet (at most once a second), so a model added or
//! changed is used without a restart.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roc42_decoders::js::{JsLimits, JsPool};
use roc42_decoders::manifest::{DecoderSpec, Manifest, ManifestError};
use roc42_decoders::model::{self, ModelInfo};
use sqlx::PgPool;
use tracing::{debug, warn};

use crate::store;
use crate::store::model::StoredModel;

/// Reloads triggered by an unknown model id happen at most this often.
const MISS_RELOAD_EVERY: Duration = Duration::from_secs(1);

/// A model, built-in or added.
#[derive(Debug, Clone)]
pub enum ModelRef {
    Builtin(&'static ModelInfo),
    Added(Arc<ModelInfo>),
}

impl Deref for ModelRef {
    type Target = ModelInfo;

    fn deref(&self) -> &ModelInfo {
        match self {
            ModelRef::Builtin(m) => m,
            ModelRef::Added(m) => m,
        }
    }
}

pub struct ModelCatalog {
    pool: PgPool,
    ttl: Duration,
    added: HashMap<String, Arc<ModelInfo>>,
    loaded_at: Instant,
    miss_reload_at: Option<Instant>,
}

impl ModelCatalog {
    pub async fn load(pool: PgPool, ttl: Duration) -> Result<Self, sqlx::Error> {
        let added = load_added(&pool).await?;
        Ok(Self { pool, ttl, added, loaded_at: Instant::now(), miss_reload_at: None })
    }

    /// The model of this id, if known.
    pub async fn get(&mut self, id: &str) -> Result<Option<ModelRef>, sqlx::Error> {
        if let Some(m) = model::get(id) {
            return Ok(Some(ModelRef::Builtin(m)));
        }
        let stale = self.loaded_at.elapsed() >= self.ttl;
        let miss = !self.added.contains_key(id) && self.miss_reload_at.is_none_or(|t| t.elapsed() >= MISS_RELOAD_EVERY);
        if stale || miss {
            if miss {
                self.miss_reload_at = Some(Instant::now());
            }
            self.added = load_added(&self.pool).await?;
            self.loaded_at = Instant::now();
        }
        Ok(self.added.get(id).cloned().map(ModelRef::Added))
    }
}

/// The added models that build; one that does not (its manifest no longer validates
/// against this build, say) is left out with a warning, and its devices decode as
/// `unknown_model` with that reason in the logs.
async fn load_added(pool: &PgPool) -> Result<HashMap<String, Arc<ModelInfo>>, sqlx::Error> {
    let stored = store::model::list(pool).await?;
    let mut out = HashMap::with_capacity(stored.len());
    for s in stored {
        match ModelInfo::from_manifest(&s.manifest, s.codec.as_deref()) {
            Ok(m) => {
                out.insert(s.id, Arc::new(m));
            }
            Err(e) => warn!(model = %s.id, error = %e, "Stored device model does not build; skipped."),
        }
    }
    if !out.is_empty() {
        debug!(models = out.len(), "Loaded operator-added device models.");
    }
    Ok(out)
}

/// Why a model was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddModelError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0:?} is a built-in model id; give the model an id of its own")]
    Builtin(String),
    #[error("cannot check the codec: {0}")]
    Check(String),
    #[error("store the model: {0}")]
    Store(#[from] sqlx::Error),
}

/// Adds a model or replaces an added one: the manifest is validated, the JS codec (if
/// any) is compiled and run in a sandbox of its own under `limits`, the manifest's
/// examples must decode to their readings, and only then is it stored. Running
/// pipelines pick it up within `codecs.model_cache_ttl_s` (at once for a new id).
pub async fn add(
    pool: &PgPool,
    manifest: Manifest,
    codec: Option<String>,
    limits: JsLimits,
) -> Result<StoredModel, AddModelError> {
    if model::get(&manifest.id).is_some() {
        return Err(AddModelError::Builtin(manifest.id));
    }
    let info = ModelInfo::from_manifest(&manifest, codec.as_deref())?;
    let examples = manifest.examples.clone();
    tokio::task::spawn_blocking(move || {
        let js = JsPool::start(JsLimits { threads: 1, ..limits }).map_err(|e| AddModelError::Check(e.to_string()))?;
        info.check(&examples, &js).map_err(AddModelError::from)
    })
    .await
    .map_err(|e| AddModelError::Check(e.to_string()))??;
    let codec = match manifest.decoder {
        DecoderSpec::Js { .. } => codec,
        DecoderSpec::Native { .. } => None,
    };
    Ok(store::model::upsert(pool, &manifest, codec.as_deref()).await?)
}

/// Every model: the built-in ones, then those added (by id). A stored model that does
/// not build is left out (see the log).
pub async fn list_all(pool: &PgPool) -> Result<Vec<ModelRef>, sqlx::Error> {
    let added = load_added(pool).await?;
    let mut added: Vec<ModelRef> = added.into_values().map(ModelRef::Added).collect();
    added.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(model::builtin().iter().map(ModelRef::Builtin).chain(added).collect())
}

/// One model by id, built-in or added.
pub async fn find(pool: &PgPool, id: &str) -> Result<Option<ModelRef>, sqlx::Error> {
    if let Some(m) = model::get(id) {
        return Ok(Some(ModelRef::Builtin(m)));
    }
    let Some(s) = store::model::get(pool, id).await? else { return Ok(None) };
    match ModelInfo::from_manifest(&s.manifest, s.codec.as_deref()) {
        Ok(m) => Ok(Some(ModelRef::Added(Arc::new(m)))),
        Err(e) => {
            warn!(model = %s.id, error = %e, "Stored device model does not build.");
            Ok(None)
        }
    }
}

/// The JSON line `roc42 models --json` prints for a model (and the API's catalogue).
pub fn describe(m: &ModelInfo) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "vendor": m.vendor,
        "model": m.model,
        "category": m.category.as_str(),
        "decoder": m.decoder_kind(),
        "lorawan_class": m.lorawan_class,
        "uplink_port": m.uplink_port,
        "metrics": m.metrics.iter().map(|x| x.name()).collect::<Vec<_>>(),
        "builtin": m.builtin,
    })
}
