//! Device-model manifests: the data that describes a model (vendor, model, category,
//! LoRaWAN class, which decoder and how its output maps to canonical metrics), one TOML
//! file per model. The built-in models are the files of `decoders/manifests/`, compiled
//! in; operators add others at run time (`roc42 models add <manifest>`), with a JS codec.
//!
//! ```toml
//! id = "acme-co2"                  # lower-case letters, digits and '-'
//! vendor = "Acme"
//! model = "CO2 Sensor"
//! category = "air_quality"         # air_quality | energy | parking
//! lorawan_class = "A"              # A | B | C (default A)
//! uplink_port = 1                  # the FPort measurements come on
//! description = "Indoor CO2, temperature and humidity"
//! metrics = ["air.co2", "air.temperature", "air.relative_humidity"]
//!
//! [decoder]
//! js = "acme-co2.js"               # or: native = "elsys"
//! [[decoder.mapping]]              # JS codecs without normalizeUplink
//! field = "co2"
//! metric = "air.co2"
//! scale = 1.0                      # vendor unit -> metric unit (default 1)
//!
//! [[examples]]                     # checked when the model is added
//! f_port = 1
//! hex = "01a400e12d"
//! readings = { "air.co2" = 420.0 }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Category;
use crate::Metric;

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid TOML for a model: {0}")]
    Syntax(String),
    #[error("model id {0:?} must be 3 to 64 lower-case letters, digits or '-', starting with a letter")]
    BadId(String),
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("lorawan_class {0:?} must be A, B or C")]
    BadClass(String),
    #[error("unknown metric {0:?} (see the metric catalogue: `roc42 models --metrics`, GET /api/v1/metrics)")]
    UnknownMetric(String),
    #[error("unknown native decoder {0:?}")]
    UnknownNative(String),
    #[error("scale of field {field:?} must be a finite, non-zero number")]
    BadScale { field: String },
    #[error("the manifest names JS codec {0:?} but its source was not given")]
    MissingCodec(String),
    #[error("example {index}: {reason}")]
    BadExample { index: usize, reason: String },
    #[error("codec does not run: {0}")]
    Codec(String),
}

/// A model manifest, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub vendor: String,
    pub model: String,
    pub category: Category,
    #[serde(default = "class_a")]
    pub lorawan_class: String,
    pub uplink_port: u8,
    #[serde(default)]
    pub description: String,
    /// Canonical metrics the model measures (documentation and the catalogue).
    #[serde(default)]
    pub metrics: Vec<String>,
    pub decoder: DecoderSpec,
    /// Frames with the readings they must give; checked when the model is added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
}

fn class_a() -> String {
    "A".into()
}

/// Which decoder reads the model's frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum DecoderSpec {
    /// A decoder compiled into roc42, by name.
    Native { native: String },
    /// A JS codec file (relative to the manifest), and the fields to take from its
    /// `data` when it has no `normalizeUplink`.
    Js {
        js: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mapping: Vec<MappingSpec>,
    },
}

/// One field of a JS codec's `data` and the canonical metric it goes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    pub field: String,
    pub metric: String,
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

/// A frame and the readings (metric name -> value) it must decode to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub f_port: u8,
    pub hex: String,
    #[serde(default)]
    pub readings: BTreeMap<String, f64>,
}

