//! The Milesight IoT frame layout shared by its sensors: a sequence of
//! `channel id, channel type, value` fields on FPort 85, and the device-information
//! fields on channel 0xFF that every model sends after a join.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// The FPort Milesight devices send measurements and device information on.
pub(crate) const PORT: u8 = 85;

/// Walks a frame, handing each `(channel, type)` field to `field`, which reads its value
/// and returns `Ok(false)` for a field it does not know (the frame cannot be walked
/// past an unknown field, so that is an error).
pub(crate) fn walk(
    f_port: u8,
    bytes: &[u8],
    out: &mut Readings,
    mut field: impl FnMut(u8, u8, &mut Cursor<'_>, &mut Readings) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    if f_port != PORT {
        return Err(DecodeError::UnknownPort(f_port));
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut c = Cursor::new(bytes);
    while !c.is_empty() {
        let offset = c.pos();
        let channel = c.u8()?;
        let ty = c.u8()?;
        let known = if channel == 0xff { device_info(ty, &mut c)? } else { field(channel, ty, &mut c, out)? };
        if !known {
            return Err(DecodeError::UnknownField { code: u16::from_be_bytes([channel, ty]), offset });
        }
    }
    Ok(())
}

/// The channels Milesight's ambience and input sensors share: battery (%), temperature
/// (0.1 C) and humidity (0.5 %RH). Returns `Ok(false)` for any other field.
pub(crate) fn ambience(channel: u8, ty: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<bool, DecodeError> {
    match (channel, ty) {
        (0x01, 0x75) => out.push(Metric::BatteryLevel, f64::from(c.u8()?)),
        (0x03, 0x67) => out.push(Metric::AirTemperature, f64::from(c.i16_le()?) / 10.0),
        (0x04, 0x68) => out.push(Metric::AirRelativeHumidity, f64::from(c.u8()?) / 2.0),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Device information (versions, serial number, class, power-on): no measurement.
fn device_info(ty: u8, c: &mut Cursor<'_>) -> Result<bool, DecodeError> {
    let len = match ty {
        0x01 | 0x0b | 0x0f | 0xfe => 1, // IPSO version, power on, LoRaWAN class, reset
        0x09 | 0x0a | 0xff => 2,        // hardware, firmware, TSL versions
        0x16 => 8,                      // serial number
        _ => return Ok(false),
    };
    c.take(len)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_info_frame_has_no_reading() {
        // IPSO version, hardware 1.1, firmware 1.2, TSL 1.0, serial number, class A.
        let frame = hex_frame("ff0101ff090110ff0a0102ffff0100ff166136c19175690009ff0f00");
        let mut out = Readings::default();
        walk(PORT, &frame, &mut out, |_, _, _, _| Ok(false)).unwrap();
        assert!(out.0.is_empty());
    }

    #[test]
    fn wrong_port_and_unknown_field_are_errors() {
        let mut out = Readings::default();
        assert_eq!(walk(1, &[1, 2], &mut out, |_, _, _, _| Ok(true)), Err(DecodeError::UnknownPort(1)));
        assert_eq!(
            walk(PORT, &[0x42, 0x42, 0], &mut out, |_, _, _, _| Ok(false)),
            Err(DecodeError::UnknownField { code: 0x4242, offset: 0 })
        );
        assert_eq!(walk(PORT, &[], &mut out, |_, _, _, _| Ok(true)), Err(DecodeError::Empty));
    }

    fn hex_frame(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
