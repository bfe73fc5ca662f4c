//! Elvaco CMi41xx LoRaWAN modules for heat meters (CMi4110/CMi4111 Landis+Gyr, CMi4130 Itron,
//! CMi4140 Kamstrup, CMi4160 Diehl). FPort 2: a message-format byte, then M-Bus data records
//! (see `mbus`). Each module has its own range of format ids; 0xFA is the daily clock message
//! of the scheduled formats. Formats that send JSON text are not decoded.

use std::ops::RangeInclusive;

use super::mbus::{self, Manufacturer, Quantity};
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

const PORT: u8 = 2;
const CLOCK_MESSAGE: u8 = 0xfa;

/// The message-format ids a module sends (standard, compact, JSON, scheduled, ...).
struct Module {
    formats: RangeInclusive<u8>,
}

// CMi4111 firmware sends either the CMi4110 ids (0x00..) or its own (0x05..).
const CMI4110: Module = Module { formats: 0x00..=0x04 };
const CMI4111: Module = Module { formats: 0x00..=0x0e };
const CMI4130: Module = Module { formats: 0x0f..=0x14 };
const CMI4140: Module = Module { formats: 0x15..=0x1b };
const CMI4160: Module = Module { formats: 0x1e..=0x23 };

pub(crate) fn decode_cmi4110(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(&CMI4110, f_port, bytes, out)
}

pub(crate) fn decode_cmi4111(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(&CMI4111, f_port, bytes, out)
}

pub(crate) fn decode_cmi4130(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(&CMI4130, f_port, bytes, out)
}

pub(crate) fn decode_cmi4140(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(&CMI4140, f_port, bytes, out)
}

pub(crate) fn decode_cmi4160(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(&CMI4160, f_port, bytes, out)
}

fn metric(q: Quantity) -> Metric {
    match q {
        Quantity::Energy => Metric::HeatEnergy,
        Quantity::Volume => Metric::WaterVolume,
        Quantity::Power => Metric::HeatPower,
        Quantity::VolumeFlow => Metric::WaterFlow,
        Quantity::FlowTemperature => Metric::WaterFlowTemperature,
        Quantity::ReturnTemperature => Metric::WaterReturnTemperature,
    }
}

