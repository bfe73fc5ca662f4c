//! roc42-decoders: turns LoRaWAN sensor payloads into canonical, unit-carrying readings.
//!
//! A pure library (no I/O, no async): `decode(model, f_port, bytes)` picks the device
//! model's decoder and returns [`Reading`]s named from the [`metric`] catalogue.
//!
//! Layout:
//! - [`metric`]: the canonical metric catalogue (name, unit, kind, description);
//! - [`manifest`]: device-model manifests (`decoders/manifests/*.toml` for the built-in
//!   models), the data that says what a model is and which decoder reads it;
//! - [`model`]: the device models this crate knows, built from their manifests;
//! - `models/`: one file per vendor decoder family;
//! - `cursor`: the bounds-checked byte reader every decoder uses;
//! - [`js`]: the sandboxed runtime for JavaScript codecs.

mod cursor;
pub mod js;
pub mod manifest;
pub mod metric;
pub mod model;
mod models;

use std::time::Duration;

pub use metric::{Metric, MetricKind};
pub use model::{Category, ModelInfo};

/// One measurement decoded from a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The canonical metric; its unit is `metric.unit()`.
    pub metric: Metric,
    /// The value in the metric's unit.
    pub value: f64,
    /// How long before the uplink's receive time the value was measured: zero for
    /// live values, non-zero for history samples carried in the same frame.
    pub age: Duration,
}

impl Reading {
    /// A live reading, measured when the frame was sent.
    pub fn now(metric: Metric, value: f64) -> Self {
        Self { metric, value, age: Duration::ZERO }
    }
}

/// Why a frame could not be decoded. Every decoder returns one of these and never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No device model of that id is known.
    #[error("unknown device model {0:?}")]
    UnknownModel(String),
    /// The frame ended before a field did.
    #[error("frame too short: needed {needed} bytes at offset {offset}, have {len}")]
    TooShort { offset: usize, needed: usize, len: usize },
    /// The model sends nothing on this FPort.
    #[error("unknown FPort {0} for this model")]
    UnknownPort(u8),
    /// A channel or field type this decoder does not know, so the rest cannot be framed.
    #[error("unknown field 0x{code:02x} at offset {offset}")]
    UnknownField { code: u16, offset: usize },
    /// A field whose value is outside what the device can send.
    #[error("bad value for {field}: {reason}")]
    BadValue { field: &'static str, reason: String },
    /// An empty frame on a port that carries data.
    #[error("empty frame")]
    Empty,
    /// The model's JS codec failed: it threw, returned errors, gave no `data`, or does
    /// not load.
    #[error("codec error: {0}")]
    Codec(String),
    /// The model's JS codec ran past its time limit and was stopped.
    #[error("codec stopped: it ran past its time limit of {} ms", .0.as_millis())]
    CodecTimeout(Duration),
    /// The model's JS codec allocated past its runtime's memory limit and was stopped.
    #[error("codec stopped: it allocated past its memory limit of {0} bytes")]
    CodecMemory(usize),
}

/// Decodes one uplink frame of device model `model` (a [`ModelInfo::id`]).
///
/// Frames that carry no measurement (device info, configuration) decode to an empty
/// vector, not an error. A metric repeated within one frame keeps its last value.
pub fn decode(model: &str, f_port: u8, bytes: &[u8]) -> Result<Vec<Reading>, DecodeError> {
    let info = model::get(model).ok_or_else(|| DecodeError::UnknownModel(model.to_owned()))?;
    decode_with(info, f_port, bytes)
}

/// Decodes with an already resolved model (saves the lookup on the hot path). Models
/// with a JS codec decode through a [`js::JsPool`] (or [`ModelInfo::decode`]) instead.
pub fn decode_with(info: &ModelInfo, f_port: u8, bytes: &[u8]) -> Result<Vec<Reading>, DecodeError> {
    match &info.decoder {
        model::Decoder::Native(d) => {
            let mut out = Readings::default();
            (d.f)(f_port, bytes, &mut out)?;
            Ok(out.0)
        }
        model::Decoder::Js(_) => {
            Err(DecodeError::Codec(format!("model {} has a JS codec: decode it through a JsPool", info.id)))
        }
    }
}

/// Fuzzing entry: the `cargo fuzz` target (`decoders/fuzz`) and the no-panic property
/// test both call it. The first byte picks a built-in model, the second the FPort (with
/// the top bit set: the model's own port, so decoders get past the port check), the rest
/// is the frame. It panics only if a decoder breaks its contract (panics, or gives a
/// reading that is not a finite number).
#[doc(hidden)]
pub fn fuzz_frame(data: &[u8]) {
    let all = model::builtin();
    let (Some(&pick), Some(&port)) = (data.first(), data.get(1)) else { return };
    let Some(info) = all.get(usize::from(pick) % all.len().max(1)) else { return };
    let f_port = if port & 0x80 != 0 { info.uplink_port } else { port };
    if let Ok(readings) = decode_with(info, f_port, data.get(2..).unwrap_or_default()) {
        for r in readings {
            assert!(r.value.is_finite(), "{} gave a non-finite reading {r:?}", info.id);
        }
    }
}

/// The readings of one frame, as decoders build them: a metric set twice at the same
/// age keeps its last value (vendors repeat fields, and the last one is current).
#[derive(Debug, Default)]
pub(crate) struct Readings(Vec<Reading>);

impl Readings {
    pub(crate) fn push(&mut self, metric: Metric, value: f64) {
        self.push_aged(metric, value, Duration::ZERO);
    }

    pub(crate) fn push_aged(&mut self, metric: Metric, value: f64, age: Duration) {
        if let Some(r) = self.0.iter_mut().find(|r| r.metric == metric && r.age == age) {
            r.value = value;
        } else {
            self.0.push(Reading { metric, value, age });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_is_a_typed_error() {
        assert_eq!(decode("acme-nothing", 1, &[1, 2]), Err(DecodeError::UnknownModel("acme-nothing".into())));
    }

    #[test]
    fn repeated_metric_keeps_last_value() {
        let mut r = Readings::default();
        r.push(Metric::PulseCount, 1.0);
        r.push(Metric::PulseCount, 2.0);
        r.push_aged(Metric::PulseCount, 3.0, Duration::from_secs(60));
        assert_eq!(r.0.len(), 2);
        assert_eq!(r.0[0].value, 2.0);
    }
}
