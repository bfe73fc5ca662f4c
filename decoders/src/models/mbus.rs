//! A small (wireless) M-Bus data-record reader after EN 13757-3: DIF/DIFE, VIF/VIFE, binary,
//! real and BCD data, and the VIF table of the quantities heat and water meters send, scaled to
//! canonical units (Wh, m3, W, m3/h, Cel). Records it cannot map are framed and skipped.

use crate::cursor::Cursor;
use crate::DecodeError;

/// A quantity this reader maps, with its canonical unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantity {
    /// Energy, Wh.
    Energy,
    /// Volume, m3.
    Volume,
    /// Power, W.
    Power,
    /// Volume flow, m3/h.
    VolumeFlow,
    /// Flow (supply) temperature, Cel.
    FlowTemperature,
    /// Return temperature, Cel.
    ReturnTemperature,
}

/// One current value read from a record: instantaneous, storage 0, tariff 0, sub-unit 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Value {
    pub(crate) quantity: Quantity,
    /// In the quantity's canonical unit.
    pub(crate) value: f64,
}

/// A record with a manufacturer-specific VIF (0xFF): the caller may know its layout.
pub(crate) struct Manufacturer<'a> {
    /// Instantaneous, storage 0, tariff 0, sub-unit 0 (not a value during error state).
    pub(crate) current: bool,
    /// The VIFEs following 0xFF.
    pub(crate) vifes: &'a [u8],
    /// The data field.
    pub(crate) data: &'a [u8],
}

const MAX_EXTENSIONS: usize = 10;

/// Reads the data records of `bytes` from offset `start` until the frame ends (or
/// manufacturer-specific data starts), calling `value` for each current value of a known
/// quantity and `manufacturer` for each record with a manufacturer-specific VIF.
pub(crate) fn read_records<'a>(
    bytes: &'a [u8],
    start: usize,
    mut value: impl FnMut(Value),
    mut manufacturer: impl FnMut(Manufacturer<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let c = &mut Cursor::new(bytes);
    c.take(start)?;
    while !c.is_empty() {
        let dif_at = c.pos();
        let dif = c.u8()?;
        match dif {
            // Idle filler.
            0x2f => continue,
            // Manufacturer-specific data (0x1F: more records in the next telegram) to the end.
            0x0f | 0x1f => return Ok(()),
            _ if dif & 0x0f == 0x0f => return Err(DecodeError::UnknownField { code: u16::from(dif), offset: dif_at }),
            _ => {}
        }
        // Function 00 is the instantaneous value; max, min and "value during error state"
        // are not current readings (Elvaco marks meter read-out failures with the latter).
        let mut current = (dif >> 4) & 0x03 == 0 && dif & 0x40 == 0;
        let mut more = dif & 0x80 != 0;
        let mut difes = 0;
        while more {
            difes += 1;
            if difes > MAX_EXTENSIONS {
                return Err(too_many("DIFE", c.pos()));
            }
            let dife = c.u8()?;
            // Storage number, tariff and sub-unit bits: any set means not the current value.
            current &= dife & 0x7f == 0;
            more = dife & 0x80 != 0;
        }
        let vif = c.u8()?;
        let vifes_at = c.pos();
        let mut n_vifes = 0;
        let mut more = vif & 0x80 != 0;
        while more {
            n_vifes += 1;
            if n_vifes > MAX_EXTENSIONS {
                return Err(too_many("VIFE", c.pos()));
            }
            more = c.u8()? & 0x80 != 0;
        }
        let vifes = bytes.get(vifes_at..c.pos()).unwrap_or_default();
        // Plain-text unit: a length byte and that many ASCII characters follow the VIF(E)s.
        if vif & 0x7f == 0x7c {
            let n = c.u8()?;
            c.take(usize::from(n))?;
        }
        let data = read_data(c, dif, dif_at)?;
        if vif == 0xff || vif == 0x7f {
            manufacturer(Manufacturer { current, vifes, data: data.bytes })?;
            continue;
        }
        if !current {
            continue;
        }
        let (Some(quantity_scale), Some(raw)) = (quantity(vif, vifes), data.number) else {
            continue;
        };
        let (quantity, scale) = quantity_scale;
        let v = raw * scale;
        if !v.is_finite() {
            return Err(DecodeError::BadValue { field: "mbus data", reason: format!("{raw} is not finite") });
        }
        value(Value { quantity, value: v });
    }
    Ok(())
}

