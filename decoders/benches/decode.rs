//! Decode cost per payload: native decoders (one representative frame per family; the
//! target is under 1 us) and JS codecs (the target is 20,000 payloads/s per core, i.e.
//! under 50 us each), the latter on one runtime on the bench thread and through the pool.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use roc42_decoders::js::{JsCodec, JsInput, JsLimits, JsPool, JsRunner};
use roc42_decoders::manifest::decode_hex;
use roc42_decoders::{decode_with, model};

/// The example operator model's codec (TTN style, with normalizeUplink).
const EXAMPLE_CODEC: &str = include_str!("../../deploy/models/example-co2/codec.js");

fn native(c: &mut Criterion) {
    let frames: &[(&str, u8, &str)] = &[
        ("milesight-am319", 85, "0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000"),
        ("milesight-ct101", 85, "8498b80bd007c40905"),
        ("elsys-ers-co2", 1, "0100e202290400270506060308"),
        ("tekzitel-tekzipark", 1, "a82d63b000550120"),
        ("adeunis-breath", 1, "6d8001b3003e001e001401b3003e001e0014"),
        ("elvaco-cmi4140", 2, "150405fc437f0e041340919822022e9015023c482b0259d825025de8140c782794817904fd1700000100"),
        ("nwave-nps405", 2, "00d3d800590b"),
        ("watteco-pulse-senso", 125, "3203032cd2dc00000000117b02000080903d005000401040801d11604704d8119024912492247b"),
    ];
    let mut g = c.benchmark_group("native");
    for (id, port, hex) in frames {
        let Some(info) = model::get(id) else { panic!("unknown model {id}") };
        let Some(bytes) = decode_hex(hex) else { panic!("bad hex {hex}") };
        assert!(decode_with(info, *port, &bytes).is_ok(), "{id} must decode its bench frame");
        g.bench_function(*id, |b| b.iter(|| decode_with(info, black_box(*port), black_box(&bytes))));
    }
    g.finish();
}

fn js(c: &mut Criterion) {
    let codec = Arc::new(JsCodec::new("example-co2", EXAMPLE_CODEC, vec![]));
    let input = JsInput { f_port: 1, bytes: decode_hex("01 01a4 0898 5a 0bb8").unwrap_or_default(), recv_time_ms: 0 };
    let mut g = c.benchmark_group("js");
    g.throughput(Throughput::Elements(1));
    let mut runner = JsRunner::new(JsLimits::default());
    assert_eq!(runner.decode(&codec, &input).map(|r| r.len()), Ok(4));
    g.bench_function("example-co2/one-runtime", |b| b.iter(|| runner.decode(&codec, black_box(&input))));
    // Through the pool, a batch at a time, as the pipeline feeds it (both cores).
    const BATCH: u64 = 256;
    let pool = JsPool::start(JsLimits { threads: 2, ..JsLimits::default() }).unwrap_or_else(|e| panic!("{e}"));
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("example-co2/pool-2-threads", |b| {
        b.iter(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            for _ in 0..BATCH {
                let tx = tx.clone();
                pool.submit(
                    Arc::clone(&codec),
                    input.clone(),
                    Box::new(move |r| {
                        let _ = tx.send(r.is_ok());
                    }),
                );
            }
            drop(tx);
            rx.iter().filter(|ok| *ok).count()
        })
    });
    g.finish();
}

criterion_group!(benches, native, js);
criterion_main!(benches);
