//! Milesight GS301: bathroom odour detector (ammonia and hydrogen sulphide), with
//! temperature and humidity.

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, field)
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    match (channel, ty) {
        (0x01, 0x75) => out.push(Metric::BatteryLevel, f64::from(c.u8()?)),
        (0x02, 0x67) => out.push(Metric::AirTemperature, f64::from(c.i16_le()?) / 10.0),
        (0x03, 0x68) => out.push(Metric::AirRelativeHumidity, f64::from(c.u8()?) / 2.0),
        (0x04, 0x7d) => out.push(Metric::AirNh3, f64::from(c.u16_le()?) / 100.0),
        (0x05, 0x7d) => out.push(Metric::AirH2s, f64::from(c.u16_le()?) / 100.0),
        _ => return Ok(false),
    }
    Ok(true)
}
