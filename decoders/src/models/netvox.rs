//! Netvox sensors: FPort 6 frames are `version, device type, report type, supply voltage
//! (0.1 V, bit 7 = low battery)`, then the report's fields; report type 0 is the
//! start-up version report. FPort 7 carries configuration responses (no measurement).
//! Models: R718N1 (single-phase current meter), RA0715 and RA0715Y (RA07 air stations).

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// A 16-bit field of this value means "no sensor fitted".
const NO_SENSOR: u16 = 0xffff;

/// Reads the header; returns the report type, or `None` for frames without measurements.
fn header(f_port: u8, c: &mut Cursor<'_>, out: &mut Readings) -> Result<Option<u8>, DecodeError> {
    match f_port {
        6 => {}
        7 => {
            c.take(2)?; // command id and device type: configuration responses
            return Ok(None);
        }
        _ => return Err(DecodeError::UnknownPort(f_port)),
    }
    let _version = c.u8()?;
    let _device_type = c.u8()?;
    let report = c.u8()?;
    if report == 0 {
        return Ok(None); // software/hardware version, date code
    }
    let volt = c.u8()?;
    out.push(Metric::BatteryVoltage, f64::from(volt & 0x7f) / 10.0);
    Ok(Some(report))
}

pub(crate) fn decode_r718n1(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = Cursor::new(bytes);
    if header(f_port, &mut c, out)? == Some(1) {
        let current_ma = f64::from(c.u16_be()?);
        let multiplier = f64::from(c.u8()?);
        out.push(Metric::ElectricCurrent, current_ma * multiplier / 1000.0);
    }
    Ok(())
}

/// RA07 stations: each report type carries three 16-bit fields of a sensor set.
pub(crate) fn decode_ra07(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = Cursor::new(bytes);
    let Some(report) = header(f_port, &mut c, out)? else { return Ok(()) };
    let (a, b, d) = (c.u16_be()?, c.u16_be()?, c.u16_be()?);
    let mut put = |metric: Metric, raw: u16, value: f64| {
        if raw != NO_SENSOR {
            out.push(metric, value);
        }
    };
    let scaled = |raw: u16, scale: f64| f64::from(raw) * scale;
    match report {
        1 | 2 => {
            put(Metric::AirPm1, a, scaled(a, 1.0));
            put(Metric::AirPm25, b, scaled(b, 1.0));
            put(Metric::AirPm10, d, scaled(d, 1.0));
        }
        5 => {
            put(Metric::AirO3, a, scaled(a, 0.1));
            put(Metric::AirCo, b, scaled(b, 0.1));
            put(Metric::AirNo, d, scaled(d, 0.1));
        }
        6 => {
            put(Metric::AirNo2, a, scaled(a, 0.1));
            put(Metric::AirSo2, b, scaled(b, 0.1));
            put(Metric::AirH2s, d, scaled(d, 0.1));
        }
        // CO2 (0.1 ppm); the NH3 and noise fields' scales are not pinned by any example
        // we hold, so they are not decoded rather than decoded wrong.
        7 => put(Metric::AirCo2, a, scaled(a, 0.1)),
        12 => {
            put(Metric::AirTemperature, a, f64::from(a as i16) / 100.0);
            put(Metric::AirRelativeHumidity, b, scaled(b, 0.01));
        }
        // Particle counts (3, 4), water, soil and weather probes (8-11, 13) and VOC (14,
        // unit not documented in what we hold): no canonical metric yet.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_truncation() {
        let mut out = Readings::default();
        assert_eq!(decode_ra07(5, &[1, 5, 1], &mut out), Err(DecodeError::UnknownPort(5)));
        assert_eq!(
            decode_ra07(6, &[1, 5, 1, 0x78, 0], &mut out),
            Err(DecodeError::TooShort { offset: 4, needed: 2, len: 5 })
        );
        assert!(decode_r718n1(7, &[0x81], &mut out).is_err());
    }
}
