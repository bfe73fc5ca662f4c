//! No-panic properties, run in CI with a bounded budget (`PROPTEST_CASES` raises it;
//! `decoders/fuzz` has the `cargo fuzz` targets for long runs):
//! - every native decoder, fed arbitrary bytes on any port and on its own port, returns
//!   readings or a typed error, never panics, and its readings are finite;
//! - the JS runtime's boundary: a codec turning arbitrary bytes into arbitrary output
//!   shapes never makes the runtime panic or give a non-finite reading.

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use roc42_decoders::js::{fuzz_js, JsLimits, JsRunner};
use roc42_decoders::model::builtin;
use roc42_decoders::{decode_with, fuzz_frame};

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, .. ProptestConfig::default() })]

    /// Through the fuzz entry: random model, random or own port, random frame.
    #[test]
    fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..96)) {
        fuzz_frame(&data);
    }
}

/// Every model, deterministically: random frames on its own port and on random ports,
/// so no decoder is left to chance; what they decode to must be finite.
#[test]
fn every_model_survives_random_frames() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64));
    for info in builtin() {
        for i in 0..1000 {
            let (port, bytes) = strategy.new_tree(&mut runner).map(|t| t.current()).unwrap_or_default();
            let f_port = if i % 2 == 0 { info.uplink_port } else { port };
            if let Ok(readings) = decode_with(info, f_port, &bytes) {
                assert!(readings.iter().all(|r| r.value.is_finite()), "{}: {readings:?}", info.id);
            }
        }
    }
}

thread_local! {
    static RUNNER: RefCell<JsRunner> = RefCell::new(JsRunner::new(JsLimits::default()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    #[test]
    fn js_boundary_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        RUNNER.with(|r| fuzz_js(&mut r.borrow_mut(), &data));
    }
}
