//! ChirpStack v4 adapter: `up` events of the MQTT integration in JSON
//! (`application/{application_id}/device/{dev_eui}/event/up`, protobuf-JSON, camelCase).
//!
//! Quirks handled: fields at their default value may be absent (`fCnt` 0 from other
//! serializers than 4.20's), numbers may come as strings (64-bit protobuf-JSON), `data`
//! is still encrypted when a join server holds the AppSKey (`joinServerContext`).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use super::{GeoPoint, ParseError, RxGateway, TxParams, Uplink};
use crate::lorawan::DevEui;

/// Whether `topic` is a ChirpStack v4 `up` event topic (`.../event/up`).
pub fn is_uplink_topic(topic: &str) -> bool {
    topic.ends_with("/event/up")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UplinkEvent {
    #[serde(default)]
    deduplication_id: String,
    time: Option<DateTime<Utc>>,
    device_info: DeviceInfo,
    #[serde(default)]
    dev_addr: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    dr: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    f_cnt: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    f_port: Option<u64>,
    #[serde(default)]
    data: String,
    object: Option<serde_json::Value>,
    #[serde(default)]
    rx_info: Vec<RxInfo>,
    tx_info: Option<TxInfo>,
    join_server_context: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceInfo {
    dev_eui: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RxInfo {
    #[serde(default)]
    gateway_id: String,
    #[serde(default, deserialize_with = "lenient_f64")]
    rssi: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    snr: Option<f64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    channel: Option<u64>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(default, deserialize_with = "lenient_f64")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    longitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    altitude: Option<f64>,
}

#[derive(Deserialize)]
struct TxInfo {
    #[serde(default, deserialize_with = "lenient_u64")]
    frequency: Option<u64>,
    modulation: Option<Modulation>,
}

#[derive(Deserialize)]
struct Modulation {
    lora: Option<Lora>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lora {
    #[serde(default, deserialize_with = "lenient_u64")]
    bandwidth: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    spreading_factor: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(serde_json::Number),
    Str(String),
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        None => None,
        Some(NumOrStr::Num(n)) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        }
        Some(NumOrStr::Str(s)) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
    })
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        None => None,
        Some(NumOrStr::Num(n)) => n.as_f64(),
        Some(NumOrStr::Str(s)) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
    })
}

fn field(field: &'static str, reason: impl ToString) -> ParseError {
    ParseError::Field { field, reason: reason.to_string() }
}

/// Parses the JSON of one `up` event.
pub fn parse_uplink(payload: &[u8]) -> Result<Uplink, ParseError> {
    let ev: UplinkEvent = serde_json::from_slice(payload).map_err(|e| ParseError::Json(e.to_string()))?;
    let dev_eui: DevEui = ev.device_info.dev_eui.parse().map_err(|e| field("deviceInfo.devEui", e))?;
    let f_port = u8::try_from(ev.f_port.unwrap_or(0)).map_err(|_| field("fPort", "above 255"))?;
    let f_cnt = ev.f_cnt.map(u32::try_from).transpose().map_err(|_| field("fCnt", "above 2^32-1"))?;
    let payload = base64::engine::general_purpose::STANDARD.decode(ev.data.as_bytes()).map_err(|e| field("data", e))?;
    let time = ev.time.ok_or_else(|| field("time", "missing"))?;
    let dedup_key = if ev.deduplication_id.is_empty() {
        fallback_dedup_key(dev_eui, f_cnt, &payload, time)
    } else {
        ev.deduplication_id
    };
    let rx = ev
        .rx_info
        .into_iter()
        .map(|r| RxGateway {
            gateway_id: r.gateway_id,
            rssi: r.rssi.map(|v| v.round() as i32),
            snr: r.snr,
            channel: r.channel.and_then(|c| u32::try_from(c).ok()),
            location: r
                .location
                .and_then(|l| Some(GeoPoint { latitude: l.latitude?, longitude: l.longitude?, altitude: l.altitude })),
        })
        .collect();
    let lora = ev.tx_info.as_ref().and_then(|t| t.modulation.as_ref()).and_then(|m| m.lora.as_ref());
    let tx = ev.tx_info.as_ref().map(|t| TxParams {
        frequency: t.frequency,
        spreading_factor: lora.and_then(|l| l.spreading_factor).and_then(|v| u32::try_from(v).ok()),
        bandwidth: lora.and_then(|l| l.bandwidth).and_then(|v| u32::try_from(v).ok()),
        dr: ev.dr.and_then(|v| u32::try_from(v).ok()),
    });
    Ok(Uplink {
        lns: "chirpstack",
        dedup_key,
        time,
        dev_eui,
        dev_addr: Some(ev.dev_addr).filter(|a| !a.is_empty()),
        f_cnt,
        f_port,
        payload,
        encrypted: ev.join_server_context.is_some(),
        rx,
        tx,
        lns_object: ev.object,
    })
}

