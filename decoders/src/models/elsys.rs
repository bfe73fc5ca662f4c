//! Elsys ERS and EMS families (ERS, ERS Lite, ERS CO2, ERS CO2 Lite, ERS VOC, EMS,
//! EMS Lite): room sensors whose frames are `type, value` fields of fixed lengths.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    if f_port == 0 {
        return Err(DecodeError::UnknownPort(0));
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut c = Cursor::new(bytes);
    while !c.is_empty() {
        let offset = c.pos();
        let ty = c.u8()?;
        match ty {
            0x01 => out.push(Metric::AirTemperature, f64::from(c.i16_be()?) / 10.0),
            0x02 => out.push(Metric::AirRelativeHumidity, f64::from(c.u8()?)),
            0x04 => out.push(Metric::AirLightIntensity, f64::from(c.u16_be()?)),
            0x05 => out.push(Metric::ActionMotionCount, f64::from(c.u8()?)),
            0x06 => out.push(Metric::AirCo2, f64::from(c.u16_be()?)),
            0x07 => out.push(Metric::BatteryVoltage, f64::from(c.u16_be()?) / 1000.0),
            0x0a => out.push(Metric::PulseIncrement, f64::from(c.u16_be()?)),
            0x0b => out.push(Metric::PulseCount, f64::from(c.u32_be()?)),
            0x12 => out.push(Metric::WaterLeak, f64::from(c.u8()?)),
            0x14 => out.push(Metric::AirPressure, f64::from(c.u32_be()?) / 1000.0),
            0x1c => out.push(Metric::AirTvocPpb, f64::from(c.u16_be()?)),
            // Fields framed but not kept as readings: accelerometer, analog inputs,
            // GPS, external probes, IR temperature, occupancy, sound, debug.
            _ => {
                let len = match ty {
                    0x0d | 0x0f | 0x11 | 0x1a => 1,
                    0x08 | 0x0c | 0x0e | 0x15 | 0x16 | 0x18 | 0x19 => 2,
                    0x03 => 3,
                    0x10 | 0x17 | 0x1b | 0x3d => 4,
                    0x09 => 6,
                    0x13 => 65,
                    // Settings: a length byte, then that many bytes.
                    0x3e => usize::from(c.u8()?),
                    _ => return Err(DecodeError::UnknownField { code: u16::from(ty), offset }),
                };
                c.take(len)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn battery_pressure_and_settings() {
        let mut out = Readings::default();
        // VDD 3600 mV, pressure 1013.250 hPa, settings of 2 bytes.
        decode(5, &[0x07, 0x0e, 0x10, 0x14, 0x00, 0x0f, 0x76, 0x02, 0x3e, 2, 0xaa, 0xbb], &mut out).unwrap();
        let got: Vec<_> = out.0.iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(got, vec![(Metric::BatteryVoltage, 3.6), (Metric::AirPressure, 1013.25)]);
    }

    #[test]
    fn unknown_type_and_truncation() {
        let mut out = Readings::default();
        assert_eq!(
            decode(5, &[0x01, 0x00, 0xe2, 0x77], &mut out),
            Err(DecodeError::UnknownField { code: 0x77, offset: 3 })
        );
        assert_eq!(decode(5, &[0x06, 0x03], &mut out), Err(DecodeError::TooShort { offset: 1, needed: 2, len: 2 }));
    }
}
