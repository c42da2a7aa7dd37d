//! JSON shapes of the node's REST and WebSocket API, shared by the node and
//! its clients (SDK, CLI, control plane).

use serde::{Deserialize, Serialize};

use crate::{BlockHeader, Event, Hash, MerkleProof, Receipt, Transaction, hash::hex_bytes};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `bad_signature`.
    pub code: String,
    /// What went wrong, for humans.
    pub message: String,
}

/// How a submission waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmitMode {
    /// Return after the transaction committed, with its receipt.
    #[default]
    Sync,
    /// Return once the transaction was admitted, with its id.
    Async,
}

/// Answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// Id of the transaction.
    pub tx_id: Hash,
    /// `committed` (sync) or `pending` (async).
    pub status: String,
    /// The receipt, for a sync submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// A node's view of itself and its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The chain id.
    pub chain_id: String,
    /// The crypto suite name (`gm`, `intl-k1`, `intl-r1`).
    pub suite: String,
    /// This node's id.
    pub node_id: String,
    /// Committed height (the genesis block is height 0).
    pub height: u64,
    /// Id of the last committed block.
    pub last_block_id: Hash,
    /// State root after the last block.
    pub state_root: Hash,
    /// Consensus engine name.
    pub consensus: String,
    /// This node's consensus role.
    pub role: String,
    /// The leader, when known.
    pub leader: Option<String>,
    /// Transactions waiting to be ordered here.
    pub pending: usize,
    /// Software version of the node.
    pub version: String,
}

/// A committed transaction with its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// The transaction id.
    pub tx_id: Hash,
    /// The transaction.
    pub transaction: Transaction,
    /// Its receipt.
    pub receipt: Receipt,
}

/// Proof that a transaction is in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxProof {
    /// The transaction id.
    pub tx_id: Hash,
    /// Header of the block holding it (its `tx_root` is the proof's root).
    pub header: BlockHeader,
    /// Id of that block.
    pub block_id: Hash,
    /// The canonical encoding of the transaction (the Merkle leaf).
    #[serde(with = "hex_bytes")]
    pub encoded: Vec<u8>,
    /// The inclusion proof.
    pub proof: MerkleProof,
}

/// A key's current value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateValue {
    /// Contract owning the key.
    pub contract: String,
    /// The key as hex.
    pub key_hex: String,
    /// The value as hex; absent when the key has no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_hex: Option<String>,
    /// The value as text, when it is valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_utf8: Option<String>,
    /// Height of the block that last changed the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_height: Option<u64>,
}

/// What a WebSocket client subscribes to (one message per subscription).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "subscribe", rename_all = "snake_case")]
pub enum Subscription {
    /// Every new block's header.
    Blocks,
    /// Receipts: of one transaction, or of all when `tx_id` is absent.
    Receipts {
        /// Only this transaction.
        #[serde(default)]
        tx_id: Option<Hash>,
    },
    /// Contract events, optionally filtered.
    Events {
        /// Only events of this contract.
        #[serde(default)]
        contract: Option<String>,
        /// Only events with this name.
        #[serde(default)]
        name: Option<String>,
    },
}

/// A message pushed to WebSocket subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsMessage {
    /// A subscription was accepted.
    Subscribed {
        /// The accepted subscription.
        subscription: Subscription,
    },
    /// A new block committed.
    Block {
        /// Its id.
        id: Hash,
        /// Its header.
        header: BlockHeader,
    },
    /// A transaction committed.
    Receipt {
        /// Its receipt.
        receipt: Receipt,
    },
    /// A contract emitted an event.
    Event {
        /// Transaction that emitted it.
        tx_id: Hash,
        /// Height of its block.
        height: u64,
        /// The event.
        event: Event,
    },
    /// The subscriber fell behind and missed messages, or sent a bad request.
    Error {
        /// What happened.
        message: String,
    },
}

/// A block with its id, as the node serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// The block id.
    pub id: Hash,
    /// The block.
    #[serde(flatten)]
    pub block: crate::Block,
}

/// A block's header with its id: one row of the node's block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSummary {
    /// The block id.
    pub id: Hash,
    /// Its header (height, time, proposer, transaction count, roots).
    #[serde(flatten)]
    pub header: crate::BlockHeader,
}

/// The committed height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Height {
    /// Height of the last block.
    pub height: u64,
}