fn too_many(what: &str, offset: usize) -> DecodeError {
    DecodeError::BadValue {
        field: "mbus record",
        reason: format!("more than {MAX_EXTENSIONS} {what}s at offset {offset}"),
    }
}

/// A record's data field: its bytes and, when numeric, its value.
struct Data<'a> {
    bytes: &'a [u8],
    number: Option<f64>,
}

fn read_data<'a>(c: &mut Cursor<'a>, dif: u8, dif_at: usize) -> Result<Data<'a>, DecodeError> {
    let code = dif & 0x0f;
    let (bytes, number) = match code {
        0x0 | 0x8 => (c.take(0)?, None),
        0x1..=0x4 | 0x6 | 0x7 => {
            let n = match code {
                0x6 => 6,
                0x7 => 8,
                n => usize::from(n),
            };
            let b = c.take(n)?;
            (b, Some(signed_le(b) as f64))
        }
        0x5 => {
            let b = c.take(4)?;
            let mut a = [0u8; 4];
            a.copy_from_slice(b);
            (b, Some(f64::from(f32::from_le_bytes(a))))
        }
        0x9..=0xc | 0xe => {
            let n = match code {
                0xe => 6,
                n => usize::from(n - 8),
            };
            let b = c.take(n)?;
            (b, Some(bcd(b, dif_at)?))
        }
        0xd => {
            let lvar_at = c.pos();
            let lvar = c.u8()?;
            let n = match lvar {
                // ASCII text, or BCD digits (positive 0xC0.., negative 0xD0..), two per byte.
                0x00..=0xbf => usize::from(lvar),
                0xc0..=0xdf => usize::from(lvar & 0x0f),
                // Binary number of 0..15 bytes, of 4*(LVAR-0xEC) bytes, 6 or 8 bytes.
                0xe0..=0xef => usize::from(lvar - 0xe0),
                0xf0..=0xf4 => 4 * usize::from(lvar - 0xec),
                0xf5 => 6,
                0xf6 => 8,
                _ => return Err(DecodeError::UnknownField { code: u16::from(lvar), offset: lvar_at }),
            };
            (c.take(n)?, None)
        }
        _ => return Err(DecodeError::UnknownField { code: u16::from(dif), offset: dif_at }),
    };
    Ok(Data { bytes, number })
}

