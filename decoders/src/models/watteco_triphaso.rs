//! Watteco Triphas'O: a three-phase energy meter with a pulse/contact input. Standard
//! reports only (it sends no batch reports).
//!
//! Energy and power come per endpoint: 0, 1, 2 for phases A, B, C and 3 for the three
//! phases together; only the three-phase totals are kept (the catalogue has no per-phase
//! energy or power). Voltage and current come per phase (cluster 0x800B on endpoints 0-2,
//! or 0x800D for all three): phase A is `electric.voltage`/`electric.current`, phases B
//! and C the `_l2`/`_l3` metrics. The per-phase summary cluster 0x8010 is not read.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Product};
use crate::{DecodeError, Readings};

/// Energy and power metering: eight signed 32-bit values, positive (imported) and negative
/// (exported) active energy (Wh), reactive energy (varh), active power (W), reactive
/// power (var).
const CLUSTER_ENERGY_POWER: u16 = 0x800A;
const ENDPOINT_ALL_PHASES: u8 = 3;

/// Voltage and current of the endpoint's phase: Vrms (0.1 V), Irms (0.1 A), phase angle
/// (degrees), signed 16-bit each.
const CLUSTER_VOLTAGE_CURRENT: u16 = 0x800B;
/// The same for phases A, B, C in one value.
const CLUSTER_VOLTAGE_CURRENT_MULTI: u16 = 0x800D;

/// Voltage and current metrics of phases A, B, C.
const PHASES: [(Metric, Metric); 3] = [
    (Metric::ElectricVoltage, Metric::ElectricCurrent),
    (Metric::ElectricVoltageL2, Metric::ElectricCurrentL2),
    (Metric::ElectricVoltageL3, Metric::ElectricCurrentL3),
];

static TRIPHASO: Product = Product { standard, batch: None };

fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    match (a.cluster, a.attribute) {
        (CLUSTER_ENERGY_POWER, 0x0000) if a.endpoint == ENDPOINT_ALL_PHASES => energy_power(a, out),
        (CLUSTER_ENERGY_POWER, _) => Ok(()),
        (CLUSTER_VOLTAGE_CURRENT, 0x0000) => match PHASES.get(usize::from(a.endpoint)) {
            Some(&phase) => voltage_current(&mut a.octets()?, phase, out),
            // Not a phase endpoint: nothing this product sends.
            None => Ok(()),
        },
        (CLUSTER_VOLTAGE_CURRENT_MULTI, 0x0000) => {
            let mut c = a.octets()?;
            PHASES.into_iter().try_for_each(|phase| voltage_current(&mut c, phase, out))
        }
        _ => watteco::binary_input(a, out),
    }
}

/// Reads one phase's Vrms, Irms and phase angle; the angle has no canonical metric.
fn voltage_current(
    c: &mut Cursor<'_>,
    (voltage, current): (Metric, Metric),
    out: &mut Readings,
) -> Result<(), DecodeError> {
    let vrms = c.i16_be()?;
    let irms = c.i16_be()?;
    let _angle = c.i16_be()?;
    out.push(voltage, f64::from(vrms) / 10.0);
    out.push(current, f64::from(irms) / 10.0);
    Ok(())
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

    fn decoded(hex: &str) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        let mut out = Readings::default();
        decode(125, &bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    #[test]
    fn voltage_and_current_per_phase() {
        // Cluster 0x800B on endpoint 1 (phase B): 241.9 V, 26.9 A, 354 degrees.
        assert_eq!(
            decoded("310a800b000041060973010d0162").unwrap(),
            vec![(Metric::ElectricVoltageL2, 241.9), (Metric::ElectricCurrentL2, 26.9)]
        );
        // Alarm report on endpoint 0 (phase A): the alarm causes after the value are not read.
        assert_eq!(
            decoded("118A800B00004106097801150162A0500003E8000001D1010032000001").unwrap(),
            vec![(Metric::ElectricVoltage, 242.4), (Metric::ElectricCurrent, 27.7)]
        );
        // Cluster 0x800D: the three phases.
        assert_eq!(
            decoded("110A800D0000411208A10052000308A20042004008A300320030").unwrap(),
            vec![
                (Metric::ElectricVoltage, 220.9),
                (Metric::ElectricCurrent, 8.2),
                (Metric::ElectricVoltageL2, 221.0),
                (Metric::ElectricCurrentL2, 6.6),
                (Metric::ElectricVoltageL3, 221.1),
                (Metric::ElectricCurrentL3, 5.0),
            ]
        );
        // Endpoint 3 (the three phases together) has no voltage or current of its own.
        assert_eq!(decoded("710a800b000041060973010d0162").unwrap(), vec![]);
    }

    #[test]
    fn truncated_voltage_current_values_are_errors() {
        // Octet string of 4 bytes: the angle is cut off.
        assert_eq!(decoded("110a800b000041040973010d"), Err(DecodeError::TooShort { offset: 12, needed: 2, len: 12 }));
        // Three-phase value announced as 18 bytes, 6 present.
        assert!(matches!(decoded("110A800D0000411208A100520003"), Err(DecodeError::TooShort { .. })));
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
