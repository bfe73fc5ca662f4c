//! Watteco Pulse Sens'O and Pulse Sens'O ATEX: pulse counters with three inputs. Standard
//! reports of pin states and pulse indexes (endpoint = input), batch reports of the three
//! indexes, pin states and battery voltage.
//!
//! Input 1 (endpoint 0) gives `pulse.count` and `input.state`, inputs 2 and 3
//! (endpoints 1 and 2) `pulse.count_2`/`_3` and `input.state_2`/`_3`.

use crate::metric::Metric;
use crate::models::watteco::{
    self, Attribute, Batch, Product, SampleType, Series, ATTR_COUNT, ATTR_PRESENT_VALUE, CLUSTER_BINARY_INPUT,
};
use crate::{DecodeError, Readings};

/// Cluster "multi binary input": a 16-bit bitmap of pin states, bit 0 = input 1; the
/// bits above input 3 are unused.
const CLUSTER_MULTI_BINARY_INPUT: u16 = 0x8005;

/// Pulse index and pin state metrics of inputs 1, 2, 3 (endpoints 0, 1, 2).
const INPUTS: [(Metric, Metric); 3] = [
    (Metric::PulseCount, Metric::InputState),
    (Metric::PulseCount2, Metric::InputState2),
    (Metric::PulseCount3, Metric::InputState3),
];

/// Batch parameters: 4-bit tags; indexes 1-3, pin states 1-3, battery voltage (mV, steps
/// of 100), multi-state.
static BATCH: Batch = Batch {
    tag_bits: 4,
    series: &[
        Series { tag: 0, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: Some(Metric::PulseCount) },
        Series { tag: 1, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: Some(Metric::PulseCount2) },
        Series { tag: 2, kind: SampleType::U32, resolution: 1.0, divide: 1.0, metric: Some(Metric::PulseCount3) },
        Series { tag: 3, kind: SampleType::Bool, resolution: 1.0, divide: 1.0, metric: Some(Metric::InputState) },
        Series { tag: 4, kind: SampleType::Bool, resolution: 1.0, divide: 1.0, metric: Some(Metric::InputState2) },
        Series { tag: 5, kind: SampleType::Bool, resolution: 1.0, divide: 1.0, metric: Some(Metric::InputState3) },
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
    match (a.cluster, a.attribute) {
        (CLUSTER_MULTI_BINARY_INPUT, 0x0000) if a.endpoint == 0 => {
            let pins = a.value()?.u16_be()?;
            for (bit, (_, state)) in INPUTS.into_iter().enumerate() {
                out.push(state, f64::from((pins >> bit) & 1));
            }
        }
        (CLUSTER_BINARY_INPUT, ATTR_PRESENT_VALUE | ATTR_COUNT) => {
            // Endpoints past input 3 do not exist on this product: nothing to read.
            let Some(&(count, state)) = INPUTS.get(usize::from(a.endpoint)) else {
                return Ok(());
            };
            if a.attribute == ATTR_COUNT {
                out.push(count, f64::from(a.u32()?));
            } else {
                out.push(state, f64::from(u8::from(a.bool()?)));
            }
        }
        _ => {}
    }
    Ok(())
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

    fn decoded(s: &str) -> Vec<(Metric, f64)> {
        let mut out = Readings::default();
        decode(125, &hex(s), &mut out).unwrap();
        out.0.iter().map(|r| (r.metric, r.value)).collect()
    }

    #[test]
    fn each_input_has_its_own_metrics() {
        // Index 16 on endpoints 0, 1, 2 (frame control 0x11, 0x31, 0x51); endpoint 3 does
        // not exist (0x71).
        assert_eq!(decoded("110A000F04022300000010"), vec![(Metric::PulseCount, 16.0)]);
        assert_eq!(decoded("310A000F04022300000010"), vec![(Metric::PulseCount2, 16.0)]);
        assert_eq!(decoded("510A000F04022300000010"), vec![(Metric::PulseCount3, 16.0)]);
        assert_eq!(decoded("710A000F04022300000010"), vec![]);
        // Pin state closed on input 3.
        assert_eq!(decoded("510A000F00551001"), vec![(Metric::InputState3, 1.0)]);
        // Multi binary input 0x0372: input 1 open, input 2 closed, input 3 open.
        assert_eq!(
            decoded("110A80050000190372"),
            vec![(Metric::InputState, 0.0), (Metric::InputState2, 1.0), (Metric::InputState3, 0.0)]
        );
    }

    #[test]
    fn common_timestamp_batch_keeps_each_input_hourly() {
        let mut out = Readings::default();
        let frame = hex("3203032cd2dc00000000117b02000080903d005000401040801d11604704d8119024912492247b");
        decode(125, &frame, &mut out).unwrap();
        let ages: Vec<_> = out.0.iter().map(|r| (r.metric, r.value, r.age)).collect();
        let h = |n: u64| Duration::from_secs(n * 3600);
        let series = |metric, value: f64| (0..4).rev().map(move |n| (metric, value, h(n)));
        let want: Vec<_> = series(Metric::PulseCount, 0.0)
            .chain(series(Metric::PulseCount2, 67_108_864.0))
            .chain(series(Metric::PulseCount3, 4_194_560.0))
            .collect();
        assert_eq!(ages, want);
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
