//! ChirpStack v4 adapter: the events of the MQTT integration
//! (`application/{application_id}/device/{dev_eui}/event/{event}`), in either of its
//! marshalings: JSON (`json = true`, protobuf-JSON, camelCase; the default) or protobuf
//! (`json = false`). The marshaling is told from the payload itself: JSON starts with `{`,
//! which no protobuf event can (it would be field 15 as a group).
//!
//! `up` becomes an [`Uplink`]; `join`, `status` (battery level and link margin become
//! device-status readings), `log` (codec and MIC errors, for operators), `ack`, `txack`
//! and `location` become [`LnsEvent`]s.
//!
//! Quirks handled: fields at their default value may be absent (`fCnt` 0 from other
//! serializers than 4.20's), numbers may come as strings (64-bit protobuf-JSON), `data`
//! is still encrypted when a join server holds the AppSKey (`joinServerContext`).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use chirpstack_api::integration as pb;
use chirpstack_api::prost::Message;
use roc42_decoders::Metric;

use super::{lenient, GeoPoint, LnsEvent, ParseError, Parsed, RxGateway, TxParams, Uplink};
use crate::lorawan::DevEui;

/// The event kinds of the integration, as they end the topic.
const KINDS: [&str; 7] = ["up", "join", "status", "log", "ack", "txack", "location"];

/// The event kind of a ChirpStack v4 event topic (`.../device/{dev_eui}/event/{kind}`).
pub fn event_kind(topic: &str) -> Option<&'static str> {
    let (rest, kind) = topic.rsplit_once('/')?;
    let (rest, event) = rest.rsplit_once('/')?;
    if event != "event" || rest.rsplit('/').nth(1) != Some("device") {
        return None;
    }
    KINDS.iter().copied().find(|k| *k == kind).or(Some("unknown"))
}

/// Parses one event of `kind` (from [`event_kind`]), JSON or protobuf.
pub fn parse(kind: &'static str, payload: &[u8]) -> Result<Parsed, ParseError> {
    let json = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match (kind, json) {
        ("up", true) => parse_uplink(payload).map(Parsed::Uplink),
        ("up", false) => uplink_from_proto(decode_proto(payload)?).map(Parsed::Uplink),
        ("unknown", _) => Err(ParseError::EventKind("unknown".into())),
        (kind, json) => event(kind, payload, json).map(Parsed::Event),
    }
}

fn decode_proto<M: Message + Default>(payload: &[u8]) -> Result<M, ParseError> {
    M::decode(payload).map_err(|e| ParseError::Protobuf(e.to_string()))
}

/// Decodes a JSON or protobuf event into its `chirpstack_api` type, and its JSON form.
fn typed<M>(payload: &[u8], json: bool) -> Result<(M, serde_json::Value), ParseError>
where
    M: Message + Default + serde::Serialize + for<'de> Deserialize<'de>,
{
    if json {
        let body: serde_json::Value = serde_json::from_slice(payload).map_err(|e| ParseError::Json(e.to_string()))?;
        let m = M::deserialize(&body).map_err(|e| ParseError::Json(e.to_string()))?;
        Ok((m, body))
    } else {
        let m: M = decode_proto(payload)?;
        let body = serde_json::to_value(&m).map_err(|e| ParseError::Protobuf(e.to_string()))?;
        Ok((m, body))
    }
}

/// The common part of every event.
struct Head {
    dedup_key: Option<String>,
    time: Option<DateTime<Utc>>,
    dev_eui: DevEui,
}

fn head(
    dedup_id: Option<&str>,
    time: Option<&chirpstack_api::pbjson_types::Timestamp>,
    device: Option<&pb::DeviceInfo>,
) -> Result<Head, ParseError> {
    let device = device.ok_or_else(|| field("deviceInfo", "missing"))?;
    let dev_eui: DevEui = device.dev_eui.parse().map_err(|e| field("deviceInfo.devEui", e))?;
    let time = match time {
        Some(t) => Some(timestamp(t).ok_or_else(|| field("time", "out of range"))?),
        None => None,
    };
    Ok(Head { dedup_key: dedup_id.filter(|d| !d.is_empty()).map(str::to_owned), time, dev_eui })
}

