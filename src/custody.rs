//! Key custody: device AppSKeys are stored sealed (AES-256-GCM) under a master key that
//! lives only in the configuration or the environment (`keys.master_key`, env
//! `ROC42_MASTER_KEY`), never in the database. Each sealed key is bound to its device
//! (the DevEUI is the AEAD's associated data), so a sealed key copied to another device
//! row does not open.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use crate::lorawan::{AppSKey, DevEui};

const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustodyError {
    #[error("keys.master_key (ROC42_MASTER_KEY) must be 64 hexadecimal digits (32 bytes)")]
    BadMasterKey,
    #[error("no master key is configured (keys.master_key or ROC42_MASTER_KEY): AppSKeys cannot be stored or used")]
    NoMasterKey,
    #[error(
        "the stored AppSKey does not open with the configured master key (another master key, or not this device's)"
    )]
    Unsealable,
}

/// Seals and opens AppSKeys with the master key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// From the master key as 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<Self, CustodyError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| CustodyError::BadMasterKey)?;
        if bytes.len() != 32 {
            return Err(CustodyError::BadMasterKey);
        }
        Ok(Self { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)) })
    }

    /// The sealer of the configured master key, if there is one.
    pub fn from_config(master_key: Option<&str>) -> Result<Option<Self>, CustodyError> {
        master_key.map(Self::from_hex).transpose()
    }

    /// Nonce (12 bytes, random) followed by the ciphertext and its tag (32 bytes).
    pub fn seal(&self, key: &AppSKey, dev_eui: DevEui) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = dev_eui.0.to_be_bytes();
        // Encryption of 16 bytes in memory cannot fail (the only error is a too-long input).
        let sealed = self.cipher.encrypt(&nonce, Payload { msg: &key.0, aad: &aad }).unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8], dev_eui: DevEui) -> Result<AppSKey, CustodyError> {
        if sealed.len() <= NONCE_LEN {
            return Err(CustodyError::Unsealable);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = dev_eui.0.to_be_bytes();
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: &aad })
            .map_err(|_| CustodyError::Unsealable)?;
        Ok(AppSKey(plain.try_into().map_err(|_| CustodyError::Unsealable)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn seals_and_opens_bound_to_the_device() {
        let s = Sealer::from_hex(MASTER).unwrap();
        let key = AppSKey([7; 16]);
        let eui = DevEui(0x70b3_d57e_d000_0001);
        let sealed = s.seal(&key, eui);
        assert_eq!(sealed.len(), 12 + 16 + 16);
        assert!(!sealed.windows(16).any(|w| w == key.0), "the key is not stored in clear");
        assert_ne!(s.seal(&key, eui), sealed, "a fresh nonce each time");
        assert_eq!(s.open(&sealed, eui), Ok(key));
        assert_eq!(s.open(&sealed, DevEui(2)), Err(CustodyError::Unsealable));
        let other = Sealer::from_hex(&MASTER.replace("00", "01")).unwrap();
        assert_eq!(other.open(&sealed, eui), Err(CustodyError::Unsealable));
        assert_eq!(s.open(&sealed[..20], eui), Err(CustodyError::Unsealable));
    }

    #[test]
    fn master_key_must_be_32_bytes_of_hex() {
        assert!(Sealer::from_hex("00").is_err());
        assert!(Sealer::from_hex(&"zz".repeat(32)).is_err());
        assert!(Sealer::from_config(None).unwrap().is_none());
    }
}