impl Manifest {
    /// Parses and validates a manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_owned()))?;
        m.validate()?;
        Ok(m)
    }

    /// Checks what can be checked without running the decoder.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let id_ok = (3..=64).contains(&self.id.len())
            && self.id.starts_with(|c: char| c.is_ascii_lowercase())
            && self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(ManifestError::BadId(self.id.clone()));
        }
        for (field, value) in [("vendor", &self.vendor), ("model", &self.model)] {
            if value.trim().is_empty() {
                return Err(ManifestError::Empty { field });
            }
        }
        if !matches!(self.lorawan_class.as_str(), "A" | "B" | "C") {
            return Err(ManifestError::BadClass(self.lorawan_class.clone()));
        }
        for name in &self.metrics {
            metric(name)?;
        }
        match &self.decoder {
            DecoderSpec::Native { native } => {
                if crate::models::native(native).is_none() {
                    return Err(ManifestError::UnknownNative(native.clone()));
                }
            }
            DecoderSpec::Js { js, mapping } => {
                if js.trim().is_empty() {
                    return Err(ManifestError::Empty { field: "decoder.js" });
                }
                for m in mapping {
                    metric(&m.metric)?;
                    if !m.scale.is_finite() || m.scale == 0.0 {
                        return Err(ManifestError::BadScale { field: m.field.clone() });
                    }
                }
            }
        }
        for (index, ex) in self.examples.iter().enumerate() {
            if decode_hex(&ex.hex).is_none() {
                return Err(ManifestError::BadExample { index, reason: format!("{:?} is not hex", ex.hex) });
            }
            for name in ex.readings.keys() {
                metric(name).map_err(|e| ManifestError::BadExample { index, reason: e.to_string() })?;
            }
        }
        Ok(())
    }

    /// The decoder kind, as listed by `roc42 models --json` and the API.
    pub fn decoder_kind(&self) -> &'static str {
        match self.decoder {
            DecoderSpec::Native { .. } => "native",
            DecoderSpec::Js { .. } => "js",
        }
    }
}

/// The catalogue metric of a name, or why not.
pub(crate) fn metric(name: &str) -> Result<Metric, ManifestError> {
    Metric::from_name(name).ok_or_else(|| ManifestError::UnknownMetric(name.to_owned()))
}

/// Hex (upper or lower case, spaces allowed) to bytes.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JS: &str = r#"
        id = "acme-co2"
        vendor = "Acme"
        model = "CO2 Sensor"
        category = "air_quality"
        uplink_port = 1
        metrics = ["air.co2"]
        [decoder]
        js = "acme-co2.js"
        [[decoder.mapping]]
        field = "co2"
        metric = "air.co2"
        [[examples]]
        f_port = 1
        hex = "01 A4"
        readings = { "air.co2" = 420.0 }
    "#;

    #[test]
    fn a_js_manifest_parses_with_defaults() {
        let m = Manifest::parse(JS).unwrap();
        assert_eq!(m.lorawan_class, "A");
        assert_eq!(m.decoder_kind(), "js");
        let DecoderSpec::Js { js, mapping } = &m.decoder else { panic!("{:?}", m.decoder) };
        assert_eq!((js.as_str(), mapping[0].scale), ("acme-co2.js", 1.0));
        assert_eq!(decode_hex(&m.examples[0].hex), Some(vec![1, 0xa4]));
    }

    #[test]
    fn bad_manifests_say_why() {
        let cases = [
            (JS.replace("acme-co2\"", "Acme CO2\""), "model id"),
            (JS.replace("\"air.co2\"]", "\"air.cox\"]"), "unknown metric \"air.cox\""),
            (JS.replace("uplink_port = 1", "uplink_port = 1\nlorawan_class = \"D\""), "lorawan_class"),
            (JS.replace("field = \"co2\"", "field = \"co2\"\nscale = 0.0"), "scale of field"),
            (JS.replace("hex = \"01 A4\"", "hex = \"01A\""), "example 0"),
            (JS.replace("vendor = \"Acme\"", "vendor = \" \""), "vendor must not be empty"),
            (JS.replace("js = \"acme-co2.js\"", "native = \"nope\""), "not valid TOML"),
            (JS.replace("uplink_port = 1", "uplink_port = 1\ncolour = 1"), "unknown field"),
            (JS.replace("uplink_port = 1", "uplink_port = 300"), "not valid TOML"),
        ];
        for (text, want) in cases {
            let e = Manifest::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    #[test]
    fn native_decoders_are_checked_by_name() {
        let text = "id = \"x-y\"\nvendor = \"X\"\nmodel = \"Y\"\ncategory = \"parking\"\nuplink_port = 1\n[decoder]\nnative = \"no-such\"";
        assert_eq!(Manifest::parse(text), Err(ManifestError::UnknownNative("no-such".into())));
    }
}
