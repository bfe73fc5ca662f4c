//! The device models this crate decodes: who makes them, what they measure and which
//! decoder reads their frames. Each built-in model is a manifest in
//! `decoders/manifests/` (see [`crate::manifest`]), compiled in; `roc42 models`, the
//! API's model catalogue, the docs and the service's registry all read these.

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use crate::js::{FieldMap, JsCodec, JsInput, JsPool};
use crate::manifest::{self, DecoderSpec, Example, Manifest, ManifestError};
use crate::{models, DecodeError, Metric, Reading, Readings};

/// What a model is deployed for (the services of the catalogue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    AirQuality,
    Energy,
    Parking,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::AirQuality, Category::Energy, Category::Parking];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::AirQuality => "air_quality",
            Category::Energy => "energy",
            Category::Parking => "parking",
        }
    }
}

pub(crate) type DecodeFn = fn(u8, &[u8], &mut Readings) -> Result<(), DecodeError>;

/// A decoder compiled into this crate, by the name manifests give it.
#[derive(Clone, Copy)]
pub struct NativeDecoder {
    pub name: &'static str,
    pub(crate) f: DecodeFn,
}

impl std::fmt::Debug for NativeDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NativeDecoder({})", self.name)
    }
}

/// Which decoder reads a model's frames.
#[derive(Debug, Clone)]
pub enum Decoder {
    Native(NativeDecoder),
    /// A sandboxed JS codec; run it through a [`crate::js::JsPool`].
    Js(Arc<JsCodec>),
}

/// A device model, built from its manifest.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Stable id used in the device registry, e.g. `milesight-am307`.
    pub id: String,
    pub vendor: String,
    /// The vendor's model name, e.g. `AM307`.
    pub model: String,
    pub category: Category,
    /// LoRaWAN device class the model runs in (`A`, `B` or `C`).
    pub lorawan_class: String,
    /// FPort the model sends its measurements on (used by the simulator and docs).
    pub uplink_port: u8,
    pub description: String,
    /// The canonical metrics the model measures.
    pub metrics: Vec<Metric>,
    /// Compiled in (a manifest of `decoders/manifests/`), rather than added by an operator.
    pub builtin: bool,
    pub decoder: Decoder,
}

impl ModelInfo {
    /// Builds a model from its manifest and, for a JS decoder, the codec's source.
    pub fn from_manifest(m: &Manifest, codec_source: Option<&str>) -> Result<Self, ManifestError> {
        m.validate()?;
        let decoder = match &m.decoder {
            DecoderSpec::Native { native } => {
                Decoder::Native(models::native(native).ok_or_else(|| ManifestError::UnknownNative(native.clone()))?)
            }
            DecoderSpec::Js { js, mapping } => {
                let source = codec_source.ok_or_else(|| ManifestError::MissingCodec(js.clone()))?;
                let mapping = mapping
                    .iter()
                    .map(|f| {
                        Ok(FieldMap { field: f.field.clone(), metric: manifest::metric(&f.metric)?, scale: f.scale })
                    })
                    .collect::<Result<Vec<_>, ManifestError>>()?;
                Decoder::Js(Arc::new(JsCodec::new(m.id.clone(), source, mapping)))
            }
        };
        let metrics = m.metrics.iter().map(|n| manifest::metric(n)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: m.id.clone(),
            vendor: m.vendor.clone(),
            model: m.model.clone(),
            category: m.category,
            lorawan_class: m.lorawan_class.clone(),
            uplink_port: m.uplink_port,
            description: m.description.clone(),
            metrics,
            builtin: false,
            decoder,
        })
    }

    /// `native` or `js`.
    pub fn decoder_kind(&self) -> &'static str {
        match self.decoder {
            Decoder::Native(_) => "native",
            Decoder::Js(_) => "js",
        }
    }

    /// Decodes one frame with whichever decoder the model has (`js` runs JS codecs).
    pub fn decode(
        &self,
        f_port: u8,
        bytes: &[u8],
        recv_time_ms: i64,
        js: &JsPool,
    ) -> Result<Vec<Reading>, DecodeError> {
        match &self.decoder {
            Decoder::Native(_) => crate::decode_with(self, f_port, bytes),
            Decoder::Js(codec) => {
                js.decode_blocking(Arc::clone(codec), JsInput { f_port, bytes: bytes.to_vec(), recv_time_ms })
            }
        }
    }

    /// Checks a model before it is accepted: a JS codec must load and answer (a frame
    /// it refuses is fine, a codec that does not compile, loops or exhausts memory is
    /// not), and each example must decode to its readings (live values, within 1e-6).
    pub fn check(&self, examples: &[Example], js: &JsPool) -> Result<(), ManifestError> {
        if examples.is_empty() {
            if let Err(e) = self.decode(self.uplink_port, &[], 0, js) {
                let fatal = matches!(&e, DecodeError::CodecTimeout(_) | DecodeError::CodecMemory(_))
                    || matches!(&e, DecodeError::Codec(m) if m.starts_with("codec does not load")
                        || m.starts_with("cannot create"));
                if fatal {
                    return Err(ManifestError::Codec(e.to_string()));
                }
            }
        }
        for (index, ex) in examples.iter().enumerate() {
            let bad = |reason: String| ManifestError::BadExample { index, reason };
            let bytes = manifest::decode_hex(&ex.hex).ok_or_else(|| bad(format!("{:?} is not hex", ex.hex)))?;
            let readings = self.decode(ex.f_port, &bytes, 0, js).map_err(|e| bad(e.to_string()))?;
            for (name, want) in &ex.readings {
                let metric = manifest::metric(name).map_err(|e| bad(e.to_string()))?;
                let got = readings.iter().find(|r| r.metric == metric && r.age.is_zero()).map(|r| r.value);
                match got {
                    Some(v) if (v - want).abs() <= 1e-6 * want.abs().max(1.0) => {}
                    Some(v) => return Err(bad(format!("{name} decoded to {v}, the example says {want}"))),
                    None => return Err(bad(format!("no {name} reading (the example says {want}); got {readings:?}"))),
                }
            }
        }
        Ok(())
    }
}

