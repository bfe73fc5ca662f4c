//! Milesight AM100 family (AM103, AM103L, AM104, AM107): battery-powered indoor ambience
//! sensors (temperature, humidity, PIR activity, light, CO2, TVOC, pressure).

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, field)
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    match (channel, ty) {
        // PIR activity: detections counted over the report period.
        (0x05, 0x6a) => out.push(Metric::ActionMotionCount, f64::from(c.u16_le()?)),
        // Light: illuminance (lx), then the raw visible+infrared and infrared channels,
        // which are sensor internals rather than measurements.
        (0x06, 0x65) => {
            out.push(Metric::AirLightIntensity, f64::from(c.u16_le()?));
            c.take(4)?;
        }
        (0x07, 0x7d) => out.push(Metric::AirCo2, f64::from(c.u16_le()?)),
        (0x08, 0x7d) => out.push(Metric::AirTvocIndex, f64::from(c.u16_le()?)),
        (0x09, 0x73) => out.push(Metric::AirPressure, f64::from(c.u16_le()?) / 10.0),
        _ => return milesight::ambience(channel, ty, c, out),
    }
    Ok(true)
}
