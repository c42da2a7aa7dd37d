//! The payloads of EVM transactions, [`EvmCreate`] and [`EvmCall`].
//!
//! Canonical encoding (the transaction's `data`): the fields in order, in
//! `govchain-types`' canonical encoding (byte strings `u32`-length-prefixed,
//! `u64` big-endian). JSON form (for REST clients): an object with the
//! fields, byte strings as `0x`-prefixed hex (the prefix is optional on
//! input).
//!
//! There is no `value`: a govchain chain has no native currency, so every
//! call and deployment moves nothing and `CALLVALUE` is always 0.

use govchain_types::{Decode, Encode, encoding::Reader};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest deployed contract code, in bytes (EIP-170).
pub const MAX_CODE_SIZE: usize = 24_576;
/// Largest init code of a deployment, in bytes (EIP-3860).
pub const MAX_INITCODE_SIZE: usize = 2 * MAX_CODE_SIZE;

/// A contract deployment: the payload of an `evm_create` transaction, whose
/// `recipient` is empty. The receipt's `output` is the new contract's
/// 20-byte address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmCreate {
    /// Init code followed by the ABI-encoded constructor arguments, at most
    /// [`MAX_INITCODE_SIZE`] bytes.
    #[serde(with = "hex0x")]
    pub code: Vec<u8>,
    /// Most gas the deployment may use; at most the chain's per-transaction
    /// maximum ([`EvmConfig::tx_gas_limit_max`](crate::EvmConfig::tx_gas_limit_max)).
    pub gas_limit: u64,
}

/// A contract call: the payload of an `evm_call` transaction, whose
/// `recipient` is the called address (`0x` + 40 hex digits, either case).
/// The receipt's `output` is the call's return data. Read-only queries
/// take the same payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmCall {
    /// Call data: the ABI-encoded function selector and arguments.
    #[serde(with = "hex0x")]
    pub input: Vec<u8>,
    /// Most gas the call may use; at most the chain's per-transaction
    /// maximum.
    pub gas_limit: u64,
}

impl Encode for EvmCreate {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.code.encode_to(out);
        self.gas_limit.encode_to(out);
    }
}

impl Decode for EvmCreate {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(EvmCreate { code: Vec::decode_from(r)?, gas_limit: u64::decode_from(r)? })
    }
}

impl Encode for EvmCall {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.input.encode_to(out);
        self.gas_limit.encode_to(out);
    }
}

impl Decode for EvmCall {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(EvmCall { input: Vec::decode_from(r)?, gas_limit: u64::decode_from(r)? })
    }
}

/// Decodes a payload, refusing it as the `evm` engine's.
pub(crate) fn decode<T: Decode>(what: &str, data: &[u8]) -> Result<T> {
    T::decode(data).map_err(|e| Error::InvalidPayload {
        contract: super::NAMESPACE.to_owned(),
        reason: format!("{what}: {e}"),
    })
}

/// `#[serde(with)]` module: bytes as `0x`-prefixed lowercase hex; input
/// with or without the prefix.
pub mod hex0x {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `0x` and lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    /// Reads hex digits, with or without `0x`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(&s);
        hex::decode(digits).map_err(|e| serde::de::Error::custom(format!("invalid hex: {e}")))
    }
}
