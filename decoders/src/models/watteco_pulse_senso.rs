//! Watteco Pulse Sens'O and Pulse Sens'O ATEX: pulse counters with three inputs. Standard
//! reports of pin states and pulse indexes (endpoint = input), batch reports of the three
//! indexes, pin states and battery voltage.
//!
//! The reading contract has no channel, so only input 1 (endpoint 0, tag 0) is kept: its
//! pulse index is `pulse.count` and its pin state `input.state`. Inputs 2 and 3 are framed
//! and dropped rather than merged into the same metrics.

use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Batch, Product, SampleType, Series};
use crate::{DecodeError, Readings};

/// Cluster "multi binary input": a 16-bit bitmap of pin states, bit 0 = input 1.
const CLUSTER_MULTI_BINARY_INPUT: u16 = 0x8005;

/// Batch parameters: 4-bit tags; indexes 1-3, pin states 1-3, battery voltage (mV, steps
/// of 100), multi-state.
static BATCH: Batch = Batch {
    tag_bits: 4,
    series: &[
        Series { tag: 0, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: Some(Metric::PulseCount) },
        Series { tag: 1, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: None },
        Series { tag: 2, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: None },
        Series { tag: 3, kind: SampleType::Bool, resolution: 1.0, divide: 1.0, metric: Some(Metric::InputState) },
        Series { tag: 4, kind: SampleType::Bool, resolution: 1.0, divide: 1.0, metric: None },
        Series { tag: 5, kind: SampleType::Bool, resolution: 1.0, divide: 1.0, metric: None },
        Series {
            tag: 6,
            kind: SampleType::U16,
            resolution: 100.0,
            divide: 1000.0,
            metric: Some(Metric::BatteryVoltage),
        },
        Series { tag: 7, kind: SampleType::U16, resolution: 1.0, divide: 100.0, metric: None },
    ],
};

static PULSE_SENSO: Product = Product { standard, batch: Some(&BATCH) };

fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    if a.endpoint != 0 {
        return Ok(());
    }
    if (a.cluster, a.attribute) == (CLUSTER_MULTI_BINARY_INPUT, 0x0000) {
        let pins = a.value()?.u16_be()?;
        out.push(Metric::InputState, f64::from(pins & 1));
        return Ok(());
    }
    watteco::binary_input(a, out)
}

/// Pulse Sens'O and Pulse Sens'O ATEX (same frames and batch parameters).
pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&PULSE_SENSO, f_port, bytes, out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
    }

    #[test]
    fn other_inputs_are_not_merged_into_input_one() {
        let mut out = Readings::default();
        // Index report on endpoint 1 (input 2): frame control 0x31.
        decode(125, &hex("310A000F04022300000010"), &mut out).unwrap();
        assert!(out.0.is_empty());
        decode(125, &hex("110A000F04022300000010"), &mut out).unwrap();
        assert_eq!(out.0.len(), 1);
        assert_eq!((out.0[0].metric, out.0[0].value), (Metric::PulseCount, 16.0));
    }

    #[test]
    fn common_timestamp_batch_keeps_input_one_hourly() {
        let mut out = Readings::default();
        let frame = hex("3203032cd2dc00000000117b02000080903d005000401040801d11604704d8119024912492247b");
        decode(125, &frame, &mut out).unwrap();
        let ages: Vec<_> = out.0.iter().map(|r| (r.metric, r.value, r.age)).collect();
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(
            ages,
            vec![
                (Metric::PulseCount, 0.0, h(3)),
                (Metric::PulseCount, 0.0, h(2)),
                (Metric::PulseCount, 0.0, h(1)),
                (Metric::PulseCount, 0.0, h(0)),
            ]
        );
    }

    #[test]
    fn truncated_multi_binary_report() {
        let mut out = Readings::default();
        assert_eq!(
            decode(125, &hex("110A8005000019"), &mut out),
            Err(DecodeError::TooShort { offset: 7, needed: 2, len: 7 })
        );
    }
}