/// A little-endian two's-complement integer of up to 8 bytes.
fn signed_le(b: &[u8]) -> i64 {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(8) {
        v |= u64::from(*byte) << (8 * i);
    }
    let bits = 8 * b.len().min(8);
    if bits < 64 && bits > 0 && v >> (bits - 1) & 1 == 1 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Packed BCD, least significant byte first; a most significant nibble of 0xF means negative.
pub(crate) fn bcd(b: &[u8], offset: usize) -> Result<f64, DecodeError> {
    let mut v = 0.0;
    let mut negative = false;
    for (i, byte) in b.iter().enumerate().rev() {
        for (j, nibble) in [byte >> 4, byte & 0x0f].into_iter().enumerate() {
            match nibble {
                0..=9 => v = v * 10.0 + f64::from(nibble),
                0xf if i + 1 == b.len() && j == 0 => negative = true,
                _ => {
                    return Err(DecodeError::BadValue {
                        field: "bcd",
                        reason: format!(
                            "digit 0x{nibble:x} in byte 0x{byte:02x} at offset {}",
                            offset.saturating_add(i)
                        ),
                    })
                }
            }
        }
    }
    Ok(if negative { -v } else { v })
}

fn pow10(exp: i32) -> f64 {
    10f64.powi(exp)
}

/// The quantity and the factor to its canonical unit of a VIF (and VIFEs), or `None` for
/// records that are not a mapped quantity (dates, ids, error flags, other units).
fn quantity(vif: u8, vifes: &[u8]) -> Option<(Quantity, f64)> {
    use Quantity::*;
    let n = i32::from(vif & 0x07);
    let nn = i32::from(vif & 0x03);
    match vif {
        // Table FB (second VIF table): only a code without further extensions.
        0xfb => {
            let [code] = vifes else { return None };
            let code = *code;
            let m = i32::from(code & 0x01);
            match code {
                0x00 | 0x01 => Some((Energy, pow10(m - 1) * 1e6)),
                0x08 | 0x09 => Some((Energy, pow10(m - 1) * 1e9 / 3600.0)),
                0x10 | 0x11 => Some((Volume, pow10(m + 2))),
                0x28 | 0x29 => Some((Power, pow10(m - 1) * 1e6)),
                _ => None,
            }
        }
        // A primary VIF with extensions (combinable VIFEs change its meaning): not mapped.
        0x80..=0xff => None,
        0x00..=0x07 => Some((Energy, pow10(n - 3))),
        0x08..=0x0f => Some((Energy, pow10(n) / 3600.0)),
        0x10..=0x17 => Some((Volume, pow10(n - 6))),
        0x28..=0x2f => Some((Power, pow10(n - 3))),
        0x30..=0x37 => Some((Power, pow10(n) / 3600.0)),
        0x38..=0x3f => Some((VolumeFlow, pow10(n - 6))),
        0x40..=0x47 => Some((VolumeFlow, pow10(n - 7) * 60.0)),
        0x48..=0x4f => Some((VolumeFlow, pow10(n - 9) * 3600.0)),
        0x58..=0x5b => Some((FlowTemperature, pow10(nn - 3))),
        0x5c..=0x5f => Some((ReturnTemperature, pow10(nn - 3))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(bytes: &[u8]) -> Result<Vec<(Quantity, f64)>, DecodeError> {
        let mut out = Vec::new();
        read_records(bytes, 0, |v| out.push((v.quantity, v.value)), |_| Ok(()))?;
        Ok(out)
    }

    #[test]
    fn bcd_binary_and_scales() {
        // 8-digit BCD kWh, 32-bit m3 x 0.01, 16-bit signed 0.1 C.
        let got =
            values(&[0x0c, 0x06, 0x52, 0x67, 0x61, 0x02, 0x04, 0x14, 0xf0, 0x14, 0x0a, 0x00, 0x02, 0x5a, 0xf6, 0xff])
                .unwrap();
        assert_eq!(got[0], (Quantity::Energy, 2_616_752_000.0));
        assert!((got[1].1 - 6607.2).abs() < 1e-9);
        assert!((got[2].1 + 1.0).abs() < 1e-9);
    }

    #[test]
    fn negative_bcd_and_joules() {
        // 4-digit BCD with a 0xF sign nibble: -123 x 0.1 C; energy 3600 J.
        let got = values(&[0x0a, 0x5e, 0x23, 0xf1, 0x02, 0x08, 0x10, 0x0e]).unwrap();
        assert!((got[0].1 + 12.3).abs() < 1e-9);
        assert_eq!(got[1], (Quantity::Energy, 1.0));
    }

    #[test]
    fn bad_bcd_is_a_typed_error() {
        assert!(matches!(values(&[0x0a, 0x5a, 0x3a, 0x06]), Err(DecodeError::BadValue { field: "bcd", .. })));
    }

    #[test]
    fn skips_history_error_state_ids_and_extensions() {
        // Storage 1 energy, error-state volume, fabrication number, FD 17 error flags,
        // 0x83 FF 02 (cooling energy, manufacturer extension), date/time.
        let frame = [
            0x44, 0x06, 1, 0, 0, 0, 0x34, 0x14, 1, 0, 0, 0, 0x0c, 0x78, 0x29, 0x11, 0x03, 0x66, 0x02, 0xfd, 0x17, 0, 0,
            0x04, 0x83, 0xff, 0x02, 1, 0, 0, 0, 0x04, 0x6d, 1, 2, 3, 4, 0x2f,
        ];
        assert_eq!(values(&frame), Ok(vec![]));
    }

    #[test]
    fn truncated_and_reserved() {
        assert_eq!(values(&[0x04, 0x06, 1, 2]), Err(DecodeError::TooShort { offset: 2, needed: 4, len: 4 }));
        assert_eq!(values(&[0x04]), Err(DecodeError::TooShort { offset: 1, needed: 1, len: 1 }));
        assert_eq!(values(&[0x3f]), Err(DecodeError::UnknownField { code: 0x3f, offset: 0 }));
        assert_eq!(values(&[0x0d, 0x06, 0xf7]), Err(DecodeError::UnknownField { code: 0xf7, offset: 2 }));
        let endless = [0x84u8; 16];
        assert!(matches!(values(&endless), Err(DecodeError::BadValue { .. })));
    }

    #[test]
    fn signed_integers_sign_extend() {
        assert_eq!(signed_le(&[0xff, 0xff]), -1);
        assert_eq!(signed_le(&[0xff, 0x7f]), 32767);
        assert_eq!(signed_le(&[0xff; 8]), -1);
        assert_eq!(signed_le(&[]), 0);
    }
}
