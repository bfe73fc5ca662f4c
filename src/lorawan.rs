//! LoRaWAN identifiers and payload crypto: a `DevEui` is parsed once at the edge and
//! printed one way (16 lower-case hex digits, as ChirpStack writes it) everywhere else;
//! an [`AppSKey`] decrypts the FRMPayload a network server forwards still encrypted
//! (through the `lorawan` crate, with the full 32-bit frame counter), and encrypts the
//! simulator's frames.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A device's 64-bit EUI, MSB first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevEui(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DevEUI {0:?}: expected 16 hexadecimal digits")]
pub struct InvalidDevEui(pub String);

impl FromStr for DevEui {
    type Err = InvalidDevEui;

    /// Accepts upper or lower case, with or without `-`/`:` separators.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.chars().filter(|c| !matches!(c, '-' | ':')).collect();
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidDevEui(s.to_owned()));
        }
        u64::from_str_radix(&hex, 16).map(DevEui).map_err(|_| InvalidDevEui(s.to_owned()))
    }
}

impl fmt::Display for DevEui {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for DevEui {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DevEui {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A device's application session key (16 bytes, written as 32 hex digits MSB first,
/// as network servers show it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AppSKey(pub [u8; 16]);

impl fmt::Debug for AppSKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid AppSKey: expected 32 hexadecimal digits")]
pub struct InvalidAppSKey;

impl FromStr for AppSKey {
    type Err = InvalidAppSKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|_| InvalidAppSKey)?;
        Ok(AppSKey(bytes.try_into().map_err(|_| InvalidAppSKey)?))
    }
}

/// Why an FRMPayload could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the network server gave no {0}, which decryption needs")]
    Missing(&'static str),
    #[error("invalid DevAddr {0:?}: expected 8 hexadecimal digits")]
    DevAddr(String),
    #[error("FRMPayload of {0} bytes is too long for a LoRaWAN frame")]
    TooLong(usize),
    #[error("the lorawan crate refused the frame: {0}")]
    Frame(String),
}

/// Largest FRMPayload of a LoRaWAN frame (the largest PHYPayload is 255 bytes).
const MAX_FRM_PAYLOAD: usize = 255 - 13;

/// Decrypts an uplink's FRMPayload (FPort > 0) with `key`. `dev_addr` is 8 hex digits
/// MSB first, as network servers write it; `f_cnt` is the full 32-bit uplink counter.
/// AES-CTR cannot tell a wrong key: the result is then garbage, which the decoder
/// refuses (the pipeline says so).
pub fn decrypt_uplink(
    key: &AppSKey,
    dev_addr: Option<&str>,
    f_cnt: Option<u32>,
    f_port: u8,
    payload: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    use lorawan::parser::{parse, DataPayload, FRMPayload, PhyPayload};

    let dev_addr = dev_addr.ok_or(CryptoError::Missing("DevAddr"))?;
    let f_cnt = f_cnt.ok_or(CryptoError::Missing("FCnt"))?;
    let addr = u32::from_str_radix(dev_addr, 16)
        .ok()
        .filter(|_| dev_addr.len() == 8)
        .ok_or_else(|| CryptoError::DevAddr(dev_addr.to_owned()))?;
    if payload.len() > MAX_FRM_PAYLOAD {
        return Err(CryptoError::TooLong(payload.len()));
    }
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    // The frame the device sent, minus what the network server kept: MHDR (unconfirmed
    // data up), DevAddr (wire order), FCtrl, FCnt (16 bits on air), FPort, the payload,
    // and a MIC decryption does not check.
    let mut phy = Vec::with_capacity(payload.len() + 13);
    phy.push(0x40);
    phy.extend_from_slice(&addr.to_le_bytes());
    phy.push(0x00);
    phy.extend_from_slice(&(f_cnt as u16).to_le_bytes());
    phy.push(f_port);
    phy.extend_from_slice(payload);
    phy.extend_from_slice(&[0; 4]);
    let frame = parse(phy).map_err(|e| CryptoError::Frame(format!("{e:?}")))?;
    let PhyPayload::Data(DataPayload::Encrypted(enc)) = frame else {
        return Err(CryptoError::Frame("not an encrypted data frame".into()));
    };
    let app = lorawan::keys::AES128(key.0);
    let dec = enc.decrypt(None, Some(&app), f_cnt).map_err(|e| CryptoError::Frame(format!("{e:?}")))?;
    Ok(match dec.frm_payload() {
        FRMPayload::Data(d) => d.to_vec(),
        _ => Vec::new(),
    })
}

/// Encrypts an uplink FRMPayload as a device would (the simulator's frames): AES-CTR is
/// its own inverse with the same key, address and counter.
pub fn encrypt_uplink(key: &AppSKey, dev_addr: u32, f_cnt: u32, f_port: u8, payload: &[u8]) -> Vec<u8> {
    decrypt_uplink(key, Some(&format!("{dev_addr:08x}")), Some(f_cnt), f_port, payload).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame checked in lns-formats.md §4 (lorawan crate, cross-checked with
    /// ChirpStack's lrwn): AppSKey 000102..0f, DevAddr 26011bda, FCnt 0x00010005, FPort 2,
    /// PHYPayload 40da1b0126800500023761e2835e8760a851f5e4 carrying 016700ea02685a.
    #[test]
    fn decrypts_a_known_frame_with_the_full_counter() {
        let key: AppSKey = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        let encrypted = hex::decode("3761e2835e8760").unwrap();
        let plain = decrypt_uplink(&key, Some("26011bda"), Some(0x0001_0005), 2, &encrypted).unwrap();
        assert_eq!(hex::encode(&plain), "016700ea02685a");
        // The 16 bits on air alone give another keystream.
        assert_ne!(decrypt_uplink(&key, Some("26011bda"), Some(5), 2, &encrypted).unwrap(), plain);
        assert_eq!(encrypt_uplink(&key, 0x2601_1bda, 0x0001_0005, 2, &plain), encrypted);
    }

    #[test]
    fn missing_or_bad_metadata_is_a_typed_error() {
        let key = AppSKey([1; 16]);
        assert_eq!(decrypt_uplink(&key, None, Some(1), 1, &[1]), Err(CryptoError::Missing("DevAddr")));
        assert_eq!(decrypt_uplink(&key, Some("01020304"), None, 1, &[1]), Err(CryptoError::Missing("FCnt")));
        assert!(matches!(decrypt_uplink(&key, Some("0102"), Some(1), 1, &[1]), Err(CryptoError::DevAddr(_))));
        assert!(matches!(
            decrypt_uplink(&key, Some("01020304"), Some(1), 1, &[0; 300]),
            Err(CryptoError::TooLong(300))
        ));
        assert_eq!(decrypt_uplink(&key, Some("01020304"), Some(1), 1, &[]), Ok(vec![]));
        assert!("00".parse::<AppSKey>().is_err());
        assert_eq!(format!("{key:?}"), "AppSKey(..)");
    }

    #[test]
    fn parse_and_print() {
        let e: DevEui = "A81758FFFE0312AB".parse().unwrap();
        assert_eq!(e.to_string(), "a81758fffe0312ab");
        assert_eq!("a8-17-58-ff-fe-03-12-ab".parse::<DevEui>().unwrap(), e);
        assert!("a81758fffe0312a".parse::<DevEui>().is_err());
        assert!("a81758fffe0312ag".parse::<DevEui>().is_err());
        assert!("+81758fffe0312ab".parse::<DevEui>().is_err());
    }
}
