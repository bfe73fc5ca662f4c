//! Watteco Intens'O: a clamp-on current sensor. Standard reports of the analog-input
//! cluster (RMS current, A, as a float) and batch reports of current and battery voltage.

use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Batch, Product, SampleType, Series};
use crate::{DecodeError, Readings};

/// Cluster "analog input": present value (0x0055), a 32-bit float.
const CLUSTER_ANALOG_INPUT: u16 = 0x000C;
const TYPE_FLOAT: u8 = 0x39;

/// Batch parameters: 2-bit tags; current (float, steps of 0.1 A), battery voltage (mV,
/// steps of 100).
static BATCH: Batch = Batch {
    tag_bits: 2,
    series: &[
        Series { tag: 0, kind: SampleType::F32, resolution: 0.1, divide: 1.0, metric: Some(Metric::ElectricCurrent) },
        Series {
            tag: 1,
            kind: SampleType::U16,
            resolution: 100.0,
            divide: 1000.0,
            metric: Some(Metric::BatteryVoltage),
        },
    ],
};

static INTENSO: Product = Product { standard, batch: Some(&BATCH) };

fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    if (a.cluster, a.attribute) != (CLUSTER_ANALOG_INPUT, watteco::ATTR_PRESENT_VALUE) {
        return Ok(());
    }
    if a.data_type != TYPE_FLOAT {
        return Err(a.unexpected_type());
    }
    let amps = f64::from(f32::from_bits(a.value()?.u32_be()?));
    if !amps.is_finite() {
        return Err(DecodeError::BadValue { field: "current", reason: format!("{amps}") });
    }
    out.push(Metric::ElectricCurrent, amps);
    Ok(())
}

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&INTENSO, f_port, bytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_must_be_a_finite_float() {
        let mut out = Readings::default();
        let nan = [0x11, 0x0A, 0x00, 0x0C, 0x00, 0x55, 0x39, 0x7F, 0xC0, 0x00, 0x00];
        assert!(matches!(decode(125, &nan, &mut out), Err(DecodeError::BadValue { .. })));
        let not_float = [0x11, 0x0A, 0x00, 0x0C, 0x00, 0x55, 0x21, 0x00, 0x01];
        assert_eq!(decode(125, &not_float, &mut out), Err(DecodeError::UnknownField { code: 0x21, offset: 6 }));
        let short = [0x11, 0x0A, 0x00, 0x0C, 0x00, 0x55, 0x39, 0x41, 0x50];
        assert_eq!(decode(125, &short, &mut out), Err(DecodeError::TooShort { offset: 7, needed: 4, len: 9 }));
        assert!(out.0.is_empty());
    }
}
