//! Milesight AM300 family (AM307, AM308, AM319 and their L variants): indoor ambience
//! monitors for classrooms and offices (temperature, humidity, CO2, TVOC, pressure,
//! PM, HCHO, O3, light, PIR).

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// AM307 and AM319 firmware report TVOC as the raw index the device sends.
pub(crate) fn decode_tvoc_raw(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(f_port, bytes, out, 1.0)
}

/// AM308 firmware reports TVOC as an IAQ level in hundredths.
pub(crate) fn decode_tvoc_iaq(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(f_port, bytes, out, 0.01)
}

fn decode(f_port: u8, bytes: &[u8], out: &mut Readings, tvoc_scale: f64) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, |channel, ty, c, out| field(channel, ty, c, out, tvoc_scale))
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings, tvoc_scale: f64) -> Result<bool, DecodeError> {
    match (channel, ty) {
        (0x05, 0x00) => out.push(Metric::ActionMotionDetected, f64::from(c.u8()? != 0)),
        (0x06, 0xcb) => out.push(Metric::AirLightLevel, f64::from(c.u8()?)),
        (0x07, 0x7d) => out.push(Metric::AirCo2, f64::from(c.u16_le()?)),
        (0x08, 0x7d) => out.push(Metric::AirTvocIndex, f64::from(c.u16_le()?) * tvoc_scale),
        (0x08, 0xe6) => out.push(Metric::AirTvoc, f64::from(c.u16_le()?)),
        (0x09, 0x73) => out.push(Metric::AirPressure, f64::from(c.u16_le()?) / 10.0),
        (0x0a, 0x7d) => out.push(Metric::AirHcho, f64::from(c.u16_le()?) / 100.0),
        (0x0b, 0x7d) => out.push(Metric::AirPm25, f64::from(c.u16_le()?)),
        (0x0c, 0x7d) => out.push(Metric::AirPm10, f64::from(c.u16_le()?)),
        (0x0d, 0x7d) => out.push(Metric::AirO3, f64::from(c.u16_le()?) / 100.0),
        // PIR activity level of older firmware: the vendor's own decoder reports
        // nothing for it, so neither do we.
        (0x05, 0x6a) => {
            c.u16_le()?;
        }
        // Buzzer state: an actuator, not a measurement.
        (0x0e, 0x01) => {
            c.u8()?;
        }
        _ => return milesight::ambience(channel, ty, c, out),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_co2_reports_where() {
        let mut out = Readings::default();
        assert_eq!(
            decode_tvoc_raw(85, &[0x07, 0x7d, 0xe7], &mut out),
            Err(DecodeError::TooShort { offset: 2, needed: 2, len: 3 })
        );
    }

    #[test]
    fn negative_temperature() {
        let mut out = Readings::default();
        decode_tvoc_raw(85, &[0x03, 0x67, 0x9c, 0xff], &mut out).unwrap(); // -100 -> -10.0 C
        assert_eq!(out.0[0].value, -10.0);
    }
}
