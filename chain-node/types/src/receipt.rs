use govchain_crypto::Suite;
use serde::{Deserialize, Serialize};

use crate::{
    Error, Hash, Result,
    encoding::{Decode, Encode, Reader, decode_list, encode_list},
    hash::hex_bytes,
    merkle,
};

/// Outcome of executing a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// Executed; its writes are in the state.
    Success,
    /// Rejected by the contract; no writes, but it stays on chain as evidence.
    Failed,
}

impl Encode for TxStatus {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(match self {
            TxStatus::Success => 0,
            TxStatus::Failed => 1,
        });
    }
}

impl Decode for TxStatus {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        match u8::decode_from(r)? {
            0 => Ok(TxStatus::Success),
            1 => Ok(TxStatus::Failed),
            tag => Err(Error::InvalidTag { what: "tx status", tag }),
        }
    }
}

/// Something a contract announced while executing; subscribers receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Contract that emitted the event.
    pub contract: String,
    /// Event name, e.g. `put`.
    pub name: String,
    /// Business data of the event.
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

impl Encode for Event {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.contract.encode_to(out);
        self.name.encode_to(out);
        self.data.encode_to(out);
    }
}

impl Decode for Event {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Event {
            contract: String::decode_from(r)?,
            name: String::decode_from(r)?,
            data: Vec::decode_from(r)?,
        })
    }
}

/// The result of one transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Id of the transaction.
    pub tx_id: Hash,
    /// Height of the block holding it.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Success or failure.
    pub status: TxStatus,
    /// Why it failed (empty on success).
    #[serde(default)]
    pub message: String,
    /// What the contract returned.
    #[serde(with = "hex_bytes")]
    pub output: Vec<u8>,
    /// Events emitted, in order.
    pub events: Vec<Event>,
}

impl Encode for Receipt {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tx_id.encode_to(out);
        self.height.encode_to(out);
        self.index.encode_to(out);
        self.status.encode_to(out);
        self.message.encode_to(out);
        self.output.encode_to(out);
        encode_list(&self.events, out);
    }
}

impl Decode for Receipt {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Receipt {
            tx_id: Hash::decode_from(r)?,
            height: u64::decode_from(r)?,
            index: u32::decode_from(r)?,
            status: TxStatus::decode_from(r)?,
            message: String::decode_from(r)?,
            output: Vec::decode_from(r)?,
            events: decode_list(r)?,
        })
    }
}

impl Receipt {
    /// The receipts Merkle root the header must carry.
    pub fn root(suite: Suite, receipts: &[Receipt]) -> Hash {
        let leaves: Vec<Vec<u8>> = receipts.iter().map(Encode::encode).collect();
        merkle::root(suite, &leaves)
    }
}
