//! Tekzitel TekziPark: in-ground parking space sensor (radar and magnetometer).
//! Frame: a status byte (bit 7 occupied, bit 0 keep-alive), device temperature (C),
//! parking id, then optionally the RSSI and ids of the beacons heard.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    if f_port != 1 {
        return Err(DecodeError::UnknownPort(f_port));
    }
    let mut c = Cursor::new(bytes);
    let status = c.u8()?;
    let temperature = c.i8()?;
    let _parking_id = c.u8()?;
    out.push(Metric::ParkingOccupied, f64::from(status >> 7));
    out.push(Metric::DeviceTemperature, f64::from(temperature));
    // Beacons: an RSSI byte, then 16-bit beacon ids; identification, not measurement,
    // but a frame that ends inside an id is malformed.
    if !c.is_empty() {
        c.i8()?;
        if c.remaining() % 2 != 0 {
            return Err(DecodeError::BadValue {
                field: "beacons",
                reason: format!("{} bytes left, ids are 2 bytes each", c.remaining()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_odd_frames() {
        let mut out = Readings::default();
        assert_eq!(decode(1, &[0xa8, 0x2d], &mut out), Err(DecodeError::TooShort { offset: 2, needed: 1, len: 2 }));
        assert!(matches!(decode(1, &[0xa8, 0x2d, 0x63, 0xb0, 0x00], &mut out), Err(DecodeError::BadValue { .. })));
        assert_eq!(decode(2, &[0xa8, 0x2d, 0x63], &mut out), Err(DecodeError::UnknownPort(2)));
    }
}