/// The dedup key when the LNS gives no id of its own (design.md §3.8).
pub fn fallback_dedup_key(dev_eui: DevEui, f_cnt: Option<u32>, payload: &[u8], time: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(dev_eui.0.to_be_bytes());
    h.update(f_cnt.map(i64::from).unwrap_or(-1).to_be_bytes());
    h.update((payload.len() as u64).to_be_bytes());
    h.update(payload);
    h.update(time.timestamp_nanos_opt().unwrap_or(i64::MIN).to_be_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4_20: &str = include_str!("../../tests/fixtures/chirpstack_v4_up.json");
    const DOCS_2022: &str = include_str!("../../tests/fixtures/chirpstack_v4_up_docs.json");

    #[test]
    fn parses_the_4_20_serialization() {
        let u = parse_uplink(V4_20.as_bytes()).unwrap();
        assert_eq!(u.dedup_key, "3ac7e3c4-4401-4b8d-9386-a5c902f9202d");
        assert_eq!(u.dev_eui.to_string(), "a81758fffe0312ab");
        assert_eq!(u.f_cnt, Some(65541));
        assert_eq!(u.f_port, 5);
        assert_eq!(u.payload, vec![0x01, 0x00, 0xea, 0x02, 0x2d, 0x07, 0x0e, 0x19]);
        assert_eq!(u.dev_addr.as_deref(), Some("26011bda"));
        assert!(!u.encrypted);
        assert_eq!(u.rx.len(), 1);
        assert_eq!(u.rx[0].rssi, Some(-87));
        assert_eq!(u.rx[0].snr, Some(9.25));
        assert_eq!(u.rx[0].location.map(|l| l.latitude), Some(48.8566));
        let tx = u.tx.unwrap();
        assert_eq!(
            (tx.frequency, tx.spreading_factor, tx.bandwidth, tx.dr),
            (Some(868_100_000), Some(7), Some(125_000), Some(5))
        );
        assert_eq!(u.lns_object.unwrap()["humidity"], 45.0);
        assert_eq!(u.time.to_rfc3339(), "2025-07-18T10:44:15.775023242+00:00");
    }

    #[test]
    fn parses_the_docs_example_with_absent_defaults() {
        let u = parse_uplink(DOCS_2022.as_bytes()).unwrap();
        assert_eq!(u.f_cnt, None);
        assert_eq!(u.f_port, 1);
        assert_eq!(u.payload, vec![0xaa]);
        assert_eq!(u.dev_eui.to_string(), "0101010101010101");
    }

    #[test]
    fn strings_for_numbers_and_missing_dedup_id() {
        let json = r#"{"time":"2025-01-01T00:00:00Z","deviceInfo":{"devEui":"0101010101010101"},
            "fCnt":"7","fPort":"2","data":"AQI=","rxInfo":[{"gatewayId":"g","rssi":"-80","snr":"7.5"}]}"#;
        let u = parse_uplink(json.as_bytes()).unwrap();
        assert_eq!((u.f_cnt, u.f_port), (Some(7), 2));
        assert_eq!(u.rx[0].rssi, Some(-80));
        assert!(u.dedup_key.starts_with("sha256:"));
        assert_eq!(parse_uplink(json.as_bytes()).unwrap().dedup_key, u.dedup_key, "stable across redeliveries");
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert!(matches!(parse_uplink(b"{not json"), Err(ParseError::Json(_))));
        let bad_eui = r#"{"time":"2025-01-01T00:00:00Z","deviceInfo":{"devEui":"zz"},"data":""}"#;
        assert!(matches!(parse_uplink(bad_eui.as_bytes()), Err(ParseError::Field { field: "deviceInfo.devEui", .. })));
        let bad_port = r#"{"time":"2025-01-01T00:00:00Z","deviceInfo":{"devEui":"0101010101010101"},"fPort":300}"#;
        assert!(matches!(parse_uplink(bad_port.as_bytes()), Err(ParseError::Field { field: "fPort", .. })));
        let bad_b64 = r#"{"time":"2025-01-01T00:00:00Z","deviceInfo":{"devEui":"0101010101010101"},"data":"!!"}"#;
        assert!(matches!(parse_uplink(bad_b64.as_bytes()), Err(ParseError::Field { field: "data", .. })));
    }

    #[test]
    fn join_server_context_means_encrypted() {
        let json = r#"{"time":"2025-01-01T00:00:00Z","deviceInfo":{"devEui":"0101010101010101"},"fPort":1,
            "data":"AQI=","joinServerContext":{"sessionKeyId":"abc"}}"#;
        assert!(parse_uplink(json.as_bytes()).unwrap().encrypted);
    }
}