fn timestamp(t: &chirpstack_api::pbjson_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// A non-`up` event.
fn event(kind: &'static str, payload: &[u8], json: bool) -> Result<LnsEvent, ParseError> {
    let mut level = None;
    let mut code = None;
    let mut description = None;
    let mut readings = Vec::new();
    let (h, body) = match kind {
        "join" => {
            let (e, body) = typed::<pb::JoinEvent>(payload, json)?;
            (head(Some(&e.deduplication_id), e.time.as_ref(), e.device_info.as_ref())?, body)
        }
        "status" => {
            let (e, body) = typed::<pb::StatusEvent>(payload, json)?;
            // Margin: the demodulation margin the device reports (DevStatusAns), in dB.
            readings.push((Metric::RadioMargin, f64::from(e.margin)));
            if !e.battery_level_unavailable && !e.external_power_source {
                readings.push((Metric::BatteryLevel, f64::from(e.battery_level)));
            }
            (head(Some(&e.deduplication_id), e.time.as_ref(), e.device_info.as_ref())?, body)
        }
        "log" => {
            let (e, body) = typed::<pb::LogEvent>(payload, json)?;
            level = Some(e.level().as_str_name().to_owned());
            code = Some(e.code().as_str_name().to_owned());
            description = Some(e.description.clone()).filter(|d| !d.is_empty());
            let dedup = e.context.get("deduplication_id").map(String::as_str);
            (head(dedup, e.time.as_ref(), e.device_info.as_ref())?, body)
        }
        "ack" => {
            let (e, body) = typed::<pb::AckEvent>(payload, json)?;
            description = Some(if e.acknowledged { "acknowledged" } else { "not acknowledged" }.to_owned());
            (head(Some(&e.deduplication_id), e.time.as_ref(), e.device_info.as_ref())?, body)
        }
        "txack" => {
            let (e, body) = typed::<pb::TxAckEvent>(payload, json)?;
            description = Some(format!("downlink {} sent by gateway {}", e.queue_item_id, e.gateway_id));
            let id = e.downlink_id.to_string();
            let id = Some(id.as_str()).filter(|d| *d != "0");
            (head(id, e.time.as_ref(), e.device_info.as_ref())?, body)
        }
        "location" => {
            let (e, body) = typed::<pb::LocationEvent>(payload, json)?;
            (head(Some(&e.deduplication_id), e.time.as_ref(), e.device_info.as_ref())?, body)
        }
        other => return Err(ParseError::EventKind(other.to_owned())),
    };
    let time = h.time.ok_or_else(|| field("time", "missing"))?;
    let dedup_key = match h.dedup_key {
        // Several kinds share the uplink's deduplication id (status, log): keep them apart.
        Some(d) => format!("{kind}:{d}"),
        None => {
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            format!("{kind}:{}", fallback_dedup_key(h.dev_eui, None, &bytes, time))
        }
    };
    Ok(LnsEvent {
        lns: "chirpstack",
        kind,
        dedup_key,
        time,
        dev_eui: h.dev_eui,
        level,
        code,
        description,
        readings,
        body,
    })
}

/// An `up` event in protobuf.
fn uplink_from_proto(ev: pb::UplinkEvent) -> Result<Uplink, ParseError> {
    let h = head(Some(&ev.deduplication_id), ev.time.as_ref(), ev.device_info.as_ref())?;
    let time = h.time.ok_or_else(|| field("time", "missing"))?;
    let f_port = u8::try_from(ev.f_port).map_err(|_| field("fPort", "above 255"))?;
    let f_cnt = Some(ev.f_cnt);
    let dedup_key = h.dedup_key.unwrap_or_else(|| fallback_dedup_key(h.dev_eui, f_cnt, &ev.data, time));
    let rx = ev
        .rx_info
        .iter()
        .map(|r| RxGateway {
            gateway_id: r.gateway_id.clone(),
            rssi: Some(r.rssi),
            snr: Some(f64::from(r.snr)),
            channel: Some(r.channel),
            location: r.location.as_ref().map(|l| GeoPoint {
                latitude: l.latitude,
                longitude: l.longitude,
                altitude: Some(l.altitude),
            }),
        })
        .collect();
    let lora = ev.tx_info.as_ref().and_then(|t| t.modulation.as_ref()).and_then(|m| match &m.parameters {
        Some(chirpstack_api::gw::modulation::Parameters::Lora(l)) => Some(l),
        _ => None,
    });
    let tx = ev.tx_info.as_ref().map(|t| TxParams {
        frequency: Some(u64::from(t.frequency)),
        spreading_factor: lora.map(|l| l.spreading_factor),
        bandwidth: lora.map(|l| l.bandwidth),
        dr: Some(ev.dr),
    });
    let lns_object = match &ev.object {
        Some(o) => Some(serde_json::to_value(o).map_err(|e| ParseError::Protobuf(e.to_string()))?),
        None => None,
    };
    Ok(Uplink {
        lns: "chirpstack",
        dedup_key,
        time,
        dev_eui: h.dev_eui,
        dev_addr: Some(ev.dev_addr).filter(|a| !a.is_empty()),
        f_cnt,
        f_port,
        payload: ev.data,
        encrypted: ev.join_server_context.is_some(),
        rx,
        tx,
        lns_object,
    })
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
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    dr: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    f_cnt: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
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
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    rssi: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    snr: Option<f64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    channel: Option<u64>,
    location: Option<lenient::Location>,
}

#[derive(Deserialize)]
struct TxInfo {
    #[serde(default, deserialize_with = "lenient::u64_opt")]
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
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    bandwidth: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    spreading_factor: Option<u64>,
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
            location: r.location.and_then(lenient::Location::point),
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

    fn fixture(kind: &str) -> &'static str {
        match kind {
            "status" => include_str!("../../tests/fixtures/chirpstack_v4_status.json"),
            "log" => include_str!("../../tests/fixtures/chirpstack_v4_log.json"),
            "join" => include_str!("../../tests/fixtures/chirpstack_v4_join.json"),
            "ack" => include_str!("../../tests/fixtures/chirpstack_v4_ack.json"),
            "txack" => include_str!("../../tests/fixtures/chirpstack_v4_txack.json"),
            "location" => include_str!("../../tests/fixtures/chirpstack_v4_location.json"),
            _ => V4_20,
        }
    }

    /// The same event in the protobuf marshaling, encoded with ChirpStack's own types.
    fn protobuf<M: Message + for<'de> Deserialize<'de>>(json: &str) -> Vec<u8> {
        serde_json::from_str::<M>(json).unwrap().encode_to_vec()
    }

    fn event_of(kind: &'static str, payload: &[u8]) -> LnsEvent {
        match parse(kind, payload).unwrap() {
            Parsed::Event(e) => e,
            Parsed::Uplink(u) => panic!("{kind} gave an uplink {u:?}"),
        }
    }

    #[test]
    fn topics_name_the_event_kind() {
        assert_eq!(event_kind("application/17c8/device/a81758fffe0312ab/event/up"), Some("up"));
        assert_eq!(event_kind("roc42/application/x/device/a81758fffe0312ab/event/status"), Some("status"));
        assert_eq!(event_kind("application/x/device/a81758fffe0312ab/event/integration"), Some("unknown"));
        assert_eq!(event_kind("application/x/device/a81758fffe0312ab/command/down"), None);
        assert_eq!(event_kind("v3/app@ttn/devices/dev1/up"), None);
        assert!(matches!(parse("unknown", b"{}"), Err(ParseError::EventKind(_))));
    }

    #[test]
    fn status_gives_battery_and_margin_readings_in_both_marshalings() {
        let json = fixture("status");
        for payload in [json.as_bytes().to_vec(), protobuf::<pb::StatusEvent>(json)] {
            let e = event_of("status", &payload);
            assert_eq!((e.kind, e.dev_eui.to_string().as_str()), ("status", "a81758fffe0312ab"));
            assert_eq!(e.readings, vec![(Metric::RadioMargin, 7.0), (Metric::BatteryLevel, 87.5)]);
            assert_eq!(e.dedup_key, "status:5f2a9c1e-7d43-4b8e-9a61-0c2d8e4f1b37");
            assert_eq!(e.time.to_rfc3339(), "2025-07-18T10:50:02.114207+00:00");
            assert_eq!(e.body["batteryLevel"], 87.5);
        }
        // Mains-powered or unknown battery: the margin only.
        let mains = json.replace("\"externalPowerSource\": false", "\"externalPowerSource\": true");
        assert_eq!(event_of("status", mains.as_bytes()).readings, vec![(Metric::RadioMargin, 7.0)]);
        let unknown = json.replace("\"batteryLevelUnavailable\": false", "\"batteryLevelUnavailable\": true");
        assert_eq!(event_of("status", unknown.as_bytes()).readings, vec![(Metric::RadioMargin, 7.0)]);
    }

    #[test]
    fn log_events_keep_level_code_and_description_for_operators() {
        let json = fixture("log");
        for payload in [json.as_bytes().to_vec(), protobuf::<pb::LogEvent>(json)] {
            let e = event_of("log", &payload);
            assert_eq!((e.level.as_deref(), e.code.as_deref()), (Some("ERROR"), Some("UPLINK_CODEC")));
            assert!(e.description.as_deref().unwrap().contains("ReferenceError"));
            assert_eq!(e.dedup_key, "log:3ac7e3c4-4401-4b8d-9386-a5c902f9202d");
            assert!(e.readings.is_empty());
        }
    }

    #[test]
    fn join_ack_txack_and_location_events() {
        type Encode = fn(&str) -> Vec<u8>;
        let cases: [(&'static str, Encode); 4] = [
            ("join", protobuf::<pb::JoinEvent>),
            ("ack", protobuf::<pb::AckEvent>),
            ("txack", protobuf::<pb::TxAckEvent>),
            ("location", protobuf::<pb::LocationEvent>),
        ];
        for (kind, encode) in cases {
            let json = fixture(kind);
            let from_json = event_of(kind, json.as_bytes());
            let from_proto = event_of(kind, &encode(json));
            assert_eq!(from_json.kind, kind);
            assert_eq!(from_json.dedup_key, from_proto.dedup_key, "{kind}");
            assert_eq!(from_json.time, from_proto.time, "{kind}");
            assert!(from_json.dedup_key.starts_with(&format!("{kind}:")));
        }
        assert_eq!(event_of("ack", fixture("ack").as_bytes()).description.as_deref(), Some("acknowledged"));
        assert_eq!(event_of("txack", fixture("txack").as_bytes()).dedup_key, "txack:3926715214");
    }

    #[test]
    fn protobuf_uplinks_parse_like_json_ones() {
        let from_json = parse_uplink(V4_20.as_bytes()).unwrap();
        let Parsed::Uplink(from_proto) = parse("up", &protobuf::<pb::UplinkEvent>(V4_20)).unwrap() else {
            panic!("not an uplink")
        };
        assert_eq!(from_proto.dedup_key, from_json.dedup_key);
        assert_eq!(
            (from_proto.time, from_proto.dev_eui, from_proto.f_cnt),
            (from_json.time, from_json.dev_eui, from_json.f_cnt)
        );
        assert_eq!((from_proto.f_port, &from_proto.payload), (from_json.f_port, &from_json.payload));
        assert_eq!(from_proto.rx, from_json.rx);
        assert_eq!(from_proto.tx, from_json.tx);
        assert_eq!(from_proto.dev_addr, from_json.dev_addr);
        assert_eq!(from_proto.lns_object, from_json.lns_object);
    }

    #[test]
    fn malformed_protobuf_and_events_are_typed_errors() {
        assert!(matches!(parse("up", &[0x0a, 0xff, 0x01]), Err(ParseError::Protobuf(_))));
        assert!(matches!(parse("status", &[0x12, 0x05, 0x01]), Err(ParseError::Protobuf(_))));
        assert!(matches!(parse("status", b"{\"time\": 5}"), Err(ParseError::Json(_))));
        // An event without its device.
        let no_device = pb::StatusEvent { margin: 3, ..Default::default() }.encode_to_vec();
        assert!(matches!(parse("status", &no_device), Err(ParseError::Field { field: "deviceInfo", .. })));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2_000, ..Default::default() })]

        /// Arbitrary bytes on every event kind: a value or a typed error, never a panic.
        #[test]
        fn arbitrary_payloads_never_panic(kind in 0..KINDS.len(), bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(KINDS[kind], &bytes);
        }

        /// Valid events with bytes flipped, in both marshalings.
        #[test]
        fn mutated_events_never_panic(kind in 0..KINDS.len(), at in proptest::prelude::any::<usize>(), byte in proptest::prelude::any::<u8>(), proto in proptest::prelude::any::<bool>()) {
            let k = KINDS[kind];
            let mut payload = if proto {
                match k {
                    "up" => protobuf::<pb::UplinkEvent>(fixture(k)),
                    "status" => protobuf::<pb::StatusEvent>(fixture(k)),
                    "log" => protobuf::<pb::LogEvent>(fixture(k)),
                    "join" => protobuf::<pb::JoinEvent>(fixture(k)),
                    "ack" => protobuf::<pb::AckEvent>(fixture(k)),
                    "txack" => protobuf::<pb::TxAckEvent>(fixture(k)),
                    _ => protobuf::<pb::LocationEvent>(fixture(k)),
                }
            } else {
                fixture(k).as_bytes().to_vec()
            };
            if !payload.is_empty() {
                let i = at % payload.len();
                payload[i] = byte;
            }
            let _ = parse(k, &payload);
        }
    }

    #[test]
    fn join_server_context_means_encrypted() {
        let json = r#"{"time":"2025-01-01T00:00:00Z","deviceInfo":{"devEui":"0101010101010101"},"fPort":1,
            "data":"AQI=","joinServerContext":{"sessionKeyId":"abc"}}"#;
        assert!(parse_uplink(json.as_bytes()).unwrap().encrypted);
    }
}
