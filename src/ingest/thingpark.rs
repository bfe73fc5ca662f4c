//! Actility ThingPark adapter: `DevEUI_uplink` messages, from an IoT Flow MQTT connector
//! publishing to our broker (`uplinkTopicPattern`, e.g. `mqtt/things/{DevEUI}/uplink`)
//! or from an HTTP connection POSTing the same JSON.
//!
//! Routing rule: on MQTT, a topic whose last level is `uplink` belongs to ThingPark
//! (neither ChirpStack, `.../event/up`, nor TTS, `.../up`, ends that way); the body must
//! then be `{"DevEUI_uplink": {...}}`, or the bare object with its `DevEUI` (the root
//! disappears with `sendMetadata=true`). The topic's other levels are the operator's
//! choice, so they are not read: the DevEUI comes from the body.
//!
//! Quirks handled: every number may be a JSON number (2024 docs) or a string (2018 docs,
//! `"LrrRSSI": "-80.000000"`); `Time` carries the local offset; `Frequency` is in MHz;
//! `Lrrs.Lrr` may be one object instead of a list. ThingPark has no message id, so the
//! dedup key is the shared fallback hash of (DevEUI, FCntUp, payload, Time).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::chirpstack::fallback_dedup_key;
use super::lenient;
use super::{GeoPoint, ParseError, Parsed, RxGateway, TxParams, Uplink};
use crate::lorawan::DevEui;

/// The HTTP route a ThingPark HTTP connection posts to.
pub const WEBHOOK_ROUTE: &str = "/api/v1/ingest/thingpark";

/// Whether an MQTT topic is a ThingPark uplink topic (`.../uplink`).
pub fn claims_topic(topic: &str) -> bool {
    topic.rsplit_once('/').is_some_and(|(rest, last)| last == "uplink" && !rest.is_empty())
}

/// Parses one message (MQTT or HTTP body).
pub fn parse(payload: &[u8]) -> Result<Parsed, ParseError> {
    parse_uplink(payload).map(Parsed::Uplink)
}

/// The other message roots ThingPark sends, which roc42 does not take.
const OTHER_ROOTS: [&str; 6] = [
    "DevEUI_downlink_Sent",
    "DevEUI_notification",
    "DevEUI_location",
    "DevEUI_downlink_Rejected",
    "DevEUI_multicast_summary",
    "DevEUI_downlink",
];

/// Parses the JSON of one `DevEUI_uplink` (with or without its root).
pub fn parse_uplink(payload: &[u8]) -> Result<Uplink, ParseError> {
    let mut root: serde_json::Value = serde_json::from_slice(payload).map_err(|e| ParseError::Json(e.to_string()))?;
    let body = match root.as_object_mut() {
        Some(o) if o.contains_key("DevEUI_uplink") => o.remove("DevEUI_uplink").unwrap_or_default(),
        Some(o) if o.contains_key("DevEUI") => root,
        Some(o) => {
            if let Some(other) = OTHER_ROOTS.iter().find(|k| o.contains_key(**k)) {
                return Err(ParseError::EventKind(format!("{other} (ThingPark; roc42 takes DevEUI_uplink)")));
            }
            return Err(field("DevEUI_uplink", "missing: neither a DevEUI_uplink root nor a bare DevEUI"));
        }
        None => return Err(field("DevEUI_uplink", "the message is not a JSON object")),
    };
    let up = Body::deserialize(body).map_err(|e| ParseError::Json(e.to_string()))?;
    uplink(up)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body {
    time: Option<String>,
    #[serde(rename = "DevEUI")]
    dev_eui: Option<String>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    f_port: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    f_cnt_up: Option<u64>,
    #[serde(rename = "payload_hex")]
    payload_hex: Option<String>,
    dev_addr: Option<String>,
    #[serde(rename = "LrrRSSI", default, deserialize_with = "lenient::f64_opt")]
    lrr_rssi: Option<f64>,
    #[serde(rename = "LrrSNR", default, deserialize_with = "lenient::f64_opt")]
    lrr_snr: Option<f64>,
    #[serde(rename = "LrrLAT", default, deserialize_with = "lenient::f64_opt")]
    lrr_lat: Option<f64>,
    #[serde(rename = "LrrLON", default, deserialize_with = "lenient::f64_opt")]
    lrr_lon: Option<f64>,
    /// The best gateway (LRR).
    lrrid: Option<String>,
    lrrs: Option<Lrrs>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    sp_fact: Option<u64>,
    /// MHz.
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    frequency: Option<f64>,
    /// Present when the AS must decrypt the payload itself.
    #[serde(rename = "AppSKey")]
    app_s_key: Option<serde_json::Value>,
    /// Decoded by a ThingPark driver, when one is set.
    #[serde(rename = "payload")]
    decoded: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Lrrs {
    #[serde(rename = "Lrr", default, deserialize_with = "one_or_many")]
    lrr: Vec<Lrr>,
}

#[derive(Deserialize)]
struct Lrr {
    #[serde(rename = "Lrrid", default)]
    lrrid: String,
    #[serde(rename = "LrrRSSI", default, deserialize_with = "lenient::f64_opt")]
    rssi: Option<f64>,
    #[serde(rename = "LrrSNR", default, deserialize_with = "lenient::f64_opt")]
    snr: Option<f64>,
}

/// A list, or one item where a converter from XML left it alone.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Lrr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Lrr>),
        One(Lrr),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(l)) => vec![l],
    })
}

