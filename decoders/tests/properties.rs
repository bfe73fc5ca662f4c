//! No-panic properties: every decoder, fed arbitrary bytes on any port, returns readings
//! or a typed error and never panics; the readings it returns are finite numbers.

use proptest::prelude::*;
use roc42_decoders::decode;
use roc42_decoders::model::builtin;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_never_panic(
        model in 0..builtin().len(),
        f_port in any::<u8>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let info = &builtin()[model];
        if let Ok(readings) = decode(&info.id, f_port, &bytes) {
            for r in readings {
                prop_assert!(r.value.is_finite(), "{}: {:?}", info.id, r);
            }
        }
    }

    /// Valid-looking frames: the model's own port, so decoders get past the port check.
    #[test]
    fn frames_on_the_model_port_never_panic(
        model in 0..builtin().len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let info = &builtin()[model];
        let _ = decode(&info.id, info.uplink_port, &bytes);
    }
}
