//! Every network-server adapter on arbitrary messages: byte 0 picks the topic (or
//! webhook route), so each adapter and each ChirpStack event kind is reached; the rest
//! is the payload. `ingest::parse` must give a value or a typed error, never panic.
#![no_main]

const TOPICS: &[&str] = &[
    "application/17c82e96/device/a81758fffe0312ab/event/up",
    "application/17c82e96/device/a81758fffe0312ab/event/join",
    "application/17c82e96/device/a81758fffe0312ab/event/status",
    "application/17c82e96/device/a81758fffe0312ab/event/log",
    "application/17c82e96/device/a81758fffe0312ab/event/ack",
    "application/17c82e96/device/a81758fffe0312ab/event/txack",
    "application/17c82e96/device/a81758fffe0312ab/event/location",
    "v3/app1@ttn/devices/dev1/up",
    "v3/app1@ttn/devices/dev1/join",
    "mqtt/things/A81758FFFE0312AB/uplink",
    "/api/v1/ingest/tts",
    "/api/v1/ingest/thingpark",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else { return };
    let topic = TOPICS[usize::from(pick) % TOPICS.len()];
    let _ = roc42::ingest::parse(topic, payload);
});
