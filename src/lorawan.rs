//! LoRaWAN identifiers as types: a `DevEui` is parsed once at the edge and printed one
//! way (16 lower-case hex digits, as ChirpStack writes it) everywhere else.

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

#[cfg(test)]
mod tests {
    use super::*;

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
