//! Watteco Flash'O: an optical pulse reader for electricity meters (one input). Standard
//! reports of its pin state and pulse index, and batch reports of index and battery voltage.

use crate::metric::Metric;
use crate::models::watteco::{self, Batch, Product, SampleType, Series};
use crate::{DecodeError, Readings};

/// Batch parameters: 1-bit tags; index (u32) and battery voltage (u16, mV, steps of 100).
static BATCH: Batch = Batch {
    tag_bits: 1,
    series: &[
        Series { tag: 0, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: Some(Metric::PulseCount) },
        Series {
            tag: 1,
            kind: SampleType::U16,
            resolution: 100.0,
            divide: 1000.0,
            metric: Some(Metric::BatteryVoltage),
        },
    ],
};

static FLASHO: Product = Product { standard: watteco::binary_input, batch: Some(&BATCH) };

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&FLASHO, f_port, bytes, out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Reading;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
    }

    #[test]
    fn batch_samples_are_aged_from_the_frame_time() {
        let mut out = Readings::default();
        decode(125, &hex("20000000E008000000207E1C20424030040801"), &mut out).unwrap();
        let at = |metric, value, secs| Reading { metric, value, age: Duration::from_secs(secs) };
        assert_eq!(
            out.0,
            vec![
                at(Metric::PulseCount, 0.0, 114),
                at(Metric::PulseCount, 0.0, 39),
                at(Metric::BatteryVoltage, 3.6, 96),
            ]
        );
    }

    #[test]
    fn truncated_batch_is_too_short() {
        let mut out = Readings::default();
        assert!(matches!(decode(125, &hex("20000000E00800"), &mut out), Err(DecodeError::TooShort { .. })));
    }
}
