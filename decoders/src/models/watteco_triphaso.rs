//! Watteco Triphas'O: a three-phase energy meter with a pulse/contact input. Standard
//! reports only (it sends no batch reports).
//!
//! Energy and power come per endpoint: 0, 1, 2 for phases A, B, C and 3 for the three
//! phases together. The reading contract has no phase, so only the three-phase totals are
//! kept; per-phase energies, powers, voltages and currents (clusters 0x800A on endpoints
//! 0-2, 0x800B, 0x800D, 0x8010) are not merged into the same metrics.

use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Product};
use crate::{DecodeError, Readings};

/// Energy and power metering: eight signed 32-bit values, positive (imported) and negative
/// (exported) active energy (Wh), reactive energy (varh), active power (W), reactive
/// power (var).
const CLUSTER_ENERGY_POWER: u16 = 0x800A;
const ENDPOINT_ALL_PHASES: u8 = 3;

static TRIPHASO: Product = Product { standard, batch: None };

fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    match (a.cluster, a.attribute) {
        (CLUSTER_ENERGY_POWER, 0x0000) if a.endpoint == ENDPOINT_ALL_PHASES => energy_power(a, out),
        (CLUSTER_ENERGY_POWER, _) => Ok(()),
        _ => watteco::binary_input(a, out),
    }
}

fn energy_power(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = a.octets()?;
    let mut v = [0f64; 8];
    for x in &mut v {
        *x = f64::from(c.u32_be()? as i32);
    }
    let [active_in, active_out, reactive_in, _reactive_out, power_in, _power_out, reactive_power_in, _reactive_power_out] =
        v;
    out.push(Metric::EnergyActiveImport, active_in);
    out.push(Metric::EnergyActiveExport, active_out);
    out.push(Metric::EnergyReactiveImport, reactive_in);
    // Powers come as an imported and an exported part, both possibly non-zero over a
    // period; the catalogue has one power per kind, kept for the imported (drawn) part.
    out.push(Metric::PowerActive, power_in);
    out.push(Metric::PowerReactive, reactive_power_in);
    Ok(())
}

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&TRIPHASO, f_port, bytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(control: u8, values: [u32; 8]) -> Vec<u8> {
        let mut f = vec![control, 0x0A, 0x80, 0x0A, 0x00, 0x00, 0x41, 32];
        for v in values {
            f.extend_from_slice(&v.to_be_bytes());
        }
        f
    }

    #[test]
    fn imported_powers_and_only_the_three_phase_endpoint() {
        let mut out = Readings::default();
        decode(125, &frame(0x71, [10, 20, 30, 40, 0, 500, 7, 0]), &mut out).unwrap();
        let got: Vec<_> = out.0.iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(
            got,
            vec![
                (Metric::EnergyActiveImport, 10.0),
                (Metric::EnergyActiveExport, 20.0),
                (Metric::EnergyReactiveImport, 30.0),
                (Metric::PowerActive, 0.0),
                (Metric::PowerReactive, 7.0),
            ]
        );
        let mut phase_a = Readings::default();
        decode(125, &frame(0x11, [10, 20, 30, 40, 0, 500, 7, 0]), &mut phase_a).unwrap();
        assert!(phase_a.0.is_empty());
    }

    #[test]
    fn truncated_energy_report_and_batch_frames_are_errors() {
        let mut out = Readings::default();
        let mut f = frame(0x71, [1; 8]);
        f.truncate(20);
        assert_eq!(decode(125, &f, &mut out), Err(DecodeError::TooShort { offset: 8, needed: 32, len: 20 }));
        assert!(matches!(decode(125, &[0x10, 0x00], &mut out), Err(DecodeError::BadValue { .. })));
    }
}
