//! JSON forms of byte strings.
//!
//! **Outputs** (receipt `output`, event `data`): a byte string `x` appears as
//! exactly one of two fields: `x` with its text when the bytes are UTF-8, or
//! `x_hex` with lowercase hex when they are not. Showing one form only keeps
//! receipts, which every node stores forever, near the size of the data.
//!
//! **Inputs** (JSON forms of [`DataCall`](crate::DataCall)): a byte string is
//! either a JSON string, taken as its UTF-8 bytes, or an object
//! `{"hex": "<hex digits>"}` (an optional `0x` prefix is allowed) for binary.
//! Serializing writes a string when the bytes are UTF-8 and the hex object
//! otherwise, so the JSON form round-trips exactly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The UTF-8 text of `bytes`, if they are UTF-8.
pub fn text(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// A byte string in the input form: a JSON string or `{"hex": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOrHex(pub Vec<u8>);

#[derive(Serialize, Deserialize)]
struct HexForm {
    hex: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Hex(HexForm),
}

impl Serialize for TextOrHex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(t) => s.serialize_str(t),
            Err(_) => HexForm { hex: hex::encode(&self.0) }.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for TextOrHex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Repr::deserialize(d) {
            Ok(Repr::Text(t)) => Ok(TextOrHex(t.into_bytes())),
            Ok(Repr::Hex(h)) => {
                let digits = h.hex.strip_prefix("0x").unwrap_or(&h.hex);
                hex::decode(digits).map(TextOrHex).map_err(serde::de::Error::custom)
            }
            Err(_) => Err(serde::de::Error::custom("expected a string or an object {\"hex\": \"...\"}")),
        }
    }
}

/// `#[serde(with)]` module for `Vec<u8>` in the input form.
pub mod bytes {
    use super::*;

    /// Writes the bytes as text or `{"hex"}`.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        TextOrHex(bytes.to_vec()).serialize(s)
    }

    /// Reads text or `{"hex"}`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        TextOrHex::deserialize(d).map(|b| b.0)
    }
}

/// `#[serde(with)]` module for `Option<Vec<u8>>` in the input form (`null` = none).
pub mod opt_bytes {
    use super::*;

    /// Writes `null` or the bytes.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|b| TextOrHex(b.clone())).serialize(s)
    }

    /// Reads `null` or the bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<TextOrHex>::deserialize(d)?.map(|b| b.0))
    }
}

/// `#[serde(with)]` module for `Vec<Vec<u8>>` in the input form.
pub mod bytes_list {
    use super::*;

    /// Writes a list of byte strings.
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| TextOrHex(b.clone())))
    }

    /// Reads a list of byte strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<TextOrHex>::deserialize(d)?.into_iter().map(|b| b.0).collect())
    }
}

/// A byte string in the output form: `(text, None)` for UTF-8 bytes,
/// `(None, hex)` otherwise; serialize both halves with
/// `skip_serializing_if = "Option::is_none"` as `name` and `name_hex`.
pub(crate) fn bytes_out(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match text(bytes) {
        Some(t) => (Some(t), None),
        None => (None, Some(hex::encode(bytes))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct T {
        #[serde(with = "bytes")]
        b: Vec<u8>,
        #[serde(with = "bytes_list")]
        l: Vec<Vec<u8>>,
        #[serde(with = "opt_bytes", default)]
        o: Option<Vec<u8>>,
    }

    #[test]
    fn text_and_hex_forms_round_trip() {
        let t = T { b: b"hello".to_vec(), l: vec![vec![0xff, 0], b"x".to_vec()], o: None };
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, r#"{"b":"hello","l":[{"hex":"ff00"},"x"],"o":null}"#);
        assert_eq!(serde_json::from_str::<T>(&s).unwrap(), t);
        let parsed: T = serde_json::from_str(r#"{"b":{"hex":"0x0102"},"l":[]}"#).unwrap();
        assert_eq!(parsed.b, vec![1, 2]);
        assert!(serde_json::from_str::<T>(r#"{"b":{"hex":"zz"},"l":[]}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"b":5,"l":[]}"#).is_err());
    }
}
