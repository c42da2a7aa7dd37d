//! The `evidence` contract: trusted evidence (SPEC GOV-5).
//!
//! A department stores a document's digest under an id once; anyone on the
//! chain can later check a document's digest against it and see who stored
//! it, when, and in which transaction. The first store of an id wins; records
//! are never changed or deleted, which is what makes them evidence.
//!
//! Storage: the key is the id (UTF-8), the value the canonical encoding of an
//! [`EvidenceRecord`].

use govchain_crypto::Address;
use govchain_types::{Decode, Encode, Hash, encoding::Reader, hex_bytes};
use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    native::{CallEnv, NativeContract},
};

/// Longest evidence id, in bytes.
pub const MAX_ID: usize = 256;
/// Longest digest, in bytes (a 512-bit hash).
pub const MAX_DIGEST: usize = 64;
/// Longest metadata text, in bytes.
pub const MAX_META: usize = 4096;
const NAME: &str = crate::EVIDENCE_CONTRACT;

/// A call of the `evidence` contract.
///
/// Canonical encoding: a tag byte (below), then the fields in order (strings
/// and byte strings `u32`-length-prefixed). JSON form: `{"op": "store" |
/// "verify" | "get", ...fields}` with `digest` as hex (optional `0x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum EvidenceCall {
    /// Tag 1: record `digest` under `id`; fails if `id` exists.
    Store {
        /// The evidence id, e.g. a document number (1 to [`MAX_ID`] bytes).
        id: String,
        /// The document's digest (1 to [`MAX_DIGEST`] bytes).
        #[serde(with = "hex_bytes")]
        digest: Vec<u8>,
        /// Free metadata, e.g. JSON with a title and a file name.
        #[serde(default)]
        meta: String,
    },
    /// Tag 2: whether `digest` matches the record of `id`, and the record.
    Verify {
        /// The evidence id.
        id: String,
        /// The digest to check.
        #[serde(with = "hex_bytes")]
        digest: Vec<u8>,
    },
    /// Tag 3: the record of `id`.
    Get {
        /// The evidence id.
        id: String,
    },
}

impl Encode for EvidenceCall {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            EvidenceCall::Store { id, digest, meta } => {
                out.push(1);
                id.encode_to(out);
                digest.encode_to(out);
                meta.encode_to(out);
            }
            EvidenceCall::Verify { id, digest } => {
                out.push(2);
                id.encode_to(out);
                digest.encode_to(out);
            }
            EvidenceCall::Get { id } => {
                out.push(3);
                id.encode_to(out);
            }
        }
    }
}

impl Decode for EvidenceCall {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(match u8::decode_from(r)? {
            1 => EvidenceCall::Store {
                id: String::decode_from(r)?,
                digest: Vec::decode_from(r)?,
                meta: String::decode_from(r)?,
            },
            2 => EvidenceCall::Verify { id: String::decode_from(r)?, digest: Vec::decode_from(r)? },
            3 => EvidenceCall::Get { id: String::decode_from(r)? },
            tag => return Err(govchain_types::Error::InvalidTag { what: "evidence call", tag }),
        })
    }
}

/// A stored piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// The evidence id.
    pub id: String,
    /// The digest stored.
    #[serde(with = "hex_bytes")]
    pub digest: Vec<u8>,
    /// Metadata given at store time.
    pub meta: String,
    /// Organization that stored it.
    pub owner: String,
    /// Address that signed the storing transaction.
    pub sender: Address,
    /// Height of the block holding the storing transaction.
    pub height: u64,
    /// The storing transaction.
    pub tx_id: Hash,
    /// Block time of the store, ms since 1970.
    pub timestamp_ms: u64,
}

impl Encode for EvidenceRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.id.encode_to(out);
        self.digest.encode_to(out);
        self.meta.encode_to(out);
        self.owner.encode_to(out);
        self.sender.encode_to(out);
        self.height.encode_to(out);
        self.tx_id.encode_to(out);
        self.timestamp_ms.encode_to(out);
    }
}

impl Decode for EvidenceRecord {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(EvidenceRecord {
            id: String::decode_from(r)?,
            digest: Vec::decode_from(r)?,
            meta: String::decode_from(r)?,
            owner: String::decode_from(r)?,
            sender: Address::decode_from(r)?,
            height: u64::decode_from(r)?,
            tx_id: Hash::decode_from(r)?,
            timestamp_ms: u64::decode_from(r)?,
        })
    }
}

