//! Milesight EM300-DI: a dry-contact / pulse input (water and gas meters with a pulse
//! output), with temperature and humidity.

use super::milesight;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    milesight::walk(f_port, bytes, out, field)
}

fn field(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    match (channel, ty) {
        // Input in digital mode: a contact state, not a measurement.
        (0x05, 0x00) => {
            c.u8()?;
        }
        // Input in counter mode: the pulse counter index.
        (0x05, 0xc8) => out.push(Metric::PulseCount, f64::from(c.u32_le()?)),
        _ => return milesight::ambience(channel, ty, c, out),
    }
    Ok(true)
}
