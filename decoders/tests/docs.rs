//! `decoders/MODELS.md` is generated from the built-in manifests and the metric
//! catalogue, the same source the registry, `roc42 models` and `GET /api/v1/models`
//! read; this test fails when the file is out of date. Regenerate it with
//! `ROC42_BLESS=1 cargo test -p roc42-decoders --test docs`.

use std::fmt::Write as _;

use roc42_decoders::model::{builtin, Category};
use roc42_decoders::Metric;

fn render() -> String {
    let mut out = String::new();
    let models = builtin();
    let _ = writeln!(out, "# Device models and metrics\n");
    let _ = writeln!(
        out,
        "Generated from `decoders/manifests/*.toml` and `decoders/src/metric.rs` by `decoders/tests/docs.rs`; \
         do not edit (run `ROC42_BLESS=1 cargo test -p roc42-decoders --test docs`).\n"
    );
    let count = |c: Category| models.iter().filter(|m| m.category == c).count();
    let _ = writeln!(
        out,
        "{} built-in models: {} air quality, {} energy, {} parking. Operators add others with a JS codec \
         (`roc42 models add <manifest>`, see `deploy/models/`).\n",
        models.len(),
        count(Category::AirQuality),
        count(Category::Energy),
        count(Category::Parking)
    );
    for c in Category::ALL {
        let title = match c {
            Category::AirQuality => "Air quality",
            Category::Energy => "Energy",
            Category::Parking => "Parking",
        };
        let _ = writeln!(out, "## {title}\n");
        let _ = writeln!(out, "| id | vendor | model | class | FPort | metrics |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for m in models.iter().filter(|m| m.category == c) {
            let metrics: Vec<String> = m.metrics.iter().map(|x| format!("`{}`", x.name())).collect();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                m.id,
                m.vendor,
                m.model,
                m.lorawan_class,
                m.uplink_port,
                metrics.join(", ")
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Metrics\n");
    let _ = writeln!(out, "Units are SenML/UCUM symbols (`1`: dimensionless).\n");
    let _ = writeln!(out, "| metric | unit | kind | description |");
    let _ = writeln!(out, "|---|---|---|---|");
    for m in Metric::ALL {
        let i = m.info();
        let _ = writeln!(out, "| `{}` | `{}` | {} | {} |", i.name, i.unit, i.kind.as_str(), i.description);
    }
    out
}

#[test]
fn models_md_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/MODELS.md");
    let want = render();
    if std::env::var_os("ROC42_BLESS").is_some() {
        std::fs::write(path, &want).unwrap_or_else(|e| panic!("write {path}: {e}"));
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "{path} is out of date: run ROC42_BLESS=1 cargo test -p roc42-decoders --test docs");
}