#[derive(Serialize)]
struct LookupOut<'a> {
    id: &'a str,
    found: bool,
    /// Present for `verify`: the digest given equals the one stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    matches: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<EvidenceRecord>,
}

#[derive(Serialize)]
struct ReadEvent<'a> {
    org: &'a str,
    id: &'a str,
    found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    matches: Option<bool>,
}

/// The `evidence` contract (see [`EvidenceCall`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct EvidenceContract;

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(Error::InvalidArgument(format!(
            "an evidence id must be 1 to {MAX_ID} bytes, got {}",
            id.len()
        )));
    }
    Ok(())
}

fn check_digest(digest: &[u8]) -> Result<()> {
    if digest.is_empty() || digest.len() > MAX_DIGEST {
        return Err(Error::InvalidArgument(format!(
            "a digest must be 1 to {MAX_DIGEST} bytes, got {}",
            digest.len()
        )));
    }
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidArgument(format!("cannot render output: {e}")))
}

impl EvidenceContract {
    fn load(env: &CallEnv<'_>, id: &str) -> Result<Option<EvidenceRecord>> {
        match env.get(id.as_bytes())? {
            None => Ok(None),
            // Only this contract writes here, always a valid encoding; a
            // record that fails to decode means corrupted storage.
            Some(bytes) => EvidenceRecord::decode(&bytes).map(Some).map_err(|e| {
                Error::storage(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
            }),
        }
    }

    fn lookup(env: &mut CallEnv<'_>, name: &str, id: &str, digest: Option<&[u8]>) -> Result<Vec<u8>> {
        check_id(id)?;
        if let Some(d) = digest {
            check_digest(d)?;
        }
        let record = Self::load(env, id)?;
        let matches = digest.map(|d| record.as_ref().is_some_and(|r| r.digest == d));
        let found = record.is_some();
        let event = to_json(&ReadEvent { org: &env.ctx().org, id, found, matches })?;
        env.emit(name, event);
        to_json(&LookupOut { id, found, matches, record })
    }
}

impl NativeContract for EvidenceContract {
    fn name(&self) -> &str {
        NAME
    }

    fn call(&self, env: &mut CallEnv<'_>, data: &[u8]) -> Result<Vec<u8>> {
        let call = EvidenceCall::decode(data)
            .map_err(|e| Error::InvalidPayload { contract: NAME.to_owned(), reason: e.to_string() })?;
        match call {
            EvidenceCall::Store { id, digest, meta } => {
                check_id(&id)?;
                check_digest(&digest)?;
                if meta.len() > MAX_META {
                    return Err(Error::InvalidArgument(format!(
                        "meta must be at most {MAX_META} bytes, got {}",
                        meta.len()
                    )));
                }
                if let Some(existing) = Self::load(env, &id)? {
                    return Err(Error::Conflict(format!(
                        "evidence `{id}` was stored at height {} by organization `{}` (tx {}); the first store wins",
                        existing.height, existing.owner, existing.tx_id
                    )));
                }
                let ctx = env.ctx();
                let record = EvidenceRecord {
                    id,
                    digest,
                    meta,
                    owner: ctx.org.clone(),
                    sender: ctx.sender,
                    height: ctx.height,
                    tx_id: ctx.tx_id,
                    timestamp_ms: ctx.timestamp_ms,
                };
                env.put(record.id.as_bytes(), &record.encode())?;
                let out = to_json(&record)?;
                env.emit("store", out.clone());
                Ok(out)
            }
            EvidenceCall::Verify { id, digest } => Self::lookup(env, "verify", &id, Some(&digest)),
            EvidenceCall::Get { id } => Self::lookup(env, "get", &id, None),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_records_round_trip() {
        let calls = [
            EvidenceCall::Store { id: "doc-1".into(), digest: vec![7; 32], meta: "{\"title\":\"x\"}".into() },
            EvidenceCall::Verify { id: "doc-1".into(), digest: vec![7; 32] },
            EvidenceCall::Get { id: "doc-1".into() },
        ];
        for c in calls {
            assert_eq!(EvidenceCall::decode(&c.encode()).unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<EvidenceCall>(&json).unwrap(), c);
        }
        let r = EvidenceRecord {
            id: "a".into(),
            digest: vec![1, 2],
            meta: String::new(),
            owner: "OrgA".into(),
            sender: Address([9; 20]),
            height: 4,
            tx_id: Hash([3; 32]),
            timestamp_ms: 5,
        };
        assert_eq!(EvidenceRecord::decode(&r.encode()).unwrap(), r);
        assert!(EvidenceCall::decode(&[4]).is_err());
    }
}
