//! Dingtek DO200/DO201/DO202 parking occupancy detectors and the DT320 gas-level sensor, on
//! FPort 3. Every frame is `0x80, forced bit, device type, frame type, frame length, body,
//! 0x81`, big-endian. Frame types 0x01 (heartbeat) and 0x02 (alarm-triggered upload) carry
//! measurements; 0x03 is the parameter report (firmware, intervals, thresholds: no reading).

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

const PORT: u8 = 3;
const HEAD: u8 = 0x80;
const TAIL: u8 = 0x81;

/// Which body a model's telemetry frame carries.
#[derive(Clone, Copy, PartialEq)]
enum Model {
    /// DO200: ultrasonic distance and magnetometer.
    Do200,
    /// DO201: as DO200, plus temperature and humidity.
    Do201,
    /// DO202: magnetometer only (the distance bytes are sent but carry nothing), plus
    /// temperature and humidity.
    Do202,
    /// DT320: gas level on the vendor's scale.
    Dt320,
}

pub(crate) fn decode_do200(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(Model::Do200, f_port, bytes, out)
}

pub(crate) fn decode_do201(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(Model::Do201, f_port, bytes, out)
}

pub(crate) fn decode_do202(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(Model::Do202, f_port, bytes, out)
}

pub(crate) fn decode_dt320(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(Model::Dt320, f_port, bytes, out)
}

fn bad(field: &'static str, reason: String) -> DecodeError {
    DecodeError::BadValue { field, reason }
}

fn decode(model: Model, f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    if f_port != PORT {
        return Err(DecodeError::UnknownPort(f_port));
    }
    let mut c = Cursor::new(bytes);
    let head = c.u8()?;
    if head != HEAD {
        return Err(bad("header", format!("0x{head:02x}, expected 0x{HEAD:02x}")));
    }
    let _forced = c.u8()?;
    let _device_type = c.u8()?;
    let frame_type_at = c.pos();
    let frame_type = c.u8()?;
    let length = c.u8()?;
    if usize::from(length) != bytes.len() {
        return Err(bad("length", format!("frame says {length} bytes, has {}", bytes.len())));
    }
    match frame_type {
        0x01 | 0x02 => telemetry(model, &mut c, out)?,
        // Parameter report: configuration only; its layout differs per model, so skip to the tail.
        0x03 => {
            c.take(c.remaining().saturating_sub(1))?;
        }
        _ => return Err(DecodeError::UnknownField { code: u16::from(frame_type), offset: frame_type_at }),
    }
    let tail = c.u8()?;
    if tail != TAIL || !c.is_empty() {
        return Err(bad("tail", format!("0x{tail:02x} with {} bytes after it", c.remaining())));
    }
    Ok(())
}

/// Battery voltage, in 10 mV.
fn volts(c: &mut Cursor<'_>) -> Result<f64, DecodeError> {
    Ok(f64::from(c.u16_be()?) / 100.0)
}

fn telemetry(model: Model, c: &mut Cursor<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    // Distance (mm) for the parking detectors, gas level for the DT320.
    let level = f64::from(c.u16_be()?);
    if model == Model::Dt320 {
        // Reserved, temperature (C, signed), two reserved bytes, level alarm (high nibble),
        // battery alarm (low nibble).
        c.u8()?;
        let temperature = f64::from(c.i8()?);
        c.take(2)?;
        let _level_alarm = c.u8()? >> 4;
        let _battery_alarm = c.u8()? & 0x0f;
        let battery = volts(c)?;
        let _frame_counter = c.u16_be()?;
        out.push(Metric::AirGasLevel, level);
        out.push(Metric::DeviceTemperature, temperature);
        out.push(Metric::BatteryVoltage, battery);
        return Ok(());
    }
    // Alarms, one nibble each: parking (vehicle detected), level, magnetic, battery.
    let alarms = c.u16_be()?;
    let parked = (alarms >> 12) & 0x0f != 0;
    let battery = volts(c)?;
    // Magnetometer axes (x, y, z): raw field readings, not kept.
    c.take(6)?;
    let climate = match model {
        Model::Do201 | Model::Do202 => Some((f64::from(c.i8()?), f64::from(c.u8()?))),
        Model::Do200 | Model::Dt320 => None,
    };
    let _frame_counter = c.u16_be()?;
    // One reserved byte before the tail.
    c.u8()?;
    out.push(Metric::ParkingOccupied, f64::from(u8::from(parked)));
    if model != Model::Do202 {
        out.push(Metric::LevelDistance, level);
    }
    out.push(Metric::BatteryVoltage, battery);
    if let Some((temperature, humidity)) = climate {
        out.push(Metric::DeviceTemperature, temperature);
        out.push(Metric::AirRelativeHumidity, humidity);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(model: Model, f_port: u8, hex: &str) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let mut out = Readings::default();
        decode(model, f_port, &bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    #[test]
    fn parking_alarm_is_occupancy() {
        let r = run(Model::Do200, 3, "800002011510b410000001016f0079ffb0fff500000081").unwrap_err();
        // Length byte 0x15 no longer matches once two bytes were inserted.
        assert!(matches!(r, DecodeError::BadValue { field: "length", .. }));
        let r = run(Model::Do200, 3, "800002011506b41000016f0079ffb0fff500000081").unwrap();
        assert_eq!(r[0], (Metric::ParkingOccupied, 1.0));
        assert_eq!(r[1], (Metric::LevelDistance, 1716.0));
    }

    #[test]
    fn parameter_frames_carry_nothing() {
        assert_eq!(run(Model::Dt320, 3, "800020030c0102041e010081"), Ok(vec![]));
    }

    #[test]
    fn failure_modes() {
        assert_eq!(run(Model::Do201, 2, "80"), Err(DecodeError::UnknownPort(2)));
        assert_eq!(run(Model::Do201, 3, "8000"), Err(DecodeError::TooShort { offset: 2, needed: 1, len: 2 }));
        assert!(matches!(run(Model::Do201, 3, "7f00310217"), Err(DecodeError::BadValue { field: "header", .. })));
        assert_eq!(run(Model::Do201, 3, "800031090681"), Err(DecodeError::UnknownField { code: 0x09, offset: 3 }));
        // Telemetry whose length byte matches but whose body is cut short.
        assert_eq!(
            run(Model::Dt320, 3, "8000200108000081"),
            Err(DecodeError::TooShort { offset: 8, needed: 1, len: 8 })
        );
        assert!(matches!(run(Model::Dt320, 3, "800020030700ff"), Err(DecodeError::BadValue { field: "tail", .. })));
    }
}
