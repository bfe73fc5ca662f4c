//! Bosch TPS110 parking lot sensor (firmware 0.29): parking status on FPort 1,
//! heartbeat with device temperature on FPort 2, start-up report on FPort 3.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode_tps110(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = Cursor::new(bytes);
    match f_port {
        // Status change: bit 0 of the first byte.
        1 => out.push(Metric::ParkingOccupied, f64::from(c.u8()? & 1)),
        // Heartbeat: status, then device temperature (C, signed).
        2 => {
            out.push(Metric::ParkingOccupied, f64::from(c.u8()? & 1));
            out.push(Metric::DeviceTemperature, f64::from(c.i8()?));
        }
        // Start-up: three debug codes (u32), firmware version (3 bytes), reset cause,
        // then the current status.
        3 => {
            c.take(12 + 3 + 1)?;
            out.push(Metric::ParkingOccupied, f64::from(c.u8()? & 1));
        }
        _ => return Err(DecodeError::UnknownPort(f_port)),
    }
    Ok(())
}
