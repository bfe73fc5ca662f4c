//! Milesight CT303, CT305 and CT310: three-phase clamp-on current transformers (300 A,
//! 500 A, 1000 A ranges) reporting each phase's current in 0.1 A and its accumulated
//! total.
//!
//! Phase A (channel 1) is `electric.current`, phases B and C `electric.current_l2` and
//! `_l3`. The accumulated totals and alarm maxima/minima are kept for phase A only: the
//! catalogue has no per-phase charge or extremes.

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// 0xFFFF in a current field means the clamp read nothing valid.
const NO_READING: u16 = 0xffff;

/// Raw device temperatures that are not values: over range (0xFFFD), read failure (0xFFFF).
const NO_TEMPERATURE: [u16; 2] = [0xfffd, 0xffff];

/// Channels of phase A: total current, current, current with alarm.
const PHASE_A: [u8; 3] = [0x03, 0x04, 0x84];

/// The current metric of a current channel's phase (A, B, C).
fn current_metric(channel: u8) -> Metric {
    match channel {
        0x06 | 0x86 => Metric::ElectricCurrentL2,
        0x08 | 0x88 => Metric::ElectricCurrentL3,
        _ => Metric::ElectricCurrent,
    }
}

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, field)
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    let phase_a = PHASE_A.contains(&channel);
    match (channel, ty) {
        // Total current per phase (A, B, C): ampere-hours in 0.01 A.h.
        (0x03 | 0x05 | 0x07, 0x97) => {
            let total = c.u32_le()?;
            if phase_a {
                out.push(Metric::ElectricCharge, f64::from(total) / 100.0);
            }
        }
        // Current per phase (A, B, C) in 0.1 A.
        (0x04 | 0x06 | 0x08, 0x99) => {
            let current = c.u16_le()?;
            push_current(out, current_metric(channel), current);
        }
        // Current alarm per phase (A, B, C): max, min, last in 0.1 A, then alarm flags
        // (threshold / over-range alarms and their release: events, not measurements).
        (0x84 | 0x86 | 0x88, 0x99) => {
            let max = c.u16_le()?;
            let min = c.u16_le()?;
            let current = c.u16_le()?;
            c.u8()?;
            if phase_a {
                push_current(out, Metric::ElectricCurrentMax, max);
                push_current(out, Metric::ElectricCurrentMin, min);
            }
            push_current(out, current_metric(channel), current);
        }
        // Temperature in 0.1 C; 0x89 adds an alarm byte.
        (0x09 | 0x89, 0x67) => {
            let raw = c.u16_le()?;
            if channel == 0x89 {
                c.u8()?;
            }
            if !NO_TEMPERATURE.contains(&raw) {
                out.push(Metric::DeviceTemperature, f64::from(raw as i16) / 10.0);
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Pushes a current field in 0.1 A unless it says the clamp read nothing valid.
fn push_current(out: &mut Readings, metric: Metric, raw: u16) {
    if raw != NO_READING {
        out.push(metric, f64::from(raw) / 10.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let mut out = Readings::default();
        decode(milesight::PORT, bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    #[test]
    fn periodic_report_gives_each_phase_current() {
        // Phase A total 6.27 A.h and 300 A, phase B 100 A.h and 200 A, phase C 12.5 A,
        // temperature 30.8 C.
        let frame = [
            0x03, 0x97, 0x73, 0x02, 0, 0, 0x04, 0x99, 0xb8, 0x0b, 0x05, 0x97, 0x10, 0x27, 0, 0, 0x06, 0x99, 0xd0, 0x07,
            0x08, 0x99, 0x7d, 0x00, 0x09, 0x67, 0x34, 0x01,
        ];
        assert_eq!(
            decoded(&frame).unwrap(),
            vec![
                (Metric::ElectricCharge, 6.27),
                (Metric::ElectricCurrent, 300.0),
                (Metric::ElectricCurrentL2, 200.0),
                (Metric::ElectricCurrentL3, 12.5),
                (Metric::DeviceTemperature, 30.8),
            ]
        );
    }

    #[test]
    fn same_bytes_as_ct10x_scale_differently() {
        // 0x0bb8 = 3000: 300.0 A here (type 0x99, 0.1 A), 30.00 A on a CT10x (type 0x98).
        assert_eq!(decoded(&[0x04, 0x99, 0xb8, 0x0b]).unwrap(), vec![(Metric::ElectricCurrent, 300.0)]);
        assert!(decoded(&[0x04, 0x98, 0xb8, 0x0b]).is_err());
    }

    #[test]
    fn invalid_values_give_no_reading_and_other_phases_only_their_current() {
        assert_eq!(decoded(&[0x04, 0x99, 0xff, 0xff, 0x09, 0x67, 0xfd, 0xff]).unwrap(), vec![]);
        assert_eq!(decoded(&[0x06, 0x99, 0xff, 0xff]).unwrap(), vec![]);
        // Phase B alarm: max 0.1 A, min 0.2 A, current 0.3 A; phase C alarm, current invalid.
        assert_eq!(decoded(&[0x86, 0x99, 1, 0, 2, 0, 3, 0, 0x05]).unwrap(), vec![(Metric::ElectricCurrentL2, 0.3)]);
        assert_eq!(decoded(&[0x88, 0x99, 1, 0, 2, 0, 0xff, 0xff, 0x05]).unwrap(), vec![]);
        assert_eq!(decoded(&[0x09, 0x67, 0x9c, 0xff]).unwrap(), vec![(Metric::DeviceTemperature, -10.0)]);
    }

    #[test]
    fn truncated_and_wrong_port_are_errors() {
        assert_eq!(
            decoded(&[0x84, 0x99, 1, 0, 2, 0, 3, 0]),
            Err(DecodeError::TooShort { offset: 8, needed: 1, len: 8 })
        );
        let mut out = Readings::default();
        assert_eq!(decode(1, &[0x04, 0x99, 0, 0], &mut out), Err(DecodeError::UnknownPort(1)));
    }
}
