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
    /// A u32 label without a canonical metric (subscribed current, ratings, maxima,
    /// reactive and apparent period energies, tariff-period energies).
    Skip,
    /// A u32 label in the metric's unit.
    Value(Metric),
}

use Field::*;

/// CBE/Linky single-phase, historic TIC: ADCO, OPTARIF, BASE (Wh), ISOUSC, IINST (A),
/// IMAX, PAPP (VA), HCHC, HCHP (Wh), PTEC. BASE is the index of the single-tariff
/// option, HCHC and HCHP those of the off-peak/peak option's two registers (a meter
/// sends one set; the others are "not found"). IMAX is a fixed rating on Linky meters,
/// not a measurement.
const LINKY_MONO: &[Field] = &[
    Text(12),
    Text(4),
    Value(Metric::EnergyActiveImport),
    Skip,
    Value(Metric::ElectricCurrent),
    Skip,
    Value(Metric::PowerApparent),
    Value(Metric::EnergyActiveImportOffpeak),
    Value(Metric::EnergyActiveImportPeak),
    Text(4),
];

/// CBE/Linky three-phase, historic TIC: ADCO, BASE (Wh), IINST1-3 (A), IMAX1-3, PMAX,
/// PAPP (VA). Phase 1's current is `electric.current`, phases 2 and 3 have their own
/// metrics; the IMAX ratings and PMAX (the highest power reached) are skipped.
const LINKY_TRI: &[Field] = &[
    Text(12),
    Value(Metric::EnergyActiveImport),
    Value(Metric::ElectricCurrent),
    Value(Metric::ElectricCurrentL2),
    Value(Metric::ElectricCurrentL3),
    Skip,
    Skip,
    Skip,
    Skip,
    Value(Metric::PowerApparent),
];

/// PME-PMI: DATE, EA_s (Wh), ER+_s, ER-_s, EAPP_s (energies of the current 10-min
/// integration period), PTCOUR1, EAP_s, ER+P_s, ER-P_s, EaP-1_s, ER+P-1_s, ER-P-1_s
/// (energies of the current and previous tariff periods, kWh and kvarh). Only EA_s, the
/// active energy drawn so far in the integration period, is kept: the tariff-period
/// energies restart at each tariff change the frame does not date, and reactive and
/// apparent period energies have no canonical metric.
const PME_PMI: &[Field] =
    &[Text(6), Value(Metric::EnergyActiveImportPeriod), Skip, Skip, Skip, Text(3), Skip, Skip, Skip, Skip, Skip, Skip];

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
    fn three_phase_profile_gives_each_phase_current() {
        assert_eq!(
            decoded(decode_linky_tri, TRI).unwrap(),
            vec![
                (Metric::EnergyActiveImport, 4660.0),
                (Metric::ElectricCurrent, 43.0),
                (Metric::ElectricCurrentL2, 44.0),
                (Metric::ElectricCurrentL3, 45.0),
                (Metric::PowerApparent, 16.0),
            ]
        );
    }

    #[test]
    fn label_not_found_gives_no_reading() {
        // Single-phase profile with BASE not found, IINST 3 A, PAPP 690 VA, HCHC
        // 1234567 Wh, HCHP not found.
        let hex = "494030323137323830333138313948432e2e800000000000002d00000003000000000000\
                   02b20012d6878000000048502e2e";
        assert_eq!(
            decoded(decode_linky_mono, hex).unwrap(),
            vec![
                (Metric::ElectricCurrent, 3.0),
                (Metric::PowerApparent, 690.0),
                (Metric::EnergyActiveImportOffpeak, 1_234_567.0),
            ]
        );
    }

    #[test]
    fn pme_pmi_gives_the_integration_period_energy() {
        // Vendor example: EA_s 707 Wh; the reactive, apparent and tariff-period energies
        // are skipped.
        let hex = "49601504140d2b05000002c30000009800000002000002eb485045000692cc00025caa00000537\
                   00068db800025b8200000528";
        assert_eq!(decoded(decode_pme_pmi, hex).unwrap(), vec![(Metric::EnergyActiveImportPeriod, 707.0)]);
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
