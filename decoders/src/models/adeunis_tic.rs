//! Adeunis TIC: reads a French electricity meter's tele-information output (TIC) and
//! sends the labels its configuration profile selects in a periodic frame (0x49).
//!
//! The frame carries values only, no labels: its layout is the one of the Adeunis
//! configuration profile for the meter type (CBE/Linky single-phase, CBE/Linky
//! three-phase, PME-PMI), so each profile has its own decoder and a frame whose length
//! does not match the profile is rejected rather than misread.

use super::adeunis;
use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// Periodic TIC data.
const DATA: u8 = 0x49;

/// A numeric label the meter did not send is a u32 with this bit set.
const NOT_FOUND: u32 = 0x8000_0000;

/// One field of a profile's frame.
#[derive(Clone, Copy)]
enum Field {
    /// A text label (meter address, tariff option, current tariff period, date) of this
    /// many bytes: no measurement.
    Text(usize),
    /// A u32 label without a canonical metric (subscribed current, per-tariff or
    /// per-phase values, period energies).
    Skip,
    /// A u32 label in the metric's unit.
    Value(Metric),
}

use Field::*;

/// CBE/Linky single-phase, historic TIC: ADCO, OPTARIF, BASE (Wh), ISOUSC, IINST (A),
/// IMAX, PAPP (VA), HCHC, HCHP, PTEC. The off-peak/peak indexes HCHC and HCHP have no
/// canonical metric (the catalogue has one import index, not one per tariff); IMAX is
/// a fixed rating on Linky meters, not a measurement.
const LINKY_MONO: &[Field] = &[
    Text(12),
    Text(4),
    Value(Metric::EnergyActiveImport),
    Skip,
    Value(Metric::ElectricCurrent),
    Skip,
    Value(Metric::PowerApparent),
    Skip,
    Skip,
    Text(4),
];

/// CBE/Linky three-phase, historic TIC: ADCO, BASE (Wh), IINST1-3 (A), IMAX1-3, PMAX,
/// PAPP (VA). The catalogue has no phase dimension: phase 1's current is reported as
/// the current, phases 2 and 3 are skipped (as are the IMAX ratings and PMAX).
const LINKY_TRI: &[Field] = &[
    Text(12),
    Value(Metric::EnergyActiveImport),
    Value(Metric::ElectricCurrent),
    Skip,
    Skip,
    Skip,
    Skip,
    Skip,
    Skip,
    Value(Metric::PowerApparent),
];

/// PME-PMI: DATE, EA_s, ER+_s, ER-_s, EAPP_s (energies of the current integration
/// period), PTCOUR1, EAP_s, ER+P_s, ER-P_s, EaP-1_s, ER+P-1_s, ER-P-1_s (energies of the
/// current and previous tariff periods). None is a meter index or an instantaneous
/// value, so this profile gives no reading: its frames decode without error.
const PME_PMI: &[Field] = &[Text(6), Skip, Skip, Skip, Skip, Text(3), Skip, Skip, Skip, Skip, Skip, Skip];

pub(crate) fn decode_linky_mono(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode_profile(f_port, bytes, out, LINKY_MONO)
}

pub(crate) fn decode_linky_tri(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode_profile(f_port, bytes, out, LINKY_TRI)
}

pub(crate) fn decode_pme_pmi(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    decode_profile(f_port, bytes, out, PME_PMI)
}

fn decode_profile(f_port: u8, bytes: &[u8], out: &mut Readings, profile: &[Field]) -> Result<(), DecodeError> {
    adeunis::decode(f_port, bytes, out, |code, _status, c, out| {
        if code != DATA {
            return Ok(false);
        }
        for field in profile {
            read(c, *field, out)?;
        }
        if !c.is_empty() {
            return Err(DecodeError::BadValue {
                field: "TIC data",
                reason: format!("{} bytes after the configuration profile's last label", c.remaining()),
            });
        }
        Ok(true)
    })
}

fn read(c: &mut Cursor<'_>, field: Field, out: &mut Readings) -> Result<(), DecodeError> {
    match field {
        Text(len) => {
            c.take(len)?;
        }
        Skip => {
            c.u32_be()?;
        }
        Value(metric) => {
            let raw = c.u32_be()?;
            if raw & NOT_FOUND == 0 {
                out.push(metric, f64::from(raw));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoder = fn(u8, &[u8], &mut Readings) -> Result<(), DecodeError>;

    fn decoded(decoder: Decoder, hex: &str) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
        let mut out = Readings::default();
        decoder(adeunis::PORT, &bytes, &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    const TRI: &str =
        "4940303231373238303331383139000012340000002b0000002c0000002d0000001100000012000000130000002000000010";

    #[test]
    fn three_phase_profile() {
        assert_eq!(
            decoded(decode_linky_tri, TRI).unwrap(),
            vec![(Metric::EnergyActiveImport, 4660.0), (Metric::ElectricCurrent, 43.0), (Metric::PowerApparent, 16.0)]
        );
    }

    #[test]
    fn label_not_found_gives_no_reading() {
        // Single-phase profile with BASE not found, IINST 3 A, PAPP 690 VA.
        let hex = "494030323137323830333138313948432e2e800000000000002d00000003000000000000\
                   02b2000000000000000048502e2e";
        assert_eq!(
            decoded(decode_linky_mono, hex).unwrap(),
            vec![(Metric::ElectricCurrent, 3.0), (Metric::PowerApparent, 690.0)]
        );
    }

    #[test]
    fn frame_of_another_profile_is_rejected() {
        // Frames shorter or longer than the profile's layout.
        assert!(matches!(decoded(decode_linky_mono, &TRI[..96]), Err(DecodeError::TooShort { .. })));
        assert!(matches!(decoded(decode_pme_pmi, &format!("{TRI}0000")), Err(DecodeError::BadValue { .. })));
    }

    #[test]
    fn truncated_port_and_unknown_frame_errors() {
        assert_eq!(decoded(decode_linky_tri, "4940"), Err(DecodeError::TooShort { offset: 2, needed: 12, len: 2 }));
        assert_eq!(decoded(decode_linky_tri, "4a40"), Err(DecodeError::UnknownField { code: 0x4a, offset: 0 }));
        let mut out = Readings::default();
        assert_eq!(decode_pme_pmi(2, &[0x49, 0x40], &mut out), Err(DecodeError::UnknownPort(2)));
    }
}
