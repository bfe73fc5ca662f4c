//! Native decode time per payload, one representative frame per decoder family.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use roc42_decoders::{decode_with, model};

fn bench(c: &mut Criterion) {
    let frames: &[(&str, u8, &str)] = &[
        ("milesight-am319", 85, "0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000"),
        ("milesight-ct101", 85, "8498b80bd007c40905"),
        ("elsys-ers-co2", 1, "0100e202290400270506060308"),
        ("tekzitel-tekzipark", 1, "a82d63b000550120"),
    ];
    let mut g = c.benchmark_group("decode");
    for (id, port, hex) in frames {
        let Some(info) = model::get(id) else { panic!("unknown model {id}") };
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
        g.bench_function(*id, |b| b.iter(|| decode_with(info, black_box(*port), black_box(&bytes))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
