//! Lenient JSON numbers for the adapters: network servers write the same field as a
//! number or as a string (64-bit protobuf-JSON values, ThingPark's older `"FPort": "1"`),
//! and a field that is absent means its default.

use serde::{Deserialize, Deserializer};

use super::GeoPoint;

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(serde_json::Number),
    Str(String),
}

/// An unsigned integer written as a number (`7`, `7.0`) or a string (`"7"`); absent or
/// `null` is `None`. A negative or fractional value is an error.
pub fn u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::Num(n)) => match n.as_u64() {
            Some(v) => Ok(Some(v)),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| Some(f as u64))
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an unsigned integer"))),
        },
        Some(NumOrStr::Str(s)) => {
            let s = s.trim();
            match s.parse::<u64>() {
                Ok(v) => Ok(Some(v)),
                // "1174.0" and the like.
                Err(_) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                    .map(|f| Some(f as u64))
                    .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an unsigned integer"))),
            }
        }
    }
}

/// A finite number written as a number or a string (`"-80.000000"`); absent or `null`
/// is `None`.
pub fn f64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = match Option::<NumOrStr>::deserialize(d)? {
        None => return Ok(None),
        Some(NumOrStr::Num(n)) => n.as_f64(),
        Some(NumOrStr::Str(s)) => s.trim().parse::<f64>().ok(),
    };
    match v {
        Some(f) if f.is_finite() => Ok(Some(f)),
        _ => Err(serde::de::Error::custom("not a finite number")),
    }
}

/// A gateway location as the JSON adapters get it: coordinates as numbers or strings.
#[derive(Debug, Deserialize)]
pub struct Location {
    #[serde(default, deserialize_with = "f64_opt")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "f64_opt")]
    pub longitude: Option<f64>,
    #[serde(default, deserialize_with = "f64_opt")]
    pub altitude: Option<f64>,
}

impl Location {
    /// The point, when both coordinates are there.
    pub fn point(self) -> Option<GeoPoint> {
        Some(GeoPoint { latitude: self.latitude?, longitude: self.longitude?, altitude: self.altitude })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// JSON values that stress an adapter where a well-formed field was: wrong types,
    /// numbers as strings, out-of-range and odd numbers, empty containers.
    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[-+0-9.eE]{0,12}".prop_map(Value::String),
            "[0-9a-fA-F]{0,20}".prop_map(Value::String),
            ".{0,16}".prop_map(Value::String),
            Just(Value::Array(vec![])),
            Just(serde_json::json!({})),
            Just(serde_json::json!([{"a": 1}])),
        ]
    }

    /// `fixture` with its `leaf`-th scalar (modulo their number, depth first) replaced.
    pub(crate) fn replace_leaf(fixture: &str, leaf: usize, value: Value) -> Vec<u8> {
        fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, c) in m {
                        leaves(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                    }
                }
                Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| leaves(c, format!("{at}/{i}"), out)),
                _ => out.push(at),
            }
        }
        let mut root: Value = serde_json::from_str(fixture).unwrap();
        let mut all = Vec::new();
        leaves(&root, String::new(), &mut all);
        if let Some(slot) = all.get(leaf % all.len().max(1)).and_then(|p| root.pointer_mut(p)) {
            *slot = value;
        }
        serde_json::to_vec(&root).unwrap()
    }

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "u64_opt")]
        u: Option<u64>,
        #[serde(default, deserialize_with = "f64_opt")]
        f: Option<f64>,
    }

    fn t(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_strings_and_absence() {
        let v = t(r#"{"u":"1174","f":"-80.000000"}"#).unwrap();
        assert_eq!((v.u, v.f), (Some(1174), Some(-80.0)));
        let v = t(r#"{"u":368,"f":9.75}"#).unwrap();
        assert_eq!((v.u, v.f), (Some(368), Some(9.75)));
        let v = t(r#"{"u":7.0,"f":null}"#).unwrap();
        assert_eq!((v.u, v.f), (Some(7), None));
        let v = t("{}").unwrap();
        assert_eq!((v.u, v.f), (None, None));
        assert!(t(r#"{"u":-1}"#).is_err());
        assert!(t(r#"{"u":"1.5"}"#).is_err());
        assert!(t(r#"{"u":"x"}"#).is_err());
        assert!(t(r#"{"f":"NaN"}"#).is_err());
        assert!(t(r#"{"f":"abc"}"#).is_err());
    }
}
