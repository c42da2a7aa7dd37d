//! Account addresses: 20 bytes derived from a public key.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A 20-byte account address: the last 20 bytes of the suite hash of the
/// uncompressed public point without its `0x04` prefix (the Ethereum rule on
/// `intl-k1`). Text form is `0x` + 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Address length in bytes.
    pub const LEN: usize = 20;

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

/// Error parsing an [`Address`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{0}`: expected 0x followed by 40 hex digits")]
pub struct ParseAddressError(String);

impl From<ParseAddressError> for Error {
    fn from(err: ParseAddressError) -> Self {
        Error::InvalidDocument(err.to_string())
    }
}

impl FromStr for Address {
    type Err = ParseAddressError;

    /// Accepts `0x`/`0X` followed by 40 hex digits of either case (so
    /// checksummed EIP-55 spellings parse too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| ParseAddressError(s.to_owned()))?;
        let mut out = [0u8; 20];
        hex::decode_to_slice(digits, &mut out).map_err(|_| ParseAddressError(s.to_owned()))?;
        Ok(Address(out))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl From<[u8; 20]> for Address {
    fn from(bytes: [u8; 20]) -> Self {
        Address(bytes)
    }
}

impl AsRef<[u8]> for Address {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_is_lowercase_and_prefixed() {
        let addr = Address([0xAB; 20]);
        let text = addr.to_string();
        assert_eq!(text, format!("0x{}", "ab".repeat(20)));
        assert_eq!(text.parse::<Address>().unwrap(), addr);
        assert_eq!(text.to_uppercase().replacen("0X", "0x", 1).parse::<Address>().unwrap(), addr);
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "",
            "0x",
            "ab".repeat(20).as_str(),
            "0xzz",
            &format!("0x{}", "ab".repeat(21)),
            &format!("0x{}", "a".repeat(39)),
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn serde_as_string() {
        let addr = Address([7; 20]);
        let json = serde_json::to_string(&addr).unwrap();
        assert_eq!(json, format!("\"0x{}\"", "07".repeat(20)));
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), addr);
        assert!(serde_json::from_str::<Address>("\"0x12\"").is_err());
        assert!(serde_json::from_str::<Address>("12").is_err());
    }
}
