//! Milesight CT101, CT103 and CT105: clamp-on current transformers (100 A, 250 A, 500 A
//! ranges) reporting the current in 0.01 A and an accumulated total.

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// 0xFFFF in a current field means the clamp read nothing valid.
const NO_READING: u16 = 0xffff;

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, field)
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    match (channel, ty) {
        // Total current: ampere-hours in 0.01 A.h.
        (0x03, 0x97) => out.push(Metric::ElectricCharge, f64::from(c.u32_le()?) / 100.0),
        // Current over the report period: max, min, last; 0x84 adds an alarm byte.
        (0x04 | 0x84, 0x98) => {
            let max = c.u16_le()?;
            let min = c.u16_le()?;
            let current = c.u16_le()?;
            if channel == 0x84 {
                c.u8()?; // threshold / over-range alarm flags: events, not measurements
            }
            for (metric, raw) in [
                (Metric::ElectricCurrentMax, max),
                (Metric::ElectricCurrentMin, min),
                (Metric::ElectricCurrent, current),
            ] {
                if raw != NO_READING {
                    out.push(metric, f64::from(raw) / 100.0);
                }
            }
        }
        // Device temperature in 0.1 C; 0x89 adds an alarm byte.
        (0x09 | 0x89, 0x67) => {
            out.push(Metric::DeviceTemperature, f64::from(c.i16_le()?) / 10.0);
            if channel == 0x89 {
                c.u8()?;
            }
        }
        // Sensor status (clamp connected or not).
        (0x05, 0x93) => {
            c.u8()?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_and_invalid_current() {
        let mut out = Readings::default();
        // total 123.45 A.h; max invalid, min 1.00 A, current 2.50 A
        decode(85, &[0x03, 0x97, 0x39, 0x30, 0, 0, 0x04, 0x98, 0xff, 0xff, 100, 0, 0xfa, 0], &mut out).unwrap();
        let got: Vec<_> = out.0.iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(
            got,
            vec![(Metric::ElectricCharge, 123.45), (Metric::ElectricCurrentMin, 1.0), (Metric::ElectricCurrent, 2.5)]
        );
    }
}
