//! The Things Stack v3 adapter: application messages (`ApplicationUp` JSON, proto3 with
//! snake_case names) from its MQTT server (`v3/{app}@{tenant}/devices/{device}/{kind}`,
//! possibly under a bridge's prefix) or its webhook integration (the same JSON, POSTed).
//!
//! `up` (`uplink_message`) becomes an [`Uplink`]; `join` (`join_accept`) becomes an
//! [`LnsEvent`] of kind `join`; the other messages (`down/*`, `service/data`,
//! `location/solved`) are rejected with their kind named, so a too-wide topic filter
//! shows up in `ingest_rejected`.
//!
//! Quirks handled: proto3 JSON omits fields at their default (`f_cnt` 0, `f_port` 0),
//! 64-bit values are strings (`"frequency": "868300000"`), `frm_payload` is base64 and
//! absent when the frame had none, and with `skip_payload_crypto` the payload arrives
//! still encrypted along with an `app_s_key` envelope.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::chirpstack::fallback_dedup_key;
use super::lenient;
use super::{LnsEvent, ParseError, Parsed, RxGateway, TxParams, Uplink};
use crate::lorawan::DevEui;

/// The HTTP route TTS webhooks post to (the "uplink message" path; a join-accept path
/// pointing here works too: the body says which message it is).
pub const WEBHOOK_ROUTE: &str = "/api/v1/ingest/tts";

/// The message kinds TTS publishes, as they end the topic.
const KINDS: [&str; 9] = [
    "up",
    "join",
    "down/queued",
    "down/sent",
    "down/ack",
    "down/nack",
    "down/failed",
    "service/data",
    "location/solved",
];

/// The message kind of a TTS topic: `[prefix/]v3/{app}[@{tenant}]/devices/{device}/{kind}`.
pub fn topic_kind(topic: &str) -> Option<&'static str> {
    let segments: Vec<&str> = topic.split('/').collect();
    KINDS.iter().copied().find(|kind| {
        let k = kind.split('/').count();
        let n = segments.len();
        n >= k + 4
            && segments[n - k..].join("/") == *kind
            && segments[n - k - 2] == "devices"
            && segments[n - k - 4] == "v3"
            && !segments[n - k - 3].is_empty()
            && !segments[n - k - 1].is_empty()
    })
}

/// Parses a message of `kind` (from [`topic_kind`]).
pub fn parse(kind: &'static str, payload: &[u8]) -> Result<Parsed, ParseError> {
    match kind {
        "up" => parse_uplink(payload).map(Parsed::Uplink),
        "join" => parse_join(payload).map(Parsed::Event),
        other => Err(ParseError::EventKind(format!("{other} (The Things Stack; roc42 takes up and join)"))),
    }
}

/// Parses a webhook body: an uplink or a join-accept message, told by its content.
pub fn parse_webhook(payload: &[u8]) -> Result<Parsed, ParseError> {
    let msg: Message = serde_json::from_slice(payload).map_err(|e| ParseError::Json(e.to_string()))?;
    if msg.uplink_message.is_some() {
        uplink(msg).map(Parsed::Uplink)
    } else if msg.join_accept.is_some() {
        join(msg).map(Parsed::Event)
    } else {
        Err(field("uplink_message", "missing: only uplink and join-accept messages are taken"))
    }
}

/// Parses the JSON of one uplink message.
pub fn parse_uplink(payload: &[u8]) -> Result<Uplink, ParseError> {
    uplink(serde_json::from_slice(payload).map_err(|e| ParseError::Json(e.to_string()))?)
}

fn parse_join(payload: &[u8]) -> Result<LnsEvent, ParseError> {
    join(serde_json::from_slice(payload).map_err(|e| ParseError::Json(e.to_string()))?)
}

/// `ApplicationUp`: the wrapper of every application message.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    end_device_ids: DeviceIds,
    #[serde(default)]
    correlation_ids: Vec<String>,
    /// Application Server time.
    received_at: Option<DateTime<Utc>>,
    uplink_message: Option<UplinkMessage>,
    join_accept: Option<JoinAccept>,
}

#[derive(Default, Deserialize)]
struct DeviceIds {
    dev_eui: Option<String>,
    dev_addr: Option<String>,
}

