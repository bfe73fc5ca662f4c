//! The runtime against codecs written for these tests (never vendor code): what a good
//! codec gives, and how a bad one is contained.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::{DecodeError, Metric, Reading};

/// A TTN-style codec: CO2 (ppm, u16 BE), temperature (0.1 C, i16 BE), humidity (%, u8)
/// on FPort 1, plus `normalizeUplink`.
pub(crate) const CO2_CODEC: &str = r#"
function decodeUplink(input) {
  if (input.fPort !== 1) return { errors: ["unknown FPort " + input.fPort] };
  var b = input.bytes;
  if (b.length < 5) return { errors: ["frame too short"] };
  var t = (b[2] << 8) | b[3];
  if (t > 0x7fff) t -= 0x10000;
  return { data: { co2: (b[0] << 8) | b[1], temperature: t / 10, humidity: b[4], year: input.recvTime.getUTCFullYear() },
           warnings: [] };
}
function normalizeUplink(input) {
  return { data: { air: { co2: input.data.co2, temperature: input.data.temperature,
                          relativeHumidity: input.data.humidity } } };
}
"#;

fn pool() -> JsPool {
    JsPool::start(JsLimits { threads: 2, ..JsLimits::default() }).unwrap()
}

fn input(f_port: u8, bytes: &[u8]) -> JsInput {
    JsInput { f_port, bytes: bytes.to_vec(), recv_time_ms: 1_700_000_000_000 }
}

fn values(r: &[Reading]) -> Vec<(Metric, f64)> {
    r.iter().map(|r| (r.metric, r.value)).collect()
}

#[test]
fn ttn_codec_with_normalize_gives_canonical_readings() {
    let pool = pool();
    let codec = Arc::new(JsCodec::new("acme-co2", CO2_CODEC, vec![]));
    let r = pool.decode_blocking(Arc::clone(&codec), input(1, &[0x01, 0xa4, 0xff, 0x38, 45])).unwrap();
    assert_eq!(
        values(&r),
        [(Metric::AirCo2, 420.0), (Metric::AirRelativeHumidity, 45.0), (Metric::AirTemperature, -20.0)]
    );
    let e = pool.decode_blocking(Arc::clone(&codec), input(2, &[1])).unwrap_err();
    assert_eq!(e, DecodeError::Codec("decodeUplink returned errors: unknown FPort 2".into()));
    let e = pool.decode_blocking(codec, input(1, &[1])).unwrap_err();
    assert!(e.to_string().contains("frame too short"), "{e}");
}

#[test]
fn mapping_applies_without_normalize_and_recv_time_is_a_date() {
    let pool = pool();
    let src = CO2_CODEC.replace("function normalizeUplink", "function unusedNormalize");
    let mapping = vec![
        FieldMap { field: "co2".into(), metric: Metric::AirCo2, scale: 1.0 },
        FieldMap { field: "year".into(), metric: Metric::PulseCount, scale: 1.0 },
    ];
    let codec = Arc::new(JsCodec::new("acme-co2", src, mapping));
    let r = pool.decode_blocking(codec, input(1, &[0, 10, 0, 0, 0])).unwrap();
    assert_eq!(values(&r), [(Metric::AirCo2, 10.0), (Metric::PulseCount, 2023.0)]);
}

