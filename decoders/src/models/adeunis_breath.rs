//! Adeunis Breath: TVOC and particulate matter (PM10, PM2.5, PM1) sampled into a history
//! and sent several samples per periodic frame (0x6d).

use std::time::Duration;

use super::adeunis;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// Periodic data: `[TVOC, PM10, PM2.5, PM1]` per sample, each u16 in ug/m3, newest first.
/// The Breath has no time-stamping option, so no timestamp ends the frame.
const DATA: u8 = 0x6d;

/// Time between two history samples at the factory settings: history period S320 =
/// 600 s. The frame does not carry it; a device configured otherwise gets wrong ages.
pub(crate) const HISTORY_PERIOD: Duration = Duration::from_secs(600);

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    adeunis::decode(f_port, bytes, out, |code, _status, c, out| {
        if code != DATA {
            return Ok(false);
        }
        adeunis::samples(c, 0, HISTORY_PERIOD, |c, age| sample(c, age, out))?;
        Ok(true)
    })
}

fn sample(c: &mut Cursor<'_>, age: Duration, out: &mut Readings) -> Result<(), DecodeError> {
    for metric in [Metric::AirTvoc, Metric::AirPm10, Metric::AirPm25, Metric::AirPm1] {
        out.push_aged(metric, f64::from(c.u16_be()?), age);
    }
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
        let got = decoded(&[0x6d, 0x20, 0, 100, 0, 20, 0, 10, 0, 5, 0, 90, 0, 21, 0, 11, 0, 6, 1, 0, 0, 1, 0, 2, 0, 3])
            .unwrap();
        let tvoc: Vec<_> = got.iter().filter(|r| r.0 == Metric::AirTvoc).map(|r| (r.1, r.2)).collect();
        assert_eq!(tvoc, vec![(100.0, 0), (90.0, 600), (256.0, 1200)]);
        assert!(got.contains(&(Metric::AirPm1, 6.0, 600)));
        assert_eq!(got.len(), 12);
    }

    #[test]
    fn status_bit_2_does_not_strip_samples() {
        assert_eq!(decoded(&[0x6d, 0x24, 0, 1, 0, 2, 0, 3, 0, 4]).unwrap().len(), 4);
    }

    #[test]
    fn truncated_sample_and_unknown_frame_are_errors() {
        assert_eq!(decoded(&[0x6d, 0x20, 0, 1, 0, 2, 0]), Err(DecodeError::TooShort { offset: 6, needed: 2, len: 7 }));
        assert_eq!(decoded(&[0x6d, 0x20]), Err(DecodeError::TooShort { offset: 2, needed: 2, len: 2 }));
        assert_eq!(decoded(&[0x6a, 0x20, 0, 0]), Err(DecodeError::UnknownField { code: 0x6a, offset: 0 }));
    }
}
