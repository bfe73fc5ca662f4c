//! Watteco TIC'O: reads the TIC (télé-information client) port of French electricity
//! meters. Standard reports of the simple-metering cluster (0x0052) and of the TIC
//! clusters: 0x0054 historic (CBE), 0x0056 standard (Linky), 0x0057 PME-PMI. The ICE
//! (0x0053) and CJE (0x0055) clusters carry period energies and demand only, which the
//! catalogue has no metric for: they decode to nothing.
//!
//! A TIC attribute is an octet string: a descriptor saying which fields of the meter's
//! field table follow, then those fields in order. The descriptor's first byte holds its
//! size in bytes (low 5 bits, 0 meaning 8) and, in bit 5, its form: a list of field
//! indexes, or a bitfield read from its last byte (bit 0 = field 0) to its second.

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Product};
use crate::{DecodeError, Readings};

const CLUSTER_TIC_CBE: u16 = 0x0054;
const CLUSTER_TIC_STD: u16 = 0x0056;
const CLUSTER_TIC_PMEPMI: u16 = 0x0057;

static TICSO: Product = Product { standard, batch: None };

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&TICSO, f_port, bytes, out)
}

fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    match a.cluster {
        watteco::CLUSTER_SIMPLE_METERING if a.attribute == 0x0000 => watteco::simple_metering(a, out),
        CLUSTER_TIC_CBE => tic(a, CBE, out),
        CLUSTER_TIC_STD => tic(a, STD, out),
        CLUSTER_TIC_PMEPMI => tic(a, PMEPMI, out),
        // ICE (0x0053) and CJE (0x0055) carry nothing the catalogue has (see the module doc).
        _ => Ok(()),
    }
}

/// How a TIC field is binarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Char,
    /// Zero-terminated string.
    CString,
    U8,
    U16,
    U24,
    U32,
    Float,
    /// Day, month, year, hour, minute, second: one byte each.
    DateTime,
    /// Seconds since 2000-01-01, u32.
    Timestamp,
    /// An enumerated label: one byte below 0x80, else 0x80 | length, then that many
    /// characters.
    Enum,
    TimestampEnum,
    U24Enum,
    /// Season character, then a date-time; the `U*` variants add a value.
    SeasonDateTime,
    SeasonDateTimeU8,
    SeasonDateTimeU16,
    SeasonDateTimeU24,
    /// 32-bit bitfield.
    Bitfield32,
    /// Length byte, then that many bytes.
    HexString,
    /// Eleven blocks of hour, minute and a 16-bit status; an unused block is one 0xFF.
    DaySchedule,
}

/// What a field means to us.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// Not kept.
    None,
    /// A metric, value times a factor (to the metric's unit).
    Metric(Metric, f64),
    /// One of the tariff-period active energy indexes (Wh) of a historic meter: their sum
    /// is the meter's total import (exact when the TIC'O reports every index of the
    /// meter's tariff option, as historic TIC has no total field).
    HistoricIndex,
}

