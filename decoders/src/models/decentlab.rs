//! Decentlab sensors (protocol version 2): `version, device id (u16), flags (u16)`, then,
//! for each sensor group whose flag bit is set (bit 0 first), its fixed number of
//! big-endian u16 values. Each model lists its groups and how values convert.
//! Models: DL-PM (particulate matter), DL-LP8P (CO2, temperature, humidity, pressure),
//! DL-IAM (indoor air quality), DL-GMM (greenhouse monitor).

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

const PROTOCOL_VERSION: u8 = 2;

/// One sensor group: how many u16 values it sends and what they mean.
struct Group {
    values: usize,
    convert: fn(&[u16], &mut Readings),
}

fn battery(v: &[u16], out: &mut Readings) {
    out.push(Metric::BatteryVoltage, f64::from(v[0]) / 1000.0);
}

/// Sensirion SHT: temperature and relative humidity.
fn sht(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirTemperature, 175.72 * f64::from(v[0]) / 65536.0 - 46.85);
    out.push(Metric::AirRelativeHumidity, 125.0 * f64::from(v[1]) / 65536.0 - 6.0);
}

/// Sensirion SHT3x (as in DL-IAM): temperature and relative humidity.
fn sht3x(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirTemperature, 175.0 * f64::from(v[0]) / 65535.0 - 45.0);
    out.push(Metric::AirRelativeHumidity, 100.0 * f64::from(v[1]) / 65535.0);
}

/// Ambient light: visible+infrared and infrared channels, combined into illuminance.
fn ambient_light(v: &[u16], out: &mut Readings) {
    let (vis_ir, ir) = (f64::from(v[0]), f64::from(v[1]));
    let lux = (1.0 * vis_ir - 1.64 * ir).max(0.59 * vis_ir - 0.86 * ir).max(0.0) * 1.5504;
    out.push(Metric::AirLightIntensity, lux);
}

/// PIR activity counter.
fn activity(v: &[u16], out: &mut Readings) {
    out.push(Metric::ActionMotionCount, f64::from(v[0]));
}

/// Total VOC (ppb).
fn tvoc_ppb(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirTvocPpb, f64::from(v[0]));
}

/// CO2 (ppm, offset 32768), then sensor status and raw IR reading (not kept).
fn co2_status_ir(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirCo2, f64::from(v[0]) - 32768.0);
}

/// DL-GMM's one group, every value offset by 32768: photosynthetically active radiation
/// (0.1 umol/m2/s), air temperature (0.01 C), humidity (0.1 %), CO2 (ppm), atmospheric
/// pressure (0.01 kPa), vapour pressure deficit and dew point (not kept).
fn gmm(v: &[u16], out: &mut Readings) {
    let x = |i: usize| f64::from(v[i]) - 32768.0;
    out.push(Metric::AirTemperature, x(1) / 100.0);
    out.push(Metric::AirRelativeHumidity, x(2) / 10.0);
    out.push(Metric::AirCo2, x(3));
    out.push(Metric::AirPressure, x(4) / 100.0 * 10.0);
}

/// Barometric pressure, sent in units of 2 Pa.
fn pressure(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirPressure, f64::from(v[0]) * 2.0 / 100.0);
}

/// Barometer with its own temperature (not the air's: not kept), then pressure.
fn barometer(v: &[u16], out: &mut Readings) {
    pressure(&v[1..], out);
}

/// Sensirion SPS30: mass concentrations PM1, PM2.5, PM4, PM10 (0.1 ug/m3), typical
/// particle size, then number concentrations (not kept).
fn sps30(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirPm1, f64::from(v[0]) / 10.0);
    out.push(Metric::AirPm25, f64::from(v[1]) / 10.0);
    out.push(Metric::AirPm10, f64::from(v[3]) / 10.0);
}

/// Senseair LP8: CO2 (ppm, offset 32768), its low-pass filtered value, sensor
/// temperature, capacitor voltages, status and raw IR readings (diagnostics, not kept).
fn lp8(v: &[u16], out: &mut Readings) {
    out.push(Metric::AirCo2, f64::from(v[0]) - 32768.0);
}

const DL_PM: &[Group] = &[
    Group { values: 1, convert: battery },
    Group { values: 10, convert: sps30 },
    Group { values: 2, convert: sht },
    Group { values: 1, convert: pressure },
];

const DL_LP8P: &[Group] = &[
    Group { values: 2, convert: sht },
    Group { values: 2, convert: barometer },
    Group { values: 8, convert: lp8 },
    Group { values: 1, convert: battery },
];

const DL_IAM: &[Group] = &[
    Group { values: 1, convert: battery },
    Group { values: 2, convert: sht3x },
    Group { values: 1, convert: pressure },
    Group { values: 2, convert: ambient_light },
    Group { values: 3, convert: co2_status_ir },
    Group { values: 1, convert: activity },
    Group { values: 1, convert: tvoc_ppb },
];

const DL_GMM: &[Group] = &[Group { values: 7, convert: gmm }, Group { values: 1, convert: battery }];

pub(crate) fn decode_iam(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(DL_IAM, f_port, bytes, out)
}

pub(crate) fn decode_gmm(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(DL_GMM, f_port, bytes, out)
}

pub(crate) fn decode_pm(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(DL_PM, f_port, bytes, out)
}

pub(crate) fn decode_lp8p(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode(DL_LP8P, f_port, bytes, out)
}

fn decode(groups: &[Group], f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    if f_port == 0 {
        return Err(DecodeError::UnknownPort(f_port));
    }
    let mut c = Cursor::new(bytes);
    let version = c.u8()?;
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::BadValue { field: "protocol version", reason: format!("{version}, expected 2") });
    }
    let _device_id = c.u16_be()?;
    let flags = c.u16_be()?;
    if usize::from(flags) >> groups.len() != 0 {
        return Err(DecodeError::BadValue { field: "flags", reason: format!("0x{flags:04x} names unknown sensors") });
    }
    let mut values = [0u16; 16];
    for (i, g) in groups.iter().enumerate() {
        if flags & (1 << i) == 0 {
            continue;
        }
        for v in values.iter_mut().take(g.values) {
            *v = c.u16_be()?;
        }
        (g.convert)(&values[..g.values], out);
    }
    if !c.is_empty() {
        return Err(DecodeError::BadValue {
            field: "frame",
            reason: format!("{} bytes after the last sensor", c.remaining()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_flags_and_length_are_checked() {
        let mut out = Readings::default();
        assert!(matches!(
            decode_pm(1, &[1, 0x1b, 0x50, 0, 1, 0x0c, 0x25], &mut out),
            Err(DecodeError::BadValue { .. })
        ));
        assert!(matches!(decode_pm(1, &[2, 0x1b, 0x50, 0, 0x10], &mut out), Err(DecodeError::BadValue { .. })));
        assert_eq!(
            decode_pm(1, &[2, 0x1b, 0x50, 0, 1, 0x0c], &mut out),
            Err(DecodeError::TooShort { offset: 5, needed: 2, len: 6 })
        );
        assert!(matches!(
            decode_pm(1, &[2, 0x1b, 0x50, 0, 1, 0x0c, 0x25, 0], &mut out),
            Err(DecodeError::BadValue { .. })
        ));
    }
}
