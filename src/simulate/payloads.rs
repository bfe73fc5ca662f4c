//! Frame encoders for the simulated models: real payload bytes in each vendor's format,
//! so simulated uplinks go through the same decoders as real ones.

/// Milesight AM319: temperature (C), humidity (%RH), PIR, CO2 (ppm), TVOC (index),
/// pressure (hPa), PM2.5 and PM10 (ug/m3).
#[allow(clippy::too_many_arguments)]
pub fn milesight_am319(
    temp: f64,
    rh: f64,
    motion: bool,
    co2: f64,
    tvoc: f64,
    pressure: f64,
    pm25: f64,
    pm10: f64,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(32);
    f.extend([0x03, 0x67]);
    f.extend(((temp * 10.0).round() as i16).to_le_bytes());
    f.extend([0x04, 0x68, (rh * 2.0).round().clamp(0.0, 255.0) as u8]);
    f.extend([0x05, 0x00, u8::from(motion)]);
    f.extend([0x07, 0x7d]);
    f.extend(u16_le(co2));
    f.extend([0x08, 0x7d]);
    f.extend(u16_le(tvoc));
    f.extend([0x09, 0x73]);
    f.extend(u16_le(pressure * 10.0));
    f.extend([0x0b, 0x7d]);
    f.extend(u16_le(pm25));
    f.extend([0x0c, 0x7d]);
    f.extend(u16_le(pm10));
    f
}

/// Elsys ERS CO2: temperature (C), humidity (%RH), light (lx), motion count, CO2 (ppm),
/// battery (V).
pub fn elsys_ers_co2(temp: f64, rh: f64, light: f64, motion: u8, co2: f64, vdd: f64) -> Vec<u8> {
    let mut f = Vec::with_capacity(16);
    f.push(0x01);
    f.extend(((temp * 10.0).round() as i16).to_be_bytes());
    f.extend([0x02, rh.round().clamp(0.0, 100.0) as u8]);
    f.push(0x04);
    f.extend(u16_be(light));
    f.extend([0x05, motion]);
    f.push(0x06);
    f.extend(u16_be(co2));
    f.push(0x07);
    f.extend(u16_be(vdd * 1000.0));
    f
}

/// Milesight CT101: accumulated charge (A.h), then max, min and last current (A).
pub fn milesight_ct101(total_ah: f64, max: f64, min: f64, current: f64) -> Vec<u8> {
    let mut f = Vec::with_capacity(16);
    f.extend([0x03, 0x97]);
    f.extend(((total_ah * 100.0).round().clamp(0.0, f64::from(u32::MAX)) as u32).to_le_bytes());
    f.extend([0x04, 0x98]);
    for a in [max, min, current] {
        f.extend(u16_le(a * 100.0));
    }
    f
}

/// Tekzitel TekziPark: occupancy, device temperature (C), parking id.
pub fn tekzitel_tekzipark(occupied: bool, temp: f64, parking_id: u8) -> Vec<u8> {
    // Radar detection and good battery flags set, as a healthy sensor reports.
    let status = (u8::from(occupied) << 7) | 0x28;
    vec![status, temp.round().clamp(-128.0, 127.0) as i8 as u8, parking_id]
}

fn u16_le(v: f64) -> [u8; 2] {
    (v.round().clamp(0.0, 65535.0) as u16).to_le_bytes()
}

fn u16_be(v: f64) -> [u8; 2] {
    (v.round().clamp(0.0, 65535.0) as u16).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roc42_decoders::{decode, Metric};

    fn value(readings: &[roc42_decoders::Reading], m: Metric) -> f64 {
        readings.iter().find(|r| r.metric == m).map(|r| r.value).unwrap_or(f64::NAN)
    }

    #[test]
    fn frames_round_trip_through_the_decoders() {
        let r = decode("milesight-am319", 85, &milesight_am319(21.4, 45.5, true, 812.0, 120.0, 1013.2, 12.0, 20.0))
            .unwrap();
        assert_eq!(value(&r, Metric::AirTemperature), 21.4);
        assert_eq!(value(&r, Metric::AirRelativeHumidity), 45.5);
        assert_eq!(value(&r, Metric::AirCo2), 812.0);
        assert_eq!(value(&r, Metric::AirPressure), 1013.2);
        assert_eq!(value(&r, Metric::ActionMotionDetected), 1.0);
        assert_eq!(r.len(), 8);

        let r = decode("elsys-ers-co2", 5, &elsys_ers_co2(-3.2, 55.0, 300.0, 4, 640.0, 3.61)).unwrap();
        assert_eq!(value(&r, Metric::AirTemperature), -3.2);
        assert_eq!(value(&r, Metric::BatteryVoltage), 3.61);
        assert_eq!(r.len(), 6);

        let r = decode("milesight-ct101", 85, &milesight_ct101(1234.56, 30.0, 2.5, 12.34)).unwrap();
        assert_eq!(value(&r, Metric::ElectricCharge), 1234.56);
        assert_eq!(value(&r, Metric::ElectricCurrent), 12.34);

        let r = decode("tekzitel-tekzipark", 1, &tekzitel_tekzipark(true, -5.0, 7)).unwrap();
        assert_eq!(value(&r, Metric::ParkingOccupied), 1.0);
        assert_eq!(value(&r, Metric::DeviceTemperature), -5.0);
    }
}