/// A field of a TIC table: its label in the meter's TIC and how it is binarised.
struct Field {
    name: &'static str,
    kind: Kind,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

impl Field {
    /// The fields we keep (labels are unique across the three tables).
    fn role(&self) -> Role {
        match self.name {
            // Historic tariff-period indexes, Wh.
            "BASE" | "HCHC" | "HCHP" | "EJPHN" | "EJPHPM" | "BBRHCJB" | "BBRHPJB" | "BBRHCJW" | "BBRHPJW"
            | "BBRHCJR" | "BBRHPJR" => Role::HistoricIndex,
            // Apparent power, VA: historic PAPP, standard SINSTS (imported, all phases).
            "PAPP" | "SINSTS" => Role::Metric(Metric::PowerApparent, 1.0),
            // Standard: total active energy imported (all tariffs) and injected, Wh.
            "EAST" => Role::Metric(Metric::EnergyActiveImport, 1.0),
            "EAIT" => Role::Metric(Metric::EnergyActiveExport, 1.0),
            // PME-PMI: active energy imported (_s, soutirée) and injected (_i) since the
            // start of the current tariff period DebP, kWh: counters that restart with
            // each period.
            "EAP_s" => Role::Metric(Metric::EnergyActiveImport, 1000.0),
            "EAP_i" => Role::Metric(Metric::EnergyActiveExport, 1000.0),
            _ => Role::None,
        }
    }
}

use Kind::*;

/// Historic TIC (CBE meters and Linky in historic mode), cluster 0x0054.
const CBE: &[Field] = &[
    f("ADIR1", U16),
    f("ADIR2", U16),
    f("ADIR3", U16),
    f("ADCO", CString),
    f("OPTARIF", CString),
    f("ISOUSC", U8),
    f("BASE", U32),
    f("HCHC", U32),
    f("HCHP", U32),
    f("EJPHN", U32),
    f("EJPHPM", U32),
    f("BBRHCJB", U32),
    f("BBRHPJB", U32),
    f("BBRHCJW", U32),
    f("BBRHPJW", U32),
    f("BBRHCJR", U32),
    f("BBRHPJR", U32),
    f("PEJP", U8),
    f("GAZ", U32),
    f("AUTRE", U32),
    f("PTEC", CString),
    f("DEMAIN", CString),
    f("IINST", U16),
    f("IINST1", U16),
    f("IINST2", U16),
    f("IINST3", U16),
    f("ADPS", U16),
    f("IMAX", U16),
    f("IMAX1", U16),
    f("IMAX2", U16),
    f("IMAX3", U16),
    f("PMAX", U32),
    f("PAPP", U32),
    f("HHPHC", Char),
    f("MOTDETAT", CString),
    f("PPOT", U8),
];

/// Standard TIC (Linky in standard mode), cluster 0x0056.
const STD: &[Field] = &[
    f("ADSC", CString),
    f("VTIC", U8),
    f("DATE", SeasonDateTime),
    f("NGTF", Enum),
    f("LTARF", Enum),
    f("EAST", U32),
    f("EASF01", U32),
    f("EASF02", U32),
    f("EASF03", U32),
    f("EASF04", U32),
    f("EASF05", U32),
    f("EASF06", U32),
    f("EASF07", U32),
    f("EASF08", U32),
    f("EASF09", U32),
    f("EASF10", U32),
    f("EASD01", U32),
    f("EASD02", U32),
    f("EASD03", U32),
    f("EASD04", U32),
    f("EAIT", U32),
    f("ERQ1", U32),
    f("ERQ2", U32),
    f("ERQ3", U32),
    f("ERQ4", U32),
    f("IRMS1", U16),
    f("IRMS2", U16),
    f("IRMS3", U16),
    f("URMS1", U16),
    f("URMS2", U16),
    f("URMS3", U16),
    f("PREF", U8),
    f("PCOUP", U8),
    f("SINSTS", U24),
    f("SINSTS1", U24),
    f("SINSTS2", U24),
    f("SINSTS3", U24),
    f("SMAXSN", SeasonDateTimeU24),
    f("SMAXSN1", SeasonDateTimeU24),
    f("SMAXSN2", SeasonDateTimeU24),
    f("SMAXSN3", SeasonDateTimeU24),
    f("SMAXSN-1", SeasonDateTimeU24),
    f("SMAXSN1-1", SeasonDateTimeU24),
    f("SMAXSN2-1", SeasonDateTimeU24),
    f("SMAXSN3-1", SeasonDateTimeU24),
    f("SINSTI", U24),
    f("SMAXIN", SeasonDateTimeU24),
    f("SMAXIN-1", SeasonDateTimeU24),
    f("CCASN", SeasonDateTimeU24),
    f("CCASN-1", SeasonDateTimeU24),
    f("CCAIN", SeasonDateTimeU24),
    f("CCAIN-1", SeasonDateTimeU24),
    f("UMOY1", SeasonDateTimeU16),
    f("UMOY2", SeasonDateTimeU16),
    f("UMOY3", SeasonDateTimeU16),
    f("STGE", Bitfield32),
    f("DPM1", SeasonDateTimeU8),
    f("FPM1", SeasonDateTimeU8),
    f("DPM2", SeasonDateTimeU8),
    f("FPM2", SeasonDateTimeU8),
    f("DPM3", SeasonDateTimeU8),
    f("FPM3", SeasonDateTimeU8),
    f("MSG1", CString),
    f("MSG2", CString),
    f("PRM", CString),
    f("RELAIS", U8),
    f("NTARF", U8),
    f("NJOURF", U8),
    f("NJOURF+1", U8),
    f("PJOURF+1", DaySchedule),
    f("PPOINTE", DaySchedule),
];

/// PME-PMI meters (professional), cluster 0x0057.
const PMEPMI: &[Field] = &[
    f("TRAME", Enum),
    f("ADS", HexString),
    f("MESURES1", Enum),
    f("DATE", DateTime),
    f("EA_s", U24),
    f("ER+_s", U24),
    f("ER-_s", U24),
    f("EAPP_s", U24),
    f("EA_i", U24),
    f("ER+_i", U24),
    f("ER-_i", U24),
    f("EAPP_i", U24),
    f("PTCOUR1", Enum),
    f("TARIFDYN", Enum),
    f("ETATDYN1", Enum),
    f("PREAVIS1", Enum),
    f("TDYN1CD", TimestampEnum),
    f("TDYN1CF", TimestampEnum),
    f("TDYN1FD", TimestampEnum),
    f("TDYN1FF", TimestampEnum),
    f("MODE", Enum),
    f("CONFIG", Enum),
    f("DATEPA1", DateTime),
    f("PA1_s", U16),
    f("PA1_i", U16),
    f("DATEPA2", Timestamp),
    f("PA2_s", U16),
    f("PA2_i", U16),
    f("DATEPA3", Timestamp),
    f("PA3_s", U16),
    f("PA3_i", U16),
    f("DATEPA4", Timestamp),
    f("PA4_s", U16),
    f("PA4_i", U16),
    f("DATEPA5", Timestamp),
    f("PA5_s", U16),
    f("PA5_i", U16),
    f("DATEPA6", Timestamp),
    f("PA6_s", U16),
    f("PA6_i", U16),
    f("DebP", Timestamp),
    f("EAP_s", U24),
    f("EAP_i", U24),
    f("ER+P_s", U24),
    f("ER-P_s", U24),
    f("ER+P_i", U24),
    f("ER-P_i", U24),
    f("DebP-1", Timestamp),
    f("FinP-1", Timestamp),
    f("EaP-1_s", U24),
    f("EaP-1_i", U24),
    f("ER+P-1_s", U24),
    f("ER-P-1_s", U24),
    f("ER+P-1_i", U24),
    f("ER-P-1_i", U24),
    f("PS", U24Enum),
    f("PREAVIS", Enum),
    f("PA1MN", U16),
    f("PMAX_s", U24Enum),
    f("PMAX_i", U24Enum),
    f("TGPHI_s", Float),
    f("TGPHI_i", Float),
    f("MESURES2", Enum),
    f("PTCOUR2", Enum),
    f("ETATDYN2", Enum),
    f("PREAVIS2", Enum),
    f("TDYN2CD", TimestampEnum),
    f("TDYN2CF", TimestampEnum),
    f("TDYN2FD", TimestampEnum),
    f("TDYN2FF", TimestampEnum),
    f("DebP_2", Timestamp),
    f("EaP_s2", U24),
    f("DebP-1_2", Timestamp),
    f("FinP-1_2", Timestamp),
    f("EaP-1_s2", U24),
    f("_DDMES1_", U24),
];

/// Field indexes named by a descriptor, in frame order.
fn descriptor(c: &mut Cursor<'_>) -> Result<Vec<usize>, DecodeError> {
    let header = c.u8()?;
    let size = match usize::from(header & 0x1F) {
        0 => 8,
        n => n,
    };
    let body = c.take(size.saturating_sub(1))?;
    if header & 0x20 != 0 {
        return Ok(body.iter().map(|&i| usize::from(i)).collect());
    }
    let mut indexes = Vec::new();
    for (k, byte) in body.iter().rev().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                indexes.push(k * 8 + bit);
            }
        }
    }
    Ok(indexes)
}

