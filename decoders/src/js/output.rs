//! From a codec's output to canonical readings:
//! 1. `decodeUplink` returned non-empty `errors`, or no `data` object: the frame fails;
//! 2. the codec has `normalizeUplink`: its `data` (an object or an array of objects, in
//!    TTN's normalized-payload vocabulary) is flattened to dotted paths, each mapped by
//!    [`normalized_metric`];
//! 3. else the model's [`FieldMap`](super::FieldMap)s pick fields out of `data`;
//! 4. a model with neither takes the `data` fields named like canonical metrics.

use serde_json::Value;

use super::JsCodec;
use crate::{DecodeError, Metric, Reading, Readings};

/// What came out of the runtime, as JSON.
pub(super) struct CodecOutput {
    pub decoded: Value,
    pub normalized: Option<Value>,
}

/// The TTN normalized-payload names that differ from ours; other paths are looked up
/// in the catalogue as they are (`air.co2`, `air.pm25`, `energy.active_import`, ...).
const TTN_NAMES: &[(&str, Metric)] = &[
    ("air.relativeHumidity", Metric::AirRelativeHumidity),
    ("air.lightIntensity", Metric::AirLightIntensity),
    ("action.motion.detected", Metric::ActionMotionDetected),
    ("action.motion.count", Metric::ActionMotionCount),
    ("action.contactState", Metric::InputState),
];

/// The canonical metric of a normalized-payload path (`air.relativeHumidity`), if any.
pub fn normalized_metric(path: &str) -> Option<Metric> {
    TTN_NAMES.iter().find(|(p, _)| *p == path).map(|(_, m)| *m).or_else(|| Metric::from_name(path))
}

/// Whether `decodeUplink` succeeded (so `normalizeUplink` is worth calling).
pub(super) fn decoded_ok(decoded: &Value) -> bool {
    errors(decoded).is_none() && decoded.get("data").is_some_and(Value::is_object)
}

fn errors(v: &Value) -> Option<String> {
    let list = v.get("errors")?.as_array()?;
    if list.is_empty() {
        return None;
    }
    let texts: Vec<String> = list.iter().map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned)).collect();
    Some(texts.join("; "))
}

pub(super) fn readings(codec: &JsCodec, out: &CodecOutput, _recv_time_ms: i64) -> Result<Vec<Reading>, DecodeError> {
    if let Some(e) = errors(&out.decoded) {
        return Err(DecodeError::Codec(format!("decodeUplink returned errors: {e}")));
    }
    let Some(data) = out.decoded.get("data").filter(|d| d.is_object()) else {
        return Err(DecodeError::Codec("decodeUplink did not return a 'data' object".into()));
    };
    let mut readings = Readings::default();
    if let Some(normalized) = &out.normalized {
        if let Some(e) = errors(normalized) {
            return Err(DecodeError::Codec(format!("normalizeUplink returned errors: {e}")));
        }
        match normalized.get("data") {
            Some(Value::Array(items)) => items.iter().for_each(|item| take_canonical(item, &mut readings)),
            Some(item @ Value::Object(_)) => take_canonical(item, &mut readings),
            _ => return Err(DecodeError::Codec("normalizeUplink did not return 'data'".into())),
        }
    } else if !codec.mapping().is_empty() {
        for map in codec.mapping() {
            if let Some(x) = lookup(data, &map.field).and_then(number) {
                push(&mut readings, map.metric, x * map.scale);
            }
        }
    } else {
        take_canonical(data, &mut readings);
    }
    Ok(readings.0)
}

/// Flattens `v` to dotted paths and keeps the leaves that name a canonical metric.
fn take_canonical(v: &Value, out: &mut Readings) {
    fn walk(prefix: &str, v: &Value, out: &mut Readings, depth: usize) {
        let Value::Object(o) = v else { return };
        if depth > 8 {
            return;
        }
        for (k, x) in o {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if x.is_object() {
                walk(&path, x, out, depth + 1);
            } else if let (Some(metric), Some(value)) = (normalized_metric(&path), number(x)) {
                push(out, metric, value);
            }
        }
    }
    walk("", v, out, 0);
}

