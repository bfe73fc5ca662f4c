//! Milesight WS52x smart plugs and WS558 smart light controller: mains voltage, active
//! power, power factor, energy and current of what they switch.

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, field)
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    match (channel, ty) {
        (0x03, 0x74) => out.push(Metric::ElectricVoltage, f64::from(c.u16_le()?) / 10.0),
        (0x04, 0x80) => out.push(Metric::PowerActive, f64::from(c.u32_le()?)),
        (0x05, 0x81) => out.push(Metric::PowerFactor, f64::from(c.u8()?)),
        (0x06, 0x83) => out.push(Metric::EnergyActiveImport, f64::from(c.u32_le()?)),
        (0x07, 0xc9) => out.push(Metric::ElectricCurrent, f64::from(c.u16_le()?) / 1000.0),
        // Relay state (WS52x socket, WS558 switches): an actuator, not a measurement.
        (0x08, 0x70) => {
            c.u8()?;
        }
        (0x08, 0x31) => {
            c.take(2)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}
