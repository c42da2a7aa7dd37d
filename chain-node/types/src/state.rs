use govchain_crypto::Suite;
use serde::{Deserialize, Serialize};

use crate::{
    Hash, Result,
    encoding::{Decode, Encode, Reader},
    hash::hex_bytes,
};

/// One change to contract state made by a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateWrite {
    /// Contract whose storage changes.
    pub contract: String,
    /// Key within the contract's storage.
    #[serde(with = "hex_bytes")]
    pub key: Vec<u8>,
    /// New value; `None` deletes the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<HexValue>,
}

/// A stored value (hex in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexValue(#[serde(with = "hex_bytes")] pub Vec<u8>);

impl Encode for StateWrite {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.contract.encode_to(out);
        self.key.encode_to(out);
        self.value.as_ref().map(|v| &v.0).cloned().encode_to(out);
    }
}

impl Decode for StateWrite {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(StateWrite {
            contract: String::decode_from(r)?,
            key: Vec::decode_from(r)?,
            value: Option::<Vec<u8>>::decode_from(r)?.map(HexValue),
        })
    }
}

/// One version of a key, as kept in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Height of the block that wrote it.
    pub height: u64,
    /// Transaction that wrote it.
    pub tx_id: Hash,
    /// Block time of the write, ms since 1970.
    pub timestamp_ms: u64,
    /// The value written; `None` for a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<HexValue>,
}

/// The state root after a block: the suite's hash of the previous root and
/// every write of the block in execution order (`writes[i]` belongs to the
/// block's `i`-th transaction). Every node executing the same blocks reaches
/// the same root, so a diverging node shows at the first differing block.
pub fn next_state_root(suite: Suite, prev: &Hash, writes: &[Vec<StateWrite>]) -> Hash {
    let mut h = suite.hasher();
    h.update(&prev.0);
    let mut buf = Vec::new();
    for (index, tx_writes) in writes.iter().enumerate() {
        buf.clear();
        (index as u32).encode_to(&mut buf);
        (tx_writes.len() as u32).encode_to(&mut buf);
        for w in tx_writes {
            w.encode_to(&mut buf);
        }
        h.update(&buf);
    }
    Hash(h.finalize())
}
