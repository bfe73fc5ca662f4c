//! Watteco Smart Plug: a metering mains socket with a relay. Standard reports of simple
//! metering (energies, powers) and power quality (voltage), batch reports of the active
//! energy index. The relay's on/off state is a command output, not a measurement.

use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Batch, Product, SampleType, Series};
use crate::{DecodeError, Readings};

/// Power quality: frequency (mean, min, max), RMS voltage (mean, min, max), peak voltage
/// (mean, min, max), over-voltage and sag counts; signed 16-bit each.
const CLUSTER_POWER_QUALITY: u16 = 0x8052;

/// Batch parameters: 1-bit tag; the active energy index (signed 24-bit, Wh).
static BATCH: Batch = Batch {
    tag_bits: 1,
    series: &[Series {
        tag: 0,
        kind: SampleType::I24,
        resolution: 1.0,
        divide: 1.0,
        metric: Some(Metric::EnergyActiveImport),
    }],
};

static SMARTPLUG: Product = Product { standard, batch: Some(&BATCH) };

fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    match (a.cluster, a.attribute) {
        (watteco::CLUSTER_SIMPLE_METERING, 0x0000) => watteco::simple_metering(a, out),
        (CLUSTER_POWER_QUALITY, 0x0000) => {
            let mut c = a.octets()?;
            // Frequency mean, min, max (offset by 22.232 Hz, mHz): no metric.
            c.take(6)?;
            out.push(Metric::ElectricVoltage, f64::from(c.i16_be()?) / 10.0);
            Ok(())
        }
        _ => Ok(()),
    }
}

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&SMARTPLUG, f_port, bytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_quality_cut_before_the_voltage() {
        let mut out = Readings::default();
        let frame = [0x31, 0x0A, 0x80, 0x52, 0x00, 0x00, 0x41, 0x06, 0x22, 0x22, 0x11, 0x11, 0xFF, 0xFF, 0x00, 0x01];
        assert_eq!(decode(125, &frame, &mut out), Err(DecodeError::TooShort { offset: 14, needed: 2, len: 14 }));
    }
}
