//! Adeunis Comfort CO2 and Comfort Serenity: temperature, humidity and CO2 sampled into a
//! history and sent several samples per periodic frame (0x6a).

use std::time::Duration;

use super::adeunis;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// Periodic data: `[temperature i16 0.1 C, humidity u8 %, CO2 u16 ppm]` per sample,
/// newest first, then a timestamp if the status byte says so.
const DATA: u8 = 0x6a;

/// Time between two history samples at the factory settings: sampling period S321 =
/// 300 x 2 s and history period S320 = 1 (every sample is logged), i.e. 10 minutes.
/// (Comfort CO2 technical reference; the Comfort Serenity, same frame, is taken to share
/// these defaults.) The frame does not carry it; a device configured otherwise gets
/// wrong ages.
pub(crate) const HISTORY_PERIOD: Duration = Duration::from_secs(600);

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    adeunis::decode(f_port, bytes, out, |code, status, c, out| {
        if code != DATA {
            return Ok(false);
        }
        adeunis::samples(c, adeunis::timestamp_len(status), HISTORY_PERIOD, |c, age| sample(c, age, out))?;
        Ok(true)
    })
}

fn sample(c: &mut Cursor<'_>, age: Duration, out: &mut Readings) -> Result<(), DecodeError> {
    out.push_aged(Metric::AirTemperature, f64::from(c.i16_be()?) / 10.0, age);
    out.push_aged(Metric::AirRelativeHumidity, f64::from(c.u8()?), age);
    out.push_aged(Metric::AirCo2, f64::from(c.u16_be()?), age);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<Vec<(Metric, f64, u64)>, DecodeError> {
        let mut out = Readings::default();
        decode(adeunis::PORT, bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value, r.age.as_secs())).collect())
    }

    #[test]
    fn history_samples_are_ten_minutes_apart() {
        // 21.5 C, 40 %, 600 ppm now; -0.5 C, 41 %, 610 ppm ten minutes before.
        let got = decoded(&[0x6a, 0x20, 0x00, 0xd7, 40, 0x02, 0x58, 0xff, 0xfb, 41, 0x02, 0x62]).unwrap();
        assert_eq!(
            got,
            vec![
                (Metric::AirTemperature, 21.5, 0),
                (Metric::AirRelativeHumidity, 40.0, 0),
                (Metric::AirCo2, 600.0, 0),
                (Metric::AirTemperature, -0.5, 600),
                (Metric::AirRelativeHumidity, 41.0, 600),
                (Metric::AirCo2, 610.0, 600),
            ]
        );
    }

    #[test]
    fn timestamp_is_not_a_sample() {
        let got = decoded(&[0x6a, 0x24, 0x00, 0xd7, 40, 0x02, 0x58, 0x14, 0xab, 0xa3, 0xe9]).unwrap();
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn truncated_sample_and_unknown_frame_are_errors() {
        assert_eq!(decoded(&[0x6a, 0x20, 0x00, 0xd7, 40]), Err(DecodeError::TooShort { offset: 5, needed: 2, len: 5 }));
        assert_eq!(decoded(&[0x6a, 0x20]), Err(DecodeError::TooShort { offset: 2, needed: 2, len: 2 }));
        assert_eq!(decoded(&[0x6d, 0x20, 0, 0]), Err(DecodeError::UnknownField { code: 0x6d, offset: 0 }));
        let mut out = Readings::default();
        assert_eq!(decode(2, &[0x6a, 0x20], &mut out), Err(DecodeError::UnknownPort(2)));
    }
}
