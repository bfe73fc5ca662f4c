//! The frame layout Adeunis IoT sensors share: on FPort 1, a frame code, a status byte,
//! then the code's data; configuration, keep-alive and register frames carry no
//! measurement. Periodic frames list history samples newest first without their period.

use std::time::Duration;

use crate::cursor::Cursor;
use crate::{DecodeError, Readings};

/// The FPort Adeunis devices send every uplink frame on.
pub(crate) const PORT: u8 = 1;

/// Status-byte bit (Comfort CO2, Comfort Serenity, Pulse): a timestamp ends the frame.
const STATUS_TIMESTAMP: u8 = 0x04;

/// Length of that trailing timestamp.
const TIMESTAMP_LEN: usize = 4;

/// Frame codes without a measurement: product configuration (0x10), network
/// configuration (0x20), keep-alive (0x30), register values (0x31), downlink-command
/// answer (0x2f, 0x33). They decode to no reading.
const NO_MEASUREMENT: &[u8] = &[0x10, 0x20, 0x2f, 0x30, 0x31, 0x33];

/// Decodes one frame: checks the port, reads code and status, accepts the frames without
/// measurement and hands the others to `data`, which returns `Ok(false)` for a code the
/// model does not send.
pub(crate) fn decode(
    f_port: u8,
    bytes: &[u8],
    out: &mut Readings,
    data: impl FnOnce(u8, u8, &mut Cursor<'_>, &mut Readings) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    if f_port != PORT {
        return Err(DecodeError::UnknownPort(f_port));
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut c = Cursor::new(bytes);
    let code = c.u8()?;
    let status = c.u8()?;
    if NO_MEASUREMENT.contains(&code) {
        return Ok(());
    }
    if data(code, status, &mut c, out)? {
        Ok(())
    } else {
        Err(DecodeError::UnknownField { code: u16::from(code), offset: 0 })
    }
}

/// How many bytes of timestamp end a periodic frame of this status byte, for models
/// whose status byte can announce one.
///
/// The timestamp dates the newest sample in absolute time; readings carry ages relative
/// to the receive time, which a decoder does not know, so the newest sample is taken as
/// measured at reception and the timestamp is skipped.
pub(crate) fn timestamp_len(status: u8) -> usize {
    if status & STATUS_TIMESTAMP == 0 {
        0
    } else {
        TIMESTAMP_LEN
    }
}

/// Reads the history samples of a periodic frame, newest first, with `sample` (at least
/// one), up to the last `trailer` bytes (the timestamp), which it then skips. Sample
/// `i` is dated `i x period` before reception.
pub(crate) fn samples(
    c: &mut Cursor<'_>,
    trailer: usize,
    period: Duration,
    mut sample: impl FnMut(&mut Cursor<'_>, Duration) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut index = 0;
    loop {
        sample(c, age(index, period)?)?;
        index += 1;
        if c.remaining() <= trailer {
            break;
        }
    }
    // A sample cut short leaves less than the trailer: too short, like any cut field.
    c.take(trailer)?;
    Ok(())
}

/// The age of history sample `index` (0 = newest) taken every `period`.
pub(crate) fn age(index: usize, period: Duration) -> Result<Duration, DecodeError> {
    u32::try_from(index)
        .ok()
        .and_then(|i| period.checked_mul(i))
        .ok_or_else(|| DecodeError::BadValue { field: "history", reason: format!("sample {index} is too old to date") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: u8, _: u8, _: &mut Cursor<'_>, _: &mut Readings) -> Result<bool, DecodeError> {
        Ok(false)
    }

    #[test]
    fn configuration_and_keep_alive_frames_have_no_reading() {
        let mut out = Readings::default();
        for frame in [&[0x10, 0x20, 0, 1, 2][..], &[0x30, 0x40], &[0x20, 0x60, 1, 2, 3], &[0x2f, 0x00]] {
            decode(PORT, frame, &mut out, never).unwrap();
        }
        assert!(out.0.is_empty());
    }

    #[test]
    fn port_length_and_code_errors() {
        let mut out = Readings::default();
        assert_eq!(decode(2, &[0x30, 0], &mut out, never), Err(DecodeError::UnknownPort(2)));
        assert_eq!(decode(PORT, &[], &mut out, never), Err(DecodeError::Empty));
        assert_eq!(decode(PORT, &[0x30], &mut out, never), Err(DecodeError::TooShort { offset: 1, needed: 1, len: 1 }));
        assert_eq!(decode(PORT, &[0x99, 0], &mut out, never), Err(DecodeError::UnknownField { code: 0x99, offset: 0 }));
    }

    #[test]
    fn samples_stop_at_the_timestamp() {
        let bytes = [1, 2, 3, 4, 5, 6, 7, 8];
        let read = |trailer: usize, len: usize| {
            let mut c = Cursor::new(&bytes[..len]);
            let mut ages = Vec::new();
            samples(&mut c, trailer, Duration::from_secs(60), |c, age| {
                c.u16_be()?;
                ages.push(age.as_secs());
                Ok(())
            })
            .map(|()| ages)
        };
        assert_eq!(timestamp_len(0x20), 0);
        assert_eq!(timestamp_len(0x24), TIMESTAMP_LEN);
        assert_eq!(read(0, 6), Ok(vec![0, 60, 120]));
        assert_eq!(read(4, 8), Ok(vec![0, 60]));
        assert_eq!(read(4, 7), Err(DecodeError::TooShort { offset: 4, needed: 4, len: 7 }));
        assert_eq!(read(0, 1), Err(DecodeError::TooShort { offset: 0, needed: 2, len: 1 }));
    }

    #[test]
    fn ages_are_multiples_of_the_period() {
        assert_eq!(age(0, Duration::from_secs(600)), Ok(Duration::ZERO));
        assert_eq!(age(3, Duration::from_secs(600)), Ok(Duration::from_secs(1800)));
        assert!(age(usize::MAX, Duration::from_secs(600)).is_err());
    }
}
