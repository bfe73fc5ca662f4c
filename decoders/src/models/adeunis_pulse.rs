//! Adeunis Pulse (LoRaWAN, Pulse 4 frames): a two-channel pulse counter. Each channel's
//! periodic frame carries its current index and the pulses counted in each earlier
//! history period, from which the earlier indexes follow. Channel A is `pulse.count`,
//! channel B `pulse.count_2`.

use std::time::Duration;

use super::adeunis;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// Channel A data: index u32, then one u16 per earlier history period (pulses counted in
/// it, newest first), then a timestamp if the status byte says so.
const CHANNEL_A: u8 = 0x5a;

/// Channel B data, same layout; its index is a second input's (`pulse.count_2`), never
/// merged into channel A's series.
const CHANNEL_B: u8 = 0x5b;

/// Time between two history samples at the factory settings: history period S321 =
/// 43200 x 2 s = 24 h (Adeunis Pulse technical reference). The frame does not carry it;
/// a device configured otherwise gets wrong ages.
pub(crate) const HISTORY_PERIOD: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    adeunis::decode(f_port, bytes, out, |code, status, c, out| {
        let metric = match code {
            CHANNEL_A => Metric::PulseCount,
            CHANNEL_B => Metric::PulseCount2,
            _ => return Ok(false),
        };
        let trailer = adeunis::timestamp_len(status);
        let mut index = c.u32_be()?;
        let mut history = Vec::new();
        history.push(index);
        while c.remaining() > trailer {
            // The index is a u32 the meter wraps; going back in time wraps the same way.
            index = index.wrapping_sub(u32::from(c.u16_be()?));
            history.push(index);
        }
        c.take(trailer)?;
        for (i, value) in history.into_iter().enumerate() {
            out.push_aged(metric, f64::from(value), adeunis::age(i, HISTORY_PERIOD)?);
        }
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<Vec<(f64, u64)>, DecodeError> {
        Ok(decoded_metrics(bytes)?.into_iter().map(|(_, value, hours)| (value, hours)).collect())
    }

    fn decoded_metrics(bytes: &[u8]) -> Result<Vec<(Metric, f64, u64)>, DecodeError> {
        let mut out = Readings::default();
        decode(adeunis::PORT, bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value, r.age.as_secs() / 3600)).collect())
    }

    #[test]
    fn history_indexes_are_a_day_apart() {
        // index 295, then 1 and 2 pulses in the two days before; timestamp at the end.
        let got = decoded(&[0x5a, 0x67, 0, 0, 1, 0x27, 0, 1, 0, 2, 0x14, 0xab, 0xa3, 0xe9]).unwrap();
        assert_eq!(got, vec![(295.0, 0), (294.0, 24), (292.0, 48)]);
    }

    #[test]
    fn index_alone_and_wrapping_history() {
        assert_eq!(decoded(&[0x5a, 0x20, 0, 0, 0, 7]).unwrap(), vec![(7.0, 0)]);
        assert_eq!(decoded(&[0x5a, 0x20, 0, 0, 0, 1, 0, 2]).unwrap(), vec![(1.0, 0), (4_294_967_295.0, 24)]);
    }

    #[test]
    fn channels_a_and_b_are_separate_counters() {
        assert_eq!(decoded_metrics(&[0x5a, 0x20, 0, 0, 0, 9]).unwrap(), vec![(Metric::PulseCount, 9.0, 0)]);
        assert_eq!(
            decoded_metrics(&[0x5b, 0x20, 0, 0, 0, 7, 0, 1]).unwrap(),
            vec![(Metric::PulseCount2, 7.0, 0), (Metric::PulseCount2, 6.0, 24)]
        );
        assert_eq!(decoded(&[0x5b, 0x20, 0, 0]), Err(DecodeError::TooShort { offset: 2, needed: 4, len: 4 }));
    }

    #[test]
    fn truncated_frames_and_unknown_frame_are_errors() {
        assert_eq!(decoded(&[0x5a, 0x20, 0, 0, 1]), Err(DecodeError::TooShort { offset: 2, needed: 4, len: 5 }));
        assert_eq!(decoded(&[0x5a, 0x20, 0, 0, 1, 0, 0]), Err(DecodeError::TooShort { offset: 6, needed: 2, len: 7 }));
        // Timestamp announced but cut short.
        assert_eq!(
            decoded(&[0x5a, 0x24, 0, 0, 1, 0, 0x14, 0xab]),
            Err(DecodeError::TooShort { offset: 6, needed: 4, len: 8 })
        );
        assert_eq!(decoded(&[0x46, 0x20, 0, 0]), Err(DecodeError::UnknownField { code: 0x46, offset: 0 }));
    }
}
