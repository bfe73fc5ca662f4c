//! The JS runtime's boundary: arbitrary frames through a codec that turns them into
//! arbitrary output shapes. Byte 0 is the FPort.
#![no_main]

use std::cell::RefCell;

use roc42_decoders::js::{fuzz_js, JsLimits, JsRunner};

thread_local! {
    static RUNNER: RefCell<JsRunner> = RefCell::new(JsRunner::new(JsLimits::default()));
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| RUNNER.with(|r| fuzz_js(&mut r.borrow_mut(), data)));