#[derive(Deserialize)]
struct UplinkMessage {
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    f_port: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    f_cnt: Option<u64>,
    frm_payload: Option<String>,
    decoded_payload: Option<serde_json::Value>,
    #[serde(default)]
    rx_metadata: Vec<RxMetadata>,
    settings: Option<Settings>,
    /// Network Server time.
    received_at: Option<DateTime<Utc>>,
    app_s_key: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct JoinAccept {
    received_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RxMetadata {
    #[serde(default)]
    gateway_ids: GatewayIds,
    time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    rssi: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    channel_rssi: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    snr: Option<f64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    channel_index: Option<u64>,
    location: Option<lenient::Location>,
}

#[derive(Default, Deserialize)]
struct GatewayIds {
    #[serde(default)]
    gateway_id: String,
    eui: Option<String>,
}

#[derive(Deserialize)]
struct Settings {
    #[serde(default)]
    data_rate: DataRate,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    data_rate_index: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    frequency: Option<u64>,
    time: Option<DateTime<Utc>>,
}

#[derive(Default, Deserialize)]
struct DataRate {
    lora: Option<Lora>,
}

#[derive(Deserialize)]
struct Lora {
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    bandwidth: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    spreading_factor: Option<u64>,
}

fn field(field: &'static str, reason: impl ToString) -> ParseError {
    ParseError::Field { field, reason: reason.to_string() }
}

fn dev_eui(ids: &DeviceIds) -> Result<DevEui, ParseError> {
    // Optional in TTS (an ABP device may have none), required here: it is the device's key.
    let eui = ids.dev_eui.as_deref().ok_or_else(|| field("end_device_ids.dev_eui", "missing"))?;
    eui.parse().map_err(|e| field("end_device_ids.dev_eui", e))
}

/// The Application Server's id of this uplink (`as:up:<ULID>`): the same in every
/// integration (MQTT, webhooks) and in webhook retries.
fn as_up_id(correlation_ids: &[String]) -> Option<&str> {
    correlation_ids.iter().map(String::as_str).find(|c| c.starts_with("as:up:") && c.len() > "as:up:".len())
}

fn uplink(msg: Message) -> Result<Uplink, ParseError> {
    let dev_eui = dev_eui(&msg.end_device_ids)?;
    let up = msg.uplink_message.ok_or_else(|| field("uplink_message", "missing"))?;
    // Omitted fields are zero in proto3 JSON.
    let f_port = u8::try_from(up.f_port.unwrap_or(0)).map_err(|_| field("uplink_message.f_port", "above 255"))?;
    let f_cnt = u32::try_from(up.f_cnt.unwrap_or(0)).map_err(|_| field("uplink_message.f_cnt", "above 2^32-1"))?;
    let payload = match &up.frm_payload {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| field("uplink_message.frm_payload", e))?,
        None => Vec::new(),
    };
    // Network time: the Network Server's reception, else the gateways' (settings, then
    // the first gateway), else the Application Server's.
    let time = up
        .received_at
        .or(up.settings.as_ref().and_then(|s| s.time))
        .or(up.rx_metadata.iter().find_map(|r| r.time))
        .or(msg.received_at)
        .ok_or_else(|| field("uplink_message.received_at", "missing (and no other time)"))?;
    let dedup_key = match as_up_id(&msg.correlation_ids) {
        Some(id) => id.to_owned(),
        None => fallback_dedup_key(dev_eui, Some(f_cnt), &payload, time),
    };
    let rx = up
        .rx_metadata
        .into_iter()
        .map(|r| RxGateway {
            gateway_id: if r.gateway_ids.gateway_id.is_empty() {
                r.gateway_ids.eui.unwrap_or_default()
            } else {
                r.gateway_ids.gateway_id
            },
            rssi: r.rssi.or(r.channel_rssi).map(|v| v.round() as i32),
            snr: r.snr,
            channel: r.channel_index.and_then(|c| u32::try_from(c).ok()),
            location: r.location.and_then(lenient::Location::point),
        })
        .collect();
    let tx = up.settings.as_ref().map(|s| {
        let lora = s.data_rate.lora.as_ref();
        TxParams {
            frequency: s.frequency,
            spreading_factor: lora.and_then(|l| l.spreading_factor).and_then(|v| u32::try_from(v).ok()),
            bandwidth: lora.and_then(|l| l.bandwidth).and_then(|v| u32::try_from(v).ok()),
            dr: s.data_rate_index.and_then(|v| u32::try_from(v).ok()),
        }
    });
    Ok(Uplink {
        lns: "tts",
        dedup_key,
        time,
        dev_eui,
        dev_addr: msg.end_device_ids.dev_addr.filter(|a| !a.is_empty()).map(|a| a.to_ascii_lowercase()),
        f_cnt: Some(f_cnt),
        f_port,
        // With skip_payload_crypto the AS forwards the FRMPayload as received, with the
        // AppSKey (wrapped) beside it.
        encrypted: up.app_s_key.is_some() && !payload.is_empty(),
        payload,
        rx,
        tx,
        lns_object: up.decoded_payload,
    })
}

fn join(msg: Message) -> Result<LnsEvent, ParseError> {
    let dev_eui = dev_eui(&msg.end_device_ids)?;
    let accept = msg.join_accept.as_ref().ok_or_else(|| field("join_accept", "missing"))?;
    let time = accept.received_at.or(msg.received_at).ok_or_else(|| field("join_accept.received_at", "missing"))?;
    let id = as_up_id(&msg.correlation_ids).map(str::to_owned);
    let body = serde_json::json!({
        "end_device_ids": {"dev_eui": msg.end_device_ids.dev_eui, "dev_addr": msg.end_device_ids.dev_addr},
        "correlation_ids": msg.correlation_ids,
        "received_at": msg.received_at,
        "join_accept": {"received_at": accept.received_at},
    });
    let dedup_key = match id {
        Some(id) => format!("join:{id}"),
        None => format!("join:{}", fallback_dedup_key(dev_eui, None, &[], time)),
    };
    Ok(LnsEvent {
        lns: "tts",
        kind: "join",
        dedup_key,
        time,
        dev_eui,
        level: None,
        code: None,
        description: None,
        readings: Vec::new(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!("../../tests/fixtures/tts_v3_up_docs.json");
    const MINIMAL: &str = include_str!("../../tests/fixtures/tts_v3_up_minimal.json");
    const JOIN: &str = include_str!("../../tests/fixtures/tts_v3_join.json");

    #[test]
    fn topics() {
        assert_eq!(topic_kind("v3/app1@ttn/devices/dev1/up"), Some("up"));
        assert_eq!(topic_kind("v3/app1/devices/dev1/join"), Some("join"));
        assert_eq!(topic_kind("bridge/tts/v3/app1@t/devices/dev1/up"), Some("up"));
        assert_eq!(topic_kind("v3/app1@t/devices/dev1/down/queued"), Some("down/queued"));
        assert_eq!(topic_kind("v3/app1@t/devices/dev1/location/solved"), Some("location/solved"));
        assert_eq!(topic_kind("v3/app1@t/devices/dev1/down/push"), None);
        assert_eq!(topic_kind("v3/app1@t/devices//up"), None);
        assert_eq!(topic_kind("v3/app1@t/device/dev1/up"), None);
        assert_eq!(topic_kind("application/1/device/0101010101010101/event/up"), None);
        assert_eq!(topic_kind("mqtt/things/0101010101010101/uplink"), None);
        assert_eq!(topic_kind("up"), None);
    }

    #[test]
    fn parses_the_docs_example() {
        let u = parse_uplink(DOCS.as_bytes()).unwrap();
        assert_eq!(u.lns, "tts");
        assert_eq!(u.dedup_key, "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ");
        assert_eq!(u.dev_eui.to_string(), "0004a30b001c0530");
        assert_eq!(u.dev_addr.as_deref(), Some("00bcb929"));
        assert_eq!((u.f_cnt, u.f_port), (Some(1), 1));
        assert_eq!(u.payload, vec![0x82, 0x41, 0xde]);
        assert!(!u.encrypted);
        // The Network Server's time, not the Application Server's.
        assert_eq!(u.time.to_rfc3339(), "2020-02-12T15:15:45.789585559+00:00");
        assert_eq!(u.rx.len(), 1);
        let g = &u.rx[0];
        assert_eq!((g.gateway_id.as_str(), g.rssi, g.snr, g.channel), ("gtw1", Some(-35), Some(5.0), Some(2)));
        let tx = u.tx.unwrap();
        assert_eq!((tx.frequency, tx.spreading_factor, tx.bandwidth), (Some(868_300_000), Some(7), Some(125_000)));
        assert_eq!(u.lns_object.unwrap()["luminosity"], 0.64);
    }

    #[test]
    fn omitted_defaults_are_zero_and_no_payload_is_empty() {
        let u = parse_uplink(MINIMAL.as_bytes()).unwrap();
        assert_eq!((u.f_cnt, u.f_port), (Some(0), 0));
        assert!(u.payload.is_empty());
        assert!(u.rx[0].snr.is_none() && u.rx[0].channel.is_none());
        assert_eq!(u.rx[0].location.map(|l| l.latitude), Some(48.85));
        assert!(u.lns_object.is_none());
        assert_eq!(u.time.to_rfc3339(), "2025-03-04T08:00:00.120+00:00");
    }

    #[test]
    fn fallback_time_and_dedup_key() {
        let json = r#"{"end_device_ids":{"dev_eui":"0101010101010101"},
            "uplink_message":{"f_port":2,"f_cnt":"9","frm_payload":"AQI=","settings":{"time":"2025-01-01T00:00:01Z"},
            "rx_metadata":[{"gateway_ids":{"eui":"AA555A0000000000"},"channel_rssi":-90.4}]}}"#;
        let u = parse_uplink(json.as_bytes()).unwrap();
        assert_eq!(u.time.to_rfc3339(), "2025-01-01T00:00:01+00:00");
        assert!(u.dedup_key.starts_with("sha256:"));
        assert_eq!(parse_uplink(json.as_bytes()).unwrap().dedup_key, u.dedup_key, "stable across redeliveries");
        assert_eq!((u.rx[0].gateway_id.as_str(), u.rx[0].rssi), ("AA555A0000000000", Some(-90)));
        let no_time = r#"{"end_device_ids":{"dev_eui":"0101010101010101"},"uplink_message":{}}"#;
        assert!(matches!(parse_uplink(no_time.as_bytes()), Err(ParseError::Field { .. })));
    }

    #[test]
    fn skip_payload_crypto_means_encrypted() {
        let json = r#"{"end_device_ids":{"dev_eui":"0101010101010101"},"received_at":"2025-01-01T00:00:00Z",
            "uplink_message":{"f_port":1,"frm_payload":"AQI=","app_s_key":{"key":"AAECAwQFBgcICQoLDA0ODw=="}}}"#;
        assert!(parse_uplink(json.as_bytes()).unwrap().encrypted);
    }

    #[test]
    fn join_is_an_event_and_other_kinds_are_refused() {
        let Parsed::Event(e) = parse("join", JOIN.as_bytes()).unwrap() else { panic!("not an event") };
        assert_eq!((e.lns, e.kind), ("tts", "join"));
        assert_eq!(e.dedup_key, "join:as:up:01HQ3ZJ7D2X3ZK9N5V0M4B6C8E");
        assert_eq!(e.dev_eui.to_string(), "70b3d57ed0000001");
        assert!(matches!(parse_webhook(JOIN.as_bytes()), Ok(Parsed::Event(_))));
        assert!(matches!(parse_webhook(DOCS.as_bytes()), Ok(Parsed::Uplink(_))));
        assert!(matches!(parse("down/queued", b"{}"), Err(ParseError::EventKind(k)) if k.starts_with("down/queued")));
        assert!(matches!(
            parse_webhook(br#"{"end_device_ids":{}}"#),
            Err(ParseError::Field { field: "uplink_message", .. })
        ));
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert!(matches!(parse_uplink(b"{not json"), Err(ParseError::Json(_))));
        let t = r#""received_at":"2025-01-01T00:00:00Z""#;
        let cases = [
            (format!(r#"{{{t},"uplink_message":{{}}}}"#), "end_device_ids.dev_eui"),
            (format!(r#"{{{t},"end_device_ids":{{"dev_eui":"zz"}},"uplink_message":{{}}}}"#), "end_device_ids.dev_eui"),
            (format!(r#"{{{t},"end_device_ids":{{"dev_eui":"0101010101010101"}}}}"#), "uplink_message"),
            (
                format!(
                    r#"{{{t},"end_device_ids":{{"dev_eui":"0101010101010101"}},"uplink_message":{{"f_port":256}}}}"#
                ),
                "uplink_message.f_port",
            ),
            (
                format!(
                    r#"{{{t},"end_device_ids":{{"dev_eui":"0101010101010101"}},"uplink_message":{{"frm_payload":"!!"}}}}"#
                ),
                "uplink_message.frm_payload",
            ),
        ];
        for (json, want) in cases {
            match parse_uplink(json.as_bytes()) {
                Err(ParseError::Field { field, .. }) => assert_eq!(field, want, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse("up", &bytes);
            let _ = parse("join", &bytes);
            let _ = parse_webhook(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_fixtures(
            which in 0usize..3,
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
            leaf in proptest::prelude::any::<usize>(),
            value in super::super::lenient::tests::json_value(),
        ) {
            let fixture = [DOCS, MINIMAL, JOIN][which];
            let mut bytes = fixture.as_bytes().to_vec();
            for (at, b) in edits {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            let _ = parse("up", &bytes);
            let _ = parse_webhook(&bytes);
            let mutated = super::super::lenient::tests::replace_leaf(fixture, leaf, value);
            let _ = parse("up", &mutated);
            let _ = parse("join", &mutated);
            let _ = parse_webhook(&mutated);
        }
    }
}