fn field(field: &'static str, reason: impl ToString) -> ParseError {
    ParseError::Field { field, reason: reason.to_string() }
}

/// `Time`: ISO 8601 with the LRC's local offset (`+02:00`, or `+0200`).
fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn uplink(b: Body) -> Result<Uplink, ParseError> {
    let dev_eui: DevEui =
        b.dev_eui.as_deref().ok_or_else(|| field("DevEUI", "missing"))?.parse().map_err(|e| field("DevEUI", e))?;
    let time = match b.time.as_deref() {
        Some(t) => self::time(t).ok_or_else(|| field("Time", format!("{t:?} is not ISO 8601 with an offset")))?,
        None => return Err(field("Time", "missing")),
    };
    let f_port = u8::try_from(b.f_port.unwrap_or(0)).map_err(|_| field("FPort", "above 255"))?;
    let f_cnt = b.f_cnt_up.map(u32::try_from).transpose().map_err(|_| field("FCntUp", "above 2^32-1"))?;
    let payload = match b.payload_hex.as_deref() {
        Some(h) => hex::decode(h.trim()).map_err(|e| field("payload_hex", e))?,
        None => Vec::new(),
    };
    let dedup_key = fallback_dedup_key(dev_eui, f_cnt, &payload, time);
    let best = b.lrrid.filter(|l| !l.is_empty());
    // The LRR's position is only given for the best one.
    let best_location = match (b.lrr_lat, b.lrr_lon) {
        (Some(latitude), Some(longitude)) => Some(GeoPoint { latitude, longitude, altitude: None }),
        _ => None,
    };
    let mut rx: Vec<RxGateway> = b
        .lrrs
        .map(|l| l.lrr)
        .unwrap_or_default()
        .into_iter()
        .map(|l| RxGateway {
            location: best_location.filter(|_| best.as_deref() == Some(l.lrrid.as_str())),
            gateway_id: l.lrrid,
            rssi: l.rssi.map(|v| v.round() as i32),
            snr: l.snr,
            // `Channel` is a logical channel name (LC1, ...), not a radio channel index.
            channel: None,
        })
        .collect();
    if rx.is_empty() {
        if let Some(id) = best {
            rx.push(RxGateway {
                gateway_id: id,
                rssi: b.lrr_rssi.map(|v| v.round() as i32),
                snr: b.lrr_snr,
                channel: None,
                location: best_location,
            });
        }
    }
    let frequency = match b.frequency {
        Some(mhz) if mhz > 0.0 && mhz < 10_000.0 => Some((mhz * 1e6).round() as u64),
        Some(mhz) => return Err(field("Frequency", format!("{mhz} MHz is out of range"))),
        None => None,
    };
    let spreading_factor = b.sp_fact.and_then(|v| u32::try_from(v).ok());
    let tx = (frequency.is_some() || spreading_factor.is_some()).then_some(TxParams {
        frequency,
        spreading_factor,
        bandwidth: None,
        dr: None,
    });
    Ok(Uplink {
        lns: "thingpark",
        dedup_key,
        time,
        dev_eui,
        dev_addr: b.dev_addr.filter(|a| !a.is_empty()).map(|a| a.to_ascii_lowercase()),
        f_cnt,
        f_port,
        encrypted: b.app_s_key.is_some() && !payload.is_empty(),
        payload,
        rx,
        tx,
        lns_object: b.decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2018: &str = include_str!("../../tests/fixtures/thingpark_uplink_2018.json");
    const V2024: &str = include_str!("../../tests/fixtures/thingpark_uplink_2024.json");

    #[test]
    fn topics() {
        assert!(claims_topic("mqtt/things/0018B20000000B20/uplink"));
        assert!(claims_topic("siel/thingpark/uplink"));
        assert!(!claims_topic("uplink"));
        assert!(!claims_topic("mqtt/things/0018B20000000B20/downlink"));
        assert!(!claims_topic("mqtt/things/0018B20000000B20/uplink/x"));
        assert!(!claims_topic("v3/app@t/devices/d/up"));
        assert!(!claims_topic("application/1/device/0101010101010101/event/up"));
    }

    #[test]
    fn parses_the_2018_string_valued_example() {
        let u = parse_uplink(V2018.as_bytes()).unwrap();
        assert_eq!(u.lns, "thingpark");
        assert_eq!(u.dev_eui.to_string(), "0018b20000000b20");
        assert_eq!((u.f_port, u.f_cnt), (1, Some(1174)));
        assert_eq!(u.payload, hex::decode("9e1c4852512000220020e3831071").unwrap());
        assert_eq!(u.dev_addr.as_deref(), Some("04d2848e"));
        // 15:38:46.882 at +02:00.
        assert_eq!(u.time.to_rfc3339(), "2018-10-03T13:38:46.882+00:00");
        assert_eq!(u.rx.len(), 1);
        let g = &u.rx[0];
        assert_eq!((g.gateway_id.as_str(), g.rssi, g.snr), ("004A18E3", Some(-80), Some(7.0)));
        assert_eq!(g.location.map(|l| (l.latitude, l.longitude)), Some((45.851032, 1.26623)));
        let tx = u.tx.unwrap();
        assert_eq!((tx.frequency, tx.spreading_factor), (Some(868_100_000), Some(7)));
        assert!(u.dedup_key.starts_with("sha256:"));
        assert!(!u.encrypted && u.lns_object.is_none());
    }

    #[test]
    fn parses_the_2024_numeric_example() {
        let u = parse_uplink(V2024.as_bytes()).unwrap();
        assert_eq!(u.dev_eui.to_string(), "a81758fffe0312ab");
        assert_eq!((u.f_port, u.f_cnt), (1, Some(368)));
        assert_eq!(u.time.to_rfc3339(), "2024-03-12T08:41:07.315+00:00");
        assert_eq!(u.rx.len(), 2);
        assert_eq!((u.rx[0].rssi, u.rx[0].snr), (Some(-84), Some(9.75)));
        assert!(u.rx[0].location.is_some(), "the best LRR has the position");
        assert_eq!((u.rx[1].gateway_id.as_str(), u.rx[1].snr, u.rx[1].location), ("10001A2F", Some(-3.25), None));
        assert_eq!(u.tx.unwrap().frequency, Some(868_300_000));
        assert_eq!(u.lns_object.unwrap()["co2"], 776);
    }

    #[test]
    fn the_bare_form_and_the_string_form_give_the_same_uplink() {
        let root: serde_json::Value = serde_json::from_str(V2024).unwrap();
        let bare = serde_json::to_vec(&root["DevEUI_uplink"]).unwrap();
        assert_eq!(parse_uplink(&bare).unwrap(), parse_uplink(V2024.as_bytes()).unwrap());
        // Every number written as a string: same uplink, same dedup key.
        let mut strings = root.clone();
        for (_, v) in strings["DevEUI_uplink"].as_object_mut().unwrap().iter_mut() {
            if v.is_number() {
                *v = serde_json::Value::String(v.to_string());
            }
        }
        assert_eq!(
            parse_uplink(&serde_json::to_vec(&strings).unwrap()).unwrap(),
            parse_uplink(V2024.as_bytes()).unwrap()
        );
    }

    #[test]
    fn a_single_lrr_object_and_no_lrrs() {
        let one = r#"{"DevEUI_uplink":{"Time":"2024-01-01T00:00:00+0100","DevEUI":"0101010101010101","FPort":2,
            "payload_hex":"01","Lrrid":"A","LrrRSSI":-90,"Lrrs":{"Lrr":{"Lrrid":"A","LrrRSSI":"-90.5","LrrSNR":"1"}}}}"#;
        let u = parse_uplink(one.as_bytes()).unwrap();
        assert_eq!(u.time.to_rfc3339(), "2023-12-31T23:00:00+00:00");
        assert_eq!((u.rx.len(), u.rx[0].rssi), (1, Some(-91)));
        let none = r#"{"DevEUI":"0101010101010101","Time":"2024-01-01T00:00:00Z","Lrrid":"B","LrrRSSI":"-100","LrrSNR":"-2.5"}"#;
        let u = parse_uplink(none.as_bytes()).unwrap();
        assert_eq!((u.f_port, u.f_cnt, u.payload.len()), (0, None, 0));
        assert_eq!((u.rx[0].gateway_id.as_str(), u.rx[0].snr), ("B", Some(-2.5)));
        assert!(u.tx.is_none());
    }

    #[test]
    fn app_s_key_means_encrypted() {
        let json = r#"{"DevEUI":"0101010101010101","Time":"2024-01-01T00:00:00Z","FPort":1,"payload_hex":"0102","AppSKey":"0a1b"}"#;
        assert!(parse_uplink(json.as_bytes()).unwrap().encrypted);
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert!(matches!(parse_uplink(b"[1]"), Err(ParseError::Field { field: "DevEUI_uplink", .. })));
        assert!(matches!(
            parse_uplink(b"{\"temperature\": 20}"),
            Err(ParseError::Field { field: "DevEUI_uplink", .. })
        ));
        assert!(
            matches!(parse_uplink(br#"{"DevEUI_notification":{}}"#), Err(ParseError::EventKind(k)) if k.starts_with("DevEUI_notification"))
        );
        let t = r#""Time":"2024-01-01T00:00:00Z""#;
        let e = r#""DevEUI":"0101010101010101""#;
        let cases = [
            (format!(r#"{{"DevEUI_uplink":{{{t}}}}}"#), "DevEUI"),
            (format!(r#"{{"DevEUI_uplink":{{{t},"DevEUI":"xyz"}}}}"#), "DevEUI"),
            (format!(r#"{{"DevEUI_uplink":{{{e}}}}}"#), "Time"),
            (format!(r#"{{"DevEUI_uplink":{{{e},"Time":"2024-01-01 00:00"}}}}"#), "Time"),
            (format!(r#"{{"DevEUI_uplink":{{{e},{t},"FPort":"300"}}}}"#), "FPort"),
            (format!(r#"{{"DevEUI_uplink":{{{e},{t},"payload_hex":"0g"}}}}"#), "payload_hex"),
            (format!(r#"{{"DevEUI_uplink":{{{e},{t},"Frequency":-1}}}}"#), "Frequency"),
        ];
        for (json, want) in cases {
            match parse_uplink(json.as_bytes()) {
                Err(ParseError::Field { field, .. }) => assert_eq!(field, want, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        assert!(matches!(parse_uplink(br#"{"DevEUI_uplink":{"FPort":"one"}}"#), Err(ParseError::Json(_))));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_fixtures(
            which in 0usize..2,
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
            leaf in proptest::prelude::any::<usize>(),
            value in super::super::lenient::tests::json_value(),
        ) {
            let fixture = [V2018, V2024][which];
            let mut bytes = fixture.as_bytes().to_vec();
            for (at, b) in edits {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            let _ = parse(&bytes);
            let mutated = super::super::lenient::tests::replace_leaf(fixture, leaf, value);
            let _ = parse(&mutated);
        }
    }
}