#[test]
fn throwing_and_broken_codecs_fail_with_clear_errors() {
    let pool = pool();
    let throws =
        Arc::new(JsCodec::new("t1", "function decodeUplink(i) { throw new TypeError('boom ' + i.fPort); }", vec![]));
    assert_eq!(pool.decode_blocking(throws, input(3, &[])), Err(DecodeError::Codec("boom 3".into())));
    let throws_value = Arc::new(JsCodec::new("t2", "function decodeUplink(i) { throw {code: 7}; }", vec![]));
    assert_eq!(
        pool.decode_blocking(throws_value, input(3, &[])),
        Err(DecodeError::Codec(r#"threw {"code":7}"#.into()))
    );
    let syntax = Arc::new(JsCodec::new("t3", "function decodeUplink(i) { return {", vec![]));
    let e = pool.decode_blocking(syntax, input(1, &[])).unwrap_err();
    assert!(e.to_string().starts_with("codec error: codec does not load"), "{e}");
    let missing = Arc::new(JsCodec::new("t4", "function decode(i) { return {}; }", vec![]));
    let e = pool.decode_blocking(missing, input(1, &[])).unwrap_err();
    assert!(e.to_string().contains("no decodeUplink"), "{e}");
    let no_data = Arc::new(JsCodec::new("t5", "function decodeUplink(i) { return 42; }", vec![]));
    let e = pool.decode_blocking(no_data, input(1, &[])).unwrap_err();
    assert!(e.to_string().contains("'data'"), "{e}");
    let cyclic =
        Arc::new(JsCodec::new("t6", "function decodeUplink(i) { var d = {}; d.d = d; return {data: d}; }", vec![]));
    assert!(pool.decode_blocking(cyclic, input(1, &[])).is_err());
}

#[test]
fn an_endless_loop_is_stopped_at_the_time_limit_even_if_it_catches() {
    let pool = JsPool::start(JsLimits { threads: 1, time: Duration::from_millis(50), ..JsLimits::default() }).unwrap();
    let src = "function decodeUplink(i) { for (;;) { try { while (true) {} } catch (e) {} } }";
    let looping = Arc::new(JsCodec::new("loop", src, vec![]));
    let t = Instant::now();
    assert_eq!(
        pool.decode_blocking(Arc::clone(&looping), input(1, &[])),
        Err(DecodeError::CodecTimeout(Duration::from_millis(50)))
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // A loop at load time (top-level code) is stopped the same way.
    let at_load = Arc::new(JsCodec::new("loop-load", "while (true) {} function decodeUplink(i) {}", vec![]));
    assert_eq!(pool.decode_blocking(at_load, input(1, &[])), Err(DecodeError::CodecTimeout(Duration::from_millis(50))));
    // The worker is still good for other codecs.
    let good = Arc::new(JsCodec::new("acme-co2", CO2_CODEC, vec![]));
    assert_eq!(pool.decode_blocking(good, input(1, &[0, 1, 0, 0, 0])).map(|r| r.len()), Ok(3));
}

#[test]
fn an_allocation_bomb_is_stopped_at_the_memory_limit_and_the_worker_recovers() {
    let pool = JsPool::start(JsLimits {
        threads: 1,
        memory_bytes: 8 << 20,
        time: Duration::from_secs(5),
        ..JsLimits::default()
    })
    .unwrap();
    let bombs = [
        "function decodeUplink(i) { var a = []; for (;;) a.push(new Array(100000).fill(i.fPort)); }",
        "function decodeUplink(i) { var p = []; for (;;) p.push('x'.repeat(65536) + p.length); }",
        "function decodeUplink(i) { var o = {}; for (var n = 0;; n++) o['k' + n] = [n, n, n]; }",
    ];
    let good = Arc::new(JsCodec::new("acme-co2", CO2_CODEC, vec![]));
    for (n, src) in bombs.iter().enumerate() {
        let bomb = Arc::new(JsCodec::new(format!("bomb{n}"), *src, vec![]));
        assert_eq!(pool.decode_blocking(bomb, input(1, &[])), Err(DecodeError::CodecMemory(8 << 20)), "{src}");
        assert_eq!(pool.decode_blocking(Arc::clone(&good), input(1, &[0, 1, 0, 0, 0])).map(|r| r.len()), Ok(3));
    }
}

#[test]
fn deep_recursion_is_an_error_not_a_crash() {
    let pool = pool();
    let deep = Arc::new(JsCodec::new(
        "deep",
        "function f(n) { return f(n + 1) + 1; } function decodeUplink(i) { return {data: {x: f(0)}}; }",
        vec![],
    ));
    let e = pool.decode_blocking(deep, input(1, &[])).unwrap_err();
    assert_eq!(e, DecodeError::Codec("Maximum call stack size exceeded".into()));
}

#[test]
fn codecs_are_isolated_and_have_no_io() {
    let pool = JsPool::start(JsLimits { threads: 1, ..JsLimits::default() }).unwrap();
    let a = Arc::new(JsCodec::new(
        "a",
        "var shared = 5; leaked = 6; function decodeUplink(i) { return {data: {'pulse.count': shared + leaked}}; }",
        vec![],
    ));
    assert_eq!(values(&pool.decode_blocking(a, input(1, &[])).unwrap()), [(Metric::PulseCount, 11.0)]);
    let probe = r#"function decodeUplink(i) {
        var seen = [typeof shared, typeof leaked, typeof require, typeof fetch, typeof std, typeof os,
                    typeof XMLHttpRequest, typeof process, typeof setTimeout, typeof print];
        return {data: {'pulse.count': seen.filter(function (t) { return t !== 'undefined'; }).length}};
    }"#;
    let b = Arc::new(JsCodec::new("b", probe, vec![]));
    assert_eq!(values(&pool.decode_blocking(b, input(1, &[])).unwrap()), [(Metric::PulseCount, 0.0)]);
}

#[test]
fn a_changed_codec_source_is_recompiled() {
    let pool = JsPool::start(JsLimits { threads: 1, ..JsLimits::default() }).unwrap();
    let v1 = Arc::new(JsCodec::new("m", "function decodeUplink(i) { return {data: {'pulse.count': 1}}; }", vec![]));
    let v2 = Arc::new(JsCodec::new("m", "function decodeUplink(i) { return {data: {'pulse.count': 2}}; }", vec![]));
    assert_eq!(values(&pool.decode_blocking(v1, input(1, &[])).unwrap()), [(Metric::PulseCount, 1.0)]);
    assert_eq!(values(&pool.decode_blocking(v2, input(1, &[])).unwrap()), [(Metric::PulseCount, 2.0)]);
}

#[test]
fn a_slow_codec_does_not_hold_up_another_worker() {
    let pool = JsPool::start(JsLimits { threads: 2, time: Duration::from_millis(300), ..JsLimits::default() }).unwrap();
    let looping = Arc::new(JsCodec::new("loop", "function decodeUplink(i) { while (true) {} }", vec![]));
    let (tx, rx) = std::sync::mpsc::channel();
    pool.submit(
        looping,
        input(1, &[]),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let good = Arc::new(JsCodec::new("acme-co2", CO2_CODEC, vec![]));
    let t = Instant::now();
    for _ in 0..50 {
        assert!(pool.decode_blocking(Arc::clone(&good), input(1, &[0, 1, 0, 0, 0])).is_ok());
    }
    assert!(t.elapsed() < Duration::from_millis(300), "good frames waited {:?}", t.elapsed());
    assert!(matches!(rx.recv().unwrap(), Err(DecodeError::CodecTimeout(_))));
}

#[test]
fn the_chaos_codec_reaches_readings_errors_and_throws() {
    let mut runner = JsRunner::new(JsLimits::default());
    let codec = JsCodec::new("chaos", CHAOS_CODEC, vec![]);
    let (mut readings, mut errors, mut thrown) = (0, 0, 0);
    let mut state: u32 = 7;
    for n in 0..3000u32 {
        let bytes: Vec<u8> = (0..24)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        let input = JsInput { f_port: (n % 6) as u8, bytes, recv_time_ms: 0 };
        match runner.decode(&codec, &input) {
            Ok(r) => {
                assert!(r.iter().all(|r| r.value.is_finite()), "{r:?}");
                readings += r.len();
            }
            Err(DecodeError::Codec(m)) if m.starts_with("decodeUplink") => errors += 1,
            Err(DecodeError::Codec(_)) => thrown += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(readings > 100 && errors > 100 && thrown > 100, "{readings} readings, {errors} errors, {thrown} thrown");
}