fn decode(module: &Module, f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    if f_port != PORT {
        return Err(DecodeError::UnknownPort(f_port));
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let format = Cursor::new(bytes).u8()?;
    // JSON formats send text: `{` where the first record's DIF would be.
    let json = bytes.get(1) == Some(&b'{');
    if json || !(module.formats.contains(&format) || format == CLOCK_MESSAGE) {
        return Err(DecodeError::UnknownField { code: u16::from(format), offset: 0 });
    }
    let mut values: Vec<(Metric, f64)> = Vec::new();
    let mut manufacturer = Vec::new();
    mbus::read_records(
        bytes,
        1,
        |v| values.push((metric(v.quantity), v.value)),
        |m| {
            manufacturer.push(m);
            Ok(())
        },
    )?;
    for m in &manufacturer {
        compact_heat(m, &mut values)?;
    }
    // A current-value telegram has one record per quantity: two that disagree mean the frame
    // is not what its records say (e.g. a byte too many shifted the records after it).
    for (i, (m, v)) in values.iter().enumerate() {
        if let Some((_, other)) = values.iter().skip(i + 1).find(|(m2, v2)| m2 == m && v2 != v) {
            return Err(DecodeError::BadValue { field: m.name(), reason: format!("two records say {v} and {other}") });
        }
    }
    for (m, v) in values {
        out.push(m, v);
    }
    Ok(())
}

/// Elvaco's packed record `07 FF A0 <scale>` (scheduled-extended formats): flow and return
/// temperature (0.01 C), flow (10^(m-6) m3/h) and power (10^(n-3) W), little-endian, with
/// n in bits 6..4 and m in bits 2..0 of the scale byte. Other manufacturer records (meter id,
/// info bits) carry no measurement.
fn compact_heat(m: &Manufacturer<'_>, values: &mut Vec<(Metric, f64)>) -> Result<(), DecodeError> {
    let [0xa0, scale] = m.vifes else { return Ok(()) };
    if !m.current {
        return Ok(());
    }
    let mut c = Cursor::new(m.data);
    let flow_temperature = f64::from(c.i16_le()?) / 100.0;
    let return_temperature = f64::from(c.i16_le()?) / 100.0;
    let flow = f64::from(c.u16_le()?) * 10f64.powi(i32::from(scale & 0x07) - 6);
    let power = f64::from(c.u16_le()?) * 10f64.powi(i32::from((scale >> 4) & 0x07) - 3);
    values.extend([
        (Metric::WaterFlowTemperature, flow_temperature),
        (Metric::WaterReturnTemperature, return_temperature),
        (Metric::WaterFlow, flow),
        (Metric::HeatPower, power),
    ]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(module: &Module, f_port: u8, bytes: &[u8]) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let mut out = Readings::default();
        decode(module, f_port, bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    #[test]
    fn packed_power_flow_temperatures() {
        // Energy 1 kWh, then 07 FF A0 with n = 3 (W), m = 3 (0.001 m3/h): 65.43 C, 40.21 C,
        // 0.5 m3/h, 1200 W.
        let frame =
            [0x22, 0x04, 0x06, 1, 0, 0, 0, 0x07, 0xff, 0xa0, 0x33, 0x8f, 0x19, 0xb5, 0x0f, 0xf4, 0x01, 0xb0, 0x04];
        let got = run(&CMI4160, 2, &frame).unwrap();
        assert_eq!(got[0], (Metric::HeatEnergy, 1000.0));
        assert!((got[1].1 - 65.43).abs() < 1e-9 && (got[2].1 - 40.21).abs() < 1e-9);
        assert_eq!(got[3].0, Metric::WaterFlow);
        assert!((got[3].1 - 0.5).abs() < 1e-9);
        assert_eq!(got[4], (Metric::HeatPower, 1200.0));
    }

    #[test]
    fn clock_message_and_error_state_carry_nothing() {
        assert_eq!(run(&CMI4140, 2, &[0xfa, 0x04, 0x6d, 1, 2, 3, 4]), Ok(vec![]));
        // Meter not answering: DIF function "value during error state" (0x34 instead of 0x04).
        assert_eq!(run(&CMI4140, 2, &[0x15, 0x34, 0x06, 0, 0, 0, 0]), Ok(vec![]));
    }

    #[test]
    fn failure_modes() {
        assert_eq!(run(&CMI4140, 3, &[0x15]), Err(DecodeError::UnknownPort(3)));
        assert_eq!(run(&CMI4140, 2, &[]), Err(DecodeError::Empty));
        assert_eq!(run(&CMI4140, 2, &[0x00, 0x04]), Err(DecodeError::UnknownField { code: 0x00, offset: 0 }));
        assert_eq!(run(&CMI4140, 2, b"\x17{\"e\":1}"), Err(DecodeError::UnknownField { code: 0x17, offset: 0 }));
        assert_eq!(
            run(&CMI4140, 2, &[0x15, 0x04, 0x06, 1, 2]),
            Err(DecodeError::TooShort { offset: 3, needed: 4, len: 5 })
        );
        assert!(matches!(
            run(&CMI4110, 2, &[0x00, 0x0c, 0x06, 0x52, 0x6b, 0x61, 0x02]),
            Err(DecodeError::BadValue { field: "bcd", .. })
        ));
        // Two energy records that disagree.
        assert!(matches!(
            run(&CMI4160, 2, &[0x1e, 0x04, 0x06, 1, 0, 0, 0, 0x01, 0x07, 0x79]),
            Err(DecodeError::BadValue { field: "heat.energy", .. })
        ));
    }
}
