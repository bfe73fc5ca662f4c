//! Sandboxed JavaScript codecs: runs codecs written for The Things Network device
//! repository / ChirpStack (`decodeUplink({bytes, fPort, recvTime})` returning
//! `{data, warnings, errors}`, and `normalizeUplink({data})` when the codec has one)
//! unmodified, and turns their output into canonical [`Reading`]s.
//!
//! The sandbox (QuickJS through `rquickjs`): no I/O bindings at all (a bare ECMAScript
//! context), a time limit per call enforced by QuickJS's interrupt handler (the error
//! it raises cannot be caught by the codec), a memory limit per runtime, and a stack
//! limit. QuickJS runtimes are not `Send`, so [`JsPool`] keeps one runtime per dedicated
//! thread; each thread compiles a codec once (in a context of its own, so codecs never
//! see each other's globals) and reuses it until the codec's source changes.
//!
//! Owns: the pool and its workers (`pool`), one worker's engine (`engine`), and the
//! mapping of codec output to canonical metrics (`output`).

mod engine;
mod output;
mod pool;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

pub use output::normalized_metric;
pub use pool::{JsPool, JsRunner, Reply};

use crate::Metric;

/// Sandbox limits and pool size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsLimits {
    /// Wall-clock budget of one call (compiling a codec, or decoding one frame).
    pub time: Duration,
    /// Memory limit of each worker's runtime, in bytes (all codecs of that worker share it).
    pub memory_bytes: usize,
    /// Largest JS stack, in bytes (deep recursion fails instead of overflowing).
    pub stack_bytes: usize,
    /// Worker threads (one runtime each).
    pub threads: usize,
}

impl Default for JsLimits {
    /// 100 ms per call (ChirpStack's default), 32 MiB per runtime, 256 KiB of JS stack,
    /// two workers.
    fn default() -> Self {
        Self { time: Duration::from_millis(100), memory_bytes: 32 << 20, stack_bytes: 256 << 10, threads: 2 }
    }
}

/// A vendor field picked out of a codec's `data` when the codec has no `normalizeUplink`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    /// Key in `data`: a top-level key (which may itself contain dots), else a dotted path
    /// into nested objects (`bytes.co2`); an array element is taken by index (`values.0`).
    pub field: String,
    pub metric: Metric,
    /// Factor from the vendor's unit to the metric's unit.
    pub scale: f64,
}

/// One JS codec: its source and how its output maps to canonical metrics.
#[derive(Debug)]
pub struct JsCodec {
    name: String,
    source: Arc<str>,
    fingerprint: u64,
    mapping: Vec<FieldMap>,
}

impl JsCodec {
    /// `name` identifies the codec in the workers' caches and in errors (the model id);
    /// a codec of the same name with another source replaces the compiled one.
    pub fn new(name: impl Into<String>, source: impl Into<Arc<str>>, mapping: Vec<FieldMap>) -> Self {
        let source = source.into();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        source.hash(&mut h);
        Self { name: name.into(), source, fingerprint: h.finish(), mapping }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn mapping(&self) -> &[FieldMap] {
        &self.mapping
    }
}

/// A codec written to test the runtime's boundary: it turns a frame's bytes into
/// arbitrary output (odd numbers, strings, nested values, throws, errors). The no-panic
/// property test and the `js` fuzz target run frames through it.
#[doc(hidden)]
pub const CHAOS_CODEC: &str = include_str!("chaos.js");

/// Fuzzing entry for the JS boundary: runs `data` (first byte: FPort) through
/// [`CHAOS_CODEC`], with and without a field mapping, on `runner`. Panics only if the
/// runtime breaks its contract (panics, or gives a reading that is not a finite number).
#[doc(hidden)]
pub fn fuzz_js(runner: &mut JsRunner, data: &[u8]) {
    use std::sync::OnceLock;
    static CODECS: OnceLock<[JsCodec; 2]> = OnceLock::new();
    let codecs = CODECS.get_or_init(|| {
        let mapping = vec![
            FieldMap { field: "co2".into(), metric: Metric::AirCo2, scale: 1.0 },
            FieldMap { field: "air.temperature".into(), metric: Metric::AirTemperature, scale: 0.1 },
            FieldMap { field: "x.0".into(), metric: Metric::PulseCount, scale: 1.0 },
        ];
        let mapped = CHAOS_CODEC.replace("function normalizeUplink", "function unused");
        [JsCodec::new("chaos", CHAOS_CODEC, vec![]), JsCodec::new("chaos-mapped", mapped, mapping)]
    });
    let Some((&f_port, bytes)) = data.split_first() else { return };
    let input = JsInput { f_port, bytes: bytes.to_vec(), recv_time_ms: 1_700_000_000_000 };
    for codec in codecs {
        if let Ok(readings) = runner.decode(codec, &input) {
            for r in readings {
                assert!(r.value.is_finite(), "{} gave a non-finite reading {r:?}", codec.name());
            }
        }
    }
}

/// One frame for a codec.
#[derive(Debug, Clone)]
pub struct JsInput {
    pub f_port: u8,
    pub bytes: Vec<u8>,
    /// The uplink's receive time, in milliseconds since the Unix epoch (`input.recvTime`).
    pub recv_time_ms: i64,
}

#[cfg(test)]
mod tests;