include!(concat!(env!("OUT_DIR"), "/manifests.rs"));

/// The manifests compiled in: (file name, text), sorted by file name.
pub fn builtin_manifests() -> &'static [(&'static str, &'static str)] {
    BUILTIN_MANIFESTS
}

static BUILTIN: LazyLock<Vec<ModelInfo>> = LazyLock::new(|| {
    // Every built-in manifest is checked by this module's tests, so none is left out
    // here in a released build.
    let mut all: Vec<ModelInfo> = BUILTIN_MANIFESTS
        .iter()
        .filter_map(|(_, text)| Manifest::parse(text).ok())
        .filter_map(|m| ModelInfo::from_manifest(&m, None).ok())
        .map(|mut m| {
            m.builtin = true;
            m
        })
        .collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
});

/// Every built-in model, sorted by id.
pub fn builtin() -> &'static [ModelInfo] {
    &BUILTIN
}

/// Looks a built-in model up by id.
pub fn get(id: &str) -> Option<&'static ModelInfo> {
    let all = builtin();
    all.binary_search_by(|m| m.id.as_str().cmp(id)).ok().and_then(|i| all.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_builtin_manifest_builds_and_is_named_after_its_id() {
        for (file, text) in builtin_manifests() {
            let m = Manifest::parse(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(*file, format!("{}.toml", m.id), "a manifest file is named after its model id");
            assert!(matches!(m.decoder, DecoderSpec::Native { .. }), "{file}: built-in models are native");
            ModelInfo::from_manifest(&m, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        assert_eq!(builtin().len(), builtin_manifests().len());
    }

    #[test]
    fn lookup_works_and_ids_are_unique() {
        let mut seen = HashSet::new();
        for m in builtin() {
            assert!(seen.insert(m.id.as_str()), "duplicate {}", m.id);
            assert_eq!(get(&m.id).map(|x| x.id.as_str()), Some(m.id.as_str()));
            assert!(m.builtin);
        }
        assert!(get("nope").is_none());
    }

    #[test]
    fn every_category_has_a_model_and_every_native_decoder_is_used() {
        for c in Category::ALL {
            assert!(builtin().iter().any(|m| m.category == c), "{c:?}");
        }
        for name in models::native_names() {
            let used = builtin().iter().any(|m| matches!(&m.decoder, Decoder::Native(d) if d.name == name));
            assert!(used, "native decoder {name} has no manifest");
        }
    }
}
