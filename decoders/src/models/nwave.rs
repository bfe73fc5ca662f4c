//! Nwave parking sensors (NPS310SM, NPS405 FM/SM) and the NCC405 car counter.
//! Parking status on FPort 1, heartbeat on FPort 2, start-up report on FPort 3, and (NPS405)
//! user registration with a Bluetooth tag on FPort 10. The car counter sends its vehicle count
//! on FPort 1. Multi-byte fields are big-endian.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// Battery voltage: 2.5 V plus 4 mV per step of the transmitted byte.
fn battery_volts(raw: u8) -> f64 {
    2.5 + f64::from(raw) * 0.004
}

/// The status byte of parking sensors: bit 0 is the parking state (1 occupied); bits 7..1
/// carry the compressed duration of the previous state (not a measurement).
fn occupied(c: &mut Cursor<'_>) -> Result<f64, DecodeError> {
    Ok(f64::from(c.u8()? & 1))
}

/// Start-up report: firmware version (major, minor, patch) and reset cause; identification only.
fn startup(c: &mut Cursor<'_>) -> Result<(), DecodeError> {
    c.take(3 + 1)?;
    Ok(())
}

pub(crate) fn decode_nps310sm(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = Cursor::new(bytes);
    match f_port {
        1 | 2 => out.push(Metric::ParkingOccupied, occupied(&mut c)?),
        3 => {
            startup(&mut c)?;
            out.push(Metric::ParkingOccupied, occupied(&mut c)?);
        }
        _ => return Err(DecodeError::UnknownPort(f_port)),
    }
    Ok(())
}

pub(crate) fn decode_nps405(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = Cursor::new(bytes);
    match f_port {
        1 => out.push(Metric::ParkingOccupied, occupied(&mut c)?),
        // Heartbeat: status (bit 0 parking state, upper bits hardware health), battery voltage,
        // device temperature (signed, 0.25 C steps), then battery-health and diagnostic bytes.
        2 => {
            let status = occupied(&mut c)?;
            let battery = battery_volts(c.u8()?);
            let temperature = f64::from(c.i8()?) / 4.0;
            c.take(3)?;
            out.push(Metric::ParkingOccupied, status);
            out.push(Metric::BatteryVoltage, battery);
            out.push(Metric::DeviceTemperature, temperature);
        }
        3 => {
            startup(&mut c)?;
            out.push(Metric::ParkingOccupied, occupied(&mut c)?);
        }
        // User registration: the status byte, then the 4-byte id of the tag that registered.
        10 => {
            let status = occupied(&mut c)?;
            c.take(4)?;
            out.push(Metric::ParkingOccupied, status);
        }
        _ => return Err(DecodeError::UnknownPort(f_port)),
    }
    Ok(())
}

pub(crate) fn decode_ncc405(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = Cursor::new(bytes);
    match f_port {
        // Counter update: vehicles counted (u16).
        1 => out.push(Metric::ParkingVehicleCount, f64::from(c.u16_be()?)),
        // Heartbeat: hardware health mask, battery voltage (last), battery voltage (24 h mean,
        // not kept: the last value is the current one).
        2 => {
            let _health = c.u8()?;
            let battery = battery_volts(c.u8()?);
            let _mean = c.u8()?;
            out.push(Metric::BatteryVoltage, battery);
        }
        3 => startup(&mut c)?,
        _ => return Err(DecodeError::UnknownPort(f_port)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: crate::model::DecodeFn, f_port: u8, bytes: &[u8]) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let mut out = Readings::default();
        f(f_port, bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    #[test]
    fn heartbeat_battery_and_temperature() {
        let r = run(decode_nps405, 2, &[0x01, 0xd3, 0xd8, 0x00, 0x59, 0x0b]).unwrap();
        assert_eq!(r[0], (Metric::ParkingOccupied, 1.0));
        assert!((r[1].1 - 3.344).abs() < 1e-9);
        assert_eq!(r[2], (Metric::DeviceTemperature, -10.0));
    }

    #[test]
    fn short_frames_and_unknown_ports() {
        assert_eq!(run(decode_nps310sm, 1, &[]), Err(DecodeError::TooShort { offset: 0, needed: 1, len: 0 }));
        assert_eq!(
            run(decode_nps405, 2, &[0x00, 0xd3, 0xd8]),
            Err(DecodeError::TooShort { offset: 3, needed: 3, len: 3 })
        );
        assert_eq!(run(decode_nps405, 10, &[0xd1, 0x1f]), Err(DecodeError::TooShort { offset: 1, needed: 4, len: 2 }));
        assert_eq!(run(decode_ncc405, 1, &[0x06]), Err(DecodeError::TooShort { offset: 0, needed: 2, len: 1 }));
        assert_eq!(run(decode_nps310sm, 10, &[0x01]), Err(DecodeError::UnknownPort(10)));
        assert_eq!(run(decode_ncc405, 10, &[0x01]), Err(DecodeError::UnknownPort(10)));
        assert_eq!(run(decode_nps405, 4, &[0x01]), Err(DecodeError::UnknownPort(4)));
    }

    #[test]
    fn startup_carries_no_measurement_for_the_counter() {
        assert_eq!(run(decode_ncc405, 3, &[0x01, 0x0d, 0x00, 0x02]), Ok(vec![]));
    }
}