fn push(out: &mut Readings, metric: Metric, value: f64) {
    if value.is_finite() {
        out.push(metric, value);
    }
}

/// A field of `data`: the key as given, else a dotted path (array elements by index).
fn lookup<'a>(data: &'a Value, field: &str) -> Option<&'a Value> {
    if let Some(v) = data.get(field) {
        return Some(v);
    }
    field.split('.').try_fold(data, |v, part| match v {
        Value::Object(o) => o.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Numbers, booleans (1/0), numeric strings, and TTN's contact states.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => match s.as_str() {
            "CLOSED" => Some(1.0),
            "OPEN" => Some(0.0),
            s => s.trim().parse().ok(),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::FieldMap;
    use serde_json::json;

    fn run(codec: &JsCodec, decoded: Value, normalized: Option<Value>) -> Result<Vec<Reading>, DecodeError> {
        readings(codec, &CodecOutput { decoded, normalized }, 0)
    }

    #[test]
    fn errors_fail_the_frame() {
        let c = JsCodec::new("t", "", vec![]);
        let e = run(&c, json!({"data": {}, "errors": ["unknown FPort"]}), None).unwrap_err();
        assert_eq!(e, DecodeError::Codec("decodeUplink returned errors: unknown FPort".into()));
        assert!(run(&c, json!({"warnings": []}), None).is_err());
        assert!(run(&c, json!(null), None).is_err());
        let e = run(&c, json!({"data": {}}), Some(json!({"errors": ["bad"]}))).unwrap_err();
        assert!(e.to_string().contains("normalizeUplink returned errors: bad"));
    }

    #[test]
    fn normalized_output_maps_ttn_names() {
        let c = JsCodec::new("t", "", vec![]);
        let n = json!({"data": [{"air": {"temperature": 21.5, "relativeHumidity": 40, "location": "indoor"}},
                                {"action": {"motion": {"detected": true}}, "wind": {"speed": 3}}]});
        let r = run(&c, json!({"data": {"x": 1}}), Some(n)).unwrap();
        let got: Vec<(Metric, f64)> = r.iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(
            got,
            [(Metric::AirRelativeHumidity, 40.0), (Metric::AirTemperature, 21.5), (Metric::ActionMotionDetected, 1.0)]
        );
    }

    #[test]
    fn mapping_picks_fields_with_scales_paths_and_dotted_keys() {
        let mapping = vec![
            FieldMap { field: "pressure".into(), metric: Metric::AirPressure, scale: 0.01 },
            FieldMap { field: "bytes.co2.values.0".into(), metric: Metric::AirCo2, scale: 1.0 },
            FieldMap { field: "pm.2.5".into(), metric: Metric::AirPm25, scale: 1.0 },
            FieldMap { field: "absent".into(), metric: Metric::AirPm10, scale: 1.0 },
        ];
        let c = JsCodec::new("t", "", mapping);
        let data = json!({"data": {"pressure": 101325, "bytes": {"co2": {"values": [420, 421]}}, "pm.2.5": "7"}});
        let r = run(&c, data, None).unwrap();
        let got: Vec<(Metric, f64)> = r.iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(got, [(Metric::AirPressure, 1013.25), (Metric::AirCo2, 420.0), (Metric::AirPm25, 7.0)]);
    }

    #[test]
    fn without_mapping_canonical_names_are_taken() {
        let c = JsCodec::new("t", "", vec![]);
        let r = run(&c, json!({"data": {"air": {"co2": 600}, "battery.level": 80, "vendor_thing": 3}}), None).unwrap();
        let got: Vec<(Metric, f64)> = r.iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(got, [(Metric::AirCo2, 600.0), (Metric::BatteryLevel, 80.0)]);
    }
}
