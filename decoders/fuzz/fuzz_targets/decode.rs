//! Every native decoder on arbitrary frames: byte 0 picks the model, byte 1 the FPort.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roc42_decoders::fuzz_frame(data));