fn skip_enum(c: &mut Cursor<'_>) -> Result<(), DecodeError> {
    let b = c.u8()?;
    if b & 0x80 != 0 {
        c.take(usize::from(b & 0x7F))?;
    }
    Ok(())
}

/// Reads one field: its numeric value for numeric kinds, `None` for the others.
fn read_field(c: &mut Cursor<'_>, kind: Kind) -> Result<Option<f64>, DecodeError> {
    Ok(match kind {
        U8 => Some(f64::from(c.u8()?)),
        U16 => Some(f64::from(c.u16_be()?)),
        U24 => Some(f64::from(watteco::u24_be(c)?)),
        U32 => Some(f64::from(c.u32_be()?)),
        Float => Some(f64::from(f32::from_bits(c.u32_be()?))).filter(|v| v.is_finite()),
        Char => c.take(1).map(|_| None)?,
        CString => {
            while c.u8()? != 0 {}
            None
        }
        DateTime => c.take(6).map(|_| None)?,
        Timestamp | Bitfield32 => c.take(4).map(|_| None)?,
        Enum => skip_enum(c).map(|_| None)?,
        TimestampEnum => {
            c.take(4)?;
            skip_enum(c).map(|_| None)?
        }
        U24Enum => {
            c.take(3)?;
            skip_enum(c).map(|_| None)?
        }
        SeasonDateTime => c.take(7).map(|_| None)?,
        SeasonDateTimeU8 => c.take(8).map(|_| None)?,
        SeasonDateTimeU16 => c.take(9).map(|_| None)?,
        SeasonDateTimeU24 => c.take(10).map(|_| None)?,
        HexString => {
            let n = c.u8()?;
            c.take(usize::from(n)).map(|_| None)?
        }
        DaySchedule => {
            for _ in 0..11 {
                if c.u8()? != 0xFF {
                    c.take(3)?;
                }
            }
            None
        }
    })
}

fn tic(a: &Attribute<'_>, table: &[Field], out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = a.octets()?;
    let at = c.pos();
    let indexes = descriptor(&mut c)?;
    let fields = indexes
        .iter()
        .map(|&i| {
            table.get(i).ok_or(DecodeError::UnknownField { code: u16::try_from(i).unwrap_or(u16::MAX), offset: at })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Fields after the last one we keep are not read: nothing depends on them.
    let needed = fields.iter().rposition(|f| f.role() != Role::None).map_or(0, |p| p + 1);
    let mut historic: Option<f64> = None;
    for field in fields.iter().take(needed) {
        let value = read_field(&mut c, field.kind)?;
        match (field.role(), value) {
            (Role::Metric(metric, factor), Some(v)) => out.push(metric, v * factor),
            (Role::HistoricIndex, Some(v)) => *historic.get_or_insert(0.0) += v,
            _ => {}
        }
    }
    if let Some(total) = historic {
        out.push(Metric::EnergyActiveImport, total);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
    }

    fn values(frame: &str) -> Result<Vec<(Metric, f64)>, DecodeError> {
        let mut out = Readings::default();
        decode(125, &hex(frame), &mut out)?;
        Ok(out.0.iter().map(|r| (r.metric, r.value)).collect())
    }

    #[test]
    fn labels_are_unique_and_indexes_match_the_tic_tables() {
        for table in [CBE, STD, PMEPMI] {
            for (i, a) in table.iter().enumerate() {
                assert!(table.iter().skip(i + 1).all(|b| b.name != a.name), "{}", a.name);
            }
        }
        // Kept fields are in exactly one table, so `Field::role` can go by label.
        let kept = [CBE, STD, PMEPMI].iter().flat_map(|t| t.iter()).filter(|f| f.role() != Role::None).count();
        assert_eq!(kept, 12 + 3 + 2);
        assert_eq!(STD.iter().position(|f| f.name == "EAIT"), Some(20));
        assert_eq!(PMEPMI.iter().position(|f| f.name == "EAP_i"), Some(42));
        assert_eq!(CBE.iter().position(|f| f.name == "PAPP"), Some(32));
    }

    #[test]
    fn historic_tariff_indexes_add_up_to_the_import_total() {
        // Bitfield descriptor (size 0 = 8 bytes) naming HCHC (7) and HCHP (8).
        assert_eq!(
            values("110a0054000041100000000000000180000003e8000007d0").unwrap(),
            vec![(Metric::EnergyActiveImport, 3000.0)]
        );
    }

    #[test]
    fn descriptor_naming_an_unknown_field_is_rejected() {
        // List descriptor of 2 bytes naming field 200 of the standard table.
        assert_eq!(values("110a00560000410322c800"), Err(DecodeError::UnknownField { code: 200, offset: 8 }));
    }

    #[test]
    fn field_cut_by_the_string_length_is_too_short() {
        // EAST (5) announced, but the octet string ends after 2 of its 4 bytes.
        assert_eq!(
            values("110a005600004104220500010000"),
            Err(DecodeError::TooShort { offset: 10, needed: 4, len: 12 })
        );
    }

    #[test]
    fn simple_metering_is_signed() {
        assert_eq!(
            values("310a00520000410c000047ffffbe0063002fffd6").unwrap(),
            vec![
                (Metric::EnergyActiveImport, 71.0),
                (Metric::EnergyReactiveImport, -66.0),
                (Metric::PowerActive, 47.0),
                (Metric::PowerReactive, -42.0),
            ]
        );
    }
}
